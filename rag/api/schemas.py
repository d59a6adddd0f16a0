"""Request and response bodies of the HTTP API (they drive the OpenAPI docs at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """One turn of a conversation."""

    role: Literal["system", "user", "assistant"]
    content: str


class SearchRequest(BaseModel):
    """POST /search."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    collection: str | None = None
    filters: dict[str, Any] | None = Field(
        default=None,
        description='{"source": "glob or path", "kind": "pdf", "ingested_after": "2026-01-31"}',
    )
    top_k: int | None = Field(default=None, ge=1, le=100)
    explain: bool = False
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"


class AskRequest(BaseModel):
    """POST /ask."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    messages: list[Message] | None = None
    collection: str | None = None
    filters: dict[str, Any] | None = None
    top_k: int | None = Field(default=None, ge=1, le=50)
    stream: bool = False
