"""The API served in-process by uvicorn on a thread, with a probe timing the calls to Ollama."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from bench.common import free_port
from bench.stores import COLLECTION, release_chroma
from rag.api.app import create_app
from rag.config import Settings
from rag.kb import KnowledgeBase


class Probe:
    """Sums the time spent waiting for Ollama (embed calls, chat until its first chunk)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.wait_ms = 0.0
        ollama = kb.ollama
        embed, chat_stream = ollama.embed, ollama.chat_stream

        def timed_embed(texts: list[str]) -> list[list[float]]:
            started = time.perf_counter()
            try:
                return embed(texts)
            finally:
                self.wait_ms += (time.perf_counter() - started) * 1000

        def timed_stream(*args: Any, **kwargs: Any) -> Iterator[dict]:
            started = time.perf_counter()
            stream = chat_stream(*args, **kwargs)
            first = next(stream, None)
            self.wait_ms += (time.perf_counter() - started) * 1000
            if first is not None:
                yield first
                yield from stream

        ollama.embed = timed_embed  # type: ignore[method-assign]
        ollama.chat_stream = timed_stream  # type: ignore[method-assign]

    def take(self) -> float:
        """The wait since the last take(), in ms."""
        wait, self.wait_ms = self.wait_ms, 0.0
        return wait


class InProcessServer:
    """uvicorn serving create_app(settings) on a free loopback port from a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_app(settings.with_(port=port), self.url)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="bench-api", daemon=True)

    def __enter__(self) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process API server did not start")
            time.sleep(0.02)
        self.probe = Probe(self.app.state.rag.kb)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        release_chroma()


def search(client: httpx.Client, query: str, collection: str = COLLECTION) -> float:
    """One POST /search; its latency in ms (raises on an error status)."""
    return search_timed(client, query, collection)[0]


def search_timed(
    client: httpx.Client, query: str, collection: str = COLLECTION
) -> tuple[float, dict[str, float]]:
    """One POST /search: (latency in ms, the server's own timings by leg)."""
    started = time.perf_counter()
    response = client.post("/search", json={"query": query, "collection": collection})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, dict(response.json().get("timings") or {})


def ask_stream(
    client: httpx.Client, question: str, collection: str = COLLECTION
) -> tuple[float | None, float]:
    """One streamed POST /ask: (ms to the first token or None if refused, ms to the end)."""
    started = time.perf_counter()
    first: float | None = None
    body = {"question": question, "stream": True, "collection": collection}
    with client.stream("POST", "/ask", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line:
                continue
            event = json.loads(line)
            if event.get("type") == "error":
                raise RuntimeError(f"/ask failed mid-stream: {event}")
            if first is None and event.get("type") == "token":
                first = (time.perf_counter() - started) * 1000
    return first, (time.perf_counter() - started) * 1000
