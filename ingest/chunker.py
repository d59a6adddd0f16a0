"""Split a Document's sections into sentence-aligned chunks that fit the embedder's budget."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.models import Chunk, Document
from rag.tokens import estimate_tokens

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


HEADING_CHARS = 200  # of the heading path prepended to each chunk when embedding


def embed_heading(heading: str) -> str:
    """The heading line the embedder sees before a chunk's text ("" for none)."""
    return heading[:HEADING_CHARS]


def section_budget(heading: str, max_tokens: int, room: int | None) -> int:
    """Tokens of text a chunk under heading may hold: max_tokens, less if the window is full."""
    if room is None:
        return max_tokens
    line = embed_heading(heading)
    used = estimate_tokens(line) + 1 if line else 0  # +1: the newline after it
    # A heading that would eat most of the window still leaves a useful amount of text.
    return max(1, min(max_tokens, max(room - used, room // 2)))


def chunk_document(
    doc: Document,
    doc_id: str,
    max_tokens: int = 400,
    overlap_tokens: int = 50,
    room: int | None = None,
) -> list[Chunk]:
    """Split each section into chunks of at most max_tokens, overlapping by whole sentences.

    room: tokens the embedder's window leaves for heading + text (None: no limit); each
    section's chunks get what its own heading line leaves of it.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
    chunks: list[Chunk] = []
    for section in doc.sections:
        heading = " > ".join(section.heading)
        budget = section_budget(heading, max_tokens, room)
        overlap = max(0, min(overlap_tokens, budget // 2))  # overlap must leave room for news
        for text in split_text(section.text, budget, overlap):
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
                    heading=heading,
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
