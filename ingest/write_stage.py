"""The pipeline's last stage: embedded documents to the knowledge base, in large write batches.

Chroma's embedded upsert keeps the GIL for its whole call (nothing else in the process runs
meanwhile) and costs less per vector in big calls, so the writer waits for WRITE_BATCH chunks,
or for the end of the input, or until the oldest waiting document has waited FLUSH_S (a slow
embedder still makes its documents searchable within a quarter of a second).
"""

from __future__ import annotations

import os
import queue
import threading
import time

from ingest.jobs import Job, version_of
from ingest.report import IngestReport
from ingest.sources import Item
from ingest.stages import Stages
from rag.kb import KnowledgeBase

WRITE_BATCH = 1024  # vectors per write: one catalog transaction pair and one Chroma upsert
FLUSH_S = 0.25  # the longest a finished document waits for its batch to fill


class WriteStage(Stages):
    """The writer thread's work, and the per-file outcomes every stage reports."""

    kb: KnowledgeBase
    collection: str
    report: IngestReport
    _report_lock: threading.Lock
    _done: queue.Queue[Job | None]

    def _write(self) -> None:
        pending: list[Job] = []
        size, oldest = 0, 0.0
        while True:
            wait = None if not pending else max(0.0, oldest + FLUSH_S - time.monotonic())
            try:
                job = self._done.get(timeout=wait)
            except queue.Empty:  # the oldest document has waited long enough
                self._commit(pending)
                pending, size = [], 0
                continue
            if job is not None:
                if not pending:
                    oldest = time.monotonic()
                pending.append(job)
                size += len(job.chunks)
            if pending and (job is None or size >= WRITE_BATCH):
                self._commit(pending)
                pending, size = [], 0
            if job is None:
                return

    def _commit(self, jobs: list[Job]) -> None:
        good = [j for j in jobs if j.error is None]
        for job in jobs:
            if job.error is not None:
                self._finish(job.item, "failed", job.error)
        if not good:
            return
        self.kb.write(self.collection, [version_of(j) for j in good])
        for job in good:
            self.progress.add(chunks_written=len(job.chunks))
            self._finish(job.item, "updated" if job.existed else "added", chunks=len(job.chunks))
            self._note_warnings(job)

    def _note_warnings(self, job: Job) -> None:
        warnings = list(job.record.warnings)
        try:
            st = os.stat(job.item.source)
            if job.item.mtime_ns and (st.st_size, st.st_mtime_ns) != (
                job.item.size,
                job.item.mtime_ns,
            ):
                warnings.append(
                    "changed while it was being ingested: the version read was "
                    "indexed; run again to pick up the change"
                )
        except OSError:
            pass
        if warnings:
            with self._report_lock:
                self.report.warnings[job.item.source] = warnings

    def _finish(self, item: Item, outcome: str, error: str = "", chunks: int = 0) -> None:
        with self._report_lock:
            if outcome == "failed":
                self.report.fail(item.source, error)
            else:
                getattr(self.report, outcome).append(item.source)
            self.report.chunks += chunks
        skipped = item.size if outcome in ("unchanged", "failed") else 0
        self.progress.add(files_done=1, bytes_done=item.size, bytes_skipped=skipped)
