"""The read routes the chat page uses (a chunk with its neighbours) and the local-ingest guard."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.lock import local_token
from tests.conftest import REPO


def test_a_cited_chunk_comes_whole_with_its_neighbours(settings):
    with TestClient(create_app(settings)) as api:
        handbook = (REPO / "data" / "handbook.md").read_bytes()
        assert api.post("/documents", files=[("files", ("handbook.md", handbook))]).is_success
        hit = api.post("/search", json={"query": "annual leave carried over"}).json()["hits"][0]
        window = api.get(f"/chunks/{hit['chunk_id']}", params={"radius": 1}).json()
        texts = [c["text"] for c in window["chunks"]]
        assert window["document"]["source"] == "uploads/handbook.md"
        assert hit["text"] in texts and 2 <= len(texts) <= 3
        indexes = [c["index"] for c in window["chunks"]]
        assert indexes == sorted(indexes) and indexes == list(range(indexes[0], indexes[-1] + 1))
        assert api.get("/chunks/nope:0").status_code == 404


def test_local_ingest_refuses_a_client_that_is_not_on_loopback(settings):
    with TestClient(create_app(settings)) as api:  # its client address is "testclient"
        token = local_token(settings.store_path) or "x"
        assert settings.chroma_url or token != "x"  # the embedded store's owner has a token
        body = {"paths": [str(REPO / "data" / "handbook.md")]}
        refused = api.post("/documents/local", json=body, headers={"X-Rag-Local-Token": token})
        assert refused.status_code == 401
        assert api.get("/documents").json()["documents"] == []
