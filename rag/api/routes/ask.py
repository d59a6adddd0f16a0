"""POST /ask: a grounded answer with checked citations, or a structured refusal.

With `stream: true` the events go out as they happen: NDJSON by default, Server-Sent Events
when the client sends `Accept: text/event-stream`. Streamed tokens never hold a `[n]` that
names no source (the same filter as the final answer and the compatible chat routes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.answer import AnswerRequest, answer, answer_stream
from rag.api.deps import KB
from rag.api.problems import problem_body
from rag.api.schemas import AnswerOut, AskRequest, body
from rag.events import Event, Retrieved, Token
from rag.filters import Filters

router = APIRouter(tags=["ask"])
STREAMS = {
    "application/x-ndjson": {"schema": {"description": "one JSON event a line"}},
    "text/event-stream": {"schema": {"description": "the same events as Server-Sent Events"}},
}


@router.post(
    "/ask",
    response_model=AnswerOut,
    response_model_exclude_unset=True,
    responses={200: {"content": STREAMS}},
)
async def ask(payload: AskRequest, request: Request, kb: KB) -> AnswerOut | StreamingResponse:
    """Answer a question from the knowledge base (events `retrieval`, `token`…, `done`)."""
    question = AnswerRequest(
        collection=kb.collection(payload.collection),
        question=payload.question,
        messages=[m.model_dump() for m in payload.messages or []],
        filters=Filters.from_dict(payload.filters),
        top_k=payload.top_k,
    )
    if not payload.stream:
        return AnswerOut.of(await run_in_threadpool(answer, kb, question))
    events = answer_stream(kb, question)
    # Pull the first event here so that errors before any output get a proper HTTP status.
    first = await run_in_threadpool(next, events)
    sse = "text/event-stream" in request.headers.get("accept", "")
    media = "text/event-stream" if sse else "application/x-ndjson"
    return StreamingResponse(
        _encode(_bodies(first, events), sse),
        media_type=media,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def event_body(event: Event) -> dict[str, Any]:
    """An answer event as the JSON object the stream sends."""
    if isinstance(event, Retrieved):
        hits, sources = len(event.hits), len(event.sources)
        return {"type": "retrieval", "hits": hits, "sources": sources, "query": event.query}
    if isinstance(event, Token):
        return {"type": "token", "text": event.text}
    return {"type": "done", **body(AnswerOut.of(event.answer))}


def _bodies(first: Event, rest: Iterator[Event]) -> Iterator[dict[str, Any]]:
    yield event_body(first)
    try:
        for event in rest:
            yield event_body(event)
    except Exception as exc:  # headers are gone: report the failure as the last event
        yield {"type": "error", **problem_body(exc)}


def _encode(events: Iterator[dict[str, Any]], sse: bool) -> Iterator[bytes]:
    for event in events:
        data = json.dumps(event, ensure_ascii=False)
        if sse:
            yield f"event: {event.get('type', 'message')}\ndata: {data}\n\n".encode()
        else:
            yield (data + "\n").encode()
