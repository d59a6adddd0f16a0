"""Grounded answers: rewrite the question, retrieve, prompt /api/chat, stream, check citations."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from rag.errors import BadRequest, RagError
from rag.kb import KnowledgeBase
from rag.models import Answer, Citation, Hit
from rag.prompts import (
    Prompt,
    build_prompt,
    is_refusal,
    is_vietnamese,
    refusal_sentence,
    rewrite_messages,
)
from rag.retrieve import Filters, Retrieval, retrieve

log = logging.getLogger(__name__)

DEFAULT_NUM_CTX = 8192
DEFAULT_NUM_PREDICT = 1024
# Low: stay close to the sources' wording; not 0, which makes small models loop on repeats.
DEFAULT_TEMPERATURE = 0.2
REWRITE_NUM_PREDICT = 64
REWRITE_MIN_CHARS = 100  # "3x the question" alone would reject good rewrites of "And X?"
FALLBACK_TURN_CHARS = 300  # keeps the fallback query well inside the embedder's context
SNIPPET_CHARS = 240

# [1]  [1, 3]  [1-2]  [2; 4]; up to 3 digits so years like [2023] are left alone.
_NUM = r"\d{1,3}"
CITATION_RE = re.compile(rf"(?P<lead>[ \t]*)\[(?P<body>\s*{_NUM}(?:\s*[,;\-–—]\s*{_NUM})*\s*)\]")
_WORD_RE = re.compile(r"\w{2,}")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+|\n\s*\n")

_context_lengths: dict[tuple[str, str], int | None] = {}
_context_lock = threading.Lock()


def model_context_length(kb: KnowledgeBase) -> int | None:
    """The chat model's context length from /api/show, asked once per process."""
    key = (kb.settings.ollama_host, kb.settings.chat_model)
    with _context_lock:
        if key in _context_lengths:
            return _context_lengths[key]
    length = kb.ollama.show(kb.settings.chat_model).context_length
    with _context_lock:
        _context_lengths[key] = length
    return length


def chat_options(
    kb: KnowledgeBase, options: dict[str, Any] | None, num_ctx: int | None
) -> dict[str, Any]:
    """Our defaults under the caller's options, with num_ctx always explicit and within the model."""
    merged: dict[str, Any] = {"temperature": DEFAULT_TEMPERATURE, **(options or {})}
    requested = num_ctx or merged.pop("num_ctx", None) or DEFAULT_NUM_CTX
    merged.pop("num_ctx", None)
    if not isinstance(requested, int) or requested <= 0:
        raise BadRequest(f"num_ctx must be a positive integer, got {requested!r}")
    limit = model_context_length(kb)
    merged["num_ctx"] = min(requested, limit) if limit else requested
    predict = merged.get("num_predict")
    if predict is None or (isinstance(predict, int) and predict < 0):
        # Unlimited generation still needs reserved room; small windows get a smaller share.
        merged["num_predict"] = min(DEFAULT_NUM_PREDICT, merged["num_ctx"] // 4)
    elif not isinstance(predict, int) or predict == 0:
        raise BadRequest(f"num_predict must be a positive integer, got {predict!r}")
    return merged


# -- citations -------------------------------------------------------------------------------


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


def claims_by_source(text: str) -> dict[int, str]:
    """For each cited n, the answer text that precedes its markers (what it supports)."""
    claims: dict[int, str] = {}
    last_end, last_claim = 0, ""
    for match in CITATION_RE.finditer(text):
        segment = text[last_end : match.start()]
        # [1][2]: the second marker supports the same words as the first.
        claim = segment if segment.strip() else last_claim
        for n in parse_citation(match["body"]):
            claims[n] = claims.get(n, "") + " " + claim
        last_end, last_claim = match.end(), claim
    return claims


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(text.casefold()))


def snippet(chunk: str, claim: str, limit: int = SNIPPET_CHARS) -> str:
    """≤ limit chars of chunk starting at the sentence that best matches claim (else its start)."""
    text = " ".join(chunk.split())
    wanted = _words(claim)
    best_start, best_overlap = 0, 0
    starts = [0] + [m.end() for m in _SENTENCE_END_RE.finditer(text)]
    for start in starts:
        end = _SENTENCE_END_RE.search(text, start)
        overlap = len(wanted & _words(text[start : end.start() if end else len(text)]))
        if overlap > best_overlap:
            best_start, best_overlap = start, overlap
    # Near the end of the chunk, show some lead-in rather than a short tail.
    start = max(0, min(best_start, len(text) - limit))
    if start and text[start - 1] != " ":
        start = text.find(" ", start) + 1 or best_start
    window = text[start : start + limit]
    if start + limit < len(text) and " " in window:
        window = window.rsplit(" ", 1)[0]
    return window.strip()


def make_citations(text: str, numbers: list[int], sources: list[Hit]) -> list[Citation]:
    """Citation objects for valid numbers, in order of first appearance."""
    claims = claims_by_source(text)
    out = []
    for n in numbers:
        hit = sources[n - 1]
        out.append(
            Citation(
                n=n,
                source=hit.source,
                page=hit.page,
                heading=hit.heading,
                chunk_id=hit.chunk_id,
                snippet=snippet(hit.text, claims.get(n, "")),
                score=hit.score,
                page_label=hit.page_label,
            )
        )
    return out


# -- conversation ----------------------------------------------------------------------------


