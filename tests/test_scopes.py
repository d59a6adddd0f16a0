"""Every route of the app against every key scope: 401 without a key, 403 below its scope."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from rag.api.app import create_app
from rag.cli.remote import Remote
from rag.config import Settings
from rag.errors import ConfigError, Forbidden

KEYS = {"read": "r-key-123", "write": "w-key-456", "admin": "a-key-789"}
LOWER = {"read": None, "write": "read", "admin": "write"}
PUBLIC = "public"

# Every route the app serves and the scope it needs: a route missing here fails the test.
EXPECTED = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("HEAD", "/"): PUBLIC,
    ("GET", "/static/vendor/{name}"): PUBLIC,
    ("GET", "/static/{name}"): PUBLIC,
    ("GET", "/widget.js"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("POST", "/ask"): "read",
    ("POST", "/search"): "read",
    ("GET", "/documents"): "read",
    ("GET", "/documents/{doc_id}"): "read",
    ("GET", "/chunks/{chunk_id}"): "read",
    ("GET", "/collections"): "read",
    ("POST", "/documents"): "write",
    ("DELETE", "/documents/{doc_id}"): "write",
    ("POST", "/documents/local"): "write",
    ("POST", "/documents/local/find"): "write",
    ("GET", "/v1/models"): "read",
    ("GET", "/v1/models/{model}"): "read",
    ("POST", "/v1/chat/completions"): "read",
    ("POST", "/v1/embeddings"): "read",
    ("GET", "/api/version"): "read",
    ("GET", "/api/tags"): "read",
    ("GET", "/api/ps"): "read",
    ("POST", "/api/show"): "read",
    ("POST", "/api/chat"): "read",
    ("POST", "/api/generate"): "read",
    ("POST", "/api/embed"): "read",
    ("POST", "/api/embeddings"): "read",
    ("GET", "/metrics"): "admin",
    # MCP's streamable HTTP: POST sends messages, GET opens the event stream, DELETE ends a session.
    ("POST", "/mcp"): "read",
    ("GET", "/mcp"): "read",
    ("DELETE", "/mcp"): "read",
}
UNSUPPORTED = ("/v1/{rest:path}", "/api/{rest:path}")  # answer "not supported" to anyone
UNSUPPORTED_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
EXPECTED.update({(m, path): PUBLIC for path in UNSUPPORTED for m in UNSUPPORTED_METHODS})
MCP_METHODS = ("DELETE", "GET", "POST")


def flat(routes):
    """Routes with included routers opened (FastAPI keeps an included router as one entry)."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # the app includes without prefixes
        yield from flat(inner.routes) if inner is not None else (route,)


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, mounts included."""
    found = []
    for route in flat(app.routes):
        if isinstance(route, Mount):
            found.extend((m, route.path) for m in MCP_METHODS)
        elif isinstance(route, APIRoute | Route):
            found.extend((m, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
            if route.methods == {"HEAD"}:
                found.append(("HEAD", route.path))
    return found


def message(response) -> str:
    """The error text in any of the app's error shapes (problem+json, OpenAI, Ollama)."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return str(body.get("detail") or error or "")


def call(api, method: str, path: str, scope: str | None):
    url = re.sub(r"\{[^}]+\}", "x", path)
    headers = {"Authorization": f"Bearer {KEYS[scope]}"} if scope else {}
    body = {} if method in ("POST", "PUT") else None
    return api.request(method, url, headers=headers, json=body)


@pytest.fixture()
def api(settings):
    keys = tuple(f"{key}:{scope}" for scope, key in KEYS.items())
    # The address the app serves at: MCP's host check would refuse TestClient's default host.
    base = f"http://{settings.host}:{settings.port}"
    with TestClient(create_app(settings.with_(api_keys=keys)), base_url=base) as client:
        yield client


def test_every_route_has_a_scope(api):
    served = app_routes(api.app)
    assert set(served) == set(EXPECTED), "a route without an expected scope (or a stale entry)"


def test_every_route_against_every_scope(api):
    for method, path in app_routes(api.app):
        need = EXPECTED[(method, path)]
        if need == PUBLIC:
            for scope in (None, "read"):
                answered = call(api, method, path, scope)
                assert answered.status_code not in (401, 403), (method, path)
                if path in UNSUPPORTED:  # the API's own "not supported", to anyone
                    assert answered.status_code == 404, (method, path)
                    assert "is not supported by this RAG service" in message(answered)
            continue
        anonymous = call(api, method, path, None)
        assert anonymous.status_code == 401, (method, path)
        assert "missing API key" in message(anonymous), (method, path)
        if LOWER[need]:
            denied = call(api, method, path, LOWER[need])
            assert denied.status_code == 403, (method, path)
            assert f"needs '{need}'" in message(denied), (method, path)
        for scope in ("read", "write", "admin")[("read", "write", "admin").index(need) :]:
            allowed = call(api, method, path, scope)  # (the local ingest still wants its token)
            assert allowed.status_code not in (401, 403, 421), (method, path, scope)
            assert "API key" not in message(allowed), (method, path, scope)
            assert "scope" not in message(allowed), (method, path, scope)


def test_scope_errors_are_problem_json_and_never_show_the_key(api):
    response = api.delete("/documents/x", headers={"Authorization": f"Bearer {KEYS['read']}"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    detail = "this API key has the 'read' scope; this route needs 'write'"
    assert response.json()["detail"] == detail
    assert KEYS["read"] not in response.text


def test_keys_and_scopes_come_from_the_variable_and_the_file(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# the widget\nwidget-key read\nci-key:write\n", encoding="utf-8")
    env = {"RAG_API_KEYS": "old-key, reader:read", "RAG_API_KEYS_FILE": str(keys_file)}
    settings = Settings.from_mapping(env)
    scopes = {k.key: k.scope for k in settings.api_keys}
    assert scopes == {"old-key": "admin", "reader": "read", "widget-key": "read", "ci-key": "write"}
    assert "old-key" not in repr(settings) and "widget-key" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RAG_API_KEYS": "good:read,s3cret-key:rw"}, "RAG_API_KEYS entry 2: unknown scope 'rw'"),
        ({"RAG_API_KEYS": "s3cret-key:read,s3cret-key:admin"}, "configured twice"),
        ({"RAG_API_KEYS_FILE": "/nonexistent/keys"}, "RAG_API_KEYS_FILE: cannot read"),
    ],
)
def test_bad_key_settings_say_what_is_wrong_without_the_key(env, expected):
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(env)
    assert expected in str(caught.value)
    assert "s3cret-key" not in str(caught.value)


def test_the_cli_beside_the_server_picks_a_key_with_enough_scope(settings):
    keys = ("reader-key:read", "admin-key:admin")
    remote = Remote(settings.with_(api_keys=keys), {"url": "http://127.0.0.1:1"})
    assert remote.auth("read") == {"Authorization": "Bearer reader-key"}
    assert remote.auth("write") == {"Authorization": "Bearer admin-key"}
    reader_only = Remote(settings.with_(api_keys=("reader-key:read",)), {"url": "http://x"})
    with pytest.raises(Forbidden, match="needs an API key with the 'write' scope"):
        reader_only.auth("write")
