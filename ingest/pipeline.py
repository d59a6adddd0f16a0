"""discover → hash → skip unchanged → load → chunk → embed (batched, pipelined) → write.

Four stages run at once, joined by bounded queues, so that parsing, chunking and Chroma writes
overlap with embedding and the embedder is never idle waiting on us:
  loader (1 thread) → batcher (1) → embedders (`embed_concurrency` per host) → writer (1).
Batches span documents, so a folder of small files still sends full batches.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from ingest import chunking
from ingest.chunker import embed_heading, split_text
from ingest.parsers import Parsers
from ingest.report import IngestReport, Progress
from ingest.sources import Item, doc_id_for
from rag.catalog import now_iso
from rag.errors import DocumentError, InputTooLong, RagError
from rag.kb import DocumentVersion, KnowledgeBase
from rag.models import Chunk, Document, DocumentRecord
from rag.tokens import estimate_tokens

END = None
# Special tokens ([CLS]/[SEP], BOS/EOS) plus slack for the estimate; what is still too long is
# split and retried by _embed_split.
WINDOW_SLACK = 8
MAX_SPLITS = 6  # halvings of a too-long input before giving up (1/64 of it must fit)
WRITE_BATCH = 512  # vectors per Chroma write; bigger batches insert faster


@dataclass
class Job:
    """A loaded, chunked document on its way through the embedder to the writer."""

    item: Item
    record: DocumentRecord
    chunks: list[Chunk]
    texts: list[str]
    existed: bool
    vectors: list[list[float] | None] = field(default_factory=list)
    remaining: int = 0
    error: str | None = None


@dataclass
class _Parsing:
    """A file being parsed (in this thread or in a worker process)."""

    item: Item
    existed: bool
    size: int
    future: Future[tuple[Document, list[Chunk]]]


def embed_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: its heading path gives the text its context."""
    heading = embed_heading(chunk.heading)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


