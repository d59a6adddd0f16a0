"""Loaders on real files: the shared PDF corpus, broken files, and text in many encodings."""

from __future__ import annotations

import hashlib
import io
import json
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from ingest import loaders, pdf
from ingest.loaders import load_bytes, load_file, strip_running_lines
from rag.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    UnsupportedFile,
)
from rag.filetypes import KINDS, kind_for
from rag.models import Document

# What pypdf really extracts from each corpus PDF (checked by hand): words a user would search for.
CORPUS_WORDS = {
    "academic_tracemonkey_2col.pdf": ["TraceMonkey", "Just-in-Time", "official"],
    "latex_multicolumn.pdf": ["Lorem ipsum", "Two-Column Document", "Vienna"],
    "book_freeculture_352p.pdf": ["Free Culture", "Lessig", "copyright"],
    "table_ca_warn_report.pdf": ["Notice Date", "Boeing Company", "Layoff"],
    "table_senate_expenditures.pdf": ["LEGISLATIVE CORRESPONDENT", "PAYEE NAME"],
    "minutes_fr_2023-06-20.pdf": ["séance", "démolition", "PROCÈS-VERBAL", "greffière"],
    "form_irs_f1040_prefilled.pdf": ["Internal Revenue Service", "Individual Income Tax Return"],
    "gdoc_export.pdf": ["Beautiful is better than ugly", "Readability counts"],
    "arabic_habibi.pdf": ["habibi", "حَبيبي"],
    "slides_pptx_churn_12p.pdf": ["Churn Analysis", "Customers"],
    "vi_report_nlp_parser.pdf": ["TIẾNG VIỆT", "phân tích cú pháp", "Kết luận", "Nguyễn"],
    "vi_thesis_template_latex.pdf": ["Giới thiệu", "Tổng quan", "nhận dạng", "Nha Trang"],
    "scanned_multipage_6p.pdf": ["Percentage"],
}
CORPUS_ERRORS = {
    "encrypted_password_openpassword.pdf": (EncryptedDocument, "a password is required"),
    "scanned_skew.pdf": (EmptyDocument, "no extractable text"),
}
SLOW = {"book_freeculture_352p.pdf"}  # about 5 s of pypdf work


def _corpus_params() -> list[object]:
    names = [*CORPUS_WORDS, *CORPUS_ERRORS]
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else pytest.param(name)
        for name in names
    ]


