"""Ranking metrics with the standard (trec_eval / BEIR) definitions, on document ids.

- nDCG@k: DCG = Σ_{i=1..k} rel_i / log2(i + 1) with graded relevance as the gain (trec_eval's
  linear gain, which BEIR reports); the ideal DCG sorts all judged relevances of the query.
- Recall@k: relevant documents in the top k / all relevant documents of the query.
- MRR@k: 1 / rank of the first relevant document within the top k, else 0.
A document is relevant when its judgement is > 0. A query whose judgements are all 0 scores 0
on every metric and still counts in the mean (pytrec_eval's behaviour, which BEIR uses); queries
absent from the qrels are not evaluated at all (the caller skips them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

Qrels = Mapping[str, int]  # doc id -> graded relevance, for one query


def dedupe(ranked: Iterable[str]) -> list[str]:
    """Document ids in first-seen order: several chunks of one document count once."""
    return list(dict.fromkeys(ranked))


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain of gains in rank order (rank 1 first)."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, 1))


def ndcg_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """nDCG@k of a ranked list of distinct doc ids against graded judgements."""
    ideal = dcg(sorted((r for r in qrels.values() if r > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([max(qrels.get(doc, 0), 0) for doc in ranked[:k]]) / ideal


def recall_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """Relevant documents in the top k over all relevant documents (0 when there are none)."""
    relevant = {doc for doc, rel in qrels.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k, else 0."""
    for rank, doc in enumerate(ranked[:k], 1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def hit_at_k(ranked: Sequence[str], gold: str, k: int) -> float:
    """1.0 when the gold document is in the top k, else 0.0."""
    return 1.0 if gold in ranked[:k] else 0.0


def score_query(ranked: Sequence[str], qrels: Qrels) -> dict[str, float]:
    """The reported metrics for one query's deduplicated ranking."""
    return {
        "ndcg@10": ndcg_at_k(ranked, qrels, 10),
        "recall@10": recall_at_k(ranked, qrels, 10),
        "recall@100": recall_at_k(ranked, qrels, 100),
        "mrr@10": mrr_at_k(ranked, qrels, 10),
    }


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (0 for no values)."""
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency(milliseconds: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of per-query milliseconds, rounded to 0.1 ms."""
    return {
        "p50": round(percentile(milliseconds, 50), 1),
        "p95": round(percentile(milliseconds, 95), 1),
    }


def average(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over queries."""
    names = list(per_query[0]) if per_query else []
    return {name: mean([q[name] for q in per_query]) for name in names}
