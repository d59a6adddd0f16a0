"""`rag mcp`: the MCP server over stdio, for agents that start it as a subprocess."""

from __future__ import annotations

import argparse
from typing import Any

from rag.cli.common import EXIT_OK
from rag.config import Settings


def add_mcp(sub: Any) -> None:
    """Register `rag mcp`."""
    p = sub.add_parser(
        "mcp",
        help="serve the MCP tools over stdio (search, ask, list_collections, list_documents)",
        description="Run an MCP server on stdin/stdout for an agent (Claude Desktop, an IDE…). "
        "`rag serve` offers the same tools over streamable HTTP at /mcp.",
    )
    p.set_defaults(handler=cmd_mcp)


def cmd_mcp(settings: Settings, args: argparse.Namespace) -> int:
    """Open the knowledge base and serve MCP on stdio until the client closes it."""
    from rag.api.mcp_server import build_server
    from rag.kb import KnowledgeBase

    with KnowledgeBase(settings, role="mcp") as kb:
        build_server(lambda: kb).run("stdio")
    return EXIT_OK
