"""Prompt text and token budgeting for grounded answers: system prompt, sources, question."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rag.citations import CITATION_RE
from rag.display import display_source
from rag.errors import BadRequest
from rag.models import Hit
from rag.tokens import prompt_tokens as estimate_tokens

REFUSAL_EN = "I don't know based on the provided documents."
REFUSAL_VI = "Tôi không tìm thấy thông tin này trong tài liệu được cung cấp."
# Chat templates wrap each message in role markers; a generous flat cost covers every family.
MESSAGE_OVERHEAD = 8
# BOS, the assistant header the template appends, and slack for the estimate itself.
PROMPT_MARGIN = 32
SOURCES_HEADING = "Sources:"
HISTORY_SHARE = 4  # history gets at most 1/4 of what is left for history + sources
MIN_SOURCE_TOKENS = 48  # below this a truncated source is useless

_TOKEN_RE = re.compile(r"(\w+)|[^\w\s]")
_MARKER_LINE_RE = re.compile(r"^(\s*)\[(\d+)\]", re.M)
# Combining marks only Vietnamese uses: breve (ă), horn (ơ ư), hook above (ả), dot below (ạ).
_VI_MARKS = frozenset("\u0306\u031b\u0309\u0323")
_TILDE = "\u0303"


def message_tokens(content: str) -> int:
    """Estimated tokens of one chat message, template overhead included."""
    return estimate_tokens(content) + MESSAGE_OVERHEAD


def truncate_to_tokens(text: str, limit: int) -> str:
    """The longest head of text whose estimate fits in limit (the end is cut, never the start)."""
    used = 0
    for match in _TOKEN_RE.finditer(text):
        used += estimate_tokens(match.group())
        if used > limit:
            return text[: match.start()].rstrip() + " …"
    return text


def is_vietnamese(text: str) -> bool:
    """True if text has letters only Vietnamese uses (đ, ă, ơ, ư, ả, ạ, stacked tone marks …)."""
    if "đ" in text or "Đ" in text:
        return True
    base, marks = "", ""
    for ch in unicodedata.normalize("NFD", text) + " ":
        if unicodedata.combining(ch):
            marks += ch
            continue
        # â ê ô é à ã occur in French and Portuguese; two stacked marks or ẽ ĩ ũ ỹ do not.
        if _VI_MARKS & set(marks) or len(marks) >= 2:
            return True
        if _TILDE in marks and base in "eiuyEIUY":
            return True
        base, marks = ch, ""
    return False


def refusal_sentence(vietnamese: bool) -> str:
    """The exact sentence the model must reply with when the sources lack the answer."""
    return REFUSAL_VI if vietnamese else REFUSAL_EN


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold().replace("’", "'")
    text = text.replace("n't", " not")
    text = CITATION_RE.sub(" ", text)
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


_REFUSALS = tuple(_normalise(s) for s in (REFUSAL_EN, REFUSAL_VI))


def is_refusal(text: str) -> bool:
    """True if text is the refusal sentence (either language), ignoring case and punctuation."""
    norm = _normalise(text)
    # A short lead-in such as "Sorry," is still a refusal; an answer appended to it is not.
    return any(r in norm and len(norm) <= len(r) + 20 for r in _REFUSALS)


def system_prompt(vietnamese: bool, style: str = "") -> str:
    """The grounding rules sent as the system message, then the client's style instructions."""
    language = "Answer in Vietnamese." if vietnamese else "Answer in the language of the question."
    rules = (
        "You answer questions using only the numbered sources in the user's message.\n"
        "- Use only facts stated in the sources; never add outside knowledge.\n"
        "- Cite each claim with the number of its source in square brackets, like [1] or [2][3]."
        " Only cite numbers that appear in the sources.\n"
        "- If the sources do not contain the answer, reply exactly: "
        f'"{refusal_sentence(vietnamese)}" and nothing else.\n'
        f"- {language} Be concise."
    )
    if not style.strip():
        return rules
    # After the rules, and framed as style only: a client prompt cannot switch grounding off.
    return (
        f"{rules}\n\nStyle instructions from the application (they change tone and format only; "
        f"the rules above always apply):\n{style.strip()}"
    )


def source_header(n: int, hit: Hit) -> str:
    """`[n] (source: hr/handbook.md, page p, section: heading)` for one prompt source."""
    parts = [f"source: {display_source(hit)}"]
    if hit.page is not None:
        parts.append(f"page {hit.page}")
    if hit.heading:
        parts.append(f"section: {hit.heading}")
    return f"[{n}] ({', '.join(parts)})"


def source_block(n: int, hit: Hit, text: str | None = None) -> str:
    """A numbered source: header line, then the chunk text."""
    body = (hit.text if text is None else text).strip()
    # A chunk line such as "[3] Smith et al." would read as another source marker.
    body = _MARKER_LINE_RE.sub(r"\1(\2)", body)
    return f"{source_header(n, hit)}\n{body}"


@dataclass
class Prompt:
    """The chat messages to send and the hits they number [1]..[n], best first."""

    messages: list[dict[str, Any]]
    sources: list[Hit]
    tokens: int  # estimated prompt tokens


