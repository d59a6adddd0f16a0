"""Grounded answers: rewrite the question, retrieve, prompt /api/chat, stream, check citations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.answerability import coverage
from rag.citations import CitationFilter, check_citations, make_citations
from rag.errors import BadRequest, RagError
from rag.events import Done, Event, Retrieved, Token, Usage
from rag.filters import Filters
from rag.kb import KnowledgeBase
from rag.language import reads_vietnamese
from rag.metrics import observe_timings
from rag.models import Answer, Hit
from rag.prompts import (
    Prompt,
    accept_rewrite,
    build_prompt,
    clean_history,
    fallback_query,
    is_refusal,
    refusal_sentence,
    rewrite_messages,
)
from rag.retrieve import Retrieval, retrieve
from rag.smalltalk import classify, small_talk_reply

log = logging.getLogger(__name__)

DEFAULT_NUM_CTX = 8192  # the default of RAG_CHAT_NUM_CTX (rag.config.Settings.chat_num_ctx)
DEFAULT_NUM_PREDICT = 1024
# Low: stay close to the sources' wording; not 0, which makes small models loop on repeats.
DEFAULT_TEMPERATURE = 0.2
REWRITE_NUM_PREDICT = 64

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
    # A null option means "the default" to clients (LlamaIndex sends temperature: null).
    given = {key: value for key, value in (options or {}).items() if value is not None}
    merged: dict[str, Any] = {"temperature": DEFAULT_TEMPERATURE, **given}
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


@dataclass(frozen=True)
class AnswerRequest:
    """A question to answer from one collection, with its conversation and knobs."""

    collection: str
    question: str
    messages: list[dict[str, Any]] | None = None  # earlier turns, oldest first
    filters: Filters | None = None
    top_k: int | None = None  # default: the top_k setting
    num_ctx: int | None = None  # default: options' num_ctx, else RAG_CHAT_NUM_CTX
    options: dict[str, Any] | None = None  # Ollama options over our defaults
    system: str = ""  # the client's own system prompt: style instructions after our rules
    tools: list[Any] | None = None  # Ollama-shaped tools, passed to the chat model
    format: Any = None  # Ollama's `format`: "json" or a JSON schema (structured output)
    after: list[Any] | None = None  # tool calls and tool results sent after the question

    def extra(self) -> dict[str, Any]:
        """The top-level /api/chat fields this request adds (tools, format)."""
        fields = {"tools": self.tools or None, "format": self.format or None}
        return {key: value for key, value in fields.items() if value is not None}


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


@dataclass
class _Output:
    """What the chat model produced: raw text, pieces, why it stopped, usage, tool calls."""

    raw: str = ""
    pieces: int = 0
    finish_reason: str = "stop"
    usage: Usage | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def _finish(out: _Output, chunk: dict[str, Any]) -> None:
    """Record the final chunk's done_reason and token counts."""
    out.usage = Usage(int(chunk.get("prompt_eval_count") or 0), int(chunk.get("eval_count") or 0))
    if chunk.get("done_reason") == "length":
        out.finish_reason = "length"


def _generate(
    kb: KnowledgeBase,
    messages: list[dict[str, Any]],
    shown: CitationFilter | None,
    request: AnswerRequest,
    options: dict[str, Any],
    timings: dict[str, Any],
    started: float,
) -> Generator[Token, None, _Output]:
    """Stream the model's text (invalid `[n]` filtered out unless shown is None)."""
    out, parts = _Output(), []
    began = time.perf_counter()
    chunks = kb.ollama.chat_stream(messages, options, request.extra())
    try:
        for chunk in chunks:
            message = chunk.get("message") or {}
            out.tool_calls += message.get("tool_calls") or []
            if chunk.get("done"):
                _finish(out, chunk)
            text = message.get("content") or ""
            if text:
                timings.setdefault("first_token", _ms(started))
                parts.append(text)
                if out_text := (shown.feed(text) if shown else text):
                    yield Token(out_text)
    finally:
        # A client that disconnects mid-answer closes us: end the request to Ollama as well.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if shown and (tail := shown.flush()):
        yield Token(tail)
    timings["generate"] = _ms(began)
    out.raw, out.pieces = "".join(parts), len(parts)
    if out.tool_calls:
        out.finish_reason = "tool_calls"
    return out


def _judge(out: _Output, prompt: Prompt, found: Retrieval, query: str) -> Answer:
    checked = check_citations(out.raw, len(prompt.sources))
    text = checked.text.strip()
    if is_refusal(text) and not out.tool_calls:
        candidates = found.candidates or found.hits
        return Answer(text, False, "model_declined", [], checked.dropped, candidates, query)
    citations = make_citations(checked.text, checked.cited, prompt.sources)
    return Answer(text, True, None, citations, checked.dropped, query=query)


