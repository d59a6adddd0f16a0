"""The `rag` command: ingest, search, list, delete, … (`rag COMMAND --help` explains each)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import BadRequest, RagError
from rag.evaluation import add_parser as add_eval_parser
from rag.kb import KnowledgeBase

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

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


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument(
        "-c", "--collection", help="knowledge base to use (default: RAG_COLLECTION or 'default')"
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print one JSON object")


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
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _common(p)
    p.set_defaults(handler=cmd_ingest)


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Run the ingest pipeline and print its summary."""
    from ingest.run import ingest_paths  # the CLI is the edge where rag may call ingest
    from rag.progress import ProgressBar

    bar = ProgressBar(enabled=False if args.no_progress or args.json else None)
    with KnowledgeBase(settings, role="ingest") as kb:
        collection = kb.collection(args.collection)
        try:
            report = ingest_paths(kb, collection, args.paths, args.prune, bar)
        finally:
            bar.close()
    if args.json:
        _print_json(report.to_dict())
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
        print(f"  failed:  {_show(failure['path'])}: {failure['error']}")
    for source, warnings in report.warnings.items():
        for warning in warnings:
            print(f"  warning: {_show(source)}: {warning}")


def _filter_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k", "--top-k", type=int, default=None, help="number of sources (default 5)"
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="GLOB",
        help="only documents whose path matches (repeatable)",
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=["pdf", "md", "txt", "html"],
        help="only this file type (repeatable)",
    )
    parser.add_argument("--after", metavar="DATE", help="only documents ingested after DATE")


def _filters(args: argparse.Namespace) -> Any:
    from rag.retrieve import Filters

    return Filters.from_dict(
        {"source": args.source, "kind": args.kind, "ingested_after": args.after}
    )


def _add_search(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="find the chunks that best match a query (no LLM)",
        description="Search the knowledge base (dense + keyword, fused) and print the best "
        "chunks with source, page, heading path and score.",
    )
    p.add_argument("query", help="what to look for")
    _filter_args(p)
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    p.add_argument("--explain", action="store_true", help="show each leg's rank and score")
    _common(p)
    p.set_defaults(handler=cmd_search)


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    """Print the best chunks for a query."""
    from rag.retrieve import retrieve

    with KnowledgeBase(settings, role="search") as kb:
        collection = kb.collection(args.collection)
        result = retrieve(
            kb,
            collection,
            args.query,
            args.top_k or settings.top_k,
            _filters(args),
            mode=args.mode,
            explain=args.explain,
        )
    if args.json:
        _print_json(
            {
                "query": args.query,
                "collection": collection,
                "reason": result.reason,
                "hits": [h.to_dict() for h in result.hits],
                "candidates": [h.to_dict() for h in result.candidates] if result.reason else [],
            }
        )
        return EXIT_OK
    if result.reason == "no_documents":
        print(f"No documents in collection '{collection}' match: add some with `rag ingest PATH`.")
    elif result.reason:
        print("Nothing relevant found. Nearest passages:")
    for rank, hit in enumerate(result.hits or result.candidates, 1):
        print(f"{rank}. {_hit_line(hit)}")
        if args.explain and hit.explain:
            print(f"   explain: {json.dumps(hit.explain)}")
    return EXIT_OK


def _where(hit: Any) -> str:
    where = _show(hit.source)
    if hit.page is not None:
        where += f" p. {hit.page_label or hit.page}"
    if hit.heading:
        where += f" › {hit.heading}"
    return where


def _hit_line(hit: Any) -> str:
    text = " ".join(hit.text.split())
    more = "…" if len(text) > 300 else ""
    return f"[{hit.score:.3f}] {_where(hit)}\n   {text[:300]}{more}"


def _add_ask(sub: Any) -> None:
    p = sub.add_parser(
        "ask",
        help="answer a question from the knowledge base, with citations",
        description="Retrieve the best chunks and have the chat model answer from them only, "
        "citing [n]. Says so when the knowledge base does not hold the answer.",
    )
    p.add_argument("question", help="the question, in any language")
    _filter_args(p)
    _common(p)
    p.set_defaults(handler=cmd_ask)


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """Stream an answer, then list its sources (or explain the refusal)."""
    from rag.answer import answer_stream

    final: dict[str, Any] = {}
    with KnowledgeBase(settings, role="ask") as kb:
        collection = kb.collection(args.collection)
        events = answer_stream(kb, collection, args.question, None, _filters(args), args.top_k)
        for event in events:
            if event["type"] == "token" and not args.json:
                print(event["text"], end="", flush=True)
            elif event["type"] == "done":
                final = event
    if args.json:
        _print_json(final)
        return EXIT_OK
    _print_answer_end(final)
    return EXIT_OK