def _fit_history(history: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
    kept: list[dict[str, str]] = []
    for message in reversed(history):
        cost = message_tokens(message["content"])
        if cost > budget:
            break
        kept.insert(0, message)
        budget -= cost
    return kept


def _fit_sources(hits: list[Hit], budget: int) -> list[str]:
    blocks: list[str] = []
    for hit in hits:
        n = len(blocks) + 1
        block = source_block(n, hit)
        cost = estimate_tokens(block) + 2  # the blank line between blocks
        if cost > budget:
            room = budget - estimate_tokens(source_header(n, hit)) - 4
            if blocks or room < MIN_SOURCE_TOKENS:
                break  # this and every lower-ranked source are dropped
            block = source_block(n, hit, truncate_to_tokens(hit.text, room))
            cost = estimate_tokens(block) + 2
        blocks.append(block)
        budget -= cost
    return blocks


def build_prompt(
    question: str,
    hits: list[Hit],
    history: list[dict[str, str]],
    vietnamese: bool,
    num_ctx: int,
    answer_room: int,
    style: str = "",
    after: list[dict[str, Any]] | None = None,
) -> Prompt:
    """Messages whose estimate + answer_room fits num_ctx; low-ranked sources dropped first.

    `style` is the client's system prompt; `after` are turns sent after the question (the
    model's tool calls and their results).
    """
    system = system_prompt(vietnamese, style)
    tail = f"Question: {question}"
    after = after or []
    fixed = message_tokens(system) + message_tokens(f"{SOURCES_HEADING}\n\n{tail}")
    fixed += sum(message_tokens(str(m.get("content") or "")) for m in after)
    budget = num_ctx - answer_room - PROMPT_MARGIN - fixed
    if budget < MIN_SOURCE_TOKENS:
        raise BadRequest(
            f"the question does not fit the chat context (num_ctx={num_ctx}, "
            f"answer room {answer_room}): shorten it, lower num_predict or raise num_ctx"
        )
    kept = _fit_history(history, budget // HISTORY_SHARE)
    budget -= sum(message_tokens(m["content"]) for m in kept)
    blocks = _fit_sources(hits, budget)
    if hits and not blocks:
        raise BadRequest(f"no source fits the chat context (num_ctx={num_ctx})")
    user = "\n\n".join([SOURCES_HEADING, *blocks, tail])
    messages = [{"role": "system", "content": system}, *kept, {"role": "user", "content": user}]
    messages += after
    tokens = PROMPT_MARGIN + sum(message_tokens(str(m.get("content") or "")) for m in messages)
    return Prompt(messages, hits[: len(blocks)], tokens)


REWRITE_SYSTEM = (
    "Rewrite the last question as a standalone search query that can be understood without "
    "the conversation: replace pronouns and add the subject from earlier turns. Keep the "
    "language of the question. Output only the query."
)
REWRITE_TURN_CHARS = 600  # older turns matter only for the subject they introduce
REWRITE_MIN_CHARS = 100  # "3x the question" alone would reject good rewrites of "And X?"
FALLBACK_TURN_CHARS = 300  # keeps the fallback query well inside the embedder's context


def rewrite_messages(
    history: list[dict[str, str]], question: str, num_ctx: int, answer_room: int
) -> list[dict[str, str]]:
    """The short prompt asking the model for a standalone query (newest turns that fit)."""
    tail = f"Last question: {question}"
    budget = num_ctx - answer_room - PROMPT_MARGIN - message_tokens(REWRITE_SYSTEM)
    budget -= message_tokens("Conversation:\n\n" + tail)
    lines: list[str] = []
    for message in reversed(history):
        text = " ".join(message["content"].split())[:REWRITE_TURN_CHARS]
        line = f"{message['role'].capitalize()}: {text}"
        budget -= estimate_tokens(line) + 1
        if budget < 0:
            break
        lines.insert(0, line)
    user = "Conversation:\n" + "\n".join(lines) + "\n\n" + tail
    return [{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": user}]


def accept_rewrite(text: str, question: str) -> str | None:
    """The model's standalone query, or None if it is empty, a refusal or far too long."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    query = re.sub(r"^(standalone )?(search )?query:\s*", "", lines[0], flags=re.I)
    query = query.strip().strip("\"'“”").strip()
    too_long = len(query) > max(3 * len(question), REWRITE_MIN_CHARS)
    if not query or too_long or is_refusal(query):
        return None
    return query


def fallback_query(history: list[dict[str, str]], question: str) -> str:
    """The last user turn followed by the question, when the model gives no usable rewrite."""
    users = [m["content"] for m in history if m["role"] == "user"]
    last = " ".join(users[-1].split())[:FALLBACK_TURN_CHARS] if users else ""
    return f"{last} {question}".strip()


def clean_history(messages: list[dict[str, Any]] | None, question: str) -> list[dict[str, str]]:
    """User/assistant turns safe to send: no refusals, no stale citation numbers."""
    out: list[dict[str, str]] = []
    for message in messages or []:
        if not isinstance(message, dict):
            raise BadRequest("each message must be an object with role and content")
        role = str(message.get("role") or "").lower()
        content = str(message.get("content") or "")
        # Client system turns could override the grounding rules; tool turns have no place here.
        if role not in ("user", "assistant") or not content.strip():
            continue
        if role == "assistant":
            if is_refusal(content):
                continue  # the model would imitate it and refuse again
            # Old numbers point at the previous turn's sources, which are renumbered now.
            content = CITATION_RE.sub("", content)
        else:
            content = _MARKER_LINE_RE.sub(r"\1(\2)", content)  # pasted "[1] …" is not a source
        out.append({"role": role, "content": content})
    if out and out[-1]["role"] == "user" and out[-1]["content"].strip() == question:
        out.pop()  # a client that sent the current question inside messages too
    return out
