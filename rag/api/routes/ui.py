"""The chat page (GET /), its assets (GET /static/...) and the embeddable widget (GET /widget.js).

Plain files shipped in the package (rag/static), no build step. The page and the widget share
core.js and chat.css; /widget.js is core.js and widget.js wrapped in one function, with the CSS
inlined, so one <script> tag is all an intranet page needs. All of it is public: the page's own
API calls carry the key the user enters.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

ASSETS = {
    "app.css": "text/css; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "core.js": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    # The documents view: upload, list, delete, new collections (the page only, not the widget).
    "documents.css": "text/css; charset=utf-8",
    "documents-api.js": "text/javascript; charset=utf-8",
    "documents.js": "text/javascript; charset=utf-8",
    # Vendored from npm with their licences (rag/static/vendor/LICENSE.*): Markdown and its
    # sanitiser; answers are rendered as Markdown, then cleaned before they reach the page.
    "vendor/marked.umd.js": "text/javascript; charset=utf-8",
    "vendor/purify.min.js": "text/javascript; charset=utf-8",
    "vendor/LICENSE.marked": "text/plain; charset=utf-8",
    "vendor/LICENSE.dompurify": "text/plain; charset=utf-8",
}
# The page loads only its own files and talks only to its own origin.
PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def _read(name: str) -> str:
    return files("rag").joinpath("static", name).read_text(encoding="utf-8")


@cache
def asset(name: str) -> tuple[bytes, str]:
    """A static file's bytes and its ETag (files are read once per process)."""
    data = _read(name).encode()
    return data, _etag(data)


@cache
def widget_bundle() -> tuple[bytes, str]:
    """widget.js as served: core.js + widget.js in one function, with the widget's CSS."""
    css = _read("chat.css") + "\n" + _read("widget.css")
    text = "\n".join(
        [
            "/* rag-local chat widget: core.js + widget.js, see rag/static. */",
            "(function () {",
            '"use strict";',
            f"const RAG_WIDGET_CSS = {json.dumps(css)};",
            _read("core.js"),
            _read("widget.js"),
            "})();",
            "",
        ]
    )
    data = text.encode()
    return data, _etag(data)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def _send(request: Request, data: bytes, etag: str, media: str, **headers: str) -> Response:
    common = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    common.update(headers)
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=common)
    return Response(data, media_type=media, headers=common)


@router.get("/")
def chat_page(request: Request) -> Response:
    """The chat page."""
    data, etag = asset("index.html")
    return _send(
        request,
        data,
        etag,
        "text/html; charset=utf-8",
        **{"Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer"},
    )


@router.get("/static/vendor/{name}")
def vendor_file(name: str, request: Request) -> Response:
    """The vendored libraries and their licences (the same fixed list)."""
    return static_file(f"vendor/{name}", request)


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    """The page's CSS and JavaScript (a fixed list: no path from the client reaches the disk)."""
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(404, f"no static file '{name}'")
    data, etag = asset(name)
    return _send(request, data, etag, media)


@router.get("/widget.js")
def widget(request: Request) -> Response:
    """The embeddable widget: one script tag adds a chat button and panel to any page."""
    data, etag = widget_bundle()
    # Loaded by pages on other origins (a classic <script> needs no CORS for itself).
    return _send(
        request,
        data,
        etag,
        "text/javascript; charset=utf-8",
        **{"Cross-Origin-Resource-Policy": "cross-origin"},
    )
