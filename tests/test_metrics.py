"""GET /metrics: scraped and parsed as Prometheus text; admin-only unless RAG_METRICS_PUBLIC."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from rag.api.app import create_app
from tests.conftest import REPO


def samples(text: str) -> dict[str, list]:
    """Metric name → its samples."""
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def ingested(found: dict[str, list]) -> float:
    """Chunks written to the collection 'hr' so far."""
    chunks = found.get("rag_ingested_chunks", [])
    return sum(
        s.value for s in chunks if s.labels.get("collection") == "hr" and s.name.endswith("_total")
    )


def test_metrics_count_requests_steps_ingest_and_store_size(settings):
    with TestClient(create_app(settings.with_(metrics_public=True))) as api:
        before = ingested(samples(api.get("/metrics").text))  # counters live per process
        handbook = (REPO / "data" / "handbook.md").read_bytes()
        api.post(
            "/documents", files=[("files", ("handbook.md", handbook))], params={"collection": "hr"}
        )
        api.post("/search", json={"query": "annual leave", "collection": "hr"})
        api.get("/documents/nope", params={"collection": "hr"})
        response = api.get("/metrics")
    assert response.status_code == 200
    found = samples(response.text)
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in found["rag_http_requests"]
        if s.name.endswith("_total")
    }
    assert requests[("POST", "/search", "200")] >= 1
    assert requests[("GET", "/documents/{doc_id}", "404")] >= 1  # the template, not the id
    steps = {s.labels["step"] for s in found["rag_step_seconds"] if s.name.endswith("_count")}
    assert {"embed", "retrieve"} <= steps
    written = ingested(found) - before
    store = {s.labels["collection"]: s.value for s in found["rag_store_chunks"]}
    assert written > 0 and store["hr"] == written


def test_metrics_need_the_admin_scope_unless_public(settings):
    keys = ("reader:read", "boss:admin")
    with TestClient(create_app(settings.with_(api_keys=keys))) as api:
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers={"Authorization": "Bearer reader"}).status_code == 403
        assert api.get("/metrics", headers={"Authorization": "Bearer boss"}).status_code == 200
    with TestClient(create_app(settings.with_(api_keys=keys, metrics_public=True))) as api:
        assert api.get("/metrics").status_code == 200
