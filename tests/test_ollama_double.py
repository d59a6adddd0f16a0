"""The Ollama test double honours the wire contract (shared/design/ollama-contract.md)."""

from __future__ import annotations

import json
import math
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ollama_double import DEFAULT_REFUSAL, QUEUE_FULL, OllamaDouble, count_tokens

REPO = Path(__file__).resolve().parent.parent
EMBED = "nomic-embed-text"
CHAT = "llama3.2"
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
SYSTEM = (
    "Answer only from the sources below and cite them as [n]. If the answer is not in the "
    'sources, reply exactly: "Not in the documents."\n\n'
    "[1] (manual.pdf, p. 3) The warranty covers manufacturing defects for two years. "
    "Water damage is not covered.\n"
    "[2] (faq.pdf, p. 1) To reset the router, hold the reset button for ten seconds. "
    "The lights will blink green."
)
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


@pytest.fixture(scope="module")
def double() -> Iterator[OllamaDouble]:
    with OllamaDouble(port=0) as d:
        yield d


@pytest.fixture(scope="module")
def http(double: OllamaDouble) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=double.url, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh(double: OllamaDouble) -> None:
    double.reset()


def embed(http: httpx.Client, inputs: Any, **extra: Any) -> httpx.Response:
    return http.post("/api/embed", json={"model": EMBED, "input": inputs, **extra})


def vectors(http: httpx.Client, inputs: Any, **extra: Any) -> list[list[float]]:
    response = embed(http, inputs, **extra)
    assert response.status_code == 200, response.text
    return response.json()["embeddings"]


def cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.hypot(*a) * math.hypot(*b))


def chat(http: httpx.Client, question: str, **extra: Any) -> httpx.Response:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    body = {"model": CHAT, "messages": messages, "stream": False, **extra}
    return http.post("/api/chat", json=body)


def answer(http: httpx.Client, question: str, **extra: Any) -> str:
    response = chat(http, question, **extra)
    assert response.status_code == 200, response.text
    return response.json()["message"]["content"]


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"error": message}


# --- discovery -------------------------------------------------------------------------------


def test_root_get_and_head(http: httpx.Client) -> None:
    got = http.get("/")
    assert (got.status_code, got.text) == (200, "Ollama is running")
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    head = http.head("/")
    assert (head.status_code, head.content) == (200, b"")


def test_unknown_route_and_wrong_method_are_plain_text(http: httpx.Client) -> None:
    missing = http.post("/api/nope", json={})
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert missing.headers["content-type"].startswith("text/plain")
    wrong = http.get("/api/embed")
    assert (wrong.status_code, wrong.text) == (405, "405 method not allowed")


def test_version_tags_show(http: httpx.Client) -> None:
    assert http.get("/api/version").json() == {"version": "0.33.0"}
    items = {m["name"]: m for m in http.get("/api/tags").json()["models"]}
    assert set(items) == {
        "nomic-embed-text:latest",
        "all-minilm:latest",
        "mxbai-embed-large:latest",
        "llama3.2:latest",
    }
    details = items["nomic-embed-text:latest"]["details"]
    assert (details["family"], details["parameter_size"]) == ("nomic-bert", "137M")
    assert details["quantization_level"] == "F16"
    shown = http.post("/api/show", json={"model": EMBED}).json()
    assert shown["model_info"]["nomic-bert.context_length"] == 2048
    assert shown["model_info"]["nomic-bert.embedding_length"] == 768
    assert shown["capabilities"] == ["embedding"]
    llama = http.post("/api/show", json={"model": "LLAMA3.2:latest"}).json()
    assert llama["model_info"]["llama.context_length"] == 131072
    assert "completion" in llama["capabilities"]
    assert_error(http.post("/api/show", json={"model": "foo"}), 404, "model 'foo:latest' not found")
    assert_error(http.post("/api/show", json={}), 400, "model is required")


def test_ps_tracks_loads_and_keep_alive_zero(http: httpx.Client) -> None:
    assert http.get("/api/ps").json() == {"models": []}
    assert vectors(http, "warm up") and True
    (item,) = http.get("/api/ps").json()["models"]
    assert item["name"] == "nomic-embed-text:latest"
    assert CREATED_AT.match(item["expires_at"]) and "size_vram" in item
    assert embed(http, [], keep_alive=0).json() == {"model": EMBED, "embeddings": []}
    assert http.get("/api/ps").json() == {"models": []}


# --- /api/embed ------------------------------------------------------------------------------


