"""What the knowledge base needs of a vector index: the seam between rag.kb and Chroma.

`rag.store.ChromaStore` is the implementation used in production; tests plug in an in-memory
one. Implementations raise `rag.errors` types only (StoreUnavailable, ModelMismatch), never their
library's own. Vectors are keyed by chunk id inside a named collection; the text lives in the
catalog, so a store holds ids, vectors and opaque metadata only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class VectorStore(Protocol):
    """A vector index with one collection per knowledge base, pinned to an embedding model."""

    @property
    def where(self) -> str:
        """Where the vectors live, for messages ("Chroma at data/chroma")."""
        ...

    @property
    def search_depth(self) -> int:
        """Candidates a query examines however few results it asks for (ANN recall knob)."""
        ...

    def names(self) -> list[str]:
        """Collections that exist; answering at all proves the store is reachable."""
        ...

    def check_pin(self, kb: str, model: str, dim: int | None) -> None:
        """Raise ModelMismatch if an existing collection was built with another model."""
        ...

    def upsert(
        self,
        kb: str,
        model: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metas: Sequence[dict[str, Any]],
    ) -> None:
        """Write vectors (replacing same ids), creating and pinning the collection if new."""
        ...

    def delete(self, kb: str, ids: Sequence[str]) -> None:
        """Remove vectors by id; unknown ids and a missing collection are ignored."""
        ...

    def query(
        self, kb: str, model: str, vector: Sequence[float], n: int
    ) -> list[tuple[str, float]]:
        """Up to n nearest ids with cosine similarity, best first ([] for a missing collection)."""
        ...

    def ids(self, kb: str) -> list[str]:
        """Every vector id in a collection (for consistency checks)."""
        ...

    def drop(self, kb: str) -> None:
        """Delete a whole collection (nothing if it does not exist)."""
        ...

    def close(self) -> None:
        """Release the store's files and connections (idempotent)."""
        ...
