"""The chat page's documents view in a real headless browser (Debian's Chromium via Playwright).

Upload by drag and drop and by the file picker, each file's outcome, the list, delete with
confirmation, collection switch and create, a real read-only key (its writes refused) and a
write key; file names carry markup and must only ever reach the page as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rag.api.app import create_app
from tests.browser_helpers import ServerThread
from tests.conftest import REPO, make_settings
from tests.test_ui_browser import (  # its import skips this module too without a browser
    PHONE,
    expect,
    no_horizontal_overflow,
)

XSS_NAME = "<img src=x onerror=alert(1)>.md"
XSS_TEXT = (
    "# Visitor badges\n\nVisitor badges are <b onmouseover=alert(2)>collected</b> at reception.\n"
)
WATCH_STATES = """() => {
  window.__states = {};
  new MutationObserver((changes) => {
    for (const change of changes) {
      const row = change.target;
      if (!row.classList || !row.classList.contains('upload')) continue;
      const name = row.querySelector('.upload-name').textContent;
      (window.__states[name] = window.__states[name] || []).push(row.dataset.state);
    }
  }).observe(document.getElementById('uploads'),
             {subtree: true, attributes: true, attributeFilter: ['data-state']});
}"""


def data_file(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "mimeType": "application/octet-stream",
        "buffer": (REPO / "data" / name).read_bytes(),
    }


def drop_files(page: Any, files: list[tuple[str, str]]) -> None:
    """Drop (name, text) files on the drop zone, as a user dragging them from the desktop."""
    page.evaluate(
        """(files) => {
          const transfer = new DataTransfer();
          for (const [name, text] of files) transfer.items.add(new File([text], name));
          const zone = document.getElementById('drop');
          for (const type of ['dragenter', 'dragover', 'drop']) {
            const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
            zone.dispatchEvent(new DragEvent(type, init));
          }
        }""",
        files,
    )


def listed(base_url: str, collection: str, key: str = "") -> list[str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(
        f"{base_url}/documents", params={"collection": collection}, headers=headers
    )
    assert response.status_code == 200, response.text
    return sorted(d["source"] for d in response.json()["documents"])


@pytest.fixture(scope="module")
def server(double, tmp_path_factory) -> Iterator[ServerThread]:
    """The app with two sample documents in the default collection and one in `product`."""
    settings = make_settings(double.url, tmp_path_factory.mktemp("docs") / "data")
    with ServerThread(create_app(settings)) as running:
        for names, collection in [
            (["handbook.md", "r2-user-manual.pdf"], None),
            (["release-notes.txt"], "product"),
        ]:
            form = [("files", (n, (REPO / "data" / n).read_bytes())) for n in names]
            params = {"collection": collection} if collection else {}
            response = httpx.post(
                f"{running.url}/documents", files=form, params=params, timeout=120
            )
            assert response.status_code == 200 and response.json()["failed"] == [], response.text
        yield running


@pytest.fixture()
def open_page(browser) -> Iterator[Any]:
    """open_page(url, **context options): a fresh context; records errors and dialogs."""
    contexts = []
    errors: list[str] = []
    dialogs: list[str] = []

    def opener(url: str, **options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"
    assert dialogs == [], f"unexpected dialogs (an injected alert?): {dialogs}"


def open_documents(page: Any) -> Any:
    expect(page.locator("#collection option").first).to_be_attached()
    page.click("#docs-toggle")
    view = page.locator("#docs")
    expect(view).to_be_visible()
    expect(page.locator("#question")).to_be_hidden()
    return view


def upload_row(page: Any, name: str) -> Any:
    return page.locator(".upload").filter(has=page.locator(".upload-name", has_text=name))


def doc_row(page: Any, name: str) -> Any:
    return page.locator("#docs-rows tr").filter(has=page.locator(".doc-title", has_text=name))


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 860, "desktop"), (390, 844, "phone")])
def test_upload_list_delete_and_switch(server, open_page, width, height, name):
    page = open_page(server.url + "/", viewport={"width": width, "height": height}, bypass_csp=True)
    open_documents(page)
    expect(page.locator("#docs-rows tr")).to_have_count(2)
    manual = doc_row(page, "r2-user-manual.pdf")
    expect(manual.locator("td[data-label=Pages]")).to_have_text(re.compile(r"[1-9]"))
    expect(manual.locator("td[data-label=Chunks]")).to_have_text(re.compile(r"[1-9]"))
    expect(doc_row(page, "handbook.md").locator("td[data-label=Pages]")).to_have_text("—")

    # A new collection, created by its first upload (through the file picker).
    collection = f"team-{name}"
    page.click("#docs-new-collection")
    page.fill("#docs-new-name", collection)
    page.press("#docs-new-name", "Enter")
    expect(page.locator("#docs-collection")).to_have_text(collection)
    expect(page.locator("#docs-status")).to_contain_text("No documents")
    page.set_input_files("#docs-files", [data_file("handbook.md"), data_file("r2-user-manual.pdf")])
    expect(upload_row(page, "r2-user-manual.pdf")).to_have_attribute("data-state", "added")
    expect(page.locator("#collection")).to_have_value(collection)
    expect(page.locator("#collection option:checked")).to_have_text(f"{collection} · 2 docs")

    # Three files dropped at once: one new, one already there, one that cannot be read.
    page.evaluate(WATCH_STATES)
    handbook = (REPO / "data" / "handbook.md").read_text(encoding="utf-8")
    drop_files(page, [(XSS_NAME, XSS_TEXT), ("handbook.md", handbook), ("empty.txt", "")])
    for file, state, text in [
        (XSS_NAME, "added", re.compile(r"^Added · \d+ chunks?$")),
        ("handbook.md", "unchanged", "Unchanged"),
        ("empty.txt", "failed", "Failed"),
    ]:
        row = upload_row(page, file)
        expect(row).to_have_attribute("data-state", state)
        expect(row.locator(".upload-state")).to_have_text(text)
    expect(upload_row(page, "empty.txt").locator(".upload-detail")).to_have_text(
        re.compile(r"\w{4}")
    )
    states = page.evaluate("() => window.__states")
    for file, final in [(XSS_NAME, "added"), ("handbook.md", "unchanged"), ("empty.txt", "failed")]:
        assert "uploading" in states[file] and states[file][-1] == final, states
    assert states[XSS_NAME].index("processing") < states[XSS_NAME].index("added"), states

    # The list: the dropped file by its name, as text; nothing of it became HTML.
    expect(page.locator("#docs-rows tr")).to_have_count(3)
    xss_row = doc_row(page, XSS_NAME)
    expect(xss_row.locator(".doc-title")).to_have_text(XSS_NAME)
    expect(upload_row(page, XSS_NAME).locator(".upload-name")).to_have_text(XSS_NAME)
    expect(xss_row.locator("td[data-label=Added] time")).to_have_text(re.compile(r"\d"))
    assert page.locator("#docs img, #docs b, #docs script").count() == 0
    no_horizontal_overflow(page)
    page.locator("#docs").evaluate("(el) => { el.scrollTop = 0; }")
    page.screenshot(path=str(REPO / "docs" / f"documents-{name}.png"))

    # Delete asks first; Keep keeps it, Delete removes it from the page and the server.
    xss_row.locator(".doc-delete").click()
    expect(xss_row.locator(".doc-question")).to_have_text(f"Delete {XSS_NAME}?")
    no_horizontal_overflow(page)
    xss_row.locator(".doc-keep").click()
    expect(xss_row.locator(".doc-delete")).to_be_visible()
    assert f"uploads/{XSS_NAME}" in listed(server.url, collection)
    xss_row.locator(".doc-delete").click()
    xss_row.locator(".doc-confirm").click()
    expect(page.locator("#docs-status")).to_have_text(f"Deleted {XSS_NAME}.")
    expect(page.locator("#docs-rows tr")).to_have_count(2)
    assert listed(server.url, collection) == ["uploads/handbook.md", "uploads/r2-user-manual.pdf"]

    # Switching collection shows that collection's documents.
    page.select_option("#collection", "product")
    expect(page.locator("#docs-collection")).to_have_text("product")
    expect(page.locator("#docs-rows tr")).to_have_count(1)
    expect(page.locator("#docs-rows .doc-title")).to_have_text("release-notes.txt")
    page.click("#docs-close")
    expect(page.locator("#question")).to_be_visible()


def test_invalid_collection_name_is_refused_before_any_upload(server, open_page):
    page = open_page(server.url + "/")
    open_documents(page)
    page.click("#docs-new-collection")
    page.fill("#docs-new-name", "no spaces/please")
    page.press("#docs-new-name", "Enter")
    expect(page.locator("#docs-status")).to_contain_text("is not a valid collection name")
    expect(page.locator("#docs-collection")).not_to_have_text("no spaces/please")


READ_REFUSAL = "(this API key has the 'read' scope; this route needs 'write')."


def use_key(page: Any, key: str) -> None:
    """Enter a key in the page's key panel, as a user would."""
    if page.locator("#api-key").is_hidden():
        page.click("#key-toggle")
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def test_a_read_key_lists_but_may_not_write_and_a_write_key_may(double, tmp_path, open_page):
    keys = ("s3cret:admin", "reader:read", "writer:write")
    settings = make_settings(double.url, tmp_path / "data", api_keys=keys)
    with ServerThread(create_app(settings)) as running:
        form = [("files", ("handbook.md", (REPO / "data" / "handbook.md").read_bytes()))]
        auth = {"Authorization": "Bearer s3cret"}
        assert (
            httpx.post(
                f"{running.url}/documents", files=form, headers=auth, timeout=120
            ).status_code
            == 200
        )
        page = open_page(running.url + "/", viewport=PHONE)
        expect(page.locator("#api-key")).to_be_visible()  # no key yet: the page asks for one
        page.click("#docs-toggle")
        page.set_input_files("#docs-files", [data_file("release-notes.txt")])
        row = upload_row(page, "release-notes.txt")
        expect(row).to_have_attribute("data-state", "failed")
        expect(row.locator(".upload-detail")).to_contain_text("needs an API key")

        # The read key lists the documents; the server refuses its writes, and says why.
        use_key(page, "reader")
        expect(page.locator("#docs-rows tr")).to_have_count(1)
        page.set_input_files("#docs-files", [data_file("support-faq.html")])
        refused = upload_row(page, "support-faq.html")
        expect(refused).to_have_attribute("data-state", "failed")
        expect(refused.locator(".upload-detail")).to_have_text(
            f"This API key may not upload documents {READ_REFUSAL}"
        )
        handbook = doc_row(page, "handbook.md")
        handbook.locator(".doc-delete").click()
        handbook.locator(".doc-confirm").click()
        expect(page.locator("#docs-status")).to_have_text(
            f"Could not delete handbook.md: This API key may not delete documents {READ_REFUSAL}"
        )
        expect(handbook.locator(".doc-delete")).to_be_visible()
        expect(page.locator("#docs-rows tr")).to_have_count(1)
        assert listed(running.url, "default", "s3cret") == ["uploads/handbook.md"]
        no_horizontal_overflow(page)

        # The write key uploads and deletes from the same page.
        use_key(page, "writer")
        expect(page.locator("#docs")).to_be_visible()  # the view stays open across keys
        page.set_input_files("#docs-files", [data_file("support-faq.html")])
        expect(upload_row(page, "support-faq.html")).to_have_attribute("data-state", "added")
        expect(page.locator("#docs-rows tr")).to_have_count(2)
        handbook.locator(".doc-delete").click()
        handbook.locator(".doc-confirm").click()
        expect(page.locator("#docs-status")).to_have_text("Deleted handbook.md.")
        expect(page.locator("#docs-rows tr")).to_have_count(1)
        assert listed(running.url, "default", "s3cret") == ["uploads/support-faq.html"]
