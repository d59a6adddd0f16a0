"""Where parsing runs: big PDFs in worker processes (pypdf is pure Python), the rest in-thread."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ingest.ocr import ocr_possible
from ingest.parse import parse_bytes
from ingest.sources import Item

POOL_MIN_PDF_BYTES = 1_000_000  # below this, starting worker processes costs more than it saves


class Parsers:
    """Runs parse_bytes now, or in a process pool for PDFs when a run has enough of them."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.use_pool = False
        self._pool: ProcessPoolExecutor | None = None

    def plan(self, items: list[Item]) -> None:
        """Decide from the run's inputs whether a process pool is worth starting."""
        pdf_bytes = sum(i.size for i in items if i.source.lower().endswith(".pdf"))
        self.use_pool = self.workers > 1 and pdf_bytes >= POOL_MIN_PDF_BYTES
        # Any PDF may hold scanned pages: OCR must not run in the loader thread.
        self.use_pool = self.use_pool or (self.workers > 1 and pdf_bytes > 0 and ocr_possible())

    def submit(self, source: str, args: tuple[Any, ...]) -> Future[Any]:
        """Start parsing; the future holds the (document, chunks) or the error."""
        if self.use_pool and source.lower().endswith(".pdf"):
            try:
                return self._executor().submit(parse_bytes, *args)
            except BrokenProcessPool:  # a worker died on an earlier file: start afresh
                self._pool = None
                return self._executor().submit(parse_bytes, *args)
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

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: this process has threads (ours, Chroma's) whose locks fork copies.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool
