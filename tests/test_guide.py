# ruff: noqa: E501 - the guide's code is kept verbatim, long lines included
"""The examples of the Ollama guide our users follow (../shared/reference/, in Vietnamese), run
verbatim against the service: curl, Python requests, Node fetch, and the guide's browser
streaming snippet and chat widget in Chromium. Only the host (and the model name, `rag`) differ
from the guide; where a guide question is general knowledge, the same code is also run with a
question the documents answer, to see answers and sources as well as refusals.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rag.api.app import create_app
from rag.prompts import REFUSAL_EN, REFUSAL_VI
from tests.browser_helpers import ServerThread, StaticSite
from tests.conftest import REPO, make_settings

GUIDE_HOST = "http://localhost:11434"
LEAVE_VI = "Nhân viên được bao nhiêu ngày nghỉ phép năm?"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[StaticSite]:
    """A page on another origin, like the guide's widget file."""
    with StaticSite(tmp_path_factory.mktemp("guide-site")) as served:
        yield served


@pytest.fixture(scope="module")
def service(double, tmp_path_factory, site) -> Iterator[str]:
    """The app with the sample documents, CORS open to the widget's origin; yields its URL."""
    settings = make_settings(
        double.url, tmp_path_factory.mktemp("guide") / "data", cors_origins=(site.url,)
    )
    with ServerThread(create_app(settings)) as server:
        files = [("files", (p.name, p.read_bytes())) for p in sorted((REPO / "data").iterdir())]
        assert httpx.post(f"{server.url}/documents", files=files, timeout=120).status_code == 200
        yield server.url


def adapt(text: str, url: str) -> str:
    """The guide's text with our host and model name."""
    return text.replace(GUIDE_HOST, url).replace('"llama3.2"', '"rag"')


