"""The HTTP server: gin-like routing (404/405 texts), latency, injected faults, errors."""

import contextlib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import chat_api, embed_api, info_api, openai_api
from .exchange import Exchange
from .state import State
from .wire import ApiError

Route = Callable[[Exchange], None]
ROUTES: dict[tuple[str, str], Route] = {
    **info_api.ROUTES,
    **embed_api.ROUTES,
    **chat_api.ROUTES,
    **openai_api.ROUTES,
}
PREFIX_ROUTES: dict[tuple[str, str], Route] = dict(openai_api.PREFIX_ROUTES)
KNOWN_PATHS = {path for _, path in ROUTES}
QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"
ROUTE_MISS_TEXT = {404: "404 page not found", 405: "405 method not allowed"}
FAULT_MESSAGES = {
    503: QUEUE_FULL,
    500: "llama runner process has terminated: exit status 2",
    499: "request canceled",
}


def find_route(method: str, path: str) -> Route | int:
    """The handler for (method, path), or 404/405 like gin."""
    if (method, path) in ROUTES:
        return ROUTES[(method, path)]
    for (prefix_method, prefix), route in PREFIX_ROUTES.items():
        if path.startswith(prefix) and len(path) > len(prefix):
            return route if method == prefix_method else 405
    return 405 if path in KNOWN_PATHS else 404


def fault_message(rule: dict[str, Any]) -> str:
    """The error text a status fault answers with."""
    status = rule["status"]
    default = FAULT_MESSAGES.get(status) or HTTPStatus(status).phrase.lower()
    return str(rule.get("error") or default)


class OllamaHandler(BaseHTTPRequestHandler):
    """Dispatches every method through the route table."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # avoid 40 ms delayed-ACK stalls between header and body
    server: "DoubleServer"

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line plus Date only (Ollama sends no Server header)."""
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        ex = Exchange(self, self.server.state, self.command, path, self._read_body())
        try:
            self._route(ex)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, ex: Exchange) -> None:
        state, path = ex.state, ex.path
        control = path.startswith("/_double/")
        if not control:
            state.count_request(path)
        route = find_route(ex.method, path)
        if isinstance(route, int):
            ex.send_text(route, ROUTE_MISS_TEXT[route])
            return
        if path.startswith(("/api/", "/v1/")) and state.knob("latency_s") > 0:
            time.sleep(state.knob("latency_s"))
        fault = None if control else state.take_fault(path, ("status", "drop"))
        if fault is not None and fault["kind"] == "drop":
            self.close_connection = True
            return
        try:
            if fault is not None:
                raise ApiError(int(fault["status"]), fault_message(fault))
            route(ex)
        except ApiError as err:
            self._send_error(ex, err.status, err.message)
        except (BrokenPipeError, ConnectionResetError):  # the client went away: nothing to say
            self.close_connection = True
        except Exception as err:  # a bug in the double: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self._send_error(ex, 500, f"ollama double internal error: {err!r}")

    def _send_error(self, ex: Exchange, status: int, message: str) -> None:
        if ex.responded:  # headers already out: nothing valid left to say
            self.close_connection = True
            return
        body = openai_api.error_body(status, message) if ex.path.startswith("/v1/") else None
        ex.send_json(status, body or {"error": message})

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch


class DoubleServer(ThreadingHTTPServer):
    """A threading HTTP server that can also close its open keep-alive connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, state: State) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), OllamaHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then handle it in a thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client vanishes mid-request (tests kill clients on purpose)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a finished connection."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (used by stop())."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
