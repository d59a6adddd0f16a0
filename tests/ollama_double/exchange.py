"""One HTTP request/response exchange: body access and Go-like response writers."""

import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from .schema import decode_request
from .state import State
from .wire import go_json

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"


class Exchange:
    """What a route handler sees: the request and ways to answer it."""

    def __init__(
        self, handler: BaseHTTPRequestHandler, state: State, method: str, path: str, body: bytes
    ) -> None:
        self.handler = handler
        self.state = state
        self.method = method
        self.path = path
        self.body = body
        self.started_ns = time.perf_counter_ns()
        self.responded = False
        self._streaming = False

    @property
    def head(self) -> bool:
        """True for HEAD requests (headers only)."""
        return self.method == "HEAD"

    def elapsed_ns(self) -> int:
        """Nanoseconds since the handler started."""
        return max(time.perf_counter_ns() - self.started_ns, 1)

    def decode(self, struct: str) -> tuple[dict[str, Any], float]:
        """Decode the body as the named Go struct; returns (body, keep_alive seconds)."""
        return decode_request(self.body, struct, self.state.knob("keep_alive_default_s"))

    def _headers(self, status: int, content_type: str, extra: dict[str, str]) -> None:
        self.responded = True
        handler = self.handler
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for key, value in extra.items():
            handler.send_header(key, value)
        handler.end_headers()

    def send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        """Send a complete response with Content-Length."""
        self._headers(status, content_type, {"Content-Length": str(len(data))})
        if not self.head:
            self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def send_json(self, status: int, obj: Any) -> None:
        """Send obj as Go-style JSON."""
        self.send_bytes(status, go_json(obj).encode(), JSON_TYPE)

    def send_text(self, status: int, text: str, content_type: str = TEXT_TYPE) -> None:
        """Send a plain-text response."""
        self.send_bytes(status, text.encode(), content_type)

    def start_stream(self, content_type: str = NDJSON_TYPE) -> None:
        """Send 200 headers for a chunked streaming response."""
        self._headers(200, content_type, {"Transfer-Encoding": "chunked"})
        self._streaming = True

    def write_chunk(self, data: bytes) -> None:
        """Write one HTTP chunk and flush it."""
        if data:
            wfile = self.handler.wfile
            wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            wfile.flush()

    def stream_json(self, obj: Any) -> None:
        """Write one NDJSON line."""
        self.write_chunk((go_json(obj) + "\n").encode())

    def end_stream(self) -> None:
        """Terminate the chunked body."""
        if self._streaming:
            self._streaming = False
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()
