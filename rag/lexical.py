"""The keyword index: SQLite FTS5 over the catalog's chunks, its tokenizer and query building.

The index is two external-content FTS5 tables over `chunks` (text + heading): the words as
written, and the same through the porter stemmer for English queries (see table_for). Triggers on
`chunks` keep it in sync, so every catalog write (ingest, update, delete, prune, drop) changes
it in the same transaction and nothing ever rebuilds it per query. BM25 statistics are shared
by all collections of a catalog; the collection is a filter on the join, not a separate index.

Matching is Unicode-aware: text and query are NFC, case-folded, and FTS5's `unicode61
remove_diacritics 2` folds accents, so "nghi phep nam" finds "nghỉ phép năm" and "eleve"
finds "élève". unicode61 does not fold "đ" or "ß", so queries also try "đ…" for a word that
starts with "d" (Vietnamese đ only ever starts a syllable) and "ß" for "ss".

A query is its words, each quoted as an FTS5 string (so no user input is ever FTS syntax), ORed
and ranked by bm25(); stop words are left out unless there is nothing else, and so are words in
half the rows or more, whose bm25 weight is ~0 but whose rows cost the most to score.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from typing import Any

FTS_TABLE = "chunks_fts"  # words as written (diacritics folded): every language
STEM_TABLE = "chunks_fts_en"  # the same words through FTS5's porter stemmer: English queries
MAX_TERMS = 32  # a pasted page must not become a 500-term OR query
TOKENIZE = "unicode61 remove_diacritics 2"
TABLES = {FTS_TABLE: TOKENIZE, STEM_TABLE: f"porter {TOKENIZE}"}


def _create(table: str) -> str:
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(text, heading, "
        f"content='chunks', content_rowid='rowid', tokenize='{TABLES[table]}')"
    )


def _triggers(table: str) -> dict[str, str]:
    insert = f"INSERT INTO {table} (rowid, text, heading) VALUES (new.rowid, new.text, new.heading)"
    delete = (
        f"INSERT INTO {table} ({table}, rowid, text, heading) "
        "VALUES ('delete', old.rowid, old.text, old.heading)"
    )
    return {
        f"{table}_insert": f"CREATE TRIGGER IF NOT EXISTS {table}_insert AFTER INSERT ON chunks "
        f"BEGIN {insert}; END",
        f"{table}_delete": f"CREATE TRIGGER IF NOT EXISTS {table}_delete AFTER DELETE ON chunks "
        f"BEGIN {delete}; END",
        # Nothing updates chunk rows today; this keeps the index right if something ever does.
        f"{table}_update": f"CREATE TRIGGER IF NOT EXISTS {table}_update AFTER UPDATE ON chunks "
        f"BEGIN {delete}; {insert}; END",
    }


# Same columns, same order as Catalog.chunks_by_ids, plus the bm25 value last.
_SEARCH = (
    "SELECT c.chunk_id, c.doc_id, c.idx, c.source, c.text, c.heading, c.page, c.page_label, "
    "bm25({t}) FROM {t} JOIN chunks c ON c.rowid = {t}.rowid "
    "WHERE {t} MATCH ? AND c.collection = ?"
)

# \w without "_": unicode61 splits on underscores, so the two sides tokenize alike.
WORD_RE = re.compile(r"[^\W_]+")
# The combining-mark blocks; a regex strips them in one C-speed pass (a per-character
# unicodedata.combining loop made the relevance check the slowest part of a keyword query).
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
STOP_WORDS = frozenset(
    unicodedata.normalize(
        "NFC",
        """
    a about after all also am an and any are as at be been but by can could did do does for from
    had has have how i if in into is it its me my no not of on or our so than that the their them
    then there these they this those to was we were what when where which who whom why will with
    would you your
    au aux avec ce ces combien comment dans de des du elle en est et il ils je la le les leur mais
    ne nous ou où par pas pour quand que quel quelle quels quelles qui se sont sur un
    une vous
    am an auf aus bei das dem den der des die ein eine einem einen einer eines es für ich im
    ist mit nicht oder sie sind und von was welche welcher welches wer wie wo zu
    bao các có cho chúng của cũng đã đây để đó được gì hay hoặc khi không là mà này nào
    nhiêu những nếu ở ra rất sẽ tại thì trong và về với
    """,
    ).split()
)


def install(db: sqlite3.Connection) -> bool:
    """Create the indexes and triggers that are missing, indexing existing chunks; True if built.

    A catalog from before an index (or one whose triggers were lost) is migrated here, once:
    the missing table is created and rebuilt from `chunks`.
    """
    if not _missing(db):
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        missing = _missing(db)  # another process may have built them while we waited
        for table in missing:
            db.execute(_create(table))
            for sql in _triggers(table).values():
                db.execute(sql)
            db.execute(f"INSERT INTO {table} ({table}) VALUES ('rebuild')")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return bool(missing)


def _missing(db: sqlite3.Connection) -> list[str]:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    return [t for t in TABLES if t not in names or not set(_triggers(t)) <= names]


def table_for(terms: list[str]) -> str:
    """The index to search: stemmed for English (ASCII) queries, as written for the rest.

    Porter's rules are English: on Vietnamese they merge syllables that differ ("ngày" and
    "ngai"), on French or German they cut the wrong endings. Queries with accents search the
    unstemmed index, and so does Vietnamese typed without them, known by its syllable pairs
    (query_terms searches pairs only for those): porter would fold "ngay" into "ngai", "hay" into
    "hai". An ASCII query of single words reads as English.
    """
    english = all(t.isascii() and " " not in t for t in terms)
    return STEM_TABLE if english else FTS_TABLE


def search(
    db: sqlite3.Connection,
    collection: str,
    terms: list[str],
    limit: int,
    doc_ids: Iterable[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows matching any of the terms, best first; the last column is bm25 (lower is better)."""
    table = table_for(terms)
    expression = match_expression(_weighty(db, table, terms))
    if expression is None:
        return []
    sql, params = _SEARCH.format(t=table), [expression, collection]
    if doc_ids is not None:
        # json_each takes any number of ids as one parameter (no 32766-variable limit).
        sql += " AND c.doc_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(doc_ids)))
    sql += f" ORDER BY bm25({table}) LIMIT ?"
    return db.execute(sql, (*params, limit)).fetchall()


