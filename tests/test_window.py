"""Chunks fill the embedder's window, too-long inputs are split and retried, chunkings never mix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest import chunking
from ingest.chunker import chunk_document, embed_heading
from ingest.chunking import WINDOW_SLACK
from ingest.run import ingest_paths
from rag.errors import ChunkingChanged
from rag.models import Document, Section
from rag.retrieve import retrieve
from rag.tokens import estimate_tokens
from tests.conftest import REPO

SAMPLES = REPO / "data"
SENTENCE = "The robot docks itself when the battery runs low and resumes cleaning afterwards. "


@pytest.fixture()
def docs(tmp_path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("chroma*", "*.sqlite3*"))
    return target


def _doc(heading: tuple[str, ...], sentences: int) -> Document:
    section = Section(SENTENCE * sentences, heading=heading)
    return Document(source="d.txt", kind="txt", sha256="0" * 64, sections=[section])


@pytest.mark.parametrize("window", [256, 512, 2048, 8192])
@pytest.mark.parametrize("heading", [(), ("Manual",), ("A very long chapter title " * 12,)])
def test_chunks_with_their_heading_fill_the_window_and_never_overflow_it(window, heading):
    room = window - WINDOW_SLACK
    max_tokens = min(400, room)
    chunks = chunk_document(_doc(heading, 400), "d", max_tokens, 50, room)
    for chunk in chunks:
        line = embed_heading(chunk.heading)
        used = estimate_tokens(chunk.text) + (estimate_tokens(line) + 1 if line else 0)
        assert used <= room or estimate_tokens(chunk.text) <= room // 2
        assert chunk.tokens <= max_tokens
    # Full chunks (all but the last) use most of what the heading leaves them.
    line = embed_heading(heading[0]) if heading else ""
    left = room - (estimate_tokens(line) + 1 if line else 0)
    text_room = min(max_tokens, max(room // 2, left))
    sizes = [c.tokens for c in chunks[:-1]]
    assert min(sizes) >= text_room - estimate_tokens(SENTENCE)


def test_a_short_heading_costs_only_its_own_tokens():
    room = 256 - WINDOW_SLACK
    plain = chunk_document(_doc((), 60), "d", room, 0, room)
    titled = chunk_document(_doc(("Manual",), 60), "d", room, 0, room)
    # The old reservation of 200 tokens for any heading made ~6x as many chunks here.
    assert len(titled) <= len(plain) + 1


def test_vietnamese_counts_more_word_pieces_per_word_than_english():
    english = "The employee gets eighteen days of annual leave every year"
    vietnamese = "Mỗi nhân viên được hưởng mười tám ngày nghỉ phép năm mỗi năm"
    assert estimate_tokens(vietnamese) / len(vietnamese.split()) > estimate_tokens(english) / len(
        english.split()
    )


def test_inputs_the_model_rejects_as_too_long_are_split_and_retried(kb, docs, ollama):
    collection = kb.settings.collection
    reference = ingest_paths(kb, collection, [str(docs)])
    assert reference.ok
    expected = {r.source: kb.chunk_ids(collection, r.doc_id) for r in kb.documents(collection)}
    kb.drop_collection(collection)
    # The window /api/show reports stays large; the model now accepts only 40 tokens per input.
    ollama.configure(embed_ctx=40)
    report = ingest_paths(kb, collection, [str(docs)])
    assert report.ok, report.to_dict()
    got = {r.source: kb.chunk_ids(collection, r.doc_id) for r in kb.documents(collection)}
    assert got == expected  # nothing dropped, same chunks
    assert set(kb.store.ids(collection)) == {c for ids in got.values() for c in ids}
    hit = retrieve(kb, collection, "How many days of annual leave?", 3).hits[0]
    assert hit.source == str(docs / "handbook.md")


def test_a_changed_chunking_stops_the_run_until_rechunk(kb, docs, ollama):
    collection = kb.settings.collection
    assert ingest_paths(kb, collection, [str(docs)]).ok
    before = ollama.stats()["embed_inputs"]
    kb.settings = kb.settings.with_(chunk_tokens=120, chunk_overlap=20)
    (docs / "handbook.md").write_text("# Handbook\n\nNew text.\n", encoding="utf-8")
    with pytest.raises(ChunkingChanged, match="rechunk"):
        ingest_paths(kb, collection, [str(docs)])
    assert ollama.stats()["embed_inputs"] == before  # nothing half-mixed
    report = ingest_paths(kb, collection, [str(docs)], rechunk=True)
    assert report.ok and len(report.updated) == 5 and report.unchanged == []
    stored = chunking.stored(kb, collection)
    assert stored is not None and stored.max_tokens == 120 and stored.overlap == 20
    again = ingest_paths(kb, collection, [str(docs)])  # now consistent: nothing to redo
    assert len(again.unchanged) == 5


def test_rechunking_part_of_a_collection_warns_about_the_rest(kb, docs):
    collection = kb.settings.collection
    assert ingest_paths(kb, collection, [str(docs)]).ok
    kb.settings = kb.settings.with_(chunk_tokens=120, chunk_overlap=20)
    report = ingest_paths(kb, collection, [str(docs / "handbook.md")], rechunk=True)
    assert report.updated == [str(docs / "handbook.md")]
    assert "old chunking" in report.warnings[collection][0]
    with pytest.raises(ChunkingChanged):
        ingest_paths(kb, collection, [str(docs / "release-notes.txt")])
