"""`make demo`: ingest data/ and search it, with Ollama or (when none answers) the test double."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "How many days of annual leave do employees get?",
    "nghỉ phép năm bao nhiêu ngày",
    "What does error E7 mean on the robot?",
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
    print(f"\n$ rag {' '.join(args)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "rag.cli", *args], cwd=REPO, env=env)
    if code not in (0, 3):
        raise SystemExit(code)


def main() -> None:
    """Ingest the sample knowledge base and run a few searches."""
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
        for question in QUESTIONS:
            rag("search", question, "--collection", "demo", "--top-k", "2", env=env)
    finally:
        if double is not None:
            double.terminate()
            double.wait(timeout=10)


if __name__ == "__main__":
    main()
