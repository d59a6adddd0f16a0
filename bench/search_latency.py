"""Search latency of retrieve() on a synthetic collection: hybrid, dense, keyword; with filters.

Builds N chunks (embedding-like vectors: a 48-d Gaussian latent through a fixed random projection
to 768 dimensions, plus noise, L2-normalised; texts drawn from a Zipf vocabulary) written straight
through KnowledgeBase.write, so no Ollama is needed. The query embedding is precomputed and
excluded from the timings. Also reports Chroma's recall@10 against exact search.

    .venv/bin/python -m bench.search_latency              # N = 10000
    .venv/bin/python -m bench.search_latency --n 100000 --data-dir /tmp/bench100k
Writes bench/results/search_latency_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.catalog_rows import now_iso  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.filetypes import KINDS  # noqa: E402
from rag.kb import DocumentVersion, KnowledgeBase  # noqa: E402
from rag.models import Chunk, DocumentRecord  # noqa: E402
from rag.retrieve import Filters, retrieve  # noqa: E402

DIM, LATENT, VOCAB = 768, 48, 5000
CHUNKS_PER_DOC = 50
VECTOR_BLOCK = 50_000  # rows of vectors made at a time
BATCH = 5000  # chunks per KnowledgeBase.write (whole documents)
COLLECTION = "bench"
MODEL = "nomic-embed-text"
FILTERS = {
    "none": None,
    "kind=pdf (25%)": Filters(kinds=["pdf"]),
    "source glob (1%)": Filters(sources=["/bench/docs/g07/*"]),
}


class Corpus:
    """Deterministic synthetic vectors and texts."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.projection = self.rng.standard_normal((LATENT, DIM)).astype(np.float32)
        ranks = np.arange(1, VOCAB + 1)
        self.word_p = (1.0 / ranks**1.1) / np.sum(1.0 / ranks**1.1)
        self.words = [_word(i) for i in range(VOCAB)]

    def vectors(self, n: int) -> np.ndarray:
        """n embedding-like unit vectors."""
        latent = self.rng.standard_normal((n, LATENT)).astype(np.float32)
        out = np.empty((n, DIM), dtype=np.float32)  # what the store keeps; 3 GB at 1M
        # In blocks of rows (the generator's stream, hence the numbers, are those of one draw):
        # whole-matrix temporaries would peak at ~5 n x 768 arrays, 15+ GB at 1M chunks.
        for start in range(0, n, VECTOR_BLOCK):
            stop = min(n, start + VECTOR_BLOCK)
            noise = self.rng.standard_normal((stop - start, DIM)).astype(np.float32)
            noise = noise * np.sqrt(LATENT) * 0.3
            out[start:stop] = _unit(latent[start:stop] @ self.projection + noise)
        return out

    def texts(self, n: int) -> list[str]:
        """n short texts of 30-60 words."""
        lengths = self.rng.integers(30, 61, size=n)
        picks = self.rng.choice(VOCAB, size=int(lengths.sum()), p=self.word_p)
        out, at = [], 0
        for length in lengths:
            out.append(" ".join(self.words[i] for i in picks[at : at + length]))
            at += length
        return out


