"""Query latency: /search and /ask (time to first token) over HTTP at N chunks, both store modes.

Each request's wait for the Ollama double (query embedding; chat until its first chunk) is timed
inside the server and subtracted; it is reported beside. Baselines from the same run: Chroma's
own query (top 50, what the dense leg asks for) and numpy brute force over the same vectors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.apiserver import InProcessServer, ask_stream, search, search_timed
from bench.common import ChromaServer, DoubleProc, summary
from bench.report import Report, ms
from bench.stores import COLLECTION, SyntheticStore
from rag.config import Settings
from rag.retrieve import FETCH_MIN

WARMUP = 5


def brute_force(vectors: np.ndarray, pairs: list[tuple], k: int = FETCH_MIN) -> dict:
    """Exact top-k by numpy (matrix-vector product + argpartition), per query."""
    times = []
    for _, vector in pairs:
        query = np.asarray(vector, dtype=np.float32)
        started = time.perf_counter()
        scores = vectors @ query
        top = np.argpartition(-scores, k)[:k]
        top[np.argsort(-scores[top])]
        times.append((time.perf_counter() - started) * 1000)
    return summary(times)


def chroma_query(server: InProcessServer, pairs: list[tuple]) -> dict:
    """Chroma's query alone (the store call the dense leg makes), per query."""
    kb = server.app.state.rag.kb
    model = kb.settings.embed_model
    times = []
    for n, (_, vector) in enumerate(pairs[:WARMUP] + pairs):
        started = time.perf_counter()
        kb.store.query(COLLECTION, model, vector, FETCH_MIN)
        if n >= WARMUP:
            times.append((time.perf_counter() - started) * 1000)
    return summary(times)


def http_latency(server: InProcessServer, pairs: list[tuple], asks: int) -> dict[str, Any]:
    """Serial /search and streamed /ask: totals, double waits, and ours = total - wait."""
    out: dict[str, Any] = {"search": [], "search_wait": [], "ask": [], "ask_wait": []}
    legs: dict[str, list[float]] = {"dense": [], "keyword": [], "fuse": []}
    refused = 0
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for text, _ in pairs[:WARMUP]:
            search(client, text)
            ask_stream(client, text)
        server.probe.take()
        for text, _ in pairs:
            total, timings = search_timed(client, text)
            wait = server.probe.take()
            for leg, values in legs.items():
                values.append(timings.get(leg, 0.0))
            out["search"].append(total - wait)
            out["search_wait"].append(wait)
        for text, _ in pairs[:asks]:
            first, _end = ask_stream(client, text)
            wait = server.probe.take()
            if first is None:
                refused += 1
                continue
            out["ask"].append(first - wait)
            out["ask_wait"].append(wait)
    stats = {key: summary(values) for key, values in (out | legs).items()}
    return stats | {"ask_refused": refused}


def measure_mode(
    report: Report, store: SyntheticStore, mode: str, settings: Settings, pairs: list, asks: int
) -> dict[str, Any]:
    """Chroma alone and the HTTP endpoints for one store mode; adds three rows."""
    label = f"{store.n // 1000}k {mode}"
    with InProcessServer(settings) as server:
        chroma = chroma_query(server, pairs)
        http = http_latency(server, pairs, asks)
    numpy_stats = report.raw["query"][f"numpy_{store.n}"]
    report.add(
        "query",
        f"Chroma query top-{FETCH_MIN}, {label}",
        ms(chroma),
        baseline=f"numpy brute force {ms(numpy_stats)}",
        ratio=f"{numpy_stats['p50'] / chroma['p50']:.1f}x faster",
        data={"chroma": chroma, "numpy": numpy_stats},
    )
    search_row = http["search"]
    report.add(
        "query",
        f"/search {label}, excl. double",
        f"{ms(search_row)} (+double {http['search_wait']['p50']:.1f})",
        baseline=f"Chroma query {chroma['p50']:.1f} ms p50",
        ratio=f"{search_row['p50'] / chroma['p50']:.1f}x Chroma",
        note=f"legs p50: dense {http['dense']['p50']:.1f}, keyword {http['keyword']['p50']:.1f}",
        data=http,
    )
    ask_row, ask_wait = http["ask"], http["ask_wait"].get("p50", 0.0)
    report.add(
        "query",
        f"/ask TTFT {label}, excl. double",
        f"{ms(ask_row)} (+double {ask_wait:.1f})",
        baseline=f"/search {search_row['p50']:.1f} ms p50",
        ratio=f"{ask_row.get('p50', 0.0) / search_row['p50']:.2f}x /search",
        data={"refused": http["ask_refused"]},
    )
    return {"chroma": chroma, "http": http}


def build_row(report: Report, store: SyntheticStore) -> None:
    """The write rate of the store's build (this run's, or the one recorded beside the store)."""
    info = store.build_info()
    if info is None:
        return
    marks, start = info["marks"], info.get("start", 0)
    total, seconds = marks[-1]
    # The rate at the end, over the last tenth: HNSW inserts get dearer as the index grows.
    tail = next(m for m in marks if m[0] >= total - (total - start) // 10)
    before = next((m for m in reversed(marks) if m[0] < tail[0]), (start, 0.0))
    tail_rate = (total - before[0]) / max(seconds - before[1], 1e-9)
    when = "this run" if store.build_seconds else f"reused, built {info['built_at']}"
    span = f"chunks {start}-{total}" if start else f"{total} chunks"
    report.raw.setdefault("query", {})[f"build_{store.n}"] = info
    report.add(
        "query",
        f"write rate, build of {store.n // 1000}k synthetic chunks ({when})",
        f"{(total - start) / seconds:.0f} chunks/s ({span} in {seconds:.0f} s)",
        baseline=f"last {total - before[0]} chunks: {tail_rate:.0f} /s",
        note="KnowledgeBase.write (catalog, FTS5, Chroma) only: no parsing, chunking, embedding",
        data=info,
    )


def run_size(
    report: Report, double: DoubleProc, root: Path, n: int, server: bool, count: int
) -> None:
    """Build (or reuse) n chunks; measure embedded, then through `chroma run` if asked."""
    store = SyntheticStore(n, root).ensure()
    raw = report.raw.setdefault("query", {})
    build_row(report, store)
    pairs = store.queries(count)
    raw[f"numpy_{n}"] = brute_force(store.vectors, pairs)
    asks = max(WARMUP, count * 2 // 3)
    settings = store.settings.with_(ollama_host=double.url)
    raw[f"embedded_{n}"] = measure_mode(report, store, "embedded", settings, pairs, asks)
    if not server:
        return
    chroma = ChromaServer(settings.store_path, root / f"chroma-{n}.log")
    try:
        server_settings = store.server_settings(chroma.url, double.url)
        raw[f"server_{n}"] = measure_mode(report, store, "server", server_settings, pairs, asks)
        rss = chroma.rss()
        report.add(
            "memory", f"`chroma run` RSS serving {n // 1000}k", f"{rss['rss_mb']} MB", data=rss
        )
    finally:
        chroma.stop()


def run(report: Report, double: DoubleProc, root: Path, plan: dict[str, Any]) -> None:
    """Every size of the plan: [(n, with_server)], queries per cell."""
    double.reset()
    for n, server in plan["sizes"]:
        run_size(report, double, root, n, server, plan["queries"])
