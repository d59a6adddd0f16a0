"""`rag eval DATASET`: retrieval quality on a BEIR folder (dense, keyword, hybrid), or answer
quality on a SQuAD file (see rag.eval_qa), measured on a throwaway collection.

BEIR: every corpus entry becomes the document `beir/<dataset>/<_id>.txt` (title, blank line,
text) and goes through the normal ingest pipeline; every query that has judgements in the split
goes through the normal retrieval. Metrics are per document (a document's chunks count once, at
its best rank), over the ranking itself: no relevance floor (min_score=-1) and the candidates
list, which ranks the fused results before the floor. See rag.metrics for the definitions.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rag.errors import BadRequest, RagError
from rag.metrics import average, dedupe, latency, score_query

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.kb import KnowledgeBase

MODES = ("dense", "keyword", "hybrid")
DEPTH = 100  # distinct documents each query ranks: Recall@100 needs 100
COLUMNS = (
    ("nDCG@10", "ndcg@10"),
    ("Recall@10", "recall@10"),
    ("Recall@100", "recall@100"),
    ("MRR@10", "mrr@10"),
)


def add_parser(sub: Any) -> None:
    """Register `rag eval`."""
    p = sub.add_parser(
        "eval",
        help="measure retrieval (BEIR folder) or answer quality (SQuAD file)",
        description="Ingest a benchmark into a throwaway collection and measure it. A BEIR folder "
        "(corpus.jsonl, queries.jsonl, qrels/*.tsv) reports nDCG@10, Recall@10/100, MRR@10 and "
        "latency for dense, keyword and hybrid retrieval. A SQuAD-format .json file (or --qa) "
        "reports the gold paragraph's hit rate, answers citing it, and refusals on questions "
        "whose paragraph was held out of the index.",
    )
    p.add_argument("dataset", metavar="DATASET", help="BEIR folder or SQuAD .json file")
    p.add_argument("--split", help="qrels split (default: test, else train, else the only one)")
    p.add_argument("--qa", action="store_true", help="treat DATASET as SQuAD-format QA")
    p.add_argument("--limit", type=_positive, metavar="N", help="evaluate the first N queries")
    p.add_argument("-c", "--collection", help="throwaway collection (default eval-<dataset>)")
    p.add_argument("--keep", action="store_true", help="keep the index to reuse next time")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_eval)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Run the evaluation and print the table (or JSON)."""
    from rag.kb import KnowledgeBase

    path = Path(args.dataset).expanduser()
    qa = args.qa or (path.is_file() and path.suffix.lower() == ".json")
    if not path.exists():
        raise BadRequest(f"no such dataset: {args.dataset}")
    with KnowledgeBase(settings, role="eval") as kb:
        if qa:
            from rag.eval_qa import print_qa, run_qa

            result = run_qa(kb, path, args)
            show = print_qa
        else:
            result = run_beir(kb, path, args)
            show = print_beir
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        show(result)
    return 0


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


def source_for(prefix: str, key: str) -> str:
    """A document's source under the eval prefix; the key is quoted so any id is a file name."""
    return f"{prefix}{quote(key, safe='')}.txt"


def collection_for(dataset: str) -> str:
    """The default throwaway collection name for a dataset, e.g. eval-scifact."""
    return "eval-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", dataset).strip("-_") or "data")[:56]


# -- shared by both modes: the collection, ingest, ranking, progress -----------------------------


@contextmanager
def throwaway(kb: KnowledgeBase, collection: str, prefix: str, keep: bool) -> Iterator[None]:
    """Use a collection for evaluation only; drop it afterwards unless keep."""
    foreign = [
        r.source for r in kb.catalog.documents(collection) if not r.source.startswith(prefix)
    ]
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
    from ingest.pipeline import Pipeline  # the eval command is a CLI edge: rag may call ingest
    from ingest.report import IngestReport
    from ingest.sources import Item
    from rag.progress import ProgressBar

    present = {r.source: r for r in kb.catalog.documents(collection)}
    for source, record in present.items():
        if source not in docs:  # left by an earlier run over other data or another hold-out
            kb.delete_document(collection, record.doc_id)
    items = []
    for source, text in docs.items():
        data = text.encode("utf-8")
        known = present.get(source)
        if known is None or known.sha256 != hashlib.sha256(data).hexdigest():
            items.append(Item(source, len(data), 0, functools.partial(bytes, data)))
    report = IngestReport(collection)
    bar = ProgressBar(enabled=None if progress else False)
    try:
        Pipeline(kb, collection, report, bar).run(items)
    finally:
        bar.close()
    if report.aborted:
        raise RagError(f"ingest stopped: {report.aborted}")
    for failure in report.failed[:5]:
        print(f"warning: {failure['path']}: {failure['error']}", file=sys.stderr)
    return {
        "ingested": len(report.added) + len(report.updated),
        "reused": len(docs) - len(items),
        "failed": len(report.failed),
        "seconds": round(report.seconds, 2),
    }


def chunk_depth(kb: KnowledgeBase, collection: str, documents: int) -> int:
    """Chunks to retrieve so that `documents` distinct documents are likely among them."""
    docs, chunks = kb.catalog.counts(collection)
    per_doc = chunks / max(docs, 1)
    # The best chunks rarely all come in pairs from one document: 1.5x covers SciFact (~1.9
    # chunks per abstract) with 110+ distinct documents, and ranking() widens when it is short.
    return max(documents, math.ceil(documents * min(per_doc, 1.5)))


def ranking(
    kb: KnowledgeBase, collection: str, query: str, mode: str, top_k: int, documents: int
) -> list[str]:
    """Distinct sources of the best chunks, best first, with no relevance floor."""
    from rag.retrieve import retrieve

    try:
        found = retrieve(kb, collection, query, top_k, mode=mode, min_score=-1.0)
    except BadRequest:  # an empty query ranks nothing; it still counts, with zeros
        return []
    ranked = dedupe(h.source for h in found.candidates)
    if len(ranked) < documents and len(found.candidates) == top_k:
        # Some documents have many chunks: fetch deeper once to reach enough distinct ones.
        found = retrieve(kb, collection, query, 2 * top_k, mode=mode, min_score=-1.0)
        ranked = dedupe(h.source for h in found.candidates)
    return ranked[:documents]


def timed_search(kb: KnowledgeBase, collection: str, query: str, mode: str) -> float:
    """Milliseconds of the search a user runs (`rag search`: configured top_k and floor)."""
    from rag.retrieve import retrieve

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
        chunks = kb.catalog.counts(collection)[1]
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
    mode: str,
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
