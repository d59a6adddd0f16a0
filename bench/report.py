"""The results table (printed as rows arrive, and at the end) and its JSON file."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, load

RESULTS = ROOT / "bench" / "results"
COLUMNS = (("section", 8), ("case", 44), ("value", 40), ("baseline", 40), ("ratio", 14))


@dataclass
class Row:
    """One figure, with the baseline measured beside it in the same run."""

    section: str
    case: str
    value: str
    baseline: str = ""
    ratio: str = ""
    load1: float = field(default_factory=load)
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Report:
    """Collects rows and raw data; prints the table and writes bench/results/*.json."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.started = time.time()
        self.meta = machine() | {"args": args}

    def add(self, section: str, case: str, value: str, **extra: Any) -> Row:
        """Record a row and print it at once (long runs show progress)."""
        row = Row(section, case, value, **extra)
        self.rows.append(row)
        print("  " + format_row(row), flush=True)
        return row

    def table(self) -> str:
        """The whole table as text."""
        head = " | ".join(name.ljust(width) for name, width in COLUMNS) + " | load1"
        lines = [head, "-" * len(head)]
        return "\n".join(lines + [format_row(row) for row in self.rows])

    def write(self, name: str = "bench") -> Path:
        """Write <name>-<time>.json and <name>-latest.json; return the first path."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.meta["seconds"] = round(time.time() - self.started, 1)
        self.meta["load_end"] = os.getloadavg()
        out = {"meta": self.meta, "rows": [asdict(r) for r in self.rows], "raw": self.raw}
        text = json.dumps(out, indent=2, default=str) + "\n"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = RESULTS / f"{name}-{stamp}.json"
        path.write_text(text, encoding="utf-8")
        (RESULTS / f"{name}-latest.json").write_text(text, encoding="utf-8")
        return path


def format_row(row: Row) -> str:
    """One row as a table line."""
    cells = [getattr(row, name) for name, _ in COLUMNS]
    text = " | ".join(str(c).ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True))
    line = f"{text} | {row.load1:.2f}"
    return f"{line}\n{' ' * 11}{row.note}" if row.note else line


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import chromadb

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "mem_gib": round(mem, 1),
        "python": platform.python_version(),
        "chromadb": chromadb.__version__,
        "load_start": os.getloadavg(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def ms(stats: dict[str, float], keys: tuple[str, ...] = ("p50", "p95", "p99")) -> str:
    """'p50/p95/p99 ms' text from a summary() dict."""
    if not stats.get("n"):
        return "n/a"
    return "/".join(f"{stats[k]:.1f}" for k in keys) + " ms"
