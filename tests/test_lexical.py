"""The keyword index: tokenizer, query building, and FTS5 kept in step with the catalog."""

from __future__ import annotations

import sqlite3

import pytest

from rag import lexical
from rag.catalog import Catalog
from rag.catalog_rows import SCHEMA
from rag.models import Chunk, DocumentRecord

HOSTILE = [
    '"AND OR NOT (*) ^ :',
    'NEAR(a b, 2) "unterminated',
    "col:value -x +y {a b} [c] a*b",
    "' OR 1=1; DROP TABLE chunks; --",
    "AND",
    '""""',
    "^*:()",
    "e7 * ^ NEAR/3 OR",
]


def record(doc_id: str, source: str, kind: str = "md", at: str = "2026-01-01T00:00:00Z"):
    """A DocumentRecord for catalog tests."""
    return DocumentRecord(doc_id, source, "sha-" + doc_id, kind, 0, None, at)


def chunks(doc_id: str, source: str, texts: list[str], heading: str = "") -> list[Chunk]:
    """Chunks of one document, with ids like the chunker makes."""
    return [
        Chunk(f"{doc_id}:{n:05d}", doc_id, source, n, text, 10, heading=heading)
        for n, text in enumerate(texts)
    ]


def add(catalog: Catalog, collection: str, doc_id: str, texts: list[str], heading: str = ""):
    """Commit a document made of these chunk texts."""
    source = f"/docs/{doc_id}.md"
    catalog.commit(collection, record(doc_id, source), 1, chunks(doc_id, source, texts, heading))


def found(catalog: Catalog, query: str, collection: str = "kb", doc_ids=None) -> list[str]:
    """Chunk ids the keyword index returns for a user query, best first."""
    terms = lexical.query_terms(query)[0]
    return [row["chunk_id"] for row, _ in catalog.keyword_search(collection, terms, 10, doc_ids)]


@pytest.fixture()
def catalog(tmp_path):
    """A fresh catalog on disk."""
    opened = Catalog(tmp_path / "catalog.sqlite3")
    yield opened
    opened.close()


# -- tokenizer and query building ----------------------------------------------------------------


def test_words_are_nfc_casefolded_and_split_on_underscores():
    decomposed = "Nghi\u0309 phe\u0301p"  # combining marks, as some editors save Vietnamese
    assert lexical.words(decomposed) == ["nghỉ", "phép"]
    assert lexical.words("Straße ÉCOLE ssh_keygen e7-x") == [
        "strasse",
        "école",
        "ssh",
        "keygen",
        "e7",
        "x",
    ]


def test_fold_removes_diacritics_including_d_with_stroke():
    assert lexical.fold("được") == "duoc"
    assert lexical.fold("nghỉ") == "nghi"
    assert lexical.fold("élève") == "eleve"
    assert lexical.fold("übung") == "ubung"


def test_query_terms_drop_stop_words_unless_nothing_else_is_left():
    assert lexical.query_terms("How many days of annual leave?") == (
        ["many", "days", "annual", "leave"],
        ["many", "days", "annual", "leave"],
    )
    # Accented queries also search adjacent word pairs as phrases, except pairs of stop words.
    pairs = ["nghỉ phép", "phép năm", "năm bao", "nhiêu ngày"]
    assert lexical.query_terms("nghỉ phép năm bao nhiêu ngày") == (
        ["nghỉ", "phép", "năm", "ngày", *pairs],
        ["nghỉ", "phép", "năm", "ngày"],
    )
    assert lexical.query_terms("the THE to") == (["the", "to"], [])
    assert lexical.query_terms("?!") == ([], [])
    pasted = " ".join(f"word{n}" for n in range(100))
    assert lexical.query_terms(pasted)[0] == [f"word{n}" for n in range(lexical.MAX_TERMS)]


def test_match_expression_quotes_every_term_and_adds_d_stroke_and_sharp_s_variants():
    assert lexical.match_expression(["duoc", "strasse", "e7"]) == (
        '"duoc" OR "đuoc" OR "strasse" OR "straße" OR "e7"'
    )
    assert lexical.match_expression([]) is None


