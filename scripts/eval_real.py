"""`make eval-real`: retrieval quality on a real embedding model, not the test double.

Starts ../shared/tools/real-embedder (all-MiniLM-L6-v2 behind Ollama's API; runs its setup.sh
first if its venv is missing) unless something already answers on the port, then runs
`rag eval` on SciFact (train) and XQuAD English and Vietnamese, keeping the indexes in
EVAL_DATA_DIR so a second run only re-runs the queries, and prints one table of nDCG@10.

Environment: REAL_EMBEDDER_DIR, REAL_EMBEDDER_PORT (11435), EVAL_DATA_DIR (/tmp/rag-eval-real),
EVAL_LIMIT (queries per dataset, default all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
TOOL = Path(os.environ.get("REAL_EMBEDDER_DIR", SHARED / "tools" / "real-embedder"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
VENV = CACHE / "real-embedder" / "venv"
PORT = int(os.environ.get("REAL_EMBEDDER_PORT", "11435"))
HOST = f"http://127.0.0.1:{PORT}"
DATASETS = [
    ("SciFact train", SHARED / "eval" / "scifact", "sf"),
    ("XQuAD en", SHARED / "eval" / "xquad" / "xquad.en.json", "xqen"),
    ("XQuAD vi", SHARED / "eval" / "xquad" / "xquad.vi.json", "xqvi"),
]


def answers() -> bool:
    """True when a server answers on the port."""
    try:
        return httpx.get(f"{HOST}/api/version", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_server() -> subprocess.Popen[bytes] | None:
    """The real-embedder server, started here (None if one already runs)."""
    if answers():
        return None
    if not (VENV / "bin" / "python").exists():
        subprocess.run(["bash", str(TOOL / "setup.sh")], check=True)
    server = subprocess.Popen(
        [str(VENV / "bin" / "python"), str(TOOL / "real_ollama.py"), "--port", str(PORT)]
    )
    for _ in range(600):  # loading the model takes ~15 s on a busy machine
        if answers():
            return server
        if server.poll() is not None:
            sys.exit(f"the real-embedder server exited with status {server.returncode}")
        time.sleep(0.5)
    server.terminate()
    sys.exit("the real-embedder server did not answer within 5 minutes")


def run(path: Path, collection: str) -> dict:
    """One `rag eval … --json` against the real embedder."""
    env = {
        **os.environ,
        "OLLAMA_HOST": HOST,
        "RAG_EMBED_MODEL": "all-minilm",
        "RAG_CHAT_MODEL": "extractive",
        "RAG_DATA_DIR": os.environ.get("EVAL_DATA_DIR", "/tmp/rag-eval-real"),
    }
    limit = ["--limit", os.environ["EVAL_LIMIT"]] if os.environ.get("EVAL_LIMIT") else []
    command = [str(REPO / ".venv" / "bin" / "rag"), "eval", str(path), "--keep", "-c"]
    done = subprocess.run(
        [*command, collection, "--json", "--no-progress", *limit],
        env=env,
        check=True,
        stdout=subprocess.PIPE,
    )
    return json.loads(done.stdout)


def row(name: str, result: dict) -> str:
    """One table row: nDCG@10 per mode, chunks per document, refusals."""
    if result["format"] == "beir":
        ndcg = {mode: result["modes"][mode]["ndcg@10"] for mode in ("dense", "keyword", "hybrid")}
        docs, refused = result["documents"], "n/a"
    else:
        ndcg = result["retrieval"]["ndcg@10"]
        docs = result["paragraphs"] - result["held_out_paragraphs"]
        held, kept = result["refusal"]["accuracy"], result["answers"]["answered"]
        halves = zip(
            result["refusal"]["held_out_refused_by_half"],
            result["refusal"]["answerable_refused_by_half"],
            strict=True,
        )
        by_half = "; ".join(f"{100 * h:.1f}% / {100 * a:.1f}%" for h, a in halves)
        refused = f"{100 * held:.1f}% / {100 * (1 - kept):.1f}% (halves: {by_half})"
    chunks = result.get("chunks")
    per_doc = f"{chunks / docs:.2f}" if chunks else "n/a"
    cells = " | ".join(f"{ndcg[m]:.3f}" for m in ("dense", "keyword", "hybrid"))
    return f"| {name} | {cells} | {per_doc} | {refused} |"


def main() -> None:
    """Start the server if needed, run the three evaluations, print the table."""
    server = start_server()
    try:
        rows = [row(name, run(path, collection)) for name, path, collection in DATASETS]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(
        "| nDCG@10 (real all-minilm) | dense | keyword | hybrid | chunks/doc "
        "| refused: held-out / answerable (half 0; half 1) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
