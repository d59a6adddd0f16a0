"""Ingest: embedder efficiency with a 5 ms/chunk double, and raw pipeline throughput vs Chroma.

Efficiency = the double's busy time / ingest wall time (1.0: the embedder never waits for us).
For PDFs also at 1 ms/chunk (a fast GPU embedder), with long PDFs split across the parse
workers and, beside it in the same run, without (RAG_PDF_SPLIT_PAGES=0).
Throughput runs the same pipeline against a zero-cost double and compares it with Chroma's own
upsert rate for the very vectors and metadata it wrote, in batches of the pipeline's size.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from bench.common import EMBED_COST_S, SHARED, DoubleProc, bench_settings
from bench.report import Report
from bench.stores import release_chroma
from ingest.run import ingest_paths
from ingest.write_stage import WRITE_BATCH
from rag.kb import KnowledgeBase
from rag.store import HNSW, PREFIX

COLLECTION = "bench"
PDFS = SHARED / "corpus" / "pdfs"
SCIFACT = SHARED / "eval" / "scifact" / "corpus.jsonl"
THROUGHPUT_DOCS = 2000  # SciFact abstracts in the default throughput run (all under --large)
QUICK_PDFS = ("gdoc_export.pdf", "latex_multicolumn.pdf", "minutes_fr_2023-06-20.pdf")
BOOK = PDFS / "book_freeculture_352p.pdf"
FAST_EMBED_COST_S = 0.001  # a fast (GPU) embedder: PDF parsing must keep up with it


def scifact_folder(dest: Path, limit: int | None) -> Path:
    """Write SciFact abstracts as <id>.txt files (title, blank line, abstract) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    with SCIFACT.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if limit is not None and n >= limit:
                break
            doc = json.loads(line)
            text = f"{doc.get('title', '').strip()}\n\n{doc.get('text', '').strip()}\n"
            (dest / f"{doc['_id']}.txt").write_text(text, encoding="utf-8")
    return dest


def corpora(tmp: Path, quick: bool) -> dict[str, list[str]]:
    """name -> paths to ingest: the shared PDFs and SciFact as text files."""
    pdfs = [str(PDFS / name) for name in QUICK_PDFS] if quick else [str(PDFS)]
    scifact = scifact_folder(tmp / "scifact", 300 if quick else None)
    return {"pdfs": pdfs, "scifact": [str(scifact)]}


def cpu_s() -> float:
    """CPU seconds of this process and of its finished children (parse workers), not the double.

    On 2 shared cores the wall-clock ratio moves with the other jobs' load; CPU time does not.
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def ingest_once(
    double: DoubleProc, data_dir: Path, paths: list[str], **overrides: Any
) -> dict[str, Any]:
    """Ingest paths into a fresh store; wall time and the double's statistics."""
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = bench_settings(double.url, data_dir, **overrides)
    with KnowledgeBase(settings, role="bench") as kb:
        before = double.stats()
        cpu = cpu_s()
        started = time.perf_counter()
        result = ingest_paths(kb, COLLECTION, paths)
        wall = time.perf_counter() - started
        cpu = cpu_s() - cpu
        after = double.stats()
        gaps = double.lock_gaps()
    busy = after["busy_s"] - before["busy_s"]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "busy_s": round(busy, 2),
        "efficiency": round(busy / wall, 3),
        "chunks": result.chunks,
        "files_added": len(result.added),
        "files_failed": len(result.failed),
        "embed_requests": after["embed_requests"] - before["embed_requests"],
        "embed_inputs": after["embed_inputs"] - before["embed_inputs"],
        "max_batch": after["max_batch"],
        "double_handoff_s": gaps.get("handoff_s"),
        "double_starved_s": gaps.get("starved_s"),
        "store": str(settings.store_path),
    }