def test_matched_share_ignores_case_and_diacritics():
    text = "Mỗi nhân viên được hưởng 18 ngày nghỉ phép"
    assert lexical.matched_share(["nghi", "phep", "nam"], text) == pytest.approx(2 / 3)
    assert lexical.matched_share(["duoc", "huong"], text) == 1.0
    assert lexical.matched_share([], text) == 0.0


# -- the FTS5 index in the catalog ---------------------------------------------------------------


def test_vietnamese_french_and_german_match_with_or_without_diacritics(catalog):
    add(catalog, "kb", "vi", ["Mỗi nhân viên được hưởng 18 ngày nghỉ phép năm."])
    add(catalog, "kb", "fr", ["L'élève réservé fête Noël à l'école."])
    add(catalog, "kb", "de", ["Die Übung für Größe findet in der Straße statt."])
    for query in ("nghi phep nam", "NGHỈ PHÉP", "duoc huong", "được"):
        assert found(catalog, query) == ["vi:00000"], query
    for query in ("eleve reserve", "ÉCOLE", "noel", "Noël fête"):
        assert found(catalog, query) == ["fr:00000"], query
    for query in ("ubung", "Übung", "grosse", "Größe", "strasse", "STRASSE"):
        assert found(catalog, query) == ["de:00000"], query


def test_headings_are_indexed_too(catalog):
    add(catalog, "kb", "hb", ["Every employee gets 18 days."], heading="Handbook > Annual leave")
    assert found(catalog, "annual leave") == ["hb:00000"]


def test_scores_are_positive_and_best_first(catalog):
    add(catalog, "kb", "a", ["pump valve pump valve", "pump only here", "nothing", "more", "else"])
    rows = catalog.keyword_search("kb", ["pump", "valve"], 10)
    assert [row["chunk_id"] for row, _ in rows] == ["a:00000", "a:00001"]
    scores = [score for _, score in rows]
    assert scores[0] > scores[1] > 0


def test_terms_in_half_the_rows_are_not_searched_when_others_remain(catalog):
    # FTS5 gives such terms an IDF of ~0: they cannot change the order, only slow it down.
    add(catalog, "kb", "a", ["common rare", "common", "common", "other"])
    assert found(catalog, "common rare") == ["a:00000"]
    assert sorted(found(catalog, "common")) == ["a:00000", "a:00001", "a:00002"]
    assert sorted(found(catalog, "common other")) == ["a:00003"]
    assert sorted(found(catalog, "common commoner")) == ["a:00000", "a:00001", "a:00002"]


@pytest.mark.parametrize("query", HOSTILE)
def test_user_input_never_becomes_fts_syntax(catalog, query):
    add(catalog, "kb", "a", ["The AND gate, OR gate and NOT gate; see e7 near the top."])
    catalog.keyword_search("kb", lexical.query_terms(query)[0], 10)  # no OperationalError


def test_index_follows_commit_replace_remove_and_drop(catalog):
    add(catalog, "kb", "a", ["alpha bravo", "charlie"])
    add(catalog, "kb", "b", ["bravo delta"])
    assert sorted(found(catalog, "bravo")) == ["a:00000", "b:00000"]
    add(catalog, "kb", "a", ["echo foxtrot"])  # a new version of document a
    assert found(catalog, "alpha charlie") == []
    assert found(catalog, "foxtrot") == ["a:00000"]
    catalog.remove("kb", "b")
    assert found(catalog, "bravo delta") == []
    catalog.drop_collection("kb")
    assert found(catalog, "echo foxtrot") == []
    assert _integrity(catalog)


def test_collections_and_doc_filters_are_applied_in_sql(catalog):
    add(catalog, "kb", "a", ["shared word here"])
    add(catalog, "kb", "b", ["shared word there"])
    add(catalog, "other", "c", ["shared word elsewhere"])
    assert sorted(found(catalog, "shared")) == ["a:00000", "b:00000"]
    assert found(catalog, "shared", "other") == ["c:00000"]
    assert found(catalog, "shared", doc_ids={"b"}) == ["b:00000"]
    assert found(catalog, "shared", doc_ids=set()) == []


