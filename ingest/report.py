"""What an ingest run did: the summary users and scripts read, and live progress."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestReport:
    """Per-file outcome of one run; `to_dict()` is the `--json` summary."""

    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    chunks: int = 0
    seconds: float = 0.0
    aborted: str | None = None  # why the run stopped early (e.g. Ollama went away)

    def fail(self, path: str, error: str) -> None:
        """Record a file that could not be ingested."""
        self.failed.append({"path": path, "error": error})

    @property
    def ok(self) -> bool:
        """True when every file went in and the run finished."""
        return not self.failed and self.aborted is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "collection": self.collection,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "warnings": self.warnings,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "aborted": self.aborted,
        }


@dataclass
class Progress:
    """Live counters, updated from the pipeline's threads."""

    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    bytes_parsed: int = 0  # files parsed into chunks (chunks_found came from these bytes)
    bytes_skipped: int = 0  # files settled without a parse (unchanged, failed)
    chunks_found: int = 0
    chunks_embedded: int = 0
    chunks_written: int = 0
    current: str = ""
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        """Add to counters atomically."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def eta(self) -> float | None:
        """Seconds left, estimated from the bytes done so far."""
        elapsed = time.monotonic() - self.started
        if self.bytes_done <= 0 or self.bytes_total <= 0 or elapsed < 0.5:
            return None
        rate = self.bytes_done / elapsed
        return max(0.0, (self.bytes_total - self.bytes_done) / rate)
