"""`rag serve` as a real process: it owns the store, preloads models, streams over real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, rag_serve, subprocess_env


@pytest.fixture()
def served(ollama, tmp_path):
    """`rag serve` on a free port with the double, a private data dir; yields (url, env)."""
    env = subprocess_env(ollama.url, tmp_path / "data")
    with rag_serve(env, tmp_path) as url:
        yield url, env


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


def rag(env, cwd, *argv: str) -> subprocess.CompletedProcess:
    """Run the `rag` command as a user would, in cwd."""
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


GOING = "going through its API at http://127.0.0.1:"


def test_cli_beside_the_server_goes_through_its_api(served, tmp_path):
    url, env = served
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "data", docs, ignore=shutil.ignore_patterns("chroma*"))
    done = rag(env, tmp_path, "ingest", "docs", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(GOING) == 1 and "Error" not in done.stderr
    added = json.loads(done.stdout)["added"]
    assert sorted(added) == sorted(str(p) for p in docs.iterdir())  # the same sources as direct

    listed = rag(env, tmp_path, "list", "--json")
    assert json.loads(listed.stdout) == httpx.get(f"{url}/documents").json()
    found = rag(env, tmp_path, "search", "error E7")
    assert found.returncode == 0 and "docs/r2-user-manual.pdf p. 3" in found.stdout
    asked = rag(env, tmp_path, "ask", "What does error E7 mean?")
    assert "Error E7 means the dust bin is missing" in asked.stdout
    assert "Sources:\n  [1] docs/r2-user-manual.pdf p. 3" in asked.stdout
    counts = json.loads(rag(env, tmp_path, "collections", "--json").stdout)
    assert counts == httpx.get(f"{url}/collections").json()

    gone = rag(env, tmp_path, "delete", "docs/handbook.md")
    assert gone.returncode == 0 and gone.stdout.startswith("Deleted docs/handbook.md (")
    again = rag(env, tmp_path, "delete", "docs/handbook.md")
    assert again.returncode == 1
    assert "Error: no document 'docs/handbook.md' in collection 'default'" in again.stderr
    typo = rag(env, tmp_path, "list", "-c", "defualt")
    assert typo.returncode == 1 and "(did you mean 'default'?)" in typo.stderr


def test_cli_ingest_beside_the_server_prunes_like_a_direct_run(served, tmp_path):
    _, env = served
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "data", docs, ignore=shutil.ignore_patterns("chroma*"))
    assert rag(env, tmp_path, "ingest", "docs", "--json").returncode == 0
    (docs / "handbook.md").unlink()
    done = rag(env, tmp_path, "ingest", "docs", "missing.md", "--prune", "--json")
    summary = json.loads(done.stdout)
    assert done.returncode == 3
    assert summary["removed"] == [str(docs / "handbook.md")]
    assert len(summary["unchanged"]) == 4
    assert summary["failed"] == [{"path": "missing.md", "error": "no such file or directory"}]


def test_local_ingest_route_needs_the_owner_token(served, tmp_path):
    url, _ = served
    body = {"paths": [str(REPO / "data" / "handbook.md")]}
    for headers in ({}, {"X-Rag-Local-Token": "guess"}):
        refused = httpx.post(f"{url}/documents/local", json=body, headers=headers)
        assert refused.status_code == 401
    assert httpx.get(f"{url}/documents").json()["documents"] == []
    # Nor may another client ask which server path a document has (`rag delete PATH` does).
    source = {"source": str(REPO / "data" / "handbook.md")}
    refused = httpx.post(f"{url}/documents/local/find", json=source, headers=headers)
    assert refused.status_code == 401


def test_cli_beside_the_server_deletes_by_the_source_as_shown_or_by_path(served, tmp_path):
    url, env = served
    docs = tmp_path / "srv" / "docs"
    shutil.copytree(REPO / "data", docs, ignore=shutil.ignore_patterns("chroma*"))
    assert rag(env, tmp_path, "ingest", str(docs), "--json").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, ref, name in [
        (elsewhere, "docs/handbook.md", "handbook.md"),  # as `rag list` shows it
        (elsewhere, str(docs / "support-faq.html"), "support-faq.html"),  # absolute
        (docs, "r2-user-manual.pdf", "r2-user-manual.pdf"),  # relative to where it is typed
    ]:
        gone = rag(env, cwd, "delete", ref)
        assert gone.returncode == 0, gone.stderr
        assert gone.stderr.count(GOING) == 1 and gone.stdout.startswith(f"Deleted docs/{name} (")
    again = rag(env, elsewhere, "delete", "docs/handbook.md")
    assert again.returncode == 1
    assert "Error: no document 'docs/handbook.md' in collection 'default'" in again.stderr
    left = sorted(d["source"] for d in httpx.get(f"{url}/documents").json()["documents"])
    assert left == ["docs/quy-dinh-lam-viec.md", "docs/release-notes.txt"]


def test_drop_beside_the_server_still_refuses_with_instructions(served, tmp_path):
    url, env = served
    done = rag(env, tmp_path, "drop", "default", "--yes")
    assert done.returncode == 1
    assert "is owned by `rag serve`" in done.stderr and f"at {url}" in done.stderr


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


def test_a_name_two_documents_share_is_refused_with_a_request_for_the_id(ollama, tmp_path):
    # Under RAG_DISPLAY_ROOT, <root>/uploads/handbook.md is shown as the upload of that name.
    root = tmp_path / "shown"
    (root / "uploads").mkdir(parents=True)
    shutil.copy(REPO / "data" / "handbook.md", root / "uploads" / "handbook.md")
    env = {**subprocess_env(ollama.url, tmp_path / "data"), "RAG_DISPLAY_ROOT": str(root)}
    expected = "Error: 2 documents are shown as 'uploads/handbook.md': name one by its id"
    with rag_serve(env, tmp_path) as url:
        files = [("files", ("handbook.md", (REPO / "data" / "handbook.md").read_bytes()))]
        assert httpx.post(f"{url}/documents", files=files, timeout=60).status_code == 200
        assert rag(env, tmp_path, "ingest", str(root), "--json").returncode == 0
        shown = [d["source"] for d in httpx.get(f"{url}/documents").json()["documents"]]
        assert shown == ["uploads/handbook.md", "uploads/handbook.md"]
        beside = rag(env, tmp_path, "delete", "uploads/handbook.md")
        assert beside.returncode == 1 and expected in beside.stderr
    alone = rag(env, tmp_path, "delete", "uploads/handbook.md")  # no server: the store itself
    assert alone.returncode == 1 and expected in alone.stderr
    assert rag(env, tmp_path, "delete", str(root / "uploads" / "handbook.md")).returncode == 0
