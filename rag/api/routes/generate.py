"""Ollama's POST /api/generate (a grounded answer to a prompt), /api/embed and /api/embeddings.

`/api/generate` answers its prompt like a one-turn /api/chat (the `system` field is a style
instruction after our grounding rules); the embedding routes pass the text to the configured
embedding model exactly as given.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from rag.api.compat import (
    Conversation,
    answer_request,
    collect,
    go_time,
    grounded_reply,
    require_collection,
)
from rag.api.deps import KB
from rag.api.ollama_shapes import OllamaRoute, final_fields, ndjson
from rag.api.routes.ollama_compat import is_zero
from rag.api.routes.openai_compat import check_embedding_model
from rag.api.wire import json_body
from rag.errors import BadRequest, InputTooLong
from rag.events import Done
from rag.kb import KnowledgeBase
from rag.tokens import estimate_tokens

router = APIRouter(tags=["ollama"], route_class=OllamaRoute)


class GenerateRequest(BaseModel):
    """POST /api/generate; images, raw, suffix, context and think are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    prompt: str | None = None
    system: str | None = None
    stream: bool | None = None
    options: dict[str, Any] | None = None
    format: str | dict[str, Any] | None = None
    keep_alive: float | str | None = None


class EmbedRequest(BaseModel):
    """POST /api/embed (`input`) and the legacy POST /api/embeddings (`prompt`)."""

    model_config = ConfigDict(extra="allow")
    model: str = ""
    input: str | list[str] | None = None
    prompt: str | None = None
    dimensions: int | None = None


@router.post("/api/generate", response_model=None)
async def generate(request: Request, kb: KB) -> dict[str, Any] | StreamingResponse:
    """A grounded answer to the prompt: NDJSON chunks (`response` fields), or one object."""
    body = await json_body(request, GenerateRequest)
    if not body.model:
        raise BadRequest("model is required")
    collection = await run_in_threadpool(require_collection, kb, body.model)
    if not (body.prompt or "").strip():
        return await run_in_threadpool(_load, kb, body)
    chat = Conversation(body.prompt or "", [], body.system or "", [])
    ask = answer_request(collection, chat, body.options, format=body.format or None)
    reply = grounded_reply(kb, ask)

    def render(text: str, done: Done | None) -> dict[str, Any]:
        line = {"model": body.model, "created_at": go_time(), "response": text}
        return {**line, "done": False} if done is None else {**line, "done": True, **final(done)}

    if body.stream is False:
        text, done = await run_in_threadpool(collect, reply)
        return render(text, done)
    first = await run_in_threadpool(next, reply)
    return ndjson(render, chain([first], reply))


def final(done: Done) -> dict[str, Any]:
    """Ollama's final generate fields (no `context`: there is no raw-prompt state to resume)."""
    return final_fields(done)


def _load(kb: KnowledgeBase, body: GenerateRequest) -> dict[str, Any]:
    unload = is_zero(body.keep_alive)
    if not unload:
        kb.ollama.preload(kb.settings.chat_model, "chat")
    line = {"model": body.model, "created_at": go_time(), "response": "", "done": True}
    return {**line, "done_reason": "unload" if unload else "load"}


@router.post("/api/embed")
async def embed(request: Request, kb: KB) -> dict[str, Any]:
    """Vectors for `input` (a string or a list) from the configured embedding model."""
    body = await json_body(request, EmbedRequest)
    texts = [body.input] if isinstance(body.input, str) else list(body.input or [])
    started = time.perf_counter_ns()
    vectors = await run_in_threadpool(_vectors, kb, body, texts)
    return {
        "model": body.model,
        "embeddings": vectors,
        "total_duration": time.perf_counter_ns() - started,
        "prompt_eval_count": sum(estimate_tokens(t) for t in texts),
    }


@router.post("/api/embeddings")
async def embeddings(request: Request, kb: KB) -> dict[str, Any]:
    """The legacy single-text form: `{"embedding": [...]}` (empty for an empty prompt)."""
    body = await json_body(request, EmbedRequest)
    text = body.prompt or ""
    vectors = await run_in_threadpool(_vectors, kb, body, [text] if text else [])
    return {"embedding": vectors[0] if vectors else []}


def _vectors(kb: KnowledgeBase, body: EmbedRequest, texts: list[str]) -> list[list[float]]:
    if not body.model:
        raise BadRequest("model is required")
    check_embedding_model(kb, body.model)
    if not texts:
        return []  # Ollama's preload form
    try:
        vectors = kb.ollama.embed(texts)
    except InputTooLong as exc:  # the caller chose the text: their mistake, not ours
        raise BadRequest(exc.message) from None
    if body.dimensions and body.dimensions != len(vectors[0]):
        raise BadRequest(f"dimensions: this model only gives {len(vectors[0])}-dimensional vectors")
    return vectors
