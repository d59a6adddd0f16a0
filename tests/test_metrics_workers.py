"""`rag serve --workers 2` as real processes: /metrics counts every worker's requests, once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import rag_serve, subprocess_env

ROUTE = "/collections"
READER = {"Authorization": "Bearer reader-key"}
ADMIN = {"Authorization": "Bearer ops-key"}


def served_per_worker(samples: Path) -> dict[str, float]:
    """Requests to ROUTE each worker counted, read from its own samples file (by pid)."""
    counts = {}
    for path in samples.rglob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)], accumulate=True)
        counts[path.stem.removeprefix("counter_")] = sum(
            s.value
            for f in families
            if f.name == "rag_http_requests"
            for s in f.samples
            if s.name.endswith("_total") and s.labels.get("route") == ROUTE
        )
    return counts


def scraped_total(url: str) -> float:
    """Requests to ROUTE that a scrape of /metrics reports, summed over the label sets."""
    response = httpx.get(f"{url}/metrics", headers=ADMIN, timeout=10)
    assert response.status_code == 200
    return sum(
        s.value
        for f in text_string_to_metric_families(response.text)
        if f.name == "rag_http_requests"
        for s in f.samples
        if s.name.endswith("_total") and s.labels.get("route") == ROUTE
    )


def send(url: str, n: int) -> None:
    """n requests at once, each on its own connection (so the kernel spreads them)."""

    def one(_: int) -> int:
        return httpx.get(f"{url}{ROUTE}", headers=READER, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(n))) == {200}


def test_two_workers_count_every_request_once_and_each_start_from_zero(
    ollama, tmp_path, chroma_url
):
    samples = tmp_path / "prom"
    samples.mkdir()
    env = subprocess_env(
        ollama.url,
        tmp_path / "data",
        CHROMA_URL=chroma_url,
        RAG_COLLECTION="t" + os.urandom(6).hex(),
        RAG_API_KEYS="ops-key:admin,reader-key:read",
        PROMETHEUS_MULTIPROC_DIR=str(samples),
    )
    for _run in range(2):  # the second start must not add the first one's samples
        with rag_serve(env, tmp_path, "--workers", "2", seconds=90) as url:
            sent = 0
            while sent < 400 and len([n for n in served_per_worker(samples).values() if n]) < 2:
                send(url, 20)
                sent += 20
            per_worker = served_per_worker(samples)
            assert len(per_worker) == 2 and all(per_worker.values()), per_worker
            assert sum(per_worker.values()) == sent
            assert scraped_total(url) == sent  # the scraped worker adds the other one's too
            assert scraped_total(url) == sent  # and the scrape itself is not counted here
    assert list(samples.iterdir()) == []  # each run's folder is removed when it stops
