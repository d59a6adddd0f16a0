"""Helpers shared by the `rag` subcommands: common flags, JSON output, exit codes."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rag.cli.parser import did_you_mean
from rag.errors import NotFound

Body = dict[str, Any]  # a JSON object as the API sends it
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def add_common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument(
        "-c", "--collection", help="knowledge base to use (default: RAG_COLLECTION or 'default')"
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print one JSON object")


def print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def show(source: str) -> str:
    """A source path relative to the working directory when it is inside it."""
    try:
        return (
            os.path.relpath(source) if Path(source).resolve().is_relative_to(Path.cwd()) else source
        )
    except ValueError:
        return source


def resolved(ref: str) -> str:
    """A path as the catalog stores it (absolute, resolved)."""
    return str(Path(ref).expanduser().resolve())


def check_exists(name: str, existing: list[str], default: str, must_exist: bool | None) -> str:
    """The name, or NotFound listing the collections there are.

    must_exist None: any name (ingest creates it); False: the configured default may not exist
    yet (it reads as empty); True: it must exist (drop).
    """
    if must_exist is None or name in existing or (name == default and not must_exist):
        return name
    there = ", ".join(existing) if existing else "none yet"
    raise NotFound(
        f"no collection '{name}'{did_you_mean(name, existing)}; existing collections: {there}"
    )