@pytest.fixture(autouse=True)
def no_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin what the text layer gives (RAG_OCR=off); tests/test_ocr.py covers OCR."""
    monkeypatch.setenv("RAG_OCR", "off")


@pytest.fixture(scope="module")
def manifest(corpus_dir: Path) -> dict[str, dict[str, object]]:
    entries = json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    return {entry["file"]: entry for entry in entries}


def test_every_corpus_pdf_has_an_expectation(manifest: dict[str, dict[str, object]]) -> None:
    assert set(manifest) == set(CORPUS_WORDS) | set(CORPUS_ERRORS)


@pytest.mark.parametrize("name", _corpus_params())
def test_corpus_pdf(corpus_dir: Path, manifest: dict[str, dict[str, object]], name: str) -> None:
    entry = manifest[name]
    if name in CORPUS_ERRORS:
        error, phrase = CORPUS_ERRORS[name]
        with pytest.raises(error, match=phrase):
            load_file(corpus_dir / name)
        return
    doc = load_file(corpus_dir / name)
    assert doc.kind == "pdf"
    assert doc.sha256 == entry["sha256"]
    assert doc.pages == entry["pages"]
    pages = [section.page or 0 for section in doc.sections]
    assert pages == sorted(set(pages)), "one section per page, in page order"
    assert all(1 <= page <= int(str(entry["pages"])) for page in pages)
    text = "\n".join(section.text for section in doc.sections)
    for word in CORPUS_WORDS[name]:
        assert word in text, f"{word!r} missing from {name}"
    assert len(text) >= 0.6 * int(str(entry["text_chars_pdftotext"]))
    assert unicodedata.is_normalized("NFC", text)


def test_scanned_multipage_names_the_empty_pages(corpus_dir: Path) -> None:
    # Only page 4 has a text layer (a chart's labels); the user must learn which pages were lost.
    doc = load_file(corpus_dir / "scanned_multipage_6p.pdf")
    assert [section.page for section in doc.sections] == [4]
    for page in (1, 2, 3, 5, 6):
        assert f"page {page}: no extractable text (scanned image?)" in doc.warnings


def test_scanned_single_page_suggests_ocr(corpus_dir: Path) -> None:
    with pytest.raises(EmptyDocument) as caught:
        load_file(corpus_dir / "scanned_skew.pdf")
    assert "no extractable text" in str(caught.value)
    assert "OCR" in str(caught.value)


def test_encrypted_pdf_message_is_plain(corpus_dir: Path) -> None:
    with pytest.raises(EncryptedDocument) as caught:
        load_file(corpus_dir / "encrypted_password_openpassword.pdf")
    assert str(caught.value) == (
        "encrypted PDF: a password is required (pypdf could not open it with an empty password)"
    )


def test_pdf_page_labels_and_title(corpus_dir: Path) -> None:
    thesis = load_file(corpus_dir / "vi_thesis_template_latex.pdf")
    labels = {section.page: section.page_label for section in thesis.sections}
    assert labels[1] == "1" and labels[3] == "i" and labels[4] == "ii"
    minutes = load_file(corpus_dir / "minutes_fr_2023-06-20.pdf")
    assert minutes.title is not None and minutes.title.startswith("Comité de démolition")
    assert minutes.pages == 2


def test_pypdf_warnings_become_document_warnings_not_stderr(
    corpus_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    doc = load_file(corpus_dir / "table_senate_expenditures.pdf")
    assert any("fonts could not be fully decoded" in warning for warning in doc.warnings)
    assert capfd.readouterr().err == ""


def test_running_page_numbers_are_stripped(corpus_dir: Path) -> None:
    doc = load_file(corpus_dir / "vi_report_nlp_parser.pdf")
    # Every page of this report starts with its page number; it must not start the text.
    assert all(not section.text.split("\n")[0].strip().isdigit() for section in doc.sections)


# --- broken PDFs ---------------------------------------------------------------------------------


def test_truncated_pdf_is_corrupt(corpus_dir: Path, tmp_path: Path) -> None:
    data = (corpus_dir / "academic_tracemonkey_2col.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDocument, match="damaged or truncated PDF"):
        load_file(path)


def test_random_bytes_named_pdf_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "random.pdf"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CorruptDocument, match="not a PDF"):
        load_file(path)
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(4096))
    with pytest.raises(CorruptDocument, match="damaged or truncated PDF"):
        load_file(path)


@pytest.mark.parametrize("suffix", [".pdf", ".txt", ".md", ".html"])
def test_zero_byte_file_is_empty(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(EmptyDocument, match="empty file"):
        load_file(path)


def test_parser_crash_becomes_corrupt_document(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pdf, "PdfReader", explode)
    with pytest.raises(CorruptDocument, match="RecursionError"):
        load_bytes("x.pdf", b"%PDF-1.4\n")
    monkeypatch.setattr(loaders, "markdown_sections", explode)
    with pytest.raises(CorruptDocument, match="could not parse this md file"):
        load_bytes("x.md", b"# hello")


# --- synthetic PDFs ------------------------------------------------------------------------------


def make_pdf(
    pages: list[list[str]],
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """A PDF with one Helvetica text line per string, top to bottom."""
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        ops += [f"({line.replace('(', '[').replace(')', ']')}) Tj T*" for line in lines]
        stream = DecodedStreamObject()
        stream.set_data("\n".join([*ops, "ET"]).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    if title:
        writer.add_metadata({"/Title": title})
    if user_password is not None:
        writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


FRUITS = ["apples", "bananas", "cherries", "dates", "figs", "grapes"]


def test_synthetic_pdf_headers_footers_and_hyphens() -> None:
    pages = [
        [
            "ACME Corp - Internal",
            f"This page is about {fruit}, an exam-",
            "ple of hyphenation.",
            str(n),
        ]
        for n, fruit in enumerate(FRUITS[:5], start=1)
    ]
    doc = load_bytes("report.pdf", make_pdf(pages, title="Quarterly report"))
    assert doc.title == "Quarterly report"
    assert doc.pages == 5
    assert [s.page for s in doc.sections] == [1, 2, 3, 4, 5]
    for fruit, section in zip(FRUITS, doc.sections, strict=False):
        assert section.text == f"This page is about {fruit}, an example of hyphenation."


def test_templated_pages_are_not_emptied() -> None:
    pages = [f"Form A\nField {n}" for n in range(6)]
    assert strip_running_lines(pages) == pages


def test_running_lines_kept_on_short_documents() -> None:
    pages = [["ACME Corp", f"page body {n}"] for n in range(3)]
    assert strip_running_lines(["\n".join(p) for p in pages]) == ["\n".join(p) for p in pages]


def test_strip_running_lines_on_page_texts() -> None:
    pages = [
        f"Chapter {n} heading\nAll about {fruit}.\nMore on {fruit}\nPage {n} of 10"
        for n, fruit in enumerate(FRUITS)
    ]
    pages[3] = "A page without the header\nbody\nPage 3 of 10"
    out = strip_running_lines(pages)
    assert out[0] == "All about apples.\nMore on apples"
    assert out[3] == "A page without the header\nbody"
    # Dates at the top of table pages are data, not running headers.
    tables = [f"0{n}/17/2015\nrow {n}\n0{n}/18/2015" for n in range(1, 6)]
    assert strip_running_lines(tables) == tables


def test_owner_password_only_pdf_loads() -> None:
    data = make_pdf([["Readable without a password."]], user_password="", owner_password="own")
    doc = load_bytes("locked.pdf", data)
    assert doc.sections[0].text == "Readable without a password."


def test_user_password_pdf_is_encrypted_document() -> None:
    data = make_pdf([["Secret."]], user_password="secret", owner_password="own")
    with pytest.raises(EncryptedDocument, match="a password is required"):
        load_bytes("locked.pdf", data)


def test_pdf_page_with_no_text_is_a_warning() -> None:
    doc = load_bytes("mixed.pdf", make_pdf([["first page"], [], ["third page"]]))
    assert [s.page for s in doc.sections] == [1, 3]
    assert doc.warnings == ["page 2: no extractable text (scanned image?)"]


# --- plain text ----------------------------------------------------------------------------------

VIETNAMESE = "Tiếng Việt là ngôn ngữ chính thức. Nghiên cứu này trình bày kết quả phân tích."
FRENCH = "Le café est très bon, à côté de l'école. Ça coûte 5 € — « déjà vu »."
GERMAN = "Grüße aus Köln, schöne Straße."
RUSSIAN = "Привет, как дела? Это тестовый текст."


def to_cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: a base letter from the code page plus combining tone marks."""
    out = b""
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], list(decomposed[1:])
        for i, mark in enumerate(marks):
            try:
                head = unicodedata.normalize("NFC", base + mark).encode("cp1258")
                out += head + "".join(marks[:i] + marks[i + 1 :]).encode("cp1258")
                break
            except UnicodeEncodeError:
                continue
        else:
            out += (base + "".join(marks)).encode("cp1258")
    return out


