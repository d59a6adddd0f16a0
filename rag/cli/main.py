"""The `rag` command: ingest, search, list, delete, … (`rag COMMAND --help` explains each)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rag import __version__
from rag.cli.backend import open_backend
from rag.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    Body,
    add_common,
    print_json,
    show,
)
from rag.cli.manage import MANAGE_COMMANDS
from rag.cli.mcp import add_mcp
from rag.cli.parser import RagParser
from rag.cli.query import add_ask, add_search, add_serve
from rag.config import Settings
from rag.errors import RagError
from rag.eval.command import add_parser as add_eval_parser
from rag.filetypes import listing

DESCRIPTION = """\
A local knowledge base: ingest documents, search them, ask questions.
Embeddings come from Ollama (OLLAMA_HOST, default http://localhost:11434); vectors live in
Chroma (embedded under RAG_DATA_DIR, default ./data, or a server at CHROMA_URL).
Exit status: 0 ok, 1 error, 2 bad usage, 3 some files could not be ingested."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rag` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = Settings.load()
        return int(args.handler(settings, args))
    except RagError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Error: interrupted; run the same command again to finish", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = RagParser(
        prog="rag", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"rag {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def _add_ingest(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        help="add or update documents (files, folders, globs)",
        description=f"Add files, folders (recursively) and globs of {listing()}. "
        "Unchanged files are skipped by content hash; an edited file replaces exactly its own "
        "chunks. Interrupted runs are repaired by running the same command again. While "
        "`rag serve` owns the store, the server ingests the same paths.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, folder or quoted glob")
    p.add_argument(
        "--prune", action="store_true", help="remove documents whose files are gone from PATHs"
    )
    p.add_argument(
        "--rechunk",
        action="store_true",
        help="re-chunk and re-embed every file, e.g. after changing RAG_CHUNK_TOKENS or model",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_common(p)
    p.set_defaults(handler=cmd_ingest)


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Run the ingest pipeline (here or in the server that owns the store); print its summary."""
    from rag.cli.progress import ProgressBar

    bar = ProgressBar(enabled=False if args.no_progress or args.json else None)
    with open_backend(settings, "ingest") as backend:
        collection = backend.collection(args.collection, must_exist=None)
        try:
            report = backend.ingest(collection, args.paths, args.prune, bar, args.rechunk)
        finally:
            bar.close()
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    if report["aborted"]:
        print(f"Error: {report['aborted']}", file=sys.stderr)
        print("Nothing half-written: run the same command again to finish.", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_PARTIAL if report["failed"] else EXIT_OK


def _print_report(report: Body) -> None:
    counts = ("added", "updated", "unchanged", "removed", "failed")
    parts = ", ".join(f"{len(report[name])} {name}" for name in counts)
    print(
        f"Collection '{report['collection']}': {parts}; "
        f"{report['chunks']} chunks written in {report['seconds']:.1f} s"
    )
    for failure in report["failed"]:
        print(f"  failed:  {show(failure['path'])}: {failure['error']}")
    for source, warnings in report["warnings"].items():
        for warning in warnings:
            print(f"  warning: {show(source)}: {warning}")


COMMANDS: list[Callable[[Any], None]] = [
    _add_ingest,
    add_search,
    add_ask,
    add_serve,
    add_mcp,
    *MANAGE_COMMANDS,
    add_eval_parser,
]
