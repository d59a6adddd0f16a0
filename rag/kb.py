"""The knowledge base one process works with: settings, Ollama, the vector store and the catalog.

`KnowledgeBase` is the one owner of the write order across its two stores (the SQLite catalog,
`rag.catalog`, and a vector store, `rag.vectors.VectorStore`). Every write goes in this order, so
that a crash at any point leaves the old or the new version of a document, never a mix:
1. reserve: the new chunk ids are journalled as pending in the catalog *before* any vector is
   written;
2. upsert: the vectors go into the vector store;
3. commit: one catalog transaction makes the new versions current (their chunks become
   searchable), journals the ids they replaced and forgets the new ids (committed chunks are
   owned: they need no journal entry);
4. delete: the replaced ids are deleted from the vector store;
5. release: the journal forgets the replaced ids.
Removing a document is 3-5 with no new version. `repair` finishes 4-5 for journalled ids that no
committed document owns (leftovers of an interrupted run); ingest runs it first. Reads trust the
catalog: a vector the catalog does not hold as committed is never returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from rag.catalog import Catalog
from rag.config import Settings, check_collection
from rag.display import SourceNames, source_names
from rag.errors import BadRequest, ConfigError, Conflict, NotFound
from rag.lock import StoreLock
from rag.metrics import record_ingest
from rag.models import Chunk, DocumentRecord
from rag.ollama import ModelInfo, OllamaClient
from rag.store import ChromaStore
from rag.vectors import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentVersion:
    """A new version of one document, ready to write: its record, chunks and their vectors."""

    record: DocumentRecord
    mtime_ns: int  # 0 when the bytes did not come from a file
    chunks: list[Chunk]
    vectors: Sequence[Sequence[float]] | np.ndarray  # one per chunk, in order


class KnowledgeBase:
    """Opens the stores (taking the embedded store's lock); reads and crash-safe writes."""

    def __init__(
        self,
        settings: Settings,
        role: str = "cli",
        url: str | None = None,
        store: VectorStore | None = None,
    ) -> None:
        self.settings = settings
        self.ollama = OllamaClient(settings)
        self.lock: StoreLock | None = None
        if not settings.chroma_url:
            self.lock = StoreLock(settings.store_path, role, url)
        self._given_store = store  # None: Chroma as the settings say
        self._store: VectorStore | None = None
        self._catalog: Catalog | None = None
        self._embed_info: ModelInfo | None = None
        self._names: dict[str, tuple[tuple[int, int], SourceNames]] = {}

    def open(self) -> KnowledgeBase:
        """Take the lock, connect to the vector store and open the catalog."""
        if self.lock is not None:
            self.lock.acquire()
        try:
            self._store = self._given_store or ChromaStore.connect(self.settings)
            self._catalog = Catalog(self.settings.catalog_path)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release everything (idempotent)."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        if self._store is not None and self._given_store is None:
            self._store.close()  # only what we opened: a given store belongs to its giver
        self._store = None
        self.ollama.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> KnowledgeBase:
        return self.open()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def store(self) -> VectorStore:
        """The vector store (after open()): for pin checks and raw queries; write through us."""
        assert self._store is not None, "KnowledgeBase.open() first"
        return self._store

    @property
    def _cat(self) -> Catalog:
        assert self._catalog is not None, "KnowledgeBase.open() first"
        return self._catalog

    def embed_info(self) -> ModelInfo:
        """Check Ollama answers and the embedding model is pulled; cached."""
        if self._embed_info is None:
            self.ollama.version()
            self._embed_info = self.ollama.require_model(self.settings.embed_model)
        return self._embed_info

    def collection(self, name: str | None) -> str:
        """A validated collection name (the configured default when None)."""
        try:
            return check_collection(name or self.settings.collection)
        except ConfigError as exc:  # a name from a request or flag is the caller's mistake
            raise BadRequest(str(exc)) from None

    # -- reading -------------------------------------------------------------------------------

    def documents(self, collection: str) -> list[DocumentRecord]:
        """All committed documents of a collection, by source."""
        names = self.source_names(collection)
        return [replace(r, display=names.show(r.source)) for r in self._cat.documents(collection)]

    def document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        """One document by id, or None."""
        record = self._cat.document(collection, doc_id)
        return self._named(collection, record) if record else None

    def by_source(self, collection: str, source: str) -> DocumentRecord | None:
        """One document by its source as stored, or None."""
        record = self._cat.by_source(collection, source)
        return self._named(collection, record) if record else None

    def find_document(self, collection: str, ref: str) -> DocumentRecord:
        """A document by id, source as stored, source as shown, or a path that resolves to it."""
        record = self.document(collection, ref)
        shown = () if record else self.source_names(collection).sources_shown_as(ref)
        if record is None and len(shown) == 1:
            record = self.by_source(collection, shown[0])
        if record is None and len(shown) < 2:  # an upload's stored name is also how it is shown
            record = self.by_source(collection, ref)
        if record is None:
            record = self.by_source(collection, str(Path(ref).expanduser().resolve()))
        if record is None and len(shown) > 1:
            raise Conflict(f"{len(shown)} documents are shown as {ref!r}: name one by its id")
        if record is None:
            raise NotFound(f"no document {ref!r} in collection '{collection}'")
        return record

    def source_names(self, collection: str) -> SourceNames:
        """How the collection's sources are shown (rag.display); recomputed after any change."""
        version = self._cat.version()
        cached = self._names.get(collection)
        if cached is None or cached[0] != version:
            root = self.settings.display_root
            names = source_names(
                self._cat.sources(collection),
                self._cat.roots(collection),
                str(root) if root is not None else None,
            )
            cached = self._names[collection] = (version, names)
        return cached[1]

    def chunk_ids(self, collection: str, doc_id: str) -> list[str]:
        """Ids of a document's committed chunks, in order."""
        return self._cat.chunk_ids(collection, doc_id)

    def chunks(self, collection: str, chunk_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Committed chunks by id (text, heading, page, doc_id, index); unknown ids are absent."""
        return self._shown_rows(collection, self._cat.chunks_by_ids(collection, chunk_ids))

    def file_stats(self, collection: str) -> dict[str, tuple[str, int, int]]:
        """source → (sha256, size, mtime_ns) of every document: the unchanged-file fast path."""
        return self._cat.stats(collection)

    def counts(self, collection: str) -> tuple[int, int]:
        """(documents, chunks) committed in a collection."""
        return self._cat.counts(collection)

    def chunking(self, collection: str) -> str | None:
        """The chunking parameters (JSON) the collection was built with (ingest.chunking)."""
        return self._cat.chunking(collection)

    def set_chunking(self, collection: str, params: str) -> None:
        """Record the collection's chunking parameters (JSON)."""
        self._cat.set_chunking(collection, params)

    def collection_counts(self) -> dict[str, tuple[int, int]]:
        """Every collection (in the catalog or in the vector store) with its (documents, chunks)."""
        names = sorted(set(self._cat.collections()) | set(self.store.names()))
        return {name: self._cat.counts(name) for name in names}

    def filter_documents(
        self, collection: str, kinds: Sequence[str] = (), since: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(doc_id, source, chunks) of documents of these kinds, ingested at or after `since`."""
        return self._cat.filter_documents(collection, kinds, since)

    def keyword_search(
        self, collection: str, terms: list[str], limit: int, doc_ids: Iterable[str] | None = None
    ) -> list[tuple[dict[str, Any], float]]:
        """Committed chunks with any of the terms, best first (see Catalog.keyword_search)."""
        found = self._cat.keyword_search(collection, terms, limit, doc_ids)
        names = self.source_names(collection)
        return [({**row, "display": names.show(row["source"])}, score) for row, score in found]

    def term_rows(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """(chunks indexed, chunks holding each term), as the keyword index counts them."""
        return self._cat.term_rows(terms)

    def nearest(
        self, collection: str, vector: Sequence[float], n: int
    ) -> tuple[list[tuple[dict[str, Any], float]], bool]:
        """Up to n nearest committed chunks (row, cosine), best first; and if the index ran out."""
        pairs = self.store.query(collection, self.settings.embed_model, vector, n)
        # Vectors of an interrupted run may be in the store but not committed: the catalog decides.
        rows = self.chunks(collection, [cid for cid, _ in pairs])
        return [(rows[cid], score) for cid, score in pairs if cid in rows], len(pairs) < n

    def _named(self, collection: str, record: DocumentRecord) -> DocumentRecord:
        return replace(record, display=self.source_names(collection).show(record.source))

    def _shown_rows(
        self, collection: str, rows: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        names = self.source_names(collection)
        return {cid: {**row, "display": names.show(row["source"])} for cid, row in rows.items()}

    # -- writing (in the order the module docstring gives) -------------------------------------

    def add_roots(self, collection: str, roots: Iterable[str]) -> None:
        """Record the folders and files a user named to ingest (sources are shown from them)."""
        self._cat.add_roots(collection, roots)

    def write(self, collection: str, versions: Sequence[DocumentVersion]) -> None:
        """Make new document versions current, replacing their old versions, crash-safely."""
        ids = [c.id for v in versions for c in v.chunks]
        if not ids:
            return
        rows = [np.asarray(v.vectors, dtype=np.float32) for v in versions if v.chunks]
        vectors = np.concatenate(rows)
        if len(vectors) != len(ids):
            raise ValueError(f"{len(ids)} chunks but {len(vectors)} vectors")
        metas = [c.metadata() for v in versions for c in v.chunks]
        self._cat.reserve(collection, ids)
        self.store.upsert(collection, self.settings.embed_model, ids, vectors, metas)
        # The commit also takes the new ids off the journal; only replaced ids stay for step 4.
        versions_rows = [(v.record, v.mtime_ns, v.chunks) for v in versions]
        old = self._cat.commit_many(collection, versions_rows, settled=ids)
        if old:
            self._discard(collection, old)
        record_ingest(collection, len(versions), len(ids))

    def touch(self, collection: str, doc_id: str, size: int, mtime_ns: int) -> None:
        """Record a new file stat for an unchanged document (same hash, new mtime)."""
        self._cat.touch(collection, doc_id, size, mtime_ns)

    def delete_document(self, collection: str, ref: str) -> DocumentRecord:
        """Remove one document (by id or source) and its chunks; return what was removed."""
        record = self.find_document(collection, ref)
        self._discard(collection, self._cat.remove(collection, record.doc_id))
        return record

    def repair(self, collection: str) -> int:
        """Delete vectors left behind by an interrupted run; return how many."""
        orphans = self._cat.orphans(collection)
        if orphans:
            log.info("removing %d chunks left by an interrupted run", len(orphans))
            self._discard(collection, orphans)
        return len(orphans)

    def drop_collection(self, collection: str) -> None:
        """Delete a whole collection: vectors, then the catalog (a crash between: drop again)."""
        self.store.drop(collection)
        self._cat.drop_collection(collection)

    def _discard(self, collection: str, ids: list[str], settled: Sequence[str] = ()) -> None:
        """Steps 4-5: delete journalled ids from the vector store, then forget them and settled."""
        self.store.delete(collection, ids)
        self._cat.release(collection, [*ids, *settled])
