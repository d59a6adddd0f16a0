"""A one-line progress bar for terminals (stderr), redrawn at most ten times a second."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
        if minutes >= 60
        else f"{minutes:02d}:{secs:02d}"
    )


class ProgressBar:
    """Draws `files 3/10 [####----] chunks 120/300 · 45/s · ETA 00:12` on one line."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Any) -> None:
        """Redraw from a Progress snapshot (throttled)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and progress.files_done < progress.files_total:
            return
        self._last = now
        width = shutil.get_terminal_size((80, 20)).columns
        self.stream.write("\r" + self.render(progress, width)[: width - 1].ljust(width - 1))
        self.stream.flush()
        self._drawn = True

    def render(self, progress: Any, width: int = 80) -> str:
        """The text of the bar for a Progress snapshot."""
        total = max(progress.bytes_total, 1)
        share = min(1.0, progress.bytes_done / total) if progress.files_total else 1.0
        elapsed = time.monotonic() - progress.started
        rate = progress.chunks_embedded / elapsed if elapsed > 0 else 0.0
        cells = max(10, min(30, width - 70))
        filled = int(share * cells)
        return (
            f"files {progress.files_done}/{progress.files_total} "
            f"[{'#' * filled}{'-' * (cells - filled)}] "
            f"chunks {progress.chunks_embedded}/{progress.chunks_found} · {rate:.0f}/s · "
            f"ETA {_clock(progress.eta())}"
        )

    def close(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
