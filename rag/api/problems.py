"""Errors as RFC 9457 problem responses: `{"type", "title", "status", "detail"}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import ModelNotPulled, OllamaError, OllamaUnavailable, RagError
from rag.metrics import record_ollama_error

OLLAMA_FAILURES = (OllamaError, OllamaUnavailable, ModelNotPulled)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
# Starlette's terse multipart errors, said so that a user knows what to change.
_CLEARER = {
    "Invalid multipart data.": "the multipart body could not be read: it is malformed, or a "
    "part header is over 4 KB (a file name that long: rename the file)",
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_body(exc: BaseException) -> dict[str, Any]:
    """The problem fields for an exception (used inside streams, where headers are gone)."""
    if isinstance(exc, OLLAMA_FAILURES):
        record_ollama_error(exc)
    if isinstance(exc, RagError):
        return {"status": exc.status, "title": exc.title, "detail": exc.public}
    return {"status": 500, "title": "Internal error", "detail": "unexpected error; see the log"}


def install(app: FastAPI) -> None:
    """Map our errors, validation errors and HTTP errors to problem responses."""

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        if isinstance(exc, OLLAMA_FAILURES):
            record_ollama_error(exc)
        return problem(exc.status, exc.title, exc.public)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        detail = f"{where}: {first['msg']}"
        if first["msg"] == "JSON decode error":  # loc holds the character position
            detail = f"the body is not valid JSON (error at character {where})"
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, _title(exc.status_code), _http_detail(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "unexpected error; see the server log")


def _http_detail(exc: StarletteHTTPException) -> str:
    """Starlette's and FastAPI's terse messages, said so that a user knows what to change."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 text (invalid byte at position {cause.start})"
    if isinstance(cause, RecursionError):
        return "the JSON body nests too deeply to read"
    return _CLEARER.get(str(exc.detail), str(exc.detail))


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
