"""Shared fixtures: paths to ../shared, the Ollama double, Chroma in both modes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    env = os.environ.get("RAG_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workplace's shared/ folder (corpus, eval data); the tests need it."""
    path = _shared_dir()
    if not (path / "corpus" / "pdfs").is_dir():
        pytest.fail(f"shared corpus not found at {path}; set RAG_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    """The real-world PDFs of ../shared/corpus/pdfs."""
    return shared_dir / "corpus" / "pdfs"


# -- services -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def double():
    """The Ollama test double on a loopback port, for the whole session."""
    from tests.ollama_double import OllamaDouble

    server = OllamaDouble(port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def ollama(double):
    """The double with default knobs and fresh stats for one test."""
    double.reset()
    yield double
    double.reset()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _comes_up(url: str, statuses: tuple[int, ...], seconds: float) -> bool:
    """True once GET url answers with one of these statuses, False after `seconds`."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code in statuses:
                return True
        except httpx.HTTPError:
            time.sleep(0.2)
    return False


@contextmanager
def rag_serve(env: dict[str, str], cwd: Path, *args: str, seconds: float = 60) -> Iterator[str]:
    """`rag serve ARGS` on a free port until the block ends; yields its URL."""
    import subprocess
    import sys

    port = _free_port()
    command = [sys.executable, "-m", "rag.cli", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    if not _comes_up(f"{url}/health", (200, 503), seconds):  # 503: up, Ollama not ready
        proc.kill()
        pytest.fail(f"rag serve did not start: {proc.stdout.read() if proc.stdout else ''}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory):
    """URL of a Chroma server: RAG_TEST_CHROMA_URL if CI started one, else one of our own."""
    import subprocess
    import sys

    given = os.environ.get("RAG_TEST_CHROMA_URL")
    if given:
        yield given
        return
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    chroma = Path(sys.executable).with_name("chroma")
    log = open(path / "server.log", "w")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(path / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    if not _comes_up(f"{url}/api/v2/heartbeat", (200,), 60):
        proc.kill()
        pytest.fail(f"chroma run did not start; see {path / 'server.log'}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def make_settings(ollama_url: str, data_dir: Path, **overrides):
    """Settings for tests: isolated data dir, the double, quick retries."""
    from rag.config import Settings

    base = {
        "ollama_host": ollama_url,
        "data_dir": data_dir,
        "ollama_retries": 2,
        "ollama_timeout": 30.0,
    }
    base.update(overrides)
    return Settings(**base).validated()


def subprocess_env(ollama_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a `rag` subprocess: the double, a private data dir, no inherited RAG_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "CHROMA_"))}
    env.update(OLLAMA_HOST=ollama_url, RAG_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO), **extra)
    return env


@pytest.fixture()
def cli_env(monkeypatch, tmp_path, ollama) -> Path:
    """Environment for `rag.cli.main`: the double, a private data dir, cwd in tmp_path."""
    monkeypatch.chdir(tmp_path)
    for var in ("CHROMA_URL", "CHROMA_HOST", "RAG_COLLECTION", "RAG_CHROMA_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RAG_OLLAMA_RETRIES", "1")
    return tmp_path


@pytest.fixture(params=["embedded", "server"])
def store_mode(request):
    """Run a test against the embedded store and against a Chroma server."""
    return request.param


@pytest.fixture()
def settings(ollama, tmp_path, store_mode, request):
    """Settings for one test in the current store mode (a fresh collection namespace)."""
    overrides = {}
    if store_mode == "server":
        overrides["chroma_url"] = request.getfixturevalue("chroma_url")
        # The server outlives the test: a unique collection keeps tests apart.
        overrides["collection"] = "t" + os.urandom(6).hex()
    return make_settings(ollama.url, tmp_path / "data", **overrides)


@pytest.fixture()
def kb(settings):
    """An open KnowledgeBase on the test's settings."""
    from rag.kb import KnowledgeBase

    with KnowledgeBase(settings) as opened:
        yield opened


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright; skips the test without them."""
    from tests.browser_helpers import chromium_path, launch

    playwright_api = pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("needs /usr/bin/chromium")
    with playwright_api.sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()
