"""`[n]` citations: their syntax, checking them against the sources (whole or while streaming),
the snippet each one shows, and the label that says where a passage is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from rag.display import display_source
from rag.models import Citation, Hit

SNIPPET_CHARS = 240
# [1]  [1, 3]  [1-2]  [2; 4]; up to 3 digits so years like [2023] are left alone.
_NUM = r"\d{1,3}"
CITATION_RE = re.compile(rf"(?P<lead>[ \t]*)\[(?P<body>\s*{_NUM}(?:\s*[,;\-–—]\s*{_NUM})*\s*)\]")
# The tail of streamed text that may still become a `[n]` marker (with its leading blanks).
_PARTIAL_RE = re.compile(r"[ \t]*(?:\[[\d\s,;\-–—]*)?$")
_PARTIAL_MAX = 40  # longer than any citation marker: release it
_WORD_RE = re.compile(r"\w{2,}")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+|\n\s*\n")


def parse_citation(body: str) -> list[int]:
    """Numbers in a citation body: `1, 3` → [1, 3]; `1-3` → [1, 2, 3]."""
    numbers: list[int] = []
    for part in re.split(r"[,;]", body):
        bounds = [int(b) for b in re.split(r"[\-–—]", part) if b.strip()]
        if len(bounds) == 2 and bounds[0] <= bounds[1] <= bounds[0] + 50:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return numbers


@dataclass
class CheckedText:
    """Answer text without invalid citations, the valid numbers in order, and the dropped ones."""

    text: str
    cited: list[int]
    dropped: list[int]


def check_citations(text: str, count: int) -> CheckedText:
    """Remove `[n]` that name no source (1..count); keep valid ones as the model wrote them."""
    cited: list[int] = []
    dropped: list[int] = []

    def replace(match: re.Match[str]) -> str:
        numbers = list(dict.fromkeys(parse_citation(match["body"])))
        valid = [n for n in numbers if 1 <= n <= count]
        cited.extend(n for n in valid if n not in cited)
        dropped.extend(n for n in numbers if n not in valid and n not in dropped)
        if len(valid) == len(numbers):
            return match.group()
        return f"{match['lead']}[{', '.join(map(str, valid))}]" if valid else ""

    return CheckedText(CITATION_RE.sub(replace, text), cited, dropped)


class CitationFilter:
    """Drops `[n]` naming no source from streamed text, as the final answer does."""

    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.pending = ""

    def feed(self, text: str) -> str:
        """The text that can go out now; a possible marker's start is held back."""
        text = self.pending + text
        match = _PARTIAL_RE.search(text)
        cut = match.start() if match and len(text) - match.start() <= _PARTIAL_MAX else len(text)
        self.pending = text[cut:]
        return check_citations(text[:cut], self.sources).text

    def flush(self) -> str:
        """Whatever was held back."""
        text, self.pending = self.pending, ""
        return check_citations(text, self.sources).text


def claims_by_source(text: str) -> dict[int, str]:
    """For each cited n, the answer text before its first marker (the claim it supports)."""
    claims: dict[int, str] = {}
    last_end, last_claim = 0, ""
    for match in CITATION_RE.finditer(text):
        segment = text[last_end : match.start()]
        # [1][2]: the second marker supports the same words as the first.
        claim = segment if segment.strip() else last_claim
        for n in parse_citation(match["body"]):
            claims.setdefault(n, claim)
        last_end, last_claim = match.end(), claim
    return claims


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(text.casefold()))


def snippet(chunk: str, claim: str, limit: int = SNIPPET_CHARS) -> str:
    """≤ limit chars of chunk from the sentence that best matches claim (else from its start)."""
    text = " ".join(chunk.split())
    wanted = _words(claim)
    starts = [0] + [m.end() for m in _SENTENCE_END_RE.finditer(text)]
    ends = [*starts[1:], len(text)]
    best = max(
        range(len(starts)), key=lambda i: (len(wanted & _words(text[starts[i] : ends[i]])), -i)
    )
    # Near the chunk's end, begin a sentence or two earlier rather than show a short tail.
    begin = next(s for s in starts if s >= min(starts[best], len(text) - limit))
    window = text[begin : begin + limit]
    if begin + limit < len(text) and " " in window:
        window = window.rsplit(" ", 1)[0]
    return window.strip()


def make_citations(text: str, numbers: list[int], sources: list[Hit]) -> list[Citation]:
    """Citation objects for valid numbers, in order of first appearance."""
    claims = claims_by_source(text)
    return [
        Citation(
            n,
            hit.source,
            hit.page,
            hit.heading,
            hit.chunk_id,
            snippet(hit.text, claims.get(n, "")),
            hit.score,
            hit.page_label,
            hit.display,
        )
        for n, hit in ((n, sources[n - 1]) for n in numbers)
    ]


# -- where a passage is ------------------------------------------------------------------------


class Located(Protocol):
    """Anything that knows where its text is: a Hit or a Citation."""

    source: str
    display: str
    page: int | None
    page_label: str | None
    heading: str


@dataclass(frozen=True)
class LabelStyle:
    """The separators of a location label."""

    page: str  # before the page (its printed label when it has one)
    heading: str  # before the heading path


TERMINAL = LabelStyle(" p. ", " › ")  # `rag search` and `rag ask`
FOOTER = LabelStyle(", p. ", " — ")  # the Sources footer of the compatible chat routes


def location_label(item: Located, style: LabelStyle = TERMINAL) -> str:
    """`hr/handbook.md p. 3 › heading` for people: the source as shown (rag.display)."""
    where = display_source(item)
    if item.page is not None:
        where += f"{style.page}{item.page_label or item.page}"
    if item.heading:
        where += f"{style.heading}{item.heading}"
    return where
