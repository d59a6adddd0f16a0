"""Helpers shared by the `rag` subcommands: common flags, JSON output, exit codes."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

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
