"""OpenAI-compatible endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/embeddings.

Each collection is a model, `rag:<collection>`. Chat answers go through the same retrieval and
answer code as POST /ask; the checked citations are appended to the text as a Sources list and
returned in an extra top-level `citations` field (on the last chunk when streaming). Errors use
OpenAI's envelope instead of problem+json, so the SDKs raise their usual exceptions.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from itertools import chain
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from rag.api.compat import (
    CollectionInfo,
    answer_request,
    citations_body,
    collect,
    conversation,
    describe,
    error_route,
    failure,
    find_collection,
    grounded_reply,
    known_collections,
    model_name,
    require_collection,
)
from rag.api.deps import KB
from rag.api.wire import batches, json_body, ollama_format, openai_tool_calls
from rag.errors import BadRequest, InputTooLong, NotFound
from rag.events import Done
from rag.kb import KnowledgeBase
from rag.ollama import full_name
from rag.tokens import estimate_tokens

FINGERPRINT = "fp_rag"
MAX_EMBED_INPUTS = 2048  # OpenAI's own limit per request
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error envelope; the type follows the status as in Ollama's shim."""
    kind = "api_error" if status >= 500 else "invalid_request_error"
    kind = "not_found_error" if status == 404 else kind
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def openai_error(status: int, message: str) -> JSONResponse:
    """An error response in OpenAI's envelope."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


router = APIRouter(tags=["openai"], route_class=error_route(openai_error))


class ChatMessage(BaseModel):
    """One message; content is a string or a list of content parts (only text is used);
    assistant tool_calls and tool results (`tool_call_id`) are kept as extra fields."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions; fields not listed (n, user, logprobs …) are accepted, ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None

    def extra(self) -> dict[str, Any]:
        """Tools (unless tool_choice is "none") and structured output, for the AnswerRequest."""
        tools = None if self.tool_choice == "none" else self.tools
        return {"tools": tools or None, "format": ollama_format(self.response_format)}

    def options(self) -> dict[str, Any]:
        """The sampling parameters as Ollama options (unset ones keep our defaults)."""
        values = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "num_predict": self.max_completion_tokens or self.max_tokens,
            "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
            "seed": self.seed,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
        }
        return {key: value for key, value in values.items() if value is not None}


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)


@router.get("/v1/models")
def list_models(kb: KB) -> dict[str, Any]:
    """Every collection as a model."""
    return {"object": "list", "data": [_card(describe(kb, c)) for c in known_collections(kb)]}


@router.get("/v1/models/{model}")
def get_model(model: str, kb: KB) -> dict[str, Any]:
    """One model, or 404."""
    return _card(describe(kb, require_collection(kb, model, list_models=True)))


def _card(info: CollectionInfo) -> dict[str, Any]:
    created = int(info.modified.timestamp())
    return {"id": model_name(info.name), "object": "model", "created": created, "owned_by": "rag"}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, kb: KB) -> dict[str, Any] | StreamingResponse:
    """A grounded answer to the last user message, whole or as Server-Sent Events."""
    body = await json_body(request, ChatCompletionRequest)
    collection = await run_in_threadpool(require_collection, kb, body.model, True)
    chat = conversation([m.model_dump() for m in body.messages])
    ask = answer_request(collection, chat, body.options(), **body.extra())
    reply = grounded_reply(kb, ask)
    meta = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "created": int(time.time()),
        "model": body.model,
        "system_fingerprint": FINGERPRINT,
    }
    if not body.stream:
        text, done = await run_in_threadpool(collect, reply)
        choice = {"index": 0, "message": _message(text, done), "logprobs": None}
        choice["finish_reason"] = done.finish_reason
        citations = citations_body(done)
        return {
            **meta,
            "object": "chat.completion",
            "choices": [choice],
            "usage": _usage(done),
            "citations": citations,
        }
    # Pull the first piece here so that errors before any output get a proper HTTP status.
    first = await run_in_threadpool(next, reply)
    usage = bool((body.stream_options or {}).get("include_usage"))
    base = {**meta, "object": "chat.completion.chunk"}
    chunks = _chunks(base, chain([first], reply), usage)
    return StreamingResponse(chunks, media_type="text/event-stream", headers=STREAM_HEADERS)


def _message(text: str, done: Done) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if done.tool_calls:
        message["content"] = text or None  # OpenAI sends null content beside tool calls
        message["tool_calls"] = openai_tool_calls(done.tool_calls, streamed=False)
    return message


def _usage(done: Done) -> dict[str, int]:
    """OpenAI's usage from Ollama's prompt_eval_count and eval_count (zeros if not asked)."""
    usage = done.usage
    prompt, completion = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _chunks(
    base: dict[str, Any], reply: Iterator[str | Done], include_usage: bool
) -> AsyncIterator[bytes]:
    delta: dict[str, Any] = {"role": "assistant"}  # the role goes on the first chunk only
    extra = {"usage": None} if include_usage else {}
    try:
        async for ready in batches(reply):
            for item in ready:
                if isinstance(item, Done):
                    for event in _final_chunks(base, item, delta, include_usage):
                        yield event
                    continue
                choice = {"index": 0, "delta": {**delta, "content": item}, "finish_reason": None}
                yield _event({**base, "choices": [choice], **extra})
                delta = {}
    except Exception as exc:  # headers are gone: OpenAI's SDKs raise on an `error` event
        status, message = failure(exc)
        yield _event(error_body(status, message))
        return
    yield b"data: [DONE]\n\n"


def _final_chunks(
    base: dict[str, Any], done: Done, delta: dict[str, Any], include_usage: bool
) -> Iterator[bytes]:
    """Tool calls (if any), the finish reason with our citations, and usage when asked."""
    extra = {"usage": None} if include_usage else {}
    if done.tool_calls:
        calls = {**delta, "tool_calls": openai_tool_calls(done.tool_calls, streamed=True)}
        choice = {"index": 0, "delta": calls, "finish_reason": None}
        yield _event({**base, "choices": [choice], **extra})
    choice = {"index": 0, "delta": {}, "finish_reason": done.finish_reason}
    yield _event({**base, "choices": [choice], "citations": citations_body(done), **extra})
    if include_usage:
        yield _event({**base, "choices": [], "usage": _usage(done)})


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.post("/v1/embeddings")
async def embeddings(request: Request, kb: KB) -> dict[str, Any]:
    """Vectors from the configured embedding model, exactly as given (no task prefixes)."""
    body = await json_body(request, EmbeddingRequest)
    return await run_in_threadpool(_embeddings, kb, body)


def _embeddings(kb: KnowledgeBase, body: EmbeddingRequest) -> dict[str, Any]:
    check_embedding_model(kb, body.model)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_EMBED_INPUTS:
        raise BadRequest(f"input must hold 1 to {MAX_EMBED_INPUTS} strings")
    try:
        vectors = kb.ollama.embed(texts)
    except InputTooLong as exc:  # here the caller chose the text: their mistake, not ours
        raise BadRequest(exc.message) from None
    if body.dimensions is not None and body.dimensions != len(vectors[0]):
        raise BadRequest(f"dimensions: this model only gives {len(vectors[0])}-dimensional vectors")
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    tokens = sum(estimate_tokens(t) for t in texts)  # an estimate: Ollama does not report it
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.model, "usage": usage}


def check_embedding_model(kb: KnowledgeBase, model: str) -> None:
    """The configured embedding model by name, or any collection's model (built with it)."""
    if full_name(model) == full_name(kb.settings.embed_model):
        return
    if find_collection(kb, model) is None:
        raise NotFound(f"model '{model}' not found; embeddings use '{kb.settings.embed_model}'")


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
