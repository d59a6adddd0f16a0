"""The HTTP API via the test client: exact statuses, problem bodies, auth, CORS, limits."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from rag.api.app import create_app
from rag.models import MODES
from tests.conftest import REPO, _free_port


@pytest.fixture()
def docs(tmp_path):
    target = tmp_path / "docs"
    shutil.copytree(REPO / "data", target, ignore=shutil.ignore_patterns("chroma*"))
    return target


def client_for(settings, **changes):
    return TestClient(create_app(settings.with_(**changes) if changes else settings))


@pytest.fixture()
def api(settings):
    with client_for(settings) as client:
        yield client


def upload(api, *paths, collection=None):
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    params = {"collection": collection} if collection else {}
    return api.post("/documents", files=files, params=params)


def test_upload_then_search_then_ask(api, docs):
    response = upload(api, *sorted(docs.iterdir()))
    assert response.status_code == 200
    summary = response.json()
    assert sorted(summary["added"]) == sorted(f"uploads/{p.name}" for p in docs.iterdir())
    assert summary["failed"] == []

    response = api.post("/search", json={"query": "annual leave days", "top_k": 3})
    assert response.status_code == 200
    hits = response.json()["hits"]
    assert hits[0]["source"] == "uploads/handbook.md" and "18 days" in hits[0]["text"]

    response = api.post("/ask", json={"question": "What does error E7 mean?"})
    assert response.status_code == 200
    body = response.json()
    assert body["answerable"] is True
    assert body["citations"][0]["source"] == "uploads/r2-user-manual.pdf"
    assert body["citations"][0]["page"] == 3


def test_reupload_is_unchanged_and_documents_can_be_listed_shown_deleted(api, docs):
    upload(api, docs / "handbook.md")
    assert upload(api, docs / "handbook.md").json()["unchanged"] == ["uploads/handbook.md"]
    collection = api.app.state.rag.settings.collection
    listed = api.get("/documents").json()["documents"]
    assert [d["source"] for d in listed] == ["uploads/handbook.md"]
    doc_id = listed[0]["id"]
    assert api.get(f"/documents/{doc_id}").json()["chunks"] == listed[0]["chunks"]
    assert api.delete(f"/documents/{doc_id}").status_code == 200
    response = api.get(f"/documents/{doc_id}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "detail": f"no document with id '{doc_id}' in collection '{collection}'",
    }
    assert api.delete(f"/documents/{doc_id}").status_code == 404


def test_upload_of_bad_files_reports_each(api, corpus_dir):
    files = [
        (
            "files",
            ("locked.pdf", (corpus_dir / "encrypted_password_openpassword.pdf").read_bytes()),
        ),
        ("files", ("notes.odt", b"PK\x03\x04")),
        ("files", ("../../etc/passwd.txt", b"root:x:0:0")),
    ]
    summary = api.post("/documents", files=files).json()
    errors = {f["path"]: f["error"] for f in summary["failed"]}
    assert "password" in errors["uploads/locked.pdf"]
    assert errors["uploads/notes.odt"].startswith("unsupported file type '.odt'")
    assert summary["added"] == ["uploads/passwd.txt"]  # the path was reduced to its name


def test_empty_collection_and_unknown_question_are_refused(api, docs):
    body = api.post("/ask", json={"question": "What is the warranty?"}).json()
    assert (body["answerable"], body["reason"]) == (False, "no_documents")
    upload(api, docs / "handbook.md")
    body = api.post("/ask", json={"question": "quantum chromodynamics lattice gauge"}).json()
    assert (body["answerable"], body["reason"]) == (False, "nothing_relevant")


def ask_stream(api, question: str) -> list[dict]:
    with api.stream("POST", "/ask", json={"question": question, "stream": True}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        return [json.loads(line) for line in response.iter_lines() if line]


def test_streaming_ndjson_and_sse(api, docs):
    upload(api, docs / "handbook.md")
    question = {"question": "How many days of annual leave?", "stream": True}
    events = ask_stream(api, question["question"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "retrieval" and "token" in kinds and kinds[-1] == "done"
    assert kinds.index("token") < kinds.index("done")
    assert events[-1]["citations"][0]["source"] == "uploads/handbook.md"
    whole = api.post("/ask", json={"question": question["question"]}).json()
    assert {**events[-1], "timings": None} == {"type": "done", **whole, "timings": None}

    headers = {"Accept": "text/event-stream"}
    with api.stream("POST", "/ask", json=question, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    assert text.startswith("event: ") and "event: done\ndata: {" in text


def test_streamed_answer_never_shows_a_citation_naming_no_source(api, docs, ollama):
    upload(api, docs / "r2-user-manual.pdf")
    ollama.configure(fake_citation=True)  # the double's answer ends with " [9]"
    events = ask_stream(api, "What does error E7 mean?")
    streamed = "".join(e["text"] for e in events if e["type"] == "token")
    done = events[-1]
    assert done["dropped_citations"] == [9]  # the model wrote it; no client saw it
    assert "[9" not in streamed
    assert streamed == done["answer"] and done["answer"].endswith(" [1]")


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({}, 422, "question: Field required"),
        ({"question": ""}, 422, "question: String should have at least 1 character"),
        ({"question": "hi", "collection": "no/such"}, 400, "invalid collection name 'no/such'"),
        ({"question": "hi", "top_k": 0}, 422, "top_k: Input should be greater than or equal to 1"),
        ({"question": "hi", "filters": {"colour": "red"}}, 400, None),
    ],
)
def test_bad_requests_get_problem_responses(api, body, status, detail):
    response = api.post("/ask", json=body)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code
    assert response.status_code == status
    if detail:
        assert response.json()["detail"].startswith(detail)


def test_health_is_ok_then_503_when_ollama_is_gone(api, settings, ollama):
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    ollama.configure(models=["nomic-embed-text"])
    response = api.get("/health")
    assert response.status_code == 503
    assert "model 'llama3.2' is not pulled" in response.json()["reason"]


def test_health_503_when_ollama_unreachable(settings):
    with client_for(settings, ollama_host=f"http://127.0.0.1:{_free_port()}") as api:
        response = api.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["ollama"]["ok"] is False
    assert "cannot reach Ollama" in response.json()["reason"]


def test_api_keys_guard_everything_but_health(settings):
    with client_for(settings, api_keys=("s3cret", "other")) as api:
        assert api.get("/health").status_code == 200
        response = api.get("/documents")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"] == "missing API key: send `Authorization: Bearer <key>`"
        wrong = api.get("/documents", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["detail"]) == (401, "invalid API key")
        right = api.get("/documents", headers={"Authorization": "Bearer other"})
        assert right.status_code == 200
        assert api.post("/search", json={"query": "x"}).status_code == 401


def test_cors_is_closed_by_default_and_opens_for_configured_origins(settings):
    preflight = {"Origin": "https://intranet.example", "Access-Control-Request-Method": "POST"}
    with client_for(settings) as api:
        response = api.options("/ask", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    with client_for(settings, cors_origins=("https://intranet.example",)) as api:
        response = api.options("/ask", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://intranet.example"
        response = api.options("/ask", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers


def test_upload_limit_is_413(settings):
    with client_for(settings, max_upload_mb=0.01) as api:
        response = api.post("/documents", files=[("files", ("big.txt", b"word " * 10_000))])
    assert response.status_code == 413
    assert response.json()["title"] == "Payload too large"


def test_collections_listing(api, docs):
    upload(api, docs / "handbook.md", collection="hr")
    upload(api, docs / "release-notes.txt", collection="product")
    body = api.get("/collections").json()
    names = {c["name"]: c["documents"] for c in body["collections"]}
    assert names["hr"] == 1 and names["product"] == 1


def test_openapi_names_the_response_schemas(api):
    spec = api.get("/openapi.json").json()

    def schema(path: str, method: str) -> str:
        content = spec["paths"][path][method]["responses"]["200"]["content"]
        return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    assert schema("/ask", "post") == "AnswerOut"
    assert schema("/search", "post") == "SearchResponse"
    assert schema("/documents", "get") == "DocumentList"
    assert schema("/documents", "post") == "IngestSummary"
    assert schema("/documents/{doc_id}", "get") == "DocumentOut"
    assert schema("/documents/{doc_id}", "delete") == "Deleted"
    assert schema("/collections", "get") == "CollectionList"
    streams = spec["paths"]["/ask"]["post"]["responses"]["200"]["content"]
    assert {"application/x-ndjson", "text/event-stream"} <= set(streams)
    fields = spec["components"]["schemas"]["AnswerOut"]["properties"]
    assert {"answer", "answerable", "citations", "reason", "candidates"} <= set(fields)
    mode = spec["components"]["schemas"]["SearchRequest"]["properties"]["mode"]
    assert mode["enum"] == list(MODES) and mode["default"] == "hybrid"


def test_openapi_docs_are_served(api):
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {
        "/ask",
        "/search",
        "/documents",
        "/documents/{doc_id}",
        "/collections",
        "/health",
    } <= set(paths)


def test_two_files_with_one_name_in_an_upload_are_refused(api, docs):
    files = [
        ("files", ("notes.md", b"# A\n\nFirst version about pumps.\n")),
        ("files", ("sub/notes.md", b"# B\n\nSecond version about valves.\n")),
        ("files", ("handbook.md", (docs / "handbook.md").read_bytes())),
    ]
    summary = api.post("/documents", files=files).json()
    assert summary["failed"] == [
        {
            "path": "uploads/notes.md",
            "error": "two files with this name in one upload: send them separately",
        }
    ]
    assert summary["added"] == ["uploads/handbook.md"]


def test_health_shows_only_its_status_without_a_key(settings):
    with client_for(settings, api_keys=("s3cret",)) as api:
        public = api.get("/health")
        assert (public.status_code, public.json()) == (200, {"status": "ok"})
        full = api.get("/health", headers={"Authorization": "Bearer s3cret"}).json()
        assert full["status"] == "ok" and settings.ollama_host in full["checks"]["ollama"]["detail"]


def test_api_errors_never_name_the_internal_ollama_address(settings):
    host = f"http://127.0.0.1:{_free_port()}"
    with client_for(settings, ollama_host=host, ollama_retries=0) as api:
        upload = api.post("/documents", files=[("files", ("a.txt", b"annual leave is 25 days"))])
        assert upload.status_code == 503
        assert "cannot reach Ollama: is `ollama serve` running?" in upload.json()["detail"]
        embed = api.post("/api/embed", json={"model": "nomic-embed-text", "input": "leave"})
        assert embed.status_code >= 500
        for response in (upload, embed):
            assert host not in response.text and "127.0.0.1" not in response.text


def test_serve_start_repairs_what_an_interrupted_write_left(settings):
    import numpy as np

    from rag.kb import KnowledgeBase

    with KnowledgeBase(settings).open() as kb:  # a write cut between upsert and commit
        kb._cat.reserve("default", ["orphan-1"])
        kb.store.upsert(
            "default", settings.embed_model, ["orphan-1"], np.ones((1, 8)), [{"doc_id": "x"}]
        )
        assert "orphan-1" in kb.store.ids("default")
    with client_for(settings) as api:
        assert api.get("/health").status_code == 200
        kb = api.app.state.rag.kb
        assert "orphan-1" not in kb.store.ids("default")
        assert kb._cat.orphans("default") == []


def test_an_upload_where_every_file_fails_is_a_422_with_each_reason(api):
    files = [("files", ("empty.txt", b"")), ("files", ("broken.pdf", b"%PDF-1.4 junk"))]
    response = api.post("/documents", files=files)
    assert response.status_code == 422
    reasons = {f["path"]: f["error"] for f in response.json()["failed"]}
    assert reasons["uploads/empty.txt"] == "empty file"
    assert set(reasons) == {"uploads/empty.txt", "uploads/broken.pdf"}
    mixed = [*files, ("files", ("ok.txt", b"annual leave is 25 days"))]
    assert api.post("/documents", files=mixed).status_code == 200


def test_a_very_long_file_name_gets_a_clear_outcome(api):
    name = "n" * 5000 + ".txt"
    response = api.post("/documents", files=[("files", (name, b"annual leave is 25 days"))])
    assert response.status_code == 400
    assert "a file name that long: rename the file" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'{"query": "\xff\xfe"}', 400, "the body is not UTF-8 text (invalid byte at position 11)"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "the JSON body nests too deeply to read"),
        (b'{"query": ', 422, "the body is not valid JSON (error at character 10)"),
    ],
)
def test_unreadable_bodies_say_what_is_wrong(api, body, status, detail):
    response = api.post("/search", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["detail"]) == (status, detail)


def test_search_can_rank_documents_with_their_other_matching_chunks(api, docs):
    upload(api, *sorted(docs.iterdir()))
    plain = api.post("/search", json={"query": "annual leave days", "top_k": 3}).json()
    assert "documents" not in plain
    grouped = api.post(
        "/search", json={"query": "annual leave days", "top_k": 2, "group_by": "document"}
    ).json()
    documents = grouped["documents"]
    sources = [d["source"] for d in documents]
    assert 1 <= len(documents) <= 2 and len(set(sources)) == len(sources)
    assert sources[0] == "uploads/handbook.md" and "18 days" in documents[0]["best"]["text"]
    assert [d["score"] for d in documents] == sorted((d["score"] for d in documents), reverse=True)
    for doc in documents:
        assert all(o["source"] == doc["source"] for o in doc["others"])
        assert all(o["score"] <= doc["best"]["score"] for o in doc["others"])
