"""`rag eval FILE.json`: question answering on a SQuAD v1.1-format file.

Each paragraph becomes the document `squad/<file>/<title>-<n>.txt`. A fixed-seed tenth of the
paragraphs is held out of the index. For questions on indexed paragraphs we measure whether
hybrid retrieval ranks the gold paragraph in the top k (no floor, like the BEIR mode), its
nDCG@10 as paragraph retrieval in each mode (dense, keyword, hybrid), and, through
the normal `answer()`, whether the answer cites it and contains a gold answer span. Questions on
held-out paragraphs should be refused: refusal accuracy is the share with answerable == False.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import BadRequest
from rag.eval.common import (
    Ticker,
    chunk_depth,
    collection_for,
    index,
    ranking,
    source_for,
    throwaway,
)
from rag.eval.metrics import hit_at_k, latency, mean, mrr_at_k, ndcg_at_k
from rag.models import MODES

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase

SEED = 20240613  # fixed: the same paragraphs are held out on every run, so runs compare
HOLD_OUT = 0.1  # share of paragraphs left out of the index
HITS_AT = (1, 5, 10)


@dataclass
class Question:
    """One SQuAD question with its gold paragraph's source and the gold answer texts."""

    qid: str
    text: str
    source: str
    answers: list[str]


@dataclass
class Squad:
    """A SQuAD file as documents (source -> paragraph) and the questions on them."""

    name: str
    paragraphs: dict[str, str]
    questions: list[Question] = field(default_factory=list)


