"""Split a Document's sections into sentence-aligned chunks that fit the embedder's budget."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.models import Chunk, Document

_WORD = re.compile(r"\w+")
_SYMBOL = re.compile(r"[^\w\s]")
# A sentence ends at . ! ? … (and their Arabic/Devanagari/CJK forms, closing quotes included)
# followed by white space, or at a blank line; CJK full stops need no space after them.
_SENTENCE_END = re.compile(r"[.!?…؟۔।][\"'”’»)\]]*\s+|[。！？｡]+[」』”’)）]*\s*|\n[ \t]*\n\s*")
_LINE_END = re.compile(r"\n+")
_SPACE = re.compile(r"\s+")
_MARKER_CHARS = 4  # "12. " or "M. " ends with a full stop but starts a sentence


@dataclass(frozen=True)
class _Unit:
    text: str  # with the white space that followed it, so joining units restores the text
    tokens: int
    whole: bool  # a complete sentence (only those may be repeated as overlap)


def estimate_tokens(text: str) -> int:
    """A conservative estimate of the WordPiece tokens (nomic-embed-text) in text."""
    total = len(_SYMBOL.findall(text))
    for word in _WORD.findall(text):
        total += _word_tokens(word)
    return total


def _word_tokens(word: str) -> int:
    # Measured against bert-base-uncased on the test corpus: English words average about one
    # piece, long numbers 0.6 per digit, hex/base64 0.75 per character, accented Latin
    # (Vietnamese, French) one per two letters, other scripts (CJK, Greek, Arabic) one per letter.
    size = len(word)
    if word.isascii():
        if size <= 4 or word.isalpha():
            return (size + 2) // 3
        return (3 * size + 4) // 5 if word.isdigit() else (3 * size + 3) // 4
    if all(ch < "\u0250" or "\u1e00" <= ch < "\u1f00" for ch in word):
        return (size + 1) // 2
    return size


def chunk_document(
    doc: Document, doc_id: str, max_tokens: int = 400, overlap_tokens: int = 50
) -> list[Chunk]:
    """Split each section into chunks of at most max_tokens, overlapping by whole sentences."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
    overlap = max(0, min(overlap_tokens, max_tokens // 2))  # overlap must leave room for news
    chunks: list[Chunk] = []
    for section in doc.sections:
        for text in split_text(section.text, max_tokens, overlap):
            index = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{doc_id}:{doc.sha256[:12]}:{index:05d}",
                    doc_id=doc_id,
                    source=doc.source,
                    index=index,
                    text=text,
                    tokens=estimate_tokens(text),
                    page=section.page,
                    page_label=section.page_label,
                    heading=" > ".join(section.heading),
                )
            )
    return chunks


def split_text(text: str, max_tokens: int, overlap_tokens: int = 0) -> list[str]:
    """Pack sentences into pieces of at most max_tokens, each starting with overlap."""
    pieces: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in _units(text, max_tokens):
        if current and size + unit.tokens > max_tokens:
            pieces.append(current)
            current = _tail(current, min(overlap_tokens, max_tokens - unit.tokens))
            size = sum(u.tokens for u in current)
        current.append(unit)
        size += unit.tokens
    if current:
        pieces.append(current)
    out = []
    for piece in pieces:
        joined = "".join(u.text for u in piece).strip()
        if estimate_tokens(joined) <= max_tokens:
            out.append(joined)
        else:  # sums of unit estimates bound the whole, except across a hard-split word
            out.extend(part.strip() for part in _hard_split(joined, max_tokens))
    return [piece for piece in out if piece]


def _tail(units: list[_Unit], budget: int) -> list[_Unit]:
    """The trailing whole sentences of units that together fit in budget."""
    taken: list[_Unit] = []
    used = 0
    for unit in reversed(units):
        if not unit.whole or used + unit.tokens > budget:
            break
        taken.append(unit)
        used += unit.tokens
    return taken[::-1]


def _units(text: str, max_tokens: int) -> list[_Unit]:
    units = []
    for sentence in _join_markers(_split_after(text, _SENTENCE_END)):
        tokens = estimate_tokens(sentence)
        if tokens == 0:
            continue  # white space only: nothing to embed
        if tokens <= max_tokens:
            units.append(_Unit(sentence, tokens, whole=True))
        else:
            units.extend(
                _Unit(p, estimate_tokens(p), whole=False) for p in _fit(sentence, max_tokens)
            )
    return units


def _join_markers(sentences: list[str]) -> list[str]:
    """Glue list markers and initials ("1. ", "M. ") to the sentence they start."""
    out: list[str] = []
    carry = ""
    for sentence in sentences:
        if len(sentence.strip()) < _MARKER_CHARS:
            carry += sentence
        else:
            out.append(carry + sentence)
            carry = ""
    if carry:
        out.append(carry)
    return out


def _fit(text: str, max_tokens: int) -> list[str]:
    """Cut an over-long sentence at line breaks, then spaces, then inside words."""
    if estimate_tokens(text) <= max_tokens:
        return [text]
    for pattern in (_LINE_END, _SPACE):
        parts = _split_after(text, pattern)
        if len(parts) > 1:
            return [piece for part in parts for piece in _fit(part, max_tokens)]
    return _hard_split(text, max_tokens)


def _split_after(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Cut text after each match of pattern, keeping every character."""
    parts = []
    start = 0
    for match in pattern.finditer(text):
        if match.end() > start and match.end() < len(text):
            parts.append(text[start : match.end()])
            start = match.end()
    parts.append(text[start:])
    return [part for part in parts if part]


def _hard_split(text: str, max_tokens: int) -> list[str]:
    """Cut text (e.g. a base64 blob) into the longest prefixes that fit max_tokens."""
    pieces = []
    while text:
        low, high = 1, len(text)  # one character always fits: it counts as at most one token
        while low < high:
            mid = (low + high + 1) // 2
            if estimate_tokens(text[:mid]) <= max_tokens:
                low = mid
            else:
                high = mid - 1
        pieces.append(text[:low])
        text = text[low:]
    return pieces
