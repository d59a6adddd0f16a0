"""What a streamed answer yields, in order: Retrieved (unless refused early), Token…, Done.

Plain data: the edges (the /ask route, the CLI, the compatible routes) decide the wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
class Usage:
    """Token counts as Ollama reported them (prompt_eval_count, eval_count)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Done:
    """The checked answer (or refusal), how many pieces the chat model streamed, and why it ended.

    `finish_reason` is "stop", "length" (the token limit cut it) or "tool_calls" (then
    `tool_calls` holds Ollama's calls for the client to run); `usage` is None when the chat model
    was not asked.
    """

    answer: Answer
    tokens: int = 0
    finish_reason: str = "stop"
    usage: Usage | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


Event = Retrieved | Token | Done