class Pipeline:
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
        self._stop = threading.Event()
        self._fatal: BaseException | None = None
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
            self._budget = self._chunk_budget()
            self._run_stages_chunked(items)
        self.report.seconds = time.monotonic() - started
        if self._fatal is not None:
            self.report.aborted = str(self._fatal)
        return self.report

    def _chunk_budget(self) -> tuple[int, int | None]:
        """(chunk size, tokens the window leaves for heading + text); see chunk_document."""
        info = self.kb.embed_info()
        self.kb.store.check_pin(self.collection, self.settings.embed_model, info.embedding_length)
        context = info.context_length or 512
        prefix = estimate_tokens(self.kb.ollama.prefixes()[0])
        room = max(32, context - prefix - WINDOW_SLACK)
        return min(self.settings.chunk_tokens, room), room

    def _run_stages_chunked(self, items: list[Item]) -> None:
        """Run the stages under the collection's chunking, re-chunking where asked."""
        now = chunking.Chunking(self._budget[0], self.settings.chunk_overlap, self._budget[1])
        stale = chunking.is_stale(self.kb, self.collection, now)
        if stale and self.rechunk is False:
            chunking.check(self.kb, self.collection, now)
        self.rechunk = bool(self.rechunk or stale)
        if not stale:  # recorded first, so an interrupted run's documents are known too
            chunking.record(self.kb, self.collection, now)
        self._run_stages(items)
        if self._fatal is not None:
            return
        if not stale:
            return
        done = set(self.report.added + self.report.updated)
        records = self.kb.documents(self.collection)
        left = [r.source for r in records if r.source not in done]
        if left:
            self.report.warnings[self.collection] = [
                f"{len(left)} documents (e.g. {left[0]}) still have the old chunking: "
                "re-chunk them with `rag ingest --rechunk` too"
            ]
        else:
            chunking.record(self.kb, self.collection, now)

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

    def _wait(self, threads: list[threading.Thread]) -> None:
        while any(t.is_alive() for t in threads):
            self._tick(0.1, threads)

    def _tick(self, wait: float, threads: list[threading.Thread]) -> None:
        # Join a thread that is still alive: joining a finished one returns at once, and the
        # loop would spin holding the GIL while the writer works (it made ingest 6x slower).
        alive = [t for t in threads if t.is_alive()]
        if alive:
            alive[0].join(wait)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _guard(self, stage: Callable[..., None], *args: object) -> None:
        try:
            stage(*args)
        except BaseException as exc:  # any stage failing stops the whole run cleanly
            if self._fatal is None:
                self._fatal = exc
            self._stop.set()

    def _put(self, target: queue.Queue, item: object) -> bool:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # -- stage 1: read, hash, skip unchanged, parse, chunk ---------------------------------------

    def _load(self, items: list[Item]) -> None:
        pending: deque[_Parsing] = deque()
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

    def _start(self, item: Item) -> _Parsing | None:
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
        return _Parsing(item, known is not None, len(data), future)

    def _hand_on(self, parsing: _Parsing) -> bool:
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

    def _job(self, parsing: _Parsing, doc: Document, chunks: list[Chunk]) -> Job:
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
        vectors: list[list[float] | None] = [None] * len(chunks)
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
            try:
                vectors: list[list[float] | None] = list(
                    self.kb.ollama.embed_documents([job.texts[i] for job, i in batch])
                )
            except InputTooLong:
                vectors = self._embed_one_by_one(batch)
            for (job, index), vector in zip(batch, vectors, strict=True):
                self._deliver(job, index, vector)

    def _embed_one_by_one(self, batch: list[tuple[Job, int]]) -> list[list[float] | None]:
        out: list[list[float] | None] = []
        for job, index in batch:
            try:
                out.append(self._embed_split(job.texts[index], 0))
            except InputTooLong as exc:
                job.error = f"chunk {index} is longer than the embedding model accepts ({exc})"
                out.append(None)
        return out

    def _embed_split(self, text: str, depth: int) -> list[float]:
        """Embed text; if the model finds it too long, embed its halves and average them.

        The chunk stays whole in the catalog (keyword search and answers see all of it); only
        its vector is pooled, weighted by length, as the model pools its own word pieces.
        """
        try:
            return self.kb.ollama.embed_documents([text])[0]
        except InputTooLong:
            halves = _halves(text)
            if depth >= MAX_SPLITS or len(halves) < 2:
                raise
        parts = [(self._embed_split(h, depth + 1), len(h)) for h in halves]
        pooled = np.sum([np.asarray(v, dtype=np.float64) * n for v, n in parts], axis=0)
        norm = float(np.linalg.norm(pooled)) or 1.0
        return [float(x) for x in pooled / norm]

    def _deliver(self, job: Job, index: int, vector: list[float] | None) -> None:
        job.vectors[index] = vector
        with self._report_lock:
            job.remaining -= 1
            complete = job.remaining == 0
        self.progress.add(chunks_embedded=1)
        if complete:
            self._done.put(job)

    # -- stage 4: write ------------------------------------------------------------------------

    def _write(self) -> None:
        pending: list[Job] = []
        while True:
            job = self._done.get()
            if job is not END:
                pending.append(job)
            full = sum(len(j.chunks) for j in pending) >= WRITE_BATCH
            if pending and (job is END or full or self._done.empty()):
                self._commit(pending)
                pending = []
            if job is END:
                return

    def _commit(self, jobs: list[Job]) -> None:
        good = [j for j in jobs if j.error is None]
        for job in jobs:
            if job.error is not None:
                self._finish(job.item, "failed", job.error)
        if not good:
            return
        self.kb.write(self.collection, [_version(j) for j in good])
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


def _version(job: Job) -> DocumentVersion:
    """What the writer hands the knowledge base for a fully embedded job."""
    vectors = [v for v in job.vectors if v is not None]  # none is None once job.error is None
    return DocumentVersion(job.record, job.item.mtime_ns, job.chunks, vectors)


def _halves(text: str) -> list[str]:
    """text cut in two at a sentence or word boundary near its middle (by estimated tokens)."""
    half = max(1, estimate_tokens(text) // 2)
    parts = split_text(text, half)
    if len(parts) < 2:
        return parts
    # split_text packs greedily: regroup its pieces into two of about equal size.
    first: list[str] = []
    rest, used = list(parts), 0
    while rest and (not first or used + estimate_tokens(rest[0]) <= half):
        used += estimate_tokens(rest[0])
        first.append(rest.pop(0))
    return [" ".join(first), " ".join(rest)] if rest else [" ".join(first)]
