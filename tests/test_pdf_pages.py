"""A long PDF read in spans by several worker processes gives exactly the single-process parse."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.bounds import ParseLimits
from ingest.parse import parse_bytes
from ingest.parsers import POOL_MIN_BYTES, Parsers
from ingest.sources import Item
from rag.config import Settings
from rag.errors import (
    ConfigError,
    CorruptDocument,
    DecompressionBomb,
    EncryptedDocument,
    ParseLimit,
)
from rag.ocr_check import ocr_unavailable
from tests.hostile_pdfs import flate_bomb, many_pages
from tests.pdf_fixtures import text_page_pdf, to_bytes

MISSING = ocr_unavailable("eng+vie")
needs_tesseract = pytest.mark.skipif(MISSING is not None, reason=f"needs Tesseract: {MISSING}")
PAGES = 24
PARTS = ["brush", "filter", "wheel", "sensor", "battery", "dock", "bumper", "lid"]


def long_pdf(pages: int = PAGES) -> bytes:
    """A manual with a running header and footer, a blank page and a contents page."""
    writer = PdfWriter()
    for number in range(1, pages + 1):
        if number == 5:
            writer.add_blank_page(612, 792)  # no text layer: a warning (and OCR finds nothing)
            continue
        part, other = PARTS[number % len(PARTS)], PARTS[(number * 3) % len(PARTS)]
        body = [f"Check the {part} and the {other}.", f"Wheel {number} turns {number * 7} times."]
        if number == 2:
            body = [f"Chapter {n} {'.' * 30} {n * 3}" for n in range(1, 9)]  # contents: dropped
        lines = ["Acme R2 service manual", *body, "Keep the dock dry.", f"Page {number}"]
        writer.append(PdfReader(io.BytesIO(to_bytes(text_page_pdf(lines)))))
    writer.add_metadata({"/Title": "Acme R2 service manual"})
    return to_bytes(writer)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path, "parse_workers": 2}
    return Settings(**{**base, **overrides}).validated()


def outcome(parse: Any) -> tuple[Any, ...]:
    """The document and chunks as plain data, or the error's type and message."""
    try:
        doc, chunks = parse()
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", dataclasses.asdict(doc), [dataclasses.asdict(c) for c in chunks])


def single_and_split(
    tmp_path: Path, data: bytes, limits: ParseLimits | None = None, **settings: Any
) -> tuple[tuple[Any, ...], tuple[Any, ...], set[int]]:
    """The same bytes parsed in this process, and by the pool with a 4-page split threshold."""
    source = str(tmp_path / "manual.pdf")
    config = settings_for(tmp_path, pdf_split_pages=4, **settings)
    limits = limits or ParseLimits.from_settings(config)
    alone = outcome(lambda: parse_bytes(source, data, "doc", 60, 10, None, limits))
    parsers = Parsers(config)
    parsers.limits = limits
    parsers.plan([Item(source, POOL_MIN_BYTES, 0, lambda: data)])  # a PDF run: to the workers
    try:
        split = outcome(
            lambda: parsers.submit(source, (source, data, "doc", 60, 10, None)).result()
        )
    finally:
        parsers.close()
    return alone, split, parsers.span_pids


def test_a_split_parse_gives_the_same_pages_text_chunk_ids_and_warnings(tmp_path):
    alone, split, pids = single_and_split(tmp_path, long_pdf())
    assert pids and os.getpid() not in pids  # spans were read, in worker processes
    assert split == alone
    _, doc, chunks = split
    assert doc["pages"] == PAGES and doc["title"] == "Acme R2 service manual"
    # Running lines found across both spans are stripped; the contents page is not indexed.
    body = " ".join(c["text"] for c in chunks if c["page"] != 2)  # page 2: only running lines
    assert "Acme R2 service manual" not in body and "Page 13" not in body
    assert "Chapter 3" not in body and "Wheel 13 turns 91 times" in body
    assert [c["page"] for c in chunks] == sorted(c["page"] for c in chunks)
    assert {c["page"] for c in chunks} == set(range(1, PAGES + 1)) - {5}
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert "page 5: no extractable text (scanned image?)" in doc["warnings"]
    assert "page 2: table of contents (8 entries) not indexed" in doc["warnings"]


