"""Synthetic collections of N chunks, built once per run (or kept in --cache-dir) and shared.

The chunks, vectors and the build itself come from bench/search_latency.py. One embedded build
also serves the Chroma-server measurements: `chroma run` opens the same folder (same on-disk
format), and the catalog is copied to where server mode looks for it.
"""

from __future__ import annotations

import sqlite3
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bench import search_latency as sl
from rag.config import Settings
from rag.kb import KnowledgeBase

COLLECTION = sl.COLLECTION
QUERY_SET = "content"  # search_latency's realistic queries: a few of a chunk's rarer words


class SyntheticStore:
    """An embedded store of n synthetic chunks under root/n<N>."""

    def __init__(self, n: int, root: Path) -> None:
        self.n = n
        self.data_dir = root / f"n{n}"
        self.settings = Settings(data_dir=self.data_dir, ollama_host="http://127.0.0.1:9")
        self.build_seconds: float | None = None

    @cached_property
    def corpus(self) -> tuple[np.ndarray, list[str], list[tuple]]:
        """(vectors, texts, 1000 query (text, vector) pairs), deterministic."""
        corpus = sl.Corpus()
        vectors, texts = corpus.vectors(self.n), corpus.texts(self.n)
        found: Any = sl.queries(corpus, vectors, texts, min(1000, self.n))
        if isinstance(found, dict):  # query sets by kind: take the realistic one
            found = found.get(QUERY_SET) or next(iter(found.values()))
        return vectors, texts, list(found)

    @property
    def vectors(self) -> np.ndarray:
        """The chunks' unit vectors (n x 768 float32)."""
        return self.corpus[0]

    def queries(self, count: int) -> list[tuple]:
        """(text, vector) pairs near stored chunks (cycled when count > 1000)."""
        pairs = self.corpus[2]
        return [pairs[i % len(pairs)] for i in range(count)]

    def ensure(self) -> SyntheticStore:
        """Build the collection unless a complete one is already there."""
        with KnowledgeBase(self.settings, role="bench") as kb:
            if kb.counts(COLLECTION)[1] != self.n:
                print(f"  building {self.n} synthetic chunks in {self.data_dir}", flush=True)
                vectors, texts, _ = self.corpus
                kb.drop_collection(COLLECTION)
                self.build_seconds = sl.build(kb, vectors, texts)
        release_chroma()
        return self

    def server_settings(self, chroma_url: str, ollama_url: str) -> Settings:
        """Settings for server mode over this store's folder (catalog copied into place)."""
        target = self.data_dir / "catalog-server.sqlite3"
        source = sqlite3.connect(self.settings.catalog_path)
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            source.close()
            dest.close()
        return self.settings.with_(chroma_url=chroma_url, ollama_host=ollama_url)


def release_chroma() -> None:
    """Stop this process's cached embedded Chroma systems, so another process may open them."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    time.sleep(0.1)
