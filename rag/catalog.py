"""The document catalog (SQLite): which documents are done, their chunks, and a keyword index.

The catalog is the source of truth for "what is ingested"; the vector store holds the vectors.
It offers the journal steps of the crash-safe write order that `rag.kb.KnowledgeBase` owns:
`reserve(ids)` journals ids as pending, `commit_many(...)` replaces documents' rows in one
transaction (rag.catalog_write: a few statements per batch), journals the replaced ids and
forgets the settled new ones, `release(ids)` forgets settled ones, and `orphans()`
lists pending ids that no committed document owns (the next run deletes their vectors).
The keyword index (`rag.lexical`, FTS5) follows `chunks` through triggers, in the same transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag import catalog_write, lexical
from rag.catalog_rows import DOC_COLUMNS, SCHEMA, hit_row, record_of
from rag.models import Chunk, DocumentRecord


class Catalog:
    """SQLite catalog shared by every collection of one store; thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        lexical.install(self._db)
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reading -------------------------------------------------------------------------------

    def documents(self, collection: str) -> list[DocumentRecord]:
        """All committed documents of a collection, by source."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {DOC_COLUMNS} FROM documents WHERE collection=? ORDER BY source",
                (collection,),
            ).fetchall()
        return [record_of(row) for row in rows]

    def document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        """One document by id, or None."""
        return self._one(collection, "doc_id", doc_id)

    def by_source(self, collection: str, source: str) -> DocumentRecord | None:
        """One document by source path, or None."""
        return self._one(collection, "source", source)

    def stats(self, collection: str) -> dict[str, tuple[str, int, int]]:
        """source → (sha256, size, mtime_ns) for every document: the unchanged-file fast path."""
        with self._lock:
            rows = self._db.execute(
                "SELECT source, sha256, size, mtime_ns FROM documents WHERE collection=?",
                (collection,),
            ).fetchall()
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def sources(self, collection: str) -> list[str]:
        """Every committed document's source."""
        with self._lock:
            sql = "SELECT source FROM documents WHERE collection=?"
            return [row[0] for row in self._db.execute(sql, (collection,))]

    def roots(self, collection: str) -> list[str]:
        """The folders and files ever named to ingest into a collection."""
        with self._lock:
            sql = "SELECT root FROM roots WHERE collection=? ORDER BY root"
            return [row[0] for row in self._db.execute(sql, (collection,))]

    def version(self) -> tuple[int, int]:
        """Changes whenever any connection (this one or another process's) commits a change."""
        with self._lock:
            other = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            return other, self._db.total_changes

    def chunk_ids(self, collection: str, doc_id: str) -> list[str]:
        """Ids of a document's committed chunks."""
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id FROM chunks WHERE collection=? AND doc_id=? ORDER BY idx",
                (collection, doc_id),
            ).fetchall()
        return [row[0] for row in rows]

    def counts(self, collection: str) -> tuple[int, int]:
        """(documents, chunks) committed in a collection."""
        with self._lock:
            docs = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(chunks), 0) FROM documents WHERE collection=?",
                (collection,),
            ).fetchone()
        return int(docs[0]), int(docs[1])

    def collections(self) -> list[str]:
        """Collections that hold at least one document."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT collection FROM documents ORDER BY 1")
            return [row[0] for row in rows.fetchall()]

    def chunks_by_ids(self, collection: str, chunk_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Committed chunks by id (ids that are not committed are absent from the result)."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(chunk_ids), 500):
                part = chunk_ids[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    "SELECT chunk_id, doc_id, idx, source, text, heading, page, page_label "
                    f"FROM chunks WHERE collection=? AND chunk_id IN ({marks})",
                    (collection, *part),
                ).fetchall()
                out.update((row[0], hit_row(row)) for row in rows)
        return out

    def keyword_search(
        self, collection: str, terms: list[str], limit: int, doc_ids: Iterable[str] | None = None
    ) -> list[tuple[dict[str, Any], float]]:
        """Chunks with any of the terms (see rag.lexical), best first, -bm25 as a positive score."""
        with self._lock:
            rows = lexical.search(self._db, collection, terms, limit, doc_ids)
        return [(hit_row(row[:8]), -float(row[8])) for row in rows]

    def term_rows(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """(chunks indexed, chunks holding each term): the keyword index's idf statistics."""
        with self._lock:
            return lexical.row_counts(self._db, terms)

    def filter_documents(
        self, collection: str, kinds: Sequence[str] = (), since: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(doc_id, source, chunks) of documents of these kinds, ingested at or after `since`."""
        sql, params = (
            "SELECT doc_id, source, chunks FROM documents WHERE collection=?",
            [collection],
        )
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        if since is not None:  # ingested_at and since are both ISO 8601 UTC with a Z: text order
            sql += " AND ingested_at >= ?"
            params.append(since)
        with self._lock:
            return [(row[0], row[1], int(row[2])) for row in self._db.execute(sql, params)]

    def orphans(self, collection: str) -> list[str]:
        """Journalled ids that no committed document owns: leftovers of an interrupted run."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.chunk_id FROM pending p LEFT JOIN chunks c "
                "ON c.collection = p.collection AND c.chunk_id = p.chunk_id "
                "WHERE p.collection=? AND c.chunk_id IS NULL",
                (collection,),
            ).fetchall()
        return [row[0] for row in rows]

    # -- writing -------------------------------------------------------------------------------

    def reserve(self, collection: str, chunk_ids: Iterable[str]) -> None:
        """Journal ids about to be written to the vector store."""
        with self.transaction() as db:
            catalog_write.journal(db, collection, list(chunk_ids))

    def release(self, collection: str, chunk_ids: Iterable[str]) -> None:
        """Forget journalled ids (after their fate in the vector store is settled)."""
        with self.transaction() as db:
            catalog_write.forget(db, collection, list(chunk_ids))

    def commit(
        self, collection: str, record: DocumentRecord, mtime_ns: int, chunks: list[Chunk]
    ) -> list[str]:
        """Make a document version current in one transaction; return the ids it replaced."""
        return self.commit_many(collection, [(record, mtime_ns, chunks)])

    def commit_many(
        self,
        collection: str,
        versions: list[tuple[DocumentRecord, int, list[Chunk]]],
        settled: Sequence[str] = (),
    ) -> list[str]:
        """Make several document versions current in one transaction; return the replaced ids.

        `settled` ids (the new versions' chunks, journalled by `reserve`) leave the journal in
        the same transaction: once committed, a chunk is owned and needs no journal entry.
        """
        with self.transaction() as db:
            if len({record.doc_id for record, _, _ in versions}) == len(versions):
                current = {c.id for _, _, chunks in versions for c in chunks}
                old = catalog_write.replace_versions(db, collection, versions)
                replaced = [cid for cid in old if cid not in current]
            else:  # the same document twice: each version replaces the one before, in order
                replaced = []
                for record, mtime_ns, chunks in versions:
                    old = catalog_write.drop_document(db, collection, record.doc_id, record.source)
                    catalog_write.insert_version(db, collection, record, mtime_ns, chunks)
                    replaced += [cid for cid in old if cid not in {c.id for c in chunks}]
            # A replaced id stays journalled until the caller has deleted its vector.
            gone = set(replaced)
            catalog_write.forget(db, collection, [cid for cid in settled if cid not in gone])
        return list(dict.fromkeys(replaced))

    def touch(self, collection: str, doc_id: str, size: int, mtime_ns: int) -> None:
        """Record a new file stat for an unchanged document (same hash, new mtime)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE documents SET size=?, mtime_ns=? WHERE collection=? AND doc_id=?",
                (size, mtime_ns, collection, doc_id),
            )

    def remove(self, collection: str, doc_id: str) -> list[str]:
        """Drop a document in one transaction; its chunk ids move to the journal."""
        with self.transaction() as db:
            return catalog_write.drop_document(db, collection, doc_id, None)

    def chunking(self, collection: str) -> str | None:
        """The chunking parameters (JSON) a collection was built with, if recorded."""
        with self._lock:
            sql = "SELECT params FROM chunking WHERE collection=?"
            row = self._db.execute(sql, (collection,)).fetchone()
        return str(row[0]) if row else None

    def set_chunking(self, collection: str, params: str) -> None:
        """Record the chunking parameters (JSON) a collection is now built with."""
        with self.transaction() as db:
            sql = "INSERT OR REPLACE INTO chunking (collection, params) VALUES (?, ?)"
            db.execute(sql, (collection, params))

    def add_roots(self, collection: str, roots: Iterable[str]) -> None:
        """Record folders or files named to ingest (kept until the collection is dropped)."""
        with self.transaction() as db:
            sql = "INSERT OR IGNORE INTO roots (collection, root) VALUES (?, ?)"
            db.executemany(sql, [(collection, root) for root in roots])

    def drop_collection(self, collection: str) -> None:
        """Forget everything about a collection."""
        with self.transaction() as db:
            for table in ("documents", "chunks", "pending", "chunking", "roots"):
                db.execute(f"DELETE FROM {table} WHERE collection=?", (collection,))

    def _one(self, collection: str, column: str, value: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {DOC_COLUMNS} FROM documents WHERE collection=? AND {column}=?",
                (collection, value),
            ).fetchone()
        return record_of(row) if row else None
