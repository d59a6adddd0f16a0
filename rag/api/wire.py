"""Wire helpers of the compatible APIs: JSON bodies under any content type, batched streaming,
tool calls and structured output in Ollama's and OpenAI's shapes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from rag.errors import BadRequest

Body = TypeVar("Body", bound=BaseModel)
Item = TypeVar("Item")


def validation_message(errors: Any) -> str:
    """The first pydantic error as `field: message`."""
    first = next(iter(errors), {"loc": (), "msg": "invalid request"})
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return f"{where}: {first.get('msg', 'invalid value')}"


async def json_body(request: Request, schema: type[Body]) -> Body:
    """The body as JSON whatever its content type (`curl -d` sends a form type), validated."""
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


async def batches(items: Iterator[Item], gap: float = 0.0) -> AsyncIterator[list[Item]]:
    """The items of a blocking iterator, grouped by what was ready together.

    Streaming routes write one line per batch: a burst (the sources footer and the final
    object, or a refusal) becomes one object in one write. With a `gap`, batches are at least
    that many seconds apart and what arrives meanwhile joins the next one, so a client that
    parses each read() as one JSON object (the guide's browser snippet) never gets two at once.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone: nobody is listening any more
            stop.set()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    break
                put("item", item)
        except BaseException as exc:  # handed to the consumer, which renders it
            put("error", exc)
            return
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()  # ends the request to Ollama when the client went away
        put("end", None)

    threading.Thread(target=produce, name="compat-stream", daemon=True).start()
    try:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            ready = [value for kind, value in batch if kind == "item"]
            if ready:
                yield ready
                if gap:
                    await asyncio.sleep(gap)  # later items queue up and leave as one batch
            for kind, value in batch:
                if kind == "error":
                    raise value
                if kind == "end":
                    return
    finally:
        stop.set()


# -- tools and structured output -------------------------------------------------------------


def openai_tool_calls(calls: list[dict[str, Any]], streamed: bool) -> list[dict[str, Any]]:
    """Ollama's tool calls (arguments an object) as OpenAI's (arguments a JSON string)."""
    out = []
    for index, call in enumerate(calls):
        function = call.get("function") or {}
        item: dict[str, Any] = {
            "id": str(call.get("id") or f"call_{index}"),
            "type": "function",
            "function": {
                "name": str(function.get("name") or ""),
                "arguments": json.dumps(function.get("arguments") or {}, ensure_ascii=False),
            },
        }
        out.append({"index": index, **item} if streamed else item)
    return out


def ollama_message(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI or Ollama tool-call or tool-result message, as Ollama takes it."""
    out: dict[str, Any] = {"role": message.get("role"), "content": message_text(message)}
    calls = []
    for call in message.get("tool_calls") or []:
        function = dict(call.get("function") or {})
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                function["arguments"] = json.loads(arguments or "{}")
            except ValueError:
                raise BadRequest("tool_calls: arguments must be a JSON object") from None
        calls.append({"function": function})
    if calls:
        out["tool_calls"] = calls
    for key in ("tool_name", "name"):
        if message.get(key):
            out["tool_name"] = message[key]
    return out


def message_text(message: dict[str, Any]) -> str:
    """A message's text: a string, or the text parts of a content-part list (images dropped)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(p for p in parts if isinstance(p, str))
    raise BadRequest("message content must be a string or a list of content parts")


def ollama_format(response_format: Any) -> Any:
    """OpenAI's response_format as Ollama's format: "json", a JSON schema, or None."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    if kind in (None, "text"):
        return None
    raise BadRequest(f"response_format: unsupported type {kind!r}")
