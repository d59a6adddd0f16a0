"""`make screenshot`: docs/chat-page.png, the chat page answering from the sample documents.

Starts the Ollama test double, the app on a temporary data dir (uvicorn in a thread), ingests
data/, asks a few questions in headless Chromium (Debian's, driven by Playwright), opens a cited
passage and saves the picture for the README.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from rag.api.app import create_app  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.filetypes import kind_for  # noqa: E402
from tests.browser_helpers import ServerThread, chromium_path, launch  # noqa: E402
from tests.ollama_double import OllamaDouble  # noqa: E402

OUT = REPO / "docs" / "chat-page.png"
QUESTIONS = [
    "How many days of annual leave do employees get?",
    "What does error E7 mean on the robot?",
    "What is the cafeteria menu on Friday?",
]
VIEWPORT = {"width": 1280, "height": 900}


def ingest(url: str) -> None:
    """Upload every sample document through POST /documents."""
    docs = [p for p in sorted((REPO / "data").iterdir()) if kind_for(p.name) and p.is_file()]
    files = [("files", (p.name, p.read_bytes())) for p in docs]
    response = httpx.post(f"{url}/documents", files=files, timeout=300)
    response.raise_for_status()
    summary = response.json()
    if summary["failed"]:
        raise SystemExit(f"Error: ingest failed: {summary['failed']}")
    print(f"ingested {len(summary['added'])} documents")


def main() -> None:
    """Take the screenshot."""
    if chromium_path() is None:
        raise SystemExit("Error: Chromium not found (apt-get install chromium)")
    double = OllamaDouble(port=0)
    double.start()
    try:
        with tempfile.TemporaryDirectory(prefix="rag-screenshot-") as tmp:
            settings = Settings(
                ollama_host=double.url, data_dir=Path(tmp) / "data", collection="acme"
            ).validated()
            with ServerThread(create_app(settings)) as server:
                ingest(server.url)
                shoot(server.url)
    finally:
        double.stop()
    print(f"wrote {OUT.relative_to(REPO)}")


def shoot(url: str) -> None:
    """Ask the questions, open the second answer's source and save the PNG."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=2, color_scheme="light")
            page.goto(url + "/")
            expect(page.locator("#collection option")).to_have_count(1)
            for number, question in enumerate(QUESTIONS):
                page.fill("#question", question)
                page.press("#question", "Enter")
                expect(page.locator(".msg-bot").nth(number)).to_have_attribute(
                    "data-state", "done", timeout=60_000
                )
            page.locator(".msg-bot").nth(1).locator(".msg-sources .chip").first.click()
            expect(page.locator("#passage")).to_be_visible()
            page.locator("#question").blur()
            page.locator("#scroller").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
            OUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
