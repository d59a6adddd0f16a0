"""GET /collections: the knowledge bases and their sizes."""

from __future__ import annotations

from fastapi import APIRouter

from rag.api.deps import KB
from rag.api.schemas import CollectionList

router = APIRouter(tags=["collections"])


@router.get("/collections")
def list_collections(kb: KB) -> CollectionList:
    """Every collection with its document and chunk counts."""
    return CollectionList.of(kb.collection_counts(), kb.settings.collection)
