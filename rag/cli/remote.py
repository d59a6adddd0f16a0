"""The CLI's backend while `rag serve` owns the embedded store: the server's HTTP API."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from rag.apikeys import pick
from rag.cli.common import Body, check_exists, resolved
from rag.config import Settings, check_collection
from rag.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    OllamaError,
    PayloadTooLarge,
    RagError,
    ServiceUnavailable,
    Unauthorized,
)

ERRORS: dict[int, type[RagError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: BadRequest,
    502: OllamaError,
    503: ServiceUnavailable,
}


def client_url(url: str) -> str:
    """The URL to reach a server from this machine (a wildcard bind is reached on loopback)."""
    parts = urlsplit(url)
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(parts.hostname or "")
    if host is None:
        return url.rstrip("/")
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


def _error(response: httpx.Response) -> RagError:
    try:
        detail = response.json().get("detail") or response.text
    except ValueError:
        detail = response.text or response.reason_phrase
    return ERRORS.get(response.status_code, RagError)(f"the server said: {detail}")


class Remote:
    """The Backend on a running `rag serve` (same answers, through its API)."""

    def __init__(self, settings: Settings, owner: dict[str, Any]) -> None:
        self.settings = settings
        self.url = client_url(str(owner["url"]))
        self.token = str(owner.get("token") or "")
        self.http = httpx.Client(base_url=self.url, timeout=None)

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def auth(self, scope: str) -> dict[str, str]:
        """The Authorization header of the configured key with the least scope that suffices."""
        if not self.settings.api_keys:
            return {}
        key = pick(self.settings.api_keys, scope)
        if key is None:
            raise Forbidden(
                f"this needs an API key with the '{scope}' scope (or admin): add one to "
                "RAG_API_KEYS as `key:{scope}` (the configured keys have less)"
            )
        return {"Authorization": f"Bearer {key.key}"}

    def _call(self, method: str, path: str, scope: str = "read", **kwargs: Any) -> Body:
        headers = {**kwargs.pop("headers", {}), **self.auth(scope)}
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach `rag serve` at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        data: Body = response.json()
        return data

    def collection(self, name: str | None, must_exist: bool | None = False) -> str:
        """A validated collection name, checked against the server's collections."""
        try:
            checked = check_collection(name or self.settings.collection)
        except ConfigError as exc:
            raise BadRequest(str(exc)) from None
        if must_exist is None:
            return checked
        names = [c["name"] for c in self.collections()["collections"]]
        return check_exists(checked, names, self.settings.collection, must_exist)

    def collections(self) -> Body:
        """GET /collections."""
        return self._call("GET", "/collections")

    def documents(self, collection: str) -> Body:
        """GET /documents."""
        return self._call("GET", "/documents", params={"collection": collection})

    def search(self, collection: str, query: str, options: Body) -> Body:
        """POST /search."""
        return self._call(
            "POST", "/search", json={"query": query, "collection": collection, **options}
        )

    def ask(self, collection: str, question: str, options: Body) -> Iterator[str | Body]:
        """Streamed POST /ask: token texts, then the answer body."""
        payload = {"question": question, "collection": collection, "stream": True, **options}
        try:
            with self.http.stream(
                "POST", "/ask", json=payload, headers=self.auth("read")
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield from _event(json.loads(line))
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach `rag serve` at {self.url}: {exc}") from None

    def delete(self, collection: str, ref: str) -> Body:
        """DELETE /documents/{id} of the document with this id, source as shown, or path."""
        docs = self.documents(collection)["documents"]
        shown = ref.strip().removeprefix("./")
        match = [d for d in docs if d["id"] == ref or d["source"] == shown]
        # A path is resolved here, where the user typed it; only the server knows stored paths.
        try:
            found = match[0] if len(match) == 1 else self._find_local(collection, resolved(ref))
        except NotFound:
            if len(match) > 1:  # as KnowledgeBase.find_document says it for a local run
                raise Conflict(
                    f"{len(match)} documents are shown as {ref!r}: name one by its id"
                ) from None
            raise NotFound(f"no document {ref!r} in collection '{collection}'") from None
        path = f"/documents/{quote(found['id'], safe='')}"
        done = self._call("DELETE", path, "write", params={"collection": collection})
        return {"collection": done["collection"], "deleted": done["deleted"]}

    def _find_local(self, collection: str, path: str) -> Body:
        """The document at a server-side path (the server answers this machine's CLI only)."""
        return self._call(
            "POST",
            "/documents/local/find",
            "write",
            params={"collection": collection},
            json={"source": path},
            headers={"X-Rag-Local-Token": self.token},
        )

    def ingest(
        self,
        collection: str,
        paths: list[str],
        prune: bool,
        on_progress: Callable[..., Any] | None,
        rechunk: bool = False,
    ) -> Body:
        """POST /documents/local with absolute paths (the server reads the same files)."""
        absolute = {os.path.join(os.getcwd(), os.path.expanduser(p)): p for p in paths}
        summary = self._call(
            "POST",
            "/documents/local",
            "write",
            params={"collection": collection},
            json={"paths": list(absolute), "prune": prune, "rechunk": rechunk},
            headers={"X-Rag-Local-Token": self.token},
        )
        for failure in summary["failed"]:  # name a missing path as the user typed it
            failure["path"] = absolute.get(failure["path"], failure["path"])
        return summary


def _event(event: Body) -> Iterator[str | Body]:
    kind = event.pop("type", None)
    if kind == "token":
        yield str(event["text"])
    elif kind == "done":
        yield event
    elif kind == "error":
        status = int(event.get("status") or 500)
        raise ERRORS.get(status, RagError)(f"the server said: {event.get('detail')}")
