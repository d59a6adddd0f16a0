"""Our Ollama client against the double: prefixes, batching, retries, and the messages users see."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.errors import (
    BadVectors,
    InputTooLong,
    ModelNotPulled,
    OllamaError,
    OllamaTimeout,
    OllamaUnavailable,
    RagError,
    StreamCut,
)
from rag.ollama import OllamaClient
from tests.conftest import _free_port, make_settings
from tests.fault_proxy import FaultProxy


@pytest.fixture()
def client(ollama, tmp_path):
    with OllamaClient(make_settings(ollama.url, tmp_path)) as c:
        yield c


def test_documents_and_queries_get_nomic_task_prefixes(client, ollama):
    client.embed_documents(["Leave is 18 days."])
    client.embed_query("how much leave?")
    inputs = ollama.stats()["recent_inputs"]
    assert inputs[-2:] == ["search_document: Leave is 18 days.", "search_query: how much leave?"]


@pytest.mark.parametrize(
    ("model", "doc_prefix", "query_prefix"),
    [
        ("mxbai-embed-large", "", "Represent this sentence for searching relevant passages: "),
        ("all-minilm:latest", "", ""),
        ("nomic-embed-text:latest", "search_document: ", "search_query: "),
        ("some-new-embedder", "", ""),
    ],
)
def test_prefix_conventions_by_model(tmp_path, model, doc_prefix, query_prefix):
    settings = make_settings("http://127.0.0.1:1", tmp_path, embed_model=model)
    assert OllamaClient(settings).prefixes() == (doc_prefix, query_prefix)


def test_prefixes_can_be_overridden(tmp_path):
    settings = make_settings(
        "http://127.0.0.1:1", tmp_path, embed_doc_prefix="passage: ", embed_query_prefix="query: "
    )
    assert OllamaClient(settings).prefixes() == ("passage: ", "query: ")


def test_batch_returns_unit_vectors_in_input_order(client):
    texts = ["alpha beta", "gamma delta", "alpha beta"]
    vectors = client.embed(texts)
    assert len(vectors) == 3 and len(vectors[0]) == 768
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[1]), 1.0, rel_tol=1e-5)


def test_unreachable_ollama_says_so_plainly(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    with OllamaClient(make_settings(url, tmp_path)) as c, pytest.raises(OllamaUnavailable) as err:
        c.version()
    assert str(err.value) == f"cannot reach Ollama at {url}: is `ollama serve` running?"


def test_model_not_pulled_names_the_pull_command(ollama, tmp_path):
    ollama.configure(models=["llama3.2"])
    with OllamaClient(make_settings(ollama.url, tmp_path)) as c:
        with pytest.raises(ModelNotPulled) as err:
            c.require_model("nomic-embed-text")
        assert str(err.value) == (
            "model 'nomic-embed-text' is not pulled: run `ollama pull nomic-embed-text`"
        )
        with pytest.raises(ModelNotPulled):  # and the same from the embed call itself
            c.embed(["x"])


def test_show_reports_the_embedding_context(client):
    info = client.require_model("nomic-embed-text")
    assert (info.context_length, info.embedding_length) == (2048, 768)
    assert "embedding" in info.capabilities


def test_transient_503_is_retried(client, ollama):
    ollama.configure(faults=[{"path": "/api/embed", "status": 503, "count": 2}])
    assert len(client.embed(["retry me"])) == 1
    assert ollama.stats()["requests"]["/api/embed"] == 3


def test_dropped_connection_is_retried(client, ollama):
    ollama.configure(faults=[{"path": "/api/embed", "drop": True, "count": 1}])
    assert len(client.embed(["dropped once"])) == 1
    assert ollama.stats()["requests"]["/api/embed"] == 2


def test_persistent_failure_gives_up_with_the_reason(client, ollama):
    ollama.configure(faults=[{"path": "/api/embed", "status": 503, "count": 10}])
    with pytest.raises(OllamaUnavailable) as err:
        client.embed(["x"])
    assert "server busy, please try again.  maximum pending requests exceeded" in str(err.value)
    assert ollama.stats()["requests"]["/api/embed"] == 3  # 1 try + 2 retries in tests


def test_client_errors_are_not_retried(client, ollama):
    ollama.configure(embed_ctx=10)
    with pytest.raises(InputTooLong, match="the input length exceeds the context length"):
        client.embed(["a sentence that is certainly longer than ten tokens " * 3])
    assert ollama.stats()["requests"]["/api/embed"] == 1


def test_a_cold_model_load_is_waited_for(client, ollama):
    ollama.configure(cold_load_s=1.5)
    assert len(client.embed(["first call loads the model"])) == 1


def test_chat_streams_chunks_then_done(client):
    messages = [
        {
            "role": "user",
            "content": "[1] Cats sleep sixteen hours a day.\n\n"
            "Question: how many hours do cats sleep?",
        }
    ]
    chunks = list(client.chat_stream(messages))
    assert len(chunks) > 2 and chunks[-1]["done"] is True
    text = "".join(c["message"]["content"] for c in chunks)
    assert "sixteen hours" in text and "[1]" in text


def test_error_in_the_middle_of_a_stream_is_raised(client, ollama):
    ollama.configure(
        faults=[
            {
                "path": "/api/chat",
                "midstream_error": "runner crashed",
                "count": 1,
                "after_chunks": 2,
            }
        ]
    )
    messages = [{"role": "user", "content": "[1] Dogs bark loudly at night.\n\nQuestion: dogs?"}]
    received = []
    with pytest.raises(OllamaError, match="Ollama failed mid-answer: runner crashed"):
        for chunk in client.chat_stream(messages):
            received.append(chunk)
    assert len(received) == 2


# -- faults through the proxy: cut streams, bad vectors, deadlines --------------------------

DOGS = [{"role": "user", "content": "[1] Dogs bark loudly at night.\n\nQuestion: dogs?"}]


@pytest.fixture()
def proxy(ollama):
    with FaultProxy(ollama.url) as running:
        yield running


def proxied(proxy, tmp_path, **overrides):
    return OllamaClient(make_settings(proxy.url, tmp_path, ollama_retries=0, **overrides))


@pytest.mark.parametrize("kind", ["cut", "sever"])
def test_a_stream_ending_without_done_is_an_error_not_an_answer(proxy, tmp_path, kind):
    proxy.inject("/api/chat", kind, lines=2)
    received = []
    with proxied(proxy, tmp_path) as c, pytest.raises(RagError) as err:
        for chunk in c.chat_stream(DOGS):
            received.append(chunk)
    assert len(received) == 2 and not any(chunk.get("done") for chunk in received)
    assert err.value.status >= 500
    if kind == "cut":
        assert isinstance(err.value, StreamCut) and err.value.status == 502
        assert "ended before it was complete" in str(err.value)


def test_a_whole_stream_still_ends_normally_through_the_proxy(proxy, tmp_path):
    with proxied(proxy, tmp_path) as c:
        chunks = list(c.chat_stream(DOGS))
    assert chunks[-1]["done"] is True


def test_a_non_streamed_chat_without_done_is_cut(proxy, tmp_path, ollama):
    proxy.inject("/api/chat", "undone")
    with proxied(proxy, tmp_path) as c, pytest.raises(StreamCut):
        c.chat(DOGS)


BAD_VECTORS = [
    ("dims", "384-dimension embeddings, but /api/show says nomic-embed-text makes 768"),
    ("count", "Ollama returned 2 embeddings for 3 inputs"),
    ("mixed", "different sizes (384, 768)"),
    ("nan", "embedding 0 holds NaN, infinite or null values"),
    ("null", "embedding 0 holds NaN, infinite or null values"),
    ("strings", "embedding 0 holds values that are not numbers"),
    ("string", "embedding 2 holds values that are not numbers"),
    ("bool", "embedding 2 holds values that are not numbers"),
]


@pytest.mark.parametrize(
    ("how", "says", "method"),
    [(how, says, method) for how, says in BAD_VECTORS for method in ("embed", "embed_documents")]
    # A float32 vector (what ingest stores) cannot hold 1e39: refused there, not for /api/embed.
    + [("huge", "embedding 2 holds values too large for a vector", "embed_documents")],
)
def test_bad_vectors_are_refused_naming_ollama(proxy, tmp_path, how, says, method):
    with proxied(proxy, tmp_path) as c:
        c.require_model("nomic-embed-text")
        proxy.inject("/api/embed", "vectors", how=how)
        embed = getattr(c, method)
        with pytest.raises(BadVectors) as err:
            embed(["one", "two", "three"])
        assert err.value.status == 502
        assert str(err.value).startswith("Ollama sent unusable embeddings: ")
        assert says in str(err.value)
        assert len(embed(["one", "two", "three"])) == 3  # the next good batch is fine


def test_the_vectors_ingest_stores_are_the_ones_ollama_sent(client, ollama):
    texts = ["Leave is 18 days.", "The pump needs a valve."]
    prefix = client.prefixes()[0]
    exact = client.embed([prefix + t for t in texts])  # float64 lists, as the answer said
    matrix = client.embed_documents(texts)
    assert matrix.dtype == np.float32 and matrix.shape == (2, len(exact[0]))
    assert np.allclose(matrix, np.asarray(exact), rtol=1e-6, atol=1e-7)


def test_a_body_dripping_in_is_cut_at_the_overall_deadline(proxy, tmp_path):
    # Each byte comes well within the per-read timeout; only the overall deadline stops it.
    proxy.inject("/api/embed", "drip", size=64, every=0.05)
    slow = proxied(proxy, tmp_path, ollama_timeout=5.0, ollama_deadline=1.0)
    with slow as c, pytest.raises(OllamaTimeout, match=r"within 1 s \(RAG_OLLAMA_DEADLINE\)"):
        c.embed(["a slow answer"] * 4)
    assert proxy.hits["/api/embed"] == 1  # not retried: the budget is spent


def test_a_stream_stalling_between_tokens_hits_the_idle_limit(proxy, tmp_path):
    proxy.inject("/api/chat", "drip", size=1, every=0.05)  # bytes, but no whole line for ages
    settings = {"ollama_timeout": 0.8, "ollama_idle_timeout": 0.3, "ollama_deadline": 60.0}
    with proxied(proxy, tmp_path, **settings) as c, pytest.raises(OllamaTimeout) as err:
        list(c.chat_stream(DOGS))
    assert "stopped sending its answer" in str(err.value)


def test_a_cold_load_slower_than_the_idle_limit_still_fits(proxy, tmp_path):
    proxy.inject("/api/chat", "delay", seconds=0.6)
    settings = {"ollama_timeout": 5.0, "ollama_idle_timeout": 0.2, "ollama_deadline": 30.0}
    with proxied(proxy, tmp_path, **settings) as c:
        assert list(c.chat_stream(DOGS))[-1]["done"] is True
