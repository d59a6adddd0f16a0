"""Turn a file's bytes into a Document: PDF (pypdf), Markdown, HTML, plain text, Office, CSV."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from pypdf import PdfReader
from pypdf.errors import DependencyError

from ingest.ocr import apply_ocr
from ingest.pdf_checks import check_pages
from ingest.sheets import parse_csv, parse_xlsx
from ingest.slides import parse_pptx
from ingest.text import HtmlText, clean_text, decode_text, html_charset, markdown_sections
from ingest.word import parse_docx
from rag.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    UnsupportedFile,
)
from rag.filetypes import kind_for, unsupported_message
from rag.models import Document, Section

_DIGITS = re.compile(r"\d+")
_EDGE_LINES = 2
# pypdf notes these on healthy files (the IRS 1040 form, for one): not worth a user's attention.
_BENIGN = ("parsing for Object Streams", "Multiple definitions in dictionary")
_NEEDS_CRYPTOGRAPHY = (
    "encrypted PDF: decrypting it needs the 'cryptography' package, which is not installed"
)


def load_file(path: Path) -> Document:
    """Read a file and parse it with load_bytes."""
    return load_bytes(str(path), path.read_bytes())


def load_bytes(source: str, data: bytes, kind: str | None = None) -> Document:
    """Parse a file's bytes into a Document, or raise a DocumentError saying why not."""
    kind = kind or kind_of(source)
    parse = _PARSERS.get(kind)
    if parse is None:
        raise UnsupportedFile(f"unsupported file type {kind!r}")
    if not data:
        raise EmptyDocument("empty file")
    doc = Document(source=source, kind=kind, sha256=hashlib.sha256(data).hexdigest(), sections=[])
    try:
        parse(doc, data)
    except DocumentError:
        raise
    except Exception as exc:  # a parser choking on one file must not stop the whole run
        raise CorruptDocument(f"could not parse this {kind} file ({_reason(exc)})") from exc
    return doc


def kind_of(source: str) -> str:
    """The loader kind for a file name, from its suffix; UnsupportedFile if there is none."""
    kind = kind_for(source)
    if kind is None:
        raise UnsupportedFile(unsupported_message(PurePath(source).suffix.lower()))
    return kind


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


# --- plain text and Markdown --------------------------------------------------------------------


def _parse_txt(doc: Document, data: bytes) -> None:
    text = clean_text(decode_text(data))
    if not text:
        raise EmptyDocument("empty file")
    doc.sections = [Section(text)]


def _parse_md(doc: Document, data: bytes) -> None:
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


# --- PDF ----------------------------------------------------------------------------------------


