"""Grounded answers: rewrite the question, retrieve, prompt /api/chat, stream, check citations."""

from __future__ import annotations

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
    CITATION_RE,
    Prompt,
    accept_rewrite,
    build_prompt,
    clean_history,
    fallback_query,
    is_refusal,
    is_vietnamese,
    refusal_sentence,
    rewrite_messages,
)
from rag.retrieve import Filters, Retrieval, retrieve

log = logging.getLogger(__name__)

DEFAULT_NUM_CTX = 8192  # the default of RAG_CHAT_NUM_CTX (rag.config.Settings.chat_num_ctx)
DEFAULT_NUM_PREDICT = 1024
# Low: stay close to the sources' wording; not 0, which makes small models loop on repeats.
DEFAULT_TEMPERATURE = 0.2
REWRITE_NUM_PREDICT = 64
SNIPPET_CHARS = 240

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
    """Caller's options over our defaults; num_ctx always explicit and within the model."""
    merged: dict[str, Any] = {"temperature": DEFAULT_TEMPERATURE, **(options or {})}
    requested = num_ctx or merged.pop("num_ctx", None) or kb.settings.chat_num_ctx
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
        )
        for n, hit in ((n, sources[n - 1]) for n in numbers)
    ]


# -- conversation ----------------------------------------------------------------------------


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
        query = accept_rewrite(str((reply.get("message") or {}).get("content") or ""), question)
    except RagError as exc:
        log.warning("question rewrite failed, using the last turn instead: %s", exc)
        query = None
    return query or fallback_query(history, question)


# -- answering -------------------------------------------------------------------------------


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _generate(
    kb: KnowledgeBase, prompt: Prompt, options: dict[str, Any], started: float, timings: dict
) -> Generator[dict, None, str]:
    parts: list[str] = []
    begun = time.perf_counter()
    chunks = kb.ollama.chat_stream(prompt.messages, options)
    try:
        for chunk in chunks:
            text = (chunk.get("message") or {}).get("content") or ""
            if text:
                if not parts:
                    timings["first_token"] = _ms(started)
                parts.append(text)
                yield {"type": "token", "text": text}
    finally:
        # A client that disconnects mid-answer closes us: end the request to Ollama as well.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
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


def _retrieve(
    kb: KnowledgeBase,
    collection: str,
    question: str,
    query: str,
    top_k: int,
    filters: Filters | None,
) -> tuple[str, Retrieval]:
    """Retrieve afresh for this turn; the query actually used comes back with the result."""
    found = retrieve(kb, collection, query, top_k=top_k, filters=filters)
    if found.reason == "nothing_relevant" and query != question:
        # The fallback query may drag in an earlier, unrelated turn; the question may stand alone.
        alone = retrieve(kb, collection, question, top_k=top_k, filters=filters)
        if alone.hits:
            return question, alone
    return query, found


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
    began = time.perf_counter()
    query = standalone_query(kb, question, history, opts) if history else question
    timings = {"rewrite": _ms(began) if history else 0.0}
    began = time.perf_counter()
    query, found = _retrieve(kb, collection, question, query, top_k or kb.settings.top_k, filters)
    timings["retrieve"] = _ms(began)
    if found.reason is not None or not found.hits:
        # Nothing to ground an answer on: the chat model is not asked at all.
        refusal, reason = refusal_sentence(vietnamese), found.reason or "nothing_relevant"
        result = Answer(refusal, False, reason, candidates=found.candidates, query=query)
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
