"""The Ollama double with cheap embeddings and a timed embed lock, for measuring our pipeline.

The stock double computes each vector in pure Python (hashed word features): about 2.5 ms of
CPU per input on this machine, which on 2 cores competes with the pipeline and caps a
"zero-cost" run at a few hundred chunks/s. This variant draws each vector with numpy from a
48-d latent through a fixed projection (embedding-like, deterministic per text) and writes its
JSON answers with orjson (the same values; the stdlib encoder
took ~40 ms of the double's CPU per batch of 32 vectors, CPU the 2 cores then lacked for the
pipeline under test); everything else (HTTP, batching, the embed lock, embed_cost_s,
statistics) is the stock double's.

Its embed lock also records the gaps between batches (GET /_bench/lock): "starved" while no
request was waiting (the embedder waited for us) and "handoff" while one was (the double's own
latency: a single Python process whose JSON encoding of the last reply holds its GIL).

    .venv/bin/python -m bench.fast_double --port 0 --embed-cost-s 0.005
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from typing import Any

import numpy as np
import orjson

from tests.ollama_double import __main__ as double_main
from tests.ollama_double import embed_api, exchange, server, state

LATENT = 48
_projections: dict[tuple[str, int], np.ndarray] = {}


def cheap_embed(text: str, seed: str, dim: int) -> list[float]:
    """A unit vector for text: latent Gaussian through a per-model projection, plus noise."""
    key = (seed, dim)
    if key not in _projections:
        model_seed = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest())
        rng = np.random.default_rng(model_seed)
        _projections[key] = rng.standard_normal((LATENT, dim)).astype(np.float32)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest))
    vec = rng.standard_normal(LATENT).astype(np.float32) @ _projections[key]
    vec += rng.standard_normal(dim).astype(np.float32) * np.float32(np.sqrt(LATENT) * 0.3)
    vec /= np.linalg.norm(vec)
    return list(np.round(vec.astype(np.float64), 7).tolist())


class TimedLock:
    """A mutex that sums idle gaps between holders, split by whether someone was waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the history (the next holder starts a new run)."""
        with self._meta:
            self.released_at: float | None = None
            self.starved_s = self.handoff_s = 0.0
            self.batches = 0

    def __enter__(self) -> None:
        arrived = time.perf_counter()
        self._lock.acquire()
        now = time.perf_counter()
        with self._meta:
            self.batches += 1
            if self.released_at is not None:
                self.starved_s += max(0.0, arrived - self.released_at)
                self.handoff_s += now - max(arrived, self.released_at)

    def __exit__(self, *exc: object) -> None:
        with self._meta:
            self.released_at = time.perf_counter()
        self._lock.release()

    def snapshot(self) -> dict[str, float]:
        """Gaps so far, in seconds."""
        with self._meta:
            return {"starved_s": self.starved_s, "handoff_s": self.handoff_s, "n": self.batches}


def fast_json(ex: exchange.Exchange, status: int, obj: Any) -> None:
    """Exchange.send_json through orjson, escaping HTML characters as Go does."""
    data = orjson.dumps(obj)
    if b"<" in data or b">" in data or b"&" in data:
        data = data.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    ex.send_bytes(status, data, exchange.JSON_TYPE)


def _install() -> None:
    embed_api.embed_text = cheap_embed
    exchange.Exchange.send_json = fast_json  # type: ignore[method-assign]
    init, reset = state.State.__init__, state.State.reset

    def new_init(self: state.State, **knobs: Any) -> None:
        init(self, **knobs)
        self.embed_lock = TimedLock()  # type: ignore[assignment]

    def new_reset(self: state.State) -> None:
        reset(self)
        if isinstance(self.embed_lock, TimedLock):
            self.embed_lock.reset()

    def lock_stats(ex: Any) -> None:
        ex.send_json(200, ex.state.embed_lock.snapshot())

    state.State.__init__ = new_init  # type: ignore[method-assign]
    state.State.reset = new_reset  # type: ignore[method-assign]
    server.ROUTES[("GET", "/_bench/lock")] = lock_stats


def main(argv: list[str] | None = None) -> int:
    """Run the double's CLI with the cheap embedding function and the timed lock in place."""
    _install()
    return double_main.main(argv)


if __name__ == "__main__":
    sys.exit(main())
