"""The catalog's batch writes: a whole write batch in a few statements (rag.catalog runs them).

Python's sqlite3 releases the GIL around every row of an `executemany`; while other threads of
an ingest keep the GIL busy, taking it back costs up to a switch interval (5 ms) per row. So the
rows of a batch travel as one JSON parameter and SQLite unpacks them with `json_each`: one step
per statement, whatever the number of rows. The keyword index's triggers still fire per row,
inside SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import orjson

from rag.catalog_rows import DOC_COLUMNS
from rag.models import Chunk, DocumentRecord

Version = tuple[DocumentRecord, int, list[Chunk]]

_IN_LIST = "IN (SELECT value FROM json_each(?))"
_COLUMNS = "collection, chunk_id, doc_id, idx, source, text, heading, page, page_label"


def _fields(count: int) -> str:
    return ", ".join(f"json_extract(value, '$[{n}]')" for n in range(count))


_INSERT_DOCUMENTS = (
    f"INSERT INTO documents (collection, {DOC_COLUMNS}) SELECT ?, {_fields(10)} FROM json_each(?)"
)
_INSERT_CHUNKS = f"INSERT INTO chunks ({_COLUMNS}) SELECT ?, {_fields(8)} FROM json_each(?)"


def as_json(values: object) -> str:
    """A JSON parameter for json_each (orjson: ~10x faster than json on a batch of chunks)."""
    return orjson.dumps(values).decode()


def journal(db: sqlite3.Connection, collection: str, chunk_ids: Sequence[str]) -> None:
    """Journal ids as pending (ids already there stay)."""
    db.execute(
        "INSERT OR IGNORE INTO pending (collection, chunk_id) SELECT ?, value FROM json_each(?)",
        (collection, as_json(list(chunk_ids))),
    )


def forget(db: sqlite3.Connection, collection: str, chunk_ids: Sequence[str]) -> None:
    """Remove ids from the journal."""
    db.execute(
        f"DELETE FROM pending WHERE collection=? AND chunk_id {_IN_LIST}",
        (collection, as_json(list(chunk_ids))),
    )


def replace_versions(db: sqlite3.Connection, collection: str, versions: list[Version]) -> list[str]:
    """Replace documents by their new versions (distinct doc ids); return the old chunk ids.

    The old ids are journalled; the caller forgets the new ones in the same transaction.
    """
    doc_ids = as_json([record.doc_id for record, _, _ in versions])
    old = [
        row[0]
        for row in db.execute(
            f"SELECT chunk_id FROM chunks WHERE collection=? AND doc_id {_IN_LIST}",
            (collection, doc_ids),
        )
    ]
    if old:
        journal(db, collection, old)
        db.execute(
            f"DELETE FROM chunks WHERE collection=? AND doc_id {_IN_LIST}", (collection, doc_ids)
        )
    sources = as_json([record.source for record, _, _ in versions])
    for column, values in (("doc_id", doc_ids), ("source", sources)):
        db.execute(
            f"DELETE FROM documents WHERE collection=? AND {column} {_IN_LIST}",
            (collection, values),
        )
    db.execute(_INSERT_DOCUMENTS, (collection, as_json([_doc_row(*v) for v in versions])))
    rows = [_chunk_row(c) for _, _, chunks in versions for c in chunks]
    db.execute(_INSERT_CHUNKS, (collection, as_json(rows)))
    return old


def _doc_row(record: DocumentRecord, mtime_ns: int, chunks: list[Chunk]) -> list[object]:
    warnings = json.dumps(record.warnings, ensure_ascii=False)
    return [
        *(record.doc_id, record.source, record.sha256, record.kind, len(chunks), record.pages),
        *(record.size, mtime_ns, record.ingested_at, warnings),
    ]


def _chunk_row(c: Chunk) -> list[object]:
    return [c.id, c.doc_id, c.index, c.source, c.text, c.heading, c.page, c.page_label]


def insert_version(
    db: sqlite3.Connection,
    collection: str,
    record: DocumentRecord,
    mtime_ns: int,
    chunks: list[Chunk],
) -> None:
    """Insert one document version row by row (for a batch naming one document twice)."""
    marks = ", ".join("?" * 11)
    row = (collection, *_doc_row(record, mtime_ns, chunks))
    db.execute(f"INSERT INTO documents (collection, {DOC_COLUMNS}) VALUES ({marks})", row)
    rows = [(collection, *_chunk_row(c)) for c in chunks]
    db.executemany(f"INSERT INTO chunks ({_COLUMNS}) VALUES ({', '.join('?' * 9)})", rows)


def drop_document(
    db: sqlite3.Connection, collection: str, doc_id: str, source: str | None
) -> list[str]:
    """Delete a document's rows, journalling its chunk ids; return them."""
    old = [
        row[0]
        for row in db.execute(
            "SELECT chunk_id FROM chunks WHERE collection=? AND doc_id=?", (collection, doc_id)
        )
    ]
    db.executemany(
        "INSERT OR IGNORE INTO pending (collection, chunk_id) VALUES (?, ?)",
        [(collection, cid) for cid in old],
    )
    db.execute("DELETE FROM chunks WHERE collection=? AND doc_id=?", (collection, doc_id))
    db.execute("DELETE FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id))
    if source is not None:
        db.execute("DELETE FROM documents WHERE collection=? AND source=?", (collection, source))
    return old