def test_embed_shape_order_normalisation_and_metrics(http: httpx.Client) -> None:
    texts = ["alpha beta", "gamma delta", "epsilon"]
    response = embed(http, texts)
    body = response.json()
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert body["model"] == EMBED
    assert [len(v) for v in body["embeddings"]] == [768, 768, 768]
    for vec in body["embeddings"]:
        assert abs(math.hypot(*vec) - 1.0) < 1e-6
    assert body["prompt_eval_count"] == sum(count_tokens(t) for t in texts)
    assert body["total_duration"] > 0 and body["load_duration"] > 0
    singles = [vectors(http, t)[0] for t in reversed(texts)]
    assert singles[::-1] == body["embeddings"]


def test_embed_model_names_and_dims(http: httpx.Client) -> None:
    base = vectors(http, "same text")[0]
    for name in ("NOMIC-EMBED-TEXT", "nomic-embed-text:latest"):
        body = http.post("/api/embed", json={"model": name, "input": "same text"}).json()
        assert body["model"] == name and body["embeddings"][0] == base
    for name, dim in (("all-minilm", 384), ("mxbai-embed-large", 1024)):
        body = http.post("/api/embed", json={"model": name, "input": "x"}).json()
        assert len(body["embeddings"][0]) == dim


def test_embed_prefixes_change_vectors_but_stay_close(http: httpx.Client) -> None:
    q, d, plain = vectors(
        http,
        [
            "search_query: how long is the warranty",
            "search_document: how long is the warranty",
            "how long is the warranty",
        ],
    )
    assert q != d != plain
    assert cos(q, d) > 0.9 and cos(q, plain) > 0.9


def test_embed_similarity_follows_shared_words(http: httpx.Client) -> None:
    a, b, c = vectors(
        http,
        [
            "The warranty covers manufacturing defects",
            "Manufacturing defects are covered by the warranty",
            "Bananas grow in tropical climates",
        ],
    )
    assert cos(a, b) > 0.6 > 0.2 > cos(a, c)
    vi_a, vi_b, vi_c = vectors(
        http,
        ["Hà Nội là thủ đô của Việt Nam", "Thủ đô Việt Nam là Hà Nội", "Phở bò rất ngon"],
    )
    assert cos(vi_a, vi_b) > 0.8 and cos(vi_a, vi_c) < 0.2


def test_embed_dimensions_truncates_and_renormalises(http: httpx.Client) -> None:
    full = vectors(http, "matryoshka")[0]
    (cut,) = vectors(http, "matryoshka", dimensions=256)
    assert len(cut) == 256 and abs(math.hypot(*cut) - 1) < 1e-6
    norm = math.hypot(*full[:256])
    assert all(abs(x - y / norm) < 1e-6 for x, y in zip(cut, full[:256], strict=True))
    assert vectors(http, "matryoshka", dimensions=768)[0] == full
    assert vectors(http, "matryoshka", dimensions=4096)[0] == full


def test_embed_empty_inputs(http: httpx.Client) -> None:
    variants: list[dict[str, Any]] = [{"input": ""}, {"input": []}, {}, {"prompt": "legacy"}]
    for extra in variants:
        response = http.post("/api/embed", json={"model": EMBED, **extra})
        assert (response.status_code, response.json()) == (200, {"model": EMBED, "embeddings": []})
    for text in ("", "!!!"):
        (vec,) = vectors(http, [text])
        assert len(vec) == 768 and abs(math.hypot(*vec) - 1) < 1e-6
    assert vectors(http, [""]) != vectors(http, ["!!!"])


@pytest.mark.parametrize("bad", [42, [1], ["ok", None], {"a": "b"}])
def test_embed_invalid_input_type(http: httpx.Client, bad: Any) -> None:
    assert_error(embed(http, bad), 400, "invalid input type")


def test_embed_model_errors(http: httpx.Client, double: OllamaDouble) -> None:
    assert_error(http.post("/api/embed", json={"input": "x"}), 404, "model '' not found")
    missing = http.post("/api/embed", json={"model": "foo", "input": "x"})
    assert_error(missing, 404, 'model "foo" not found, try pulling it first')
    double.configure(models=["llama3.2"])
    assert_error(embed(http, "x"), 404, f'model "{EMBED}" not found, try pulling it first')
    chat_model = http.post("/api/embed", json={"model": CHAT, "input": "x"})
    assert_error(chat_model, 501, "this model does not support embeddings")


