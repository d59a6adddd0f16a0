"""One long PDF read by all the parse workers at once: each reads a span of pages, one merges.

The parent submits `read_part` for parts 0..n-1 together; each worker opens the PDF bytes itself
(pypdf readers cannot be pickled). A PDF of fewer than `split_pages` pages is parsed whole by
part 0, as before, and the other parts return None. Otherwise each part returns the cleaned
text of its pages (`Span`), and `finish_parts` merges them in page order and runs the steps
that need the whole document (the character cap, contents checks, OCR, running headers,
chunking) with the same code as the single-process parse: same pages, text, chunk ids, errors.
Pages without a text layer are OCR'd in the span's worker (the merge would OCR them anyway).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field

from pypdf import PageObject, PdfReader

from ingest.bounds import ParseLimits
from ingest.loaders import kind_of, run_parser
from ingest.ocr import PageOcr, ocr_ahead
from ingest.parse import chunk_loaded, parse_bytes, run_limited
from ingest.pdf import finish_pdf, open_pages, page_labels, page_text, past_max_chars, pdf_title
from ingest.pdf_checks import check_pages
from ingest.pdf_log import PDF_LOG, LogEntry
from rag.errors import DocumentError
from rag.models import Chunk, Document

Log = list[tuple[str, LogEntry]]  # pypdf warnings by kind, in the order they came


@dataclass
class Span:
    """The pages [start, stop) as one worker read them (fewer if stopped early)."""

    start: int
    stop: int
    texts: list[str]  # cleaned page texts, in page order
    warnings: list[list[str]]  # each page's own warnings
    fatal: DocumentError | None  # what stopped the span at page start + len(texts)
    log: Log
    pid: int  # the worker process that read it
    seconds: float
    ocr: dict[int, PageOcr] = field(default_factory=dict)  # its pages without a text layer
    # Part 0 only: what the single-process parse learns from the reader around the pages.
    pages: int = 0
    cut_warnings: list[str] = field(default_factory=list)
    labels: list[str | None] | None = None
    title: str | None = None
    tail_log: Log = field(default_factory=list)


Args = tuple[str, bytes, str, int, int, "int | None", ParseLimits]


def read_part(
    args: Args, part: int, parts: int, split_pages: int
) -> tuple[Document, list[Chunk]] | Span | None:
    """In a worker: the whole parse (part 0 of a short PDF), a Span, or None (nothing to do)."""
    limits = args[6]
    return run_limited(limits, limits.seconds, _read_part, args, part, parts, split_pages)


def _read_part(
    args: Args, part: int, parts: int, split_pages: int
) -> tuple[Document, list[Chunk]] | Span | None:
    started = time.monotonic()
    span = _read_span(args[1], args[6], part, parts, split_pages)
    if span is not None:
        span.seconds = time.monotonic() - started
        return span
    # Not split: part 0 parses as if alone, errors included (a file pypdf cannot open ends here).
    return parse_bytes(*args) if part == 0 else None


def _read_span(
    data: bytes, limits: ParseLimits, part: int, parts: int, split_pages: int
) -> Span | None:
    cut_warnings: list[str] = []
    with PDF_LOG.capture() as seen:
        try:
            reader, pages, cut = open_pages(data, limits.max_pages, cut_warnings)
        except DocumentError:
            return None  # part 0's whole parse reports it, worded as ever
        if len(pages) < max(split_pages, parts):
            return None
        start, stop = part * len(pages) // parts, (part + 1) * len(pages) // parts
        span = _extract(pages, start, stop, limits.max_chars)
        head = len(seen)
        span.ocr = ocr_ahead(data, span.texts, start)
        if part == 0:
            span.pages, span.cut_warnings = len(pages), cut_warnings
            span.labels = None if cut else page_labels(reader, len(pages))
            span.title = pdf_title(reader)
        log = list(seen.items())
    span.log, span.tail_log = log[:head], log[head:]
    return span


def _extract(pages: list[PageObject], start: int, stop: int, max_chars: int) -> Span:
    span = Span(start, stop, [], [], None, [], os.getpid(), 0.0)
    total = 0
    for i in range(start, stop):
        if total > max_chars:  # the merge cuts here or earlier: these pages are never needed
            break
        warnings: list[str] = []
        try:
            text = page_text(pages[i], i, warnings)
        except DocumentError as exc:  # the whole file's error, if the merge gets this far
            span.fatal = exc
            break
        span.texts.append(text)
        span.warnings.append(warnings)
        total += len(text)
    return span


def finish_parts(args: Args, spans: list[Span], seconds: float) -> tuple[Document, list[Chunk]]:
    """In a worker, with `seconds` of the time limit left: merge the spans, finish the parse."""
    return run_limited(args[6], seconds, _finish, args, spans)


def _finish(args: Args, spans: list[Span]) -> tuple[Document, list[Chunk]]:
    source, data, doc_id, max_tokens, overlap, room, limits = args
    sha = hashlib.sha256(data).hexdigest()
    doc = Document(source=source, kind=kind_of(source), sha256=sha, sections=[])
    run_parser(lambda doc, data, limits: _merge_into(doc, data, limits, spans), doc, data, limits)
    return doc, chunk_loaded(doc, doc_id, max_tokens, overlap, room, limits)


def _merge_into(doc: Document, data: bytes, limits: ParseLimits, spans: list[Span]) -> None:
    head = spans[0]
    doc.warnings.extend(head.cut_warnings)
    seen: dict[str, LogEntry] = {}
    for key, entry in [*head.log, *(e for s in spans[1:] for e in s.log), *head.tail_log]:
        seen.setdefault(key, entry)
    raw = merge(spans, limits.max_chars, doc.warnings)
    with PDF_LOG.capture() as more:  # the reader is opened again only for an XFA form

        def reader() -> PdfReader:
            return open_pages(data, limits.max_pages, [])[0]

        suspect = check_pages(reader, raw, doc.warnings)
    for key, entry in more.items():
        seen.setdefault(key, entry)
    whole = head.labels is not None and len(raw) == head.pages
    labels = head.labels if whole and head.labels is not None else [None] * len(raw)
    doc.title = head.title
    ready = {page: read for span in spans for page, read in span.ocr.items()}
    finish_pdf(doc, data, raw, suspect, labels, list(seen.values()), ready)


def merge(spans: list[Span], max_chars: int, warnings: list[str]) -> list[str]:
    """The spans' page texts in order, cut and warned about as the single-process walk does."""
    texts: list[str] = []
    total = 0
    for span in spans:
        for offset, text in enumerate(span.texts):
            if total > max_chars:
                warnings.append(past_max_chars(span.start + offset))
                return texts
            warnings.extend(span.warnings[offset])
            total += len(text)
            texts.append(text)
        stopped = span.start + len(span.texts)
        if stopped < span.stop:  # by the character cap (then it is reached here too) or an error
            if total > max_chars:
                warnings.append(past_max_chars(stopped))
                return texts
            if span.fatal is not None:
                raise span.fatal
            raise RuntimeError(f"pages {stopped + 1}-{span.stop} of the PDF were not read")
    return texts
