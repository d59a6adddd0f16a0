"""Limits: request bodies (chunked or declared) cut at the limit; parsing bounded per file."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from ingest.bounds import ParseLimits
from ingest.parse import parse_bytes
from ingest.parsers import Parsers
from rag.api.app import create_app
from rag.errors import DecompressionBomb, ParseLimit
from tests.browser_helpers import ServerThread
from tests.conftest import make_settings
from tests.hostile_pdfs import flate_bomb, many_pages

MB = 1024 * 1024
BOUNDARY = "limits-test-boundary"


def rss_mb() -> float:
    """This process's resident memory (the server runs in a thread of it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Body:
    """A chunked multipart body of `files` files of `mb` MB each; counts what was sent."""

    def __init__(self, files: int, mb: int) -> None:
        self.files, self.mb, self.sent = files, mb, 0
        self.total = files * mb * MB

    def __iter__(self) -> Iterator[bytes]:
        block = b"x" * MB  # one block, sent again and again: the client holds 1 MB, not 300
        for n in range(self.files):
            yield (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="big{n}.txt"\r\nContent-Type: text/plain\r\n\r\n'
            ).encode()
            for _ in range(self.mb):
                self.sent += len(block)
                yield block
            yield b"\r\n"
        yield f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture()
def server(ollama, tmp_path):
    settings = make_settings(ollama.url, tmp_path / "data", max_upload_mb=5.0, max_body_mb=1.0)
    with ServerThread(create_app(settings)) as running:
        yield running


def send_chunked(url: str, body: Body, path: str, media: str) -> int | None:
    """POST the body with Transfer-Encoding: chunked; the status, or None if cut off."""
    headers = {"Content-Type": media}
    try:
        response = httpx.post(f"{url}{path}", content=iter(body), headers=headers, timeout=60)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None  # the server answered and closed while we were still sending: also a refusal
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code


def test_a_300_mb_chunked_upload_is_cut_at_the_limit_with_flat_memory(server):
    assert httpx.get(f"{server.url}/health", timeout=30).status_code in (200, 503)
    before = rss_mb()
    body = Body(files=1, mb=300)
    status = send_chunked(
        server.url, body, "/documents", f"multipart/form-data; boundary={BOUNDARY}"
    )
    grown = rss_mb() - before
    print(f"sent {body.sent / MB:.0f} MB of {body.total / MB:.0f}; RSS grew {grown:.1f} MB")
    assert status in (413, None)
    assert body.sent < 100 * MB  # the server stopped reading near the 5 MB limit
    assert grown < 100
    assert httpx.get(f"{server.url}/documents", timeout=30).json()["documents"] == []


