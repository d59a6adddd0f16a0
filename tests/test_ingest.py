"""The ingest pipeline end to end: real files, the Ollama double, real Chroma (both modes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest import parse as parse_module
from ingest.run import ingest_paths
from rag.errors import ModelMismatch, ModelNotPulled, OllamaUnavailable
from rag.kb import KnowledgeBase
from rag.retrieve import dense_search
from tests.conftest import REPO, _free_port

SAMPLES = REPO / "data"


@pytest.fixture()
def docs(tmp_path) -> Path:
    """A private copy of the sample knowledge base."""
    target = tmp_path / "docs"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("chroma*", "*.sqlite3*"))
    return target


def index_state(kb: KnowledgeBase) -> tuple[set[str], set[str]]:
    """(vector ids in Chroma, chunk ids in the catalog): equal when the index is consistent."""
    collection = kb.settings.collection
    catalog_ids = {
        cid for r in kb.documents(collection) for cid in kb.chunk_ids(collection, r.doc_id)
    }
    return set(kb.store.ids(collection)), catalog_ids


def test_sample_knowledge_base_is_searchable(kb, docs):
    report = ingest_paths(kb, kb.settings.collection, [str(docs)])
    assert report.ok, report.to_dict()
    assert len(report.added) == 5 and report.chunks > 5
    vectors, chunks = index_state(kb)
    assert vectors == chunks and len(chunks) == report.chunks

    hit = dense_search(kb, kb.settings.collection, "How many days of annual leave?", 3)[0]
    assert hit.source == str(docs / "handbook.md")
    assert hit.heading == "Acme Robotics employee handbook > Time off > Annual leave"
    assert "18 days" in hit.text

    hit = dense_search(kb, kb.settings.collection, "Error E7 dust bin missing", 3)[0]
    assert (hit.source, hit.page) == (str(docs / "r2-user-manual.pdf"), 3)

    hit = dense_search(kb, kb.settings.collection, "nghỉ phép năm bao nhiêu ngày", 3)[0]
    assert hit.source == str(docs / "quy-dinh-lam-viec.md")
    assert "Mỗi nhân viên toàn thời gian được hưởng 18 ngày nghỉ phép" in hit.text


def test_second_run_embeds_nothing(kb, docs, ollama):
    ingest_paths(kb, kb.settings.collection, [str(docs)])
    before = ollama.stats()["embed_inputs"]
    (docs / "handbook.md").touch()  # new mtime, same content: hashed, not re-embedded
    report = ingest_paths(kb, kb.settings.collection, [str(docs)])
    assert len(report.unchanged) == 5 and report.added == report.updated == []
    assert ollama.stats()["embed_inputs"] == before


def test_edited_file_replaces_exactly_its_own_chunks(kb, docs):
    collection = kb.settings.collection
    ingest_paths(kb, collection, [str(docs)])
    handbook = kb.by_source(collection, str(docs / "handbook.md"))
    other_ids = {
        r.source: kb.chunk_ids(collection, r.doc_id)
        for r in kb.documents(collection)
        if r.source != handbook.source
    }
    old_ids = set(kb.chunk_ids(collection, handbook.doc_id))

    text = (docs / "handbook.md").read_text(encoding="utf-8")
    (docs / "handbook.md").write_text(text.replace("18 days", "21 days"), encoding="utf-8")
    report = ingest_paths(kb, collection, [str(docs)])

    assert report.updated == [str(docs / "handbook.md")] and len(report.unchanged) == 4
    new_ids = set(kb.chunk_ids(collection, handbook.doc_id))
    assert new_ids and not new_ids & old_ids
    assert {
        r.source: kb.chunk_ids(collection, r.doc_id)
        for r in kb.documents(collection)
        if r.source != handbook.source
    } == other_ids
    vectors, chunks = index_state(kb)
    assert vectors == chunks and not vectors & old_ids
    hit = dense_search(kb, collection, "annual leave days per year", 1)[0]
    assert "21 days" in hit.text


def test_prune_removes_documents_whose_files_are_gone(kb, docs):
    collection = kb.settings.collection
    ingest_paths(kb, collection, [str(docs)])
    (docs / "release-notes.txt").unlink()
    report = ingest_paths(kb, collection, [str(docs)])
    assert report.removed == [] and len(kb.documents(collection)) == 5
    report = ingest_paths(kb, collection, [str(docs)], prune=True)
    assert report.removed == [str(docs / "release-notes.txt")]
    assert [r.source for r in kb.documents(collection)] == sorted(str(p) for p in docs.iterdir())
    vectors, chunks = index_state(kb)
    assert vectors == chunks


def test_delete_one_document(kb, docs):
    collection = kb.settings.collection
    ingest_paths(kb, collection, [str(docs)])
    record = kb.delete_document(collection, str(docs / "support-faq.html"))
    assert record.source == str(docs / "support-faq.html")
    assert kb.by_source(collection, record.source) is None
    vectors, chunks = index_state(kb)
    assert vectors == chunks
    assert all(h.source != record.source for h in dense_search(kb, collection, "warranty", 5))


def test_collections_are_kept_apart(kb, docs):
    ingest_paths(kb, "alpha", [str(docs / "handbook.md")])
    ingest_paths(kb, "beta", [str(docs / "release-notes.txt")])
    assert [h.source for h in dense_search(kb, "alpha", "firmware battery", 5)] == [
        str(docs / "handbook.md")
    ] * len(dense_search(kb, "alpha", "firmware battery", 5))
    assert {h.source for h in dense_search(kb, "beta", "annual leave", 5)} == {
        str(docs / "release-notes.txt")
    }


def test_bad_files_fail_alone_and_say_why(kb, docs, corpus_dir, monkeypatch):
    monkeypatch.setenv("RAG_OCR", "off")  # the scan must fail as unreadable, not be OCR'd
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (docs / "random.pdf").write_bytes(bytes((i * 37 + 11) % 256 for i in range(4000)))
    shutil.copy(corpus_dir / "encrypted_password_openpassword.pdf", docs)
    shutil.copy(corpus_dir / "scanned_skew.pdf", docs)
    (docs / "notes.odt").write_bytes(b"PK\x03\x04")
    missing = str(docs / "nope.md")

    report = ingest_paths(kb, kb.settings.collection, [str(docs), missing, str(docs / "notes.odt")])

    errors = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert errors["nope.md"] == "no such file or directory"
    assert errors["notes.odt"].startswith("unsupported file type '.odt'")
    assert "empty" in errors["empty.txt"]
    assert "binary" in errors["binary.txt"]
    assert errors["random.pdf"]
    assert "password" in errors["encrypted_password_openpassword.pdf"]
    assert "no extractable text" in errors["scanned_skew.pdf"]
    assert len(report.added) == 5  # the good files went in all the same
    assert not report.ok and report.aborted is None


def test_many_small_files_are_embedded_in_full_batches(kb, tmp_path, ollama):
    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(40):
        (folder / f"note{n:02d}.txt").write_text(f"Note {n}: the meeting room {n} has a projector.")
    report = ingest_paths(kb, kb.settings.collection, [str(folder)])
    assert len(report.added) == 40
    stats = ollama.stats()
    assert stats["max_batch"] == kb.settings.embed_batch
    assert stats["embed_requests"] <= 40 / kb.settings.embed_batch + 3


def test_unreachable_ollama_stops_before_anything_is_written(settings, docs):
    settings = settings.with_(ollama_host=f"http://127.0.0.1:{_free_port()}")
    with KnowledgeBase(settings) as kb:
        with pytest.raises(OllamaUnavailable, match="cannot reach Ollama at"):
            ingest_paths(kb, settings.collection, [str(docs)])
        assert kb.documents(settings.collection) == []


def test_model_not_pulled_stops_with_the_pull_command(kb, docs, ollama):
    ollama.configure(models=["llama3.2"])
    with pytest.raises(ModelNotPulled, match="run `ollama pull nomic-embed-text`"):
        ingest_paths(kb, kb.settings.collection, [str(docs)])


def test_ollama_failing_mid_run_then_a_rerun_finishes_with_no_duplicates(kb, docs, ollama):
    collection = kb.settings.collection
    for n in range(30):
        (docs / f"extra{n:02d}.md").write_text(f"# Extra {n}\n\nRoom {n} seats {n + 4} people.\n")
    kb.settings = kb.settings.with_(embed_batch=4)
    ollama.configure(faults=[{"path": "/api/embed", "status": 500, "count": 1000, "after": 3}])
    report = ingest_paths(kb, collection, [str(docs)])
    assert report.aborted and "Ollama answered 500" in report.aborted
    partial = len(kb.documents(collection))
    assert partial < 35

    ollama.configure(faults=[])
    report = ingest_paths(kb, collection, [str(docs)])
    assert report.ok and len(report.added) + len(report.unchanged) == 35
    assert len(report.unchanged) == partial
    vectors, chunks = index_state(kb)
    assert vectors == chunks
    assert len(chunks) == sum(r.chunks for r in kb.documents(collection))


def test_other_embedding_model_is_refused_on_an_existing_collection(settings, docs):
    with KnowledgeBase(settings) as kb:
        ingest_paths(kb, settings.collection, [str(docs / "handbook.md")])
    other = settings.with_(embed_model="all-minilm")
    with KnowledgeBase(other) as kb:
        with pytest.raises(ModelMismatch) as err:
            ingest_paths(kb, settings.collection, [str(docs / "release-notes.txt")])
        with pytest.raises(ModelMismatch):
            dense_search(kb, settings.collection, "leave", 3)
    assert "was built with nomic-embed-text (768 dimensions)" in str(err.value)
    assert "all-minilm (384 dimensions)" in str(err.value)


def test_file_changing_during_ingest_is_indexed_as_read_and_flagged(kb, docs, monkeypatch):
    target = docs / "release-notes.txt"
    real_load = parse_module.load_bytes

    def load_then_edit(source, data, *args, **kwargs):
        doc = real_load(source, data, *args, **kwargs)
        if source == str(target):
            target.write_text("Completely new text about quantum teleportation.\n")
        return doc

    monkeypatch.setattr(parse_module, "load_bytes", load_then_edit)
    report = ingest_paths(kb, kb.settings.collection, [str(target)])
    assert report.added == [str(target)]
    assert "changed while it was being ingested" in report.warnings[str(target)][0]
    assert "Version 2.4.0" in dense_search(kb, kb.settings.collection, "firmware", 1)[0].text

    monkeypatch.setattr(parse_module, "load_bytes", real_load)
    report = ingest_paths(kb, kb.settings.collection, [str(target)])
    assert report.updated == [str(target)]
    assert "teleportation" in dense_search(kb, kb.settings.collection, "quantum", 1)[0].text


def test_scanned_pages_are_reported_per_page(kb, corpus_dir, tmp_path):
    report = ingest_paths(
        kb, kb.settings.collection, [str(corpus_dir / "vi_report_nlp_parser.pdf")]
    )
    assert report.added
    record = kb.documents(kb.settings.collection)[0]
    assert record.pages == 27
    hits = dense_search(kb, kb.settings.collection, "phân tích cú pháp", 3)
    assert hits and all(1 <= h.page <= 27 for h in hits)


def test_big_pdfs_parsed_in_worker_processes_give_the_same_index(settings, corpus_dir, tmp_path):
    pdfs = [
        corpus_dir / "academic_tracemonkey_2col.pdf",
        corpus_dir / "vi_report_nlp_parser.pdf",
        corpus_dir / "encrypted_password_openpassword.pdf",
    ]
    results = {}
    for workers in (1, 2):
        one = settings.with_(parse_workers=workers, data_dir=tmp_path / f"w{workers}")
        with KnowledgeBase(one) as kb:
            report = ingest_paths(kb, one.collection, [str(p) for p in pdfs])
            ids = {
                cid
                for r in kb.documents(one.collection)
                for cid in kb.chunk_ids(one.collection, r.doc_id)
            }
            results[workers] = (sorted(report.added), report.failed, ids)
    assert results[1] == results[2]
    added, failed, ids = results[2]
    assert len(added) == 2 and len(ids) > 20
    assert failed[0]["path"].endswith("encrypted_password_openpassword.pdf")
    assert "password" in failed[0]["error"]
