"""What a streamed answer yields, in order: Retrieved (unless refused early), Token…, Done.

Plain data: the edges (the /ask route, the CLI, the compatible routes) decide the wire format.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.models import Answer, Hit


@dataclass(frozen=True)
class Retrieved:
    """Retrieval found something to ground on; `sources` are the hits the prompt numbers."""

    hits: list[Hit]
    sources: list[Hit]  # [1]..[n], best first: what fitted the chat window
    query: str  # the standalone query actually used


@dataclass(frozen=True)
class Token:
    """Answer text as the model produced it, with `[n]` naming no source already removed."""

    text: str


@dataclass(frozen=True)
class Done:
    """The checked answer (or refusal), and how many pieces the chat model streamed."""

    answer: Answer
    tokens: int = 0


Event = Retrieved | Token | Done
