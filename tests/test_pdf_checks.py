"""PDF text that extracts but is wrong: XFA forms, line-number gutters, contents leaders, junk."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.loaders import load_bytes, load_file
from ingest.pdf_checks import garbled, strip_gutter, strip_toc
from rag.errors import EmptyDocument
from tests.pdf_fixtures import garbled_pdf, text_page_pdf, to_bytes, xfa_pdf

GOOD_TEXT = {
    "english": "The warranty covers the robot vacuum for two years from the date of purchase. "
    "Call support on weekdays between 9:00 and 17:00, or write to help@example.com.",
    "vietnamese": "Mỗi nhân viên toàn thời gian được hưởng 18 ngày nghỉ phép năm có lương. "
    "Nghỉ phép phải được quản lý trực tiếp phê duyệt trước ít nhất ba ngày làm việc.",
    "table": "DHAW20190001 05/03/2019 CITIBANK - TRAVEL CBA CARD 920.68 STAFF TRANSPORTATION "
    "AIRFARE FOR E JOHNSON KANSAS CITY TO WASHINGTON DC AND RETURN 903.90 STAFF",
}
JUNK_TEXT = {
    "ocr junk": "20t4 1IO, 221.68 l0l1 Rep0rt 2O1g t0ta1 5ub5idy c1a1m5 0f 1O0 f0r 3xp0rt5 "
    "b1l1 0n 12t3 v4lu3 1n 2O2O",
    "broken font map": "Th\ufffd w\ufffd\ufffdant\ufffd c\ufffdve\ufffd\ufffd the \ufffd\ufffdbot "
    "vac\ufffd\ufffdm f\ufffd\ufffd t\ufffdo ye\ufffd\ufffds from the d\ufffdte of purchase.",
    "script mix": "Tпe wаrrаnтy cоvеrs тпe rоbот vасuum fоr тwо yеаrs frоm тпe dатe оf purсhаse "
    "Cаll suppорт оп wеekdаys bетwееп пiпе апd fivе",
    "symbol soup": "!\"#$ %&'() *+,-./ 0123 <=>? @ABC ^_`{ |}~ ¤¦¨ª«¬ ®¯±² ³´µ¶ ¸¹º» ¼½¾¿ "
    "×÷ !\"#$ %&'() ^_`{ |}~ ¤¦¨ª«¬ ®¯±² ³´µ¶",
}


@pytest.fixture(autouse=True)
def no_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text layer as it is (tests/test_ocr.py re-reads pages)."""
    monkeypatch.setenv("RAG_OCR", "off")


@pytest.mark.parametrize("name", sorted(GOOD_TEXT))
def test_good_text_is_not_called_garbled(name: str) -> None:
    assert garbled(GOOD_TEXT[name]) is None


@pytest.mark.parametrize("name", sorted(JUNK_TEXT))
def test_junk_text_is_called_garbled(name: str) -> None:
    assert garbled(JUNK_TEXT[name])


def test_no_page_of_the_corpus_is_called_garbled(corpus_dir: Path) -> None:
    for path in sorted(corpus_dir.glob("*.pdf")):
        if path.name.startswith(("book_", "encrypted_", "scanned_skew")):
            continue  # the book is the slow test's; the other two have no text layer
        doc = load_file(path)
        assert not [w for w in doc.warnings if "garbled (" in w], path.name


def test_garbled_page_is_reported_per_page() -> None:
    doc = load_bytes("broken.pdf", garbled_pdf(["The warranty covers the robot vacuum."] * 4))
    assert len(doc.warnings) == 1
    assert re.fullmatch(
        r"page 1: the text layer looks garbled \(\d+ unreadable glyphs\)", doc.warnings[0]
    )


def test_transcript_line_numbers_are_dropped() -> None:
    lines = [f"{n} Q. And where were you on the night of the {n}th?" for n in range(1, 26)]
    text = load_bytes("transcript.pdf", to_bytes(text_page_pdf(lines))).sections[0].text
    assert text.split("\n")[0] == "Q. And where were you on the night of the 1th?"
    assert not re.search(r"^\d", text, re.M)
    # A numbered list is not a gutter.
    steps = "1. Unpack\n2. Charge\n3. Switch on\n4. Pair\n5. Map\n6. Clean\n7. Empty\n8. Store"
    numbered = "\n".join(f"{n} {w}" for n, w in enumerate(["Unpack", "Charge"], 1))
    assert strip_gutter(steps * 2) == steps * 2 and strip_gutter(numbered) == numbered


def test_printers_line_gutter_of_a_real_book_is_dropped(corpus_dir: Path) -> None:
    # Every page of this book has "1\n2\n...\n31" down its margin (a proof's line gutter).
    reader = PdfReader(corpus_dir / "book_freeculture_352p.pdf")
    excerpt = PdfWriter()
    for page in reader.pages[10:16]:
        excerpt.add_page(page)
    out = io.BytesIO()
    excerpt.write(out)
    doc = load_bytes("excerpt.pdf", out.getvalue())
    for section in doc.sections:
        bare = [line for line in section.text.split("\n") if line.strip().isdigit()]
        assert len(bare) < 3, (section.page, bare)


def test_contents_page_is_not_indexed_but_form_leaders_are_only_trimmed(corpus_dir: Path) -> None:
    thesis = load_file(corpus_dir / "vi_thesis_template_latex.pdf")
    assert "page 5: table of contents (14 entries) not indexed" in thesis.warnings
    form = load_file(corpus_dir / "form_irs_f1040_prefilled.pdf")
    text = "\n".join(section.text for section in form.sections)
    assert "7 Wages, salaries, tips, etc. Attach Form(s) W-2 7" in text  # the line, no dots
    assert not any("table of contents" in warning for warning in form.warnings)
    for doc in (thesis, form):
        assert not any(". . . ." in s.text or "....." in s.text for s in doc.sections)


def test_strip_toc_keeps_prose() -> None:
    prose = "He paused... and then... nothing.\nShe waited.... and left."
    assert strip_toc(prose) == (prose, 0)
    toc = "Contents\n" + "\n".join(f"{n}.1 Part {n} ........ {n * 7}" for n in range(1, 8))
    assert strip_toc(toc) == ("Contents", 7)


def test_xfa_form_is_read_from_its_xfa_data() -> None:
    doc = load_bytes("form.pdf", xfa_pdf())
    text = doc.sections[0].text
    assert "Please wait" not in text
    assert "Vendor registration form" in text and "company: Lotus Trading JSC" in text
    assert "the content of this PDF is an XFA form: read from its XFA data" in doc.warnings


def test_unreadable_xfa_form_says_so() -> None:
    with pytest.raises(EmptyDocument, match="an XFA form that could not be read"):
        load_bytes("form.pdf", xfa_pdf(with_data=False))
