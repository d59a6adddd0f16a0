"""The chunker: token budget, sentence-aligned overlap, stable ids, where each chunk came from."""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from pathlib import Path

import pytest

from ingest.chunker import chunk_document, split_text
from ingest.loaders import load_file
from rag.models import Document, Section
from rag.tokens import estimate_tokens

VIETNAMESE = (
    "Tiếng Việt là ngôn ngữ chính thức của Việt Nam. Nghiên cứu này trình bày kết quả phân tích "
    "cú pháp cho các câu tiếng Việt. Chương trình hoạt động tốt và đưa ra kết quả phù hợp! "
    "Các ràng buộc ngữ nghĩa còn hạn chế? Người dùng có thể mở rộng bộ từ vựng… "
)
WORDS = ["retrieval", "augmented", "generation", "embedding", "vector", "chunk", "the", "a", "of"]


def make_doc(sections: list[Section], sha: str = "ab" * 32) -> Document:
    return Document(source="/docs/x.md", kind="md", sha256=sha, sections=sections)


def sentences(count: int, seed: int = 0, most_words: int = 25) -> list[str]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, most_words)))
        out.append(f"Sentence {n} says {body}{rng.choice('.!?')}")
    return out


def varied_texts() -> list[str]:
    """Inputs that have broken chunkers before: huge words, no punctuation, CJK, tables, numbers."""
    rng = random.Random(42)
    blob = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for _ in range(3000)
    )
    return [
        " ".join(sentences(60, seed=1)),
        "\n\n".join(" ".join(sentences(5, seed=s)) for s in range(12)),
        VIETNAMESE * 20,
        "中华人民共和国的首都是北京。这是一个测试句子！" * 60,
        " ".join(rng.choice(WORDS) for _ in range(2000)),  # one endless sentence
        "\n".join(
            f"{n:05d} | {rng.randint(0, 10**9)} | 2015-07-{n % 28 + 1:02d}" for n in range(300)
        ),
        f"Before the blob. {blob} After the blob.",
        "x" * 5000,
        "Short.",
        "  \n\n ",
        "Dr. Smith arrived. 1. First item\n2. Second item\n\n" * 40,
    ]


@pytest.mark.parametrize("max_tokens", [8, 20, 50, 120, 400])
@pytest.mark.parametrize("overlap", [0, 10, 50])
def test_every_chunk_fits_the_budget(max_tokens: int, overlap: int) -> None:
    for n, text in enumerate(varied_texts()):
        doc = make_doc([Section(text, page=n + 1)])
        for chunk in chunk_document(doc, "doc", max_tokens=max_tokens, overlap_tokens=overlap):
            assert estimate_tokens(chunk.text) <= max_tokens, (n, chunk.text[:80])
            assert chunk.tokens == estimate_tokens(chunk.text)
            assert chunk.text == chunk.text.strip() and chunk.text


@pytest.mark.parametrize("max_tokens", [8, 30, 200])
def test_no_text_is_lost_or_reordered_without_overlap(max_tokens: int) -> None:
    for text in varied_texts():
        pieces = split_text(text, max_tokens, 0)
        assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", text)


def test_overlap_is_whole_trailing_sentences() -> None:
    parts = sentences(80, seed=3, most_words=8)  # short enough to always fit the overlap
    doc = make_doc([Section(" ".join(parts))])
    chunks = chunk_document(doc, "doc", max_tokens=100, overlap_tokens=30)
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        first = [p for p in parts if after.text.startswith(p)]
        assert first, "every chunk starts at a sentence boundary"
        repeated = [p for p in parts if p in before.text and p in after.text]
        assert repeated, "consecutive chunks share sentences"
        assert before.text.endswith(repeated[-1]), "the overlap is the tail of the previous chunk"
        assert after.text.startswith(repeated[0])
        assert estimate_tokens(" ".join(repeated)) <= 30
    # Sentence order is kept across the whole document.
    seen = [int(m) for c in chunks for m in re.findall(r"Sentence (\d+) says", c.text)]
    assert sorted(set(seen)) == list(range(80))
    assert all(b >= a - 5 for a, b in itertools.pairwise(seen))


def test_zero_overlap_repeats_nothing() -> None:
    parts = sentences(50, seed=4)
    chunks = chunk_document(make_doc([Section(" ".join(parts))]), "doc", 80, overlap_tokens=0)
    joined = " ".join(c.text for c in chunks)
    assert joined == " ".join(parts)


