"""Turn a file's bytes into a Document: PDF (pypdf), Markdown, HTML, plain text, Office, CSV."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path, PurePath

from pypdf.errors import LimitReachedError

from ingest.bounds import ParseLimits, cap_chars
from ingest.pdf import BOMB, parse_pdf, reason
from ingest.pdf import strip_running_lines as strip_running_lines  # a public name here too
from ingest.sheets import parse_csv, parse_xlsx
from ingest.slides import parse_pptx
from ingest.text import HtmlText, clean_text, decode_text, html_charset, markdown_sections
from ingest.word import parse_docx
from rag.errors import (
    CorruptDocument,
    DecompressionBomb,
    DocumentError,
    EmptyDocument,
    UnsupportedFile,
)
from rag.filetypes import kind_for, unsupported_message
from rag.models import Document, Section


def load_file(path: Path) -> Document:
    """Read a file and parse it with load_bytes."""
    return load_bytes(str(path), path.read_bytes())


def load_bytes(
    source: str, data: bytes, kind: str | None = None, limits: ParseLimits | None = None
) -> Document:
    """Parse a file's bytes into a Document, or raise a DocumentError saying why not."""
    limits = limits or ParseLimits()
    kind = kind or kind_of(source)
    parse = _PARSERS.get(kind)
    if parse is None:
        raise UnsupportedFile(f"unsupported file type {kind!r}")
    if not data:
        raise EmptyDocument("empty file")
    doc = Document(source=source, kind=kind, sha256=hashlib.sha256(data).hexdigest(), sections=[])
    run_parser(parse, doc, data, limits)
    return doc


def run_parser(
    parse: Callable[[Document, bytes, ParseLimits], None],
    doc: Document,
    data: bytes,
    limits: ParseLimits,
) -> None:
    """parse(doc, data, limits), its unexpected failures as the file's error, then the char cap."""
    try:
        parse(doc, data, limits)
    except (DocumentError, MemoryError):  # a worker's memory limit is reported by the worker
        raise
    except LimitReachedError as exc:
        raise DecompressionBomb(BOMB) from exc
    except Exception as exc:  # a parser choking on one file must not stop the whole run
        raise CorruptDocument(f"could not parse this {doc.kind} file ({reason(exc)})") from exc
    cap_chars(doc, limits.max_chars)


def kind_of(source: str) -> str:
    """The loader kind for a file name, from its suffix; UnsupportedFile if there is none."""
    kind = kind_for(source)
    if kind is None:
        raise UnsupportedFile(unsupported_message(PurePath(source).suffix.lower()))
    return kind


# --- plain text and Markdown --------------------------------------------------------------------


def _parse_txt(doc: Document, data: bytes, limits: ParseLimits) -> None:
    text = clean_text(decode_text(data))
    if not text:
        raise EmptyDocument("empty file")
    doc.sections = [Section(text)]


def _parse_md(doc: Document, data: bytes, limits: ParseLimits) -> None:
    parts, title = markdown_sections(decode_text(data))
    doc.sections = _sections(parts)
    doc.title = clean_text(title) if title else None
    if not doc.sections:
        raise EmptyDocument("empty file" if not data.strip() else "no text outside the markup")


def _sections(parts: list[tuple[tuple[str, ...], str]]) -> list[Section]:
    out = []
    for heading, body in parts:
        text = clean_text(body)
        if text:
            out.append(Section(text, heading=tuple(clean_text(h) for h in heading)))
    return out


# --- HTML ---------------------------------------------------------------------------------------


def _parse_html(doc: Document, data: bytes, limits: ParseLimits) -> None:
    parser = HtmlText()
    parser.feed(decode_text(data, declared=html_charset(data)))
    parser.finish()
    doc.sections = _sections(parser.parts)
    doc.title = clean_text("".join(parser.title)) or parser.first_h1
    if not doc.sections:
        raise EmptyDocument("empty file" if not data.strip() else "no visible text in the page")


def _capped_after(
    parse: Callable[[Document, bytes], None],
) -> Callable[[Document, bytes, ParseLimits], None]:
    """An Office parser: its own row bounds inside, the character cap applied by load_bytes."""
    return lambda doc, data, limits: parse(doc, data)


_PARSERS: dict[str, Callable[[Document, bytes, ParseLimits], None]] = {
    "pdf": parse_pdf,
    "md": _parse_md,
    "txt": _parse_txt,
    "html": _parse_html,
    "docx": _capped_after(parse_docx),  # ingest/word.py
    "pptx": _capped_after(parse_pptx),  # ingest/slides.py
    "xlsx": _capped_after(parse_xlsx),  # ingest/sheets.py
    "csv": _capped_after(parse_csv),
}
