"""POST /search: the knowledge-base search, no LLM."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rag.api.deps import KB
from rag.api.schemas import SearchRequest
from rag.retrieve import Filters, retrieve

router = APIRouter(tags=["search"])


@router.post("/search")
def search(body: SearchRequest, kb: KB) -> dict[str, Any]:
    """Best chunks for a query: hybrid (dense + keyword) by default, with optional filters."""
    collection = kb.collection(body.collection)
    result = retrieve(
        kb,
        collection,
        body.query,
        top_k=body.top_k or kb.settings.top_k,
        filters=Filters.from_dict(body.filters),
        mode=body.mode,
        explain=body.explain,
    )
    return {
        "query": body.query,
        "collection": collection,
        "hits": [h.to_dict() for h in result.hits],
        "reason": result.reason,
        "candidates": [h.to_dict() for h in result.candidates] if result.reason else [],
        "timings": {k: round(v, 2) for k, v in result.timings.items()},
    }
