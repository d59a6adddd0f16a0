"""The Chroma boundary: embedded or server client, one collection per knowledge base.

`ChromaStore` implements `rag.vectors.VectorStore`. This is the one module that imports chromadb;
its exceptions are translated here. Each collection records the embedding model and dimension it
was built with and refuses others.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import numpy as np

from rag.config import Settings
from rag.errors import ModelMismatch, RagError, StoreUnavailable
from rag.ollama import full_name

log = logging.getLogger(__name__)
PREFIX = "kb_"  # Chroma names need 3+ characters; ours may be shorter
# Chroma searches with ef = max(ef_search, n_results). With ef_search 200 and max_neighbors 32,
# bench/search_latency.py measured recall@10 of 0.998 at 10k and 0.98 at 100k embedding-like
# vectors at ~5 ms a query (Chroma's default 100 gave 0.84). Fixed when a collection is created.
SEARCH_DEPTH = 200
HNSW = {"space": "cosine", "ef_construction": 100, "max_neighbors": 32, "ef_search": SEARCH_DEPTH}
T = TypeVar("T")


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """Turn any Chroma or transport failure into a StoreUnavailable with context."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except RagError:
            raise
        except Exception as exc:  # chromadb raises many unrelated types; all are store faults
            raise StoreUnavailable(f"Chroma failed ({type(exc).__name__}): {exc}") from exc

    return wrapper


class ChromaStore:
    """Vectors and their metadata in Chroma; the text lives in the catalog."""

    search_depth = SEARCH_DEPTH

    def __init__(self, client: Any, where: str) -> None:
        self._client = client
        self._handles: dict[str, Any] = {}
        self.where = f"Chroma at {where}"
        self.max_batch = int(client.get_max_batch_size())

    @classmethod
    def connect(cls, settings: Settings) -> ChromaStore:
        """An embedded PersistentClient, or an HttpClient when CHROMA_URL is set."""
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="chromadb")
        import chromadb  # slow import (~1 s): only when a store is really needed
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                client.heartbeat()
                return cls(client, settings.chroma_url)
            settings.store_path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(settings.store_path), settings=chroma_settings
            )
            return cls(client, str(settings.store_path))
        except Exception as exc:
            target = settings.chroma_url or settings.store_path
            hint = " (is `chroma run` serving there?)" if settings.chroma_url else ""
            raise StoreUnavailable(
                f"cannot open Chroma at {target}{hint}: {exc}", internal=str(target)
            ) from exc

    def close(self) -> None:
        """Release Chroma's files and connections; an embedded system stops with its last user."""
        client, self._client = self._client, None
        self._handles.clear()
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not mask why we are closing
                client.close()

    @_translated
    def names(self) -> list[str]:
        """Knowledge-base names that have a collection."""
        names = [c if isinstance(c, str) else c.name for c in self._client.list_collections()]
        return sorted(n[len(PREFIX) :] for n in names if n.startswith(PREFIX))

    @_translated
    def check_pin(self, kb: str, model: str, dim: int | None) -> None:
        """Raise ModelMismatch if an existing collection was built with another model."""
        collection = self._get(kb)
        if collection is not None:
            meta = collection.metadata or {}
            self._check_pin(kb, meta, model, dim or int(meta.get("dim") or 0))

    @_translated
    def upsert(
        self,
        kb: str,
        model: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metas: Sequence[dict[str, Any]],
    ) -> None:
        """Write vectors (replacing same ids) in batches within Chroma's limit."""
        if not ids:
            return
        collection = self._writable(kb, model, int(vectors.shape[1]))
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                metadatas=cast(Any, list(metas[start:end])),
            )

    @_translated
    def delete(self, kb: str, ids: Sequence[str]) -> None:
        """Remove vectors by id; unknown ids are ignored."""
        if not ids:
            return
        collection = self._get(kb)
        if collection is None:
            return
        for start in range(0, len(ids), self.max_batch):
            collection.delete(ids=list(ids[start : start + self.max_batch]))

    @_translated
    def query(
        self, kb: str, model: str, vector: Sequence[float], n: int
    ) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity, best first ([] if empty)."""
        try:
            result = self._query_once(kb, model, vector, n, cached=True)
        except ModelMismatch:
            raise
        except Exception:  # the cached handle may be stale (collection dropped elsewhere)
            result = self._query_once(kb, model, vector, n, cached=False)
        if result is None:
            return []
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]

    def _query_once(
        self, kb: str, model: str, vector: Sequence[float], n: int, cached: bool
    ) -> Any:
        collection = self._handle(kb) if cached else self._get(kb)
        if collection is None:
            return None
        self._check_pin(kb, collection.metadata or {}, model, len(vector))
        # n larger than the collection is fine in Chroma 1.x: no count() round trip needed.
        return collection.query(query_embeddings=[list(vector)], n_results=n, include=["distances"])

    def _handle(self, kb: str) -> Any:
        """The collection, cached: looking it up costs a round trip per query on a server."""
        collection = self._handles.get(kb)
        if collection is None:
            collection = self._get(kb)
        return collection

    @_translated
    def ids(self, kb: str) -> list[str]:
        """Every vector id in a collection (for consistency checks)."""
        collection = self._get(kb)
        return list(collection.get(include=[])["ids"]) if collection is not None else []

    @_translated
    def drop(self, kb: str) -> None:
        """Delete a whole collection."""
        if self._get(kb) is not None:
            self._client.delete_collection(PREFIX + kb)
        self._handles.pop(kb, None)

    def _get(self, kb: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            collection = self._client.get_collection(PREFIX + kb, embedding_function=None)
        except NotFoundError:
            self._handles.pop(kb, None)
            return None
        except ValueError as exc:  # older clients raise ValueError for a missing collection
            if "does not exist" in str(exc):
                self._handles.pop(kb, None)
                return None
            raise
        self._handles[kb] = collection
        return collection

    def _writable(self, kb: str, model: str, dim: int) -> Any:
        # Not get_or_create: with metadata it would overwrite the pin of an existing collection.
        collection = self._get(kb)
        if collection is None:
            try:
                collection = self._client.create_collection(
                    PREFIX + kb,
                    embedding_function=None,
                    configuration={"hnsw": HNSW},
                    metadata={"embed_model": model, "dim": dim},
                )
            except Exception:  # created meanwhile by another process: use theirs
                collection = self._get(kb)
                if collection is None:
                    raise
        self._check_pin(kb, collection.metadata or {}, model, dim)
        return collection

    @staticmethod
    def _check_pin(kb: str, meta: dict[str, Any], model: str, dim: int) -> None:
        built_model, built_dim = meta.get("embed_model"), meta.get("dim")
        if (
            built_model
            and full_name(str(built_model)) == full_name(model)
            and built_dim in (None, dim)
        ):
            return
        if not built_model:
            return
        raise ModelMismatch(
            f"collection '{kb}' was built with {built_model} ({built_dim} dimensions) but the "
            f"configured embedding model is {model} ({dim} dimensions); use RAG_EMBED_MODEL="
            f"{built_model}, another --collection, or `rag drop {kb}` and ingest again"
        )
