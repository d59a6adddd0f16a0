"""Prometheus metrics of the service, multi-worker safe (prometheus-client's multiprocess mode).

The collectors are made on first use, not at import; with `PROMETHEUS_MULTIPROC_DIR` set (by
`rag serve --workers N`, before any worker imports prometheus-client) every worker writes its
samples to files in that folder and a scrape of any worker reads them all. Each start gets a
fresh folder (`sample_folder`): files left by an earlier run would otherwise be added in.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rag.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STEPS = ("rewrite", "retrieve", "generate")  # the timings of an answer that become histograms


@dataclass(frozen=True)
class Metrics:
    """The service's collectors."""

    requests: Counter
    latency: Histogram
    step: Histogram
    ollama_errors: Counter
    ollama_retries: Counter
    ingested_documents: Counter
    ingested_chunks: Counter


@cache
def metrics() -> Metrics:
    """The collectors, registered once per process in the default registry."""
    return Metrics(
        requests=Counter("rag_http_requests", "HTTP requests", ["method", "route", "status"]),
        latency=Histogram(
            "rag_http_request_seconds", "HTTP request latency", ["method", "route", "status"]
        ),
        step=Histogram("rag_step_seconds", "time of embedding, retrieval, generation", ["step"]),
        ollama_errors=Counter("rag_ollama_errors", "Ollama calls that failed", ["kind"]),
        ollama_retries=Counter("rag_ollama_retries", "Ollama calls retried", ["kind"]),
        ingested_documents=Counter("rag_ingested_documents", "documents written", ["collection"]),
        ingested_chunks=Counter("rag_ingested_chunks", "chunks written", ["collection"]),
    )


def observe_timings(timings: dict[str, float], total: str | None = None) -> None:
    """Record step timings (milliseconds) as histograms; `total` names what "total" timed."""
    for name, ms in timings.items():
        step = total if name == "total" else name
        if step in STEPS or step == "embed":
            metrics().step.labels(step).observe(ms / 1000)


def record_ingest(collection: str, documents: int, chunks: int) -> None:
    """Count documents and chunks written to a collection."""
    if documents:
        metrics().ingested_documents.labels(collection).inc(documents)
        metrics().ingested_chunks.labels(collection).inc(chunks)


def record_ollama_error(error: BaseException) -> None:
    """Count an Ollama failure that reached a caller, by its kind."""
    metrics().ollama_errors.labels(type(error).__name__).inc()


class RetryCounter(logging.Handler):
    """Counts the Ollama client's "retrying" log records (its one signal of a retry)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Count one retry, labelled by the error's kind."""
        if "retrying" in record.getMessage():
            kind = type(record.args[0]).__name__ if record.args else "error"  # type: ignore[index]
            metrics().ollama_retries.labels(kind).inc()


def count_ollama_retries() -> None:
    """Attach the retry counter to the Ollama client's logger (once)."""
    logger = logging.getLogger("rag.ollama")
    if not any(isinstance(h, RetryCounter) for h in logger.handlers):
        logger.addHandler(RetryCounter())


@contextmanager
def sample_folder(workers: int) -> Iterator[Path | None]:
    """A fresh samples folder for one `rag serve` run, removed after it (None: no files needed)."""
    given = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 and not given:
        yield None
        return
    if given and not Path(given).is_dir():
        raise ConfigError(f"{MULTIPROC_ENV}={given} is not a folder: create it or unset it")
    # Inside the given folder, not in it: its files from an earlier run would be summed in.
    with tempfile.TemporaryDirectory(prefix="rag-metrics-", dir=given or None) as fresh:
        os.environ[MULTIPROC_ENV] = fresh  # before the workers start (they inherit it)
        try:
            yield Path(fresh)
        finally:
            if given:
                os.environ[MULTIPROC_ENV] = given
            else:
                del os.environ[MULTIPROC_ENV]


def process_exit() -> None:
    """A worker's bookkeeping as it stops: its live-gauge files go (counters stay, summed)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


def exposition(store: dict[str, tuple[int, int]]) -> bytes:
    """The text format of every metric, plus the store's size now."""
    metrics()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest()
    sizes = CollectorRegistry()
    sizes.register(StoreSize(store))
    return text + generate_latest(sizes)


class StoreSize(Collector):
    """Documents and chunks per collection, read at scrape time (no samples kept in files)."""

    def __init__(self, store: dict[str, tuple[int, int]]) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The two gauges."""
        docs = GaugeMetricFamily(
            "rag_store_documents", "documents per collection", labels=["collection"]
        )
        chunks = GaugeMetricFamily(
            "rag_store_chunks", "chunks per collection", labels=["collection"]
        )
        for name, (n_docs, n_chunks) in self.store.items():
            docs.add_metric([name], n_docs)
            chunks.add_metric([name], n_chunks)
        yield docs
        yield chunks
