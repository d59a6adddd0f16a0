"""The fault suite: Ollama misbehaving behind a proxy, the service never lying about it.

A cut answer stream is never presented as a finished answer on any route; an ingest through any
Ollama fault leaves a consistent index (catalog, keyword index and Chroma agree), and the next
clean run completes it.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ingest.run import ingest_paths
from rag.api.app import create_app
from rag.kb import KnowledgeBase
from tests.conftest import REPO, make_settings
from tests.consistency import check_index
from tests.fault_proxy import FaultProxy

LEAVE = "How many days of annual leave does an employee get?"
CUT = "ended before it was complete"


@pytest.fixture()
def proxy(ollama):
    with FaultProxy(ollama.url) as running:
        yield running


@pytest.fixture()
def api(proxy, tmp_path):
    settings = make_settings(proxy.url, tmp_path / "data", ollama_retries=0)
    with TestClient(create_app(settings)) as client:
        files = [("files", ("handbook.md", (REPO / "data" / "handbook.md").read_bytes()))]
        assert client.post("/documents", files=files).status_code == 200
        proxy.clear()
        proxy.inject("/api/chat", "cut", lines=3)
        yield client


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ask_not_streamed_is_a_502(api):
    response = api.post("/ask", json={"question": LEAVE})
    assert response.status_code == 502
    assert CUT in response.json()["detail"] and "answer" not in response.json()


def test_ask_streamed_ends_with_an_error_event_and_no_done(api):
    response = api.post("/ask", json={"question": LEAVE, "stream": True})
    events = ndjson(response.text)
    assert [e["type"] for e in events].count("token") >= 1
    assert events[-1]["type"] == "error" and events[-1]["status"] == 502
    assert CUT in events[-1]["detail"]
    assert "done" not in [e["type"] for e in events]


def test_openai_route_answers_with_its_error_shape(api, proxy):
    body = {"model": "rag", "messages": [{"role": "user", "content": LEAVE}]}
    whole = api.post("/v1/chat/completions", json=body)
    assert whole.status_code == 502 and CUT in whole.json()["error"]["message"]
    proxy.inject("/api/chat", "cut", lines=3)
    streamed = api.post("/v1/chat/completions", json={**body, "stream": True})
    data = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    events = [json.loads(d) for d in data if d != "[DONE]"]
    finishes = [c.get("finish_reason") for e in events for c in e.get("choices", [])]
    assert "stop" not in finishes
    assert CUT in events[-1]["error"]["message"]


def test_ollama_route_answers_with_its_error_shape(api, proxy):
    body = {"model": "rag", "messages": [{"role": "user", "content": LEAVE}]}
    lines = ndjson(api.post("/api/chat", json=body).text)
    assert not any(line.get("done") for line in lines)
    assert CUT in lines[-1]["error"]
    proxy.inject("/api/chat", "cut", lines=3)
    whole = api.post("/api/chat", json={**body, "stream": False})
    assert whole.status_code == 502 and CUT in whole.json()["error"]


# -- ingest through faults ------------------------------------------------------------------

FAULTS = [
    ("status", {"status": 500, "error": "runner crashed"}),
    ("drop", {}),
    ("sever", {"lines": 0}),
    ("vectors", {"how": "dims"}),
    ("vectors", {"how": "count"}),
    ("vectors", {"how": "mixed"}),
    ("vectors", {"how": "nan"}),
    ("vectors", {"how": "null"}),
    ("vectors", {"how": "strings"}),
    ("drip", {"size": 256, "every": 0.05}),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for n in range(12):
        body = "\n\n".join(
            f"Paragraph {p} of note {n}: pump {n} needs valve {p}." for p in range(8)
        )
        (folder / f"note{n:02d}.md").write_text(f"# Note {n}\n\n{body}\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("kind", "args"), FAULTS, ids=[f"{k}-{a.get('how', '')}" for k, a in FAULTS]
)
def test_ingest_through_a_fault_leaves_a_consistent_index(proxy, tmp_path, corpus, kind, args):
    settings = make_settings(
        proxy.url, tmp_path / "data", ollama_retries=0, embed_batch=8, ollama_deadline=2.0
    )
    with KnowledgeBase(settings) as kb:
        assert ingest_paths(kb, settings.collection, [str(corpus)]).ok
    for note in sorted(corpus.iterdir())[::3]:
        note.write_text(note.read_text() + f"\nEdited before the {kind} fault.\n")
    expected = check_index(settings)
    proxy.inject("/api/embed", kind, count=2, **args)
    with KnowledgeBase(settings) as kb:
        report = ingest_paths(kb, settings.collection, [str(corpus)])
    assert not report.ok
    if kind == "vectors":
        assert "Ollama sent unusable embeddings" in str(report.aborted)
    documents, _ = check_index(settings)
    assert documents == expected[0]  # edited files may be updated or not; none lost or doubled
    proxy.clear()
    with KnowledgeBase(settings) as kb:
        assert ingest_paths(kb, settings.collection, [str(corpus)]).ok
    assert check_index(settings)[0] == 12


def test_wrong_size_vectors_never_pin_a_collection(proxy, tmp_path, corpus):
    settings = make_settings(proxy.url, tmp_path / "data", ollama_retries=0)
    proxy.inject("/api/embed", "vectors", count=100, how="dims")
    with KnowledgeBase(settings) as kb:
        report = ingest_paths(kb, settings.collection, [str(corpus)])
    assert "384-dimension embeddings, but /api/show says nomic-embed-text makes 768" in str(
        report.aborted
    )
    assert check_index(settings) == (0, 0)
    proxy.clear()
    with KnowledgeBase(settings) as kb:
        assert ingest_paths(kb, settings.collection, [str(corpus)]).ok
    assert check_index(settings)[0] == 12
