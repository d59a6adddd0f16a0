"""POST /search: the knowledge-base search, no LLM."""

from __future__ import annotations

from fastapi import APIRouter

from rag.api.deps import KB
from rag.api.schemas import SearchRequest, SearchResponse
from rag.filters import Filters
from rag.kb import KnowledgeBase
from rag.metrics import observe_timings
from rag.retrieve import retrieve

router = APIRouter(tags=["search"])
# Chunks fetched per document asked for when grouping: most documents match with 1-3 chunks.
CHUNKS_PER_DOCUMENT = 3


@router.post("/search", response_model_exclude_unset=True)
def search(body: SearchRequest, kb: KB) -> SearchResponse:
    """Best chunks for a query: hybrid (dense + keyword) by default, with optional filters."""
    return run_search(kb, body)


def run_search(kb: KnowledgeBase, request: SearchRequest) -> SearchResponse:
    """One search as POST /search and `rag search` run it (grouped by document if asked)."""
    collection = kb.collection(request.collection)
    top_k = request.top_k or kb.settings.top_k
    grouped = request.group_by == "document"
    result = retrieve(
        kb,
        collection,
        request.query,
        top_k=top_k * CHUNKS_PER_DOCUMENT if grouped else top_k,
        filters=Filters.from_dict(request.filters),
        mode=request.mode,
        explain=request.explain,
    )
    observe_timings(result.timings, total="retrieve")
    return SearchResponse.of(request.query, collection, result, top_k if grouped else None)