def curl(command: str, url: str) -> Any:
    """Run one of the guide's curl commands through the shell; its JSON output."""
    done = subprocess.run(
        ["bash", "-c", adapt(command, url) + " -sS"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- curl ------------------------------------------------------------------------------------

GENERATE = """curl http://localhost:11434/api/generate -d '{
  "model": "llama3.2",
  "prompt": "Giải thích Docker là gì trong 3 câu",
  "stream": false
}'"""
CHAT = """curl http://localhost:11434/api/chat -d '{
  "model": "llama3.2",
  "messages": [
    {"role": "system", "content": "Bạn là trợ lý kỹ thuật, trả lời ngắn gọn."},
    {"role": "user", "content": "Nginx và Apache khác nhau thế nào?"}
  ],
  "stream": false
}'"""
EMBED = """curl http://localhost:11434/api/embed -d '{
  "model": "nomic-embed-text",
  "input": "Ollama hỗ trợ embedding"
}'"""
OPENAI = """curl http://localhost:11434/v1/chat/completions -d '{
  "model": "llama3.2",
  "messages": [
    {"role": "user", "content": "Hello!"}
  ]
}'"""
PRELOAD = """curl http://localhost:11434/api/chat -d '{
  "model": "llama3.2",
  "messages": []
}'"""
TOOLS = """curl http://localhost:11434/api/chat -d '{
  "model": "llama3.2",
  "messages": [
    {"role": "user", "content": "Thời tiết Hà Nội hôm nay thế nào?"}
  ],
  "tools": [
    {
      "type": "function",
      "function": {
        "name": "get_weather",
        "description": "Lấy thông tin thời tiết theo thành phố",
        "parameters": {
          "type": "object",
          "properties": {
            "city": {
              "type": "string",
              "description": "Tên thành phố"
            }
          },
          "required": ["city"]
        }
      }
    }
  ],
  "stream": false
}'"""


def test_guide_curl_examples(service, ollama):
    generated = curl(GENERATE, service)
    assert generated["done"] is True and generated["response"].startswith(REFUSAL_VI)
    chatted = curl(CHAT, service)
    assert chatted["message"]["content"].startswith(REFUSAL_VI)  # general knowledge: refused
    tags = curl(f"curl {GUIDE_HOST}/api/tags", service)["models"]
    assert "rag:default" in [m["name"] for m in tags]
    embedded = curl(EMBED, service)
    direct = httpx.post(f"{ollama.url}/api/embed", json=json.loads(EMBED.split("-d '")[1][:-1]))
    assert embedded["embeddings"][0] == pytest.approx(direct.json()["embeddings"][0])
    hello = curl(OPENAI, service)  # no Content-Type header: still read as JSON
    reply = hello["choices"][0]["message"]["content"]
    assert reply.startswith("Hello!") and REFUSAL_EN not in reply
    assert curl(PRELOAD, service)["done_reason"] == "load"

    ollama.configure(chat_tool_calls=[{"name": "get_weather", "arguments": {"city": "Hà Nội"}}])
    called = curl(TOOLS, service)["message"]["tool_calls"]
    assert called[0]["function"] == {
        "index": 0,
        "name": "get_weather",
        "arguments": {"city": "Hà Nội"},
    }
    assert ollama.stats()["last_chat"]["tools"][0]["function"]["name"] == "get_weather"
    head = subprocess.run(["curl", "-sSI", service], capture_output=True, text=True, timeout=30)
    assert head.stdout.startswith("HTTP/1.1 200")


# -- Python requests ---------------------------------------------------------------------------

REQUESTS_CHAT = """
import requests

response = requests.post("http://localhost:11434/api/chat", json={ "model": "llama3.2", "messages": [ {"role": "user", "content": QUESTION} ], "stream": False })

data = response.json()
print(data["message"]["content"])
"""
REQUESTS_STREAM = """
import requests

response = requests.post("http://localhost:11434/api/chat", json={ "model": "llama3.2", "messages": [{"role": "user", "content": QUESTION}], "stream": True }, stream=True)

for line in response.iter_lines():
    if line:
        import json
        chunk = json.loads(line)
        print(chunk["message"]["content"], end="", flush=True)
"""
REQUESTS_RETRY = """
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

session = requests.Session()
retries = Retry(total=3, backoff_factor=1, status_forcelist=[502, 503, 504])
session.mount("http://", HTTPAdapter(max_retries=retries))

response = session.post( "http://localhost:11434/api/chat", json={"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}], "stream": False}, timeout=120 )
print(response.json()["message"]["content"])
"""


def run_python(code: str, url: str, question: str) -> str:
    script = adapt(code, url).replace("QUESTION", json.dumps(question, ensure_ascii=False))
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_guide_python_requests_examples(service):
    guide_question = run_python(REQUESTS_CHAT, service, "Viết hàm Python sắp xếp bubble sort")
    assert guide_question.startswith(REFUSAL_VI)
    answered = run_python(REQUESTS_CHAT, service, LEAVE_VI)
    assert "18 ngày" in answered and "Nguồn:\n[1] uploads/quy-dinh-lam-viec.md" in answered
    streamed = run_python(REQUESTS_STREAM, service, LEAVE_VI)
    assert streamed == answered.removesuffix("\n")
    assert run_python(REQUESTS_STREAM, service, "Kể một câu chuyện ngắn").startswith(REFUSAL_VI)
    hi = run_python(REQUESTS_RETRY, service, "")
    assert hi.startswith("Hello!") and REFUSAL_EN not in hi


# -- Node fetch --------------------------------------------------------------------------------

NODE_FETCH = """
const response = await fetch("http://localhost:11434/api/chat", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({
    model: "llama3.2",
    messages: [{ role: "user", content: QUESTION }],
    stream: false,
  }),
});
const data = await response.json();
console.log(data.message.content);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (apt-get install nodejs)")
def test_guide_node_fetch_example(service, tmp_path):
    def run(question: str) -> str:
        script = tmp_path / "chat.mjs"
        code = adapt(NODE_FETCH, service).replace('model: "llama3.2"', 'model: "rag"')
        script.write_text(code.replace("QUESTION", json.dumps(question, ensure_ascii=False)))
        done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("Hello từ Node.js!").startswith("Xin chào!")
    assert "18 ngày" in run(LEAVE_VI)


# -- the browser snippet and widget --------------------------------------------------------------

SNIPPET = """
const response = await fetch("http://localhost:11434/api/chat", {
  method: "POST",
  body: JSON.stringify({
    model: "llama3.2",
    messages: [{ role: "user", content: QUESTION }],
    stream: true,
  }),
});

const reader = response.body.getReader(); const decoder = new TextDecoder();

while (true) { const { done, value } = await reader.read(); if (done) break; const chunk = JSON.parse(decoder.decode(value)); process.stdout.write(chunk.message.content); }
"""
# The snippet writes with Node's process.stdout; in a page that is this element.
SNIPPET_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre id="out"></pre><script type="module">
const process = { stdout: { write: (text) => { document.getElementById("out").textContent += text; } } };
try {
SNIPPET
document.body.dataset.state = "done";
} catch (err) { document.body.dataset.state = "error: " + err; }
</script></body></html>
"""


def snippet_output(browser: Any, site: StaticSite, service: str, question: str) -> str:
    code = adapt(SNIPPET, service).replace('model: "llama3.2"', 'model: "rag"')
    code = code.replace("QUESTION", json.dumps(question, ensure_ascii=False))
    name = f"snippet-{abs(hash(question))}.html"
    (site.root / name).write_text(SNIPPET_PAGE.replace("SNIPPET", code))
    page = browser.new_page()
    try:
        page.goto(f"{site.url}/{name}")
        page.wait_for_function("() => document.body.dataset.state", timeout=30_000)
        assert page.evaluate("() => document.body.dataset.state") == "done"
        return str(page.text_content("#out"))
    finally:
        page.close()


def test_guide_streaming_snippet_in_chromium(browser, site, service, ollama):
    ollama.configure(token_delay_s=0.05)  # tokens that arrive apart are separate reads
    answered = snippet_output(browser, site, service, LEAVE_VI)
    assert "18 ngày" in answered and "Nguồn:\n[1] uploads/quy-dinh-lam-viec.md" in answered
    ollama.configure(token_delay_s=0)  # all at once: still one object per read
    assert snippet_output(browser, site, service, LEAVE_VI) == answered
    refused = snippet_output(browser, site, service, "Xin giải thích Kubernetes là gì")
    assert refused.startswith(REFUSAL_VI)
    hello = snippet_output(browser, site, service, "Xin chào!")
    assert hello.startswith("Xin chào!"), hello


def widget_html(service: str) -> str:
    """The guide's widget, verbatim but for the URL and the model.

    Two repairs of the copy we have: the page lost the line break after the comment
    `// Gửi bằng Enter` (which then swallows the Enter handler), and a file served without a
    charset needs its `<meta charset>` for the Vietnamese strings.
    """
    guide = (REPO.parent / "shared" / "reference" / "000_929490a9a08147db.txt").read_text()
    start, end = guide.index("<!DOCTYPE html>"), guide.index("</html>") + len("</html>")
    page = guide[start:end].replace("// Gửi bằng Enter ", "// Gửi bằng Enter\n")
    return adapt(page.replace("<head>", '<head><meta charset="utf-8">', 1), service)


def test_guide_widget_in_chromium(browser, site, service):
    (site.root / "widget.html").write_text(widget_html(service))
    page = browser.new_page()
    try:
        page.goto(f"{site.url}/widget.html")
        bots = page.locator(".msg.bot")
        for n, question in enumerate(
            [LEAVE_VI, "Giải thích Docker là gì trong 3 câu", "Cảm ơn!"], start=1
        ):
            page.fill("#user-input", question)
            page.press("#user-input", "Enter")
            page.wait_for_function(f"() => document.querySelectorAll('.msg.bot').length >= {n}")
        texts = bots.all_text_contents()
    finally:
        page.close()
    assert "18 ngày" in texts[0] and "Nguồn:\n[1] uploads/quy-dinh-lam-viec.md" in texts[0]
    assert texts[1].startswith(REFUSAL_VI)
    assert texts[2].startswith("Không có gì!")
    assert "Lỗi kết nối" not in " ".join(texts)
