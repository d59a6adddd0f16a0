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
        return {"status": exc.status, "title": exc.title, "detail": exc.message}
    return {"status": 500, "title": "Internal error", "detail": "unexpected error; see the log"}


def install(app: FastAPI) -> None:
    """Map our errors, validation errors and HTTP errors to problem responses."""

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        if isinstance(exc, OLLAMA_FAILURES):
            record_ollama_error(exc)
        return problem(exc.status, exc.title, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return problem(422, "Invalid request", f"{where}: {first['msg']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "unexpected error; see the server log")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
