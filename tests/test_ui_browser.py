"""The chat page and the widget in a real headless browser (Debian's Chromium via Playwright).

The app runs under uvicorn in a thread against the Ollama double, with the sample documents and
a document whose text carries HTML: it must only ever reach the page as text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.api.app import create_app
from tests.browser_helpers import (
    XSS_DOC,
    XSS_DOC_NAME,
    XSS_QUESTION,
    ServerThread,
    StaticSite,
    chromium_path,
)
from tests.conftest import REPO, make_settings

try:
    from playwright.sync_api import expect

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - reported below
    HAVE_PLAYWRIGHT = False

if not HAVE_PLAYWRIGHT or chromium_path() is None:
    missing = "/usr/bin/chromium" if HAVE_PLAYWRIGHT else "the playwright package"
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need {missing}", pytrace=False)
    pytest.skip(f"browser tests need {missing}", allow_module_level=True)

expect.set_options(timeout=20_000)

LEAVE_QUESTION = "How many days of annual leave do employees get?"
UNKNOWN_QUESTION = "quantum chromodynamics lattice gauge"
PHONE = {"width": 390, "height": 844}


class Service:
    """The running app: its URL, settings and a helper to upload documents."""

    def __init__(self, server: ServerThread, settings: Any) -> None:
        self.server = server
        self.settings = settings
        self.url = server.url

    def upload(self, files: list[tuple[str, bytes]], collection: str | None = None) -> None:
        params = {"collection": collection} if collection else {}
        form = [("files", (name, data)) for name, data in files]
        response = httpx.post(f"{self.url}/documents", files=form, params=params, timeout=120)
        assert response.status_code == 200, response.text
        assert response.json()["failed"] == []


def sample_files() -> list[tuple[str, bytes]]:
    docs = sorted(p for p in (REPO / "data").iterdir() if p.is_file())
    return [(p.name, p.read_bytes()) for p in docs] + [(XSS_DOC_NAME, XSS_DOC.encode())]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[StaticSite]:
    """An intranet page on another loopback origin (the widget's host)."""
    with StaticSite(tmp_path_factory.mktemp("intranet")) as served:
        yield served


@pytest.fixture(scope="module")
def service(double, tmp_path_factory, site) -> Iterator[Service]:
    """The app with the sample documents and the XSS document; CORS open to `site`."""
    data = tmp_path_factory.mktemp("ui") / "data"
    settings = make_settings(double.url, data, cors_origins=(site.url,))
    with ServerThread(create_app(settings)) as server:
        running = Service(server, settings)
        running.upload(sample_files())
        running.upload(
            [("release-notes.txt", (REPO / "data" / "release-notes.txt").read_bytes())], "product"
        )
        yield running


@pytest.fixture()
def open_page(browser) -> Iterator[Any]:
    """open_page(url, **context options): a page in a fresh context (own localStorage)."""
    contexts = []
    errors: list[str] = []

    def opener(url: str, **options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def ask(page: Any, question: str, field: str = "#question") -> Any:
    """Type a question, press Enter, wait for its answer; returns the answer's locator."""
    before = page.locator(".msg-bot").count()
    page.fill(field, question)
    page.press(field, "Enter")
    answer = page.locator(".msg-bot").nth(before)
    expect(answer).to_have_attribute("data-state", re.compile("done|error"))
    return answer


class Sent:
    """A POST /ask the page made: its JSON body and the headers that went on the wire."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.body = request.post_data_json

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.request.all_headers())


def ask_requests(page: Any) -> list[Sent]:
    """The page's POST /ask requests, collected as they are made."""
    seen: list[Sent] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/ask"):
            seen.append(Sent(request))

    page.on("request", record)
    return seen


def no_horizontal_overflow(page: Any) -> None:
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], f"page scrolls sideways: {sizes}"
    outside = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter((e) => e.getClientRects().length)
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5
                        || e.getBoundingClientRect().left < -0.5)
            .map((e) => e.tagName + '.' + e.className)"""
    )
    assert outside == [], f"elements past the screen's edge: {outside}"


# -- serving ---------------------------------------------------------------------------------


def test_page_assets_and_widget_are_served(service):
    page = httpx.get(service.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = ["app.js", "core.js", "app.css", "documents.js", "documents-api.js"]
    assets.append("documents.css")
    for name, kind in [(n, "css" if n.endswith(".css") else "javascript") for n in assets]:
        response = httpx.get(f"{service.url}/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert httpx.get(service.url + "/static/ui.py").status_code == 404
    assert httpx.get(service.url + "/static/..%2Fapi%2Fapp.py").status_code == 404
    widget = httpx.get(service.url + "/widget.js")
    assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
    assert (
        "const RagCore" in widget.text and "mountRagWidget(document.currentScript)" in widget.text
    )
    again = httpx.get(service.url + "/widget.js", headers={"If-None-Match": widget.headers["etag"]})
    assert again.status_code == 304
    html_sinks = re.compile(
        r"\.(inner|outer)HTML\s*[+]?=|insertAdjacentHTML|document\.write|eval\("
    )
    for asset in (REPO / "rag" / "static").glob("*.js"):  # the safety rule, in the source too
        assert not html_sinks.search(asset.read_text()), asset.name


# -- the page --------------------------------------------------------------------------------


def test_answer_streams_then_shows_chips_that_open_the_passage(service, open_page, ollama):
    ollama.configure(token_delay_s=0.12)
    page = open_page(service.url + "/")
    page.fill("#question", LEAVE_QUESTION)
    page.press("#question", "Enter")
    answer = page.locator(".msg-bot").first
    expect(answer).to_have_attribute("data-state", "streaming")
    state, partial, chips = answer.evaluate(
        """(el) => [el.dataset.state, el.querySelector('.answer-text').textContent,
                   el.querySelectorAll('.chip, .cite').length]"""
    )
    assert state == "streaming" and partial.strip() and chips == 0
    expect(page.locator("#send")).to_have_text("Stop")

    expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
    final = answer.locator(".answer-text").text_content()
    assert "18 days" in final and "[1]" not in final  # markers became chips
    assert final.startswith(partial.strip()[:10])
    expect(answer.locator(".answer-text .cite").first).to_have_text("1")
    chip = answer.locator(".msg-sources .chip").first
    expect(chip).to_contain_text("handbook.md")
    expect(page.locator("#send")).to_have_text("Send")

    chip.click()
    passage = page.locator("#passage")
    expect(passage).to_be_visible()
    expect(passage.locator(".passage-source")).to_have_text("handbook.md")
    expect(passage.locator(".passage-meta")).to_contain_text("uploads/handbook.md")
    expect(passage.locator(".passage-snippet")).to_contain_text("18 days of paid annual leave")
    page.keyboard.press("Escape")
    expect(passage).to_be_hidden()

    answer.locator(".answer-text .cite").first.click()  # the inline chip opens it too
    expect(passage.locator(".passage-kicker")).to_have_text("Source [1]")


def test_pdf_citation_shows_its_page(service, open_page):
    page = open_page(service.url + "/")
    answer = ask(page, "What does error E7 mean?")
    chip = answer.locator(".msg-sources .chip").first
    expect(chip).to_have_text("[1] r2-user-manual.pdf p. 3")
    chip.click()
    meta = page.locator("#passage .passage-meta")
    expect(meta.locator("dt", has_text="Page")).to_be_visible()
    expect(meta.locator("dd").nth(1)).to_have_text("3")
    expect(page.locator("#passage .passage-snippet")).to_contain_text("E7")


def test_conversation_sends_previous_turns(service, open_page):
    page = open_page(service.url + "/")
    requests = ask_requests(page)
    ask(page, LEAVE_QUESTION)
    ask(page, "Can unused days be carried over?")
    assert requests[0].body["messages"] == []
    assert requests[0].body["stream"] is True
    history = requests[1].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == LEAVE_QUESTION
    assert "18 days" in history[1]["content"] and "[1]" in history[1]["content"]  # done's answer

    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    ask(page, LEAVE_QUESTION)
    assert requests[2].body["messages"] == []


def test_document_text_is_never_inserted_as_html(service, open_page):
    # bypass_csp: the page's CSP would stop inline handlers anyway; the text-only rule must hold
    # on its own.
    page = open_page(service.url + "/", bypass_csp=True)
    answer = ask(page, XSS_QUESTION)
    text = answer.locator(".answer-text").text_content()
    assert '<img src=x onerror="window.__xss=1">' in text
    assert "<script>window.__xss=2</script>" in text
    chip = answer.locator(".msg-sources .chip").first
    expect(chip).to_contain_text(XSS_DOC_NAME)
    chip.click()
    expect(page.locator("#passage .passage-snippet")).to_contain_text("<script>window.__xss=2")
    page.wait_for_timeout(300)  # time for an injected image to fail and run its handler
    assert page.evaluate("() => window.__xss") is None
    assert (
        page.evaluate("() => document.querySelectorAll('img, main script, aside script').length")
        == 0
    )


def test_question_not_in_the_knowledge_base_is_a_distinct_refusal(service, open_page):
    page = open_page(service.url + "/")
    ok = ask(page, LEAVE_QUESTION)
    refused = ask(page, UNKNOWN_QUESTION)
    expect(refused).to_have_class(re.compile(r"\bis-refusal\b"))
    expect(ok).not_to_have_class(re.compile(r"\bis-refusal\b"))
    expect(refused.locator(".msg-badge")).to_have_text("Not in the knowledge base")
    expect(refused.locator(".answer-text")).to_have_text(
        "I don't know based on the provided documents."
    )
    expect(refused.locator("[data-n]")).to_have_count(0)
    colors = page.evaluate(
        """() => [...document.querySelectorAll('.msg-bot')]
            .map((e) => getComputedStyle(e).backgroundColor)"""
    )
    assert colors[0] != colors[1]


def test_collection_picker_lists_collections_and_sends_the_choice(service, open_page):
    page = open_page(service.url + "/")
    requests = ask_requests(page)
    options = page.locator("#collection option")
    expect(options).to_have_count(2)
    names = options.evaluate_all("(els) => els.map((e) => e.value)")
    assert names == sorted([service.settings.collection, "product"])
    expect(page.locator("#collection")).to_have_value(service.settings.collection)
    expect(options.nth(names.index("product"))).to_have_text("product · 1 doc")
    page.select_option("#collection", "product")
    answer = ask(page, "What is new in version 2.4.0 of the firmware?")
    assert requests[0].body["collection"] == "product"
    expect(answer.locator(".msg-sources .chip").first).to_contain_text("release-notes.txt")
    page.reload()  # the choice is remembered
    expect(page.locator("#collection")).to_have_value("product")


def test_phone_screen_has_no_horizontal_overflow(service, open_page):
    page = open_page(service.url + "/", viewport=PHONE, is_mobile=True, has_touch=True)
    expect(page.locator("#collection option").first).to_be_attached()
    no_horizontal_overflow(page)
    ask(page, LEAVE_QUESTION)
    answer = ask(page, XSS_QUESTION)  # long unbroken markup must wrap too
    ask(page, UNKNOWN_QUESTION)
    answer.locator(".msg-sources .chip").first.click()
    expect(page.locator("#passage")).to_be_visible()
    box = page.locator("#passage").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    no_horizontal_overflow(page)
    page.click("#key-toggle")
    expect(page.locator("#api-key")).to_be_visible()
    no_horizontal_overflow(page)


def test_api_key_is_asked_for_stored_and_sent(double, tmp_path, open_page):
    settings = make_settings(double.url, tmp_path / "data", api_keys=("s3cret",))
    with ServerThread(create_app(settings)) as server:
        page = open_page(server.url + "/")  # the page itself is public
        requests = ask_requests(page)
        notice = page.locator("#notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("needs an API key")
        expect(page.locator("#api-key")).to_be_visible()
        refused = ask(page, LEAVE_QUESTION)
        expect(refused.locator(".msg-error")).to_contain_text("needs an API key")
        assert "authorization" not in requests[0].headers

        page.fill("#api-key", "s3cret")
        page.click("#key-form button[type=submit]")
        expect(notice).to_be_hidden()
        expect(page.locator("#collection option")).to_have_count(1)
        assert page.evaluate("() => localStorage.getItem('rag.apiKey')") == "s3cret"
        answer = ask(page, LEAVE_QUESTION)
        assert requests[1].headers["authorization"] == "Bearer s3cret"
        expect(answer.locator(".msg-badge")).to_have_text("Not in the knowledge base")
        expect(answer.locator(".msg-reason")).to_contain_text("no documents")

        page.reload()
        expect(page.locator("#collection option")).to_have_count(1)
        expect(notice).to_be_hidden()


# -- the widget ------------------------------------------------------------------------------


def widget_page(folder: Path, name: str, service_url: str, **data: str) -> str:
    """An intranet page with the widget's script tag and hostile styles of its own."""
    attributes = " ".join(f'data-rag-{key}="{value}"' for key, value in data.items())
    (folder / name).write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Intranet</title>
