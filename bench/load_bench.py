"""Load: N concurrent clients against `rag serve` (/search, streamed /ask) for a fixed time.

The server is `rag serve` in its own process on a free loopback port, over a synthetic store,
with the zero-cost double. Each endpoint runs first with 1 client (the baseline), then with N.
Every phase is bounded by a duration and a request count.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.apiserver import ask_stream, search
from bench.common import Child, DoubleProc, free_port, summary
from bench.memory_bench import RAG, ingest_env
from bench.report import Report, ms
from bench.stores import SyntheticStore

MAX_REQUESTS = 20_000  # per phase, whatever the duration


class Phase:
    """Shared tallies of one load phase."""

    def __init__(self, texts: list[str], seconds: float) -> None:
        self.texts = texts
        self.deadline = time.perf_counter() + seconds
        self.lock = threading.Lock()
        self.latency: list[float] = []
        self.ttft: list[float] = []
        self.errors: list[str] = []
        self.issued = 0

    def next_text(self) -> str | None:
        """The next query, or None when time or the request budget is up."""
        with self.lock:
            if time.perf_counter() >= self.deadline or self.issued >= MAX_REQUESTS:
                return None
            self.issued += 1
            return self.texts[self.issued % len(self.texts)]


def client(url: str, kind: str, phase: Phase) -> None:
    """One client: requests back to back until the phase ends."""
    with httpx.Client(base_url=url, timeout=60) as http:
        while (text := phase.next_text()) is not None:
            try:
                if kind == "search":
                    first, total = None, search(http, text)
                else:
                    first, total = ask_stream(http, text)
            except Exception as exc:  # every failure counts; the first few are kept
                with phase.lock:
                    phase.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with phase.lock:
                phase.latency.append(total)
                if first is not None:
                    phase.ttft.append(first)


def run_phase(url: str, kind: str, clients: int, seconds: float, texts: list[str]) -> dict:
    """clients threads for seconds; throughput, errors and latency percentiles."""
    phase = Phase(texts, seconds)
    started = time.perf_counter()
    threads = [
        threading.Thread(target=client, args=(url, kind, phase), name=f"load-{n}")
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(phase.latency),
        "errors": len(phase.errors),
        "error_samples": phase.errors[:5],
        "rps": round(len(phase.latency) / elapsed, 1),
        "latency": summary(phase.latency),
        "ttft": summary(phase.ttft),
    }


def endpoint_rows(report: Report, url: str, kind: str, plan: dict, texts: list[str]) -> dict:
    """1 client, then N clients, against one endpoint; adds one row."""
    single = run_phase(url, kind, 1, plan["load_seconds"] / 2, texts)
    many = run_phase(url, kind, plan["clients"], plan["load_seconds"], texts)
    what = "/search" if kind == "search" else "/ask (stream, full answer)"
    ttft = f", TTFT p50 {many['ttft']['p50']:.0f} ms" if many["ttft"].get("n") else ""
    report.add(
        "load",
        f"{what} {plan['clients']} clients x {plan['load_seconds']:.0f} s",
        f"{many['rps']:.1f} req/s, {ms(many['latency'])}, errors {many['errors']}{ttft}",
        baseline=f"1 client {single['rps']:.1f} req/s, p50 {single['latency'].get('p50', 0):.1f}",
        ratio=f"{many['rps'] / max(single['rps'], 1e-9):.2f}x throughput",
        data={"single": single, "many": many},
    )
    return {"single": single, "many": many}


def run(report: Report, double: DoubleProc, root: Path, plan: dict[str, Any]) -> None:
    """Start `rag serve` over the plan's load store and drive both endpoints."""
    double.reset()
    store = SyntheticStore(plan["load_n"], root).ensure()
    texts = [text for text, _ in store.queries(1000)]
    port = free_port()
    env = ingest_env(double, store.data_dir) | {"RAG_PORT": str(port)}
    serve = Child([RAG, "serve"], port, "/health", root / "load-serve.log", **env)
    raw = report.raw.setdefault("load", {"n": store.n})
    try:
        with httpx.Client(base_url=serve.url, timeout=60) as http:
            for text in texts[:5]:  # warm: HNSW load, model info cache
                search(http, text)
                ask_stream(http, text)
        for kind in ("search", "ask"):
            raw[kind] = endpoint_rows(report, serve.url, kind, plan, texts)
        raw["serve_rss"] = rss = serve.rss()
    finally:
        serve.stop()
    report.add(
        "memory",
        f"RSS `rag serve` at {store.n // 1000}k chunks, after load",
        f"{rss['rss_mb']} MB (peak {rss['peak_mb']})",
        data=rss,
    )
