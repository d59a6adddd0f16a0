"""The query-side subcommands: `rag search`, `rag ask` and `rag serve`."""

from __future__ import annotations

import argparse
import json
import os
from types import SimpleNamespace
from typing import Any

from rag.citations import location_label
from rag.cli.backend import open_backend
from rag.cli.common import EXIT_OK, Body, add_common, print_json
from rag.config import Settings
from rag.filetypes import KINDS
from rag.models import DEFAULT_MODE, MODES


def _filter_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k", "--top-k", type=int, default=None, help="number of sources (default 5)"
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="GLOB",
        help="only documents whose path matches, as shown or as stored (repeatable)",
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=KINDS,
        help="only this file type (repeatable)",
    )
    parser.add_argument("--after", metavar="DATE", help="only documents ingested after DATE")


def _options(args: argparse.Namespace) -> Body:
    """The body fields /search and /ask share, from the flags."""
    filters = {"source": args.source, "kind": args.kind, "ingested_after": args.after}
    return {"filters": {k: v for k, v in filters.items() if v}, "top_k": args.top_k}


def add_search(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="find the chunks that best match a query (no LLM)",
        description="Search the knowledge base (dense + keyword, fused) and print the best "
        "chunks with source, page, heading path and score.",
    )
    p.add_argument("query", help="what to look for")
    p.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help="default: %(default)s")
    p.add_argument("--explain", action="store_true", help="show each leg's rank and score")
    p.add_argument(
        "--by-document",
        action="store_true",
        help="rank documents (best chunk first, then its other matching chunks)",
    )
    _query_flags(p, cmd_search)


def _query_flags(parser: argparse.ArgumentParser, handler: Any) -> None:
    """The filter and common flags of `rag search` and `rag ask`, and the handler."""
    _filter_args(parser)
    add_common(parser)
    parser.set_defaults(handler=handler)


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    """Print the best chunks for a query."""
    options = {**_options(args), "mode": args.mode, "explain": args.explain}
    if args.by_document:
        options["group_by"] = "document"
    with open_backend(settings, "search") as backend:
        collection = backend.collection(args.collection)
        result = backend.search(collection, args.query, options)
    if args.json:
        print_json(result)
        return EXIT_OK
    if result["reason"] == "no_documents":
        print(f"No documents in collection '{collection}' match: add some with `rag ingest PATH`.")
    elif result["reason"]:
        print("Nothing relevant found. Nearest passages:")
    if result.get("documents") is not None and not result["reason"]:
        _print_documents(result["documents"])
        return EXIT_OK
    for rank, hit in enumerate(result["hits"] or result["candidates"], 1):
        print(f"{rank}. {_hit_line(hit)}")
        if args.explain and hit.get("explain"):
            print(f"   explain: {json.dumps(hit['explain'])}")
    return EXIT_OK


def _print_documents(documents: list[Body]) -> None:
    """Documents best first, each with its best passage and where its other matches are."""
    for rank, doc in enumerate(documents, 1):
        print(f"{rank}. {doc['source']}  (score {doc['score']:.3f})")
        print(f"   {_hit_line(doc['best'])}")
        if doc["others"]:
            places = "; ".join(_where(hit) for hit in doc["others"])
            print(f"   also: {places}")


def _where(item: Body) -> str:
    """`hr/handbook.md p. 3 › heading` for a hit or citation body (its source is as shown)."""
    return location_label(SimpleNamespace(**item, display=item["source"]))


def _hit_line(hit: Body) -> str:
    text = " ".join(hit["text"].split())
    more = "…" if len(text) > 300 else ""
    return f"[{hit['score']:.3f}] {_where(hit)}\n   {text[:300]}{more}"


def add_ask(sub: Any) -> None:
    p = sub.add_parser(
        "ask",
        help="answer a question from the knowledge base, with citations",
        description="Retrieve the best chunks and have the chat model answer from them only, "
        "citing [n]. Says so when the knowledge base does not hold the answer.",
    )
    p.add_argument("question", help="the question, in any language")
    _query_flags(p, cmd_ask)


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """Stream an answer, then list its sources (or explain the refusal)."""
    final: Body = {}
    with open_backend(settings, "ask") as backend:
        collection = backend.collection(args.collection)
        for item in backend.ask(collection, args.question, _options(args)):
            if isinstance(item, str):
                if not args.json:
                    print(item, end="", flush=True)
            else:
                final = item
    if args.json:
        print_json(final)
    else:
        _print_answer_end(final)
    return EXIT_OK


def _print_answer_end(final: Body) -> None:
    if not final["answerable"]:
        if final.get("reason") != "model_declined":
            print(final["answer"], end="")
        print(f"\n\n(not in the knowledge base: {final.get('reason')})")
        for cand in (final.get("candidates") or [])[:3]:
            print(f"  nearest: {cand['source']} [{cand['score']:.3f}]")
        return
    print("\n\nSources:")
    for cit in final["citations"]:
        print(f"  [{cit['n']}] {_where(cit)}")
    if final["dropped_citations"]:
        print(f"  (removed citations to no source: {final['dropped_citations']})")


def add_serve(sub: Any) -> None:
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
    """Run uvicorn on the app (a fresh /metrics samples folder for each run of several workers)."""
    from rag.metrics import sample_folder

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    with sample_folder(args.workers):
        if args.workers > 1:
            _serve_workers(settings, args.workers)
        else:
            _serve_one(settings)
    return EXIT_OK


def _serve_workers(settings: Settings, workers: int) -> None:
    import uvicorn

    from rag.errors import ConfigError

    if not settings.chroma_url:
        raise ConfigError(
            "--workers > 1 needs a Chroma server (the embedded store allows one process): "
            "run `chroma run --path data/chroma-server --port 8001` and set CHROMA_URL"
        )
    # Each worker builds its app from the environment (Settings.load), so pass the address on.
    os.environ.update(RAG_HOST=settings.host, RAG_PORT=str(settings.port))
    uvicorn.run(
        "rag.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
    )


def _serve_one(settings: Settings) -> None:
    import uvicorn

    from rag.api.app import create_app
    from rag.lock import StoreLock

    url = f"http://{settings.host}:{settings.port}"
    lock = None
    if not settings.chroma_url:  # fail here with a clear message, not inside uvicorn's startup
        lock = StoreLock(settings.store_path, "serve", url).acquire()
    try:
        uvicorn.run(create_app(settings, url), host=settings.host, port=settings.port)
    finally:
        if lock is not None:
            lock.release()
