"""Which language a query is in, as far as retrieval and replies need to know.

Vietnamese is often typed without its accents ("nghi phep nam bao nhieu ngay"): no letter then
says its language; its function words do, and the shape of its words (nearly every one is a
syllable). Retrieval treats such a query as Vietnamese (syllable pairs in the keyword leg, the
dense leg discounted for an embedder that does not know it), and the reply is in Vietnamese.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag import lexical
from rag.prompts import is_vietnamese

# Folded, these are rarely English words; two of them outnumbering English stop words is the
# test. (English: "bao", "la", "se", "nay" are words, but not two of them in one short query.)
_VI_FOLDED = frozenset(
    {
        *("bao", "cac", "cho", "chung", "cua", "cung", "duoc", "gi", "hay", "hoac", "khi"),
        *("khong", "la", "nay", "nao", "nhieu", "nhung", "neu", "rat", "se", "tai", "thi"),
        *("trong", "voi", "nguoi", "nam", "ngay", "mot", "nhu", "vao"),
    }
)


# One Vietnamese syllable with its accents removed: onset, one to three vowels, coda. Most English
# words do not fit ("many", "leave", "how"); names are left out of the test (capitalised).
_SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(ch|ng|nh|[cmnpt])?"
)
_SYLLABLE_SHARE = 0.9  # XQuAD vi, accents removed: 98.5% told; XQuAD en and SciFact: none of 2,000
_SYLLABLE_WORDS = 3  # fewer lowercase words than this are too few to tell ("a bit" fits)


@lru_cache(maxsize=4096)  # one query is asked about by fusion, the keyword leg and the answer
def reads_vietnamese(text: str) -> bool:
    """True for Vietnamese, with its accents or without them."""
    if is_vietnamese(text):
        return True
    folded = {lexical.fold(w) for w in lexical.words(text)}
    vietnamese = len(folded & _VI_FOLDED)
    if vietnamese >= 2 and vietnamese > len(folded & lexical.STOP_WORDS):
        return True
    return text.isascii() and _syllables(text)


def _syllables(text: str) -> bool:
    """Nearly every lowercase word is a Vietnamese syllable."""
    lower = [w for w in re.findall(r"[A-Za-z]+", text) if w[0].islower()]
    if len(lower) < _SYLLABLE_WORDS:
        return False
    fits = sum(1 for w in lower if _SYLLABLE.fullmatch(w))
    return fits >= _SYLLABLE_SHARE * len(lower)


def query_language(query: str) -> str:
    """ "vi", "en" (ASCII letters only) or "" (another language or script) for a query."""
    if reads_vietnamese(query):
        return "vi"
    return "en" if all(ch.isascii() for ch in query if ch.isalpha()) else ""
