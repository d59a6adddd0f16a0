"""The extractive "LLM": quotes the source sentences that best match the question."""

import re
from dataclasses import dataclass
from typing import Any

from .embedding import count_tokens, drop_front_tokens
from .textnorm import content_words

DEFAULT_REFUSAL = "I don't know based on the provided documents."
FAKE_CITATION = " [9]"
_MARKER_RE = re.compile(r"^\s*\[(\d+)\][ \t]?(.*)$")
_LABEL_RE = re.compile(r"\(.*\)")
_QUESTION_LINE_RE = re.compile(r"^\s*Question:")
_QUESTION_RE = re.compile(r"Question:")
_ANSWER_LINE_RE = re.compile(r"^\s*Answer:.*$", re.M | re.S)
_REFUSAL_RE = re.compile(r"reply exactly:\s*[\"“](.+?)[\"”]", re.I | re.S)
_BOUNDARY_RE = re.compile(r"[.!?…。]+[\"'”’)\]]*\s+|\n\s*\n|\n(?=\s*(?:[-•*]|\d+[.)])\s)")
_BLANK_LINE_RE = re.compile(r"\n\s*\n")
_LAST_WORD_RE = re.compile(r"(\w+)\W*$")
ABBREVIATIONS = frozenset({"e", "g", "i", "vs", "etc", "dr", "mr", "mrs", "ms", "no", "fig", "pp"})
_PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


@dataclass(frozen=True)
class Source:
    """A numbered source block found in the prompt."""

    number: int
    text: str


@dataclass(frozen=True)
class ChatPlan:
    """What the double will answer and how the prompt was counted."""

    answer: str
    prompt_tokens: int
    truncated: bool


def _role(message: dict[str, Any]) -> str:
    return str(message.get("role") or "").lower()


def _content(message: dict[str, Any]) -> str:
    return str(message.get("content") or "")


def _split_blocks(text: str) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """Split text into source blocks and the lines outside any block."""
    blocks: list[tuple[int, list[str]]] = []
    outside: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        marker = _MARKER_RE.match(line)
        if marker:
            # A model reads `[n] (source: …)` as a label, not as text to quote.
            first = marker.group(2)
            current = [] if _LABEL_RE.fullmatch(first.strip()) else [first]
            blocks.append((int(marker.group(1)), current))
        elif _QUESTION_LINE_RE.match(line):
            current = None
            outside.append(line)
        elif current is not None:
            current.append(line)
        else:
            outside.append(line)
    return blocks, outside


def find_sources(messages: list[dict[str, Any]]) -> list[Source]:
    """All `[n]` source blocks in non-assistant messages, in prompt order."""
    sources: list[Source] = []
    for message in messages:
        if _role(message) == "assistant":
            continue
        blocks, _ = _split_blocks(_content(message))
        sources.extend(Source(n, "\n".join(lines).strip()) for n, lines in blocks)
    return sources


def question_of(messages: list[dict[str, Any]]) -> str:
    """The question: text after `Question:` in the last user message, else its non-source text."""
    users = [m for m in messages if _role(m) == "user"]
    if not users:
        return ""
    text = _content(users[-1])
    found = list(_QUESTION_RE.finditer(text))
    if found:
        return _ANSWER_LINE_RE.sub("", text[found[-1].end() :]).strip()
    _, outside = _split_blocks(text)
    return "\n".join(outside).strip()


def refusal_of(messages: list[dict[str, Any]]) -> str:
    """The refusal sentence: a system prompt's `reply exactly: "..."`, else the default."""
    for message in messages:
        if _role(message) == "system":
            match = _REFUSAL_RE.search(_content(message))
            if match:
                return match.group(1).strip()
    return DEFAULT_REFUSAL


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    if not match.group().strip() or _BLANK_LINE_RE.search(match.group()):
        return True  # blank line or a new bullet
    following = text[match.end() : match.end() + 4].lstrip("\"'“‘([")
    if not following[:1].isupper():
        return False
    last = _LAST_WORD_RE.search(text[: match.start()])
    return not (last and (len(last.group(1)) == 1 or last.group(1).lower() in ABBREVIATIONS))


def sentences(text: str) -> list[str]:
    """Split a source text into sentences (kept verbatim, ends stripped)."""
    out, start = [], 0
    for match in _BOUNDARY_RE.finditer(text):
        if _is_boundary(text, match):
            out.append(text[start : match.end()].strip())
            start = match.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def extractive_answer(question: str, sources: list[Source]) -> str | None:
    """Best 1-2 source sentences by content-word overlap, each with ` [n]`; None if none fit."""
    wanted = content_words(question)
    if not wanted:
        return None
    scored = []
    for order, (source, sentence) in enumerate(
        (src, sent) for src in sources for sent in sentences(src.text)
    ):
        overlap = len(wanted & content_words(sentence))
        if overlap >= 2 or (overlap >= 1 and 2 * overlap >= len(wanted)):
            scored.append((-overlap, order, sentence, source.number))
    scored.sort()
    picked: list[str] = []
    for _, _, sentence, number in scored:
        if not any(p.startswith(sentence + " [") for p in picked):
            picked.append(f"{sentence} [{number}]")
        if len(picked) == 2:
            break
    return " ".join(picked) or None


def fit_prompt(
    messages: list[dict[str, Any]], num_ctx: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Truncate like Ollama: drop old non-system messages, then the front of the prompt."""
    msgs = [dict(m) for m in messages]
    counts = [count_tokens(_content(m)) for m in msgs]
    if sum(counts) <= num_ctx:
        return msgs, sum(counts), False
    while sum(counts) > num_ctx:
        index = next((k for k in range(len(msgs) - 1) if _role(msgs[k]) != "system"), None)
        if index is None:
            break
        del msgs[index], counts[index]
    excess = sum(counts) - num_ctx
    for k, message in enumerate(msgs):
        if excess <= 0:
            break
        message["content"] = drop_front_tokens(_content(message), excess)
        new_count = count_tokens(message["content"])
        excess -= counts[k] - new_count
        counts[k] = new_count
    return msgs, min(sum(counts), num_ctx), True


def plan_reply(
    messages: list[dict[str, Any]], num_ctx: int, *, fake_citation: bool, chat_reply: str | None
) -> ChatPlan:
    """Decide the reply to a chat request (after prompt truncation)."""
    msgs, tokens, truncated = fit_prompt(messages, num_ctx)
    if chat_reply is not None:
        return ChatPlan(chat_reply, tokens, truncated)
    if msgs and _role(msgs[-1]) == "tool":
        # After a tool call the model words its answer from the tool's result.
        return ChatPlan(_content(msgs[-1]).strip(), tokens, truncated)
    answer = extractive_answer(question_of(msgs), find_sources(msgs))
    if answer is None:
        answer = refusal_of(msgs)
    elif fake_citation:
        answer += FAKE_CITATION
    return ChatPlan(answer, tokens, truncated)


def split_pieces(text: str) -> list[str]:
    """Word-ish stream pieces; their concatenation is exactly text."""
    return _PIECE_RE.findall(text)
