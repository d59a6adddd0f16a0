"""Tools, structured output, usage, finish reasons, null options, small talk, unsupported routes
and the retry policy, through the real `openai` and `ollama` clients (and, for LangChain's and
LlamaIndex's clients, the exact request shapes they send)."""

from __future__ import annotations

import json

import httpx
import ollama as ollama_client
import openai
import pytest

from rag.errors import RagError
from rag.ollama import OllamaClient
from rag.prompts import REFUSAL_EN
from tests.conftest import make_settings
from tests.test_compat import E7, serving, upload

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALLS = [{"name": "get_weather", "arguments": {"city": "Hanoi"}}]
TITLE_TASK = (
    "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
    '### Output:\nJSON format: { "title": "your concise title here" }\n'
    "### Chat History:\n<chat_history>\nUSER: What does error E7 mean?\n</chat_history>"
)


@pytest.fixture(scope="module")
def url(double, tmp_path_factory):
    """One service for the module: nothing here depends on the store, and each embedded store
    a test opens keeps its files open for the rest of the session (chromadb caches clients)."""
    settings = make_settings(double.url, tmp_path_factory.mktemp("tools") / "data")
    with serving(settings) as base:
        upload(base, "handbook.md", "r2-user-manual.pdf")
        yield base


@pytest.fixture()
def model():
    return "rag:default"


@pytest.fixture()
def oai(url):
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def ask(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def test_openai_tool_calls_whole_and_streamed(oai, model, ollama):
    ollama.configure(chat_tool_calls=CALLS)
    reply = oai.chat.completions.create(model=model, messages=ask(E7), tools=[WEATHER])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.type, call.function.name) == ("function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Hanoi"}
    sent = ollama.stats()["last_chat"]
    assert sent["tools"] == [WEATHER] and "Sources:" in sent["messages"][-1]["content"]

    chunks = list(
        oai.chat.completions.create(model=model, messages=ask(E7), tools=[WEATHER], stream=True)
    )
    streamed = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [(tc.index, tc.function.name) for tc in streamed] == [(0, "get_weather")]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    # The client runs the tool and sends its result back: the model answers from it.
    ollama.configure(chat_tool_calls=None)
    turns = [
        *ask(E7),
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 31 degrees"},
    ]
    final = oai.chat.completions.create(model=model, messages=turns, tools=[WEATHER])
    assert final.choices[0].message.content.startswith("Sunny, 31 degrees")
    last = ollama.stats()["last_chat"]["messages"]
    assert last[-2]["tool_calls"][0]["function"]["arguments"] == {"city": "Hanoi"}
    assert last[-1] == {"role": "tool", "content": "Sunny, 31 degrees"}


def test_ollama_tool_calls_whole_and_streamed(url, model, ollama):
    ollama.configure(chat_tool_calls=CALLS)
    client = ollama_client.Client(host=url)
    reply = client.chat(model=model, messages=ask(E7), tools=[WEATHER])
    call = reply.message.tool_calls[0]
    assert (call.function.name, dict(call.function.arguments)) == ("get_weather", {"city": "Hanoi"})
    parts = list(client.chat(model=model, messages=ask(E7), tools=[WEATHER], stream=True))
    calls = [tc.function.name for p in parts for tc in p.message.tool_calls or []]
    assert calls == ["get_weather"] and parts[-1].done


def test_usage_and_finish_reasons(oai, url, model, ollama):
    reply = oai.chat.completions.create(model=model, messages=ask(E7))
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    chunks = list(
        oai.chat.completions.create(
            model=model, messages=ask(E7), stream=True, stream_options={"include_usage": True}
        )
    )
    assert (
        chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == usage.completion_tokens
    )
    assert all(c.usage is None for c in chunks[:-1])

    cut = oai.chat.completions.create(model=model, messages=ask(E7), max_tokens=3)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
    whole = ollama_client.Client(host=url).chat(
        model=model, messages=ask(E7), options={"num_predict": 3}
    )
    assert (whole.done_reason, whole.eval_count) == ("length", 3)
    assert whole.prompt_eval_count == usage.prompt_tokens


def test_structured_output_passes_through(oai, url, model, ollama):
    schema = {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}
    ollama.configure(chat_reply='{"code": "E7 [1]"}')
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    reply = oai.chat.completions.create(
        model=model, messages=ask(E7), response_format=response_format
    )
    assert json.loads(reply.choices[0].message.content) == {"code": "E7 [1]"}  # no footer
    assert ollama.stats()["last_chat"]["format"] == schema
    oai.chat.completions.create(
        model=model, messages=ask(E7), response_format={"type": "json_object"}
    )
    assert ollama.stats()["last_chat"]["format"] == "json"
    whole = ollama_client.Client(host=url).chat(model=model, messages=ask(E7), format="json")
    assert json.loads(whole.message.content) == {"code": "E7 [1]"}


