"""Several Ollama hosts behind one client: pick by measured load, take failing hosts out a while.

Each host keeps its own connection pool, a count of requests in flight and a moving average of
seconds per unit of work (an input for embeddings, a request otherwise). A request goes to the
healthy host with the lowest expected wait, `(in flight + 1) × seconds per unit`, so a faster
host gets more of the batches and a host that is still busy gets fewer. A host whose request
fails at the transport level (or with a 5xx) is out for a cooldown that doubles with each
failure in a row, then tried again; one success puts it back for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from rag.errors import OllamaError, OllamaUnavailable

log = logging.getLogger(__name__)

COOLDOWN_S = 2.0  # first time out for a failing host; doubles per failure in a row
MAX_COOLDOWN_S = 60.0
SMOOTHING = 0.3  # weight of the newest latency sample in the moving average


class Host:
    """One Ollama server and what we measured about it."""

    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url = url
        self.http = http
        self.in_flight = 0
        self.per_unit_s = 0.0  # 0 until measured
        self.failures = 0  # in a row
        self.down_until = 0.0  # monotonic time; 0: healthy
        self.served = 0


class HostPool:
    """The hosts of one client; thread-safe."""

    def __init__(self, urls: tuple[str, ...], make_http: Callable[[str], httpx.Client]) -> None:
        assert urls, "at least one Ollama host"
        self.hosts = [Host(url, make_http(url)) for url in urls]
        self._lock = threading.Lock()
        self._turn = 0  # rotates ties so equal hosts share the work from the start

    def close(self) -> None:
        """Release every host's connections."""
        for host in self.hosts:
            host.http.close()

    @property
    def several(self) -> bool:
        """More than one host configured."""
        return len(self.hosts) > 1

    def healthy(self) -> list[Host]:
        """Hosts not in a cooldown right now."""
        now = time.monotonic()
        with self._lock:
            return [h for h in self.hosts if h.down_until <= now]

    def pick(self) -> Host:
        """The host a new request should go to; if all are out, the one back soonest."""
        now = time.monotonic()
        with self._lock:
            self._turn += 1
            count = len(self.hosts)
            order = [self.hosts[(self._turn + i) % count] for i in range(count)]
            ready = [h for h in order if h.down_until <= now]
            if not ready:
                return min(order, key=lambda h: h.down_until)
            # An unmeasured host counts as average (its requests in flight still weigh).
            measured = [h.per_unit_s for h in self.hosts if h.per_unit_s > 0]
            prior = sum(measured) / len(measured) if measured else 1.0
            return min(ready, key=lambda h: (h.in_flight + 1) * (h.per_unit_s or prior))

    def another_ready(self, host: Host) -> bool:
        """Is a host other than this one healthy (so a retry need not wait)?"""
        return any(h is not host for h in self.healthy())

    @contextmanager
    def use(self, host: Host, units: int = 1) -> Iterator[None]:
        """Account one request to host: in flight while inside, latency or failure after."""
        with self._lock:
            host.in_flight += 1
        started = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self._settle(host)
            if is_host_fault(exc):
                self.fail(host, exc)
            raise
        self._settle(host)
        self.succeed(host, (time.monotonic() - started) / max(1, units))

    def _settle(self, host: Host) -> None:
        with self._lock:
            host.in_flight -= 1

    def succeed(self, host: Host, per_unit_s: float) -> None:
        """Record a good answer: the host is healthy and this fast."""
        with self._lock:
            if host.failures:
                log.info("Ollama at %s answers again", host.url)
            host.failures = 0
            host.down_until = 0.0
            host.served += 1
            old = host.per_unit_s
            host.per_unit_s = per_unit_s if old == 0 else old + SMOOTHING * (per_unit_s - old)

    def fail(self, host: Host, reason: BaseException) -> None:
        """Take host out for a cooldown (longer each failure in a row)."""
        with self._lock:
            host.failures += 1
            pause = min(MAX_COOLDOWN_S, COOLDOWN_S * 2 ** (host.failures - 1))
            host.down_until = time.monotonic() + pause
        if self.several:
            log.warning("Ollama at %s failed (%s): out for %.0f s", host.url, reason, pause)


def is_host_fault(exc: BaseException) -> bool:
    """A failure of the host itself (unreachable, dropped, timed out, 5xx), not of the request."""
    if isinstance(exc, httpx.TransportError | OllamaUnavailable):
        return True
    status = exc.upstream_status if isinstance(exc, OllamaError) else None
    return status is not None and status >= 500
