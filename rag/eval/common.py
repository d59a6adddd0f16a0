"""What both evaluations share: the throwaway collection, its index, rankings and progress."""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote

from ingest.run import ingest_bytes
from rag.cli.progress import ProgressBar
from rag.errors import BadRequest, RagError
from rag.grouping import group_by_document
from rag.kb import KnowledgeBase
from rag.models import Mode
from rag.retrieve import retrieve


def source_for(prefix: str, key: str) -> str:
    """A document's source under the eval prefix; the key is quoted so any id is a file name."""
    return f"{prefix}{quote(key, safe='')}.txt"


def collection_for(dataset: str) -> str:
    """The default throwaway collection name for a dataset, e.g. eval-scifact."""
    return "eval-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", dataset).strip("-_") or "data")[:56]


@contextmanager
def throwaway(kb: KnowledgeBase, collection: str, prefix: str, keep: bool) -> Iterator[None]:
    """Use a collection for evaluation only; drop it afterwards unless keep."""
    foreign = [r.source for r in kb.documents(collection) if not r.source.startswith(prefix)]
    if foreign:  # never index into, or drop, a collection holding someone's documents
        raise BadRequest(
            f"collection '{collection}' holds other documents (e.g. {foreign[0]}): "
            "choose another with --collection"
        )
    try:
        yield
    finally:
        if not keep:
            kb.drop_collection(collection)


def index(
    kb: KnowledgeBase, collection: str, docs: dict[str, str], progress: bool
) -> dict[str, Any]:
    """Make the collection hold exactly docs (source -> text): ingest what is missing or changed."""
    for record in kb.documents(collection):
        if record.source not in docs:  # left by an earlier run over other data or hold-out
            kb.delete_document(collection, record.doc_id)
    bar = ProgressBar(enabled=None if progress else False)
    try:
        encoded = [(source, text.encode("utf-8")) for source, text in docs.items()]
        # rechunk=None: an index kept from a run with other chunking is re-chunked, not mixed.
        report = ingest_bytes(kb, collection, encoded, bar, rechunk=None)
    finally:
        bar.close()
    if report.aborted:
        raise RagError(f"ingest stopped: {report.aborted}")
    for failure in report.failed[:5]:
        print(f"warning: {failure['path']}: {failure['error']}", file=sys.stderr)
    return {
        "ingested": len(report.added) + len(report.updated),
        "reused": len(report.unchanged),
        "failed": len(report.failed),
        "seconds": round(report.seconds, 2),
    }


def chunk_depth(kb: KnowledgeBase, collection: str, documents: int) -> int:
    """Chunks to retrieve so that `documents` distinct documents are likely among them."""
    docs, chunks = kb.counts(collection)
    per_doc = chunks / max(docs, 1)
    # The best chunks rarely all come in pairs from one document: 1.5x covers SciFact (~1.9
    # chunks per abstract) with 110+ distinct documents, and ranking() widens when it is short.
    return max(documents, math.ceil(documents * min(per_doc, 1.5)))


def ranking(
    kb: KnowledgeBase, collection: str, query: str, mode: Mode, top_k: int, documents: int
) -> list[str]:
    """Sources of the best documents (rag.grouping), best first, with no relevance floor."""
    try:
        found = retrieve(kb, collection, query, top_k, mode=mode, min_score=-1.0)
    except BadRequest:  # an empty query ranks nothing; it still counts, with zeros
        return []
    ranked = [g.source for g in group_by_document(found.candidates)]
    if len(ranked) < documents and len(found.candidates) == top_k:
        # Some documents have many chunks: fetch deeper once to reach enough distinct ones.
        found = retrieve(kb, collection, query, 2 * top_k, mode=mode, min_score=-1.0)
        ranked = [g.source for g in group_by_document(found.candidates)]
    return ranked[:documents]


def timed_search(kb: KnowledgeBase, collection: str, query: str, mode: Mode) -> float:
    """Milliseconds of the search a user runs (`rag search`: configured top_k and floor)."""
    started = time.perf_counter()
    with suppress(BadRequest):
        retrieve(kb, collection, query, kb.settings.top_k, mode=mode)
    return (time.perf_counter() - started) * 1000


class Ticker:
    """`label 120/809` on stderr, redrawn at most ten times a second, on a terminal only."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.done = label, total, 0
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0

    def step(self) -> None:
        """Count one query done."""
        self.done += 1
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            sys.stderr.write(f"\r{self.label} {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled and self.done:
            sys.stderr.write("\n")