@pytest.mark.parametrize(
    ("label", "data", "expected"),
    [
        ("utf-8", VIETNAMESE.encode(), VIETNAMESE),
        ("utf-8 BOM", b"\xef\xbb\xbf" + VIETNAMESE.encode(), VIETNAMESE),
        ("utf-16 BOM", VIETNAMESE.encode("utf-16"), VIETNAMESE),
        ("utf-32 BOM", VIETNAMESE.encode("utf-32"), VIETNAMESE),
        ("cp1258", to_cp1258(VIETNAMESE), VIETNAMESE),
        ("cp1258 short", to_cp1258("Nghiên cứu khoa học."), "Nghiên cứu khoa học."),
        ("cp1252", FRENCH.encode("cp1252"), FRENCH),
        ("latin-1", GERMAN.encode("latin-1"), GERMAN),
        ("cp1251", RUSSIAN.encode("cp1251"), RUSSIAN),
    ],
)
def test_text_encodings(label: str, data: bytes, expected: str) -> None:
    doc = load_bytes(f"{label}.txt", data)
    assert [s.text for s in doc.sections] == [expected]
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.kind == "txt" and doc.sections[0].heading == ()


def test_text_is_nfc_without_controls_or_space_runs() -> None:
    raw = unicodedata.normalize("NFD", "Tiếng  Việt\u00a0\u00a0nghiên\x07 cứu\r\nline two\x00\f")
    assert raw != unicodedata.normalize("NFC", raw)
    doc = load_bytes("nfd.txt", raw.replace("\x00", "").encode())
    assert doc.sections[0].text == "Tiếng Việt nghiên cứu\nline two"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        b"\x7fELF\x02\x01\x01" + bytes(512),
        b"text with a NUL\x00 byte",
        b"ab\x01\x02\x03\x04\x05\x06cd" * 50,
    ],
)
def test_binary_content_with_a_text_name(data: bytes) -> None:
    with pytest.raises(UnsupportedFile, match="binary file, not text"):
        load_bytes("notes.txt", data)


