"""`rag serve` as a real process: it owns the store, preloads models, streams over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, _free_port, subprocess_env


@pytest.fixture()
def served(ollama, tmp_path):
    """`rag serve` on a free port with the double, a private data dir; yields (url, env)."""
    port = _free_port()
    env = subprocess_env(ollama.url, tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"rag serve did not start: {proc.stdout.read() if proc.stdout else ''}")
    yield url, env
    proc.terminate()
    proc.wait(timeout=30)


def test_serve_preloads_both_models(served, ollama):
    url, _ = served
    assert httpx.get(f"{url}/health").status_code == 200
    assert sorted(ollama.stats()["loaded"]) == ["llama3.2:latest", "nomic-embed-text:latest"]


def test_first_token_arrives_before_the_answer_is_finished(served, ollama):
    url, _ = served
    files = [("files", ("handbook.md", (REPO / "data" / "handbook.md").read_bytes()))]
    assert httpx.post(f"{url}/documents", files=files, timeout=60).status_code == 200
    ollama.configure(token_delay_s=0.15)
    question = {"question": "How many days of annual leave does an employee get?", "stream": True}
    arrivals = []
    with httpx.stream("POST", f"{url}/ask", json=question, timeout=60) as response:
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic(), json.loads(line)["type"]))
    tokens = [t for t, kind in arrivals if kind == "token"]
    done = [t for t, kind in arrivals if kind == "done"]
    assert len(tokens) > 5 and len(done) == 1
    # Streamed, not buffered: the first token came well before the last one was generated.
    assert done[0] - tokens[0] > 0.15 * (len(tokens) - 2)


def test_cli_ingest_beside_the_server_stops_with_instructions(served, tmp_path):
    url, env = served
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(REPO / "data")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "is owned by `rag serve`" in done.stderr and f"at {url}" in done.stderr
    assert "POST /documents" in done.stderr


def test_several_workers_need_a_chroma_server(ollama, tmp_path):
    env = subprocess_env(ollama.url, tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--workers", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: --workers > 1 needs a Chroma server")
