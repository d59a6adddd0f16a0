"""Synthetic collections of N chunks, built once per run (or kept in --cache-dir) and shared.

The chunks, vectors and the build itself come from bench/search_latency.py. One embedded build
also serves the Chroma-server measurements: `chroma run` opens the same folder (same on-disk
format), and the catalog is copied to where server mode looks for it.
"""

from __future__ import annotations

import json
import os
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
        self.build_seconds: float | None = None  # set when this run built the store
        self.build_info_path = self.data_dir / "build.json"

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
        pairs = self._query_pairs()
        return [pairs[i % len(pairs)] for i in range(count)]

    def _query_pairs(self) -> list[tuple]:
        # Kept beside the store: at 1M chunks regenerating the corpus for them takes minutes.
        path = self.data_dir / "queries.json"
        if "corpus" not in self.__dict__ and path.exists():
            return [tuple(pair) for pair in json.loads(path.read_text(encoding="utf-8"))]
        pairs = self.corpus[2]
        if self.data_dir.exists():
            path.write_text(json.dumps(pairs), encoding="utf-8")
        return pairs

    def ensure(self) -> SyntheticStore:
        """Build the collection unless a complete one is there; resume an interrupted build."""
        with KnowledgeBase(self.settings, role="bench") as kb:
            have = kb.counts(COLLECTION)[1]
            if have != self.n:
                self._build(kb, have if 0 < have < self.n and have % sl.BATCH == 0 else 0)
        release_chroma()
        return self

    def _build(self, kb: KnowledgeBase, start: int) -> None:
        # A 1M build takes hours on 2 shared cores: an interrupted one goes on where it stopped
        # (KnowledgeBase.write is crash-safe; repair drops the vectors of a half-written batch).
        vectors, texts, _ = self.corpus
        info = self.build_info(complete=False) if start else None
        if start:
            kb.repair(COLLECTION)
            print(f"  resuming the build of {self.n} chunks at {start}", flush=True)
        else:
            print(f"  building {self.n} synthetic chunks in {self.data_dir}", flush=True)
            kb.drop_collection(COLLECTION)
            self.build_info_path.unlink(missing_ok=True)
        if info is None or info["marks"][-1][0] != start:
            info = {"n": self.n, "start": start, "load_before": os.getloadavg(), "marks": []}
        (self.data_dir / "queries.json").unlink(missing_ok=True)

        def checkpoint() -> None:  # after every batch: the timing so far survives a stop
            self.save_build_info(info, complete=info["marks"][-1][0] == self.n)

        self.build_seconds = sl.build(kb, vectors, texts, info["marks"], start, checkpoint)

    def save_build_info(self, info: dict[str, Any], complete: bool) -> None:
        """Keep how the build went beside the store, so a run reusing it can still report it."""
        info |= {
            "seconds": info["marks"][-1][1],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_after": os.getloadavg(),
            "complete": complete,
        }
        self.build_info_path.write_text(json.dumps(info) + "\n", encoding="utf-8")

    def build_info(self, complete: bool = True) -> dict[str, Any] | None:
        """How this store was built: timing from chunk `start`, (chunks, seconds) marks, load."""
        try:
            info: dict[str, Any] = json.loads(self.build_info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (
            info.get("n") != self.n
            or not info.get("marks")
            or info.get("complete", True) != complete
        ):
            return None
        return info

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
