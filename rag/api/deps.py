"""Typed dependencies: the shared knowledge base, API-key checks, collection names."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from rag.config import Settings
from rag.errors import Unauthorized
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


def require_api_key(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """When API keys are configured, demand `Authorization: Bearer <key>`."""
    keys = state.settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    if not any(hmac.compare_digest(token.strip().encode(), k.encode()) for k in keys):
        raise Unauthorized("invalid API key")


State = Annotated[AppState, Depends(get_state)]
KB = Annotated[KnowledgeBase, Depends(get_kb)]
