"""Index consistency: catalog vs keyword index vs Chroma; no orphans, no duplicates."""

from __future__ import annotations

import sqlite3
from collections import Counter

from rag.kb import KnowledgeBase


def check_index(settings, collection: str | None = None) -> tuple[int, int]:
    """Assert the three views of a collection agree; return its (documents, chunks)."""
    col = collection or settings.collection
    db = sqlite3.connect(settings.catalog_path)  # the FTS integrity check is an INSERT command
    try:
        docs = db.execute(
            "SELECT doc_id, source, chunks FROM documents WHERE collection = ?", (col,)
        )
        documents = {doc_id: (source, count) for doc_id, source, count in docs}
        rows = db.execute("SELECT chunk_id, doc_id FROM chunks WHERE collection = ?", (col,))
        chunks = dict(rows.fetchall())
        pending = {
            r[0] for r in db.execute("SELECT chunk_id FROM pending WHERE collection = ?", (col,))
        }
        db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')")
        fts = db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        total = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        db.close()
    sources = Counter(source for source, _ in documents.values())
    assert all(n == 1 for n in sources.values()), f"duplicate sources: {sources}"
    per_doc = Counter(chunks.values())
    for doc_id, (source, count) in documents.items():
        assert per_doc[doc_id] == count, f"{source}: catalog says {count}, has {per_doc[doc_id]}"
    assert set(per_doc) <= set(documents), "chunks of no document"
    assert fts == total, f"keyword index holds {fts} rows for {total} chunks"
    with KnowledgeBase(settings) as kb:
        vectors = kb.store.ids(col)
    assert len(vectors) == len(set(vectors)), "duplicate vector ids"
    missing = set(chunks) - set(vectors)
    orphans = set(vectors) - set(chunks) - pending
    assert not missing, f"{len(missing)} catalogued chunks have no vector"
    assert not orphans, f"{len(orphans)} vectors belong to no chunk and are not journalled"
    return len(documents), len(chunks)
