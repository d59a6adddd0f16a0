"""Retrieval: dense (Chroma) and keyword (FTS5 BM25) legs fused by RRF, with filters and a floor.

Modes: "hybrid" (default) fuses both legs with weighted reciprocal rank fusion,
score = Σ weight/(RRF_K + rank), the weights chosen per query (see leg_weights); "dense" and
"keyword" run one leg (the eval command compares the three).

Filters never reach Chroma: a `where` costs 90-210 ms at 100k chunks against ~5 ms for a plain
query. They resolve to the allowed doc ids through the catalog; the dense leg over-fetches
(max(4·top_k, 50), more for a selective filter, widened once when too few survive) and filters
in Python, the keyword leg filters in SQL.
Filter semantics: see rag/filters.py.

Relevance floor: a hit passes if its dense cosine similarity is ≥ min_score (the embedder's own
by default, rag.embedders), or if the keyword
leg found it and it contains ≥ KEYWORD_MIN_SHARE of the query's distinct content words. When
nothing passes, `reason` is "nothing_relevant" and `candidates` still holds the nearest chunks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from rag import lexical
from rag.embedders import DEFAULT_MIN_SCORE as DEFAULT_MIN_SCORE
from rag.embedders import Embedder, embedder
from rag.errors import BadRequest
from rag.filters import Filters, since_iso
from rag.kb import KnowledgeBase
from rag.language import query_language, reads_vietnamese
from rag.models import MODES, Hit, Mode

KEYWORD_MIN_SHARE = 0.5  # of the query's distinct content words, for a keyword hit to pass
# SciFact train, all-minilm: k=60 0.716, k=20 0.721 hybrid nDCG@10; XQuAD en/vi equal or better.
RRF_K = 20
# Weight of the dense leg when the embedder was not trained on the query's language. XQuAD
# Vietnamese with all-minilm (nDCG@10): 0.25 -> hybrid 0.858, 0.05 -> 0.922, 0.03 -> 0.950,
# 0.01 -> 0.960 = keyword. Below the gap between adjacent keyword ranks (1/21 - 1/22), the dense
# leg only breaks ties and adds what the keyword leg did not find.
FOREIGN_DENSE_WEIGHT = 0.01
FETCH_MIN = 50  # each leg fetches max(4 * top_k, FETCH_MIN) before filtering and fusing
FETCH_CAP = 1000  # dense fetches never ask Chroma for more (a filter this selective loses recall)


@dataclass
class Retrieval:
    """The outcome of one retrieval: hits that passed the floor, and the nearest anyway."""

    hits: list[Hit]  # passed the floor, best first, at most top_k
    candidates: list[Hit]  # nearest results regardless of the floor (for refusals), at most top_k
    reason: str | None  # None, "no_documents", "nothing_relevant"
    timings: dict[str, float]  # ms: "embed", "dense", "keyword", "fuse", "total"


@dataclass
class _Candidate:
    row: dict[str, Any]
    dense_rank: int | None = None
    dense_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None
    content: list[str] | None = None  # the query's content words (keyword leg only)
    fused: float = 0.0
    _share: float | None = None

    @property
    def share(self) -> float:
        """Share of the query's content words in the chunk; computed only when the floor asks."""
        if self._share is None:
            text = f"{self.row['heading']}\n{self.row['text']}"
            self._share = lexical.matched_share(self.content or [], text)
        return self._share


def retrieve(
    kb: KnowledgeBase,
    collection: str,
    query: str,
    top_k: int = 5,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    explain: bool = False,
    min_score: float | None = None,
) -> Retrieval:
    """The best chunks for a query, filtered, with the relevance floor applied."""
    _check(query, top_k, mode)
    search = _Search(kb, collection, query, top_k)
    if search.scope(filters) == 0:
        return Retrieval([], [], "no_documents", search.done())
    dense = search.dense_leg() if mode != "keyword" else []
    keyword = search.keyword_leg() if mode != "dense" else []
    with search.timed("fuse"):
        model = embedder(kb.settings)
        weights = leg_weights(query, model)
        ranked = _fuse(dense, keyword, weights)
        floor = model.min_score if min_score is None else min_score
        if weights[0] < 1.0 and min_score is None:
            # A model that does not know the language scores every text alike (all-minilm on
            # XQuAD vi: held-out and answerable questions both 0.5-0.8): it cannot vouch.
            floor = math.inf
        passed = list(itertools.islice((c for c in ranked if _passes(c, floor)), top_k))
        shown = {id(c): _hit(c, mode, explain) for c in [*passed, *ranked[:top_k]]}
        hits = [shown[id(c)] for c in passed]
        candidates = [shown[id(c)] for c in ranked[:top_k]]
    return Retrieval(hits, candidates, None if hits else "nothing_relevant", search.done())


def dense_search(kb: KnowledgeBase, collection: str, query: str, top_k: int) -> list[Hit]:
    """Nearest chunks by embedding similarity (no floor); only committed chunks are returned."""
    return retrieve(kb, collection, query, top_k, mode="dense").candidates


def rrf(
    ranks: Iterable[int | None], k: int = RRF_K, weights: Iterable[float] | None = None
) -> float:
    """Weighted reciprocal rank fusion of one item's 1-based ranks (None: not in that list)."""
    pairs = zip(ranks, weights or itertools.repeat(1.0), strict=False)
    return sum(w / (k + rank) for rank, w in pairs if rank is not None)


def leg_weights(query: str, model: Embedder) -> tuple[float, float]:
    """(dense, keyword) weights for fusing one query's legs.

    An embedder not trained on the query's language ranks its text nearly at random (XQuAD
    Vietnamese with all-minilm: dense 0.63 nDCG@10 against keyword 0.91), so the keyword leg
    leads there; otherwise the legs are equals.
    """
    if not model.covers(query_language(query)):  # "" (unknown) is covered by multilingual only
        return FOREIGN_DENSE_WEIGHT, 1.0
    return 1.0, 1.0