def test_ids_are_stable_unique_and_positional() -> None:
    doc = make_doc(
        [Section(" ".join(sentences(30, seed=s)), page=s + 1) for s in range(3)],
        sha="0123456789abcdef" * 4,
    )
    first = chunk_document(doc, "notes", max_tokens=60)
    again = chunk_document(doc, "notes", max_tokens=60)
    assert first == again
    assert len({c.id for c in first}) == len(first)
    for index, chunk in enumerate(first):
        assert chunk.index == index
        assert chunk.id == f"notes:0123456789ab:{index:05d}"
        assert chunk.doc_id == "notes" and chunk.source == "/docs/x.md"


def test_page_and_heading_are_carried_and_sections_never_merge() -> None:
    doc = make_doc(
        [
            Section("Intro text.", heading=()),
            Section(" ".join(sentences(20)), heading=("Install", "Linux")),
            Section("Printed page text.", page=7, page_label="vii"),
        ]
    )
    chunks = chunk_document(doc, "doc", max_tokens=50)
    assert chunks[0].text == "Intro text." and chunks[0].heading == ""
    linux = [c for c in chunks if c.heading == "Install > Linux"]
    assert len(linux) > 1 and all(c.page is None for c in linux)
    assert chunks[-1].text == "Printed page text."
    assert (chunks[-1].page, chunks[-1].page_label) == (7, "vii")
    assert chunks[-1].metadata()["page_label"] == "vii"


def test_empty_sections_make_no_chunks() -> None:
    doc = make_doc([Section("   \n\t "), Section("One."), Section(""), Section("Two.")])
    chunks = chunk_document(doc, "doc")
    assert [(c.index, c.text) for c in chunks] == [(0, "One."), (1, "Two.")]
    assert chunk_document(make_doc([]), "doc") == []


def test_long_word_is_hard_split() -> None:
    blob = "QUJD" * 1000  # 4000 characters of base64, no spaces
    chunks = chunk_document(make_doc([Section(blob)]), "doc", max_tokens=50, overlap_tokens=10)
    assert len(chunks) > 1
    assert all(estimate_tokens(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks) == blob


def test_vietnamese_is_not_mangled() -> None:
    text = unicodedata.normalize("NFC", VIETNAMESE * 10)
    chunks = chunk_document(make_doc([Section(text)]), "vi", max_tokens=40, overlap_tokens=0)
    assert len(chunks) > 3
    for chunk in chunks:
        assert unicodedata.is_normalized("NFC", chunk.text)
        assert chunk.text in text
    assert " ".join(c.text for c in chunks).split() == text.split()
    assert any("Nghiên cứu" in c.text for c in chunks)


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("   \n") == 0
    assert estimate_tokens("hello") == 1  # short English words are one word piece
    assert estimate_tokens("a, b.") == 4
    assert estimate_tokens("supercalifragilistic") == 6  # long words count more
    assert estimate_tokens("中华人民共和国") == 7  # WordPiece splits CJK per character
    assert estimate_tokens("1234567890") >= 6  # long numbers split into short pieces
    assert estimate_tokens("nghiên cứu") >= 4  # accented words split more than English
    # Fast enough for every chunk of a big corpus.
    assert estimate_tokens(VIETNAMESE * 1000) > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        chunk_document(make_doc([Section("x")]), "doc", max_tokens=0)
    # An overlap as large as the budget is capped, not an endless loop.
    chunks = chunk_document(make_doc([Section(" ".join(sentences(40)))]), "doc", 30, 500)
    assert all(c.tokens <= 30 for c in chunks)


def test_real_pdfs_chunk_within_budget(corpus_dir: Path) -> None:
    for name in ("minutes_fr_2023-06-20.pdf", "vi_thesis_template_latex.pdf"):
        doc = load_file(corpus_dir / name)
        chunks = chunk_document(doc, "d", max_tokens=120, overlap_tokens=20)
        assert {c.page for c in chunks} == {s.page for s in doc.sections}
        assert all(c.tokens <= 120 for c in chunks)
        assert all(c.page_label is not None for c in chunks)
        text = " ".join(c.text for c in chunks)
        assert "séance" in text or "Giới thiệu" in text
