"""Run the benchmarks and print one table; results go to bench/results/bench-<time>.json.

    .venv/bin/python -m bench.run                  # default (~15 min): 10k and 100k chunks
    .venv/bin/python -m bench.run --quick          # smoke run (~2 min), small sizes
    .venv/bin/python -m bench.run --large --cache-dir DIR  # adds 1M chunks: hours (see below)
    .venv/bin/python -m bench.run --only query,memory --sizes 250000 --cache-dir DIR
    .venv/bin/python -m bench.run --only query,load --cache-dir /tmp/rag-bench

Building the synthetic store is the long part, and it slows as Chroma's HNSW graph grows: on 2
shared cores (load 5-9) 250k chunks took 36 min (115 chunks/s) and 1M would take about 3 hours,
then ~6 min of measurements at 250k. Keep the store with --cache-dir: an interrupted build
resumes where it stopped, and the next run reuses it (its write rate is kept in build.json).

Sections: ingest (embedder efficiency, pipeline vs Chroma throughput), hosts (two Ollama hosts
vs one, failover), query (/search and /ask
latency, embedded and `chroma run`, vs Chroma alone and numpy brute force), memory (peak RSS of
`rag ingest`, RSS of `rag serve`), load (concurrent clients against `rag serve`).
Everything is local: the Ollama test double, Chroma and the API on free loopback ports.
"""

from __future__ import annotations

import os

# One BLAS thread: on 2 shared cores threading slows the numpy baseline's matrix-vector product.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import hosts_bench, ingest_bench, load_bench, memory_bench, query_bench
from bench.common import DoubleProc, load
from bench.report import Report

SECTIONS = {
    "ingest": ingest_bench.run,
    "hosts": hosts_bench.run,
    "query": query_bench.run,
    "memory": memory_bench.run,
    "load": load_bench.run,
}


def plan_for(args: argparse.Namespace) -> dict[str, Any]:
    """Sizes, counts and durations for the chosen mode."""
    if args.quick:
        return {
            "quick": True,
            "large": args.large,
            "sizes": [(2_000, True)],
            "queries": 40,
            "memory_n": 2_000,
            "serve_sizes": [2_000],
            "load_n": 2_000,
            "load_seconds": 4.0,
            "clients": args.clients,
        }
    sizes = [(10_000, True), (100_000, True)] + ([(1_000_000, True)] if args.large else [])
    serve_sizes = [100_000] + ([1_000_000] if args.large else [])
    if args.sizes:
        sizes = [(n, not args.no_server) for n in args.sizes]
        serve_sizes = list(args.sizes)
    return {
        "quick": False,
        "large": args.large,
        "sizes": sizes,
        "queries": args.queries,
        "memory_n": 100_000,
        "serve_sizes": serve_sizes,  # `rag serve` RSS at these sizes
        "load_n": 100_000,
        "load_seconds": args.seconds,
        "clients": args.clients,
    }


def chunk_counts(text: str) -> list[int]:
    """'10000,1000000' -> [10000, 1000000]; each a positive multiple of 50 (chunks per doc)."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of chunk counts: {text!r}") from None
    if any(n <= 0 or n % 50 for n in counts):
        raise argparse.ArgumentTypeError("chunk counts must be positive multiples of 50")
    return counts


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also 1M chunks (its build: ~3 h)")
    parser.add_argument("--quick", action="store_true", help="fast smoke run, small sizes")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--queries", type=int, default=300, help="timed queries per cell")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (load)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per load phase")
    parser.add_argument(
        "--cache-dir", type=Path, help="keep synthetic stores here and reuse them next time"
    )
    parser.add_argument(
        "--sizes",
        type=chunk_counts,
        help="comma-separated chunk counts for query and `rag serve` memory (e.g. 1000000)",
    )
    parser.add_argument(
        "--no-server", action="store_true", help="with --sizes: embedded Chroma only"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")
    return args


def run_sections(report: Report, double: DoubleProc, root: Path, args: argparse.Namespace) -> int:
    """Each chosen section in order; a failing section is reported and the others still run."""
    plan = plan_for(args)
    report.meta["plan"] = plan
    failures = 0
    for name in [s for s in SECTIONS if s in args.only.split(",")]:
        print(f"\n== {name} (load {load():.2f})", flush=True)
        started = time.perf_counter()
        try:
            SECTIONS[name](report, double, root, plan)
        except Exception as exc:
            failures += 1
            traceback.print_exc()
            report.add(name, "SECTION FAILED", f"{type(exc).__name__}: {exc}"[:120])
        seconds = round(time.perf_counter() - started, 1)
        report.meta.setdefault("section_seconds", {})[name] = seconds
        print(f"   {name} took {seconds:.0f} s", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; exit 1 if a section failed."""
    args = parse(argv)
    root = args.cache_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    report = Report({k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})
    meta = report.meta
    print(
        f"machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['mem_gib']} GiB, "
        f"load {os.getloadavg()}, chromadb {meta['chromadb']}; work dir {root}",
        flush=True,
    )
    double = DoubleProc(root / "double.log")
    try:
        failures = run_sections(report, double, root, args)
    finally:
        double.stop()
        if args.cache_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n" + report.table())
    print(
        f"\nload average at the end: {os.getloadavg()}; total {time.time() - report.started:.0f} s"
    )
    print(f"wrote {report.write('quick' if args.quick else 'bench')}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
