"""OllamaDouble: start/stop the fake Ollama server in-process and poke its knobs."""

import threading
from types import TracebackType
from typing import Any

from .server import DoubleServer
from .state import State


class OllamaDouble:
    """A faithful Ollama test double serving HTTP from a daemon thread."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", **knobs: Any) -> None:
        self.host = host
        self.port = port
        self.state = State(**knobs)
        self._server: DoubleServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:PORT` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def bind(self) -> DoubleServer:
        """Create and bind the server socket (no serving yet); sets self.port."""
        if self._server is None:
            self._server = DoubleServer(self.host, self.port, self.state)
            self.port = self._server.server_address[1]
        return self._server

    def start(self) -> "OllamaDouble":
        """Bind and serve in a daemon thread; returns self."""
        if self._thread is None:
            server = self.bind()
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ollama-double-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() or KeyboardInterrupt/SystemExit."""
        server = self.bind()
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            server.close_connections()
            server.server_close()
            self._server = None

    def configure(self, **knobs: Any) -> None:
        """Change knobs at runtime (merged; ValueError on unknown names or bad values)."""
        self.state.configure(**knobs)

    def stats(self) -> dict[str, Any]:
        """A snapshot of the request statistics."""
        return self.state.stats()

    def reset(self) -> None:
        """Back to the constructor's knobs; clears stats, faults and loaded models."""
        self.state.reset()

    def stop(self) -> None:
        """Stop serving, close client connections and the listening socket."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join(timeout=5)
        server.close_connections()
        server.server_close()

    def __enter__(self) -> "OllamaDouble":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
