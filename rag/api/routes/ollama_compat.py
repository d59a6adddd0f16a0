"""Ollama-compatible endpoints: /api/tags, /api/version, /api/ps, /api/show, /api/chat, HEAD /.

Each collection is a model, `rag:<collection>` (`rag` and `rag:latest` mean the default one).
A chat grounds its last user message through the same code as POST /ask and answers in Ollama's
shapes: NDJSON unless `stream: false`, `created_at` as Go writes it, metrics in nanoseconds left
out when zero, errors as `{"error": "..."}` (a last line of that shape once a stream has begun).
Bodies are parsed here rather than by FastAPI because Ollama accepts JSON under any content type
(`curl -d` sends a form type) and answers malformed JSON with its own messages.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from rag.answer import DEFAULT_TEMPERATURE
from rag.api.compat import (
    MODEL_FAMILY,
    CollectionInfo,
    answer_request,
    collect,
    conversation,
    describe,
    go_time,
    grounded_reply,
    known_collections,
    model_name,
    require_collection,
)
from rag.api.deps import KB
from rag.api.ollama_shapes import OllamaRoute, final_fields, ndjson
from rag.api.wire import json_body
from rag.errors import BadRequest
from rag.events import Done
from rag.kb import KnowledgeBase

CAPABILITIES = ["completion", "tools"]
NEVER = "2318-11-26T00:00:00Z"  # what Ollama shows for a model kept loaded forever
_ZERO_DURATION_RE = re.compile(r"^[+-]?0+(?:\.0*)?(?:ns|us|µs|ms|s|m|h)?$")

Body = TypeVar("Body", bound=BaseModel)


router = APIRouter(tags=["ollama"], route_class=OllamaRoute)


class ChatMessage(BaseModel):
    """One message; tool calls and tool results are kept, images and thinking are ignored."""

    model_config = ConfigDict(extra="allow")
    role: str = ""
    content: str | None = None


class ChatRequest(BaseModel):
    """POST /api/chat; `think` is accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    messages: list[ChatMessage] | None = None
    stream: bool | None = None
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None
    tools: list[dict[str, Any]] | None = None
    format: str | dict[str, Any] | None = None


