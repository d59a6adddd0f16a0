"""Which Ollama failures are worth another try, and how httpx's exceptions become ours.

Connection errors, 502/503/504 and Ollama's "server busy" are retried with backoff; a 500 at
most once (it is usually a request Ollama did not validate); a 4xx or an overrun deadline never.
"""

from __future__ import annotations

import logging

import httpx

from rag.errors import OllamaError, OllamaTimeout, OllamaUnavailable, RagError

log = logging.getLogger(__name__)

RETRY_STATUSES = {500, 502, 503, 504}
# A 500 is usually a bad request Ollama did not validate (a wrong option type): once is enough.
MAX_500_RETRIES = 1
BUSY_MARKER = "server busy"  # Ollama's answer when its request queue is full


class Transient(OllamaError):
    """A fault worth retrying (5xx)."""


class Attempt:
    """Context manager for one try: swallows transient faults unless it is the last try."""

    def __init__(self, host: str, last: bool, number: int = 0) -> None:
        self.host = host
        self.last = last
        self.number = number  # retries already made before this try
        self.ok = False

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            self.ok = True
            return False
        error = translate(exc, self.host)
        if error is None:
            return False  # not ours: let it propagate unchanged
        # An overrun deadline already cost the whole budget: trying again would double it.
        transient = isinstance(error, Transient | OllamaUnavailable)
        transient = transient and not isinstance(error, OllamaTimeout)
        if isinstance(error, Transient) and error.upstream_status == 500:
            transient = self.number < MAX_500_RETRIES or BUSY_MARKER in error.message
        if transient and not self.last:
            log.warning("Ollama call failed, retrying: %s", error)
            return True
        if isinstance(error, Transient):
            status = error.upstream_status
            cls = OllamaUnavailable if status == 503 else OllamaError
            raise cls(f"{error} (after retries)", internal=error.internal) from exc
        if error is exc:
            return False
        raise error from exc


def translate(exc: BaseException, host: str) -> RagError | None:
    if isinstance(exc, RagError):
        return exc
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return OllamaUnavailable(
            f"cannot reach Ollama at {host}: is `ollama serve` running?", internal=host
        )
    if isinstance(exc, httpx.TimeoutException):
        return OllamaUnavailable(
            f"Ollama at {host} did not answer in time (a model may still be loading); "
            "raise RAG_OLLAMA_TIMEOUT if this persists",
            internal=host,
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return OllamaUnavailable(
            f"Ollama at {host} dropped the connection (did it crash?)", internal=host
        )
    if isinstance(exc, httpx.HTTPError):
        return OllamaUnavailable(f"HTTP error talking to Ollama at {host}: {exc}", internal=host)
    return None