def test_an_old_catalog_without_the_index_is_indexed_once_on_open(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)  # the catalog schema from before the keyword index
    db.execute(
        "INSERT INTO chunks (collection, chunk_id, doc_id, idx, source, text, heading) "
        "VALUES ('kb', 'old:00000', 'old', 0, '/docs/old.md', 'legacy élève text', 'Old')"
    )
    db.commit()
    db.close()

    catalog = Catalog(path)
    try:
        assert found(catalog, "eleve") == ["old:00000"]
        assert lexical.install(catalog._db) is False  # already complete: no second rebuild
        add(catalog, "kb", "new", ["fresh eleve text"])
        assert sorted(found(catalog, "eleve")) == ["new:00000", "old:00000"]
        assert _integrity(catalog)
    finally:
        catalog.close()


def test_lost_triggers_are_recreated_and_the_index_rebuilt(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite3")
    catalog._db.execute("DROP TRIGGER chunks_fts_insert")
    add(catalog, "kb", "a", ["written while the trigger was missing"])
    catalog.close()
    catalog = Catalog(tmp_path / "c.sqlite3")
    try:
        assert found(catalog, "trigger missing") == ["a:00000"]
        assert _integrity(catalog)
    finally:
        catalog.close()


def _integrity(catalog: Catalog) -> bool:
    """FTS5's own check that the index matches the content table (raises if corrupt)."""
    catalog._db.execute(
        f"INSERT INTO {lexical.FTS_TABLE} ({lexical.FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
    )
    return True


# -- stemming ------------------------------------------------------------------------------------


def test_english_queries_match_other_forms_of_their_words(catalog):
    add(catalog, "kb", "en", ["The robots were docking while the batteries charged."])
    for query in ("robot docks", "battery charging", "DOCKED ROBOT"):
        assert found(catalog, query) == ["en:00000"], query


def test_vietnamese_queries_are_not_stemmed(catalog):
    # Porter turns a final y into i, which would make "ngày" (day) match "ngai" (throne).
    add(catalog, "kb", "day", ["Mười tám ngày nghỉ phép."])
    add(catalog, "kb", "throne", ["Ngai vàng của nhà vua."])
    assert found(catalog, "ngày nghỉ") == ["day:00000"]
    assert found(catalog, "ngai vàng") == ["throne:00000"]
    assert lexical.table_for(["ngày"]) == lexical.FTS_TABLE
    assert lexical.table_for(["robots"]) == lexical.STEM_TABLE


def test_vietnamese_typed_without_accents_is_not_stemmed_either(catalog):
    # Searched with its syllable pairs (as retrieve does for it), so porter's y -> i never applies.
    add(catalog, "kb", "day", ["Mười tám ngày nghỉ phép."])
    add(catalog, "kb", "throne", ["Ngai vàng của nhà vua."])
    terms = lexical.query_terms("ngay nghi phep", pairs=True)[0]
    assert "ngay nghi" in terms and lexical.table_for(terms) == lexical.FTS_TABLE
    rows = catalog.keyword_search("kb", terms, 10)
    assert [row["chunk_id"] for row, _ in rows] == ["day:00000"]


def test_a_catalog_from_before_the_stemmed_index_gets_it_on_open(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite3")
    add(catalog, "kb", "a", ["The robots were docking."])
    for name in ("insert", "delete", "update"):
        catalog._db.execute(f"DROP TRIGGER {lexical.STEM_TABLE}_{name}")
    catalog._db.execute(f"DROP TABLE {lexical.STEM_TABLE}")
    catalog.close()
    catalog = Catalog(tmp_path / "c.sqlite3")
    try:
        assert found(catalog, "robot dock") == ["a:00000"]
        catalog._db.execute(
            f"INSERT INTO {lexical.STEM_TABLE} ({lexical.STEM_TABLE}, rank) "
            "VALUES ('integrity-check', 1)"
        )
    finally:
        catalog.close()
