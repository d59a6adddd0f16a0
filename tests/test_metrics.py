"""Ranking metrics against hand-computed values and the edge cases BEIR defines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.eval.metrics import (
    average,
    dcg,
    dedupe,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
    score_query,
)

# Graded judgements: "b" is judged but not relevant, "z" is relevant but never retrieved.
QRELS = {"a": 3, "b": 0, "c": 1, "e": 2, "z": 1}
RANKED = ["b", "a", "x", "c", "e"]  # "x" is unjudged: gain 0


def test_ndcg_by_hand():
    # DCG@5 = 0/log2(2) + 3/log2(3) + 0/log2(4) + 1/log2(5) + 2/log2(6)
    #       = 0 + 1.892789 + 0 + 0.430677 + 0.773706 = 3.097172
    # Ideal: the relevances 3, 2, 1, 1 in order (from the qrels, "z" included):
    # IDCG@5 = 3/log2(2) + 2/log2(3) + 1/log2(4) + 1/log2(5) = 3 + 1.261860 + 0.5 + 0.430677
    #        = 5.192536;  nDCG@5 = 3.097172 / 5.192536 = 0.596467
    assert ndcg_at_k(RANKED, QRELS, 5) == pytest.approx(0.596467, abs=1e-6)
    # @3: DCG = 3/log2(3) = 1.892789; IDCG = 3 + 2/log2(3) + 1/log2(4) = 4.761860 → 0.397489
    assert ndcg_at_k(RANKED, QRELS, 3) == pytest.approx(0.397489, abs=1e-6)
    assert ndcg_at_k(RANKED, QRELS, 3) == pytest.approx(
        (3 / math.log2(3)) / (3 + 2 / math.log2(3) + 1 / math.log2(4))
    )
    assert dcg([3, 2]) == pytest.approx(3 + 2 / math.log2(3))


def test_recall_and_mrr_by_hand():
    # Relevant: a, c, e, z (4 documents; "b" has relevance 0).
    assert recall_at_k(RANKED, QRELS, 3) == 1 / 4  # a
    assert recall_at_k(RANKED, QRELS, 5) == 3 / 4  # a, c, e
    assert recall_at_k(RANKED, QRELS, 100) == 3 / 4  # z is never retrieved
    assert mrr_at_k(RANKED, QRELS, 10) == 1 / 2  # first relevant ("a") at rank 2
    assert mrr_at_k(RANKED, QRELS, 1) == 0.0  # rank 1 is "b", judged not relevant
    assert mrr_at_k(["x"] * 10 + ["a"], QRELS, 10) == 0.0  # relevant only at rank 11


def test_perfect_ranking_scores_one():
    ideal = ["a", "e", "c", "z"]
    scores = score_query(ideal, QRELS)
    assert scores == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    # Equal grades may come in either order.
    assert ndcg_at_k(["a", "e", "z", "c"], QRELS, 10) == pytest.approx(1.0)


def test_no_relevant_documents_scores_zero_beir_convention():
    # pytrec_eval (and so BEIR) scores such a query 0 on every metric; it stays in the mean.
    zeros = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0)
    assert score_query(["a", "b"], {"a": 0, "b": 0}) == zeros
    assert score_query([], {}) == zeros
    assert average([{"m": 1.0}, {"m": 0.0}]) == {"m": 0.5}
    assert average([]) == {}


def test_empty_ranking_and_negative_grades():
    assert ndcg_at_k([], QRELS, 10) == 0.0
    assert recall_at_k([], QRELS, 10) == 0.0
    # A negative judgement (some TREC qrels use -1) neither gains nor counts as relevant.
    assert ndcg_at_k(["n", "a"], {"n": -1, "a": 1}, 10) == pytest.approx(1 / math.log2(3))


def test_dedupe_keeps_each_document_at_its_first_rank():
    # Chunks of doc "a" at ranks 1 and 3 count once, at rank 1; "c" moves up to rank 3.
    assert dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert hit_at_k(["a", "b", "c"], "c", 2) == 0.0
    assert hit_at_k(["a", "b", "c"], "c", 3) == 1.0


def test_percentile_matches_numpy():
    values = [12.0, 3.0, 7.5, 40.0, 1.0, 9.0, 22.0]
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    # [1, 2, 3, 4]: p50 halfway between 2 and 3; p95 at position 3 * 0.95 = 2.85 → 3.85
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 95) == pytest.approx(3.85)
    assert percentile([], 50) == 0.0
