"""POST /search: the knowledge-base search, no LLM."""

from __future__ import annotations

from fastapi import APIRouter

from rag.api.deps import KB
from rag.api.schemas import SearchRequest, SearchResponse
from rag.metrics import observe_timings
from rag.retrieve import Filters, retrieve

router = APIRouter(tags=["search"])


@router.post("/search", response_model_exclude_unset=True)
def search(body: SearchRequest, kb: KB) -> SearchResponse:
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
    observe_timings(result.timings, total="retrieve")
    return SearchResponse.of(body.query, collection, result)
