"""Retrieval: turn a query into the best matching chunks."""

from __future__ import annotations

from rag.kb import KnowledgeBase
from rag.models import Hit


def dense_search(kb: KnowledgeBase, collection: str, query: str, top_k: int) -> list[Hit]:
    """Nearest chunks by embedding similarity; only committed chunks are returned."""
    if kb.catalog.counts(collection)[1] == 0:
        return []
    vector = kb.ollama.embed_query(query)
    # Over-fetch a little: vectors of an interrupted run may be present but not committed.
    pairs = kb.store.query(collection, kb.settings.embed_model, vector, top_k + 10)
    rows = kb.catalog.chunks_by_ids(collection, [cid for cid, _ in pairs])
    hits = []
    for cid, score in pairs:
        row = rows.get(cid)
        if row is None:
            continue
        hits.append(
            Hit(
                chunk_id=cid,
                source=row["source"],
                text=row["text"],
                score=score,
                page=row["page"],
                page_label=row["page_label"],
                heading=row["heading"],
                doc_id=row["doc_id"],
            )
        )
    return hits[:top_k]