def load_squad(path: Path) -> Squad:
    """Read a SQuAD v1.1-format JSON file: data[].paragraphs[].context and .qas[]."""
    try:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        squad = Squad(path.stem, {})
        prefix = f"squad/{path.stem}/"
        for number, article in enumerate(articles):
            title = str(article.get("title") or f"article{number}")
            for n, para in enumerate(article["paragraphs"]):
                source = source_for(prefix, f"{title}-{n}")
                squad.paragraphs[source] = para["context"]
                squad.questions += [
                    Question(str(qa["id"]), qa["question"], source, _answers(qa))
                    for qa in para["qas"]
                ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadRequest(
            f"{path} is not a SQuAD-format file ({type(exc).__name__}: {exc})"
        ) from None
    return squad


def _answers(qa: dict[str, Any]) -> list[str]:
    return [str(a["text"]) for a in qa.get("answers", []) if str(a.get("text", "")).strip()]


def hold_out(sources: list[str], share: float = HOLD_OUT, seed: int = SEED) -> set[str]:
    """The sources left out of the index: a fixed-seed sample of `share` of them (at least 1)."""
    if len(sources) < 2:
        return set()
    count = max(1, round(len(sources) * share))
    return set(random.Random(seed).sample(sorted(sources), count))


def calibration_half(qid: str) -> int:
    """0 or 1, fixed by a hash of the question id: thresholds are tuned on 0, checked on 1."""
    return hashlib.sha1(qid.encode("utf-8")).digest()[-1] % 2


def pick_questions(questions: list[Question], limit: int | None) -> list[Question]:
    """A fixed-seed shuffle (so a limit samples every article), cut to the limit."""
    picked = list(questions)
    random.Random(SEED).shuffle(picked)
    return picked[:limit] if limit is not None else picked


def run_qa(kb: KnowledgeBase, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Index the kept paragraphs, ask the questions, return the report."""
    started = time.perf_counter()
    squad = load_squad(path)
    held = hold_out(list(squad.paragraphs))
    collection = kb.collection(args.collection or collection_for(squad.name))
    progress = not (args.no_progress or args.json)
    with throwaway(kb, collection, f"squad/{squad.name}/", args.keep):
        docs = {s: text for s, text in squad.paragraphs.items() if s not in held}
        ingest = index(kb, collection, docs, progress)
        questions = pick_questions(squad.questions, args.limit)
        scores = _ask_all(kb, collection, questions, held, progress)
        chunks = kb.counts(collection)[1]
    return {
        "dataset": squad.name,
        "format": "squad",
        "collection": collection,
        "kept": args.keep,
        "paragraphs": len(squad.paragraphs),
        "held_out_paragraphs": len(held),
        "chunks": chunks,
        "ingest": ingest,
        **scores,
        "seconds": round(time.perf_counter() - started, 1),
    }


@dataclass
class _Tally:
    hits: dict[int, list[float]] = field(default_factory=lambda: {k: [] for k in HITS_AT})
    rr: list[float] = field(default_factory=list)
    ndcg: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    answered: list[float] = field(default_factory=list)
    cited: list[float] = field(default_factory=list)  # of answered questions
    span: list[float] = field(default_factory=list)  # of answered questions
    refused: list[float] = field(default_factory=list)  # of held-out questions
    # The same two shares per half of the questions (calibration_half): one tunes, one checks.
    halves: dict[tuple[int, bool], list[float]] = field(default_factory=dict)
    retrieve_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)


def _ask_all(
    kb: KnowledgeBase, collection: str, questions: list[Question], held: set[str], progress: bool
) -> dict[str, Any]:
    tally = _Tally()
    top_k = chunk_depth(kb, collection, max(HITS_AT))
    ticker = Ticker("questions", len(questions), progress)
    for q in questions:
        _ask_one(kb, collection, q, q.source in held, tally, top_k)
        ticker.step()
    ticker.close()
    return _summary(tally)


def _ask_one(
    kb: KnowledgeBase, collection: str, q: Question, held: bool, tally: _Tally, top_k: int
) -> None:
    from rag.answer import AnswerRequest, answer

    if not held:
        depth = max(HITS_AT)
        began = time.perf_counter()
        ranked = ranking(kb, collection, q.text, "hybrid", top_k, depth)
        tally.retrieve_ms.append((time.perf_counter() - began) * 1000)
        for k in HITS_AT:
            tally.hits[k].append(hit_at_k(ranked, q.source, k))
        tally.rr.append(mrr_at_k(ranked, {q.source: 1}, depth))
        for mode in MODES:
            ranks = (
                ranked if mode == "hybrid" else ranking(kb, collection, q.text, mode, top_k, depth)
            )
            tally.ndcg[mode].append(ndcg_at_k(ranks, {q.source: 1}, depth))
    began = time.perf_counter()
    reply = answer(kb, AnswerRequest(collection, q.text))
    tally.answer_ms.append((time.perf_counter() - began) * 1000)
    refused = 0.0 if reply.answerable else 1.0
    tally.halves.setdefault((calibration_half(q.qid), held), []).append(refused)
    if held:
        tally.refused.append(refused)
        return
    tally.answered.append(1.0 if reply.answerable else 0.0)
    if reply.answerable:
        tally.cited.append(float(any(c.source == q.source for c in reply.citations)))
        said = reply.answer.casefold()
        tally.span.append(float(any(a.casefold() in said for a in q.answers)))


def _summary(t: _Tally) -> dict[str, Any]:
    def share(values: list[float]) -> float | None:
        return round(mean(values), 4) if values else None

    return {
        "questions": len(t.answered) + len(t.refused),
        "retrieval": {
            "questions": len(t.rr),
            **{f"hit@{k}": share(v) for k, v in t.hits.items()},
            "mrr@10": share(t.rr),
            "ndcg@10": {mode: share(v) for mode, v in t.ndcg.items()},
            "latency_ms": latency(t.retrieve_ms),
        },
        "answers": {
            "questions": len(t.answered),
            "answered": share(t.answered),
            "cites_gold": share(t.cited),
            "cites_gold_of_questions": round(sum(t.cited) / len(t.answered), 4)
            if t.answered
            else None,
            "contains_gold_span": share(t.span),
            "latency_ms": latency(t.answer_ms),
        },
        "refusal": {
            "questions": len(t.refused),
            "accuracy": share(t.refused),
            # [half 0, half 1]: held-out questions refused, answerable questions refused
            "held_out_refused_by_half": [share(t.halves.get((h, True), [])) for h in (0, 1)],
            "answerable_refused_by_half": [share(t.halves.get((h, False), [])) for h in (0, 1)],
        },
    }


def print_qa(result: dict[str, Any]) -> None:
    """The QA report as a short table."""
    r, a, f = result["retrieval"], result["answers"], result["refusal"]
    print(
        f"{result['dataset']}: {result['questions']} questions, {result['paragraphs']} paragraphs "
        f"({result['held_out_paragraphs']} held out) in '{result['collection']}'"
    )
    hits = "  ".join(f"hit@{k} {_pct(r[f'hit@{k}'])}" for k in HITS_AT)
    print(f"retrieval  ({r['questions']:>4} q)  {hits}  MRR@10 {_num(r['mrr@10'])}")
    modes = "  ".join(f"{mode} {_num(value)}" for mode, value in r["ndcg@10"].items())
    print(f"paragraph nDCG@10  {modes}")
    print(
        f"answers    ({a['questions']:>4} q)  answered {_pct(a['answered'])}  cite gold "
        f"{_pct(a['cites_gold'])} of answers  contain gold span {_pct(a['contains_gold_span'])}"
    )
    print(
        f"refusals   ({f['questions']:>4} q)  refused {_pct(f['accuracy'])} (held-out paragraphs)"
    )
    held, kept = f["held_out_refused_by_half"], f["answerable_refused_by_half"]
    print(
        "refused by half (held-out / answerable): "
        + "  ".join(f"half {h} {_pct(held[h])} / {_pct(kept[h])}" for h in (0, 1))
    )
    rl, al = r["latency_ms"], a["latency_ms"]
    print(
        f"latency ms: retrieve p50 {rl['p50']:.1f} p95 {rl['p95']:.1f}; "
        f"answer p50 {al['p50']:.1f} p95 {al['p95']:.1f}; total {result['seconds']:.1f} s"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:5.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
