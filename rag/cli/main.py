"""The `rag` command: ingest, search, list, delete, … (`rag COMMAND --help` explains each)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rag.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    add_common,
    print_json,
    show,
)
from rag.cli.query import add_ask, add_search, add_serve
from rag.config import Settings
from rag.errors import BadRequest, RagError
from rag.eval.command import add_parser as add_eval_parser
from rag.kb import KnowledgeBase

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
    parser = argparse.ArgumentParser(
        prog="rag", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def _add_ingest(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        help="add or update documents (files, folders, globs)",
        description="Add files, folders (recursively) and globs of .pdf .md .txt .html. "
        "Unchanged files are skipped by content hash; an edited file replaces exactly its own "
        "chunks. Interrupted runs are repaired by running the same command again.",
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
    """Run the ingest pipeline and print its summary."""
    from ingest.run import ingest_paths  # the CLI is the edge where rag may call ingest
    from rag.cli.progress import ProgressBar

    bar = ProgressBar(enabled=False if args.no_progress or args.json else None)
    with KnowledgeBase(settings, role="ingest") as kb:
        collection = kb.collection(args.collection)
        try:
            report = ingest_paths(kb, collection, args.paths, args.prune, bar, args.rechunk)
        finally:
            bar.close()
    if args.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if report.aborted:
        print(f"Error: {report.aborted}", file=sys.stderr)
        print("Nothing half-written: run the same command again to finish.", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _print_report(report: Any) -> None:
    parts = [
        f"{len(report.added)} added",
        f"{len(report.updated)} updated",
        f"{len(report.unchanged)} unchanged",
        f"{len(report.removed)} removed",
        f"{len(report.failed)} failed",
    ]
    print(
        f"Collection '{report.collection}': {', '.join(parts)}; "
        f"{report.chunks} chunks written in {report.seconds:.1f} s"
    )
    for failure in report.failed:
        print(f"  failed:  {show(failure['path'])}: {failure['error']}")
    for source, warnings in report.warnings.items():
        for warning in warnings:
            print(f"  warning: {show(source)}: {warning}")


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="show the documents in a collection")
    add_common(p)
    p.set_defaults(handler=cmd_list)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    """Print the documents of a collection."""
    with KnowledgeBase(settings, role="list") as kb:
        collection = kb.collection(args.collection)
        records = kb.catalog.documents(collection)
    if args.json:
        print_json({"collection": collection, "documents": [r.to_dict() for r in records]})
        return EXIT_OK
    if not records:
        print(f"Collection '{collection}' is empty: add documents with `rag ingest PATH`.")
    for r in records:
        pages = f"{r.pages:>4} pages" if r.pages else "          "
        print(f"{r.ingested_at}  {pages}  {r.chunks:>5} chunks  {show(r.source)}")
    return EXIT_OK


def _add_delete(sub: Any) -> None:
    p = sub.add_parser("delete", help="remove one document (by path or id)")
    p.add_argument("source", metavar="SOURCE", help="the document's path (or its id)")
    add_common(p)
    p.set_defaults(handler=cmd_delete)


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    """Remove one document and its chunks."""
    with KnowledgeBase(settings, role="delete") as kb:
        collection = kb.collection(args.collection)
        record = kb.delete_document(collection, args.source)
    if args.json:
        print_json({"collection": collection, "deleted": record.to_dict()})
    else:
        print(f"Deleted {show(record.source)} ({record.chunks} chunks) from '{collection}'.")
    return EXIT_OK


def _add_collections(sub: Any) -> None:
    p = sub.add_parser("collections", help="list the knowledge bases with their sizes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_collections)


def cmd_collections(settings: Settings, args: argparse.Namespace) -> int:
    """Print every collection with its document and chunk counts."""
    with KnowledgeBase(settings, role="collections") as kb:
        rows = [
            {"name": name, "documents": docs, "chunks": chunks}
            for name, (docs, chunks) in kb.collection_counts().items()
        ]
    if args.json:
        print_json({"collections": rows})
    else:
        for row in rows:
            print(f"{row['name']}: {row['documents']} documents, {row['chunks']} chunks")
        if not rows:
            print("No collections yet: add documents with `rag ingest PATH`.")
    return EXIT_OK


def _add_drop(sub: Any) -> None:
    p = sub.add_parser("drop", help="delete a whole collection (vectors and catalog)")
    p.add_argument("name", help="collection to delete")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_drop)


def cmd_drop(settings: Settings, args: argparse.Namespace) -> int:
    """Delete a collection after confirmation."""
    if not args.yes:
        if not sys.stdin.isatty():
            raise BadRequest("refusing to drop without --yes when not on a terminal")
        answer = input(f"Delete collection '{args.name}' and everything in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return EXIT_OK
    with KnowledgeBase(settings, role="drop") as kb:
        name = kb.collection(args.name)
        kb.drop_collection(name)
    print(f"Collection '{name}' deleted.")
    return EXIT_OK


def _add_doctor(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check Ollama, the models and the store")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    """Check every dependency and say what is wrong and how to fix it."""
    from rag.health import check_all

    report = check_all(settings)
    if args.json:
        print_json(report)
    else:
        for name, item in report["checks"].items():
            mark = "ok  " if item["ok"] else "FAIL"
            print(f"[{mark}] {name}: {item['detail']}")
    return EXIT_OK if report["ok"] else EXIT_ERROR


COMMANDS: list[Callable[[Any], None]] = [
    _add_ingest,
    add_search,
    add_ask,
    add_serve,
    _add_list,
    _add_delete,
    _add_collections,
    _add_drop,
    _add_doctor,
    add_eval_parser,
]
