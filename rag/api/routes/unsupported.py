"""What the OpenAI and Ollama APIs have and we do not: 404 in that API's own error shape, saying
what to use instead. Mounted last, so it only catches paths no other route serves."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rag.api.ollama_shapes import ollama_error
from rag.api.routes.openai_compat import openai_error

router = APIRouter(include_in_schema=False)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

OPENAI_INSTEAD = {
    "completions": "use POST /v1/chat/completions",
    "responses": "use POST /v1/chat/completions",
    "images": "this service answers in text only",
    "audio": "this service answers in text only",
    "files": "add documents with POST /documents",
    "fine_tuning": "models are collections of documents: add documents with POST /documents",
}
OLLAMA_INSTEAD = {
    "pull": "models are collections of documents: add documents with POST /documents",
    "push": "models are collections of documents: list them with GET /api/tags",
    "create": "models are collections of documents: add documents with POST /documents",
    "copy": "models are collections of documents: add documents with POST /documents",
    "delete": "remove documents with DELETE /documents/{id}",
    "blobs": "add documents with POST /documents",
}
OPENAI_ROUTES = "POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models"
OLLAMA_ROUTES = (
    "POST /api/chat, POST /api/generate, POST /api/embed, POST /api/embeddings, GET /api/tags, "
    "POST /api/show, GET /api/ps, GET /api/version"
)


@router.api_route("/v1/{rest:path}", methods=METHODS)
def openai_unsupported(rest: str, request: Request) -> JSONResponse:
    """An OpenAI route we do not serve."""
    head = rest.split("/", 1)[0]
    instead = OPENAI_INSTEAD.get(head, f"supported: {OPENAI_ROUTES}")
    message = f"{request.method} /v1/{rest} is not supported by this RAG service; {instead}"
    return openai_error(404, message)


@router.api_route("/api/{rest:path}", methods=METHODS)
def ollama_unsupported(rest: str, request: Request) -> JSONResponse:
    """An Ollama route we do not serve."""
    head = rest.split("/", 1)[0]
    instead = OLLAMA_INSTEAD.get(head, f"supported: {OLLAMA_ROUTES}")
    message = f"{request.method} /api/{rest} is not supported by this RAG service; {instead}"
    return ollama_error(404, message)
