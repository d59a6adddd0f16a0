"""Ollama's response shapes shared by /api/chat and /api/generate: errors, final objects, NDJSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse

from rag.api.compat import citations_body, error_route, failure
from rag.api.wire import batches
from rag.events import Done

# (text, Done or None) -> one response object; Done marks the final one.
# Lines leave at least this far apart (pieces produced meanwhile are merged into the next one):
# far below a person's reading speed, far above the time a browser takes to read a chunk.
LINE_GAP_S = 0.1
# The headers leave first; the first line waits until a reader has had time to start reading
# (a fetch() resolves on the headers, then the page asks for the body).
FIRST_LINE_DELAY_S = 0.1
Render = Callable[[str, Done | None], dict[str, Any]]


def ollama_error(status: int, message: str) -> JSONResponse:
    """Ollama's error body: a single string field."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


OllamaRoute = error_route(ollama_error)


def final_fields(done: Done) -> dict[str, Any]:
    """done_reason, the metrics we know (ns, zeros left out) and the checked citations."""
    timings, usage = done.answer.timings, done.usage
    metrics = {
        "total_duration": int(timings.get("total", 0) * 1_000_000),
        "prompt_eval_count": usage.prompt_tokens if usage else 0,
        "eval_count": usage.completion_tokens if usage and usage.completion_tokens else done.tokens,
        "eval_duration": int(timings.get("generate", 0) * 1_000_000),
    }
    present = {key: value for key, value in metrics.items() if value}
    reason = "length" if done.finish_reason == "length" else "stop"  # Ollama says stop for tools
    return {"done_reason": reason, **present, "citations": citations_body(done)}


def ndjson(render: Render, reply: Iterator[str | Done]) -> StreamingResponse:
    """An NDJSON response: one object per line, one line per write.

    Pieces that are ready together are merged into one object (and into the final one), so a
    reader that parses each read() as one JSON object, as the guide's browser snippet does,
    never gets two objects in one read.
    """
    return StreamingResponse(_lines(render, reply), media_type="application/x-ndjson")


async def _lines(render: Render, reply: Iterator[str | Done]) -> AsyncIterator[bytes]:
    await asyncio.sleep(FIRST_LINE_DELAY_S)
    try:
        async for ready in batches(reply, LINE_GAP_S):
            text = "".join(item for item in ready if isinstance(item, str))
            done = next((item for item in ready if isinstance(item, Done)), None)
            if text or done is not None:
                yield _line(render(text, done))
    except Exception as exc:  # headers are gone: Ollama ends such a stream with an error line
        yield _line({"error": failure(exc)[1]})


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False) + "\n").encode()
