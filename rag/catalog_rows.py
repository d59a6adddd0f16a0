"""The catalog's tables and how its rows become our types (rag.catalog runs the queries)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rag.models import DocumentRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL, doc_id TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL,
    kind TEXT NOT NULL, chunks INTEGER NOT NULL, pages INTEGER, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ingested_at TEXT NOT NULL, warnings TEXT NOT NULL,
    PRIMARY KEY (collection, doc_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_source ON documents (collection, source);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, collection TEXT NOT NULL, chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL, idx INTEGER NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL,
    heading TEXT NOT NULL, page INTEGER, page_label TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_id ON chunks (collection, chunk_id);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (collection, doc_id);
CREATE TABLE IF NOT EXISTS pending (
    collection TEXT NOT NULL, chunk_id TEXT NOT NULL, PRIMARY KEY (collection, chunk_id)
);
CREATE TABLE IF NOT EXISTS chunking (collection TEXT PRIMARY KEY, params TEXT NOT NULL);
-- The folders and files users named to ingest (rag.display shows sources relative to them).
-- Added after the first catalogs: an older catalog gets it empty when it is opened.
CREATE TABLE IF NOT EXISTS roots (
    collection TEXT NOT NULL, root TEXT NOT NULL, PRIMARY KEY (collection, root)
);
"""

DOC_COLUMNS = "doc_id, source, sha256, kind, chunks, pages, size, mtime_ns, ingested_at, warnings"


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record_of(row: tuple[Any, ...]) -> DocumentRecord:
    """A documents row (DOC_COLUMNS order) as a DocumentRecord."""
    doc_id, source, sha, kind, chunks, pages, size, _mtime, at, warnings = row
    return DocumentRecord(
        doc_id=doc_id,
        source=source,
        sha256=sha,
        kind=kind,
        chunks=chunks,
        pages=pages,
        ingested_at=at,
        size=size,
        warnings=json.loads(warnings),
    )


def hit_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """A chunks row as the dict retrieval turns into a Hit."""
    chunk_id, doc_id, idx, source, text, heading, page, page_label = row
    return {
        "chunk_id": chunk_id,
        "doc_id": doc_id,
        "index": idx,
        "source": source,
        "text": text,
        "heading": heading,
        "page": page,
        "page_label": page_label,
    }
