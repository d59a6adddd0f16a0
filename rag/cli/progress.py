"""A one-line progress bar for terminals (stderr), redrawn at most ten times a second.

The ETA is work left over the run's throughput, in chunks: the chunks found and not yet embedded,
plus the bytes not yet parsed at the chunks-per-byte seen so far. Its shown value counts down
and never climbs: a new estimate only ever pulls it lower; while the run stalls (a big PDF
being parsed) it keeps counting down, and when it reaches zero with work left it says `--:--`
and starts over from the next estimate. (Measured against rich's speed-window ETA and the old
bytes-done ETA with scripts/eta_steadiness.py; see the README.)
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO

SETTLE_S = 1.0  # no estimate from the first second's rates


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
        if minutes >= 60
        else f"{minutes:02d}:{secs:02d}"
    )


def expected_chunks(progress: Any) -> float | None:
    """Chunks the whole run will embed: those found plus the unparsed bytes' share, or None."""
    parsed = getattr(progress, "bytes_parsed", 0)
    if parsed <= 0:
        return None
    skipped = getattr(progress, "bytes_skipped", 0)
    unparsed = max(0, progress.bytes_total - parsed - skipped)
    return float(progress.chunks_found + unparsed * progress.chunks_found / parsed)


def raw_eta(progress: Any, now: float) -> float | None:
    """Seconds left at the run's average throughput in chunks (None before it is known)."""
    elapsed = now - progress.started
    expected = expected_chunks(progress)
    if expected is None or progress.chunks_embedded <= 0 or elapsed < SETTLE_S:
        return None
    rate = progress.chunks_embedded / elapsed
    return float(max(0.0, expected - progress.chunks_embedded) / rate)


class Countdown:
    """Turns estimates into a shown ETA that counts down and never climbs."""

    def __init__(self) -> None:
        self._shown: float | None = None
        self._at = 0.0

    def update(self, estimate: float | None, now: float) -> float | None:
        """The ETA to show at `now` given a fresh estimate (None: not known yet)."""
        if self._shown is None:
            self._shown, self._at = estimate, now
            return estimate
        counted = self._shown - (now - self._at)
        self._at = now
        if counted <= 0:  # ran out with work left: say we do not know, re-anchor next time
            self._shown = None
            return None
        self._shown = counted if estimate is None else min(counted, estimate)
        return self._shown


class ProgressBar:
    """Draws `files 3/10 [####----] chunks 120/300 · 45/s · ETA 00:12` on one line."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._drawn = False
        self._eta = Countdown()

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

    def eta(self, progress: Any, now: float | None = None) -> float | None:
        """The ETA shown for a snapshot (0 when every file is done)."""
        if progress.files_total and progress.files_done >= progress.files_total:
            return 0.0
        now = time.monotonic() if now is None else now
        return self._eta.update(raw_eta(progress, now), now)

    def render(self, progress: Any, width: int = 80) -> str:
        """The text of the bar for a Progress snapshot."""
        now = time.monotonic()
        expected = expected_chunks(progress)
        if not progress.files_total:
            share = 1.0
        elif expected:
            share = min(1.0, progress.chunks_embedded / expected)
        else:
            share = min(1.0, progress.bytes_done / max(progress.bytes_total, 1))
        elapsed = now - progress.started
        rate = progress.chunks_embedded / elapsed if elapsed > 0 else 0.0
        cells = max(10, min(30, width - 70))
        filled = int(share * cells)
        return (
            f"files {progress.files_done}/{progress.files_total} "
            f"[{'#' * filled}{'-' * (cells - filled)}] "
            f"chunks {progress.chunks_embedded}/{progress.chunks_found} · {rate:.0f}/s · "
            f"ETA {_clock(self.eta(progress, now))}"
        )

    def close(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
