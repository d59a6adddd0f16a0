"""The knowledge base one process works with: settings, Ollama, the store and its catalog."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from rag.catalog import Catalog
from rag.config import Settings, check_collection
from rag.errors import BadRequest, ConfigError, NotFound
from rag.lock import StoreLock
from rag.models import DocumentRecord
from rag.ollama import ModelInfo, OllamaClient
from rag.store import VectorStore

log = logging.getLogger(__name__)


class KnowledgeBase:
    """Opens the store (taking the embedded store's lock) and gives access to its parts."""

    def __init__(self, settings: Settings, role: str = "cli", url: str | None = None) -> None:
        self.settings = settings
        self.ollama = OllamaClient(settings)
        self.lock: StoreLock | None = None
        if not settings.chroma_url:
            self.lock = StoreLock(settings.store_path, role, url)
        self._store: VectorStore | None = None
        self._catalog: Catalog | None = None
        self._embed_info: ModelInfo | None = None

    def open(self) -> KnowledgeBase:
        """Take the lock, connect to Chroma and open the catalog."""
        if self.lock is not None:
            self.lock.acquire()
        try:
            self._store = VectorStore.connect(self.settings)
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
        """The vector store (after open())."""
        assert self._store is not None, "KnowledgeBase.open() first"
        return self._store

    @property
    def catalog(self) -> Catalog:
        """The document catalog (after open())."""
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

    def collection_counts(self) -> dict[str, tuple[int, int]]:
        """Every collection (in the catalog or in Chroma) with its (documents, chunks)."""
        names = sorted(set(self.catalog.collections()) | set(self.store.names()))
        return {name: self.catalog.counts(name) for name in names}

    def repair(self, collection: str) -> int:
        """Delete vectors left behind by an interrupted run; return how many."""
        orphans = self.catalog.orphans(collection)
        if orphans:
            log.info("removing %d chunks left by an interrupted run", len(orphans))
            self.store.delete(collection, orphans)
            self.catalog.release(collection, orphans)
        return len(orphans)

    def find_document(self, collection: str, ref: str) -> DocumentRecord:
        """A document by id, source path as stored, or a path that resolves to it."""
        record = self.catalog.document(collection, ref) or self.catalog.by_source(collection, ref)
        if record is None:
            record = self.catalog.by_source(collection, str(Path(ref).expanduser().resolve()))
        if record is None:
            raise NotFound(f"no document {ref!r} in collection '{collection}'")
        return record

    def delete_document(self, collection: str, ref: str) -> DocumentRecord:
        """Remove one document and its chunks; return what was removed."""
        record = self.find_document(collection, ref)
        old = self.catalog.remove(collection, record.doc_id)
        self.store.delete(collection, old)
        self.catalog.release(collection, old)
        return record

    def drop_collection(self, collection: str) -> None:
        """Delete a whole collection: vectors and catalog."""
        self.store.drop(collection)
        self.catalog.drop_collection(collection)
