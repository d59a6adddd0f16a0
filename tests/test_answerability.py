"""The answerability signal on XQuAD paragraphs: real FTS5 statistics, real Chroma, the double.

A question whose paragraph is left out of the index retrieves a sibling paragraph of the same
Wikipedia article; the signal must refuse it (in English, Vietnamese, and Vietnamese typed
without accents) while questions on indexed paragraphs are still answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.run import ingest_bytes
from rag.answer import AnswerRequest, answer
from rag.answerability import coverage, query_terms
from rag.cli import main as _cli  # noqa: F401  (rag.eval imports the CLI first)
from rag.config import Settings
from rag.errors import ConfigError
from rag.eval.qa import calibration_half, load_squad
from rag.language import reads_vietnamese
from rag.lexical import fold
from rag.prompts import REFUSAL_EN, REFUSAL_VI
from rag.retrieve import retrieve

ARTICLES = ("Martin_Luther", "Rhine", "Kenya")
HELD = "Martin_Luther-3"  # the paragraph on Luther's hymns
# The same XQuAD question in both languages: its answer is only in the held-out paragraph.
HYMNS = {
    "en": "What caused Luther to write hymns?",
    "vi": "Điều gì đã khiến Luther viết các bài thánh ca?",
}
# XQuAD questions on paragraphs that stay indexed (Martin_Luther-0, Rhine-1, Kenya-3).
ANSWERABLE = {
    "en": [
        "Who went to Wittenberg to hear Luther speak?",
        "What is the nickname for the Delta in the Netherlands?",
        "What are some of the causes of child labor?",
    ],
    "vi": [
        "Ai đã đến Wittenberg để nghe Luther diễn thuyết?",
        "Biệt danh của Đồng bằng ở Hà Lan là gì?",
        "Một số nguyên nhân của lao động trẻ em là gì?",
    ],
}


def paragraphs(shared: Path, lang: str) -> dict[str, str]:
    """The three articles' paragraphs of XQuAD in one language, by source."""
    squad = load_squad(shared / "eval" / "xquad" / f"xquad.{lang}.json")
    return {
        source: text
        for source, text in squad.paragraphs.items()
        if source.rsplit("/", 1)[-1].rsplit("-", 1)[0] in ARTICLES
    }


def source(lang: str, name: str) -> str:
    return f"squad/xquad.{lang}/{name}.txt"


@pytest.fixture()
def xquad(kb, shared_dir):
    """Both languages' paragraphs of three articles, the hymns paragraph held out."""
    texts = {lang: paragraphs(shared_dir, lang) for lang in ("en", "vi")}
    kept = {
        s: t for docs in texts.values() for s, t in docs.items() if not s.endswith(HELD + ".txt")
    }
    docs = [(s, t.encode("utf-8")) for s, t in kept.items()]
    assert ingest_bytes(kb, kb.settings.collection, docs).ok
    return texts


def ask(kb, question: str):
    return answer(kb, AnswerRequest(kb.settings.collection, question))


@pytest.mark.parametrize("store_mode", ["embedded"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "vi"])
def test_the_answering_paragraph_covers_the_question_and_its_siblings_do_not(kb, xquad, lang):
    question, docs = HYMNS[lang], xquad[lang]
    gold = coverage(question, docs[source(lang, HELD)], kb.term_rows)
    siblings = {
        name: coverage(question, docs[source(lang, name)], kb.term_rows)
        for name in ("Martin_Luther-0", "Martin_Luther-1", "Martin_Luther-2", "Martin_Luther-4")
    }
    assert gold >= kb.settings.min_coverage > max(siblings.values()), (gold, siblings)


@pytest.mark.parametrize("store_mode", ["embedded"], indirect=True)
def test_vietnamese_without_accents_is_still_matched_by_syllables(kb, xquad):
    plain = fold(HYMNS["vi"])  # "Đieu gi đa khien Luther viet cac bai thanh ca?" folded
    assert plain.isascii() and reads_vietnamese(plain) and not reads_vietnamese(HYMNS["en"])
    assert "thanh ca" in query_terms(plain)[1]  # "thánh ca" (hymn) is one word of two syllables
    assert query_terms("How long is the Rhine?") == (["long", "rhine"], [])
    docs = xquad["vi"]
    gold = coverage(plain, docs[source("vi", HELD)], kb.term_rows)
    sibling = coverage(plain, docs[source("vi", "Martin_Luther-0")], kb.term_rows)
    assert gold >= kb.settings.min_coverage > sibling


def test_rare_words_weigh_more_than_common_ones():
    def counts(terms):  # 100 chunks: "rhine" in 2 of them, "long" in 60
        return 100, {"rhine": 2, "long": 60}

    question = "How long is the Rhine?"
    assert coverage(question, "The Rhine flows north.", counts) > 0.8
    assert coverage(question, "A long way from home.", counts) < 0.2
    assert coverage("the of and", "the of and", counts) == 0.0  # no content words: no vouching


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_a_question_on_a_held_out_paragraph_is_refused_without_the_chat_model(
    kb, xquad, ollama, lang
):
    result = ask(kb, HYMNS[lang])
    assert (result.answerable, result.reason) == (False, "nothing_relevant")
    assert result.answer == {"en": REFUSAL_EN, "vi": REFUSAL_VI}[lang]
    assert result.candidates and ollama.stats()["chat_requests"] == 0
    # Search does not judge coverage: it ranks the sibling paragraphs as before.
    found = retrieve(kb, kb.settings.collection, HYMNS[lang], top_k=3)
    assert found.candidates[0].source.startswith(f"squad/xquad.{lang}/Martin_Luther-")
    # Without the coverage check the sibling paragraphs go to the chat model as sources.
    kb.settings = kb.settings.with_(min_coverage=0.0)
    assert ask(kb, HYMNS[lang]).reason != "nothing_relevant"
    assert ollama.stats()["chat_requests"] == 1


@pytest.mark.parametrize("store_mode", ["embedded"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "vi"])
def test_questions_on_indexed_paragraphs_are_answered(kb, xquad, ollama, lang):
    for question in ANSWERABLE[lang]:
        result = ask(kb, question)
        assert result.answerable and result.citations, question


def test_min_coverage_is_a_share_between_0_and_1():
    assert Settings.load(env={"RAG_MIN_COVERAGE": "0"}).min_coverage == 0.0
    assert Settings.load(env={}).min_coverage == 0.33
    with pytest.raises(ConfigError, match=r"RAG_MIN_COVERAGE='1\.5': must be a number between 0"):
        Settings.load(env={"RAG_MIN_COVERAGE": "1.5"})


def test_questions_split_into_two_fixed_halves(shared_dir):
    # The threshold is tuned on half 0 and checked on half 1: the split must not move between
    # runs or languages (XQuAD's ids are the same in every language) and must be near even.
    ids = [q.qid for q in load_squad(shared_dir / "eval" / "xquad" / "xquad.en.json").questions]
    halves = [calibration_half(qid) for qid in ids]
    assert set(halves) == {0, 1} and 0.45 < sum(halves) / len(halves) < 0.55
    # Pinned: the README's per-half figures were measured on this split.
    pinned = ["56f8720eaef237190062608f", "56f8094aa6d7ea1400e17391", "572ff673b2c2fd1400568669"]
    assert [calibration_half(qid) for qid in pinned] == [0, 0, 1]