def test_embed_truncation_with_small_context(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(embed_ctx=10)
    long_text = "one two three four five six seven eight nine ten eleven"
    assert count_tokens(long_text) == 14 and count_tokens("short") == 3
    strict = embed(http, ["short", long_text], truncate=False)
    assert_error(strict, 400, "the input length exceeds the context length")
    body = embed(http, ["short", long_text]).json()
    assert len(body["embeddings"]) == 2 and body["prompt_eval_count"] == 3 + 10
    explicit = embed(http, ["short", long_text], truncate=True).json()
    assert explicit["embeddings"] == body["embeddings"]
    assert explicit["prompt_eval_count"] == body["prompt_eval_count"]
    cut = "one two three four five six seven eight"
    assert body["embeddings"][1] == vectors(http, cut)[0]


def test_count_tokens_rule() -> None:
    assert count_tokens("") == 2
    assert count_tokens("hi there!") == 2 + 1 + 1 + 1
    assert count_tokens("internationalization") == 2 + 1 + 20 // 6


def test_legacy_embeddings_are_not_normalised(http: httpx.Client) -> None:
    legacy = http.post("/api/embeddings", json={"model": EMBED, "prompt": "old api"}).json()
    vec = legacy["embedding"]
    assert set(legacy) == {"embedding"} and abs(math.hypot(*vec) - 1.7) < 1e-5
    assert cos(vec, vectors(http, "old api")[0]) > 0.999999
    empty = http.post("/api/embeddings", json={"model": EMBED, "prompt": ""})
    assert empty.json() == {"embedding": []}
    assert_error(http.post("/api/embeddings", json={"prompt": "x"}), 400, "model is required")


# --- /api/chat -------------------------------------------------------------------------------


def test_chat_non_stream_shape(http: httpx.Client) -> None:
    response = chat(http, "Question: How long does the warranty cover manufacturing defects?")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["model"] == CHAT and CREATED_AT.match(body["created_at"])
    assert (body["done"], body["done_reason"]) == (True, "stop")
    quoted = "(manual.pdf, p. 3) The warranty covers manufacturing defects for two years."
    assert body["message"] == {"role": "assistant", "content": quoted + " [1]"}
    assert all(body[key] > 0 for key in METRICS)


def test_chat_streams_ndjson_by_default(http: httpx.Client) -> None:
    question = "Question: How do I reset the router?"
    expected = answer(http, question)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    with http.stream("POST", "/api/chat", json={"model": CHAT, "messages": messages}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        chunks = [json.loads(line) for line in response.iter_lines() if line]
    *parts, final = chunks
    assert len(parts) > 3
    for part in parts:
        assert set(part) == {"model", "created_at", "message", "done"} and part["done"] is False
        assert part["message"]["role"] == "assistant"
    assert "".join(p["message"]["content"] for p in parts) == expected
    assert expected.endswith("[2]") and "hold the reset button" in expected
    assert (final["done"], final["done_reason"], final["message"]["content"]) == (True, "stop", "")
    assert final["eval_count"] == len(parts)
    assert all(final[key] > 0 for key in METRICS)


def test_chat_refusals(http: httpx.Client, double: OllamaDouble) -> None:
    assert answer(http, "Question: What is the capital of Peru?") == "Not in the documents."
    curly = [
        {"role": "system", "content": "If unsure, reply exactly: “Tôi không biết.”"},
        {"role": "user", "content": "What is the warranty?"},
    ]
    body = {"model": CHAT, "messages": curly, "stream": False}
    assert http.post("/api/chat", json=body).json()["message"]["content"] == "Tôi không biết."
    bare = {"model": CHAT, "messages": [{"role": "user", "content": "Is it covered?"}]}
    reply = http.post("/api/chat", json={**bare, "stream": False}).json()
    assert reply["message"]["content"] == DEFAULT_REFUSAL
    double.configure(fake_citation=True)
    assert answer(http, "Question: What is the capital of Peru?") == "Not in the documents."


def test_chat_knobs_fake_citation_and_chat_reply(http: httpx.Client, double: OllamaDouble) -> None:
    question = "Question: Is water damage covered by the warranty?"
    assert answer(http, question) == "Water damage is not covered. [1]"
    double.configure(fake_citation=True)
    assert answer(http, question) == "Water damage is not covered. [1] [9]"
    double.configure(chat_reply="Canned reply.")
    assert answer(http, question) == "Canned reply."


def test_chat_num_predict_gives_length(http: httpx.Client) -> None:
    question = "Question: How do I reset the router?"
    full = answer(http, question)
    body = chat(http, question, options={"num_predict": 3}).json()
    assert body["done_reason"] == "length" and body["eval_count"] == 3
    assert body["message"]["content"] == "(faq." and full.startswith("(faq.pdf, p. 1) To reset")


def test_chat_prompt_truncation_is_silent(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(chat_num_ctx_default=30)
    body = chat(http, "Question: How do I reset the router?").json()
    assert body["prompt_eval_count"] == 30
    stats = double.stats()
    assert stats["last_chat_truncated"] is True and stats["last_chat"]["model"] == CHAT
    big = chat(http, "Question: How do I reset the router?", options={"num_ctx": 8192}).json()
    assert big["prompt_eval_count"] < 8192 and double.stats()["last_chat_truncated"] is False


def test_chat_preload_and_unload(http: httpx.Client) -> None:
    loaded = http.post("/api/chat", json={"model": CHAT}).json()
    assert loaded["message"] == {"role": "assistant", "content": ""}
    assert (loaded["done"], loaded["done_reason"]) == (True, "load")
    assert [m["name"] for m in http.get("/api/ps").json()["models"]] == ["llama3.2:latest"]
    unloaded = http.post("/api/chat", json={"model": CHAT, "messages": [], "keep_alive": 0})
    assert unloaded.json()["done_reason"] == "unload"
    assert http.get("/api/ps").json() == {"models": []}


def test_chat_errors(http: httpx.Client) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    assert_error(http.post("/api/chat", json={"messages": msgs}), 400, "model is required")
    unknown = http.post("/api/chat", json={"model": "llama9", "messages": msgs})
    assert_error(unknown, 404, "model 'llama9' not found")
    embedder = http.post("/api/chat", json={"model": EMBED, "messages": msgs})
    assert_error(embedder, 400, '"nomic-embed-text" does not support chat')
    thinking = http.post("/api/chat", json={"model": CHAT, "messages": msgs, "think": True})
    assert_error(thinking, 400, '"llama3.2" does not support thinking')


def test_chat_tool_calls_knob(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(chat_tool_calls=[{"name": "search", "arguments": {"q": "router"}}])
    tools = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    msgs = [{"role": "user", "content": "find it"}]
    body = {"model": CHAT, "messages": msgs, "tools": tools}
    with http.stream("POST", "/api/chat", json=body) as response:
        first, final = [json.loads(line) for line in response.iter_lines() if line]
    (call,) = first["message"]["tool_calls"]
    assert first["message"]["content"] == "" and re.fullmatch(r"call_[0-9a-z]{8}", call["id"])
    assert call["function"] == {"index": 0, "name": "search", "arguments": {"q": "router"}}
    assert final["done"] is True
    plain = http.post("/api/chat", json={"model": CHAT, "messages": msgs, "stream": False})
    assert "tool_calls" not in plain.json()["message"]


# --- request decoding ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/embed", "/api/chat"])
def test_empty_and_malformed_bodies(http: httpx.Client, path: str) -> None:
    assert_error(http.post(path, content=b""), 400, "missing request body")
    bad = http.post(path, content=b"xyz")
    assert_error(bad, 400, "invalid character 'x' looking for beginning of value")
    assert_error(http.post(path, content=b'{"model": "a"'), 400, "unexpected EOF")


def test_wrong_field_type_uses_go_decoder_message(http: httpx.Client) -> None:
    response = http.post("/api/chat", json={"model": CHAT, "messages": "hello"})
    message = (
        "json: cannot unmarshal string into Go struct field ChatRequest.messages"
        " of type []api.Message"
    )
    assert_error(response, 400, message)


def test_keep_alive_rules(http: httpx.Client) -> None:
    bad = embed(http, "x", keep_alive="3600")
    assert_error(bad, 400, 'time: missing unit in duration "3600"')
    for good in (3600, "1h30m", "-1m", 0.5, "0"):
        assert embed(http, "x", keep_alive=good).status_code == 200


# --- knobs, faults, stats --------------------------------------------------------------------


def test_fault_503_queue_full_then_recovers(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(faults=[{"path": "/api/embed", "status": 503, "count": 2, "after": 1}])
    codes = [embed(http, "x").status_code for _ in range(4)]
    assert codes == [200, 503, 503, 200]
    double.configure(faults=[{"path": "/api/embed", "status": 503}])
    body = embed(http, "x").content
    assert body == b'{"error":"server busy, please try again.  maximum pending requests exceeded"}'
    assert QUEUE_FULL.count("  ") == 1 and double.stats()["faults_fired"] == 3


def test_fault_500_and_custom_error(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(
        faults=[
            {"path": "/api/chat", "status": 500},
            {"path": "/api/chat", "status": 400, "error": "custom"},
        ]
    )
    first, second = chat(http, "hi"), chat(http, "hi")
    assert_error(first, 500, "llama runner process has terminated: exit status 2")
    assert_error(second, 400, "custom")
    assert chat(http, "hi").status_code == 200


def test_fault_drop_closes_connection(double: OllamaDouble) -> None:
    double.configure(faults=[{"path": "/api/embed", "drop": True}])
    with httpx.Client(base_url=double.url, timeout=5) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/api/embed", json={"model": EMBED, "input": "x"})
        ok = client.post("/api/embed", json={"model": EMBED, "input": "x"})
        assert ok.status_code == 200


def test_fault_midstream_error_line(http: httpx.Client, double: OllamaDouble) -> None:
    rule = {"path": "/api/chat", "midstream_error": "boom", "after_chunks": 3}
    double.configure(faults=[rule])
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "reset router"}]
    with http.stream("POST", "/api/chat", json={"model": CHAT, "messages": messages}) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert len(lines) == 4 and lines[-1] == {"error": "boom"}
    assert all(line["done"] is False for line in lines[:3])


def test_cold_load_delays_first_request_only(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(cold_load_s=0.3)
    started = time.perf_counter()
    first = embed(http, "x").json()
    assert time.perf_counter() - started >= 0.3 and first["load_duration"] >= 300_000_000
    started = time.perf_counter()
    second = embed(http, "x").json()
    assert time.perf_counter() - started < 0.25 and second["load_duration"] < 50_000_000


def test_stats_and_busy_time(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(embed_cost_s=0.02)
    threads = [threading.Thread(target=embed, args=(http, ["a", "b", "c"])) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - started >= 0.12  # the embedder serialises requests
    embed(http, ["d"])
    stats = httpx.get(double.url + "/_double/stats").json()
    assert stats["requests"] == {"/api/embed": 3}
    assert (stats["embed_requests"], stats["embed_inputs"], stats["max_batch"]) == (3, 7, 3)
    assert 0.14 <= stats["busy_s"] < 1.0
    assert stats["recent_inputs"][-1] == "d" and stats["loaded"] == ["nomic-embed-text:latest"]


def test_control_endpoints_over_http(http: httpx.Client, double: OllamaDouble) -> None:
    set_reply = http.post("/_double/config", json={"chat_reply": "via http"})
    assert set_reply.status_code == 200
    assert answer(http, "anything") == "via http"
    assert_error(http.post("/_double/config", json={"nope": 1}), 400, "unknown knob: nope")
    assert http.post("/_double/reset").status_code == 200
    assert answer(http, "anything") == "Not in the documents."
    assert double.stats()["requests"] == {"/api/chat": 1}


def test_latency_knob(http: httpx.Client, double: OllamaDouble) -> None:
    double.configure(latency_s=0.15)
    started = time.perf_counter()
    assert http.get("/api/version").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_openai_shim_basics(http: httpx.Client) -> None:
    emb = http.post("/v1/embeddings", json={"model": EMBED, "input": ["a b"]}).json()
    assert emb["object"] == "list" and emb["data"][0]["index"] == 0
    assert emb["data"][0]["embedding"] == vectors(http, "a b")[0]
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "reset router"}]
    done = http.post("/v1/chat/completions", json={"model": CHAT, "messages": msgs}).json()
    assert done["choices"][0]["finish_reason"] == "stop"
    assert done["choices"][0]["message"]["content"].endswith("[2]")
    missing = http.post("/v1/chat/completions", json={"model": "nope", "messages": msgs})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


# --- standalone ------------------------------------------------------------------------------


def test_standalone_module_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_double", "--port", "0", "--latency-s", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # Generous: a loaded 2-core machine can take many seconds to import and bind. poll, not
        # select: late in the suite the pipe's descriptor can be above select()'s 1024.
        poller = select.poll()
        poller.register(proc.stdout, select.POLLIN)
        ready = poller.poll(60_000)
        assert ready, "double did not print its ready line"
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"ollama double listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert httpx.get(match.group(1) + "/api/version").json() == {"version": "0.33.0"}
    except BaseException:
        proc.kill()  # the failure above is the one to report, not the exit code of a kill
        proc.wait()
        raise
    proc.terminate()
    assert proc.wait(timeout=30) == 0
