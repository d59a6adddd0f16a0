"""The MCP server through the SDK's own clients: stdio against `rag mcp`, HTTP against /mcp."""

from __future__ import annotations

import json
import sys

import anyio
import httpx
import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import REPO, subprocess_env
from tests.test_compat import serving, upload

TOOLS = {"search", "ask", "list_collections", "list_documents"}
E7 = "What does error E7 mean?"


def result(call) -> dict:
    """A tool call's JSON answer."""
    assert not call.is_error, call
    return json.loads(call.content[0].text)


async def exercise(session: ClientSession) -> dict[str, dict]:
    """List the tools and call each once."""
    await session.initialize()
    listed = await session.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    return {
        "collections": result(await session.call_tool("list_collections", {})),
        "documents": result(await session.call_tool("list_documents", {"collection": "hr"})),
        "search": result(
            await session.call_tool("search", {"query": "annual leave", "collection": "hr"})
        ),
        "ask": result(await session.call_tool("ask", {"question": E7, "collection": "hr"})),
    }


def check(found: dict[str, dict]) -> None:
    names = {c["name"]: c["documents"] for c in found["collections"]["collections"]}
    assert names["hr"] == 2
    sources = sorted(d["source"] for d in found["documents"]["documents"])
    assert sources == ["uploads/handbook.md", "uploads/r2-user-manual.pdf"]
    assert "18 days" in found["search"]["hits"][0]["text"]
    assert found["ask"]["answerable"] is True
    assert found["ask"]["citations"][0]["source"] == "uploads/r2-user-manual.pdf"


def test_streamable_http_at_mcp_with_a_read_key(settings):
    keys = ("reader:read", "writer:write")
    with serving(settings.with_(api_keys=keys)) as url:
        upload(url, "handbook.md", "r2-user-manual.pdf", collection="hr", key="writer")
        assert httpx.post(f"{url}/mcp/", json={}).status_code == 401

        async def run() -> dict[str, dict]:
            headers = {"Authorization": "Bearer reader"}
            async with (
                httpx2.AsyncClient(headers=headers) as client,
                streamable_http_client(f"{url}/mcp/", http_client=client) as streams,
                ClientSession(streams[0], streams[1]) as session,
            ):
                return await exercise(session)

        check(anyio.run(run))


def test_stdio_against_rag_mcp(settings, tmp_path):
    with serving(settings) as url:  # ingest through the API, then stop: `rag mcp` owns the store
        upload(url, "handbook.md", "r2-user-manual.pdf", collection="hr")
    env = subprocess_env(settings.ollama_host, settings.data_dir)
    if settings.chroma_url:
        env["CHROMA_URL"] = settings.chroma_url
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rag.cli", "mcp"], env=env, cwd=str(REPO)
    )

    async def run() -> dict[str, dict]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await exercise(session)

    check(anyio.run(run))
