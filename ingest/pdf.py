"""PDF pages to text with pypdf: bounded page walks, running headers, damage and bomb reports."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, LimitReachedError
from pypdf.generic import ArrayObject

from ingest.bounds import ParseLimits, declared_pages, first_pages
from ingest.ocr import PageOcr, apply_ocr
from ingest.pdf_checks import check_pages
from ingest.pdf_log import PDF_LOG, LogEntry, log_warnings
from ingest.text import clean_text
from rag.errors import (
    CorruptDocument,
    DecompressionBomb,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
)
from rag.models import Document, Section

_DIGITS = re.compile(r"\d+")
_EDGE_LINES = 2
_NEEDS_CRYPTOGRAPHY = (
    "encrypted PDF: decrypting it needs the 'cryptography' package, which is not installed"
)
BOMB = (
    "decompression bomb: a compressed stream in this PDF inflates past pypdf's safety limit "
    "(75 MB); refused (it is not a scan: OCR would not help)"
)


def parse_pdf(doc: Document, data: bytes, limits: ParseLimits) -> None:
    """Read every page of a PDF into doc.sections (the single-process path)."""
    with PDF_LOG.capture() as seen:
        reader, pages, cut = open_pages(data, limits.max_pages, doc.warnings)
        raw = _page_texts(pages, limits.max_chars, doc.warnings)
        suspect = check_pages(lambda: reader, raw, doc.warnings)  # XFA, gutters, TOC, garbled
        whole = len(pages) == len(raw) and not cut  # page_labels would walk every page
        labels = page_labels(reader, len(raw)) if whole else [None] * len(raw)
        doc.title = pdf_title(reader)
    finish_pdf(doc, data, raw, suspect, labels, list(seen.values()))


def open_pages(
    data: bytes, max_pages: int, warnings: list[str]
) -> tuple[PdfReader, list[PageObject], bool]:
    """The reader and its (first max_pages) pages; the errors of a PDF that cannot be opened."""
    if b"%PDF-" not in data[:1024]:
        raise CorruptDocument("not a PDF: the file does not start with a %PDF- header")
    reader = _open_pdf(data)
    pages, cut = _bounded_pages(reader, max_pages, warnings)
    return reader, pages, cut


def finish_pdf(
    doc: Document,
    data: bytes,
    raw: list[str],
    suspect: set[int],
    labels: Sequence[str | None],
    log: list[LogEntry],
    ocr_ready: Mapping[int, PageOcr] | None = None,
) -> None:
    """The whole-document steps after the page texts are read: OCR, running lines, sections."""
    doc.pages = len(raw)
    doc.warnings.extend(log_warnings(log))
    if not raw:
        raise EmptyDocument("the PDF has no pages")
    ocr = apply_ocr(data, raw, suspect, doc.warnings, ocr_ready)  # scanned and garbled pages
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
    with _reading_pdf():
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedDocument(
                "encrypted PDF: a password is required "
                "(pypdf could not open it with an empty password)"
            )
    return reader


@contextmanager
def _reading_pdf() -> Iterator[None]:
    """pypdf's failures while opening or walking a PDF, as this file's own error."""
    try:
        yield
    except DocumentError:
        raise
    except DependencyError as exc:
        raise EncryptedDocument(_NEEDS_CRYPTOGRAPHY) from exc
    except LimitReachedError as exc:
        raise DecompressionBomb(BOMB) from exc
    except Exception as exc:
        raise CorruptDocument(f"damaged or truncated PDF ({reason(exc)})") from exc


def _bounded_pages(
    reader: PdfReader, limit: int, warnings: list[str]
) -> tuple[list[PageObject], bool]:
    """All pages, or the first `limit` of a longer PDF (with a warning); True if cut."""
    with _reading_pdf():
        declared = declared_pages(reader)
        if declared <= limit:
            return list(reader.pages), False  # the page tree is where damaged files fail
        pages = first_pages(reader, limit)
    warnings.append(
        f"only the first {len(pages):,} of its {declared:,} pages were indexed (RAG_MAX_PAGES)"
    )
    return pages, True


def _page_texts(pages: list[PageObject], max_chars: int, warnings: list[str]) -> list[str]:
    texts: list[str] = []
    total = 0
    for i, page in enumerate(pages):
        if total > max_chars:  # cap_chars cuts the excess and says so: stop extracting now
            warnings.append(past_max_chars(i))
            break
        text = page_text(page, i, warnings)
        total += len(text)
        texts.append(text)
    return texts


def past_max_chars(index: int) -> str:
    """The warning for pages not read because RAG_MAX_CHARS was reached before page index+1."""
    return f"pages after {index:,} were not read: over RAG_MAX_CHARS already"


def page_text(page: PageObject, index: int, warnings: list[str]) -> str:
    """One page's cleaned text ("" if unreadable, with a warning); raises for the whole file."""
    try:
        text = clean_text(page.extract_text() or "", join_hyphens=True)
    except DependencyError as exc:
        raise EncryptedDocument(_NEEDS_CRYPTOGRAPHY) from exc
    except LimitReachedError as exc:
        raise DecompressionBomb(BOMB) from exc
    except Exception as exc:  # one bad page should not cost the other pages
        warnings.append(f"page {index + 1}: text extraction failed ({reason(exc)})")
        return ""
    if not text and _inflates_too_far(page):
        raise DecompressionBomb(BOMB)  # pypdf's extract_text hides the limit as "no text"
    if not text:
        warnings.append(f"page {index + 1}: no extractable text (scanned image?)")
    return text


def _inflates_too_far(page: PageObject) -> bool:
    """True if a content stream of this page hits pypdf's decompression limit."""
    try:
        contents = page.get("/Contents")
        found = contents.get_object() if contents is not None else None
        streams = found if isinstance(found, ArrayObject) else [found] if found else []
        for stream in streams:
            stream.get_object().get_data()
    except LimitReachedError:
        return True
    except Exception:  # other damage is reported by the page's own warning
        return False
    return False


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


def page_labels(reader: PdfReader, count: int) -> list[str | None]:
    try:
        labels = [str(label) for label in reader.page_labels]
    except Exception:  # a broken /PageLabels tree only costs the printed labels
        return [None] * count
    return list(labels) if len(labels) == count else [None] * count


def pdf_title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        return None
    return clean_text(str(title)) or None if title else None


def reason(exc: BaseException) -> str:
    """An exception as a short, one-line reason for a file's failure."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
