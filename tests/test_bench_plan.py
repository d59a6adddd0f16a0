"""The benchmark's plan (what `make bench-large` and `--sizes` measure) and its synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import run
from bench import search_latency as sl
from bench.stores import SyntheticStore, release_chroma
from rag.kb import KnowledgeBase


def plan(*argv: str) -> dict:
    return run.plan_for(run.parse(list(argv)))


def test_large_adds_1m_chunks_to_the_query_sizes_and_to_the_serve_memory() -> None:
    assert [n for n, _ in plan()["sizes"]] == [10_000, 100_000]
    assert plan()["serve_sizes"] == [100_000]
    large = plan("--large")
    assert large["sizes"][-1] == (1_000_000, True)  # with the Chroma server too
    assert large["serve_sizes"] == [100_000, 1_000_000]


def test_sizes_replace_the_default_sizes_for_query_and_memory() -> None:
    only = plan("--sizes", "1000000")
    assert only["sizes"] == [(1_000_000, True)]
    assert only["serve_sizes"] == [1_000_000]
    assert plan("--sizes", "20000,50000", "--no-server")["sizes"] == [
        (20_000, False),
        (50_000, False),
    ]


@pytest.mark.parametrize("bad", ["1000001", "0", "ten"])
def test_sizes_must_be_whole_documents(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.parse(["--sizes", bad])
    assert "--sizes" in capsys.readouterr().err


def test_vectors_made_in_blocks_are_the_same_data_as_one_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sl, "VECTOR_BLOCK", 1000)
    corpus, n = sl.Corpus(), 2500
    blocks = corpus.vectors(n)
    rng = np.random.default_rng(7)
    projection = rng.standard_normal((sl.LATENT, sl.DIM)).astype(np.float32)
    latent = rng.standard_normal((n, sl.LATENT)).astype(np.float32)
    noise = rng.standard_normal((n, sl.DIM)).astype(np.float32) * np.sqrt(sl.LATENT) * 0.3
    whole = latent @ projection + noise
    whole /= np.linalg.norm(whole, axis=1, keepdims=True)
    assert blocks.dtype == np.float32
    np.testing.assert_allclose(blocks, whole, atol=1e-6)
    # and the generator is left where one draw leaves it, so the texts after are the same too
    assert corpus.rng.integers(0, 1 << 30) == rng.integers(0, 1 << 30)


def test_query_pairs_kept_beside_the_store_are_the_generated_ones(tmp_path: Path) -> None:
    made = SyntheticStore(200, tmp_path)
    made.data_dir.mkdir()
    pairs = made.queries(5)
    assert (made.data_dir / "queries.json").exists()
    reused = SyntheticStore(200, tmp_path)
    assert reused.queries(5) == [(text, list(vector)) for text, vector in pairs]
    assert "corpus" not in reused.__dict__  # read from the file, not regenerated


def test_an_interrupted_build_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sl, "BATCH", 100)
    writes = []
    real_write = KnowledgeBase.write

    def write_then_stop(kb: KnowledgeBase, collection: str, versions: list) -> None:
        if len(writes) == 2 and versions[0].chunks[0].id.endswith(":0000200"):
            raise KeyboardInterrupt  # the bench stopped during its third batch
        writes.append(versions[0].chunks[0].id)
        real_write(kb, collection, versions)

    with monkeypatch.context() as patch:
        patch.setattr(KnowledgeBase, "write", write_then_stop)
        with pytest.raises(KeyboardInterrupt):
            SyntheticStore(300, tmp_path).ensure()
    release_chroma()
    assert SyntheticStore(300, tmp_path).build_info() is None  # not complete yet

    writes.clear()
    with monkeypatch.context() as patch:
        patch.setattr(KnowledgeBase, "write", write_then_stop)
        store = SyntheticStore(300, tmp_path).ensure()
    assert writes == ["d00004:0000200"]  # only the batch that had not been written
    info = store.build_info()
    assert info is not None and info["start"] == 0
    assert [m[0] for m in info["marks"]] == [100, 200, 300]  # timing of both runs
    with KnowledgeBase(store.settings, role="bench") as kb:
        assert kb.counts(sl.COLLECTION) == (6, 300)
        assert len(kb.store.ids(sl.COLLECTION)) == 300
        last = kb.chunk_ids(sl.COLLECTION, "d00005")[-1]
        assert kb.chunks(sl.COLLECTION, [last])[last]["text"] == store.corpus[1][299]
    release_chroma()
