"""Where a CLI command runs: on the store directly, or through the `rag serve` that owns it.

Both backends answer with the API's bodies (the presenters of rag/api/schemas.py), so the
commands print the same thing either way and `--json` is the API body in both cases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rag.api.routes.search import run_search
from rag.api.schemas import (
    AnswerOut,
    CollectionList,
    DocumentList,
    DocumentOut,
    SearchRequest,
    body,
)
from rag.cli.common import Body, check_exists
from rag.cli.remote import Remote
from rag.config import Settings
from rag.kb import KnowledgeBase
from rag.lock import serving_owner


class Backend(Protocol):
    """What the CLI's store commands need, in API bodies."""

    def collection(self, name: str | None, must_exist: bool | None = False) -> str: ...
    def collections(self) -> Body: ...
    def documents(self, collection: str) -> Body: ...
    def search(self, collection: str, query: str, options: Body) -> Body: ...
    def ask(self, collection: str, question: str, options: Body) -> Iterator[str | Body]: ...
    def delete(self, collection: str, ref: str) -> Body: ...
    def ingest(
        self,
        collection: str,
        paths: list[str],
        prune: bool,
        on_progress: Callable[..., Any] | None,
        rechunk: bool = False,
    ) -> Body: ...


class Local:
    """Commands on the store itself (this process takes the lock)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def collection(self, name: str | None, must_exist: bool | None = False) -> str:
        """A validated collection name, checked as check_exists says."""
        checked = self.kb.collection(name)
        names = [] if must_exist is None else list(self.kb.collection_counts())
        return check_exists(checked, names, self.kb.settings.collection, must_exist)

    def collections(self) -> Body:
        """GET /collections."""
        return body(CollectionList.of(self.kb.collection_counts(), self.kb.settings.collection))

    def documents(self, collection: str) -> Body:
        """GET /documents."""
        return body(DocumentList.of(collection, self.kb.documents(collection)))

    def search(self, collection: str, query: str, options: Body) -> Body:
        """POST /search."""
        request = SearchRequest(query=query, collection=collection, **options)
        return body(run_search(self.kb, request))

    def ask(self, collection: str, question: str, options: Body) -> Iterator[str | Body]:
        """Tokens of the answer as they come, then the POST /ask body."""
        from rag.answer import AnswerRequest, answer_stream
        from rag.events import Done, Token
        from rag.filters import Filters

        filters = Filters.from_dict(options.get("filters"))
        request = AnswerRequest(collection, question, None, filters, options.get("top_k"))
        for event in answer_stream(self.kb, request):
            if isinstance(event, Token):
                yield event.text
            elif isinstance(event, Done):
                yield body(AnswerOut.of(event.answer))

    def delete(self, collection: str, ref: str) -> Body:
        """DELETE /documents/{id}, by id or path."""
        record = self.kb.delete_document(collection, ref)
        return {"collection": collection, "deleted": body(DocumentOut.of(record))}

    def ingest(
        self,
        collection: str,
        paths: list[str],
        prune: bool,
        on_progress: Callable[..., Any] | None,
        rechunk: bool = False,
    ) -> Body:
        """The ingest pipeline on paths; the summary."""
        from ingest.run import ingest_paths  # the CLI is the edge where rag may call ingest

        return ingest_paths(self.kb, collection, paths, prune, on_progress, rechunk).to_dict()

    def drop(self, collection: str) -> None:
        """Delete a whole collection."""
        self.kb.drop_collection(collection)


@contextmanager
def open_backend(settings: Settings, role: str, remote_ok: bool = True) -> Iterator[Any]:
    """The server's API when `rag serve` owns the embedded store (said once), else the store."""
    owner = None if settings.chroma_url or not remote_ok else serving_owner(settings.store_path)
    if owner is not None:
        print(
            f"rag: `rag serve` (pid {owner.get('pid', '?')}) owns the store; "
            f"going through its API at {owner['url']}",
            file=sys.stderr,
        )
        with Remote(settings, owner) as remote:
            yield remote
        return
    with KnowledgeBase(settings, role=role) as kb:
        yield Local(kb)
