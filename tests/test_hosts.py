"""Several Ollama hosts: settings, spreading, failover mid-run, model checks and chat routing."""

from __future__ import annotations

import pytest

from ingest.run import ingest_paths
from rag.config import Settings
from rag.errors import ConfigError, ModelNotPulled
from rag.health import check_ollama
from rag.kb import KnowledgeBase
from rag.ollama import OllamaClient
from tests.conftest import _free_port, make_settings
from tests.consistency import check_index
from tests.ollama_double import OllamaDouble


@pytest.fixture(scope="module")
def doubles():
    """Two more doubles beside the session's: three independent Ollama hosts."""
    servers = [OllamaDouble(port=0).start() for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture()
def hosts(ollama, doubles):
    """Three fresh doubles (default knobs, empty stats)."""
    for server in doubles:
        server.reset()
    yield [ollama, *doubles]
    for server in doubles:
        server.reset()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for n in range(16):
        body = "\n\n".join(f"Note {n}, paragraph {p}: pump {n} needs valve {p}." for p in range(8))
        (folder / f"note{n:02d}.md").write_text(f"# Note {n}\n\n{body}\n", encoding="utf-8")
    return folder


def _ingest(settings: Settings, corpus) -> tuple[bool, list[str]]:
    with KnowledgeBase(settings) as kb:
        report = ingest_paths(kb, settings.collection, [str(corpus)])
        ids = sorted(kb.store.ids(settings.collection))
    return report.ok, ids


def test_ollama_host_may_list_several_urls():
    settings = Settings.load(env={"OLLAMA_HOST": "gpu1, gpu2:11500,http://gpu3:8080/"})
    assert settings.hosts == ("http://gpu1:11434", "http://gpu2:11500", "http://gpu3:8080")


def test_rag_ollama_hosts_wins_over_ollama_host():
    env = {"OLLAMA_HOST": "gpu1", "RAG_OLLAMA_HOSTS": "gpu2,gpu3"}
    assert Settings.load(env=env).hosts == ("http://gpu2:11434", "http://gpu3:11434")


def test_a_host_listed_twice_is_refused():
    with pytest.raises(ConfigError, match="OLLAMA_HOST"):
        Settings.load(env={"OLLAMA_HOST": "gpu1,http://gpu1:11434"})


def test_embedding_batches_are_spread_over_the_hosts(hosts, tmp_path, corpus):
    for host in hosts:  # each answers one batch at a time, like a GPU: the batches overlap
        host.configure(embed_cost_s=0.005)
    urls = ",".join(h.url for h in hosts)
    settings = make_settings(urls, tmp_path / "data", embed_batch=2)
    ok, ids = _ingest(settings, corpus)
    assert ok and len(ids) > 0
    assert all(h.stats()["embed_inputs"] > 0 for h in hosts)
    assert sum(h.stats()["embed_inputs"] for h in hosts) == len(ids)  # each chunk embedded once
    check_index(settings)


def test_a_host_going_down_mid_run_loses_and_doubles_nothing(hosts, tmp_path, corpus):
    single = make_settings(hosts[0].url, tmp_path / "one")
    ok, expected = _ingest(single, corpus)
    assert ok
    # The second host is the faster one (so it gets batches), until it drops every connection
    # after its second embedding request.
    hosts[0].configure(embed_cost_s=0.02)
    hosts[1].configure(embed_cost_s=0.002)
    hosts[1].configure(faults=[{"path": "/api/embed", "drop": True, "count": -1, "after": 2}])
    urls = f"{hosts[0].url},{hosts[1].url}"
    settings = make_settings(urls, tmp_path / "two", embed_batch=1, ollama_retries=1)
    ok, ids = _ingest(settings, corpus)
    assert ok
    assert hosts[1].stats()["faults_fired"] >= 1
    assert ids == expected
    assert check_index(settings) == check_index(single)


def test_a_host_that_comes_back_is_used_again(hosts, tmp_path):
    hosts[1].configure(faults=[{"path": "/api/embed", "status": 503, "count": 1}])
    settings = make_settings(f"{hosts[0].url},{hosts[1].url}", tmp_path, ollama_retries=1)
    with OllamaClient(settings) as client:
        for _ in range(8):
            client.embed(["pump valve"])
        out = client.pool.hosts[1]
        assert out not in client.pool.healthy()  # failed once: out for its cooldown
        served = hosts[1].stats()["embed_requests"]
        out.down_until = 0.0  # as if the cooldown were over
        for _ in range(8):
            client.embed(["pump valve"])
    assert hosts[1].stats()["embed_requests"] > served
    answered = hosts[0].stats()["embed_requests"] + hosts[1].stats()["embed_requests"]
    assert answered == 16  # every call answered exactly once


def test_every_host_is_checked_for_the_model(hosts, tmp_path, corpus):
    hosts[1].configure(models=["llama3.2"])
    settings = make_settings(f"{hosts[0].url},{hosts[1].url}", tmp_path / "data")
    with OllamaClient(settings) as client, pytest.raises(ModelNotPulled) as err:
        client.require_model(settings.embed_model)
    assert str(err.value) == (
        f"model 'nomic-embed-text' is not pulled on one of the Ollama hosts ({hosts[1].url}): "
        "run `ollama pull nomic-embed-text` on it"
    )
    with OllamaClient(settings) as client:
        checks = check_ollama(settings, client)
    assert checks["ollama"]["ok"] and not checks["embed_model"]["ok"]


def test_a_host_unreachable_at_start_is_left_out(hosts, tmp_path, corpus):
    dead = f"http://127.0.0.1:{_free_port()}"
    settings = make_settings(f"{dead},{hosts[0].url}", tmp_path / "data")
    with OllamaClient(settings) as client:
        checks = check_ollama(settings, client)
    assert all(c["ok"] for c in checks.values())
    assert f"not answering: {dead}" in checks["ollama"]["detail"]
    ok, ids = _ingest(settings, corpus)
    assert ok and hosts[0].stats()["embed_inputs"] == len(ids)


def test_chat_goes_to_a_healthy_host(hosts, tmp_path):
    hosts[0].configure(faults=[{"path": "/api/chat", "status": 503, "count": -1}])
    settings = make_settings(f"{hosts[0].url},{hosts[1].url}", tmp_path, ollama_retries=1)
    messages = [{"role": "user", "content": "How many valves?"}]
    with OllamaClient(settings) as client:
        for _ in range(3):
            assert client.chat(messages)["done"] is True
            chunks = list(client.chat_stream(messages))
            assert chunks[-1]["done"] is True
    assert hosts[1].stats()["chat_requests"] == 6
    assert hosts[0].stats()["requests"].get("/api/chat", 0) <= 1  # tried once, then taken out
