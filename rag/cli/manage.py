"""The management subcommands: `rag list`, `delete`, `collections`, `drop` and `doctor`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rag.cli.backend import Local, open_backend
from rag.cli.common import EXIT_ERROR, EXIT_OK, add_common, print_json
from rag.config import Settings
from rag.errors import BadRequest


def _add_list(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="show the documents in a collection",
        description="List a collection's documents: when each was ingested, its pages and "
        "chunks, and its source: its path from the folder it was ingested from "
        "(hr/handbook.md), or uploads/<name>.",
    )
    add_common(p)
    p.set_defaults(handler=cmd_list)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    """Print the documents of a collection."""
    with open_backend(settings, "list") as backend:
        collection = backend.collection(args.collection)
        listing = backend.documents(collection)
    if args.json:
        print_json(listing)
        return EXIT_OK
    if not listing["documents"]:
        print(f"Collection '{collection}' is empty: add documents with `rag ingest PATH`.")
    for r in listing["documents"]:
        pages = f"{r['pages']:>4} pages" if r["pages"] else "          "
        print(f"{r['ingested_at']}  {pages}  {r['chunks']:>5} chunks  {r['source']}")
    return EXIT_OK


def _add_delete(sub: Any) -> None:
    p = sub.add_parser(
        "delete",
        help="remove one document (by path or id)",
        description="Remove one document and its chunks from a collection. SOURCE is its source "
        "as `rag list` shows it, its path (relative paths are resolved), or its id from "
        "`rag list --json`.",
    )
    p.add_argument("source", metavar="SOURCE", help="the document's source or path (or its id)")
    add_common(p)
    p.set_defaults(handler=cmd_delete)


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    """Remove one document and its chunks."""
    with open_backend(settings, "delete") as backend:
        collection = backend.collection(args.collection)
        done = backend.delete(collection, args.source)
    if args.json:
        print_json(done)
    else:
        record = done["deleted"]
        print(f"Deleted {record['source']} ({record['chunks']} chunks) from '{collection}'.")
    return EXIT_OK


def _add_collections(sub: Any) -> None:
    p = sub.add_parser(
        "collections",
        help="list the knowledge bases with their sizes",
        description="List every collection (separate knowledge base) with its document and "
        "chunk counts. Pick one with --collection on the other commands.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_collections)


def cmd_collections(settings: Settings, args: argparse.Namespace) -> int:
    """Print every collection with its document and chunk counts."""
    with open_backend(settings, "collections") as backend:
        listing = backend.collections()
    if args.json:
        print_json(listing)
    else:
        for row in listing["collections"]:
            print(f"{row['name']}: {row['documents']} documents, {row['chunks']} chunks")
        if not listing["collections"]:
            print("No collections yet: add documents with `rag ingest PATH`.")
    return EXIT_OK


def _add_drop(sub: Any) -> None:
    p = sub.add_parser(
        "drop",
        help="delete a whole collection (vectors and catalog)",
        description="Delete a collection and everything in it: its vectors and its catalog "
        "rows. Asks for confirmation on a terminal; --yes skips it (needed in scripts).",
    )
    p.add_argument("name", help="collection to delete")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_drop)


def cmd_drop(settings: Settings, args: argparse.Namespace) -> int:
    """Delete an existing collection after confirmation."""
    with open_backend(settings, "drop", remote_ok=False) as backend:
        name = backend.collection(args.name, must_exist=True)
    if not args.yes:
        if not sys.stdin.isatty():
            raise BadRequest("refusing to drop without --yes when not on a terminal")
        answer = input(f"Delete collection '{name}' and everything in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return EXIT_OK
    with open_backend(settings, "drop", remote_ok=False) as backend:
        assert isinstance(backend, Local)
        backend.drop(backend.collection(name, must_exist=True))
    print(f"Collection '{name}' deleted.")
    return EXIT_OK


def _add_doctor(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="check Ollama, the models and the store",
        description="Check that Ollama answers, that both models are pulled (with the embedding "
        "model's context length) and that the store opens; say what to fix. Exit 1 on a failure.",
    )
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


MANAGE_COMMANDS: list[Callable[[Any], None]] = [
    _add_list,
    _add_delete,
    _add_collections,
    _add_drop,
    _add_doctor,
]
