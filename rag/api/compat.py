"""Shared by the OpenAI and Ollama shims: model names, conversations, grounded replies, errors."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.answer import AnswerRequest, answer_stream
from rag.api.schemas import CitationOut, body
from rag.api.wire import message_text, ollama_message, validation_message
from rag.citations import FOOTER, location_label
from rag.errors import BadRequest, NotFound, RagError
from rag.events import Done, Token
from rag.kb import KnowledgeBase
from rag.language import reads_vietnamese
from rag.models import Answer, Citation
from rag.prompts import REFUSAL_EN, REFUSAL_VI

log = logging.getLogger(__name__)

MODEL_FAMILY = "rag"  # models are `rag:<collection>`: the collection is the Ollama tag
SOURCES_HEADING = {False: "Sources:", True: "Nguồn:"}
_FOOTER_RE = re.compile(r"\n\n(?:Sources|Nguồn):\n(?:\[\d+\] [^\n]*(?:\n|$))+\s*$")
MAX_QUESTION_CHARS = 4000  # the limit of POST /ask's question
_HINTS = {
    ("no_documents", False): "The knowledge base '{c}' has no documents yet.",
    ("no_documents", True): "Cơ sở tri thức '{c}' chưa có tài liệu nào.",
    ("nothing_relevant", False): "Nothing in '{c}' matched the question closely enough; "
    "try rephrasing it or naming the document.",
    ("nothing_relevant", True): "Không có nội dung nào trong '{c}' đủ liên quan đến câu hỏi; "
    "hãy thử diễn đạt lại.",
}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_route(render: Callable[[int, str], Response]) -> type[APIRoute]:
    """A route class whose errors (auth and validation included) use render's envelope."""

    class ErrorRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except RagError as exc:
                    return render(exc.status, exc.public)
                except RequestValidationError as exc:
                    return render(400, validation_message(exc.errors()))
                except StarletteHTTPException as exc:
                    return render(exc.status_code, str(exc.detail))
                except Exception:  # the app-wide handler would answer in problem+json
                    log.exception("unexpected error on %s %s", request.method, request.url.path)
                    return render(500, "unexpected error; see the server log")

            return route

    return ErrorRoute


# -- models ----------------------------------------------------------------------------------


def known_collections(kb: KnowledgeBase) -> list[str]:
    """Collections offered as models: those with documents or vectors, and the default."""
    return sorted(set(kb.collection_counts()) | {kb.settings.collection})


def model_name(collection: str) -> str:
    """The model name a collection is offered as."""
    return f"{MODEL_FAMILY}:{collection}"


def find_collection(kb: KnowledgeBase, model: str) -> str | None:
    """The collection a model name selects (`rag` and `rag:latest` mean the default), or None."""
    family, _, tag = model.strip().partition(":")
    tag = tag.removesuffix(":latest")  # tolerate `rag:hr:latest` from clients that add it
    if family.lower() != MODEL_FAMILY:
        return None
    known = known_collections(kb)
    if tag in ("", "latest") and tag not in known:
        return kb.settings.collection
    if tag in known:
        return tag
    # Ollama matches model names case-insensitively; collections are case-sensitive.
    folded = [name for name in known if name.lower() == tag.lower()]
    return folded[0] if len(folded) == 1 else None


def require_collection(kb: KnowledgeBase, model: str, list_models: bool = False) -> str:
    """The collection a model name selects; NotFound (optionally naming the models) if none."""
    collection = find_collection(kb, model)
    if collection is not None:
        return collection
    message = f"model '{model}' not found"
    if list_models:
        names = [model_name(c) for c in known_collections(kb)]
        message += "; available: " + ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    raise NotFound(message)


@dataclass(frozen=True)
class CollectionInfo:
    """What the model listings say about a collection."""

    name: str
    documents: int
    chunks: int
    size: int
    modified: datetime

    @property
    def digest(self) -> str:
        """A stable hex digest that changes when the collection's contents do."""
        key = f"{self.name}:{self.documents}:{self.chunks}:{self.size}:{self.modified}"
        return hashlib.sha256(key.encode()).hexdigest()


def describe(kb: KnowledgeBase, collection: str) -> CollectionInfo:
    """Counts, size and last change of a collection (the epoch when it is empty)."""
    records = kb.documents(collection)
    times = [datetime.fromisoformat(r.ingested_at.replace("Z", "+00:00")) for r in records]
    modified = max(times, default=datetime.fromtimestamp(0, UTC))
    chunks = sum(r.chunks for r in records)
    return CollectionInfo(collection, len(records), chunks, sum(r.size for r in records), modified)


# -- conversations ---------------------------------------------------------------------------


