"""discover → hash → skip unchanged → load → chunk → embed (batched, pipelined) → write.

Four stages run at once, joined by bounded queues, so that parsing, chunking and Chroma writes
overlap with embedding and the embedder is never idle waiting on us:
  loader (1 thread) → batcher (1) → embedders (`embed_concurrency` per host) → writer (1,
  ingest.write_stage). Batches span documents, so a folder of small files still sends full
  batches.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import numpy as np

from ingest import chunking
from ingest.jobs import Job, Parsing, embed_text
from ingest.oversize import embed_one_by_one
from ingest.parsers import Parsers
from ingest.report import IngestReport, Progress
from ingest.sources import Item, doc_id_for
from ingest.write_stage import WriteStage
from rag.catalog_rows import now_iso
from rag.errors import DocumentError, InputTooLong, RagError
from rag.kb import KnowledgeBase
from rag.models import Chunk, Document, DocumentRecord

END = None


class Pipeline(WriteStage):
    """One ingest run over a list of items."""

    def __init__(
        self,
        kb: KnowledgeBase,
        collection: str,
        report: IngestReport,
        on_progress: Callable[[Progress], None] | None = None,
        rechunk: bool | None = False,
    ) -> None:
        self.kb = kb
        # True: re-chunk every document named; None: only if the collection's chunking changed;
        # False: a changed chunking stops the run (ChunkingChanged) instead of mixing two.
        self.rechunk = rechunk
        self.collection = collection
        self.report = report
        self.on_progress = on_progress
        self.progress = Progress()
        self.settings = kb.settings
        super().__init__()
        self._report_lock = threading.Lock()
        self._budget: tuple[int, int | None] = (self.settings.chunk_tokens, None)
        self._known: dict[str, tuple[str, int, int]] = {}
        self._parsers = Parsers(self.settings)
        self._window = 2 * self.settings.parse_workers  # parses in flight ahead of the embedder
        # RAG_EMBED_CONCURRENCY requests per Ollama host: the host pool spreads them by load.
        self._embedders = self.settings.embed_concurrency * len(self.settings.hosts)
        self._loaded: queue.Queue[Job | None] = queue.Queue(maxsize=8)
        self._batches: queue.Queue[list[tuple[Job, int]] | None] = queue.Queue(
            maxsize=2 * self._embedders
        )
        self._done: queue.Queue[Job | None] = queue.Queue()

    def run(self, items: list[Item]) -> IngestReport:
        """Run all stages to completion; a fatal error ends the run with `report.aborted`."""
        started = time.monotonic()
        self.progress.files_total = len(items)
        self.progress.bytes_total = sum(i.size for i in items)
        self.kb.repair(self.collection)
        # One query for every file's last stat, not one per file while the writer holds the db.
        self._known = self.kb.file_stats(self.collection)
        self._parsers.plan(items)
        if items:
            self._budget = chunking.window_budget(self.kb, self.collection)
            self._run_stages_chunked(items)
        self.report.seconds = time.monotonic() - started
        if self._fatal is not None:
            self.report.aborted = str(self._fatal)
        return self.report

    def _run_stages_chunked(self, items: list[Item]) -> None:
        """Run the stages under the collection's chunking, re-chunking where asked."""
        now = chunking.Chunking(self._budget[0], self.settings.chunk_overlap, self._budget[1])
        stale = chunking.begin(self.kb, self.collection, now, self.rechunk)
        self.rechunk = bool(self.rechunk or stale)
        self._run_stages(items)
        if self._fatal is None and stale:
            done = set(self.report.added + self.report.updated)
            warning = chunking.finish(self.kb, self.collection, now, done)
            if warning:
                self.report.warnings[self.collection] = [warning]

    def _run_stages(self, items: list[Item]) -> None:
        workers = [
            threading.Thread(target=self._guard, args=(self._load, items), name="loader"),
            threading.Thread(target=self._guard, args=(self._batch,), name="batcher"),
            threading.Thread(target=self._guard, args=(self._write,), name="writer"),
        ]
        embedders = [
            threading.Thread(target=self._guard, args=(self._embed,), name=f"embed-{n}")
            for n in range(self._embedders)
        ]
        for thread in workers + embedders:
            thread.start()
        try:
            self._wait(embedders)
        except BaseException:  # Ctrl-C: stop feeding; the writer still commits finished documents
            self._stop.set()
            raise
        finally:
            for thread in embedders:
                thread.join()
            self._done.put(END)
            self._wait(workers)
        self._tick(0.0, [])

    # -- stage 1: read, hash, skip unchanged, parse, chunk ---------------------------------------

    def _load(self, items: list[Item]) -> None:
        pending: deque[Parsing] = deque()
        try:
            for item in items:
                if self._stop.is_set():
                    return
                self.progress.current = item.source
                parsing = self._start(item)
                if parsing is not None:
                    pending.append(parsing)
                while pending and (len(pending) > self._window or pending[0].future.done()):
                    if not self._hand_on(pending.popleft()):
                        return
            while pending:
                if not self._hand_on(pending.popleft()):
                    return
        finally:
            self._parsers.close()
            self._put(self._loaded, END)

    def _start(self, item: Item) -> Parsing | None:
        """Skip an unchanged file, or read and hash it and start parsing it."""
        known = self._known.get(item.source)
        reuse = known if not self.rechunk else None  # re-chunking parses every file again
        if reuse and reuse[1:] == (item.size, item.mtime_ns) and item.mtime_ns:
            self._finish(item, "unchanged")
            return None
        try:
            data = item.read()
        except OSError as exc:
            self._finish(item, "failed", f"cannot read: {exc.strerror or exc}")
            return None
        if reuse and reuse[0] == hashlib.sha256(data).hexdigest():
            record = self.kb.by_source(self.collection, item.source)
            if record is not None:
                self.kb.touch(self.collection, record.doc_id, len(data), item.mtime_ns)
            self._finish(item, "unchanged")
            return None
        args = (
            item.source,
            data,
            doc_id_for(item.source),
            self._budget[0],
            self.settings.chunk_overlap,
            self._budget[1],
        )
        future = self._parsers.submit(item.source, args)
        return Parsing(item, known is not None, len(data), future)

    def _hand_on(self, parsing: Parsing) -> bool:
        """Turn a finished parse into a Job for the embedder, or record why the file failed."""
        item = parsing.item
        try:
            doc, chunks = parsing.future.result()
        except DocumentError as exc:
            self._finish(item, "failed", str(exc))
            return True
        except RagError:
            raise
        except Exception as exc:  # a parser bug or crash on one file is that file's failure
            self._finish(item, "failed", f"unexpected {type(exc).__name__}: {exc}")
            return True
        return self._put(self._loaded, self._job(parsing, doc, chunks))

    def _job(self, parsing: Parsing, doc: Document, chunks: list[Chunk]) -> Job:
        record = DocumentRecord(
            doc_id=chunks[0].doc_id,
            source=parsing.item.source,
            sha256=doc.sha256,
            kind=doc.kind,
            chunks=len(chunks),
            pages=doc.pages,
            ingested_at=now_iso(),
            size=parsing.size,
            warnings=list(doc.warnings),
        )
        self.progress.add(chunks_found=len(chunks), bytes_parsed=parsing.item.size)
        texts = [embed_text(c) for c in chunks]
        vectors: list[np.ndarray | None] = [None] * len(chunks)
        return Job(parsing.item, record, chunks, texts, parsing.existed, vectors, len(chunks))

    # -- stage 2: batches across documents ---------------------------------------------------

    def _batch(self) -> None:
        size = self.settings.embed_batch
        buffer: list[tuple[Job, int]] = []
        try:
            while True:
                try:
                    job = self._loaded.get(timeout=0.05 if buffer else 0.5)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    if buffer:  # nothing more ready: send what we have, keep the embedder busy
                        self._put(self._batches, buffer)
                        buffer = []
                    continue
                if job is END:
                    if buffer:
                        self._put(self._batches, buffer)
                    return
                for index in range(len(job.texts)):
                    buffer.append((job, index))
                    if len(buffer) == size:
                        self._put(self._batches, buffer)
                        buffer = []
        finally:
            for _ in range(self._embedders):
                self._put(self._batches, END)

    # -- stage 3: embed ------------------------------------------------------------------------

    def _embed(self) -> None:
        while True:
            try:
                batch = self._batches.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if batch is END or self._stop.is_set():
                return
            texts = [job.texts[i] for job, i in batch]
            try:
                vectors: list[np.ndarray | None] = list(self.kb.ollama.embed_documents(texts))
            except InputTooLong:
                vectors = embed_one_by_one(self.kb.ollama, texts)
                for (job, index), vector in zip(batch, vectors, strict=True):
                    if vector is None:
                        job.error = f"chunk {index} is longer than the embedding model accepts"
            self._deliver(batch, vectors)

    def _deliver(self, batch: list[tuple[Job, int]], vectors: list[np.ndarray | None]) -> None:
        """Hand each job its vectors; a job with all of them goes on to the writer."""
        for (job, index), vector in zip(batch, vectors, strict=True):
            job.vectors[index] = vector
        counts = Counter(id(job) for job, _ in batch)
        jobs = {id(job): job for job, _ in batch}
        complete = []
        with self._report_lock:
            for key, count in counts.items():
                jobs[key].remaining -= count
                if jobs[key].remaining == 0:
                    complete.append(jobs[key])
        self.progress.add(chunks_embedded=len(batch))
        for job in complete:
            self._done.put(job)
