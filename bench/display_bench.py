"""What showing sources costs (rag.display): building a collection's names, and a warm check.

A collection's display names are rebuilt after any catalog change (reading every source and
root, then rag.display.source_names) and otherwise reused after one `PRAGMA data_version`.
Sources: N files spread over 40 roots, half of them sharing a folder name with another root.
Then, in one run over a 10k-chunk collection (bench.search_latency's synthetic corpus), the
share of retrieve() spent naming sources (the warm check and the display form of each row).

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

from bench import search_latency  # noqa: E402
from rag.catalog import Catalog  # noqa: E402
from rag.catalog_rows import now_iso  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.display import source_names  # noqa: E402
from rag.kb import KnowledgeBase  # noqa: E402
from rag.models import DocumentRecord  # noqa: E402
from rag.retrieve import retrieve  # noqa: E402

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


def search_share(n: int = 10_000, count: int = 200) -> dict[str, float]:
    """retrieve() p50 in ms (hybrid, query embedding excluded): as shipped, and with naming off.

    The two alternate query by query in one run; "off" skips the warm check and the display
    form of each row (what rag.display adds to a search).
    """
    corpus = search_latency.Corpus()
    vectors, texts = corpus.vectors(n), corpus.texts(n)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), ollama_host="http://127.0.0.1:9").validated()
        with KnowledgeBase(settings, role="bench") as kb:
            search_latency.build(kb, vectors, texts)
            pairs = search_latency.queries(corpus, vectors, texts, count)["content"]
            by_text = dict(pairs)
            kb.ollama.embed_query = lambda text: by_text[text]  # type: ignore[method-assign]
            names, rows = kb.source_names, kb._shown_rows
            empty = source_names([], [])
            times: dict[str, list[float]] = {"named": [], "off": []}
            for text, _ in pairs + pairs:
                for label in ("named", "off"):
                    off = label == "off"
                    kb.source_names = (lambda c: empty) if off else names  # type: ignore[method-assign]
                    kb._shown_rows = (lambda c, r: r) if off else rows  # type: ignore[method-assign]
                    got = retrieve(kb, search_latency.COLLECTION, text, 5)
                    times[label].append(got.timings["total"] - got.timings["embed"])
    out = {f"{k}_p50_ms": sorted(v)[len(v) // 2] for k, v in times.items()}
    print(
        f"retrieve() at {n} chunks, p50: {out['named_p50_ms']:.2f} ms as shipped, "
        f"{out['off_p50_ms']:.2f} ms with source naming off"
    )
    return out


if __name__ == "__main__":
    results: dict[str, object] = {"names": run(), "search": search_share()}
    target = ROOT / "bench" / "results" / f"display_{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")
