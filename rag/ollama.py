"""Our Ollama client over httpx: embed, chat, tags, show; retries, timeouts and error mapping.

This is the one module that imports httpx for Ollama; every httpx exception is translated here.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import numpy as np

from rag.config import Settings
from rag.errors import (
    InputTooLong,
    ModelNotPulled,
    OllamaError,
    OllamaUnavailable,
    StreamCut,
)
from rag.hosts import Host, HostPool
from rag.ollama_io import (
    Deadline,
    checked_matrix,
    checked_vectors,
    error_text,
    json_object,
    ndjson,
    read_body,
)
from rag.ollama_retry import BUSY_MARKER, RETRY_STATUSES, Attempt, Transient, translate

log = logging.getLogger(__name__)
T = TypeVar("T")

# (document prefix, query prefix) by model family; Ollama does not add them, the model cards ask.
TASK_PREFIXES: dict[str, tuple[str, str]] = {
    "nomic-embed-text": ("search_document: ", "search_query: "),
    "mxbai-embed-large": ("", "Represent this sentence for searching relevant passages: "),
    "all-minilm": ("", ""),
    "bge-m3": ("", ""),
}
CUT_MESSAGE = (
    "Ollama's answer stream ended before it was complete (no final `done` object): "
    "the answer is cut off; try again"
)
TOO_LONG_MARKERS = ("exceeds the context length", "exceeds maximum context length")


def base_name(model: str) -> str:
    """`library/nomic-embed-text:latest` → `nomic-embed-text`."""
    return model.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def full_name(model: str) -> str:
    """Name with an explicit tag, lower-cased, for comparing with /api/tags."""
    name = model.lower()
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


@dataclass(frozen=True)
class ModelInfo:
    """What /api/show tells us about a model."""

    name: str
    context_length: int | None
    embedding_length: int | None
    capabilities: tuple[str, ...]


class OllamaClient:
    """A synchronous Ollama HTTP client over one or several hosts; safe to share between threads."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.host = settings.hosts[0]
        timeout = httpx.Timeout(settings.ollama_timeout, connect=settings.ollama_connect_timeout)

        def connect(url: str) -> httpx.Client:
            return httpx.Client(base_url=url, timeout=timeout, transport=transport)

        self.pool = HostPool(settings.hosts, connect)
        self._embed_dims: int | None = None  # from /api/show: what every vector must measure

    def close(self) -> None:
        """Release connections."""
        self.pool.close()

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- discovery -------------------------------------------------------------------------

    def version(self) -> str:
        """Ollama's version string; raises OllamaUnavailable when no host answers."""
        versions = self._each_host(
            lambda h: str(self._call("GET", "/api/version", retries=0, host=h).get("version", ""))
        )
        return versions[0]

    def tags(self, host: Host | None = None) -> list[str]:
        """Names of the pulled models, as `name:tag` (on one host, else the least busy)."""
        data = self._call("GET", "/api/tags", retries=0, host=host)
        return [str(m.get("name") or m.get("model")) for m in data.get("models") or []]

    def show(self, model: str, host: Host | None = None) -> ModelInfo:
        """Context length, embedding size and capabilities of a pulled model."""
        data = self._call("POST", "/api/show", {"model": model}, model=model, retries=1, host=host)
        info = data.get("model_info") or {}
        arch = info.get("general.architecture", "")
        ctx = info.get(f"{arch}.context_length")
        num_ctx = _parameter(data.get("parameters") or "", "num_ctx")
        if ctx and num_ctx:
            ctx = min(int(ctx), num_ctx)
        dim = info.get(f"{arch}.embedding_length")
        if dim and full_name(model) == full_name(self.settings.embed_model):
            self._embed_dims = int(dim)
        return ModelInfo(
            name=model,
            context_length=int(ctx or num_ctx or 0) or None,
            embedding_length=int(dim) if dim else None,
            capabilities=tuple(data.get("capabilities") or ()),
        )

    def require_model(self, model: str) -> ModelInfo:
        """Fail with a clear message unless the model is pulled on every host that answers."""
        infos = self._each_host(lambda host: self._require_on(model, host))
        # The smallest context any host gives the model is the one every chunk must fit.
        return min(infos, key=lambda info: info.context_length or 1 << 30)

    def _require_on(self, model: str, host: Host) -> ModelInfo:
        pulled = {full_name(name) for name in self.tags(host)}
        if full_name(model) not in pulled:
            pull = f"run `ollama pull {model}`"
            if not self.pool.several:
                raise ModelNotPulled(f"model '{model}' is not pulled: {pull}")
            raise ModelNotPulled(
                f"model '{model}' is not pulled on one of the Ollama hosts ({host.url}): "
                f"{pull} on it",
                internal=host.url,
            )
        return self.show(model, host)

    def _each_host(self, action: Callable[[Host], T]) -> list[T]:
        """Run action on every host; one that cannot be reached is left out (and taken out)."""
        results: list[T] = []
        unreachable: OllamaUnavailable | None = None
        for host in self.pool.hosts:
            try:
                results.append(action(host))
            except OllamaUnavailable as exc:
                if not self.pool.several:
                    raise
                log.warning("Ollama at %s does not answer: %s", host.url, exc)
                unreachable = unreachable or exc
        if not results:
            assert unreachable is not None
            raise unreachable
        return results

    # -- embeddings ------------------------------------------------------------------------

    def prefixes(self) -> tuple[str, str]:
        """(document prefix, query prefix) for the embedding model, settings first."""
        doc, query = TASK_PREFIXES.get(base_name(self.settings.embed_model), ("", ""))
        if self.settings.embed_doc_prefix is not None:
            doc = self.settings.embed_doc_prefix
        if self.settings.embed_query_prefix is not None:
            query = self.settings.embed_query_prefix
        return doc, query

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed texts exactly as given, in one request (no truncation: too long is an error)."""
        raw = self._embed_raw(texts)
        return checked_vectors(raw, len(texts), self._embed_dims, self.settings.embed_model)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Embed chunks for indexing, with the model's document prefix: one float32 row each."""
        prefix = self.prefixes()[0]
        raw = self._embed_raw([prefix + t for t in texts])
        return checked_matrix(raw, len(texts), self._embed_dims, self.settings.embed_model)

    def _embed_raw(self, texts: list[str]) -> Any:
        model = self.settings.embed_model
        body = {
            "model": model,
            "input": texts,
            "truncate": False,
            "keep_alive": self.settings.keep_alive,
        }
        return self._call("POST", "/api/embed", body, model=model, units=len(texts)).get(
            "embeddings"
        )

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query, with the model's query prefix."""
        return self.embed([self.prefixes()[1] + text])[0]

    def preload(self, model: str, kind: str) -> None:
        """Load a model now on every host (the contract's empty request): first calls are warm."""
        if kind == "embed":
            path, body = "/api/embed", {"model": model, "input": [], **self._keep()}
        else:
            path, body = "/api/chat", {"model": model, "messages": [], **self._keep()}
        self._each_host(lambda host: self._call("POST", path, body, model, host=host))

    # -- chat ------------------------------------------------------------------------------

    def chat(
        self, messages: list[dict[str, Any]], options: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One non-streaming chat completion; returns Ollama's response object."""
        body = self._chat_body(messages, options, stream=False)
        data = self._call("POST", "/api/chat", body, model=self.settings.chat_model)
        if data.get("done") is not True:
            raise StreamCut(CUT_MESSAGE)
        return data

    def chat_stream(
        self,
        messages: list[dict[str, Any]],
        options: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream chat chunks as Ollama sends them; the last one has `done: true`.

        A stream that ends without that object raises StreamCut: its text is not a whole answer.
        `extra` holds further top-level fields of the request (`tools`, `format`).
        """
        body = {**self._chat_body(messages, options, stream=True), **(extra or {})}
        response, host, deadline = self._open_stream(body)
        idle, first = self.settings.ollama_idle_timeout, self.settings.ollama_timeout
        try:
            for chunk in ndjson(response, deadline, idle, first):
                yield chunk
                if chunk.get("done") is True:
                    return
        except httpx.HTTPError as exc:
            self.pool.fail(host, exc)
            # Never retry once tokens went out: the caller would see them twice.
            raise (translate(exc, host.url) or OllamaError(str(exc))) from exc
        finally:
            response.close()
        raise StreamCut(CUT_MESSAGE)

    def _open_stream(self, body: dict[str, Any]) -> tuple[httpx.Response, Host, Deadline]:
        """Send a streaming request to a healthy host, retrying until the headers arrive."""
        for attempt, host in self._attempts(self.settings.ollama_retries):
            with attempt, self.pool.use(host):
                deadline = Deadline(self.settings.ollama_deadline, host.url)
                response = self._send(host, "POST", "/api/chat", body, deadline)
                if response.status_code >= 400:
                    self._raise_for(response, read_body(response, deadline), body["model"])
                return response, host, deadline
        raise AssertionError("unreachable")  # pragma: no cover

    def _chat_body(
        self, messages: list[dict[str, Any]], options: dict[str, Any] | None, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.chat_model,
            "messages": messages,
            "stream": stream,
            **self._keep(),
        }
        if options:
            body["options"] = options
        return body

    def _keep(self) -> dict[str, str]:
        return {"keep_alive": self.settings.keep_alive}

    # -- transport -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        model: str | None = None,
        retries: int | None = None,
        host: Host | None = None,
        units: int = 1,
    ) -> dict[str, Any]:
        """Send one request with retries on transient faults; return the JSON body.

        Without a fixed host each try goes to the least loaded healthy one, so a retry after a
        host failed lands on another host when there is one.
        """
        budget = self.settings.ollama_retries if retries is None else retries
        for attempt, target in self._attempts(budget, host):
            with attempt, self.pool.use(target, units):
                deadline = Deadline(self.settings.ollama_deadline, target.url)
                response = self._send(target, method, path, body, deadline)
                try:
                    data = read_body(response, deadline)
                finally:
                    response.close()
                if response.status_code >= 400:
                    self._raise_for(response, data, model)
                return json_object(data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, host: Host, method: str, path: str, body: dict[str, Any] | None, deadline: Deadline
    ) -> httpx.Response:
        """Send a request and return once its headers are in; the body is read by the caller."""
        settings = self.settings
        read = min(settings.ollama_timeout, deadline.left())
        timeout = httpx.Timeout(read, connect=min(settings.ollama_connect_timeout, read))
        request = host.http.build_request(method, path, json=body, timeout=timeout)
        return host.http.send(request, stream=True)

    def _attempts(self, retries: int, fixed: Host | None = None) -> Iterator[tuple[Attempt, Host]]:
        for number in range(retries + 1):
            host = fixed or self.pool.pick()
            attempt = Attempt(host.url, last=number == retries, number=number)
            yield attempt, host
            if attempt.ok:
                return
            if fixed is None and self.pool.another_ready(host):
                continue  # another host can take it now: no need to wait for this one
            time.sleep(min(8.0, 0.5 * 2**number) * (0.75 + random.random() / 2))

    def _raise_for(self, response: httpx.Response, body: bytes, model: str | None) -> None:
        response.close()
        status = response.status_code
        message = error_text(body, response.reason_phrase)
        if status == 404 and model and "not found" in message:
            raise ModelNotPulled(f"model '{model}' is not pulled: run `ollama pull {model}`")
        if status == 400 and any(m in message for m in TOO_LONG_MARKERS):
            raise InputTooLong(f"Ollama: {message}", status)
        if status in RETRY_STATUSES or BUSY_MARKER in message:
            raise Transient(f"Ollama answered {status}: {message}", status)
        raise OllamaError(f"Ollama answered {status}: {message}", status)


def _parameter(text: str, key: str) -> int | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == key:
            try:
                return int(parts[1])
            except ValueError:
                return None
    return None
