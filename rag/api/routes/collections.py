"""GET /collections: the knowledge bases and their sizes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rag.api.deps import KB

router = APIRouter(tags=["collections"])


@router.get("/collections")
def list_collections(kb: KB) -> dict[str, Any]:
    """Every collection with its document and chunk counts."""
    rows = [
        {"name": name, "documents": documents, "chunks": chunks}
        for name, (documents, chunks) in kb.collection_counts().items()
    ]
    return {"collections": rows, "default": kb.settings.collection}
