"""Ingest what a user names: files, folders and globs, with pruning of vanished files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ingest.discover import discover
from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.pipeline import Pipeline
from ingest.report import IngestReport, Progress
from ingest.sources import file_items
from rag.kb import KnowledgeBase


def ingest_paths(
    kb: KnowledgeBase,
    collection: str,
    paths: list[str],
    prune: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> IngestReport:
    """Ingest files, folders and globs into a collection; see IngestReport for the outcome."""
    found = discover(paths)
    report = IngestReport(collection)
    for raw in found.missing:
        if not (prune and _prune_one(kb, collection, raw, report)):
            report.fail(raw, "no such file or directory")
    for path in found.unsupported:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        report.fail(str(path), f"unsupported file type '{path.suffix}' (supported: {kinds})")
    pipeline = Pipeline(kb, collection, report, on_progress)
    items, unreadable = file_items(found.files)
    for source, error in unreadable:
        report.fail(source, error)
    pipeline.run(items)
    if prune and report.aborted is None:
        present = {str(p) for p in found.files}
        for root in found.roots:
            _prune_under(kb, collection, root, present, report)
    return report


def _prune_one(kb: KnowledgeBase, collection: str, raw: str, report: IngestReport) -> bool:
    source = str(Path(raw).expanduser().resolve())
    if kb.catalog.by_source(collection, source) is None:
        return False
    kb.delete_document(collection, source)
    report.removed.append(source)
    return True


def _prune_under(
    kb: KnowledgeBase, collection: str, root: Path, present: set[str], report: IngestReport
) -> None:
    prefix = str(root) + os.sep
    for record in kb.catalog.documents(collection):
        gone = record.source.startswith(prefix) and record.source not in present
        if gone and not os.path.exists(record.source):
            kb.delete_document(collection, record.doc_id)
            report.removed.append(record.source)
