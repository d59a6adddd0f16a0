"""The MCP server (official `mcp` SDK): search, ask, list_collections, list_documents.

Served over stdio by `rag mcp` and over streamable HTTP at /mcp by `rag serve`; the tools answer
with the same bodies as the HTTP API (its presenters), so agents and people see the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.answer import AnswerRequest, answer
from rag.api.deps import authorize
from rag.api.problems import problem
from rag.api.schemas import AnswerOut, CollectionList, DocumentList, SearchResponse, body
from rag.config import Settings
from rag.errors import RagError
from rag.filters import Filters
from rag.kb import KnowledgeBase
from rag.retrieve import retrieve

INSTRUCTIONS = (
    "A local knowledge base. `search` finds passages; `ask` answers from them with [n] "
    "citations or says the documents do not say; `list_collections` and `list_documents` "
    "show what is in it."
)


def build_server(kb_of: Callable[[], KnowledgeBase]) -> MCPServer:
    """An MCP server whose tools read the knowledge base `kb_of()` returns."""
    server: MCPServer = MCPServer("rag-local", instructions=INSTRUCTIONS)

    async def run(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(fn, *args)

    @server.tool()
    async def search(
        query: str, collection: str | None = None, top_k: int | None = None
    ) -> dict[str, Any]:
        """Best passages for a query (hybrid dense + keyword), with source, page and score."""
        return await run(_search, kb_of(), query, collection, top_k)

    @server.tool()
    async def ask(question: str, collection: str | None = None) -> dict[str, Any]:
        """A grounded answer with checked [n] citations, or an honest refusal."""
        return await run(_ask, kb_of(), question, collection)

    @server.tool()
    async def list_collections() -> dict[str, Any]:
        """The knowledge bases with their document and chunk counts."""
        kb = kb_of()
        return await run(
            lambda: body(CollectionList.of(kb.collection_counts(), kb.settings.collection))
        )

    @server.tool()
    async def list_documents(collection: str | None = None) -> dict[str, Any]:
        """The documents of a collection: id, source, pages, chunks, ingested at."""
        return await run(_documents, kb_of(), collection)

    return server


def _search(
    kb: KnowledgeBase, query: str, collection: str | None, top_k: int | None
) -> dict[str, Any]:
    name = kb.collection(collection)
    found = retrieve(
        kb, name, query, top_k=top_k or kb.settings.top_k, filters=Filters.from_dict(None)
    )
    return body(SearchResponse.of(query, name, found))


def _ask(kb: KnowledgeBase, question: str, collection: str | None) -> dict[str, Any]:
    request = AnswerRequest(collection=kb.collection(collection), question=question)
    return body(AnswerOut.of(answer(kb, request)))


def _documents(kb: KnowledgeBase, collection: str | None) -> dict[str, Any]:
    name = kb.collection(collection)
    return body(DocumentList.of(name, kb.documents(name)))


class KeyGuard:
    """Lets a request into the MCP app only with a key of the read scope (when keys are set)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key, then hand over to the MCP app."""
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                authorize(self.settings, headers, "read")
            except RagError as exc:
                await problem(exc.status, exc.title, exc.message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
