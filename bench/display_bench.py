"""What showing sources costs (rag.display): building a collection's names, and a warm check.

A collection's display names are rebuilt after any catalog change (reading every source and
root, then rag.display.source_names) and otherwise reused after one `PRAGMA data_version`.
Sources: N files spread over 40 roots, half of them sharing a folder name with another root.

    .venv/bin/python -m bench.display_bench            # N = 2000, 10000, 100000
Writes bench/results/display_<time>.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.catalog import Catalog  # noqa: E402
from rag.catalog_rows import now_iso  # noqa: E402
from rag.display import source_names  # noqa: E402
from rag.models import DocumentRecord  # noqa: E402

ROOTS = [f"/srv/site{i // 2}/team{i % 20}/docs" for i in range(40)]  # pairs share `docs`


def best_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of a few runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def sources(n: int) -> list[str]:
    """n absolute sources, three folders deep under the roots."""
    return [f"{ROOTS[i % len(ROOTS)]}/f{i % 7}/g{i % 11}/doc{i}.md" for i in range(n)]


def catalog_with(path: Path, names: list[str]) -> Catalog:
    """A catalog holding one record per source (no chunks) and the roots."""
    catalog = Catalog(path)
    records = [
        (DocumentRecord(f"d{i}", s, "0" * 64, "md", 0, None, now_iso()), 0, [])
        for i, s in enumerate(names)
    ]
    catalog.commit_many("bench", records)
    catalog.add_roots("bench", ROOTS)
    return catalog


def run(sizes: tuple[int, ...] = (2_000, 10_000, 100_000)) -> dict[str, dict[str, float]]:
    """Per size: the cold rebuild (read + build) and the warm version check, in ms."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            catalog = catalog_with(Path(tmp) / f"c{n}.sqlite3", sources(n))
            read_ms = best_ms(lambda c=catalog: (c.sources("bench"), c.roots("bench")))
            stored = catalog.sources("bench")
            build_ms = best_ms(lambda s=stored: source_names(s, ROOTS))
            warm_ms = best_ms(lambda c=catalog: [c.version() for _ in range(1000)]) / 1000
            catalog.close()
            out[str(n)] = {"read_ms": read_ms, "build_ms": build_ms, "warm_check_ms": warm_ms}
            print(
                f"N={n:>7}: read {read_ms:8.2f} ms  build {build_ms:8.2f} ms  "
                f"warm check {warm_ms * 1000:6.1f} µs"
            )
    return out


if __name__ == "__main__":
    results = run()
    target = ROOT / "bench" / "results" / f"display_{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")
