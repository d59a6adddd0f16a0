"""Ollama failures as API clients read them: what to do, never an internal Ollama host URL.

The CLI runs on the operator's machine, so it names the host; HTTP answers do not, for every
host configured (OLLAMA_HOST with several URLs, or RAG_OLLAMA_HOSTS).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.cli.main import main
from tests.conftest import REPO, make_settings
from tests.ollama_double import OllamaDouble

NOT_PULLED = (
    "model 'nomic-embed-text' is not pulled on one of the Ollama hosts: "
    "run `ollama pull nomic-embed-text` on it"
)


@pytest.fixture(scope="module")
def second():
    """A second Ollama host beside the session's double."""
    server = OllamaDouble(port=0).start()
    yield server
    server.stop()


@pytest.fixture()
def two(ollama, second):
    """The two hosts, fresh knobs."""
    second.reset()
    yield [ollama, second]
    second.reset()


def several(two, tmp_path, how: str, **overrides):
    """Settings naming both hosts, through OLLAMA_HOST's list or RAG_OLLAMA_HOSTS."""
    urls = (two[0].url, two[1].url)
    if how == "ollama_hosts":  # the default OLLAMA_HOST then names neither
        overrides["ollama_hosts"] = urls
        return make_settings("http://localhost:11434", tmp_path / "data", **overrides)
    return make_settings(",".join(urls), tmp_path / "data", **overrides)


def upload(api: TestClient):
    """POST the sample handbook to /documents."""
    handbook = (REPO / "data" / "handbook.md").read_bytes()
    return api.post("/documents", files=[("files", ("handbook.md", handbook))])


HOW = pytest.mark.parametrize("how", ["ollama_host_list", "ollama_hosts"])


@HOW
def test_a_model_missing_on_one_host_says_what_to_do_without_its_url(two, tmp_path, how):
    two[1].configure(models=["llama3.2"])
    with TestClient(create_app(several(two, tmp_path, how))) as api:
        response = upload(api)
    assert response.status_code == 503
    assert response.json()["detail"] == NOT_PULLED


def test_the_cli_names_the_host_missing_the_model(two, cli_env, monkeypatch, capsys):
    two[1].configure(models=["llama3.2"])
    monkeypatch.setenv("OLLAMA_HOST", f"{two[0].url},{two[1].url}")
    (cli_env / "handbook.md").write_bytes((REPO / "data" / "handbook.md").read_bytes())
    assert main(["ingest", str(cli_env / "handbook.md")]) != 0
    assert capsys.readouterr().err.strip() == (
        "Error: model 'nomic-embed-text' is not pulled on one of the Ollama hosts "
        f"({two[1].url}): run `ollama pull nomic-embed-text` on it"
    )


def test_a_model_missing_on_the_only_host_says_what_to_do(ollama, tmp_path):
    ollama.configure(models=["llama3.2"])
    with TestClient(create_app(make_settings(ollama.url, tmp_path / "data"))) as api:
        response = upload(api)
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "model 'nomic-embed-text' is not pulled: run `ollama pull nomic-embed-text`"
    )


@HOW
def test_an_aborted_upload_names_no_host_of_several(two, tmp_path, how):
    for host in two:
        host.configure(faults=[{"path": "/api/embed", "drop": True, "count": -1}])
    settings = several(two, tmp_path, how, ollama_retries=1)
    with TestClient(create_app(settings)) as api:
        response = upload(api)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert two[0].url not in detail and two[1].url not in detail
    assert "127.0.0.1" not in detail and "localhost" not in detail
    assert detail == "ingest stopped: Ollama dropped the connection (did it crash?)"
