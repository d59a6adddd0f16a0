"""Hybrid retrieval end to end: real files, the Ollama double, real Chroma (both modes)."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.run import ingest_paths
from rag import lexical
from rag.embedders import embedder
from rag.errors import BadRequest
from rag.filters import Filters, since_iso, source_matches
from rag.kb import KnowledgeBase
from rag.retrieve import DEFAULT_MIN_SCORE, dense_search, retrieve, rrf
from tests.conftest import REPO

SAMPLES = REPO / "data"
LEAVE_VI = "Mỗi nhân viên toàn thời gian được hưởng 18 ngày nghỉ phép"
NOTHING = "quantum chromodynamics lattice gauge"
HOSTILE = '"AND OR NOT (*) ^ :'
EXPLAIN_KEYS = {"dense_rank", "dense_score", "keyword_rank", "keyword_score", "fused_score"}
# The double's cosines are far below nomic-embed-text's (related ~0.15-0.5, unrelated <= 0.12):
# tests of the dense floor use a floor on its scale.
DOUBLE_FLOOR = 0.13


@pytest.fixture()
def docs(tmp_path) -> Path:
    """A private copy of the sample knowledge base."""
    target = tmp_path / "docs"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("chroma*", "*.sqlite3*"))
    return target


@pytest.fixture()
def loaded(kb, docs):
    """The sample docs ingested into the test's collection; returns (kb, collection, docs)."""
    report = ingest_paths(kb, kb.settings.collection, [str(docs)])
    assert report.ok and len(report.added) == 5, report.to_dict()
    return kb, kb.settings.collection, docs


def keyword_sources(kb: KnowledgeBase, collection: str, query: str) -> set[str]:
    """Sources the keyword leg alone returns for a query."""
    result = retrieve(kb, collection, query, 10, mode="keyword")
    return {h.source for h in result.candidates}


# -- pure parts ----------------------------------------------------------------------------------


def test_rrf_matches_a_hand_computed_example():
    # Dense ranks a, b, c; keyword ranks c, a, d (k = 60).
    fused = {
        "a": rrf((1, 2), k=60),
        "b": rrf((2, None), k=60),
        "c": rrf((3, 1), k=60),
        "d": rrf((None, 3), k=60),
    }
    assert fused["a"] == pytest.approx(123 / 3782)  # 1/61 + 1/62 = 0.0325225
    assert fused["c"] == pytest.approx(124 / 3843)  # 1/63 + 1/61 = 0.0322665
    assert fused["b"] == pytest.approx(1 / 62)  # 0.0161290
    assert fused["d"] == pytest.approx(1 / 63)  # 0.0158730
    assert sorted(fused, key=fused.__getitem__, reverse=True) == ["a", "c", "b", "d"]
    assert rrf((None, None)) == 0.0
    assert rrf((1,), k=0) == 1.0
    assert rrf((1, 2), k=0, weights=(0.5, 1.0)) == pytest.approx(1.0)  # 0.5/1 + 1/2


def test_filters_from_dict_accepts_strings_lists_and_aliases():
    filters = Filters.from_dict(
        {"source": "*.md", "kind": ["PDF", ".markdown", "htm"], "ingested_after": "2026-11-26"}
    )
    assert filters.sources == ["*.md"]
    assert filters.kinds == ["pdf", "md", "html"]
    assert filters.ingested_after == datetime(2026, 11, 26)
    assert not filters.is_empty()
    assert Filters.from_dict(None).is_empty() and Filters.from_dict({}).is_empty()
    assert Filters.from_dict({"source": None, "kind": None}).is_empty()
    moment = Filters.from_dict({"ingested_after": "2026-11-26T09:30:00+07:00"}).ingested_after
    assert moment is not None and since_iso(moment) == "2026-11-26T02:30:00Z"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sources": "*.md"}, "unknown filter 'sources'"),
        ({"kind": "odt"}, "unknown kind 'odt'"),
        ({"kind": 3}, "filter 'kind' must be a string or a list of strings"),
        ({"source": ["a.md", 1]}, "filter 'source' must be a string or a list of strings"),
        ({"source": " "}, "filter 'source' must not be empty"),
        ({"ingested_after": "yesterday"}, "must be an ISO date or datetime"),
        ({"ingested_after": 1700000000}, "must be an ISO date or datetime"),
        (["kind"], "filters must be an object"),
    ],
)
def test_bad_filters_are_refused_with_a_clear_message(data, message):
    with pytest.raises(BadRequest, match=message):
        Filters.from_dict(data)


