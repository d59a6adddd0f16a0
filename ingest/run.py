"""Ingest what a user names: files, folders and globs, with pruning of vanished files."""

from __future__ import annotations

import functools
import glob
import itertools
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

from ingest.discover import discover
from ingest.pipeline import Pipeline
from ingest.report import IngestReport, Progress
from ingest.sources import Item, file_items
from rag.filetypes import kind_for, unsupported_message
from rag.kb import KnowledgeBase


def ingest_paths(
    kb: KnowledgeBase,
    collection: str,
    paths: list[str],
    prune: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    rechunk: bool = False,
) -> IngestReport:
    """Ingest files, folders and globs into a collection; see IngestReport for the outcome."""
    found = discover(paths)
    kb.add_roots(collection, named_roots(paths))  # before any document: it is shown from them
    report = IngestReport(collection)
    for raw in found.missing:
        if not (prune and _prune_one(kb, collection, raw, report)):
            report.fail(raw, "no such file or directory")
    for path in found.unsupported:
        report.fail(str(path), unsupported_message(path.suffix))
    pipeline = Pipeline(kb, collection, report, on_progress, rechunk)
    items, unreadable = file_items(found.files)
    for source, error in unreadable:
        report.fail(source, error)
    pipeline.run(items)
    if prune and report.aborted is None:
        present = {str(p) for p in found.files}
        for root in found.roots:
            _prune_under(kb, collection, root, present, report)
    return report


def named_roots(paths: list[str]) -> list[str]:
    """What each path names, resolved: a folder, a file, or the folder a glob starts in.

    Sources are shown relative to their root's parent (rag.display): `/srv/docs/hr` → `hr/…`.
    """
    roots = []
    for raw in paths:
        parts = Path(os.path.expanduser(raw)).parts
        fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), parts))
        root = Path(*fixed) if fixed else Path()
        if root.exists():
            roots.append(str(root.resolve()))
    return roots


def _prune_one(kb: KnowledgeBase, collection: str, raw: str, report: IngestReport) -> bool:
    source = str(Path(raw).expanduser().resolve())
    if kb.by_source(collection, source) is None:
        return False
    kb.delete_document(collection, source)
    report.removed.append(source)
    return True


def _prune_under(
    kb: KnowledgeBase, collection: str, root: Path, present: set[str], report: IngestReport
) -> None:
    prefix = str(root) + os.sep
    for record in kb.documents(collection):
        gone = record.source.startswith(prefix) and record.source not in present
        if gone and not os.path.exists(record.source):
            kb.delete_document(collection, record.doc_id)
            report.removed.append(record.source)


def ingest_uploads(
    kb: KnowledgeBase, collection: str, uploads: list[tuple[str, bytes]]
) -> IngestReport:
    """Ingest uploaded files (name, bytes); each is stored under the source `uploads/<name>`."""
    report = IngestReport(collection)
    items: dict[str, Item] = {}
    for name, data in uploads:
        source = upload_source(name)
        if kind_for(source) is None:
            report.fail(source, unsupported_message(Path(source).suffix))
        elif source in items:
            report.fail(source, "two files with this name in one upload: send them separately")
            del items[source]
        elif any(f["path"] == source for f in report.failed):
            continue  # a third copy of a duplicated name: already reported
        else:
            items[source] = byte_item(source, data)
    Pipeline(kb, collection, report).run(list(items.values()))
    return report


def ingest_bytes(
    kb: KnowledgeBase,
    collection: str,
    docs: list[tuple[str, bytes]],
    on_progress: Callable[[Progress], None] | None = None,
    rechunk: bool | None = False,
) -> IngestReport:
    """Ingest in-memory documents (source, bytes); unchanged content is skipped by its hash."""
    report = IngestReport(collection)
    items = [byte_item(s, d) for s, d in docs]
    Pipeline(kb, collection, report, on_progress, rechunk).run(items)
    return report


def byte_item(source: str, data: bytes) -> Item:
    """An Item for bytes held in memory (no mtime: unchanged is decided by content hash)."""
    return Item(source, len(data), 0, functools.partial(bytes, data))


def upload_source(filename: str) -> str:
    """A safe source name for an uploaded file: its base name only, under `uploads/`."""
    base = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    base = "".join(ch for ch in base if ch.isprintable()) or "unnamed"
    if base in (".", ".."):
        base = "unnamed"
    return f"uploads/{base}"
