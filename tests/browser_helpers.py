"""Real-browser helpers: the app under uvicorn in a thread, a static site, Debian's Chromium.

Used by tests/test_ui_browser.py and scripts/screenshot.py. The browser is the system's
Chromium driven by Playwright (no `playwright install`: nothing is downloaded).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

CHROMIUM = os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# A document whose text carries markup: it must reach the page as text, never as HTML.
XSS_DOC_NAME = "parking-permits.txt"
XSS_DOC = (
    "Zebra parking permits\n\n"
    'The zebra parking permit costs 40 euros per month <img src=x onerror="window.__xss=1"> '
    "and the zebra permit is renewed in the staff portal <script>window.__xss=2</script> "
    "every January.\n"
)
XSS_QUESTION = "How much does the zebra parking permit cost?"


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def launch(playwright: Any, **kwargs: Any) -> Any:
    """Debian's Chromium under Playwright, headless, with its own fresh profile."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True, **kwargs
    )


class ServerThread:
    """An ASGI app under uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        config = uvicorn.Config(
            app, host=host, port=0, log_level="warning", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.host = host
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:41234."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerThread:
        """Start serving; returns once the app's startup has finished."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start (see the log above)")
            time.sleep(0.02)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticSite:
    """A folder served over HTTP on a loopback port: a page on another origin than the app."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((host, 0), handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StaticSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
