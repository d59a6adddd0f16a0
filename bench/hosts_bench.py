"""Several Ollama hosts: ingest throughput with two hosts vs one at the same emulated speed.

Two fast doubles, each costing HOST_COST_S per input (and serving one batch at a time, like
one GPU), ingest the same SciFact subset: once with one host, once with both, once with both
while the second one drops every connection after a few batches (failover: the run must end
with the same chunks as the one-host run).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import DoubleProc, bench_settings
from bench.ingest_bench import COLLECTION, scifact_folder
from bench.report import Report
from bench.stores import release_chroma
from ingest.run import ingest_paths
from rag.kb import KnowledgeBase

HOST_COST_S = 0.02  # per input: 50 chunks/s a host, well below what the pipeline can feed


def ingest_on(
    hosts: list[DoubleProc], data_dir: Path, folder: Path, faults: list | None = None
) -> dict[str, Any]:
    """Ingest folder into a fresh store over these hosts (the last one with `faults` armed)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = bench_settings(",".join(h.url for h in hosts), data_dir)
    for host in hosts:
        host.reset()
    if faults:
        hosts[-1].configure(faults=faults)
    with KnowledgeBase(settings, role="bench") as kb:
        started = time.perf_counter()
        report = ingest_paths(kb, COLLECTION, [str(folder)])
        wall = time.perf_counter() - started
        ids = kb.store.ids(COLLECTION)
    stats = [h.stats() for h in hosts]
    return {
        "ok": report.ok,
        "chunks": report.chunks,
        "vectors": len(ids),
        "distinct_vectors": len(set(ids)),
        "wall_s": round(wall, 2),
        "chunks_per_s": round(report.chunks / wall, 1),
        "inputs_per_host": [s["embed_inputs"] for s in stats],
        "busy_per_host": [round(s["busy_s"] / wall, 3) for s in stats],
        "faults_fired": sum(s["faults_fired"] for s in stats),
    }


def run(report: Report, double: DoubleProc, root: Path, plan: dict[str, Any]) -> None:
    """One host, two hosts, two hosts with one failing mid-run."""
    tmp = Path(tempfile.mkdtemp(prefix="hosts-", dir=root))
    folder = scifact_folder(tmp / "scifact", 200 if plan["quick"] else 800)
    hosts = [
        DoubleProc(root / f"host-{n}.log", module="bench.fast_double", embed_cost_s=HOST_COST_S)
        for n in range(2)
    ]
    try:
        one = ingest_on(hosts[:1], tmp / "one", folder)
        two = ingest_on(hosts, tmp / "two", folder)
        report.raw["hosts"] = {"one": one, "two": two}
        report.add(
            "hosts",
            f"ingest over 2 hosts ({two['chunks']} chunks, {HOST_COST_S * 1000:.0f} ms/chunk)",
            f"{two['chunks_per_s']:.0f} chunks/s (busy {two['busy_per_host']})",
            baseline=f"1 host: {one['chunks_per_s']:.0f} chunks/s (busy {one['busy_per_host']})",
            ratio=f"{two['chunks_per_s'] / one['chunks_per_s']:.2f}x 1 host",
            data={"one": one, "two": two},
        )
        failing = [{"path": "/api/embed", "drop": True, "count": -1, "after": 5}]
        over = ingest_on(hosts, tmp / "failover", folder, failing)
        report.raw["hosts"]["failover"] = over
        same = over["ok"] and over["vectors"] == over["distinct_vectors"] == one["vectors"]
        report.add(
            "hosts",
            "ingest over 2 hosts, the 2nd down after 5 batches",
            f"{over['chunks_per_s']:.0f} chunks/s, {over['vectors']} vectors",
            baseline=f"1 host: {one['vectors']} vectors",
            ratio="same chunks" if same else "MISMATCH",
            data=over,
        )
    finally:
        for host in hosts:
            host.stop()
        release_chroma()
        shutil.rmtree(tmp, ignore_errors=True)