def _print_answer_end(final: dict[str, Any]) -> None:
    if not final.get("answerable"):
        if final.get("reason") != "model_declined":
            print(final.get("answer", ""), end="")
        print(f"\n\n(not in the knowledge base: {final.get('reason')})")
        for cand in final.get("candidates", [])[:3]:
            print(f"  nearest: {_show(cand['source'])} [{cand['score']:.3f}]")
        return
    print("\n\nSources:")
    for cit in final.get("citations", []):
        page = f" p. {cit.get('page_label') or cit['page']}" if cit.get("page") else ""
        heading = f" › {cit['heading']}" if cit.get("heading") else ""
        print(f"  [{cit['n']}] {_show(cit['source'])}{page}{heading}")
    if final.get("dropped_citations"):
        print(f"  (removed citations to no source: {final['dropped_citations']})")


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="show the documents in a collection")
    _common(p)
    p.set_defaults(handler=cmd_list)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    """Print the documents of a collection."""
    with KnowledgeBase(settings, role="list") as kb:
        collection = kb.collection(args.collection)
        records = kb.catalog.documents(collection)
    if args.json:
        _print_json({"collection": collection, "documents": [r.to_dict() for r in records]})
        return EXIT_OK
    if not records:
        print(f"Collection '{collection}' is empty: add documents with `rag ingest PATH`.")
    for r in records:
        pages = f"{r.pages:>4} pages" if r.pages else "          "
        print(f"{r.ingested_at}  {pages}  {r.chunks:>5} chunks  {_show(r.source)}")
    return EXIT_OK


def _add_delete(sub: Any) -> None:
    p = sub.add_parser("delete", help="remove one document (by path or id)")
    p.add_argument("source", metavar="SOURCE", help="the document's path (or its id)")
    _common(p)
    p.set_defaults(handler=cmd_delete)


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    """Remove one document and its chunks."""
    with KnowledgeBase(settings, role="delete") as kb:
        collection = kb.collection(args.collection)
        record = kb.delete_document(collection, args.source)
    if args.json:
        _print_json({"collection": collection, "deleted": record.to_dict()})
    else:
        print(f"Deleted {_show(record.source)} ({record.chunks} chunks) from '{collection}'.")
    return EXIT_OK


def _add_collections(sub: Any) -> None:
    p = sub.add_parser("collections", help="list the knowledge bases with their sizes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_collections)


def cmd_collections(settings: Settings, args: argparse.Namespace) -> int:
    """Print every collection with its document and chunk counts."""
    with KnowledgeBase(settings, role="collections") as kb:
        names = sorted(set(kb.catalog.collections()) | set(kb.store.names()))
        rows = [
            {"name": n, "documents": c[0], "chunks": c[1]}
            for n in names
            for c in [kb.catalog.counts(n)]
        ]
    if args.json:
        _print_json({"collections": rows})
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
        _print_json(report)
    else:
        for name, item in report["checks"].items():
            mark = "ok  " if item["ok"] else "FAIL"
            print(f"[{mark}] {name}: {item['detail']}")
    return EXIT_OK if report["ok"] else EXIT_ERROR


def _add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the HTTP API (docs at /docs)",
        description="Serve the HTTP API with uvicorn. With the embedded store this process owns "
        "it (one worker); with CHROMA_URL set, --workers N runs several processes.",
    )
    p.add_argument("--host", help="bind address (default RAG_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default RAG_PORT or 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (needs CHROMA_URL)")
    p.set_defaults(handler=cmd_serve)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run uvicorn on the app."""
    import uvicorn

    from rag.api.app import create_app
    from rag.errors import ConfigError
    from rag.lock import StoreLock

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    url = f"http://{settings.host}:{settings.port}"
    if args.workers > 1:
        if not settings.chroma_url:
            raise ConfigError(
                "--workers > 1 needs a Chroma server (the embedded store allows one process): "
                "run `chroma run --path data/chroma-server --port 8001` and set CHROMA_URL"
            )
        os.environ.update(RAG_HOST=settings.host, RAG_PORT=str(settings.port))
        uvicorn.run(
            "rag.api.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
        )
        return EXIT_OK
    lock = None
    if not settings.chroma_url:  # fail here with a clear message, not inside uvicorn's startup
        lock = StoreLock(settings.store_path, "serve", url).acquire()
    try:
        uvicorn.run(create_app(settings, url), host=settings.host, port=settings.port)
    finally:
        if lock is not None:
            lock.release()
    return EXIT_OK


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _show(source: str) -> str:
    """A source path relative to the working directory when it is inside it."""
    try:
        return (
            os.path.relpath(source) if Path(source).resolve().is_relative_to(Path.cwd()) else source
        )
    except ValueError:
        return source


COMMANDS: list[Callable[[Any], None]] = [
    _add_ingest,
    _add_search,
    _add_ask,
    _add_serve,
    _add_list,
    _add_delete,
    _add_collections,
    _add_drop,
    _add_doctor,
    add_eval_parser,
]

if __name__ == "__main__":
    sys.exit(main())
