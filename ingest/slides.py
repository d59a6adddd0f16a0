"""PowerPoint (.pptx) decks: one section per slide, its title as the heading, notes included."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from ingest.office import check_package, table_lines
from ingest.text import clean_text
from rag.errors import EmptyDocument
from rag.models import Document, Section


def parse_pptx(doc: Document, data: bytes) -> None:
    """Fill doc from a .pptx file's bytes: slide number as the page, speaker notes kept."""
    check_package(data, "pptx")
    import pptx  # here: runs without slide decks never load python-pptx

    deck = pptx.Presentation(io.BytesIO(data))
    slides = list(deck.slides)
    doc.pages = len(slides)
    for number, slide in enumerate(slides, 1):
        section = _slide_section(slide, number)
        if section is not None:
            doc.sections.append(section)
    doc.title = clean_text(deck.core_properties.title or "") or None
    if not doc.sections:
        raise EmptyDocument(f"no text on any of its {len(slides)} slides")


def _slide_section(slide: Any, number: int) -> Section | None:
    title_shape = slide.shapes.title
    title = clean_text(title_shape.text_frame.text) if title_shape is not None else ""
    lines = []
    for shape in _shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            lines.append(shape.text_frame.text)
        elif getattr(shape, "has_table", False) and shape.has_table:
            lines.extend(table_lines(_table_rows(shape.table)))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            lines.append("Notes: " + notes.text)
    text = clean_text("\n".join(lines)) or title  # a title-only slide is still findable
    if not text:
        return None
    return Section(text, page=number, heading=(title,) if title else ())


def _shapes(shapes: Any) -> Iterator[Any]:
    # Group shapes nest: their text is on the slide like any other.
    for shape in shapes:
        if hasattr(shape, "shapes"):
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _table_rows(table: Any) -> list[list[str]]:
    # A merged cell's spanned neighbours come back empty-handed (is_spanned): skip their text.
    return [["" if cell.is_spanned else cell.text for cell in row.cells] for row in table.rows]