class ShowRequest(BaseModel):
    """POST /api/show (`name` is the legacy spelling of `model`)."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    name: str = ""


@router.get("/api/version")
def version(kb: KB) -> dict[str, str]:
    """The version of the Ollama behind us: clients pick features by it."""
    return {"version": kb.ollama.version()}


@router.get("/api/tags")
def tags(kb: KB) -> dict[str, Any]:
    """Every collection as a model, most recently changed first."""
    infos = [describe(kb, c) for c in known_collections(kb)]
    infos.sort(key=lambda info: info.modified, reverse=True)
    return {"models": [_tag(kb, info) for info in infos]}


def _tag(kb: KnowledgeBase, info: CollectionInfo) -> dict[str, Any]:
    name = model_name(info.name)
    return {
        "name": name,
        "model": name,
        "modified_at": _stamp(info),
        "size": info.size,
        "digest": info.digest,
        "details": _details(kb),
        "capabilities": CAPABILITIES,
    }


def _details(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": MODEL_FAMILY,
        "family": MODEL_FAMILY,
        "families": [MODEL_FAMILY],
        "parameter_size": "",
        "quantization_level": "",
        "context_length": kb.settings.chat_num_ctx,
    }


def _stamp(info: CollectionInfo) -> str:
    return go_time(int(info.modified.timestamp()) * 1_000_000_000)


@router.get("/api/ps")
def ps(kb: KB) -> dict[str, Any]:
    """The collection models, always ready (the chat model behind them is kept loaded)."""
    infos = [describe(kb, c) for c in known_collections(kb)]
    models = [
        {**_tag(kb, info), "expires_at": NEVER, "size_vram": 0, "context_length": _ctx(kb)}
        for info in infos
    ]
    for model in models:
        del model["modified_at"], model["capabilities"]
    return {"models": models}


def _ctx(kb: KnowledgeBase) -> int:
    return kb.settings.chat_num_ctx


# Public like Ollama's own `HEAD /` probe (clients call it to see that the server is up).
probe = APIRouter(tags=["ollama"])


@probe.head("/", include_in_schema=False)
def head_root() -> Response:
    """200 with no body, as Ollama answers `HEAD /`."""
    return Response(status_code=200, media_type="text/plain; charset=utf-8")


@router.post("/api/show")
async def show(request: Request, kb: KB) -> dict[str, Any]:
    """What a collection model is: its chat model, size and capabilities."""
    body = await json_body(request, ShowRequest)
    model = body.model or body.name
    if not model:
        raise BadRequest("model is required")
    collection = await run_in_threadpool(require_collection, kb, model)
    info = await run_in_threadpool(describe, kb, collection)
    settings = kb.settings
    parameters = {"num_ctx": settings.chat_num_ctx, "temperature": DEFAULT_TEMPERATURE}
    return {
        "license": "",
        "modelfile": f"# answers grounded in the knowledge base '{collection}'\n"
        f"FROM {settings.chat_model}\n",
        "parameters": "\n".join(f"{k:<31}{v}" for k, v in parameters.items()),
        "template": "",
        "system": "",
        "details": _details(kb),
        "model_info": {
            "general.architecture": MODEL_FAMILY,
            "general.basename": collection,
            f"{MODEL_FAMILY}.context_length": settings.chat_num_ctx,
            f"{MODEL_FAMILY}.chat_model": settings.chat_model,
            f"{MODEL_FAMILY}.embedding_model": settings.embed_model,
            f"{MODEL_FAMILY}.documents": info.documents,
            f"{MODEL_FAMILY}.chunks": info.chunks,
        },
        "capabilities": CAPABILITIES,
        "modified_at": _stamp(info),
    }


@router.post("/api/chat", response_model=None)
async def chat(request: Request, kb: KB) -> dict[str, Any] | StreamingResponse:
    """A grounded answer to the last user message: NDJSON chunks, or one object."""
    body = await json_body(request, ChatRequest)
    if not body.model:
        raise BadRequest("model is required")
    collection = await run_in_threadpool(require_collection, kb, body.model)
    if not body.messages:
        return await run_in_threadpool(_load, kb, body)
    chat = conversation([m.model_dump() for m in body.messages])
    extra = {"tools": body.tools or None, "format": body.format or None}
    reply = grounded_reply(kb, answer_request(collection, chat, body.options, **extra))

    def render(text: str, done: Done | None) -> dict[str, Any]:
        if done is None:
            return {**_message(body.model, text), "done": False}
        message = _message(body.model, text, done.tool_calls)
        return {**message, "done": True, **final_fields(done)}

    if body.stream is False:
        text, done = await run_in_threadpool(collect, reply)
        return render(text, done)
    # Pull the first piece here so that errors before any output get a proper HTTP status.
    first = await run_in_threadpool(next, reply)
    return ndjson(render, chain([first], reply))


def _load(kb: KnowledgeBase, body: ChatRequest) -> dict[str, Any]:
    """Empty messages: load the chat model (Ollama's preload), or pretend to unload it."""
    unload = is_zero(body.keep_alive)
    if not unload:
        kb.ollama.preload(kb.settings.chat_model, "chat")
    # Other clients share the chat model: an unload request must not take it from them.
    return {**_message(body.model, ""), "done": True, "done_reason": "unload" if unload else "load"}


def is_zero(keep_alive: float | str | None) -> bool:
    """True for keep_alive 0 (or "0s", "0m" …): the client asks to unload."""
    if isinstance(keep_alive, str):
        return bool(_ZERO_DURATION_RE.match(keep_alive.strip()))
    return keep_alive is not None and keep_alive == 0


def _message(
    model: str, text: str, tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"model": model, "created_at": go_time(), "message": message}
