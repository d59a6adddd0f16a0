"""OCR of scanned pages with Tesseract: the shared scans become searchable, and say how."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.loaders import load_bytes, load_file
from ingest.parse import parse_bytes
from rag.cli import main
from rag.config import Settings
from rag.errors import ConfigError
from rag.ocr_check import check_ocr, installed_languages, ocr_unavailable
from tests.pdf_fixtures import garbled_pdf, text_page_pdf, to_bytes

MISSING = ocr_unavailable("eng+vie")
needs_tesseract = pytest.mark.skipif(
    MISSING is not None, reason=f"OCR tests need Tesseract: {MISSING} (CI installs it)"
)
LINES = [
    "The warranty covers the robot vacuum for two years.",
    "Call support on weekdays between nine and five.",
    "Replacement brushes ship within three days.",
]


@pytest.fixture()
def no_tesseract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A machine without Tesseract: nothing on PATH."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    installed_languages.cache_clear()
    yield
    installed_languages.cache_clear()


def test_ocr_settings_are_validated() -> None:
    settings = Settings.from_mapping({"RAG_OCR": "FORCE", "RAG_OCR_LANGUAGES": "eng, vie"})
    assert (settings.ocr, settings.ocr_languages) == ("force", "eng+vie")
    assert (Settings().ocr, Settings().ocr_languages) == ("auto", "eng+vie")
    with pytest.raises(ConfigError, match="RAG_OCR='sometimes'"):
        Settings.from_mapping({"RAG_OCR": "sometimes"})
    with pytest.raises(ConfigError, match="RAG_OCR_LANGUAGES"):
        Settings.from_mapping({"RAG_OCR_LANGUAGES": "eng;rm -rf"})


def test_without_tesseract_scanned_pages_are_explained(
    corpus_dir: Path, monkeypatch: pytest.MonkeyPatch, no_tesseract: None
) -> None:
    monkeypatch.setenv("RAG_OCR", "auto")
    doc = load_file(corpus_dir / "scanned_multipage_6p.pdf")
    assert [section.page for section in doc.sections] == [4]
    assert any(
        w.startswith("pages 1, 2, 3, 5, 6 not read: OCR is not available (Tesseract is not")
        for w in doc.warnings
    )
    assert check_ocr(Settings())["ok"] and "not available" in check_ocr(Settings())["detail"]
    forced = check_ocr(Settings(ocr="force"))
    assert not forced["ok"] and "RAG_OCR=force but Tesseract is not installed" in forced["detail"]


def test_missing_language_pack_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rag.ocr_check.installed_languages", lambda: frozenset({"eng", "osd"}))
    assert ocr_unavailable("eng+vie") == (
        "Tesseract has no language pack for vie (apt-get install tesseract-ocr-vie)"
    )


@needs_tesseract
def test_scanned_page_is_read_and_marked(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_OCR", "auto")
    data = (corpus_dir / "scanned_skew.pdf").read_bytes()
    doc, chunks = parse_bytes("skew.pdf", data, "d1", 400, 50)
    assert [(s.page, s.ocr) for s in doc.sections] == [(1, True)]
    assert "LinnSequencer" in doc.sections[0].text
    assert doc.warnings == ["page 1 read by OCR (Tesseract, eng+vie)"]
    assert chunks and all(c.metadata()["ocr"] is True for c in chunks)
    monkeypatch.setenv("RAG_OCR", "off")
    with pytest.raises(Exception, match="no extractable text"):
        load_bytes("skew.pdf", data)


@needs_tesseract
def test_pages_with_a_text_layer_are_not_ocred_unless_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = to_bytes(text_page_pdf(LINES))
    monkeypatch.setenv("RAG_OCR", "auto")
    doc, chunks = parse_bytes("text.pdf", data, "d1", 400, 50)
    assert not doc.sections[0].ocr and doc.warnings == []
    assert "ocr" not in chunks[0].metadata()
    monkeypatch.setenv("RAG_OCR", "force")
    doc = load_bytes("text.pdf", data)
    assert doc.sections[0].ocr and "robot vacuum" in doc.sections[0].text


@needs_tesseract
def test_garbled_page_is_reread_by_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_OCR", "auto")
    doc = load_bytes("broken.pdf", garbled_pdf(LINES))
    assert doc.sections[0].ocr
    assert "robot vacuum for two years" in doc.sections[0].text
    assert "\ufffd" not in doc.sections[0].text
    assert doc.warnings[0].startswith("page 1: the text layer looks garbled (")
    assert doc.warnings[1] == "page 1 read by OCR (Tesseract, eng+vie)"


@needs_tesseract
def test_shared_scans_are_searchable_after_ingest(
    cli_env: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scans = cli_env / "scans"
    scans.mkdir()
    for name in ("scanned_skew.pdf", "scanned_multipage_6p.pdf"):
        shutil.copy(corpus_dir / name, scans)
    assert main(["ingest", str(scans), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["added"]) == 2 and summary["failed"] == []
    assert summary["warnings"][str(scans / "scanned_skew.pdf")] == [
        "page 1 read by OCR (Tesseract, eng+vie)"
    ]
    assert (
        "pages 1, 2, 3, 5, 6 read by OCR (Tesseract, eng+vie)"
        in (summary["warnings"][str(scans / "scanned_multipage_6p.pdf")])
    )
    # Words printed on the scanned pages, as a user would search for them.
    for query, name, pages in [
        ("LinnSequencer composition performance", "scanned_skew.pdf", {1}),
        ("widow garden tip-toeing", "scanned_multipage_6p.pdf", {1}),
        ("megapixels", "scanned_multipage_6p.pdf", {2}),
        ("throne of England", "scanned_multipage_6p.pdf", {5, 6}),  # one text, rotated on 6
    ]:
        assert main(["search", query, "--mode", "keyword", "--json"]) == 0
        hit = json.loads(capsys.readouterr().out)["hits"][0]
        assert hit["source"] == f"scans/{name}" and hit["page"] in pages, query


def test_only_pdfs_that_look_scanned_pay_for_a_parse_worker(corpus_dir: Path) -> None:
    from ingest.parsers import _may_need_ocr

    corpus = corpus_dir
    assert _may_need_ocr((corpus / "scanned_skew.pdf").read_bytes())
    assert not _may_need_ocr((corpus / "latex_multicolumn.pdf").read_bytes())
    assert not _may_need_ocr((corpus / "gdoc_export.pdf").read_bytes())