def test_source_patterns_match_absolute_paths_globs_and_relative_suffixes():
    source = "/srv/kb/docs/handbook.md"
    for pattern in (
        source,
        "/srv/kb/docs",
        "/srv/kb/",
        "/srv/*/handbook.md",
        "/srv/*.md",
        "handbook.md",
        "docs/handbook.md",
        "./docs/handbook.md",
        "*.md",
        "docs/*.md",
        "docs",
        "hand*",
    ):
        assert source_matches(source, pattern), pattern
    for pattern in ("book.md", "Handbook.md", "/kb/docs/handbook.md", "*.pdf", "other/*", "/srv/k"):
        assert not source_matches(source, pattern), pattern


def test_since_iso_is_utc_and_rounds_up_to_whole_seconds():
    assert since_iso(datetime(2026, 1, 2)) == "2026-01-02T00:00:00Z"
    assert since_iso(datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)) == "2026-01-02T03:04:06Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "  "}, "the query is empty"),
        ({"top_k": 0}, "top_k must be a positive whole number"),
        ({"mode": "fuzzy"}, "unknown search mode 'fuzzy'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    args = {"kb": None, "collection": "c", "query": "leave", **kwargs}
    with pytest.raises(BadRequest, match=message):
        retrieve(**args)


# -- against the sample knowledge base -----------------------------------------------------------


def test_hybrid_hits_the_chunk_whose_words_the_question_uses(loaded):
    kb, collection, docs = loaded
    result = retrieve(kb, collection, "How many days of annual leave?", 3, explain=True)
    assert result.reason is None
    top = result.hits[0]
    assert (top.source, top.heading) == (
        str(docs / "handbook.md"),
        "Acme Robotics employee handbook > Time off > Annual leave",
    )
    assert "18 days" in top.text
    assert set(top.explain or {}) == EXPLAIN_KEYS
    assert result.candidates[0].chunk_id == top.chunk_id
    assert set(result.timings) == {"embed", "dense", "keyword", "fuse", "total"}

    result = retrieve(kb, collection, "nghỉ phép năm bao nhiêu ngày", 3)
    assert result.hits[0].source == str(docs / "quy-dinh-lam-viec.md")
    assert LEAVE_VI in result.hits[0].text

    result = retrieve(kb, collection, "Error E7 dust bin missing", 3)
    assert (result.hits[0].source, result.hits[0].page) == (str(docs / "r2-user-manual.pdf"), 3)


def test_explain_is_consistent_with_both_legs(loaded):
    kb, collection, _ = loaded
    query = "How many days of annual leave?"
    result = retrieve(kb, collection, query, 5, explain=True)
    dense = retrieve(kb, collection, query, 50, mode="dense")
    keyword = retrieve(kb, collection, query, 50, mode="keyword")
    dense_rank = {h.chunk_id: (n, h.score) for n, h in enumerate(dense.candidates, 1)}
    keyword_rank = {h.chunk_id: (n, h.score) for n, h in enumerate(keyword.candidates, 1)}
    both = 0
    for hit in result.candidates:
        why = hit.explain or {}
        assert (why["dense_rank"], why["dense_score"]) == dense_rank.get(hit.chunk_id, (None, None))
        assert (why["keyword_rank"], why["keyword_score"]) == keyword_rank.get(
            hit.chunk_id, (None, None)
        )
        assert hit.score == why["fused_score"] == rrf((why["dense_rank"], why["keyword_rank"]))
        both += why["dense_rank"] is not None and why["keyword_rank"] is not None
    assert both >= 1
    top = result.hits[0].explain or {}
    assert (top["dense_rank"], top["keyword_rank"]) == (1, 1)
    assert top["keyword_score"] > 0
    assert retrieve(kb, collection, query, 3).hits[0].explain is None


def test_vietnamese_typed_without_diacritics_is_found_by_the_keyword_leg(loaded):
    kb, collection, docs = loaded
    keyword = retrieve(kb, collection, "nghi phep nam", 3, mode="keyword")
    assert keyword.reason is None
    assert keyword.hits[0].heading.endswith("Nghỉ phép năm")
    assert LEAVE_VI in keyword.hits[0].text

    hybrid = retrieve(kb, collection, "nghi phep nam", 3, explain=True)
    leave = [h for h in hybrid.hits if LEAVE_VI in h.text]
    assert len(leave) == 1 and (leave[0].explain or {})["keyword_rank"] == 1

    # "đ" is no diacritic to unicode61: "duoc ho tro" still finds "được hỗ trợ".
    support = retrieve(kb, collection, "duoc ho tro tieng Viet", 3, mode="keyword")
    assert support.hits[0].source == str(docs / "support-faq.html")


def test_french_and_german_diacritics_match(kb, tmp_path):
    folder = tmp_path / "eu"
    folder.mkdir()
    (folder / "reglement.md").write_text(
        "# Règlement intérieur\n\nChaque élève reçoit un délai de préavis avant la fête de Noël.\n",
        encoding="utf-8",
    )
    (folder / "hausordnung.txt").write_text(
        "Die Übungsräume in der Königstraße öffnen um acht Uhr. Größere Gruppen melden sich an.\n",
        encoding="utf-8",
    )
    collection = kb.settings.collection
    assert ingest_paths(kb, collection, [str(folder)]).ok
    french, german = str(folder / "reglement.md"), str(folder / "hausordnung.txt")
    for query in ("eleve delai preavis", "règlement intérieur", "NOEL fete"):
        assert keyword_sources(kb, collection, query) == {french}, query
        assert retrieve(kb, collection, query, 1).hits[0].source == french, query
    for query in ("ubungsraume offnen", "Übungsräume", "Königstraße", "konigstrasse", "GROSSERE"):
        assert keyword_sources(kb, collection, query) == {german}, query
        assert retrieve(kb, collection, query, 1).hits[0].source == german, query


def test_a_question_about_nothing_in_the_corpus_is_refused_with_candidates(loaded):
    kb, collection, _ = loaded
    for mode in ("hybrid", "dense", "keyword"):
        for floor in (None, DOUBLE_FLOOR):
            result = retrieve(kb, collection, NOTHING, 3, mode=mode, min_score=floor)
            assert (result.reason, result.hits) == ("nothing_relevant", []), (mode, floor)
            if mode != "keyword":
                assert len(result.candidates) == 3
    # Stop words alone never vouch for relevance, though they still rank candidates.
    result = retrieve(kb, collection, "what is the", 3, mode="keyword")
    assert (result.reason, result.hits) == ("nothing_relevant", [])
    assert result.candidates


def test_the_dense_floor_is_min_score(loaded):
    kb, collection, docs = loaded
    query = "How many days of annual leave?"
    strict = retrieve(kb, collection, query, 3, mode="dense")
    assert strict.candidates[0].score < DEFAULT_MIN_SCORE  # the double scores low
    assert (strict.reason, strict.hits) == ("nothing_relevant", [])
    assert strict.candidates[0].source == str(docs / "handbook.md")
    loose = retrieve(kb, collection, query, 3, mode="dense", min_score=DOUBLE_FLOOR)
    assert loose.reason is None
    assert [h.score for h in loose.hits] == [
        h.score for h in loose.candidates if h.score >= DOUBLE_FLOOR
    ]
    # The keyword leg vouches for the same chunk under the default floor.
    assert retrieve(kb, collection, query, 3).hits[0].chunk_id == strict.candidates[0].chunk_id
    # Without an argument the floor is the RAG_MIN_SCORE setting, by default the embedder's.
    assert embedder(kb.settings).min_score == DEFAULT_MIN_SCORE
    kb.settings = kb.settings.with_(min_score=DOUBLE_FLOOR)
    assert retrieve(kb, collection, query, 3, mode="dense").hits == loose.hits


def test_an_empty_collection_has_no_documents(kb):
    for mode in ("hybrid", "dense", "keyword"):
        result = retrieve(kb, kb.settings.collection, "annual leave", 3, mode=mode)
        assert (result.hits, result.candidates, result.reason) == ([], [], "no_documents")
        assert result.timings["total"] >= 0
    assert dense_search(kb, kb.settings.collection, "annual leave", 3) == []


def test_filters_narrow_every_leg(loaded):
    kb, collection, docs = loaded
    query = "annual leave days warranty battery"
    for mode in ("hybrid", "dense", "keyword"):
        only_md = retrieve(kb, collection, query, 10, Filters(sources=["*.md"]), mode=mode)
        assert {Path(h.source).suffix for h in only_md.candidates} == {".md"}, mode
        pdf = retrieve(kb, collection, "robot dock", 10, Filters(kinds=["pdf"]), mode=mode)
        assert {h.source for h in pdf.candidates} == {str(docs / "r2-user-manual.pdf")}, mode
        named = Filters.from_dict({"source": "support-faq.html"})
        faq = retrieve(kb, collection, "warranty battery", 10, named, mode=mode)
        assert {h.source for h in faq.candidates} == {str(docs / "support-faq.html")}, mode
        assert faq.reason == ("nothing_relevant" if mode == "dense" else None), mode

    both = Filters(sources=[str(docs / "handbook.md"), "release-*"], kinds=["txt"])
    result = retrieve(kb, collection, "battery firmware", 5, both)
    assert {h.source for h in result.candidates} == {str(docs / "release-notes.txt")}

    future = Filters(ingested_after=datetime.now(UTC) + timedelta(days=1))
    assert retrieve(kb, collection, query, 5, future).reason == "no_documents"
    nothing = Filters(sources=["nope/*.md"])
    assert retrieve(kb, collection, query, 5, nothing).reason == "no_documents"
    past = Filters.from_dict({"ingested_after": "2000-01-01"})
    assert [h.chunk_id for h in retrieve(kb, collection, query, 5, past).candidates] == [
        h.chunk_id for h in retrieve(kb, collection, query, 5).candidates
    ]


def test_keyword_index_follows_update_delete_and_prune(loaded):
    kb, collection, docs = loaded
    handbook = docs / "handbook.md"
    assert keyword_sources(kb, collection, "probation") == {str(handbook)}
    text = handbook.read_text(encoding="utf-8")
    handbook.write_text(text.replace("probation period", "trial stint"), encoding="utf-8")
    assert ingest_paths(kb, collection, [str(docs)]).updated == [str(handbook)]
    assert keyword_sources(kb, collection, "probation") == set()
    assert keyword_sources(kb, collection, "stint") == {str(handbook)}

    kb.delete_document(collection, str(docs / "support-faq.html"))
    assert keyword_sources(kb, collection, "warranty refund") == set()

    (docs / "release-notes.txt").unlink()
    assert ingest_paths(kb, collection, [str(docs)], prune=True).removed == [
        str(docs / "release-notes.txt")
    ]
    assert keyword_sources(kb, collection, "firmware decibels") == set()
    assert keyword_sources(kb, collection, "annual leave") == {str(handbook)}


def test_fts_hostile_queries_do_not_error(loaded):
    kb, collection, _ = loaded
    for query in (HOSTILE, "NEAR(leave days, 2)", "leave* OR", "-^", "annual:leave"):
        for mode in ("hybrid", "dense", "keyword"):
            result = retrieve(kb, collection, query, 3, mode=mode)
            assert result.reason in (None, "nothing_relevant"), (query, mode)
    result = retrieve(kb, collection, "annual:leave (days)", 3, mode="keyword")
    assert result.hits and "Annual leave" in result.hits[0].heading


def test_a_catalog_from_before_the_keyword_index_is_indexed_on_open(settings, docs):
    collection = settings.collection
    with KnowledgeBase(settings) as kb:
        ingest_paths(kb, collection, [str(docs)])
    db = sqlite3.connect(settings.catalog_path)
    for trigger in ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute(f"DROP TABLE {lexical.FTS_TABLE}")
    db.commit()
    db.close()

    with KnowledgeBase(settings) as kb:
        result = retrieve(kb, collection, "nghi phep nam", 3, mode="keyword")
        assert result.hits and LEAVE_VI in result.hits[0].text


def test_dense_search_still_returns_the_nearest_chunks(loaded):
    kb, collection, docs = loaded
    hits = dense_search(kb, collection, NOTHING, 3)
    assert len(hits) == 3  # no floor here: the caller asked for the nearest
    hit = dense_search(kb, collection, "How many days of annual leave?", 3)[0]
    assert hit.source == str(docs / "handbook.md") and hit.explain is None
    assert 0 < hit.score < 1


def test_the_dense_fetch_is_sized_to_the_filter_and_widened_once(kb, tmp_path, monkeypatch):
    for folder, text in (
        ("a", "Invoice {n}: the accountant files taxes."),
        ("b", "Room {n} has a projector."),
    ):
        (tmp_path / folder).mkdir()
        for n in range(10):
            (tmp_path / folder / f"{n}.txt").write_text(text.format(n=n), encoding="utf-8")
    collection = kb.settings.collection
    assert ingest_paths(kb, collection, [str(tmp_path / "a"), str(tmp_path / "b")]).ok
    monkeypatch.setattr("rag.retrieve.FETCH_MIN", 1)  # so top_k=1 fetches 4 of the 20 chunks
    asked: list[int] = []
    real_query = kb.store.query

    def spy(kb_name, model, vector, n):
        asked.append(n)
        return real_query(kb_name, model, vector, n)

    monkeypatch.setattr(kb.store, "query", spy)
    query = "which room has a projector"
    # Half the chunks allowed: 2·top_k·20/10 = 4 expected to hold one; all 4 are rooms: widen.
    invoices = retrieve(kb, collection, query, 1, Filters(sources=["a"]), mode="dense")
    assert asked == [4, 16]
    assert Path(invoices.candidates[0].source).parent == tmp_path / "a"
    # One document of 20 allowed: the first fetch is sized for it (2·1·20/1 = 40), no widening.
    asked.clear()
    one = retrieve(kb, collection, query, 1, Filters(sources=["a/3.txt"]), mode="dense")
    assert asked == [40]
    assert [h.source for h in one.candidates] == [str(tmp_path / "a" / "3.txt")]