def test_whitespace_only_text_is_empty() -> None:
    with pytest.raises(EmptyDocument, match="empty file"):
        load_bytes("blank.txt", b" \n\t\r\n  ")


def test_unsupported_suffix_and_kind_override() -> None:
    with pytest.raises(UnsupportedFile, match=r"\.odt"):
        load_bytes("report.odt", b"PK\x03\x04")
    with pytest.raises(UnsupportedFile):
        load_bytes("README", b"hello")
    doc = load_bytes("upload-without-name", b"# Title\nbody", kind="md")
    assert doc.kind == "md" and doc.title == "Title"
    assert issubclass(UnsupportedFile, DocumentError)
    assert kind_for("a.HTM") == "html" and kind_for("notes.markdown") == "md"


def test_load_file_uses_the_path_as_source(tmp_path: Path) -> None:
    path = tmp_path / "Notes.TXT"
    path.write_text("hello", encoding="utf-8")
    doc = load_file(path)
    assert isinstance(doc, Document) and doc.source == str(path) and doc.kind == "txt"


# --- Markdown ------------------------------------------------------------------------------------

MARKDOWN = """---
title: Front matter title
tags: [a, b]
---
Intro before any heading, see [the docs](https://example.com/docs) ![logo](logo.png).

# Guide

Welcome to the guide.

## Install

### Linux

Run this:

```bash
# not a heading
apt-get install foo
```

### Windows
Use the installer.

Usage
=====

Setext body.

Options
-------
Option body with `code` and <https://example.org>.
"""


def test_markdown_sections_and_headings() -> None:
    doc = load_bytes("guide.md", MARKDOWN.encode())
    assert doc.title == "Guide"
    got = [(s.heading, s.text) for s in doc.sections]
    assert got[0] == ((), "Intro before any heading, see the docs logo.")
    assert got[1] == (("Guide",), "Welcome to the guide.")
    assert got[2][0] == ("Guide", "Install", "Linux")
    assert "# not a heading" in got[2][1] and "apt-get install foo" in got[2][1]
    assert got[3] == (("Guide", "Install", "Windows"), "Use the installer.")
    assert got[4] == (("Usage",), "Setext body.")
    assert got[5] == (("Usage", "Options"), "Option body with `code` and https://example.org.")
    assert "title: Front matter title" not in "\n".join(s.text for s in doc.sections)


def test_markdown_title_falls_back_to_front_matter() -> None:
    doc = load_bytes("post.md", b"---\ntitle: 'My post'\n---\n## Part\ntext\n")
    assert doc.title == "My post"
    assert [(s.heading, s.text) for s in doc.sections] == [(("Part",), "text")]