def test_null_options_are_dropped_like_ollama_does(url, model, ollama):
    # LlamaIndex's Ollama class sends every option it knows, null when unset.
    body = {
        "model": model,
        "messages": ask(E7),
        "stream": False,
        "options": {"temperature": None, "num_ctx": None, "num_predict": None, "seed": None},
    }
    reply = httpx.post(f"{url}/api/chat", json=body, timeout=30)
    assert reply.status_code == 200 and "[1]" in reply.json()["message"]["content"]
    assert ollama.stats()["last_chat"]["options"]["temperature"] == 0.2  # our default
    direct = {**body, "model": "llama3.2", "options": {"temperature": None}}
    assert httpx.post(f"{ollama.url}/api/chat", json=direct).status_code == 200


def test_langchain_shapes(url, model, ollama):
    # ChatOpenAI sends stream_options.include_usage and `n`; ChatOllama sends options and tools.
    openai_shape = {
        "model": model,
        "messages": ask(E7),
        "stream": True,
        "stream_options": {"include_usage": True},
        "n": 1,
        "temperature": 0.7,
    }
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=openai_shape) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[-2])["usage"]["total_tokens"] > 0
    ollama_shape = {
        "model": model,
        "messages": ask(E7),
        "stream": True,
        "options": {"temperature": 0.8, "mirostat": None, "stop": None},
        "tools": [],
        "keep_alive": None,
    }
    with httpx.stream("POST", f"{url}/api/chat", json=ollama_shape) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[-1]["done"] and "[1]" in "".join(line["message"]["content"] for line in lines)


def test_small_talk_and_task_prompts_are_not_refused(oai, model, ollama):
    before = ollama.stats()["chat_requests"]
    hello = oai.chat.completions.create(model=model, messages=ask("Hi!")).choices[0].message
    assert hello.content.startswith("Hello!") and REFUSAL_EN not in hello.content
    assert ollama.stats()["chat_requests"] == before  # classified without the chat model

    ollama.configure(chat_reply='{"title": "🔧 Error E7 meaning"}')
    title = oai.chat.completions.create(model=model, messages=ask(TITLE_TASK))
    assert json.loads(title.choices[0].message.content) == {"title": "🔧 Error E7 meaning"}
    sent = json.dumps(ollama.stats()["last_chat"]["messages"])
    assert "Sources:" not in sent and "reply exactly" not in sent  # ungrounded

    ollama.configure(chat_reply=None)
    unknown = oai.chat.completions.create(model=model, messages=ask("Who won the 1998 World Cup?"))
    assert unknown.choices[0].message.content.startswith(REFUSAL_EN)


def test_unsupported_routes_say_what_to_use(oai, url):
    with pytest.raises(openai.NotFoundError) as caught:
        oai.completions.create(model="rag", prompt="x")
    assert "use POST /v1/chat/completions" in caught.value.body["message"]
    pulled = httpx.post(f"{url}/api/pull", json={"model": "llama3.2"})
    assert pulled.status_code == 404 and "POST /documents" in pulled.json()["error"]
    assert set(httpx.get(f"{url}/api/nothing").json()) == {"error"}
    assert httpx.head(url).status_code == 200
    ps = httpx.get(f"{url}/api/ps").json()["models"]
    assert ps and all(m["name"].startswith("rag:") for m in ps)
    legacy = httpx.post(f"{url}/api/embeddings", json={"model": "nomic-embed-text", "prompt": "a"})
    assert len(legacy.json()["embedding"]) > 0


@pytest.mark.parametrize(("status", "requests"), [(500, 2), (503, 4), (502, 4), (504, 4), (400, 1)])
def test_retry_policy_per_failure(ollama, tmp_path, status, requests):
    ollama.configure(faults=[{"path": "/api/show", "status": status, "count": -1}])
    settings = make_settings(ollama.url, tmp_path, ollama_retries=3)
    with OllamaClient(settings) as client, pytest.raises(RagError):
        client._call("POST", "/api/show", {"model": "llama3.2"})
    assert ollama.stats()["requests"]["/api/show"] == requests  # 3 retries, a 500 only once


def test_transient_failures_are_retried_until_they_pass(ollama, tmp_path):
    settings = make_settings(ollama.url, tmp_path, ollama_retries=3)
    ollama.configure(faults=[{"path": "/api/chat", "status": 503, "count": 2}])
    with OllamaClient(settings) as client:
        assert client.chat(ask("hello"))["done"] is True
