"""Whether the best retrieved chunk says enough about the question to ground an answer.

Dense scores cannot tell a chunk on the question's topic from one that holds its answer: on
XQuAD, questions on a held-out paragraph retrieve a sibling paragraph of the same article that
scores as high as the gold one. What differs is the question's *informative* words: the rare
ones ("plugs-out test", "interceptions") are in the paragraph that answers it and missing from
its siblings. So the signal is the idf-weighted share of the question's content terms found in
the top chunk (rag.lexical's terms, accents folded, English words lightly stemmed), with idf
from the keyword index's own row counts; for Vietnamese queries, whose words are one to three
syllables, it is the mean of that share over single syllables and over adjacent syllable pairs.
Only answers use it: search results are unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from functools import lru_cache

from rag import lexical
from rag.language import reads_vietnamese

_SUFFIXES = ("ing", "ed", "es", "s", "ly")
Counts = Callable[[list[str]], tuple[int, Mapping[str, int]]]  # terms -> (rows, rows per term)


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """(content words, adjacent word pairs) the coverage is measured on; pairs if Vietnamese."""
    found = lexical.words(query)
    content = [w for w in dict.fromkeys(found) if w not in lexical.STOP_WORDS]
    if not reads_vietnamese(query):
        return content[: lexical.MAX_TERMS], []
    return content[: lexical.MAX_TERMS], lexical.word_pairs(found)[: lexical.MAX_TERMS]


def coverage(query: str, text: str, counts: Counts) -> float:
    """The idf-weighted share of the query's content terms that text contains (0 to 1)."""
    words, pairs = query_terms(query)
    if not words:
        return 0.0
    rows, found = counts(words + pairs)
    present = _present(text)
    share = _share(words, present, rows, found)
    return (share + _share(pairs, present, rows, found)) / 2 if pairs else share


def idf(rows: int, containing: int) -> float:
    """BM25's inverse document frequency (never negative): rare terms weigh most."""
    return math.log(1 + (rows - containing + 0.5) / (containing + 0.5))


def _share(
    terms: list[str], present: set[tuple[str, ...]], rows: int, found: Mapping[str, int]
) -> float:
    weights = [(_key(term), idf(rows, found.get(term, 0))) for term in terms]
    total = sum(weight for _, weight in weights)
    return sum(weight for key, weight in weights if key in present) / total if total else 0.0


def _present(text: str) -> set[tuple[str, ...]]:
    """The text's normalised words and adjacent word pairs."""
    normal = [_normal(w) for w in lexical.words(text)]
    return {(w,) for w in normal} | set(itertools.pairwise(normal))


def _key(term: str) -> tuple[str, ...]:
    return tuple(_normal(w) for w in term.split())


@lru_cache(maxsize=65536)
def _normal(word: str) -> str:
    """Accents folded; an English (ASCII) word without its commonest inflection ("erupted")."""
    word = lexical.fold(word)
    if word.isascii():
        for suffix in _SUFFIXES:
            if len(word) > len(suffix) + 3 and word.endswith(suffix):
                return word[: -len(suffix)]
    return word