def _word(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    word, i = "", i + 26
    while i:
        word, i = letters[i % 26] + word, i // 26
    return word + "o"


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def build(
    kb: KnowledgeBase,
    vectors: np.ndarray,
    texts: list[str],
    marks: list[tuple[int, float]] | None = None,
    start: int = 0,
    checkpoint: Callable[[], None] | None = None,
) -> float:
    """Write the chunks through the knowledge base's crash-safe write; return the seconds taken.

    From chunk `start` (a multiple of BATCH: resuming a build); marks, if given, gets (chunks
    written, seconds) after every batch, counting on from its last mark; then checkpoint()."""
    n = len(texts)
    offset = marks[-1][1] if marks else 0.0
    started = time.perf_counter()
    for first in range(start, n, BATCH):
        batch = range(first, min(n, first + BATCH))
        chunks = [_chunk(i, texts[i]) for i in batch]
        versions = []
        for doc in range(first // CHUNKS_PER_DOC, batch.stop // CHUNKS_PER_DOC):
            at = doc * CHUNKS_PER_DOC
            mine = chunks[at - first : at - first + CHUNKS_PER_DOC]
            versions.append(DocumentVersion(_record(doc), 1, mine, vectors[at : at + len(mine)]))
        kb.write(COLLECTION, versions)
        seconds = time.perf_counter() - started
        if marks is not None:
            marks.append((batch.stop, round(offset + seconds, 2)))
        if checkpoint is not None:
            checkpoint()
        if n <= 100_000 or batch.stop % 50_000 == 0 or batch.stop == n:
            rate = (batch.stop - start) / seconds
            print(f"  {batch.stop:>7} chunks written ({rate:.0f}/s)", flush=True)
    return time.perf_counter() - started


def _source(doc: int) -> str:
    return f"/bench/docs/g{doc % 100:02d}/doc{doc:05d}.{KINDS[doc % 4]}"


def _chunk(i: int, text: str) -> Chunk:
    doc = i // CHUNKS_PER_DOC
    return Chunk(
        f"d{doc:05d}:{i:07d}",
        f"d{doc:05d}",
        _source(doc),
        i % CHUNKS_PER_DOC,
        text,
        60,
        heading=f"Document {doc} > Part {i % CHUNKS_PER_DOC // 10}",
    )


def _record(doc: int) -> DocumentRecord:
    return DocumentRecord(
        f"d{doc:05d}",
        _source(doc),
        f"{doc:064x}",
        KINDS[doc % 4],
        CHUNKS_PER_DOC,
        None,
        now_iso(),
        size=1000,
    )


def queries(corpus: Corpus, vectors: np.ndarray, texts: list[str], count: int) -> dict:
    """Query sets of (text, vector): the vector is near a random chunk's (cos 0.8), the words
    are from that chunk. "content": 3 of its words outside the 100 commonest of the vocabulary
    (those stand for the stop words real text has and the tokenizer drops); "common": 4
    consecutive words, mostly the commonest (a worst case for the keyword leg)."""
    common = set(corpus.words[:100])
    sets: dict[str, list[tuple]] = {"content": [], "common": []}
    for i in corpus.rng.choice(len(texts), size=count, replace=False):
        words = texts[i].split()
        noise = corpus.rng.standard_normal(DIM).astype(np.float32)
        noise -= noise @ vectors[i] * vectors[i]
        vector = [float(x) for x in 0.8 * vectors[i] + 0.6 * noise / np.linalg.norm(noise)]
        rare = sorted({w for w in words if w not in common})
        picked: list[str] = list(corpus.rng.choice(rare, size=min(3, len(rare)), replace=False))
        start = int(corpus.rng.integers(0, max(1, len(words) - 4)))
        sets["content"].append((" ".join(picked) or words[0], vector))
        sets["common"].append((" ".join(words[start : start + 4]), vector))
    return sets


def recall_at_10(kb: KnowledgeBase, corpus: Corpus, vectors: np.ndarray, count: int) -> float:
    """Share of the exact top 10 that Chroma's HNSW returns, for fresh random queries."""
    found = 0
    ids = np.array([_chunk(i, "").id for i in range(len(vectors))])
    for query in corpus.vectors(count):
        exact = set(ids[np.argpartition(-(vectors @ query), 10)[:10]])
        got = {cid for cid, _ in kb.store.query(COLLECTION, MODEL, query.tolist(), 10)}
        found += len(exact & got)
    return found / (10 * count)


def measure(kb: KnowledgeBase, sets: dict[str, list[tuple]], warmup: int = 5) -> dict:
    """p50/p95 of retrieve() per query set, mode and filter (query embedding excluded)."""
    vectors = {text: vector for pairs in sets.values() for text, vector in pairs}
    kb.ollama.embed_query = lambda text: vectors[text]  # type: ignore[method-assign]
    results: dict = {}
    for kind, pairs in sets.items():
        for mode in ("hybrid", "dense", "keyword"):
            if kind == "common" and mode == "dense":
                continue  # the same vectors as "content": nothing new to learn
            for label, filters in FILTERS.items():
                totals, legs = [], []
                for n, (text, _) in enumerate(pairs[:warmup] + pairs):
                    got = retrieve(kb, COLLECTION, text, 5, filters, mode=mode)
                    if n >= warmup:
                        totals.append(got.timings["total"] - got.timings["embed"])
                        legs.append(got.timings)
                results.setdefault(kind, {}).setdefault(mode, {})[label] = _summary(totals, legs)
    return results


def _summary(totals: list[float], legs: list[dict]) -> dict:
    return {
        "p50_ms": round(float(np.percentile(totals, 50)), 2),
        "p95_ms": round(float(np.percentile(totals, 95)), 2),
        **{
            f"{leg}_p50_ms": round(float(np.median([t[leg] for t in legs])), 2)
            for leg in ("dense", "keyword", "fuse")
        },
    }


def report(n: int, results: dict) -> None:
    """Print the latency table."""
    print(f"\nretrieve() latency at {n} chunks, top_k=5, ms (query embedding excluded)")
    head = (
        f"{'queries':8} {'mode':8} {'filter':18} {'p50':>7} {'p95':>7} {'dense':>7} {'keyword':>8}"
    )
    print(head)
    for kind, modes in results.items():
        for mode, rows in modes.items():
            for label, row in rows.items():
                print(
                    f"{kind:8} {mode:8} {label:18} {row['p50_ms']:7.1f} {row['p95_ms']:7.1f} "
                    f"{row['dense_p50_ms']:7.1f} {row['keyword_p50_ms']:8.1f}"
                )


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) the collection, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="chunks (default 10000)")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per cell")
    parser.add_argument("--data-dir", type=Path, help="keep the store here (reused if complete)")
    args = parser.parse_args(argv)
    if args.n % CHUNKS_PER_DOC:
        parser.error(f"--n must be a multiple of {CHUNKS_PER_DOC}")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = Settings(data_dir=data_dir, ollama_host="http://127.0.0.1:9").validated()
    corpus = Corpus()
    with KnowledgeBase(settings, role="bench") as kb:
        vectors, texts = corpus.vectors(args.n), corpus.texts(args.n)  # same seed, same data
        seconds = None
        if kb.counts(COLLECTION)[1] != args.n:
            print(f"building {args.n} chunks in {data_dir}")
            kb.drop_collection(COLLECTION)
            seconds = build(kb, vectors, texts)
        load = os.getloadavg()  # other jobs on this machine skew the timings: record how much
        recall = recall_at_10(kb, corpus, vectors, 50)
        results = measure(kb, queries(corpus, vectors, texts, args.queries))
    report(args.n, results)
    print(f"HNSW recall@10 (ef_search 200, max_neighbors 32): {recall:.3f}")
    out = {
        "n": args.n,
        "queries": args.queries,
        "build_seconds": seconds and round(seconds, 1),
        "build_vectors_per_second": seconds and round(args.n / seconds),
        "recall_at_10": round(recall, 4),
        "latency": results,
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": load,
            "load_after": os.getloadavg(),
            "python": platform.python_version(),
        },
    }
    path = ROOT / "bench" / "results" / f"search_latency_{args.n}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
