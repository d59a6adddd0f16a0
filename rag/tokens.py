"""Token estimates without a tokenizer: one rule for chunking, prompt budgets and usage counts.

Measured against the WordPiece vocabulary of nomic-embed-text and all-minilm (bert-base-uncased)
on SciFact abstracts and XQuAD paragraphs: the estimate is 1.19x the real count on average for
English (99% of paragraphs at or above it) and 1.07x for Vietnamese. Multilingual tokenizers
(XLM-R, Qwen) split Vietnamese into fewer pieces, so the estimate only errs on the safe side
there. What it misses is caught where it matters: the ingest pipeline splits and retries a chunk
that Ollama still rejects as too long, and prompt budgets add CHAT_MARGIN.
"""

from __future__ import annotations

import math
import re

_WORD = re.compile(r"\w+")
_SYMBOL = re.compile(r"[^\w\s]")
# Chat models' byte-level BPE vocabularies (Llama, Qwen, Gemma) split more than WordPiece does,
# and a prompt over num_ctx is cut silently by Ollama: prompt budgets count 30% more.
CHAT_MARGIN = 1.3


def estimate_tokens(text: str) -> int:
    """Estimated word pieces in text (no special tokens): words by length and script, symbols 1."""
    total = len(_SYMBOL.findall(text))
    for word in _WORD.findall(text):
        total += word_tokens(word)
    return total


def prompt_tokens(text: str) -> int:
    """Estimated chat-model tokens of text: the word-piece estimate with CHAT_MARGIN."""
    return math.ceil(estimate_tokens(text) * CHAT_MARGIN)


def word_tokens(word: str) -> int:
    """Estimated word pieces of one word (letters and digits only)."""
    # English words of up to five letters are one piece; longer ones gain one per three letters.
    # Long numbers are 0.6 pieces per digit, hex/base64 0.75 per character, accented Latin
    # (Vietnamese, French) one per two letters, other scripts (CJK, Greek, Arabic) one per letter.
    size = len(word)
    if word.isascii():
        if word.isalpha():
            return 1 if size <= 5 else 1 + (size - 4) // 3
        if size <= 4:
            return (size + 2) // 3
        return (3 * size + 4) // 5 if word.isdigit() else (3 * size + 3) // 4
    if all(ch < "\u0250" or "\u1e00" <= ch < "\u1f00" for ch in word):
        return (size + 1) // 2
    return size
