"""`make demo`: ingest data/, search it and ask it, with Ollama or else the test double."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SEARCHES = ["nghỉ phép năm bao nhiêu ngày", "error E7 dust bin"]
QUESTIONS = [
    "How many days of annual leave do employees get?",
    "Mỗi nhân viên được bao nhiêu ngày nghỉ phép năm?",
    "What is the cafeteria menu on Friday?",
]


def ollama_answers(host: str) -> bool:
    """True when an Ollama server answers at host."""
    try:
        return httpx.get(f"{host}/api/version", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_double() -> tuple[subprocess.Popen[str], str]:
    """Start the Ollama test double on a free loopback port; return it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_double", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"Error: the Ollama test double did not start: {line!r}")
    return proc, line[line.index("http://") :]


def rag(*args: str, env: dict[str, str]) -> None:
    """Run one `rag` command, echoing it first."""
    print(f"\n$ rag {shlex.join(args)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "rag.cli", *args], cwd=REPO, env=env)
    if code not in (0, 3):
        raise SystemExit(code)


def main() -> None:
    """Ingest the sample knowledge base, run two searches and ask three questions."""
    env = dict(os.environ)
    host = env.get("OLLAMA_HOST", "http://localhost:11434")
    host = host if "://" in host else f"http://{host}"
    double = None
    if ollama_answers(host):
        print(f"Using Ollama at {host}.")
    else:
        double, url = start_double()
        print(
            f"No Ollama answers at {host}: using the Ollama TEST DOUBLE at {url} instead.\n"
            "Its embeddings are word hashes and its answers are extracts: fine for a demo of the\n"
            "pipeline, not a measure of quality. Run `ollama serve` for the real thing."
        )
        env["OLLAMA_HOST"] = url
        env.setdefault("RAG_CHROMA_PATH", str(REPO / "data" / "chroma-double"))
    try:
        rag("ingest", "data/", "--collection", "demo", env=env)
        for query in SEARCHES:
            rag("search", query, "--collection", "demo", "--top-k", "2", env=env)
        for question in QUESTIONS:
            rag("ask", question, "--collection", "demo", env=env)
    finally:
        if double is not None:
            double.terminate()
            double.wait(timeout=10)


if __name__ == "__main__":
    main()
