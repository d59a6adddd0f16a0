"""Reading Ollama's answers safely: bodies and NDJSON streams within deadlines, checked vectors.

Nothing here trusts the upstream: a body that trickles in is cut at the overall deadline, a
stream that stalls between lines is cut at the idle limit, and embeddings are checked for count,
size and finiteness before anyone can store them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import numpy as np
import orjson

from rag.errors import BadVectors, OllamaError, OllamaTimeout

_NUMBER = (float, int)


class Deadline:
    """The moment a request must be finished by; `check` raises OllamaTimeout after it."""

    def __init__(self, seconds: float, host: str) -> None:
        self.seconds = seconds
        self.host = host
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds remaining (never below a small positive floor, for httpx timeouts)."""
        return max(0.01, self.end - time.monotonic())

    def check(self) -> None:
        """Raise once the deadline has passed."""
        if time.monotonic() > self.end:
            raise OllamaTimeout(
                f"Ollama at {self.host} did not finish answering within {self.seconds:g} s "
                "(RAG_OLLAMA_DEADLINE)",
                internal=self.host,
            )


def read_body(response: httpx.Response, deadline: Deadline) -> bytes:
    """The whole body of a streamed response, giving up at the deadline."""
    parts = []
    for piece in response.iter_bytes():
        parts.append(piece)
        deadline.check()
    deadline.check()
    return b"".join(parts)


def ndjson(
    response: httpx.Response, deadline: Deadline, idle: float, first_wait: float
) -> Iterator[dict[str, Any]]:
    """Parsed NDJSON lines; at most `idle` s between lines once the first line came."""
    buffer = b""
    last, seen = time.monotonic(), False
    for piece in response.iter_bytes():
        deadline.check()
        buffer += piece
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield _line(line)
                seen = True
        if lines:
            last = time.monotonic()
        elif time.monotonic() - last > (idle if seen else first_wait):
            raise OllamaTimeout(
                f"Ollama at {deadline.host} stopped sending its answer: no complete line for "
                f"{idle if seen else first_wait:g} s (RAG_OLLAMA_IDLE_TIMEOUT)",
                internal=deadline.host,
            )
    if buffer.strip():
        yield _line(buffer)


def _line(line: bytes) -> dict[str, Any]:
    try:
        chunk = json.loads(line)
    except ValueError:
        raise OllamaError(f"Ollama sent a malformed stream line: {line[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise OllamaError(f"Ollama sent a malformed stream line: {line[:200]!r}")
    if "error" in chunk:
        raise OllamaError(f"Ollama failed mid-answer: {chunk['error']}")
    return chunk


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body, or OllamaError saying what came instead."""
    try:
        data = orjson.loads(body)  # 3x faster than json on a batch of embeddings
    except ValueError:
        data = _lenient(body)
    if not isinstance(data, dict):
        raise OllamaError("Ollama sent an unexpected JSON answer")
    return data


def _lenient(body: bytes) -> Any:
    """json.loads for what orjson refuses but json reads (NaN, huge ints): checked later."""
    try:
        return json.loads(body)
    except ValueError:
        text = body[:200].decode("utf-8", "replace")
        raise OllamaError(f"Ollama sent a non-JSON answer: {text!r}") from None


def error_text(body: bytes, reason: str) -> str:
    """Ollama's `{"error": ...}` message, else the start of the body."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return str(data["error"])
    except ValueError:
        pass
    return body.decode("utf-8", "replace").strip()[:300] or reason


def checked_vectors(raw: Any, count: int, dims: int | None, model: str) -> list[list[float]]:
    """Embeddings as floats, or BadVectors unless there are `count` finite vectors of `dims`."""
    vectors: list[list[float]] = _checked(raw, count, dims, model, np.float64).tolist()
    return vectors


def checked_matrix(raw: Any, count: int, dims: int | None, model: str) -> np.ndarray:
    """The embeddings as one float32 matrix (what the vector store keeps), checked alike."""
    return _checked(raw, count, dims, model, np.float32)


def _checked(raw: Any, count: int, dims: int | None, model: str, dtype: Any) -> np.ndarray:
    # numpy converts and checks a well-formed batch in C (~1 ms for 32x768, against ~10 ms
    # element by element); anything else gets the slow look that names what is wrong.
    array = _fast(raw, count, dims)
    if array is None:
        array = _diagnosed(raw, count, dims, model)
    with np.errstate(over="ignore"):  # refused just below, with a clearer message
        out = array.astype(dtype, copy=False)
    if not np.isfinite(out).all():  # finite as float64 but too big for float32
        bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        _bad(f"embedding {bad} holds values too large for a vector")
    return out


def _fast(raw: Any, count: int, dims: int | None) -> np.ndarray | None:
    """The batch as float64 if it is plainly well-formed, else None (for the slow check)."""
    if not isinstance(raw, list) or len(raw) != count or not raw:
        return None
    try:
        # No dtype: strings, nulls and ragged rows then show in the result's dtype or shape
        # instead of being converted ("0.5" would become 0.5 with dtype=float).
        array = np.array(raw)
    except (ValueError, TypeError):
        return None
    if (
        array.dtype.kind not in "fi"
        or array.ndim != 2
        or array.shape[1] == 0
        or dims not in (None, array.shape[1])
        or not np.isfinite(array).all()
        # Mixed with floats, true/false become 1.0/0.0: a batch holding either takes the
        # slow check, which refuses bools and lets a real 0.0 or 1.0 through.
        or ((array == 0.0) | (array == 1.0)).any()
    ):
        return None
    return array


def _diagnosed(raw: Any, count: int, dims: int | None, model: str) -> np.ndarray:
    """The slow check: BadVectors saying what is wrong, else the batch as float64."""
    if not isinstance(raw, list) or len(raw) != count:
        got = len(raw) if isinstance(raw, list) else "no"
        _bad(f"Ollama returned {got} embeddings for {count} inputs")
    for index, vector in enumerate(raw):
        if not isinstance(vector, list) or not vector:
            _bad(f"embedding {index} is not a list of numbers")
        if not all(type(x) in _NUMBER or x is None for x in vector):
            _bad(f"embedding {index} holds values that are not numbers")
    sizes = sorted({len(v) for v in raw})
    if len(sizes) > 1:
        _bad(f"one batch holds embeddings of different sizes ({', '.join(map(str, sizes))})")
    if dims is not None and sizes and sizes[0] != dims:
        _bad(f"{sizes[0]}-dimension embeddings, but /api/show says {model} makes {dims}")
    if not raw:
        return np.zeros((0, 0), dtype=np.float64)
    array = np.array(raw, dtype=np.float64)  # null becomes NaN here, and is refused with it
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        _bad(f"embedding {bad} holds NaN, infinite or null values")
    return array


def _bad(problem: str) -> NoReturn:
    raise BadVectors(f"Ollama sent unusable embeddings: {problem}; nothing was stored")