class _PdfLog(logging.Handler):
    """Collects pypdf's warnings for the file this thread is loading, instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        seen = getattr(self._local, "seen", None)
        if seen is not None:
            seen.setdefault(str(record.msg)[:200], record)  # one per kind: repeats add nothing

    @contextmanager
    def capture(self) -> Iterator[dict[str, logging.LogRecord]]:
        self._local.seen = {}
        try:
            yield self._local.seen
        finally:
            self._local.seen = None


_PDF_LOG = _PdfLog()
logging.getLogger("pypdf").addHandler(_PDF_LOG)
# Without this, an app that configures root logging would still print every pypdf warning.
logging.getLogger("pypdf").propagate = False


def _parse_pdf(doc: Document, data: bytes) -> None:
    if b"%PDF-" not in data[:1024]:
        raise CorruptDocument("not a PDF: the file does not start with a %PDF- header")
    with _PDF_LOG.capture() as seen:
        reader = _open_pdf(data)
        raw = _page_texts(reader, doc.warnings)
        suspect = check_pages(reader, raw, doc.warnings)  # XFA, gutters, TOC leaders, garbled
        labels = _page_labels(reader, len(raw))
        doc.title = _pdf_title(reader)
    doc.pages = len(raw)
    doc.warnings.extend(_log_warnings(list(seen.values())))
    if not raw:
        raise EmptyDocument("the PDF has no pages")
    ocr = apply_ocr(data, raw, suspect, doc.warnings)  # scanned and garbled pages, by Tesseract
    texts = strip_running_lines(raw)
    doc.sections = [
        Section(text, page=i + 1, page_label=labels[i], ocr=i in ocr)
        for i, text in enumerate(texts)
        if text
    ]
    if not doc.sections:
        where = f"any of its {len(raw)} pages" if len(raw) > 1 else "its only page"
        raise EmptyDocument(
            f"no extractable text in {where} (scanned images? run OCR first, e.g. ocrmypdf)"
        )


def _open_pdf(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedDocument(
                "encrypted PDF: a password is required "
                "(pypdf could not open it with an empty password)"
            )
        len(reader.pages)  # the page tree is where truncated files usually fail
    except DependencyError as exc:
        raise EncryptedDocument(_NEEDS_CRYPTOGRAPHY) from exc
    except DocumentError:
        raise
    except Exception as exc:
        raise CorruptDocument(f"damaged or truncated PDF ({_reason(exc)})") from exc
    return reader


def _page_texts(reader: PdfReader, warnings: list[str]) -> list[str]:
    texts = []
    for i, page in enumerate(reader.pages):
        try:
            text = clean_text(page.extract_text() or "", join_hyphens=True)
        except DependencyError as exc:
            raise EncryptedDocument(_NEEDS_CRYPTOGRAPHY) from exc
        except Exception as exc:  # one bad page should not cost the other pages
            warnings.append(f"page {i + 1}: text extraction failed ({_reason(exc)})")
            texts.append("")
            continue
        if not text:
            warnings.append(f"page {i + 1}: no extractable text (scanned image?)")
        texts.append(text)
    return texts


def strip_running_lines(pages: list[str], min_pages: int = 4) -> list[str]:
    """Drop running headers/footers: edge lines that repeat (digits ignored) across pages."""
    if len(pages) < min_pages:
        return pages
    split = [page.split("\n") for page in pages]
    zones = [_edge_zones(lines) for lines in split]
    running = _running_keys(split, zones)
    out = []
    for page, lines, zone in zip(pages, split, zones, strict=True):
        drop = set()
        for where, indexes in zone:
            # Peel from the edge inwards: a repeated line below kept text is content.
            for i in indexes:
                if (where, _line_key(lines[i])) not in running:
                    break
                drop.add(i)
        kept = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip()
        # A page made only of "running" lines is more likely templated content: keep it.
        out.append(kept or page)
    return out


def _edge_zones(lines: list[str]) -> list[tuple[str, list[int]]]:
    # Two lines at each edge, outermost first: footers often come in pairs ("Page 5" + an id).
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return [("top", filled[:_EDGE_LINES]), ("bottom", filled[::-1][:_EDGE_LINES])]


def _running_keys(
    split: list[list[str]], zones: list[list[tuple[str, list[int]]]]
) -> set[tuple[str, str]]:
    """Keys on >= 50% of all pages, or >= 80% of the odd or of the even pages (book spreads)."""
    total: Counter[tuple[str, str]] = Counter()
    by_parity: list[Counter[tuple[str, str]]] = [Counter(), Counter()]
    for number, (lines, zone) in enumerate(zip(split, zones, strict=True)):
        keys = {(where, _line_key(lines[i])) for where, idx in zone for i in idx}
        keys = {key for key in keys if _could_be_running(key[1])}
        total.update(keys)
        by_parity[number % 2].update(keys)
    sizes = [(len(split) + 1) // 2, len(split) // 2]
    running = {key for key, count in total.items() if count * 2 >= len(split)}
    for parity, counts in enumerate(by_parity):
        running |= {key for key, count in counts.items() if count * 5 >= sizes[parity] * 4}
    return running


def _line_key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.split())).casefold()


def _could_be_running(key: str) -> bool:
    # Digit-only lines are page numbers ("12", "- 12 -", "3 / 10"), not dates or table rows.
    return any(ch.isalpha() for ch in key) or (key.count("#") <= 2 and len(key) <= 12)


def _page_labels(reader: PdfReader, count: int) -> list[str | None]:
    try:
        labels = [str(label) for label in reader.page_labels]
    except Exception:  # a broken /PageLabels tree only costs the printed labels
        return [None] * count
    return list(labels) if len(labels) == count else [None] * count


def _pdf_title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        return None
    return clean_text(str(title)) or None if title else None


def _log_warnings(records: list[logging.LogRecord]) -> list[str]:
    out = []
    fonts = [r for r in records if "fontTools" in str(r.msg)]
    others = [r for r in records if not str(r.msg).startswith(_BENIGN) and r not in fonts]
    if fonts:
        # We do not install fontTools: on the corpus it turned a readable table into garbage.
        out.append("some embedded fonts could not be fully decoded: their text may be garbled")
    if others:
        out.append(
            f"pypdf worked around {len(others)} kind(s) of damage in this PDF "
            f"(e.g. {_message(others[0])!r}): some text may be missing"
        )
    return out


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a malformed log call must not break loading
        text = str(record.msg)
    return " ".join(text.split())[:120]


# --- HTML ---------------------------------------------------------------------------------------


def _parse_html(doc: Document, data: bytes) -> None:
    parser = HtmlText()
    parser.feed(decode_text(data, declared=html_charset(data)))
    parser.finish()
    doc.sections = _sections(parser.parts)
    doc.title = clean_text("".join(parser.title)) or parser.first_h1
    if not doc.sections:
        raise EmptyDocument("empty file" if not data.strip() else "no visible text in the page")


_PARSERS: dict[str, Callable[[Document, bytes], None]] = {
    "pdf": _parse_pdf,
    "md": _parse_md,
    "txt": _parse_txt,
    "html": _parse_html,
    "docx": parse_docx,  # ingest/word.py
    "pptx": parse_pptx,  # ingest/slides.py
    "xlsx": parse_xlsx,  # ingest/sheets.py
    "csv": parse_csv,
}
