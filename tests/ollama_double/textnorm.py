"""Text normalisation shared by the embedder and the extractive answerer."""

import re
import unicodedata
from functools import lru_cache

WORD_RE = re.compile(r"\w+")

_ENGLISH = """
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me
more most my myself no nor not now of off on once only or other our ours out over own same she
should so some such than that the their theirs them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you
your yours yourself
"""

_VIETNAMESE = """
và của là có các những được trong cho với này một để không người đã thì khi từ theo về như cũng
nhưng tại bị sẽ đến ra vào hay hoặc nào gì đó rất lại làm nên vì mà nhiều trên dưới sau trước
đang thế nếu còn chỉ hơn bởi ở nó họ chúng tôi bạn ai đây kia vậy thôi
"""

STOP_WORDS = frozenset(unicodedata.normalize("NFC", (_ENGLISH + _VIETNAMESE).casefold()).split())


def strip_accents(text: str) -> str:
    """Remove combining marks (and map đ/Đ to d/D) from text."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


STOP_FOLDED = frozenset(strip_accents(w) for w in STOP_WORDS)


def words(text: str) -> list[str]:
    """NFC-normalised, casefolded `\\w+` words of text."""
    return WORD_RE.findall(unicodedata.normalize("NFC", text).casefold())


@lru_cache(maxsize=65536)
def _content_form(word: str) -> str:
    folded = strip_accents(word)
    if len(folded) > 3 and folded.endswith("s") and not folded.endswith("ss"):
        folded = folded[:-1]
    return folded


def content_words(text: str) -> set[str]:
    """Accent-insensitive content words (stop words removed, plural -s stripped)."""
    out = set()
    for word in words(text):
        if word in STOP_WORDS or strip_accents(word) in STOP_FOLDED:
            continue
        out.add(_content_form(word))
    return out
