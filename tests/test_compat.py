"""The OpenAI and Ollama shims, driven by the real `openai` and `ollama` clients over a socket."""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import ollama as ollama_client
import openai
import pytest
import uvicorn

from rag.api.app import create_app
from rag.api.compat import split_conversation
from rag.prompts import REFUSAL_EN
from tests.conftest import REPO

KEY = "s3cret"
GO_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
E7 = "What does error E7 mean?"


@contextmanager
def serving(settings) -> Iterator[str]:
    """The app under uvicorn on a loopback socket in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def upload(url: str, *names: str, collection: str | None = None, key: str | None = None) -> None:
    files = [("files", (n, (REPO / "data" / n).read_bytes())) for n in names]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    params = {"collection": collection} if collection else {}
    response = httpx.post(f"{url}/documents", files=files, params=params, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture()
def url(settings):
    with serving(settings) as base:
        upload(base, "handbook.md", "r2-user-manual.pdf")
        yield base


@pytest.fixture()
def model(settings):
    return f"rag:{settings.collection}"


@pytest.fixture()
def oai(url):
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def stream_text(oai, model, question, **params):
    chunks = list(
        oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], stream=True, **params
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


# -- OpenAI ----------------------------------------------------------------------------------


def test_openai_models_and_grounded_chat(oai, model, ollama):
    assert model in [m.id for m in oai.models.list()]
    assert oai.models.retrieve(model).id == model
    reply = oai.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": E7},
        ],
        temperature=0.1,
        top_p=0.9,
        max_tokens=300,
        stop=["###"],
    )
    text = reply.choices[0].message.content
    assert reply.object == "chat.completion" and reply.model == model
    assert reply.choices[0].finish_reason == "stop"
    assert "\n\nSources:\n[1] uploads/r2-user-manual.pdf, p. 3" in text
    citations = reply.model_extra["citations"]
    assert (citations[0]["source"], citations[0]["page"]) == ("uploads/r2-user-manual.pdf", 3)
    options = ollama.stats()["last_chat"]["options"]
    assert (options["temperature"], options["top_p"], options["num_predict"]) == (0.1, 0.9, 300)
    assert options["stop"] == ["###"]
    sent = ollama.stats()["last_chat"]["messages"]
    # The client's system prompt is a style instruction after our rules, never instead of them.
    assert [m["role"] for m in sent].count("system") == 1
    system = sent[0]["content"]
    assert system.index("only the numbered sources") < system.index("Answer in French.")

    streamed, chunks = stream_text(oai, model, E7)
    assert streamed == text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == citations


def test_invalid_citations_never_reach_the_client(oai, model, ollama):
    ollama.configure(fake_citation=True)  # the double adds " [9]", naming no source
    text = (
        oai.chat.completions.create(model=model, messages=[{"role": "user", "content": E7}])
        .choices[0]
        .message.content
    )
    streamed, _ = stream_text(oai, model, E7)
    assert "[9]" not in text and streamed == text


def test_history_becomes_context_without_our_footer(oai, model, ollama):
    first = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": E7}])
    earlier = first.choices[0].message.content
    messages = [
        {"role": "user", "content": E7},
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": "How many days of annual leave do employees get?"},
    ]
    reply = oai.chat.completions.create(model=model, messages=messages)
    assert reply.model_extra["citations"][0]["source"] == "uploads/handbook.md"
    sent = json.dumps(ollama.stats()["last_chat"]["messages"])
    assert "uploads/r2-user-manual.pdf, p. 3" not in sent


def test_openai_embeddings_pass_through(oai, url, ollama, settings):
    direct = ollama_client.Client(host=ollama.url).embed(model=settings.embed_model, input="leave")
    as_floats = oai.embeddings.create(
        model=settings.embed_model, input=["leave", "E7"], encoding_format="float"
    )
    assert [d.index for d in as_floats.data] == [0, 1]
    assert as_floats.data[0].embedding == pytest.approx(direct.embeddings[0])
    by_sdk = oai.embeddings.create(model="rag:" + settings.collection, input="leave")
    assert by_sdk.data[0].embedding == pytest.approx(direct.embeddings[0], abs=1e-6)
    raw = httpx.post(
        f"{url}/v1/embeddings",
        json={"model": settings.embed_model, "input": "leave", "encoding_format": "base64"},
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == pytest.approx(
        direct.embeddings[0], abs=1e-6
    )
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="text-embedding-3-small", input="x")


def test_openai_errors_use_its_envelope(oai, url, model, ollama):
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="rag:nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["type"] == "not_found_error"
    # A Chroma server shared by the tests may hold many collections: the list is cut at 20.
    names = sorted(m.id for m in oai.models.list())
    listed = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    assert model in names
    assert caught.value.body["message"] == f"model 'rag:nope' not found; available: {listed}"
    response = httpx.post(f"{url}/v1/chat/completions", json={"model": model, "messages": []})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (None, None)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=model, messages=[{"role": "system", "content": "hi"}])

    ollama.configure(faults=[{"path": "/api/chat", "midstream_error": "boom", "after_chunks": 2}])
    with pytest.raises(openai.APIError, match="boom"):
        stream_text(oai, model, E7)
    ollama.configure(faults=[{"path": "/api/chat", "status": 503, "count": -1}])
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model=model, messages=[{"role": "user", "content": E7}])
    assert caught.value.status_code == 503 and caught.value.body["type"] == "api_error"


def test_refusal_is_a_normal_completion(oai, model):
    unrelated = [{"role": "user", "content": "quantum chromodynamics lattice gauge"}]
    reply = oai.chat.completions.create(model=model, messages=unrelated)
    text = reply.choices[0].message.content
    assert text.startswith(REFUSAL_EN) and "matched the question closely enough" in text
    assert reply.choices[0].finish_reason == "stop" and reply.model_extra["citations"] == []
    streamed, _ = stream_text(oai, model, unrelated[0]["content"])
    assert streamed == text


def test_api_key_is_required(settings):
    with serving(settings.with_(api_keys=(KEY,))) as base:
        upload(base, "handbook.md", key=KEY)
        model = f"rag:{settings.collection}"
        bare = httpx.get(f"{base}/v1/models")
        assert (bare.status_code, bare.headers["www-authenticate"]) == (401, "Bearer")
        assert bare.json()["error"]["message"].startswith("missing API key")
        anonymous = openai.OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            anonymous.models.list()
        assert caught.value.body["message"] == "invalid API key"
        keyed = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0)
        assert model in [m.id for m in keyed.models.list()]

        with pytest.raises(ollama_client.ResponseError) as refused:
            ollama_client.Client(host=base).list()
        assert refused.value.status_code == 401
        assert refused.value.error.startswith("missing API key")
        client = ollama_client.Client(host=base, headers={"Authorization": f"Bearer {KEY}"})
        assert model in [m.model for m in client.list().models]


# -- Ollama ----------------------------------------------------------------------------------


def test_ollama_client_lists_shows_and_chats(url, model):
    client = ollama_client.Client(host=url)
    listed = {m.model: m for m in client.list().models}
    assert listed[model].details.family == "rag" and listed[model].size > 0
    shown = client.show(model)
    assert shown.capabilities == ["completion", "tools"]
    assert shown.modelinfo["general.architecture"] == "rag"
    assert shown.modelinfo["rag.documents"] == 2

    reply = client.chat(model=model, messages=[{"role": "user", "content": E7}])
    assert reply.done and reply.done_reason == "stop" and reply.message.role == "assistant"
    assert "[1] uploads/r2-user-manual.pdf, p. 3" in reply.message.content
    assert reply.total_duration and reply.eval_count

    parts = list(client.chat(model=model, messages=[{"role": "user", "content": E7}], stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.message.content or "" for p in parts) == reply.message.content

    with pytest.raises(ollama_client.ResponseError) as caught:
        client.chat(model="rag:nope", messages=[{"role": "user", "content": "hi"}])
    assert (caught.value.status_code, caught.value.error) == (404, "model 'rag:nope' not found")


def test_ollama_wire_shapes(url, model, settings, ollama):
    assert httpx.get(f"{url}/api/version").json() == {"version": "0.33.0"}  # the double's
    question = {"model": model, "messages": [{"role": "user", "content": E7}]}
    ollama.configure(token_delay_s=0.05)  # tokens that come apart are sent apart
    with httpx.stream("POST", f"{url}/api/chat", json=question) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    ollama.configure(token_delay_s=0)
    assert all(GO_TIME_RE.match(line["created_at"]) for line in lines)
    assert len(lines) > 1
    assert all(set(line) == {"model", "created_at", "message", "done"} for line in lines[:-1])
    assert lines[-1]["done"] is True and lines[-1]["prompt_eval_count"] > 0
    assert lines[-1]["citations"][0]["page"] == 3

    # Ollama reads JSON under any content type: `curl -d` sends a form type.
    raw = json.dumps({**question, "stream": False})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    whole = httpx.post(f"{url}/api/chat", content=raw, headers=form).json()
    assert whole["message"]["content"] == "".join(line["message"]["content"] for line in lines)

    preload = httpx.post(f"{url}/api/chat", json={"model": "rag"}).json()
    assert (preload["done_reason"], preload["message"]["content"]) == ("load", "")
    unload = httpx.post(f"{url}/api/chat", json={"model": model, "keep_alive": 0}).json()
    assert unload["done_reason"] == "unload"

    missing = httpx.post(f"{url}/api/chat", json={"messages": []})
    assert (missing.status_code, missing.json()) == (400, {"error": "model is required"})
    assert httpx.post(f"{url}/api/show", json={"name": "rag:NOPE"}).status_code == 404
    assert httpx.post(f"{url}/api/chat", content=b"").json() == {"error": "missing request body"}

    ollama.configure(faults=[{"path": "/api/chat", "midstream_error": "boom", "after_chunks": 2}])
    with httpx.stream("POST", f"{url}/api/chat", json=question) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert response.status_code == 200 and "boom" in lines[-1]["error"]
    assert set(lines[-1]) == {"error"}


def test_ollama_refusal_explains_an_empty_collection(settings):
    with serving(settings) as base:
        client = ollama_client.Client(host=base)
        reply = client.chat(model="rag:latest", messages=[{"role": "user", "content": E7}])
    assert (
        reply.message.content == f"{REFUSAL_EN} The knowledge base '{settings.collection}' "
        "has no documents yet."
    )


# -- helpers -----------------------------------------------------------------------------------


def test_conversation_split_drops_our_footer_and_refusal_hints():
    question, history = split_conversation(
        [
            ("system", "be brief"),
            ("user", "a?"),
            ("assistant", "A [1].\n\nSources:\n[1] uploads/a.md, p. 2"),
            ("user", "b?"),
            ("assistant", f"{REFUSAL_EN} The knowledge base 'x' has no documents yet."),
            ("user", "c?"),
        ]
    )
    assert question == "c?"
    assert history[2] == {"role": "assistant", "content": "A [1]."}
    assert history[4] == {"role": "assistant", "content": REFUSAL_EN}
