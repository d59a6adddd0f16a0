"""The FastAPI application factory: `create_app()`; `rag serve` runs it with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from rag import __version__
from rag.api import problems
from rag.api.deps import ADMIN, READ, AppState
from rag.api.limits import BodyLimit
from rag.api.mcp_server import KeyGuard, build_server
from rag.api.routes import (
    ask,
    collections,
    documents,
    generate,
    health,
    metrics,
    ollama_compat,
    openai_compat,
    search,
    ui,
    unsupported,
)
from rag.config import Settings
from rag.errors import RagError
from rag.kb import KnowledgeBase
from rag.metrics import count_ollama_retries, process_exit

log = logging.getLogger("rag.api")


def create_app(settings: Settings | None = None, public_url: str | None = None) -> FastAPI:
    """Build the app; the knowledge base is opened at startup and closed at shutdown."""
    settings = settings or Settings.load()
    url = public_url or f"http://{settings.host}:{settings.port}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kb = KnowledgeBase(settings, role="serve", url=url).open()
        for name in kb.collection_counts():  # a serve killed mid-write left its journal behind
            kb.repair(name)
        app.state.rag = AppState(settings, kb)
        count_ollama_retries()
        warm_up(kb)
        try:
            async with mcp.session_manager.run():  # the streamable HTTP sessions at /mcp
                yield
        finally:
            kb.close()
            process_exit()

    mcp = build_server(lambda: app.state.rag.kb)
    app = FastAPI(
        title="Local RAG knowledge base",
        version=__version__,
        description="Ask questions grounded in your documents; search them; manage them.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(BodyLimit, upload_mb=settings.max_upload_mb, body_mb=settings.max_body_mb)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.include_router(health.router)
    app.include_router(ui.router)  # the page itself is public; its API calls carry the key
    app.include_router(ollama_compat.probe)  # HEAD /, public like the page
    for module in (ask, search, documents, collections, openai_compat, ollama_compat, generate):
        app.include_router(module.router, dependencies=[READ])  # writes add WRITE
    app.include_router(metrics.router, dependencies=[] if settings.metrics_public else [ADMIN])
    mcp_app = mcp.streamable_http_app(streamable_http_path="/", host=settings.host)
    app.mount("/mcp", KeyGuard(mcp_app, settings))  # read scope, like search and ask
    app.include_router(unsupported.router)  # last: only paths no route serves
    return app


def warm_up(kb: KnowledgeBase) -> None:
    """Check both models and load them now, so the first question does not pay a cold load."""
    settings = kb.settings
    try:
        kb.embed_info()
        kb.ollama.preload(settings.embed_model, "embed")
        kb.ollama.require_model(settings.chat_model)
        kb.ollama.preload(settings.chat_model, "chat")
        log.info("models ready: %s, %s", settings.embed_model, settings.chat_model)
    except RagError as exc:  # serve anyway: /health explains, and Ollama may come up later
        log.warning("Ollama is not ready: %s", exc)