def chroma_baseline(store_path: str, scratch: Path) -> dict[str, Any]:
    """Upsert the vectors + metadata the pipeline wrote into a fresh collection, same config."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    quiet = ChromaSettings(anonymized_telemetry=False)
    source = chromadb.PersistentClient(path=store_path, settings=quiet)
    got = source.get_collection(PREFIX + COLLECTION, embedding_function=None).get(
        include=["embeddings", "metadatas"]
    )
    ids, vectors, metas = got["ids"], got["embeddings"], got["metadatas"]
    assert vectors is not None and metas is not None
    client = chromadb.PersistentClient(path=str(scratch), settings=quiet)
    target = client.create_collection(
        "baseline", embedding_function=None, configuration=cast(Any, {"hnsw": HNSW})
    )
    cpu = cpu_s()
    started = time.perf_counter()
    for at in range(0, len(ids), WRITE_BATCH):
        end = at + WRITE_BATCH
        target.upsert(ids=ids[at:end], embeddings=vectors[at:end], metadatas=metas[at:end])
    seconds = time.perf_counter() - started
    cpu = cpu_s() - cpu
    dim = len(vectors[0]) if len(ids) else 0
    return {
        "vectors": len(ids),
        "dim": dim,
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu, 2),
        "per_s": len(ids) / seconds,
    }


def efficiency_row(
    report: Report, name: str, run: dict[str, Any], cost: float = EMBED_COST_S, baseline: str = ""
) -> None:
    """One efficiency row."""
    ideal = run["embed_inputs"] * cost
    handoff = run.get("double_handoff_s")
    note = ""
    if handoff is not None:  # the double's own gaps are not time it waited for us
        run["efficiency_excl_double"] = fair = run["busy_s"] / (run["wall_s"] - handoff)
        waited = run["wall_s"] - run["busy_s"] - handoff
        note = (
            f"double idle {run['wall_s'] - run['busy_s']:.1f} s = waiting for us {waited:.1f} s "
            f"+ its own lock handoff {handoff:.1f} s -> {fair:.2f} excluding the handoff"
        )
    report.add(
        "ingest",
        f"efficiency {name} ({run['chunks']} chunks, {cost * 1000:.0f} ms/chunk)",
        f"{run['efficiency']:.2f} (busy {run['busy_s']:.1f} s / wall {run['wall_s']:.1f} s)",
        baseline=baseline or f"1.00 (embedder-bound; {ideal:.1f} s of it is the embed cost)",
        ratio=f"{run['wall_s'] / max(ideal, 1e-9):.2f}x cost-only wall",
        note=note,
        data=run,
    )


def efficiency(report: Report, double: DoubleProc, tmp: Path, name: str, paths: list[str]) -> None:
    """Ingest with the double costing EMBED_COST_S per input; busy/wall."""
    double.reset()
    double.configure(embed_cost_s=EMBED_COST_S)
    result = ingest_once(double, tmp / f"eff-{name}", paths)
    report.raw.setdefault("ingest", {})[f"efficiency_{name}"] = result
    efficiency_row(report, name, result)
    double.reset()


def split_efficiency(
    report: Report, double: DoubleProc, tmp: Path, name: str, paths: list[str]
) -> None:
    """At 1 ms/chunk: long PDFs split across the parse workers, and not split, side by side."""
    double.reset()
    double.configure(embed_cost_s=FAST_EMBED_COST_S)
    runs = {}
    for label, split in (("whole", 0), ("split", None)):
        overrides = {} if split is None else {"pdf_split_pages": split}
        runs[label] = ingest_once(double, tmp / f"split-{name}-{label}", paths, **overrides)
        double.reset()
        double.configure(embed_cost_s=FAST_EMBED_COST_S)
    double.reset()
    report.raw.setdefault("ingest", {})[f"efficiency_fast_{name}"] = runs
    whole, split_run = runs["whole"], runs["split"]
    efficiency_row(
        report,
        f"{name}, long PDFs split across workers",
        split_run,
        FAST_EMBED_COST_S,
        baseline=f"not split: {whole['efficiency']:.2f} (wall {whole['wall_s']:.1f} s)",
    )
    report.rows[-1].ratio = f"{whole['wall_s'] / split_run['wall_s']:.2f}x faster"


def throughput(report: Report, double: DoubleProc, tmp: Path, name: str, paths: list[str]) -> None:
    """Ingest with a zero-cost double, then Chroma alone upserting the same vectors."""
    double.reset()
    fast = ingest_once(double, tmp / f"raw-{name}", paths)
    base = chroma_baseline(fast["store"], tmp / f"base-{name}")
    fast["chunks_per_s"] = rate = fast["chunks"] / fast["wall_s"]
    data = {"pipeline": fast, "chroma": base}
    report.raw.setdefault("ingest", {})[f"throughput_{name}"] = data
    report.add(
        "ingest",
        f"throughput {name}, zero-cost double ({fast['chunks']} chunks)",
        f"{rate:.0f} chunks/s",
        baseline=f"Chroma upsert same {base['vectors']}x{base['dim']}: {base['per_s']:.0f}/s",
        ratio=f"{rate / base['per_s']:.2f}x Chroma",
        note=f"CPU s: pipeline {fast['cpu_s']:.2f} (not the double's), Chroma {base['cpu_s']:.2f}",
        data=data,
    )


def run(report: Report, double: DoubleProc, root: Path, plan: dict[str, Any]) -> None:
    """Efficiency on both corpora, throughput on SciFact (more under --large)."""
    tmp = Path(tempfile.mkdtemp(prefix="ingest-", dir=root))
    sources = corpora(tmp, plan["quick"])
    fast = DoubleProc(root / "fast-double.log", module="bench.fast_double")
    try:
        for name, paths in sources.items():
            efficiency(report, fast, tmp, name, paths)
        split_efficiency(report, fast, tmp, "352-page book", [str(BOOK)])
        if not plan["quick"]:  # the whole PDF corpus: OCR of its scans is most of the time
            split_efficiency(report, fast, tmp, "pdfs", [str(PDFS)])
        if plan["large"]:  # minutes more: the stock double's CPU, the parse-bound PDFs
            efficiency(report, double, tmp, "scifact, stock double", sources["scifact"])
            throughput(report, fast, tmp, "pdfs", sources["pdfs"])
        # A subset by default keeps `make bench` short; the whole of SciFact under --large.
        docs = 300 if plan["quick"] else None if plan["large"] else THROUGHPUT_DOCS
        subset = [str(scifact_folder(tmp / "scifact-sub", docs))]
        throughput(report, fast, tmp, f"scifact[:{docs or 'all'}]", subset)
    finally:
        fast.stop()
        release_chroma()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Only the zero-cost throughput, repeated (medians): `python -m bench.ingest_bench`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--docs", type=int, default=THROUGHPUT_DOCS, help="SciFact abstracts")
    parser.add_argument("--repeat", type=int, default=3, help="runs (the load varies)")
    args = parser.parse_args(argv)
    report = Report(vars(args))
    tmp = Path(tempfile.mkdtemp(prefix="ingest-throughput-"))
    fast = DoubleProc(tmp / "fast-double.log", module="bench.fast_double")
    try:
        subset = [str(scifact_folder(tmp / "scifact-sub", args.docs))]
        for n in range(args.repeat):
            throughput(report, fast, tmp, f"scifact[:{args.docs}] run {n + 1}", subset)
            for kind in ("raw", "base"):  # each run writes a fresh store of its own
                shutil.rmtree(tmp / f"{kind}-scifact[:{args.docs}] run {n + 1}", ignore_errors=True)
    finally:
        fast.stop()
        release_chroma()
        shutil.rmtree(tmp, ignore_errors=True)
    runs = [r.data for r in report.rows]
    ratios = [d["pipeline"]["chunks_per_s"] / d["chroma"]["per_s"] for d in runs]
    cpu = [d["chroma"]["cpu_s"] / d["pipeline"]["cpu_s"] for d in runs]
    print(
        f"median: pipeline {statistics.median(d['pipeline']['chunks_per_s'] for d in runs):.0f}"
        f" chunks/s, Chroma {statistics.median(d['chroma']['per_s'] for d in runs):.0f}/s, "
        f"ratio {statistics.median(ratios):.2f} (CPU-time ratio {statistics.median(cpu):.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
