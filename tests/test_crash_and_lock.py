"""Crash safety (kill -9 at any moment, then re-run) and the one-owner lock of an embedded store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.run import ingest_paths
from rag.errors import StoreLocked
from rag.kb import KnowledgeBase
from tests.conftest import REPO, make_settings, subprocess_env


def write_corpus(folder: Path, files: int = 60) -> None:
    folder.mkdir()
    for n in range(files):
        body = "\n\n".join(
            f"Paragraph {p} of note {n}: the pump in hall {n} needs valve {p} checked weekly."
            for p in range(6)
        )
        (folder / f"note{n:02d}.md").write_text(f"# Note {n}\n\n{body}\n", encoding="utf-8")


def index_ids(settings) -> tuple[set[str], set[str]]:
    with KnowledgeBase(settings) as kb:
        kb.repair(settings.collection)
        col = settings.collection
        catalog = {cid for r in kb.documents(col) for cid in kb.chunk_ids(col, r.doc_id)}
        return set(kb.store.ids(col)), catalog


def test_killing_ingest_at_any_moment_then_rerunning_gives_the_clean_index(ollama, tmp_path):
    docs = tmp_path / "docs"
    write_corpus(docs)
    clean = make_settings(ollama.url, tmp_path / "clean", embed_batch=8)
    with KnowledgeBase(clean) as kb:
        assert ingest_paths(kb, clean.collection, [str(docs)]).ok
    clean_vectors, clean_chunks = index_ids(clean)
    assert clean_vectors == clean_chunks

    # 20 ms per input: the run lasts long enough for the writer's first batch (it waits up to
    # ingest.write_stage.FLUSH_S for more documents) to commit before the later kills.
    ollama.configure(embed_cost_s=0.02)
    env = subprocess_env(ollama.url, tmp_path / "crashy", RAG_EMBED_BATCH="8")
    command = [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--json"]
    partial = []
    # Kill once the run has embedded k more inputs, plus a little: lands in every stage.
    for k, extra in ((1, 0.0), (9, 0.03), (17, 0.07), (25, 0.0), (33, 0.11), (8, 0.05)):
        start = ollama.stats()["embed_inputs"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while ollama.stats()["embed_inputs"] < start + k and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with KnowledgeBase(make_settings(ollama.url, tmp_path / "crashy")) as kb:
            partial.append(kb.counts(kb.settings.collection)[0])
        # Edit files between crashes so that updates are interrupted too.
        for note in sorted(docs.iterdir())[k % 5 :: 5]:
            note.write_text(note.read_text() + f"\nEdited after crash {k}.\n")
    print("documents committed after each kill:", partial)
    assert partial[0] < 60 and max(partial) > 0  # the kills did land mid-run
    with KnowledgeBase(clean) as kb:
        assert ingest_paths(kb, clean.collection, [str(docs)]).ok
    clean_vectors, clean_chunks = index_ids(clean)

    ollama.configure(embed_cost_s=0.0)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failed"] == []
    vectors, chunks = index_ids(make_settings(ollama.url, tmp_path / "crashy"))
    assert chunks == clean_chunks
    assert vectors == clean_vectors == chunks


HOLDER = """
import sys, time
from pathlib import Path
from rag.lock import StoreLock
StoreLock(Path(sys.argv[1]), sys.argv[2], sys.argv[3] or None).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def hold_lock(store: Path, role: str, url: str = "") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store), role, url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_cannot_open_a_store_that_rag_serve_owns(ollama, tmp_path):
    settings = make_settings(ollama.url, tmp_path / "data")
    holder = hold_lock(settings.store_path, "serve", "http://127.0.0.1:8000")
    try:
        with pytest.raises(StoreLocked) as err:
            KnowledgeBase(settings).open()
        message = str(err.value)
        assert f"is owned by `rag serve` (pid {holder.pid}) at http://127.0.0.1:8000" in message
        assert "POST /documents" in message and "CHROMA_URL" in message

        done = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ingest", str(REPO / "data" / "handbook.md")],
            env=subprocess_env(ollama.url, tmp_path / "data"),
            capture_output=True,
            text=True,
        )
        # The CLI goes through the owner's API (issue 13); this owner serves nothing.
        assert done.returncode == 1
        assert "Error: cannot reach `rag serve` at http://127.0.0.1:8000" in done.stderr
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the lock with its owner: no stale lock after a crash.
    with KnowledgeBase(settings) as kb:
        assert kb.documents(settings.collection) == []


def test_another_cli_command_holding_the_store_is_named(ollama, tmp_path):
    settings = make_settings(ollama.url, tmp_path / "data")
    holder = hold_lock(settings.store_path, "ingest")
    try:
        with pytest.raises(StoreLocked, match=r"in use by `rag ingest` \(pid \d+\); wait for it"):
            KnowledgeBase(settings).open()
    finally:
        holder.kill()
        holder.wait()


def test_with_a_chroma_server_several_processes_may_write(ollama, tmp_path, chroma_url):
    settings = make_settings(
        ollama.url,
        tmp_path / "data",
        chroma_url=chroma_url,
        collection="shared" + os.urandom(4).hex(),
    )
    holder = hold_lock(settings.store_path, "serve")  # irrelevant in server mode
    try:
        with KnowledgeBase(settings) as first, KnowledgeBase(settings) as second:
            ingest_paths(first, settings.collection, [str(REPO / "data" / "handbook.md")])
            report = ingest_paths(second, settings.collection, [str(REPO / "data" / "faq.html")])
            assert first.counts(settings.collection)[0] >= 1
            assert report.failed and report.failed[0]["error"] == "no such file or directory"
    finally:
        holder.kill()
        holder.wait()


def _start_serve(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from tests.conftest import _free_port

    port = _free_port()
    command = [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("rag serve did not start")


def test_killing_serve_during_uploads_and_deletes_leaves_a_consistent_index(ollama, tmp_path):
    import threading

    import httpx

    from tests.consistency import check_index

    docs = tmp_path / "docs"
    write_corpus(docs, files=30)
    files = sorted(docs.iterdir())
    # 20 ms per input: the run lasts long enough for the writer's first batch (it waits up to
    # ingest.write_stage.FLUSH_S for more documents) to commit before the later kills.
    ollama.configure(embed_cost_s=0.02)
    env = subprocess_env(ollama.url, tmp_path / "data", RAG_EMBED_BATCH="4")
    cut: list[int] = []

    def traffic(url: str, round_: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for n, path in enumerate(files[round_ * 5 : round_ * 5 + 10]):
                try:
                    http.post("/documents", files=[("files", (path.name, path.read_bytes()))])
                    if n % 3 == 2:
                        listed = http.get("/documents").json()["documents"]
                        if listed:
                            http.delete(f"/documents/{listed[0]['id']}")
                except httpx.HTTPError:
                    cut.append(round_)  # the server was killed under us: that is the point
                    return

    for round_, delay in enumerate((0.3, 0.8, 1.5, 0.5)):
        proc, url = _start_serve(env, tmp_path)
        worker = threading.Thread(target=traffic, args=(url, round_))
        worker.start()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        worker.join()
    proc, url = _start_serve(env, tmp_path)  # start-up repairs what the kills left
    proc.terminate()
    proc.wait(timeout=30)
    settings = make_settings(ollama.url, tmp_path / "data")
    documents, chunks = check_index(settings)
    assert cut, "no kill landed while requests were in flight"
    with KnowledgeBase(settings) as kb:  # start-up repaired: nothing left in the journal
        assert kb._cat.orphans(settings.collection) == []
    assert documents > 0 and chunks >= documents
