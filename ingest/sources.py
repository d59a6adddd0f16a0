"""Inputs to the pipeline: files on disk or uploaded bytes, and their stable ids."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Item:
    """One input to ingest: a file on disk or uploaded bytes."""

    source: str
    size: int
    mtime_ns: int
    read: Callable[[], bytes]


def file_items(paths: Iterable[Path]) -> tuple[list[Item], list[tuple[str, str]]]:
    """Items for files on disk (stat taken now, bytes read later), and (path, error) pairs."""
    items, errors = [], []
    for path in paths:
        try:
            st = path.stat()
        except OSError as exc:  # vanished or unreadable since discovery
            errors.append((str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        items.append(Item(str(path), st.st_size, st.st_mtime_ns, path.read_bytes))
    return items, errors


def doc_id_for(source: str) -> str:
    """Stable document id derived from its source path."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
