"""POST /ask: a grounded answer with checked citations, or a structured refusal.

With `stream: true` the events go out as they happen: NDJSON by default, Server-Sent Events
when the client sends `Accept: text/event-stream`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.answer import answer, answer_stream
from rag.api.deps import KB
from rag.api.problems import problem_body
from rag.api.schemas import AskRequest
from rag.retrieve import Filters

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=None)
async def ask(body: AskRequest, request: Request, kb: KB) -> dict[str, Any] | StreamingResponse:
    """Answer a question from the knowledge base."""
    collection = kb.collection(body.collection)
    filters = Filters.from_dict(body.filters)
    history = [m.model_dump() for m in body.messages or []]
    if not body.stream:
        result = await run_in_threadpool(
            answer, kb, collection, body.question, history, filters, body.top_k
        )
        return result.to_dict()
    events = answer_stream(kb, collection, body.question, history, filters, body.top_k)
    # Pull the first event here so that errors before any output get a proper HTTP status.
    first = await run_in_threadpool(next, events)
    sse = "text/event-stream" in request.headers.get("accept", "")
    media = "text/event-stream" if sse else "application/x-ndjson"
    return StreamingResponse(
        _encode(_chain(first, events), sse),
        media_type=media,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    try:
        yield from rest
    except Exception as exc:  # headers are gone: report the failure as the last event
        yield {"type": "error", **problem_body(exc)}


def _encode(events: Iterator[dict[str, Any]], sse: bool) -> Iterator[bytes]:
    for event in events:
        data = json.dumps(event, ensure_ascii=False)
        if sse:
            yield f"event: {event.get('type', 'message')}\ndata: {data}\n\n".encode()
        else:
            yield (data + "\n").encode()