def _weighty(db: sqlite3.Connection, table: str, terms: list[str]) -> list[str]:
    """The terms in some rows but fewer than half of them (all the terms if there are none).

    FTS5 gives a term found in half the rows or more an IDF of ~0, so it cannot change the order,
    yet scoring its rows is most of the cost of a query (170 ms for a term in 96% of 100k rows).
    """
    if len(terms) < 2:
        return terms
    rows = db.execute("SELECT COALESCE(SUM(chunks), 0) FROM documents").fetchone()[0]
    half = (rows + 1) // 2  # counting stops there: cheap even for the commonest term
    count = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)"
    found = {t: db.execute(count, (match_expression([t]), half)).fetchone()[0] for t in terms}
    return [t for t in terms if 0 < found[t] < half] or terms


def row_counts(db: sqlite3.Connection, terms: list[str]) -> tuple[int, dict[str, int]]:
    """(rows indexed, rows holding each term) over all collections, counted up to half the rows.

    Counting stops there because any term that common has almost no weight, and counting the
    rows of "the" would be the slowest part (see _weighty).
    """
    table = table_for(terms)
    rows = db.execute("SELECT COALESCE(SUM(chunks), 0) FROM documents").fetchone()[0]
    count = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)"
    half = max(1, (rows + 1) // 2)
    found = {t: db.execute(count, (match_expression([t]), half)).fetchone()[0] for t in terms}
    return rows, found


def words(text: str) -> list[str]:
    """NFC, case-folded words of text (letters and digits; underscores split)."""
    return WORD_RE.findall(unicodedata.normalize("NFC", text).casefold())


def fold(text: str) -> str:
    """Text without diacritics ("đ" becomes "d"), for comparing words as unicode61 does."""
    if text.isascii():
        return text
    return _MARKS.sub("", unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D")))


def query_terms(query: str, pairs: bool | None = None) -> tuple[list[str], list[str]]:
    """(words to search for, content words) of a query, distinct, in order.

    Stop words are searched for only when the query has nothing else; they never count as
    content, so a query like "the" can rank chunks but never vouch for their relevance. With
    `pairs` (by default: a query with non-ASCII letters) adjacent word pairs are searched too,
    as phrases.
    """
    found = words(query)
    seen = list(dict.fromkeys(found))
    content = [w for w in seen if w not in STOP_WORDS][:MAX_TERMS]
    if content and (not query.isascii() if pairs is None else pairs):
        # Vietnamese words are one to three syllables ("nghỉ phép" is one word): adjacent pairs
        # as FTS5 phrases find them (XQuAD vi keyword nDCG@10 0.944 -> 0.960). English queries
        # lose with pairs (0.966 -> 0.958), so they get single words only.
        return list(dict.fromkeys(content + word_pairs(found)))[: 2 * MAX_TERMS], content
    return content or seen[:MAX_TERMS], content


def word_pairs(found: list[str]) -> list[str]:
    """Adjacent words as "a b" phrases, distinct, in order; pairs of two stop words left out."""
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(found) if not {a, b} <= STOP_WORDS]
    return list(dict.fromkeys(pairs))


def match_expression(terms: list[str]) -> str | None:
    """An FTS5 query ORing the terms, each quoted so user input is never FTS syntax."""
    if not terms:
        return None
    return " OR ".join(_quote(v) for term in terms for v in _variants(term))


def _variants(term: str) -> list[str]:
    out = [term]
    if term.startswith("d"):
        out.append("đ" + term[1:])
    if "ss" in term:
        out.append(term.replace("ss", "ß"))
    return out


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def matched_share(terms: list[str], text: str) -> float:
    """The share of the query terms that occur in text, ignoring case and diacritics."""
    if not terms:
        return 0.0
    wanted = [_fold_word(t) for t in terms]
    words = WORD_RE.findall(text.casefold())
    # ASCII: no word to fold, so the set is built in C (a Python loop was ~1 ms of each query);
    # otherwise word by word, cached (folding whole chunks cost ~1 ms each).
    present = set(words) if text.isascii() else {_fold_word(w) for w in words}
    return sum(w in present for w in wanted) / len(terms)


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    return fold(word)
