"""BEIR retrieval evaluation: every corpus entry becomes the document `beir/<dataset>/<_id>.txt`
(title, blank line, text) and goes through the normal ingest pipeline; every query that has
judgements in the split goes through the normal retrieval, in each mode. Metrics are per
document (a document's chunks count once, at its best rank), over the ranking itself: no
relevance floor (min_score=-1) and the candidates list, which ranks the fused results before
the floor. See rag.eval.metrics for the definitions.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import BadRequest
from rag.eval.common import (
    Ticker,
    chunk_depth,
    collection_for,
    index,
    ranking,
    source_for,
    throwaway,
    timed_search,
)
from rag.eval.metrics import average, latency, score_query
from rag.kb import KnowledgeBase
from rag.models import MODES, Mode

DEPTH = 100  # distinct documents each query ranks: Recall@100 needs 100
COLUMNS = (
    ("nDCG@10", "ndcg@10"),
    ("Recall@10", "recall@10"),
    ("Recall@100", "recall@100"),
    ("MRR@10", "mrr@10"),
)


# -- the BEIR dataset ----------------------------------------------------------------------------


@dataclass
class Beir:
    """A BEIR dataset: corpus texts, the queries to run and their judgements."""

    name: str
    split: str
    corpus: dict[str, str]  # corpus id -> document text
    queries: dict[str, str]  # query id -> text, only queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> corpus id -> relevance


def load_beir(folder: Path, split: str | None = None, limit: int | None = None) -> Beir:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv of a BEIR folder."""
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / name).is_file():
            raise BadRequest(f"{folder} is not a BEIR folder: {name} is missing")
    split = choose_split(folder, split)
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    corpus = {
        str(row["_id"]): "\n\n".join(p for p in (row.get("title"), row.get("text")) if p)
        for row in _jsonl(folder / "corpus.jsonl")
    }
    queries = {
        str(row["_id"]): str(row["text"])
        for row in _jsonl(folder / "queries.jsonl")
        if str(row["_id"]) in qrels
    }
    if limit is not None:
        queries = dict(list(queries.items())[:limit])
    return Beir(folder.resolve().name, split, corpus, queries, qrels)


def choose_split(folder: Path, split: str | None) -> str:
    """The qrels split to use: the one asked for, else test, else train, else the only one."""
    found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
    if split is not None and split not in found:
        raise BadRequest(f"no qrels/{split}.tsv in {folder} (found: {', '.join(found) or 'none'})")
    for candidate in (split, "test", "train"):
        if candidate in found:
            return candidate
    if len(found) == 1:
        return found[0]
    raise BadRequest(
        f"choose a split with --split: qrels/ in {folder} holds {', '.join(found) or 'no .tsv'}"
    )


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> corpus id -> relevance from a BEIR qrels TSV (header line optional)."""
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not re.fullmatch(r"-?\d+", fields[-1].strip()):
            continue  # the `query-id corpus-id score` header, or a blank line
        qrels.setdefault(fields[0], {})[fields[-2]] = int(fields[-1])
    return qrels


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BadRequest(f"{path}:{number}: not JSON ({exc.msg})") from None


# -- BEIR run and output -------------------------------------------------------------------------


def run_beir(kb: KnowledgeBase, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Index the corpus, run every judged query in the three modes, return the report."""
    started = time.perf_counter()
    data = load_beir(folder, args.split, args.limit)
    prefix = f"beir/{data.name}/"
    sources = {source_for(prefix, key): key for key in data.corpus}
    collection = kb.collection(args.collection or collection_for(data.name))
    progress = not (args.no_progress or args.json)
    with throwaway(kb, collection, prefix, args.keep):
        docs = {source: data.corpus[key] for source, key in sources.items()}
        ingest = index(kb, collection, docs, progress)
        top_k = chunk_depth(kb, collection, DEPTH)
        modes = {}
        for mode in MODES:
            modes[mode] = _run_mode(kb, collection, data, sources, mode, top_k, progress)
        chunks = kb.counts(collection)[1]
    return {
        "dataset": data.name,
        "format": "beir",
        "split": data.split,
        "collection": collection,
        "kept": args.keep,
        "documents": len(data.corpus),
        "chunks": chunks,
        "queries": len(data.queries),
        "top_k_chunks": top_k,
        "latency_top_k": kb.settings.top_k,
        "ingest": ingest,
        "modes": modes,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _run_mode(
    kb: KnowledgeBase,
    collection: str,
    data: Beir,
    sources: dict[str, str],
    mode: Mode,
    top_k: int,
    progress: bool,
) -> dict[str, Any]:
    per_query, times = [], []
    ticker = Ticker(f"queries ({mode})", len(data.queries), progress)
    for qid, text in data.queries.items():
        ranked = ranking(kb, collection, text, mode, top_k, DEPTH)
        per_query.append(score_query([sources.get(s, s) for s in ranked], data.qrels[qid]))
        # Timed apart: the deep, floorless ranking above is not what a user waits for.
        times.append(timed_search(kb, collection, text, mode))
        ticker.step()
    ticker.close()
    scores = {name: round(value, 4) for name, value in average(per_query).items()}
    return {**scores, "latency_ms": latency(times)}


def print_beir(result: dict[str, Any]) -> None:
    """The BEIR report as a table."""
    print(
        f"{result['dataset']} ({result['split']}): {result['queries']} queries, "
        f"{result['documents']} documents, {result['chunks']} chunks in '{result['collection']}'"
    )
    print(f"{'mode':<8}" + "".join(f"{t:>11}" for t, _ in COLUMNS) + f"{'p50 ms':>9}{'p95 ms':>9}")
    for mode, row in result["modes"].items():
        cells = "".join(f"{row[key]:>11.4f}" for _, key in COLUMNS)
        print(f"{mode:<8}{cells}{row['latency_ms']['p50']:>9.1f}{row['latency_ms']['p95']:>9.1f}")
    ing = result["ingest"]
    kept = "kept" if result["kept"] else "dropped"
    print(
        f"metrics per document over the top {result['top_k_chunks']} chunks, no floor; latency "
        f"of a plain search (top_k {result['latency_top_k']}) per query"
    )
    print(
        f"ingest: {ing['ingested']} ingested, {ing['reused']} reused, {ing['failed']} failed in "
        f"{ing['seconds']:.1f} s; total {result['seconds']:.1f} s; collection {kept}"
    )