<style>button {{ background: rgb(255, 0, 0) !important; }} .msg {{ display: none; }}</style>
</head><body><h1>Acme intranet</h1>
<script src="{service_url}/widget.js" data-rag-url="{service_url}" {attributes}></script>
</body></html>""",
        encoding="utf-8",
    )
    return name


def test_widget_on_another_origin(service, site, open_page, ollama):
    name = widget_page(site.root, "w.html", service.url, title="Ask Acme")
    ollama.configure(token_delay_s=0.08)
    page = open_page(f"{site.url}/{name}", bypass_csp=True)
    requests = ask_requests(page)
    assert page.evaluate("() => typeof window.RagCore") == "undefined"  # nothing leaks out
    assert page.evaluate("() => !!document.querySelector('[data-rag-widget]').shadowRoot")
    launcher = page.locator(".launcher")
    color = launcher.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert color != "rgb(255, 0, 0)"  # the page's styles do not reach into the widget
    launcher.click()
    expect(page.locator(".panel .title")).to_have_text("Ask Acme")

    page.fill(".panel textarea", LEAVE_QUESTION)
    page.press(".panel textarea", "Enter")
    answer = page.locator(".msg-bot").first
    expect(answer).to_have_attribute("data-state", "streaming")
    assert answer.locator(".answer-text").text_content().strip()
    expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
    expect(answer).to_be_visible()
    assert requests[0].headers["origin"] == site.url
    chip = answer.locator(".msg-sources .chip").first
    expect(chip).to_contain_text("handbook.md")
    chip.click()
    expect(page.locator(".passage .passage-snippet")).to_contain_text("18 days")
    page.click(".back")
    expect(page.locator(".passage")).to_be_hidden()

    xss = ask(page, XSS_QUESTION, field=".panel textarea")
    expect(xss.locator(".answer-text")).to_contain_text('<img src=x onerror="window.__xss=1">')
    xss.locator(".msg-sources .chip").first.click()
    expect(page.locator(".passage .passage-snippet")).to_contain_text("<script>window.__xss=2")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__xss") is None
    root = "document.querySelector('[data-rag-widget]').shadowRoot"
    assert page.evaluate(f"() => {root}.querySelectorAll('img, script').length") == 0
    page.click(".back")

    refused = ask(page, UNKNOWN_QUESTION, field=".panel textarea")
    expect(refused.locator(".msg-badge")).to_have_text("Not in the knowledge base")
    history = requests[-1].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"] * 2

    page.set_viewport_size(PHONE)
    box = page.locator(".panel").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"] and box["x"] >= 0


def test_widget_explains_a_missing_cors_origin(service, tmp_path, open_page):
    with StaticSite(tmp_path) as other:  # an origin RAG_CORS_ORIGINS does not list
        name = widget_page(tmp_path, "w.html", service.url)
        page = open_page(f"{other.url}/{name}")
        page.click(".launcher")
        answer = ask(page, LEAVE_QUESTION, field=".panel textarea")
        error = answer.locator(".msg-error")
        expect(error).to_contain_text("RAG_CORS_ORIGINS")
        expect(error).to_contain_text(other.url)


# -- Markdown, saved conversations, copy/regenerate, the whole passage --------------------------

MARKDOWN_REPLY = (
    "Employees get **18 days** of paid annual leave [1].\n\n"
    "- up to 5 days carry over\n- `leave.request` starts it\n\n"
    "| kind | days |\n| --- | --- |\n| annual | 18 |\n\n"
    "[click me](javascript:window.__xss=3) and [the portal](https://intranet.example/leave) "
    '<b onmouseover="window.__xss=4">raw</b> ![tracker](https://evil.example/pixel.png)'
)


def test_answers_render_markdown_safely(service, open_page, ollama):
    ollama.configure(chat_reply=MARKDOWN_REPLY)
    page = open_page(service.url + "/", bypass_csp=True)  # the sanitiser must hold without CSP
    answer = ask(page, LEAVE_QUESTION)
    text = answer.locator(".answer-text")
    expect(text.locator("strong")).to_have_text("18 days")
    expect(text.locator("li")).to_have_count(2)
    expect(text.locator("li code")).to_have_text("leave.request")
    expect(text.locator("td").first).to_have_text("annual")
    expect(text.locator(".cite").first).to_have_text("1")  # [n] still becomes a chip
    links = text.locator("a")
    hrefs = links.evaluate_all("(els) => els.map((a) => a.getAttribute('href'))")
    assert hrefs == [None, "https://intranet.example/leave"]  # javascript: lost its href
    assert links.nth(1).get_attribute("rel") == "noopener noreferrer"
    assert '<b onmouseover="window.__xss=4">raw</b>' in text.text_content()  # raw HTML as text
    assert text.locator("b, img").count() == 0 and "[image: tracker]" in text.text_content()
    links.first.click()
    assert page.evaluate("() => window.__xss") is None


def test_conversations_survive_a_reload_and_can_be_renamed_and_deleted(service, open_page):
    page = open_page(service.url + "/")
    ask(page, LEAVE_QUESTION)
    ask(page, "Can unused days be carried over?")
    page.reload()
    expect(page.locator(".msg-bot")).to_have_count(2)
    expect(page.locator(".msg-bot .answer-text").first).to_contain_text("18 days")
    expect(page.locator(".chat-item")).to_have_count(1)
    requests = ask_requests(page)
    ask(page, "How do I request leave?")  # the restored turns go with the next question
    assert [m["role"] for m in requests[0].body["messages"]] == ["user", "assistant"] * 2

    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    ask(page, "What does error E7 mean?")
    expect(page.locator(".chat-item")).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept("Robot errors"))
    page.locator(".chat-item.is-current [data-action=rename]").click()
    expect(page.locator(".chat-item.is-current .chat-title")).to_have_text("Robot errors")
    page.reload()
    expect(page.locator(".chat-title", has_text="Robot errors")).to_have_count(1)
    page.locator(".chat-title", has_text=LEAVE_QUESTION[:20]).click()
    expect(page.locator(".msg-bot")).to_have_count(3)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".chat-item.is-current [data-action=delete]").click()
    expect(page.locator(".chat-item")).to_have_count(1)
    expect(page.locator(".msg")).to_have_count(0)


def test_copy_and_regenerate(service, open_page, ollama):
    page = open_page(service.url + "/", permissions=["clipboard-read", "clipboard-write"])
    requests = ask_requests(page)
    first = ask(page, LEAVE_QUESTION)
    first.locator("[data-action=copy]").click()
    expect(first.locator("[data-action=copy]")).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert "18 days" in copied and "[1]" in copied  # the answer as the model wrote it
    ollama.configure(chat_reply="Regenerated: eighteen days of leave [1].")
    first.locator("[data-action=regenerate]").click()
    again = page.locator(".msg-bot").first
    expect(again).to_have_attribute("data-state", "done")
    expect(page.locator(".msg-bot")).to_have_count(1)
    expect(again.locator(".answer-text")).to_contain_text("Regenerated: eighteen days")
    assert requests[1].body["question"] == LEAVE_QUESTION and requests[1].body["messages"] == []


def test_chips_name_the_section_and_the_passage_opens_whole(service, open_page):
    page = open_page(service.url + "/")
    answer = ask(page, LEAVE_QUESTION)
    chip = answer.locator(".msg-sources .chip").first
    expect(chip).to_have_text(re.compile(r"^\[1\] handbook\.md › \S"))
    chip.click()
    window = page.locator("#passage .passage-window")
    cited = window.locator(".passage-chunk.is-cited")
    expect(cited).to_contain_text("18 days of paid annual leave")
    expect(page.locator("#passage .passage-snippet")).to_be_hidden()
    assert len(cited.text_content()) >= len(chip.get_attribute("title") or "")
    window.locator(".passage-more").click()
    expect(window.locator(".passage-chunk.is-neighbour").first).to_be_visible()


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 800, "desktop"), (390, 844, "phone")])
def test_markdown_and_history_fit_the_screen(service, open_page, ollama, width, height, name):
    ollama.configure(chat_reply=MARKDOWN_REPLY)
    page = open_page(service.url + "/", viewport={"width": width, "height": height})
    ask(page, LEAVE_QUESTION)
    page.locator(".msg-sources .chip").first.click()
    no_horizontal_overflow(page)
    page.screenshot(path=str(REPO / "docs" / f"chat-markdown-{name}.png"))