# -- the legs ------------------------------------------------------------------------------------


class _Search:
    """One retrieval's state: what the filters allow, the fetch size and the timings."""

    def __init__(self, kb: KnowledgeBase, collection: str, query: str, top_k: int) -> None:
        self.kb, self.collection, self.query, self.top_k = kb, collection, query, top_k
        self.fetch = max(4 * top_k, FETCH_MIN)
        self.doc_ids: set[str] | None = None  # None: every document
        self.allowed = self.total = 0  # chunks the filters allow, chunks in the collection
        self.started = perf_counter()
        self.ms = dict.fromkeys(("embed", "dense", "keyword", "fuse"), 0.0)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.ms[name] += (perf_counter() - start) * 1000

    def done(self) -> dict[str, float]:
        return {**self.ms, "total": (perf_counter() - self.started) * 1000}

    def scope(self, filters: Filters | None) -> int:
        """Resolve the filters to doc ids; return how many chunks they allow."""
        self.allowed = self.total = self.kb.counts(self.collection)[1]
        if filters is None or filters.is_empty() or self.total == 0:
            return self.allowed
        since = since_iso(filters.ingested_after) if filters.ingested_after else None
        rows = self.kb.filter_documents(self.collection, filters.kinds, since)
        kept = [(doc_id, n) for doc_id, source, n in rows if filters.matches_source(source)]
        self.allowed = sum(n for _, n in kept)
        if self.allowed < self.total:  # a filter that keeps everything costs nothing
            self.doc_ids = {doc_id for doc_id, _ in kept}
        return self.allowed

    def dense_leg(self) -> list[_Candidate]:
        with self.timed("embed"):
            vector = self.kb.ollama.embed_query(self.query)
        with self.timed("dense"):
            # Enough to expect 2·top_k allowed chunks if they were spread evenly over the index.
            expected = math.ceil(2 * self.top_k * self.total / max(self.allowed, 1))
            n = max(self.fetch, min(FETCH_CAP, expected))
            found, exhausted = self._dense_fetch(vector, n)
            if len(found) < self.top_k and not exhausted and n < FETCH_CAP:
                # They were not (the filter's documents are far from the query): widen once.
                found, _ = self._dense_fetch(vector, min(FETCH_CAP, 4 * n))
        return [
            _Candidate(row, dense_rank=rank, dense_score=score)
            for rank, (row, score) in enumerate(found, 1)
        ]

    def _dense_fetch(
        self, vector: list[float], n: int
    ) -> tuple[list[tuple[dict[str, Any], float]], bool]:
        found, exhausted = self.kb.nearest(self.collection, vector, n)  # committed chunks only
        if self.doc_ids is not None:
            found = [(row, score) for row, score in found if row["doc_id"] in self.doc_ids]
        return found, exhausted

    def keyword_leg(self) -> list[_Candidate]:
        with self.timed("keyword"):
            pairs = not self.query.isascii() or reads_vietnamese(self.query)
            terms, content = lexical.query_terms(self.query, pairs)
            found = self.kb.keyword_search(self.collection, terms, self.fetch, self.doc_ids)
            return [
                _Candidate(
                    row,
                    keyword_rank=rank,
                    keyword_score=score,
                    content=content,
                )
                for rank, (row, score) in enumerate(found, 1)
            ]


# -- fusion and the floor ------------------------------------------------------------------------


def _fuse(
    dense: list[_Candidate], keyword: list[_Candidate], weights: tuple[float, float]
) -> list[_Candidate]:
    merged = {c.row["chunk_id"]: c for c in dense}
    for cand in keyword:
        known = merged.setdefault(cand.row["chunk_id"], cand)
        if known is not cand:
            known.keyword_rank, known.keyword_score = cand.keyword_rank, cand.keyword_score
            known.content = cand.content
    for cand in merged.values():
        cand.fused = rrf((cand.dense_rank, cand.keyword_rank), weights=weights)
    return sorted(merged.values(), key=_order)


def _order(cand: _Candidate) -> tuple[Any, ...]:
    ranks = [r for r in (cand.dense_rank, cand.keyword_rank) if r is not None]
    return (-cand.fused, min(ranks), cand.dense_rank or math.inf, cand.row["chunk_id"])


def _passes(cand: _Candidate, floor: float) -> bool:
    if cand.dense_score is not None and cand.dense_score >= floor:
        return True
    return cand.keyword_rank is not None and cand.share >= KEYWORD_MIN_SHARE


def _hit(cand: _Candidate, mode: str, explain: bool) -> Hit:
    scores = {"hybrid": cand.fused, "dense": cand.dense_score, "keyword": cand.keyword_score}
    row = cand.row
    return Hit(
        chunk_id=row["chunk_id"],
        source=row["source"],
        text=row["text"],
        score=float(scores[mode] or 0.0),
        page=row["page"],
        page_label=row["page_label"],
        heading=row["heading"],
        doc_id=row["doc_id"],
        explain=_explain(cand) if explain else None,
        display=row.get("display", ""),
    )


def _explain(cand: _Candidate) -> dict[str, Any]:
    return {
        "dense_rank": cand.dense_rank,
        "dense_score": cand.dense_score,
        "keyword_rank": cand.keyword_rank,
        "keyword_score": cand.keyword_score,
        "fused_score": cand.fused,
    }


# -- validation ----------------------------------------------------------------------------------


def _check(query: str, top_k: int, mode: str) -> None:
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("the query is empty")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise BadRequest(f"top_k must be a positive whole number, got {top_k!r}")
    if mode not in MODES:
        raise BadRequest(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
