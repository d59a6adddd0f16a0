"""The chat page over documents ingested from a server folder: no server path reaches the page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.run import ingest_paths
from rag.api.app import create_app
from tests.browser_helpers import ServerThread
from tests.conftest import REPO, make_settings
from tests.test_ui_browser import (  # its import skips this module too without a browser
    LEAVE_QUESTION,
    ask,
    expect,
    open_page,  # noqa: F401 - the fixture
)


@pytest.fixture(scope="module")
def served(double, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The app with the samples ingested from <tmp>/srv/hr; yields (url, tmp)."""
    base = tmp_path_factory.mktemp("display")
    docs = base / "srv" / "hr"
    shutil.copytree(REPO / "data", docs, ignore=shutil.ignore_patterns("chroma*"))
    app = create_app(make_settings(double.url, base / "data"))
    with ServerThread(app) as running:
        report = ingest_paths(app.state.rag.kb, "default", [str(docs)])
        assert report.ok, report.to_dict()
        yield running.url, base


def page_text(page: Any) -> str:
    """Everything the page holds: its markup (attributes too) and what it keeps in storage."""
    return str(page.content()) + str(page.evaluate("() => JSON.stringify(localStorage)"))


def test_chips_passage_and_documents_name_no_server_path(served, open_page):  # noqa: F811
    url, base = served
    page = open_page(url + "/")
    answer = ask(page, LEAVE_QUESTION)
    chip = answer.locator(".msg-sources .chip").first
    expect(chip).to_have_text(re.compile(r"^\[1\] handbook\.md › \S"))
    expect(chip).to_have_attribute("title", "hr/handbook.md")
    chip.click()
    passage = page.locator("#passage")
    expect(passage.locator(".passage-meta")).to_contain_text("hr/handbook.md")
    expect(passage.locator(".passage-chunk.is-cited")).to_contain_text("18 days")
    assert str(base) not in page_text(page)

    page.keyboard.press("Escape")
    page.click("#docs-toggle")
    expect(page.locator("#docs-rows tr").first).to_be_visible()
    expect(page.locator("#docs-rows")).to_contain_text("hr/r2-user-manual.pdf")
    assert str(base) not in page_text(page)