def _retrieve(kb: KnowledgeBase, request: AnswerRequest, query: str) -> tuple[str, Retrieval]:
    """Retrieve afresh for this turn; the query actually used comes back with the result."""
    top_k, filters = request.top_k or kb.settings.top_k, request.filters
    found = retrieve(kb, request.collection, query, top_k=top_k, filters=filters)
    question = request.question.strip()
    if found.reason == "nothing_relevant" and query != question:
        # The fallback query may drag in an earlier, unrelated turn; the question may stand alone.
        alone = retrieve(kb, request.collection, question, top_k=top_k, filters=filters)
        if alone.hits:
            return question, alone
    return query, found


def _grounds(kb: KnowledgeBase, found: Retrieval, query: str) -> list[Hit]:
    """The chunks to answer from, or [] when the best one does not cover the question."""
    if found.reason == "no_documents" or not found.candidates:
        return []
    if kb.settings.min_score is not None and not found.hits:
        return []  # RAG_MIN_SCORE set: its dense floor decides as well
    best = found.candidates[0]
    text = f"{best.heading}\n{best.text}"
    if coverage(query, text, kb.term_rows) < kb.settings.min_coverage:
        return []
    # The model's own floor is only a prior: the coverage check above decides for answers.
    return found.hits or found.candidates


def answer_stream(kb: KnowledgeBase, request: AnswerRequest) -> Iterator[Event]:
    """Retrieved, Token… as the model writes (invalid `[n]` removed), then Done with the Answer."""
    started = time.perf_counter()
    question = request.question.strip()
    if not question:
        raise BadRequest("the question is empty")
    opts = chat_options(kb, request.options, request.num_ctx)
    kind = classify(question) if not request.after else "question"
    if kind == "small_talk":
        reply = small_talk_reply(question, reads_vietnamese(question))
        yield Done(Answer(reply, True, query=question, timings={"total": _ms(started)}))
        return
    timings: dict[str, float] = {}
    answer_kind = _task if kind == "task" else _grounded
    done = yield from answer_kind(kb, request, opts, timings, started)
    timings["total"] = _ms(started)
    done.answer.timings = timings
    observe_timings(timings)
    yield done


def _task(
    kb: KnowledgeBase,
    request: AnswerRequest,
    opts: dict[str, Any],
    timings: dict[str, Any],
    started: float,
) -> Generator[Event, None, Done]:
    """A front end's task prompt (title, tags, follow-ups): the model answers it ungrounded."""
    system = [{"role": "system", "content": request.system}] if request.system.strip() else []
    history = clean_history(request.messages, request.question)
    messages = [*system, *history, {"role": "user", "content": request.question.strip()}]
    out = yield from _generate(kb, messages, None, request, opts, timings, started)
    result = Answer(out.raw.strip(), True, query=request.question.strip())
    return Done(result, out.pieces, out.finish_reason, out.usage, out.tool_calls)


def _grounded(
    kb: KnowledgeBase,
    request: AnswerRequest,
    opts: dict[str, Any],
    timings: dict[str, Any],
    started: float,
) -> Generator[Event, None, Done]:
    """Rewrite, retrieve, and answer from the sources (or refuse without asking the model)."""
    question = request.question.strip()
    vietnamese = reads_vietnamese(question)
    history = clean_history(request.messages, question)
    began = time.perf_counter()
    query = standalone_query(kb, question, history, opts) if history else question
    timings["rewrite"] = _ms(began) if history else 0.0
    began = time.perf_counter()
    query, found = _retrieve(kb, request, query)
    timings["retrieve"] = _ms(began)
    observe_timings({"embed": found.timings.get("embed", 0.0)})
    hits = _grounds(kb, found, query)
    if not hits and not request.tools:
        # Nothing to ground an answer on: the chat model is not asked at all (unless it has
        # tools, which may answer what the documents do not).
        refusal, reason = refusal_sentence(vietnamese), found.reason or "nothing_relevant"
        return Done(Answer(refusal, False, reason, candidates=found.candidates, query=query))
    num, room = opts["num_ctx"], opts["num_predict"]
    prompt = build_prompt(
        question, hits, history, vietnamese, num, room, request.system, request.after
    )
    yield Retrieved(hits, prompt.sources, query)
    # Structured output is JSON: a `[1]` inside it is data, not a citation to filter.
    shown = None if request.format else CitationFilter(len(prompt.sources))
    out = yield from _generate(kb, prompt.messages, shown, request, opts, timings, started)
    result = _judge(out, prompt, found, query)
    return Done(result, out.pieces, out.finish_reason, out.usage, out.tool_calls)


def answer(kb: KnowledgeBase, request: AnswerRequest) -> Answer:
    """The whole answer at once: answer_stream, collected."""
    for event in answer_stream(kb, request):
        if isinstance(event, Done):
            return event.answer
    raise AssertionError("unreachable: the event stream always ends with Done")