def test_a_real_two_column_paper_splits_into_the_same_chunks(tmp_path, corpus_dir):
    data = (corpus_dir / "academic_tracemonkey_2col.pdf").read_bytes()
    alone, split, pids = single_and_split(tmp_path, data)
    assert pids and split == alone and len(split[2]) > 20


def test_the_character_cap_cuts_a_split_parse_where_a_single_one_stops(tmp_path):
    limits = ParseLimits(max_chars=500)  # reached in the first span: the second is not needed
    alone, split, pids = single_and_split(tmp_path, long_pdf(), limits)
    assert pids and split == alone
    warnings = split[1]["warnings"]
    assert any(w.endswith("were not read: over RAG_MAX_CHARS already") for w in warnings)
    assert max(c["page"] for c in split[2]) < PAGES // 2


def test_the_page_cap_applies_to_a_split_parse(tmp_path):
    alone, split, pids = single_and_split(tmp_path, long_pdf(), ParseLimits(max_pages=10))
    assert pids and split == alone and split[1]["pages"] == 10
    assert "only the first 10 of its 24 pages were indexed (RAG_MAX_PAGES)" in split[1]["warnings"]


def test_an_encrypted_long_pdf_fails_with_the_same_error(tmp_path):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(long_pdf())))
    writer.encrypt("secret", "owner", algorithm="AES-128")
    alone, split, _ = single_and_split(tmp_path, to_bytes(writer))
    assert split == alone and split[1] == EncryptedDocument.__name__
    assert "a password is required" in split[2]


def test_a_truncated_long_pdf_fails_or_reads_as_the_single_parse_does(tmp_path):
    data = long_pdf()
    for cut in (len(data) // 2, len(data) - 300, 200):
        alone, split, _ = single_and_split(tmp_path, data[:cut])
        assert split == alone
    alone, split, _ = single_and_split(tmp_path, b"%PDF-1.4 garbage /Count 99")
    assert split == alone and split[1] == CorruptDocument.__name__


def test_a_bomb_on_a_page_of_the_second_span_fails_the_file_as_before(tmp_path):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(long_pdf(8))))
    writer.append(PdfReader(io.BytesIO(flate_bomb())))
    alone, split, _ = single_and_split(tmp_path, to_bytes(writer))
    assert split == alone and split[1] == DecompressionBomb.__name__


def test_a_split_parse_keeps_the_time_limit(tmp_path):
    parsers = Parsers(settings_for(tmp_path, parse_timeout=0.5, max_pages=10**6))
    data = many_pages(100_000)  # 20 MB: to the workers, and split (its /Count is in sight)
    try:
        with pytest.raises(ParseLimit, match=r"longer than 0.5 s \(RAG_PARSE_TIMEOUT\)"):
            parsers.submit("big.pdf", ("big.pdf", data, "d", 400, 50, None)).result()
    finally:
        parsers.close()


def test_short_pdfs_and_one_worker_are_not_split(tmp_path):
    _, split, pids = single_and_split(tmp_path, long_pdf(3))
    assert split[0] == "ok" and not pids
    _, split, pids = single_and_split(tmp_path, long_pdf(), parse_workers=1)
    assert split[0] == "ok" and not pids


@needs_tesseract
def test_a_scanned_page_in_a_split_parse_is_read_by_ocr_as_in_a_single_one(
    tmp_path, corpus_dir, monkeypatch
):
    monkeypatch.setenv("RAG_OCR", "auto")  # the workers start after this: they read it too
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(long_pdf(3))))
    writer.append(PdfReader(corpus_dir / "scanned_skew.pdf"))  # page 4, in the second span
    alone, split, pids = single_and_split(tmp_path, to_bytes(writer))
    assert pids and split == alone
    _, doc, chunks = split
    assert "page 4 read by OCR (Tesseract, eng+vie)" in doc["warnings"]
    assert {c["page"] for c in chunks if c["ocr"]} == {4}
    assert any("LinnSequencer" in c["text"] for c in chunks)


def test_the_split_threshold_is_a_setting():
    assert Settings.from_mapping({"RAG_PDF_SPLIT_PAGES": "0"}).validated().pdf_split_pages == 0
    with pytest.raises(ConfigError, match="RAG_PDF_SPLIT_PAGES='some'"):
        Settings.from_mapping({"RAG_PDF_SPLIT_PAGES": "some"}).validated()
