"""Compare ETA estimators on a simulated ingest with a slow-to-parse big PDF in the middle.

    .venv/bin/python scripts/eta_steadiness.py

The run: 20 small files, one big PDF whose parse takes 40 s, 10 more small files; embedding at
20 chunks/s behind the parser. Every 0.5 s each estimator gives an ETA; we count how often it
climbs (by more than a second), the total it climbed, how often it did not count down (frozen),
its mean error against the truth and how many samples had no estimate.
"""

from __future__ import annotations

from itertools import pairwise
from types import SimpleNamespace

from rich.progress import Progress as RichProgress

from rag.cli.progress import ProgressBar, expected_chunks

STEP, EMBED_RATE = 0.5, 20.0
FILES = [(100_000, 10, 0.2)] * 20 + [(20_000_000, 800, 40.0)] + [(100_000, 10, 0.2)] * 10


def simulate() -> list[tuple[float, SimpleNamespace]]:
    """Snapshots (time, progress counters) of the simulated run."""
    p = SimpleNamespace(
        files_total=len(FILES),
        bytes_total=sum(f[0] for f in FILES),
        files_done=0,
        bytes_done=0,
        bytes_parsed=0,
        bytes_skipped=0,
        chunks_found=0,
        chunks_embedded=0,
        started=0.0,
    )
    now, parsing, parse_left, queue, embedded_part = 0.0, 0, FILES[0][2], [], 0.0
    snaps = []
    while p.files_done < len(FILES):
        now += STEP
        parse_left -= STEP
        while parsing < len(FILES) and parse_left <= 0:
            size, chunks, _ = FILES[parsing]
            p.chunks_found += chunks
            p.bytes_parsed += size
            queue.append([size, chunks])
            parsing += 1
            parse_left += FILES[parsing][2] if parsing < len(FILES) else 1e9
        embedded_part += EMBED_RATE * STEP
        while queue and embedded_part >= 1:
            queue[0][1] -= 1
            p.chunks_embedded += 1
            embedded_part -= 1
            if queue[0][1] == 0:
                p.files_done += 1
                p.bytes_done += queue.pop(0)[0]
        embedded_part = min(embedded_part, 1.0) if not queue else embedded_part
        snaps.append((now, SimpleNamespace(**vars(p))))
    return snaps


def bytes_eta(p: SimpleNamespace, now: float) -> float | None:
    """The old estimate: bytes of finished files over elapsed time."""
    if p.bytes_done <= 0 or now < 0.5:
        return None
    return (p.bytes_total - p.bytes_done) / (p.bytes_done / now)


def rich_eta(unit: str):
    """rich's ETA (its speed over a 30 s window) on chunks or on bytes of finished files."""
    clock = [0.0]
    bar = RichProgress(get_time=lambda: clock[0], disable=True)
    task = bar.add_task("ingest", total=1)

    def eta(p: SimpleNamespace, now: float) -> float | None:
        clock[0] = now
        if unit == "chunks":
            total = expected_chunks(p) or 1
            bar.update(task, total=total, completed=p.chunks_embedded)
        else:
            bar.update(task, total=p.bytes_total, completed=p.bytes_done)
        return bar.tasks[task].time_remaining

    return eta


def ours():
    """This project's bar."""
    bar = ProgressBar(enabled=False)
    return lambda p, now: bar.eta(p, now)


def score(name: str, estimate, snaps) -> str:
    """Climbs, total climb and mean absolute error of one estimator."""
    end = snaps[-1][0]
    shown = [(now, estimate(p, now)) for now, p in snaps]
    known = [(now, eta) for now, eta in shown if eta is not None]
    climbs = [b - a for (_, a), (_, b) in pairwise(known) if b - a > 1.0]
    error = sum(abs(eta - (end - now)) for now, eta in known) / max(len(known), 1)
    unknown = len(shown) - len(known)
    frozen = sum(1 for (_, a), (_, b) in pairwise(known) if b - a + STEP > 0)
    return (
        f"{name:<18} climbs {len(climbs):>3} ({sum(climbs):>4.0f} s)  frozen {frozen:>3}  "
        f"mean error {error:>5.1f} s  unknown {unknown:>3} of {len(shown)}"
    )


def main() -> None:
    """Print one line per estimator."""
    snaps = simulate()
    print(f"simulated run: {snaps[-1][0]:.0f} s")
    for name, estimate in (
        ("bytes done (old)", bytes_eta),
        ("rich, bytes done", rich_eta("bytes")),
        ("rich, chunks", rich_eta("chunks")),
        ("ours (countdown)", ours()),
    ):
        print(score(name, estimate, snaps))


if __name__ == "__main__":
    main()
