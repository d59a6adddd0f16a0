"""Ollama-compatible endpoints: GET /api/tags, GET /api/version, POST /api/show, POST /api/chat.

Each collection is a model, `rag:<collection>` (`rag` and `rag:latest` mean the default one).
A chat grounds its last user message through the same code as POST /ask and answers in Ollama's
shapes: NDJSON unless `stream: false`, `created_at` as Go writes it, metrics in nanoseconds left
out when zero, errors as `{"error": "..."}` (a last line of that shape once a stream has begun).
Bodies are parsed here rather than by FastAPI because Ollama accepts JSON under any content type
(`curl -d` sends a form type) and answers malformed JSON with its own messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import chain
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from rag.answer import DEFAULT_TEMPERATURE
from rag.api.compat import (
    MODEL_FAMILY,
    CollectionInfo,
    citations_body,
    collect,
    describe,
    error_route,
    failure,
    go_time,
    grounded_reply,
    known_collections,
    model_name,
    require_collection,
    split_conversation,
    validation_message,
)
from rag.api.deps import KB
from rag.errors import BadRequest
from rag.events import Done
from rag.kb import KnowledgeBase

CAPABILITIES = ["completion"]
_ZERO_DURATION_RE = re.compile(r"^[+-]?0+(?:\.0*)?(?:ns|us|µs|ms|s|m|h)?$")

Body = TypeVar("Body", bound=BaseModel)


def ollama_error(status: int, message: str) -> JSONResponse:
    """Ollama's error body: a single string field."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


router = APIRouter(tags=["ollama"], route_class=error_route(ollama_error))


class ChatMessage(BaseModel):
    """One message; images, tool calls and thinking are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    role: str = ""
    content: str | None = None


class ChatRequest(BaseModel):
    """POST /api/chat; format, tools and think are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    messages: list[ChatMessage] | None = None
    stream: bool | None = None
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None


class ShowRequest(BaseModel):
    """POST /api/show (`name` is the legacy spelling of `model`)."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    name: str = ""


async def _parse(request: Request, schema: type[Body]) -> Body:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("missing request body")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc.errors())) from None


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


@router.post("/api/show")
async def show(request: Request, kb: KB) -> dict[str, Any]:
    """What a collection model is: its chat model, size and capabilities."""
    body = await _parse(request, ShowRequest)
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
    body = await _parse(request, ChatRequest)
    if not body.model:
        raise BadRequest("model is required")
    collection = await run_in_threadpool(require_collection, kb, body.model)
    if not body.messages:
        return await run_in_threadpool(_load, kb, body)
    question, history = split_conversation(
        [(m.role.lower(), m.content or "") for m in body.messages]
    )
    reply = grounded_reply(kb, collection, question, history, body.options)
    if body.stream is False:
        text, done = await run_in_threadpool(collect, reply)
        return {**_message(body.model, text), "done": True, **_final(done)}
    # Pull the first piece here so that errors before any output get a proper HTTP status.
    first = await run_in_threadpool(next, reply)
    lines = _lines(body.model, chain([first], reply))
    return StreamingResponse(lines, media_type="application/x-ndjson")


def _load(kb: KnowledgeBase, body: ChatRequest) -> dict[str, Any]:
    """Empty messages: load the chat model (Ollama's preload), or pretend to unload it."""
    unload = _is_zero(body.keep_alive)
    if not unload:
        kb.ollama.preload(kb.settings.chat_model, "chat")
    # Other clients share the chat model: an unload request must not take it from them.
    return {**_message(body.model, ""), "done": True, "done_reason": "unload" if unload else "load"}


def _is_zero(keep_alive: float | str | None) -> bool:
    if isinstance(keep_alive, str):
        return bool(_ZERO_DURATION_RE.match(keep_alive.strip()))
    return keep_alive is not None and keep_alive == 0


def _message(model: str, text: str) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": go_time(),
        "message": {"role": "assistant", "content": text},
    }


def _final(done: Done) -> dict[str, Any]:
    """done_reason, the metrics we know (ns, zeros left out) and the checked citations."""
    timings = done.answer.timings
    metrics = {
        "total_duration": int(timings.get("total", 0) * 1_000_000),
        "eval_count": done.tokens,
        "eval_duration": int(timings.get("generate", 0) * 1_000_000),
    }
    present = {key: value for key, value in metrics.items() if value}
    return {"done_reason": "stop", **present, "citations": citations_body(done)}


def _lines(model: str, reply: Iterator[str | Done]) -> Iterator[bytes]:
    try:
        for item in reply:
            if isinstance(item, Done):
                line = {**_message(model, ""), "done": True, **_final(item)}
            else:
                line = {**_message(model, item), "done": False}
            yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
    except Exception as exc:  # headers are gone: Ollama ends such a stream with an error line
        yield (json.dumps({"error": failure(exc)[1]}, ensure_ascii=False) + "\n").encode()