def clean_history(messages: list[dict] | None, question: str) -> list[dict[str, str]]:
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
        out.append({"role": role, "content": content})
    if out and out[-1]["role"] == "user" and out[-1]["content"].strip() == question:
        out.pop()  # a client that sent the current question inside messages too
    return out


def _accept_rewrite(text: str, question: str) -> str | None:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    query = re.sub(r"^(standalone )?(search )?query:\s*", "", lines[0], flags=re.I)
    query = query.strip().strip("\"'“”").strip()
    too_long = len(query) > max(3 * len(question), REWRITE_MIN_CHARS)
    if not query or too_long or is_refusal(query):
        return None
    return query


def standalone_query(
    kb: KnowledgeBase, question: str, history: list[dict[str, str]], options: dict[str, Any]
) -> str:
    """The question rewritten to stand alone (history only); falls back to last turn + question."""
    rewrite_options = {
        "temperature": 0,
        "num_predict": REWRITE_NUM_PREDICT,
        "num_ctx": options["num_ctx"],  # the same window: a different one would reload the model
    }
    messages = rewrite_messages(history, question, options["num_ctx"], REWRITE_NUM_PREDICT)
    try:
        reply = kb.ollama.chat(messages, rewrite_options)
        query = _accept_rewrite(str((reply.get("message") or {}).get("content") or ""), question)
    except RagError as exc:
        log.warning("question rewrite failed, using the last turn instead: %s", exc)
        query = None
    if query:
        return query
    users = [m["content"] for m in history if m["role"] == "user"]
    last = " ".join(users[-1].split())[:FALLBACK_TURN_CHARS] if users else ""
    return f"{last} {question}".strip()


# -- answering -------------------------------------------------------------------------------


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _generate(
    kb: KnowledgeBase, prompt: Prompt, options: dict[str, Any], started: float, timings: dict
) -> Generator[dict, None, str]:
    parts: list[str] = []
    begun = time.perf_counter()
    # closing(): a client that disconnects mid-answer also ends the request to Ollama.
    with contextlib.closing(kb.ollama.chat_stream(prompt.messages, options)) as chunks:
        for chunk in chunks:
            text = (chunk.get("message") or {}).get("content") or ""
            if text:
                if not parts:
                    timings["first_token"] = _ms(started)
                parts.append(text)
                yield {"type": "token", "text": text}
    timings["generate"] = _ms(begun)
    return "".join(parts)


def _judge(raw: str, prompt: Prompt, found: Retrieval, query: str) -> Answer:
    checked = check_citations(raw, len(prompt.sources))
    text = checked.text.strip()
    if is_refusal(text):
        candidates = found.candidates or found.hits
        return Answer(text, False, "model_declined", [], checked.dropped, candidates, query)
    citations = make_citations(checked.text, checked.cited, prompt.sources)
    return Answer(text, True, None, citations, checked.dropped, query=query)


def _run(
    kb: KnowledgeBase,
    collection: str,
    question: str,
    messages: list[dict] | None,
    filters: Filters | None,
    top_k: int | None,
    num_ctx: int | None,
    options: dict | None,
) -> Iterator[dict | Answer]:
    """answer_stream's events, ending with the Answer object itself."""
    started = time.perf_counter()
    question = question.strip()
    if not question:
        raise BadRequest("the question is empty")
    opts = chat_options(kb, options, num_ctx)
    vietnamese = is_vietnamese(question)
    history = clean_history(messages, question)
    # Every turn retrieves afresh, on a standalone form of the question.
    query = standalone_query(kb, question, history, opts) if history else question
    timings: dict[str, float] = {"rewrite": _ms(started) if history else 0.0}
    began = time.perf_counter()
    found = retrieve(kb, collection, query, top_k=top_k or kb.settings.top_k, filters=filters)
    timings["retrieve"] = _ms(began)
    if found.reason is not None or not found.hits:
        # Nothing to ground an answer on: the chat model is not asked at all.
        reason = found.reason or "nothing_relevant"
        result = Answer(refusal_sentence(vietnamese), False, reason, candidates=found.candidates)
        result.query = query
    else:
        num = opts["num_ctx"]
        prompt = build_prompt(question, found.hits, history, vietnamese, num, opts["num_predict"])
        sources = len(prompt.sources)
        yield {"type": "retrieval", "hits": len(found.hits), "sources": sources, "query": query}
        raw = yield from _generate(kb, prompt, opts, started, timings)
        result = _judge(raw, prompt, found, query)
    timings["total"] = _ms(started)
    result.timings = timings
    yield result


def answer_stream(
    kb: KnowledgeBase,
    collection: str,
    question: str,
    messages: list[dict] | None = None,
    filters: Filters | None = None,
    top_k: int | None = None,
    num_ctx: int | None = None,
    options: dict | None = None,
) -> Iterator[dict]:
    """Events: retrieval, token (as they arrive), then done carrying the checked Answer."""
    for event in _run(kb, collection, question, messages, filters, top_k, num_ctx, options):
        yield {"type": "done", **event.to_dict()} if isinstance(event, Answer) else event


def answer(
    kb: KnowledgeBase,
    collection: str,
    question: str,
    messages: list[dict] | None = None,
    filters: Filters | None = None,
    top_k: int | None = None,
    num_ctx: int | None = None,
    options: dict | None = None,
) -> Answer:
    """The whole answer at once (consumes the same events as answer_stream)."""
    for event in _run(kb, collection, question, messages, filters, top_k, num_ctx, options):
        if isinstance(event, Answer):
            return event
    raise AssertionError("unreachable: the event stream always ends with an Answer")
