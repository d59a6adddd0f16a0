"""A fault-injecting HTTP proxy to sit between the service and the Ollama double.

`proxy.inject(path, kind, count=1, **args)` arms a fault for the next `count` requests to a path:
  status     answer `status` (default 503) with Ollama's `{"error": ...}` body, nothing forwarded
  drop       close the connection before any answer
  delay      wait `seconds`, then forward
  cut        forward `lines` NDJSON lines, then end the body cleanly (no `done: true`)
  sever      forward `lines` lines, then drop the connection mid-body
  drip       forward the body `size` bytes at a time, `every` seconds apart
  vectors    rewrite /api/embed's embeddings: `how` is dims, count, nan, null, mixed, strings,
             or one bool, string or huge (1e39) value inside the last vector
  undone     rewrite a non-streamed JSON answer to say `done: false`
Everything else is passed through unchanged.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class Fault:
    """One armed fault."""

    path: str
    kind: str
    count: int
    args: dict[str, Any] = field(default_factory=dict)


class FaultProxy:
    """Forwards to `upstream`; serves from a daemon thread on a loopback port."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[Fault] = []
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.upstream, timeout=60)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL: give it to the service as OLLAMA_HOST."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        """Serve in the background; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the upstream connections."""
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def inject(self, path: str, kind: str, count: int = 1, **args: Any) -> None:
        """Arm a fault for the next `count` requests to `path`."""
        with self._lock:
            self.faults.append(Fault(path, kind, count, args))

    def clear(self) -> None:
        """Disarm every fault and forget the hit counts."""
        with self._lock:
            self.faults.clear()
            self.hits.clear()

    def take(self, path: str) -> Fault | None:
        """The fault for this request, if one is armed (and count it)."""
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            for fault in self.faults:
                if fault.path == path and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = self.owner.take(self.path)
        kind = fault.kind if fault else None
        args = fault.args if fault else {}
        if kind == "drop":
            self._abort()
            return
        if kind == "status":
            status = int(args.get("status", 503))
            self._send(status, json.dumps({"error": args.get("error", "injected fault")}).encode())
            return
        if kind == "delay":
            time.sleep(float(args["seconds"]))
        request = self.owner._http.build_request(self.command, self.path, content=body)
        upstream = self.owner._http.send(request, stream=True)
        try:
            self._relay(upstream, kind, args)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on us: that is what some faults are for
        finally:
            upstream.close()

    def _relay(self, upstream: httpx.Response, kind: str | None, args: dict[str, Any]) -> None:
        if kind in ("vectors", "undone"):
            data = json.loads(upstream.read())
            if kind == "undone":
                data["done"] = False
            else:
                data["embeddings"] = _spoil(data.get("embeddings") or [], str(args["how"]))
            self._send(upstream.status_code, json.dumps(data).encode())
            return
        if kind not in ("cut", "sever", "drip"):
            self._send(upstream.status_code, upstream.read(), upstream.headers)
            return
        self._start_chunked(upstream)
        if kind == "drip":
            size, every = int(args.get("size", 1)), float(args["every"])
            for piece in upstream.iter_bytes():
                for start in range(0, len(piece), size):
                    self._chunk(piece[start : start + size])
                    time.sleep(every)
            self._chunk(b"")
            return
        lines = int(args.get("lines", 2))
        for number, line in enumerate(upstream.iter_lines()):
            if number >= lines:
                break
            self._chunk(line.encode() + b"\n")
        if kind == "sever":
            self._abort()
        else:
            self._chunk(b"")

    def _send(self, status: int, body: bytes, headers: Any = None) -> None:
        self.send_response(status)
        media = headers.get("content-type") if headers else None
        self.send_header("Content-Type", media or "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_chunked(self, upstream: httpx.Response) -> None:
        self.send_response(upstream.status_code)
        media = upstream.headers.get("content-type", "application/x-ndjson")
        self.send_header("Content-Type", media)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def _spoil(vectors: list[list[float]], how: str) -> list[Any]:
    """Embeddings broken the way `how` says."""
    if how == "dims":
        return [v[:384] for v in vectors]
    if how == "count":
        return vectors[:-1]
    if how == "mixed":
        return [v if i else v[:384] for i, v in enumerate(vectors)]
    if how == "nan":
        return [[float("nan"), *v[1:]] for v in vectors]
    if how == "null":
        return [[None, *v[1:]] for v in vectors]
    if how == "strings":
        return [[str(x) for x in v] for v in vectors]
    middle = len(vectors[-1]) // 2  # one bad value deep inside the last vector
    if how in ("bool", "string", "huge"):
        bad = {"bool": True, "string": str(vectors[-1][middle]), "huge": 1e39}[how]
        return [*vectors[:-1], [*vectors[-1][:middle], bad, *vectors[-1][middle + 1 :]]]
    raise ValueError(f"unknown vector fault {how!r}")
