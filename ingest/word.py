"""Word (.docx) files: body text under its heading styles, tables by row, footnotes at the end.

Kept: body paragraphs and tables in reading order, footnotes and endnotes (a final "Footnotes"
section). Dropped: comments and tracked-change notes (review talk, not the document's content),
page headers and footers (running furniture, like a PDF's).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from ingest.office import Outline, check_package, table_lines
from ingest.text import clean_text
from rag.errors import EmptyDocument
from rag.models import Document

_HEADING_STYLE = re.compile(r"heading\s*(\d)", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_NOTE_PARTS = ("/word/footnotes.xml", "/word/endnotes.xml")


def parse_docx(doc: Document, data: bytes) -> None:
    """Fill doc from a .docx file's bytes."""
    check_package(data, "docx")
    import docx  # here: runs without Word files never load python-docx

    document = docx.Document(io.BytesIO(data))
    outline = Outline()
    title = None
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):
            for line in table_lines(_table_rows(block)):
                outline.add(line)
            continue
        text = block.text.strip()
        style = _style_name(block)
        level = heading_level(block)
        if style == "Title" and title is None:
            title = text
        elif level and text:
            outline.heading(level, text)
        elif text:
            outline.add(("- " + text) if "List" in style else text)
    notes = _notes(document)
    if notes:
        outline.heading(1, "Footnotes")
        for note in notes:
            outline.add(note)
    doc.sections = outline.sections()
    doc.title = clean_text(document.core_properties.title or title or "") or None
    if not doc.sections:
        raise EmptyDocument("no text in the document")


def heading_level(paragraph: Any) -> int:
    """1-9 for a paragraph in a Heading style (or a style based on one), else 0."""
    style = getattr(paragraph, "style", None)
    for _ in range(4):  # custom styles are usually based on a built-in heading
        if style is None:
            return 0
        match = _HEADING_STYLE.fullmatch(style.name or "")
        if match:
            return int(match.group(1)) or 1
        style = style.base_style
    return 0


def _style_name(paragraph: Any) -> str:
    try:
        return str(paragraph.style.name or "")
    except (AttributeError, KeyError):  # a paragraph naming a style the file does not define
        return ""


def _table_rows(table: Any) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            # A merged cell is the same object in every grid column it spans: keep one copy.
            cells.append("" if id(cell._tc) in seen else cell.text)
            seen.add(id(cell._tc))
        rows.append(cells)
    return rows


def _notes(document: Any) -> list[str]:
    out = []
    for part in document.part.package.iter_parts():
        if str(part.partname) not in _NOTE_PARTS:
            continue
        root = ET.fromstring(part.blob)
        for note in root:
            # Separator "notes" (type separator / continuationSeparator) hold no text.
            if note.get(f"{_W}type") is None:
                text = "".join(t.text or "" for t in note.iter(f"{_W}t")).strip()
                if text:
                    out.append(text)
    return out