def split_conversation(turns: list[tuple[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """(question, history) from (role, text) turns: the last user turn is the question."""
    users = [i for i, (role, text) in enumerate(turns) if role == "user" and text.strip()]
    if not users:
        raise BadRequest("the conversation has no user message to answer")
    last = users[-1]
    if len(turns[last][1]) > MAX_QUESTION_CHARS:
        raise BadRequest(f"the last user message is over {MAX_QUESTION_CHARS} characters")
    history = [
        {"role": r, "content": _without_own_additions(t) if r == "assistant" else t}
        for r, t in turns[:last]
    ]
    return turns[last][1], history


@dataclass(frozen=True)
class Conversation:
    """A client's messages as we answer them."""

    question: str  # the last user message
    history: list[dict[str, str]]  # the turns before it
    system: str  # the client's system prompts: style instructions after our rules
    after: list[dict[str, Any]]  # tool calls and tool results after the question, Ollama-shaped


def conversation(messages: list[dict[str, Any]]) -> Conversation:
    """Question, history, system prompt and trailing tool turns of a chat request."""
    turns = [(str(m.get("role") or "").lower(), message_text(m)) for m in messages]
    question, history = split_conversation(turns)
    system = "\n\n".join(t.strip() for r, t in turns if r in ("system", "developer") and t.strip())
    last = max(i for i, (role, text) in enumerate(turns) if role == "user" and text.strip())
    after = [
        ollama_message(m)
        for m in messages[last + 1 :]
        if str(m.get("role")).lower() == "tool" or m.get("tool_calls")
    ]
    return Conversation(question, history, system, after)


def answer_request(
    collection: str, chat: Conversation, options: dict[str, Any] | None, **extra: Any
) -> AnswerRequest:
    """The AnswerRequest of a compatible chat (tools and format in extra)."""
    return AnswerRequest(
        collection,
        chat.question,
        chat.history,
        options=options,
        system=chat.system,
        after=chat.after or None,
        **extra,
    )


def _without_own_additions(text: str) -> str:
    """An earlier reply of ours without the Sources footer or the hint after a refusal."""
    text = _FOOTER_RE.sub("", text)
    for refusal in (REFUSAL_EN, REFUSAL_VI):
        if text.startswith(refusal):
            return refusal  # so that answer.py recognises and drops it
    return text


# -- replies ---------------------------------------------------------------------------------


def grounded_reply(kb: KnowledgeBase, request: AnswerRequest) -> Iterator[str | Done]:
    """The answer's text as it streams (invalid `[n]` already removed), a Sources footer, Done.

    Structured output (`format`) gets no footer: it would break the JSON.
    """
    vietnamese = reads_vietnamese(request.question)
    sent = False
    for event in answer_stream(kb, request):
        if isinstance(event, Token):
            sent = True
            yield event.text
        elif isinstance(event, Done):
            if not sent and event.answer.answer:
                # Refused before the model was asked: no tokens came, the message is the answer.
                yield refusal_text(event.answer, request.collection, vietnamese)
            footer = sources_footer(event.answer.citations, vietnamese)
            if footer and not request.format:
                yield footer
            yield event


def collect(reply: Iterator[str | Done]) -> tuple[str, Done]:
    """A whole reply at once: its text and its Done."""
    parts: list[str] = []
    for item in reply:
        if isinstance(item, Done):
            return "".join(parts).lstrip(), item
        parts.append(item)
    raise AssertionError("unreachable: a grounded reply always ends with Done")


def citations_body(done: Done) -> list[dict[str, Any]]:
    """The checked citations as /ask shows them (the extra `citations` field)."""
    return [body(CitationOut.of(c)) for c in done.answer.citations]


def failure(exc: BaseException) -> tuple[int, str]:
    """(status, message) for an error raised after the response started."""
    if isinstance(exc, RagError):
        return exc.status, exc.public
    log.error("unexpected error while streaming a reply", exc_info=exc)
    return 500, "unexpected error; see the server log"


def refusal_text(answer: Answer, collection: str, vietnamese: bool) -> str:
    """The refusal sentence, with a hint at why when retrieval found nothing to use."""
    hint = _HINTS.get((str(answer.reason), vietnamese))
    return f"{answer.answer} {hint.format(c=collection)}".strip() if hint else answer.answer


def sources_footer(citations: list[Citation], vietnamese: bool) -> str:
    """`\\n\\nSources:\\n[1] file, p. 3 — heading` lines for the checked citations."""
    if not citations:
        return ""
    lines = [SOURCES_HEADING[vietnamese]]
    lines += [f"[{c.n}] {location_label(c, FOOTER)}" for c in citations]
    return "\n\n" + "\n".join(lines)


def go_time(ns: int | None = None) -> str:
    """RFC 3339 UTC with nanoseconds, trailing zeros trimmed, `Z` (as Go marshals time)."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"
