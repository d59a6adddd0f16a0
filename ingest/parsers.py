"""Where parsing runs: big files in worker processes, bounded in time and memory; small in-thread.

pypdf is pure Python, so worker processes let PDFs parse in parallel; they also isolate the
service from a hostile file: a worker has an address-space limit (RAG_PARSE_MEMORY_MB) and a
timer (RAG_PARSE_TIMEOUT), and a worker that dies fails only its file.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ingest.bounds import ParseLimits
from ingest.ocr import ocr_possible
from ingest.parse import parse_bytes, parse_in_worker, start_worker
from ingest.sources import Item
from rag.config import Settings

POOL_MIN_BYTES = 1_000_000  # below this, starting worker processes costs more than it saves


class Parsers:
    """Runs parse_bytes now, or in a process pool for big files and for runs with many PDFs."""

    def __init__(self, settings: Settings) -> None:
        self.workers = settings.parse_workers
        self.limits = ParseLimits.from_settings(settings)
        self.pdfs_in_pool = False
        self.ocr = False
        self._pool: ProcessPoolExecutor | None = None

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
            try:
                return self._executor().submit(parse_in_worker, *args)
            except BrokenProcessPool:  # a worker died on an earlier file: start afresh
                self._pool = None
                return self._executor().submit(parse_in_worker, *args)
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
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=start_worker,
                initargs=(self.limits.memory_mb,),
            )
        return self._pool


def _may_need_ocr(data: bytes) -> bool:
    """A PDF with images and no font in sight is likely a scan: it goes to a worker for OCR.

    Cheap, from the raw bytes: image XObjects are streams, which are never hidden in compressed
    object streams, while font dictionaries may be (then the file is treated as a scan too). Other
    PDFs parse in the loader thread, so a small text PDF does not pay for starting a worker.
    """
    return b"/Image" in data and b"/Font" not in data
