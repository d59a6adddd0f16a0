"""Inputs the embedding model still finds too long: split, embedded in parts, pooled, never dropped.

Token counts are estimates, so a chunk may exceed the model's window now and then. The chunk
stays whole in the catalog (keyword search and answers see all of it); only its vector is pooled
from its halves, weighted by length, as the model pools its own word pieces.
"""

from __future__ import annotations

import numpy as np

from ingest.chunker import split_text
from rag.errors import InputTooLong
from rag.ollama import OllamaClient
from rag.tokens import estimate_tokens

MAX_SPLITS = 6  # halvings of a too-long input before giving up (1/64 of it must fit)


def embed_one_by_one(ollama: OllamaClient, texts: list[str]) -> list[np.ndarray | None]:
    """Each text's vector, splitting those that are too long; None where even 1/64 is."""
    out: list[np.ndarray | None] = []
    for text in texts:
        try:
            out.append(embed_split(ollama, text, 0))
        except InputTooLong:
            out.append(None)
    return out


def embed_split(ollama: OllamaClient, text: str, depth: int) -> np.ndarray:
    """Embed text; if the model finds it too long, embed its halves and average them."""
    try:
        row: np.ndarray = ollama.embed_documents([text])[0]
        return row
    except InputTooLong:
        halves = _halves(text)
        if depth >= MAX_SPLITS or len(halves) < 2:
            raise
    parts = [(embed_split(ollama, h, depth + 1), len(h)) for h in halves]
    pooled = np.sum([np.asarray(v, dtype=np.float64) * n for v, n in parts], axis=0)
    norm = float(np.linalg.norm(pooled)) or 1.0
    out: np.ndarray = (pooled / norm).astype(np.float32)
    return out


def _halves(text: str) -> list[str]:
    """text cut in two at a sentence or word boundary near its middle (by estimated tokens)."""
    half = max(1, estimate_tokens(text) // 2)
    parts = split_text(text, half)
    if len(parts) < 2:
        return parts
    # split_text packs greedily: regroup its pieces into two of about equal size.
    first: list[str] = []
    rest, used = list(parts), 0
    while rest and (not first or used + estimate_tokens(rest[0]) <= half):
        used += estimate_tokens(rest[0])
        first.append(rest.pop(0))
    return [" ".join(first), " ".join(rest)] if rest else [" ".join(first)]
