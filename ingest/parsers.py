"""Where parsing runs: big files in worker processes, bounded in time and memory; small in-thread.

pypdf is pure Python, so worker processes let PDFs parse in parallel; they also isolate the
service from a hostile file: a worker has an address-space limit (RAG_PARSE_MEMORY_MB) and a
timer (RAG_PARSE_TIMEOUT), and a worker that dies fails only its file.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ingest.bounds import ParseLimits
from ingest.ocr import ocr_possible
from ingest.parse import parse_bytes, parse_in_worker, start_worker
from ingest.pdf_pages import Span, finish_parts, read_part
from ingest.sources import Item
from rag.config import Settings

POOL_MIN_BYTES = 1_000_000  # below this, starting worker processes costs more than it saves
_COUNT = re.compile(rb"/Count\s+(\d+)")


class Parsers:
    """Runs parse_bytes now, or in a process pool for big files and for runs with many PDFs."""

    def __init__(self, settings: Settings) -> None:
        self.workers = settings.parse_workers
        self.limits = ParseLimits.from_settings(settings)
        self.split_pages = settings.pdf_split_pages if self.workers > 1 else 0
        self.pdfs_in_pool = False
        self.ocr = False
        self.span_pids: set[int] = set()  # the workers that read spans of split PDFs (tests)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def plan(self, items: list[Item]) -> None:
        """Decide from the run's inputs whether its small PDFs are worth sending to workers."""
        pdf_bytes = sum(i.size for i in items if i.source.lower().endswith(".pdf"))
        self.pdfs_in_pool = self.workers > 1 and pdf_bytes >= POOL_MIN_BYTES
        self.ocr = self.workers > 1 and pdf_bytes > 0 and ocr_possible()

    def submit(self, source: str, args: tuple[Any, ...]) -> Future[Any]:
        """Start parsing; the future holds the (document, chunks) or the error."""
        is_pdf = source.lower().endswith(".pdf")
        args = (*args, self.limits)
        in_pool = self.pdfs_in_pool or (self.ocr and _may_need_ocr(args[1]))
        if len(args[1]) >= POOL_MIN_BYTES or (in_pool and is_pdf):
            # A scan is split from 2 pages: OCR takes seconds a page, starting a part does not.
            scan = self.ocr and _may_need_ocr(args[1])
            split = min(self.split_pages, 2) if scan else self.split_pages
            if is_pdf and split and _may_have_pages(args[1], split):
                return self._split(args, split)
            return self._submit(parse_in_worker, *args)
        future: Future[Any] = Future()
        try:
            future.set_result(parse_bytes(*args))
        except Exception as exc:  # delivered like a worker's error, through the future
            future.set_exception(exc)
        return future

    def close(self) -> None:
        """Stop the worker processes (pending parses are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:  # the loader and the threads merging split PDFs both submit
            try:
                return self._executor().submit(work, *args)
            except BrokenProcessPool:  # a worker died on an earlier file: start afresh
                self._pool = None
                return self._executor().submit(work, *args)

    def _split(self, args: tuple[Any, ...], pages: int) -> Future[Any]:
        """A PDF that may have `pages` pages or more: each worker reads a span; one merges."""
        parts = [
            self._submit(read_part, args, part, self.workers, pages) for part in range(self.workers)
        ]
        future: Future[Any] = Future()
        threading.Thread(
            target=self._merge, args=(future, args, parts), name="pdf-split", daemon=True
        ).start()
        return future

    def _merge(self, future: Future[Any], args: tuple[Any, ...], parts: list[Future[Any]]) -> None:
        try:
            first = parts[0].result()
            if not isinstance(first, Span):  # a short PDF: part 0 parsed it whole
                future.set_result(first)
                return
            spans = [first, *(part.result() for part in parts[1:])]
            self.span_pids |= {span.pid for span in spans}
            # The spans ran side by side: the slowest is what the file has cost so far.
            left = self.limits.seconds - max(span.seconds for span in spans)
            future.set_result(self._submit(finish_parts, args, spans, left).result())
        except BaseException as exc:  # the file's error, delivered as a worker's would be
            future.set_exception(exc)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: this process has threads (ours, Chroma's) whose locks fork copies.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=start_worker,
                initargs=(self.limits.memory_mb,),
            )
        return self._pool


def _may_have_pages(data: bytes, pages: int) -> bool:
    """False when the page tree in plain sight counts fewer pages: then no split is tried.

    Cheap: the largest /Count in the raw bytes (outlines have one too, which only costs a try);
    a page tree hidden in compressed object streams shows none, and the workers decide.
    """
    counts = [int(found) for found in _COUNT.findall(data)]
    return not counts or max(counts) >= pages


def _may_need_ocr(data: bytes) -> bool:
    """A PDF with images and no font in sight is likely a scan: it goes to a worker for OCR.

    Cheap, from the raw bytes: image XObjects are streams, which are never hidden in compressed
    object streams, while font dictionaries may be (then the file is treated as a scan too). Other
    PDFs parse in the loader thread, so a small text PDF does not pay for starting a worker.
    """
    return b"/Image" in data and b"/Font" not in data
