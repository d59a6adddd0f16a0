"""Typed dependencies: the shared knowledge base, API-key checks, collection names."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from rag import apikeys
from rag.config import Settings
from rag.errors import Forbidden, Unauthorized
from rag.kb import KnowledgeBase


@dataclass
class AppState:
    """What every request shares: settings, the open knowledge base, a writer lock."""

    settings: Settings
    kb: KnowledgeBase
    # Uploads run the pipeline; one at a time keeps the store's write journal simple.
    write_lock: threading.Lock = field(default_factory=threading.Lock)


def get_state(request: Request) -> AppState:
    """The application's shared state."""
    state: AppState = request.app.state.rag
    return state


def get_kb(state: Annotated[AppState, Depends(get_state)]) -> KnowledgeBase:
    """The open knowledge base."""
    return state.kb


def authorize(settings: Settings, headers: Mapping[str, str], scope: str) -> None:
    """When API keys are configured, demand `Authorization: Bearer <key>` with `scope`."""
    keys = settings.api_keys
    if not keys:
        return
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    key = apikeys.match(keys, token.strip())
    if key is None:
        raise Unauthorized("invalid API key")
    if not key.allows(scope):
        raise Forbidden(f"this API key has the '{key.scope}' scope; this route needs '{scope}'")


def _scope(scope: str) -> Callable[..., None]:
    def require(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
        authorize(state.settings, request.headers, scope)

    require.__name__ = f"require_{scope}"
    require.__doc__ = f"The request's API key must have the '{scope}' scope."
    return require


require_read = _scope("read")
require_write = _scope("write")
require_admin = _scope("admin")
READ = Depends(require_read)  # search, ask, the compatible chat and embed routes, reads, MCP
WRITE = Depends(require_write)  # upload, delete, the CLI's local ingest
ADMIN = Depends(require_admin)  # metrics (and everything else)


State = Annotated[AppState, Depends(get_state)]
KB = Annotated[KnowledgeBase, Depends(get_kb)]
