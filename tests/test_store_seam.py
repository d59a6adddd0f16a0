"""The vector-store seam: the real pipeline and search on an in-memory store, the write order
seen through a store that fails at chosen steps, and what ChromaStore reports about itself."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ingest.run import ingest_paths
from rag.errors import ModelMismatch, StoreUnavailable
from rag.kb import KnowledgeBase
from rag.retrieve import dense_search, retrieve
from rag.store import PREFIX
from rag.vectors import VectorStore
from tests.conftest import REPO, make_settings

SAMPLES = REPO / "data"


class MemoryStore:
    """VectorStore in a dict, searched exactly (brute-force cosine with numpy)."""

    where = "memory"
    search_depth = 1_000_000  # exact search examines everything

    def __init__(self) -> None:
        self.vectors: dict[str, dict[str, np.ndarray]] = {}
        self.pins: dict[str, tuple[str, int]] = {}

    def names(self) -> list[str]:
        return sorted(self.vectors)

    def check_pin(self, kb: str, model: str, dim: int | None) -> None:
        built = self.pins.get(kb)
        if built is not None and (built[0] != model or dim not in (None, built[1])):
            raise ModelMismatch(f"collection '{kb}' was built with {built[0]} ({built[1]})")

    def upsert(
        self, kb: str, model: str, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict]
    ) -> None:
        if not ids:
            return
        self.check_pin(kb, model, int(vectors.shape[1]))
        self.pins.setdefault(kb, (model, int(vectors.shape[1])))
        stored = self.vectors.setdefault(kb, {})
        for cid, vector in zip(ids, vectors, strict=True):
            stored[cid] = vector / np.linalg.norm(vector)

    def delete(self, kb: str, ids: Sequence[str]) -> None:
        for cid in ids:
            self.vectors.get(kb, {}).pop(cid, None)

    def query(
        self, kb: str, model: str, vector: Sequence[float], n: int
    ) -> list[tuple[str, float]]:
        stored = self.vectors.get(kb)
        if not stored:
            return []
        self.check_pin(kb, model, len(vector))
        ids = list(stored)
        query = np.asarray(vector, dtype=np.float32)
        scores = np.stack([stored[cid] for cid in ids]) @ (query / np.linalg.norm(query))
        return [(ids[i], float(scores[i])) for i in np.argsort(-scores)[:n]]

    def ids(self, kb: str) -> list[str]:
        return sorted(self.vectors.get(kb, {}))

    def drop(self, kb: str) -> None:
        self.vectors.pop(kb, None)
        self.pins.pop(kb, None)


class FailingStore(MemoryStore):
    """A MemoryStore that fails once at a chosen step: after its upsert wrote, before a delete."""

    def __init__(self, fail_on: str) -> None:
        super().__init__()
        self.fail_on: str | None = fail_on

    def _maybe_fail(self, step: str) -> None:
        if self.fail_on == step:
            self.fail_on = None
            raise StoreUnavailable(f"store died during {step}")

    def upsert(self, kb, model, ids, vectors, metas) -> None:  # type: ignore[no-untyped-def]
        super().upsert(kb, model, ids, vectors, metas)
        self._maybe_fail("upsert")

    def delete(self, kb: str, ids: Sequence[str]) -> None:
        if ids:
            self._maybe_fail("delete")
        super().delete(kb, ids)


@pytest.fixture()
def docs(tmp_path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("chroma*", "*.sqlite3*"))
    return target


def committed_ids(kb: KnowledgeBase, collection: str) -> set[str]:
    return {cid for r in kb.documents(collection) for cid in kb.chunk_ids(collection, r.doc_id)}


def test_ingest_and_search_run_unchanged_on_a_plugged_in_store(ollama, tmp_path, docs):
    settings = make_settings(ollama.url, tmp_path / "data")
    store: VectorStore = MemoryStore()
    with KnowledgeBase(settings, store=store) as kb:
        col = settings.collection
        report = ingest_paths(kb, col, [str(docs)])
        assert report.ok and len(report.added) == 5
        assert (
            set(store.ids(col)) == committed_ids(kb, col) and len(store.ids(col)) == report.chunks
        )

        found = retrieve(kb, col, "How many days of annual leave?", 3)
        assert found.hits[0].source == str(docs / "handbook.md")
        assert "18 days" in found.hits[0].text

        handbook = docs / "handbook.md"
        old = set(store.ids(col))
        handbook.write_text(handbook.read_text().replace("18 days", "21 days"))
        assert ingest_paths(kb, col, [str(docs)]).updated == [str(handbook)]
        assert set(store.ids(col)) == committed_ids(kb, col) != old
        assert "21 days" in dense_search(kb, col, "annual leave days per year", 1)[0].text

        kb.delete_document(col, str(handbook))
        assert set(store.ids(col)) == committed_ids(kb, col)
        assert all(h.source != str(handbook) for h in dense_search(kb, col, "annual leave", 5))
        assert kb.collection_counts() == {col: kb.counts(col)}

        kb.drop_collection(col)
        assert store.names() == [] and kb.documents(col) == []
    assert not (settings.store_path / "chroma.sqlite3").exists()  # Chroma was never opened


def test_vectors_written_before_a_failed_commit_are_invisible_then_repaired(ollama, tmp_path, docs):
    settings = make_settings(ollama.url, tmp_path / "data")
    store = FailingStore("upsert")
    with KnowledgeBase(settings, store=store) as kb:
        col = settings.collection
        report = ingest_paths(kb, col, [str(docs)])
        assert report.aborted and "store died during upsert" in report.aborted
        leftover = set(store.ids(col))
        assert leftover and kb.documents(col) == []  # in the store, never committed
        # The ids were journalled before they reached the store, so repair finds every one.
        assert kb.repair(col) == len(leftover) and store.ids(col) == []

        assert ingest_paths(kb, col, [str(docs)]).ok
        assert set(store.ids(col)) == committed_ids(kb, col)


def test_a_failed_delete_of_replaced_vectors_keeps_the_new_version_and_is_repaired(
    ollama, tmp_path, docs
):
    settings = make_settings(ollama.url, tmp_path / "data")
    store = FailingStore("none yet")
    with KnowledgeBase(settings, store=store) as kb:
        col = settings.collection
        handbook = docs / "handbook.md"
        assert ingest_paths(kb, col, [str(handbook)]).ok
        old = set(store.ids(col))
        handbook.write_text(handbook.read_text().replace("18 days", "21 days"))
        store.fail_on = "delete"
        report = ingest_paths(kb, col, [str(handbook)])
        assert report.aborted and "store died during delete" in report.aborted
        # The new version was committed before the old vectors were deleted: it is what is found.
        assert old <= set(store.ids(col))  # the old vectors are still in the store, but
        hits = dense_search(kb, col, "annual leave days per year", 10)
        assert hits and "21 days" in hits[0].text
        assert not {h.chunk_id for h in hits} & old  # search only returns committed chunks

        assert kb.repair(col) == len(old)
        assert set(store.ids(col)) == committed_ids(kb, col)
        assert not set(store.ids(col)) & old


def test_chroma_collections_are_built_with_the_search_depth_chroma_store_reports(
    ollama, tmp_path, docs
):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = make_settings(ollama.url, tmp_path / "data")
    with KnowledgeBase(settings) as kb:
        assert ingest_paths(kb, settings.collection, [str(docs / "handbook.md")]).ok
        depth = kb.store.search_depth
        quiet = ChromaSettings(anonymized_telemetry=False)  # the settings rag.store opens it with
        client = chromadb.PersistentClient(path=str(settings.store_path), settings=quiet)
        config = client.get_collection(PREFIX + settings.collection).configuration
    assert config["hnsw"]["ef_search"] == depth