def test_many_files_each_under_the_limit_are_refused_together(server):
    body = Body(files=8, mb=1)  # 8 MB in all, 1 MB each, against a 5 MB limit per request
    status = send_chunked(
        server.url, body, "/documents", f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert status in (413, None)
    assert httpx.get(f"{server.url}/documents", timeout=30).json()["documents"] == []


def test_a_huge_chunked_question_is_refused_before_being_read_whole(server):
    def question() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(50):
            sent.append(MB)
            yield b"a" * MB
        yield b'"}'

    sent: list[int] = []
    try:
        response = httpx.post(
            f"{server.url}/ask",
            content=question(),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 413
        assert "RAG_MAX_BODY_MB" in response.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass
    assert sum(sent) < 30 * MB


def test_declared_lengths_over_the_limit_are_refused_unread(ollama, tmp_path):
    settings = make_settings(ollama.url, tmp_path, max_body_mb=1.0, max_upload_mb=2.0)
    with TestClient(create_app(settings)) as api:
        ask = api.post("/ask", content=b"{" + b" " * (2 * MB) + b"}", headers=_json())
        search = api.post("/search", content=b"{" + b" " * (2 * MB) + b"}", headers=_json())
        fine = api.post("/search", json={"query": "anything"})
        files = [("files", ("a.txt", b"y" * (3 * MB), "text/plain"))]
        upload = api.post("/documents", files=files)
    assert ask.status_code == search.status_code == upload.status_code == 413
    assert "request body over the 1 MB limit (RAG_MAX_BODY_MB)" in ask.json()["detail"]
    assert "upload over the 2 MB limit (RAG_MAX_UPLOAD_MB)" in upload.json()["detail"]
    assert fine.status_code == 200


def test_an_upload_under_the_limit_still_goes_through_chunked(server):
    class Small(Body):
        def __iter__(self) -> Iterator[bytes]:
            yield (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="note.txt"\r\nContent-Type: text/plain\r\n\r\n'
                "The pump in hall 7 needs its valve checked weekly.\r\n"
                f"--{BOUNDARY}--\r\n"
            ).encode()

    media = f"multipart/form-data; boundary={BOUNDARY}"
    response = httpx.post(
        f"{server.url}/documents",
        content=iter(Small(1, 0)),
        headers={"Content-Type": media},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["added"] == ["uploads/note.txt"]


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


# -- parsing ------------------------------------------------------------------------------------


def test_a_100000_page_pdf_is_cut_at_the_page_limit_saying_so():
    doc, chunks = parse_bytes("big.pdf", many_pages(100_000), "d", 400, 50, limits=ParseLimits(300))
    assert doc.pages == 300 and len(chunks) == 300
    assert "only the first 300 of its 100,000 pages were indexed (RAG_MAX_PAGES)" in doc.warnings


def test_a_flate_bomb_is_reported_as_a_bomb_not_as_a_scan():
    with pytest.raises(DecompressionBomb) as err:
        parse_bytes("bomb.pdf", flate_bomb(), "d", 400, 50)
    assert "decompression bomb" in str(err.value) and "OCR would not help" in str(err.value)


def test_characters_and_chunks_are_capped_with_warnings():
    text = "".join(f"Sentence {n} about pumps and valves in hall {n}. " for n in range(4000))
    doc, chunks = parse_bytes(
        "notes.txt", text.encode(), "d", 100, 10, limits=ParseLimits(max_chars=20_000)
    )
    assert sum(len(s.text) for s in doc.sections) == 20_000
    assert f"only the first 20,000 of its {len(text.strip()):,} characters were indexed" in (
        " ".join(doc.warnings)
    )
    doc, chunks = parse_bytes(
        "notes.txt", text.encode(), "d", 100, 10, limits=ParseLimits(max_chunks=3)
    )
    assert len(chunks) == 3
    assert any(
        "only the first 3 of its" in w and "RAG_MAX_CHUNKS_PER_FILE" in w for w in doc.warnings
    )


def parse_in_pool(settings, source: str, data: bytes):
    parsers = Parsers(settings)
    try:
        return parsers.submit(source, (source, data, "d", 400, 50, None)).result()
    finally:
        parsers.close()


def test_a_parse_worker_out_of_time_fails_only_that_file(tmp_path):
    settings = make_settings("http://127.0.0.1:1", tmp_path, parse_timeout=0.5, max_pages=10**6)
    with pytest.raises(ParseLimit, match=r"longer than 0.5 s \(RAG_PARSE_TIMEOUT\)"):
        parse_in_pool(settings, "big.pdf", many_pages(100_000))


def test_a_parse_worker_out_of_memory_fails_only_that_file(tmp_path):
    settings = make_settings("http://127.0.0.1:1", tmp_path, parse_memory_mb=300)
    with pytest.raises(ParseLimit, match=r"more than 300 MB of memory \(RAG_PARSE_MEMORY_MB\)"):
        parse_in_pool(settings, "big.txt", b"word " * 20_000_000)
    _, chunks = parse_in_pool(settings, "fine.txt", b"word " * 300_000)  # 1.5 MB: a worker
    assert chunks


def test_health_answers_while_a_huge_pdf_upload_is_parsed(ollama, tmp_path):
    settings = make_settings(ollama.url, tmp_path / "data", max_pages=800)
    files = [("files", ("huge.pdf", many_pages(100_000), "application/pdf"))]
    with ServerThread(create_app(settings)) as server:
        before = ollama.stats()["embed_inputs"]
        result: dict[str, httpx.Response] = {}
        upload = threading.Thread(
            target=lambda: result.update(
                r=httpx.post(f"{server.url}/documents", files=files, timeout=120)
            )
        )
        upload.start()
        answered_while_parsing = 0
        while upload.is_alive() and ollama.stats()["embed_inputs"] == before:
            health = httpx.get(f"{server.url}/health", timeout=30)
            if ollama.stats()["embed_inputs"] == before and upload.is_alive():
                answered_while_parsing += health.status_code in (200, 503)
        upload.join()
    assert answered_while_parsing > 0
    report = result["r"].json()
    assert report["added"] == ["uploads/huge.pdf"] and report["chunks"] == 800
    assert "RAG_MAX_PAGES" in " ".join(report["warnings"]["uploads/huge.pdf"])
