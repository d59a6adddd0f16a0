"""Request body limits, counted as the bytes arrive: Content-Length and chunked bodies alike.

Like nginx's `client_max_body_size`: a declared length over the limit is refused before a byte is
read, and a chunked body is cut off the moment it crosses the limit; either way the answer is a
413 problem and the rest of the body is never read, let alone spooled.
"""

from __future__ import annotations

import contextlib

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.api import problems

MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the files themselves
UPLOAD_PATHS = frozenset({"/documents"})


class BodyTooLarge(Exception):
    """Raised into the app's body reading once the limit is crossed."""


class BodyLimit:
    """Pure ASGI middleware: uploads get `upload_bytes`, every other request `body_bytes`."""

    def __init__(self, app: ASGIApp, upload_mb: float, body_mb: float) -> None:
        self.app = app
        self.upload = _Limit(upload_mb, "upload", "RAG_MAX_UPLOAD_MB", MULTIPART_SLACK)
        self.body = _Limit(body_mb, "request body", "RAG_MAX_BODY_MB")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a declared length over the limit, else count the body as it is read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS
        limit = self.upload if is_upload else self.body
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit.bytes:
            await limit.refusal()(scope, receive, send)
            return
        guard = _Guard(receive, send, limit.bytes)
        with contextlib.suppress(BodyTooLarge):  # the app let it through: we answer below
            await self.app(scope, guard.receive, guard.send)
        if guard.over and not guard.started:
            await limit.refusal()(scope, receive, send)


class _Limit:
    """One limit: its size in bytes and how to explain it."""

    def __init__(self, mb: float, what: str, setting: str, slack: int = 0) -> None:
        self.bytes = int(mb * 1024 * 1024) + slack
        self.detail = f"{what} over the {mb:g} MB limit ({setting}); nothing was read past it"

    def refusal(self) -> Response:
        """The 413 problem; the connection closes, as the rest of the body is not read."""
        response = problems.problem(413, "Payload too large", self.detail)
        response.headers["Connection"] = "close"
        return response


class _Guard:
    """Counts request bytes; once over, whatever the app answers is replaced by the 413."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.seen = 0
        self.over = False
        self.started = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.over = True
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.over:
            return  # the app's reaction to the cut-off body (a 400, usually): ours goes instead
        self.started = True
        await self._send(message)