def test_markdown_vietnamese_nfd_comes_out_nfc() -> None:
    text = unicodedata.normalize("NFD", "# Tiếng Việt\n\nNghiên cứu khoa học.\n")
    doc = load_bytes("vi.md", text.encode())
    assert doc.title == "Tiếng Việt"
    assert doc.sections[0].heading == ("Tiếng Việt",)
    assert doc.sections[0].text == "Nghiên cứu khoa học."


def test_markdown_with_only_headings_is_empty() -> None:
    with pytest.raises(EmptyDocument):
        load_bytes("empty.md", b"# Title\n\n## Sub\n")


# --- HTML ----------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Tiếng Việt &amp; nghiên cứu</title>
<style>body { color: red }</style>
<script>var html = "<h1>not a heading</h1>";</script></head>
<body>
<p>Intro &lt;para&gt; with&nbsp;entities: caf&eacute; &#7871; &#x1EC7;</p>
<noscript>Please enable JavaScript</noscript>
<h1>Main</h1><p>Under main.</p>
<h2>Sub <em>part</em></h2><ul><li>one</li><li>two</li></ul>
<template><p>hidden template</p></template>
<h2>Other</h2><table><tr><td>a</td><td>b</td></tr></table>
<h1>Second</h1>last words
</body></html>"""


def test_html_visible_text_and_headings() -> None:
    doc = load_bytes("page.html", HTML.encode())
    assert doc.title == "Tiếng Việt & nghiên cứu"
    got = {s.heading: s.text for s in doc.sections}
    assert got[()] == "Intro <para> with entities: café ế ệ"
    assert got[("Main",)] == "Under main."
    assert got[("Main", "Sub part")] == "- one\n- two"
    assert got[("Main", "Other")].split() == ["a", "b"]
    assert got[("Second",)] == "last words"
    everything = " ".join(got.values())
    for hidden in ("color", "not a heading", "JavaScript", "hidden template"):
        assert hidden not in everything


def test_html_declared_charset() -> None:
    page = '<html><head><meta charset="windows-1252"><title>Café</title></head><body><p>Déjà vu</p>'
    doc = load_bytes("legacy.htm", page.encode("cp1252"))
    assert doc.title == "Café" and doc.sections[0].text == "Déjà vu"


def test_html_without_charset_is_detected() -> None:
    page = "<html><body><h1>Tiếng Việt</h1><p>Nghiên cứu khoa học.</p></body></html>"
    doc = load_bytes("vi.html", page.encode("utf-16"))
    assert doc.title == "Tiếng Việt"
    assert doc.sections[0].text == "Nghiên cứu khoa học."


def test_html_line_breaks_and_self_closed_tags() -> None:
    doc = load_bytes("br.html", b"<p>one<br/>two<br>three</p><svg/><p>after the icon</p>")
    assert doc.sections[0].text == "one\ntwo\nthree\n\nafter the icon"


def test_stray_byte_in_utf8_text_keeps_utf8() -> None:
    data = VIETNAMESE.encode() + b" caf\xe9 " + VIETNAMESE.encode()
    text = load_bytes("mixed.txt", data).sections[0].text
    assert text.startswith(VIETNAMESE) and text.endswith(VIETNAMESE)


def test_markdown_crlf_line_endings() -> None:
    doc = load_bytes("win.md", b"# Title\r\n\r\nBody line.\r\n## Sub\r\nMore.\r\n")
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("Title",), "Body line."),
        (("Title", "Sub"), "More."),
    ]


def test_pdf_warnings_stay_with_their_own_file_across_threads(corpus_dir: Path) -> None:
    noisy = (corpus_dir / "table_senate_expenditures.pdf").read_bytes()
    quiet = (corpus_dir / "gdoc_export.pdf").read_bytes()
    jobs = [("noisy.pdf", noisy), ("quiet.pdf", quiet)] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        docs = list(pool.map(lambda job: load_bytes(*job), jobs))
    for doc in docs:
        has_font_warning = any(
            "fonts could not be fully decoded" in warning for warning in doc.warnings
        )
        assert has_font_warning == (doc.source == "noisy.pdf")


def test_every_accepted_kind_has_a_loader() -> None:
    from ingest.loaders import _PARSERS

    assert set(KINDS) == set(_PARSERS)
