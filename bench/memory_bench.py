"""Memory: peak RSS of `rag ingest` (the 352-page book, the whole corpus) and of `rag serve`.

Each ingest runs as its own process; its peak is the kernel's high-water mark VmHWM, polled from
/proc every 20 ms until it exits (VmHWM only grows). ru_maxrss from wait4 is kept in the JSON but
not used: Linux carries the forking parent's RSS (this bench, with its vectors) into it.
The baseline is a process that only opens the store.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.apiserver import search
from bench.common import PY, ROOT, SHARED, Child, DoubleProc, free_port, rss_mb
from bench.report import Report
from bench.stores import SyntheticStore

PDFS = SHARED / "corpus" / "pdfs"
BOOK = PDFS / "book_freeculture_352p.pdf"
RAG = str(Path(PY).with_name("rag"))
OPEN_ONLY = (
    "from rag.config import Settings; from rag.kb import KnowledgeBase; "
    "kb = KnowledgeBase(Settings.load()).open(); kb.store.names(); kb.close()"
)


def peak_rss(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a command; its peak RSS (polled VmHWM) in MB, wall time and exit status."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(OSError, KeyError):
            peak = max(peak, rss_mb(proc.pid)["peak_mb"])
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = proc.stdout.read().decode(errors="replace")[-400:] if proc.stdout else ""
    return {
        "peak_mb": peak,
        "ru_maxrss_mb_inflated": round(usage.ru_maxrss / 1024),
        "seconds": round(time.perf_counter() - started, 1),
        "exit": proc.returncode,
        "output_tail": tail,
    }


def ingest_env(double: DoubleProc, data_dir: Path) -> dict[str, str]:
    """Environment for a `rag` child against the double and a private data folder."""
    return {
        "OLLAMA_HOST": double.url,
        "RAG_DATA_DIR": str(data_dir),
        "RAG_CHROMA_PATH": "",
        "CHROMA_URL": "",
        "CHROMA_HOST": "",
    }


def ingest_rows(report: Report, double: DoubleProc, tmp: Path, quick: bool) -> None:
    """Baseline (open the store only), then the book and the whole corpus, each fresh."""
    floor = peak_rss([PY, "-c", OPEN_ONLY], ingest_env(double, tmp / "floor"))
    raw = report.raw.setdefault("memory", {})
    raw["open_store_only"] = floor
    cases = {"352-page book": [str(BOOK)], "whole shared corpus (15 PDFs)": [str(PDFS)]}
    if quick:
        cases = {"minutes_fr (quick)": [str(PDFS / "minutes_fr_2023-06-20.pdf")]}
    for n, (name, paths) in enumerate(cases.items()):
        args = [RAG, "ingest", "--no-progress", *paths]
        result = peak_rss(args, ingest_env(double, tmp / f"ingest-{n}"))
        raw[f"ingest_{name}"] = result
        report.add(
            "memory",
            f"peak RSS `rag ingest` {name}",
            f"{result['peak_mb']:.0f} MB ({result['seconds']:.0f} s, exit {result['exit']})",
            baseline=f"open store only {floor['peak_mb']:.0f} MB",
            ratio=f"+{result['peak_mb'] - floor['peak_mb']:.0f} MB",
            data=result,
        )


def serve_rss(report: Report, double: DoubleProc, store: SyntheticStore, queries: int) -> None:
    """RSS of `rag serve` over the store, after it answered some /search queries."""
    port = free_port()
    env = ingest_env(double, store.data_dir) | {"RAG_PORT": str(port)}
    serve = Child([RAG, "serve"], port, "/health", store.data_dir.parent / "serve.log", **env)
    try:
        started = serve.rss()
        # The first search loads the HNSW index: at 1M chunks, 3+ GB read from disk.
        with httpx.Client(base_url=serve.url, timeout=300) as client:
            for text, _ in store.queries(queries):
                search(client, text)
        after = serve.rss()
    finally:
        serve.stop()
    report.raw.setdefault("memory", {})[f"serve_{store.n}"] = {"start": started, "after": after}
    report.add(
        "memory",
        f"RSS `rag serve` at {store.n // 1000}k chunks, after {queries} /search",
        f"{after['rss_mb']} MB (peak {after['peak_mb']})",
        baseline=f"at start-up {started['rss_mb']} MB",
        ratio=f"+{after['rss_mb'] - started['rss_mb']} MB",
        data={"start": started, "after": after},
    )


def run(report: Report, double: DoubleProc, root: Path, plan: dict[str, Any]) -> None:
    """Ingest peaks, then the server at the plan's memory size."""
    double.reset()
    tmp = Path(tempfile.mkdtemp(prefix="memory-", dir=root))
    ingest_rows(report, double, tmp, plan["quick"])
    for n in plan.get("serve_sizes", [plan["memory_n"]]):
        store = SyntheticStore(n, root).ensure()
        serve_rss(report, double, store, 50 if plan["quick"] else 200)
