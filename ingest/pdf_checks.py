"""PDF text that extracts but is wrong: XFA placeholders, line-number gutters, table-of-contents
leaders, and garbled text layers. Each check is cheap, so PDFs with good text pay almost nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from ingest.xfa import XFA_PLACEHOLDER, xfa_text
from rag.errors import EmptyDocument

# "1 THE COURT: ..." or a bare "12": a transcript's line number, never "1." or "1)" (lists).
_LINE_NUMBER = re.compile(r"(\d{1,3})(?:[ \t]+|$)")
_MIN_GUTTER = 10  # consecutive numbers from 1 down the page; court transcripts have 25-28
_GUTTER_SHARE = 0.6
# Dot leaders: "Heading ........ 10", ". . . . .", "……". On a form they lead to a box number.
_LEADER = re.compile(r"[ \t]*(?:(?:\.[ \t]){3,}\.|\.{5,}|…{3,})[ \t.]*")
# A table-of-contents entry: text, a leader, a page number ("2.2.1 Heading ..... 10", "iv").
_TOC_ENTRY = re.compile(r"^\S.*?(?:(?:\.[ \t]?){4,}|…{2,})[ \t]*(?:\d{1,4}|[ivxlcdm]{1,7})$", re.I)
_MIN_TOC_ENTRIES = 5
_MIN_TOC_SHARE = 0.5  # of a page's lines: below that it is a form or a list with leaders
# Garbled text: replacement glyphs, "(cid:12)" escapes, unassigned code points.
_BAD_GLYPHS = re.compile(r"\ufffd|\(cid:\d+\)|[\u0378\u0379\u0380-\u0383\ufff0-\ufff8]")
# Digits and letters alternating inside a word ("20t4", "l0l1"): OCR junk and bad font maps.
_DIGIT_LETTER = re.compile(r"\d[^\W\d_]+\d|[^\W\d_]\d+[^\W\d_]")
# Latin letters glued to Cyrillic, kana, Han or Hangul inside one word: a broken font map.
_LATIN = r"A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_OTHER = r"\u0400-\u04ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_SCRIPT_MIX = re.compile(rf"[{_LATIN}][{_OTHER}]|[{_OTHER}][{_LATIN}]")
_SYMBOLS = re.compile(r"[^\w\s.,;:!?'\"()\[\]/%&@#*+=<>$€£§°–—\-’‘“”…·•]")
_WORDLESS_LINE = re.compile(r"^[^\w\n]*$\n?", re.M)  # rules, crop marks, bullets: decoration
_MIN_CHARS = 40
_MAX_BAD_GLYPHS = 0.02
_MAX_ODD_WORDS = 0.25
_MAX_SYMBOLS = 0.2


def check_pages(reader: Callable[[], Any], texts: list[str], warnings: list[str]) -> set[int]:
    """Fix the page texts in place (XFA, gutters, TOC leaders); return the garbled pages.

    `reader` gives the PdfReader, only called for an XFA form (a split parse opens it then).
    """
    _read_xfa(reader, texts, warnings)
    suspect = set()
    for i, text in enumerate(texts):
        if not text:
            continue
        text = strip_gutter(text)
        text, entries = strip_toc(text)
        if entries:
            warnings.append(f"page {i + 1}: table of contents ({entries} entries) not indexed")
        texts[i] = text
        why = garbled(text)
        if why:
            warnings.append(f"page {i + 1}: the text layer looks garbled ({why})")
            suspect.add(i)
    return suspect


def _read_xfa(reader: Callable[[], Any], texts: list[str], warnings: list[str]) -> None:
    # Only a page that is nothing but the viewer placeholder is replaced: hybrid forms such as
    # the IRS 1040 carry their real text on the pages as well.
    placeholder = [i for i, text in enumerate(texts) if XFA_PLACEHOLDER in " ".join(text.split())]
    if not placeholder:
        return
    text = xfa_text(reader())
    if not text:
        why = "the content of this PDF is an XFA form that could not be read"
        if len(placeholder) == len(texts):
            raise EmptyDocument(f"{why} (open it in Adobe Reader and print it to a new PDF)")
        warnings.append(f"{why}: only its other pages were indexed")
    for i in placeholder:
        texts[i] = ""
    if text:
        texts[placeholder[0]] = text
        warnings.append("the content of this PDF is an XFA form: read from its XFA data")


def strip_gutter(text: str) -> str:
    """Drop a line-number column (1, 2, 3 ... down the page) from the start of the lines."""
    lines = text.split("\n")
    cuts: list[tuple[int, int, int]] = []  # (line, start, end) of each number in the column
    expect = 1
    for i, line in enumerate(lines):
        match = _LINE_NUMBER.match(line)
        number = int(match.group(1)) if match else 0
        if match and expect <= number <= expect + 2:  # one or two numbers lost to layout
            cuts.append((i, 0, match.end()))
            expect = number + 1
        elif expect > _MIN_GUTTER // 2 and _glued(line, expect):
            # The column's number glued to the end of a line ("In16"): pypdf joined them.
            cuts.append((i, len(line) - len(str(expect)), len(line)))
            expect += 1
    if not _is_gutter(lines, cuts):
        return text
    for i, start, end in reversed(cuts):
        lines[i] = lines[i][:start] + lines[i][end:]
    return "\n".join(line for line in lines if line.strip()).strip()


def _is_gutter(lines: list[str], cuts: list[tuple[int, int, int]]) -> bool:
    # A form's numbered boxes ("7 Wages, salaries ...") are a few lines of many; a gutter
    # numbers most lines, or comes out as one block of bare numbers (a column read last).
    if len(cuts) < _MIN_GUTTER:
        return False
    filled = sum(1 for line in lines if line.strip())
    bare = [i for i, start, end in cuts if start == 0 and not lines[i][end:].strip()]
    block = sum(1 for a, b in itertools.pairwise(bare) if b == a + 1)
    return len(cuts) >= _GUTTER_SHARE * filled or block >= _MIN_GUTTER - 2


def _glued(line: str, number: int) -> bool:
    digits = str(number)
    return line.endswith(digits) and len(line) > len(digits) and line[-len(digits) - 1].isalpha()


def strip_toc(text: str) -> tuple[str, int]:
    """Drop a contents page's entries and every dot leader; return how many entries went."""
    if not _LEADER.search(text):
        return text, 0  # the common case, decided without splitting the page
    lines = [line for line in text.split("\n") if line.strip()]
    entries = {i for i, line in enumerate(lines) if _TOC_ENTRY.match(line.strip())}
    if len(entries) < _MIN_TOC_ENTRIES or len(entries) < _MIN_TOC_SHARE * len(lines):
        entries = set()
    kept = [_LEADER.sub(" ", line).strip() for i, line in enumerate(lines) if i not in entries]
    return "\n".join(line for line in kept if line), len(entries)


def garbled(text: str) -> str | None:
    """Why a page's text looks like junk (bad glyphs, impossible words, symbol soup), or None."""
    chars = len(text) - text.count(" ") - text.count("\n")
    if chars < _MIN_CHARS:
        return None  # too little text to judge
    bad = len(_BAD_GLYPHS.findall(text))
    if bad > _MAX_BAD_GLYPHS * chars:
        return f"{bad} unreadable glyphs"
    words = len(text.split())
    odd = len(_DIGIT_LETTER.findall(text)) + len(_SCRIPT_MIX.findall(text))
    if words >= 10 and odd > _MAX_ODD_WORDS * words:
        return f"{round(100 * odd / words)}% of the words mix digits, letters or scripts"
    symbols = len(_SYMBOLS.findall(_WORDLESS_LINE.sub("", text)))
    if symbols > _MAX_SYMBOLS * chars:
        return f"{round(100 * symbols / chars)}% of the characters are stray symbols"
    return None
