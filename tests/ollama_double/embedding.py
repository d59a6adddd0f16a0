"""Deterministic fake embeddings (hashed word features) and the token-count approximation."""

import hashlib
import math
import re
from array import array
from collections import Counter
from functools import lru_cache

from .textnorm import STOP_WORDS, strip_accents, words

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
PREFIXES = (
    "search_query:",
    "search_document:",
    "clustering:",
    "classification:",
    "Represent this sentence for searching relevant passages:",
)
STOP_WEIGHT = 0.2
ACCENTLESS_WEIGHT = 0.35
UNIQUE_WEIGHT = 0.05
PREFIX_WEIGHT = 0.25
LEGACY_SCALE = 1.7

_TOKEN_RE = re.compile(r"(\w+)|[^\w\s]")


def _cost(match: re.Match[str]) -> int:
    return 1 + len(match.group(1)) // 6 if match.group(1) else 1


def count_tokens(text: str) -> int:
    """Approximate token count: 1 + len//6 per word, 1 per symbol, plus 2 specials."""
    return SPECIAL_TOKENS + sum(_cost(m) for m in _TOKEN_RE.finditer(text))


def truncate_tokens(text: str, limit: int) -> str:
    """Keep the longest head of text whose token count (with specials) fits in limit."""
    budget = limit - SPECIAL_TOKENS
    used = 0
    for match in _TOKEN_RE.finditer(text):
        cost = _cost(match)
        if used + cost > budget:
            room = budget - used
            if room > 0 and match.group(1):
                return text[: match.start() + 6 * room - 1]
            return text[: match.start()].rstrip()
        used += cost
    return text


def drop_front_tokens(text: str, n: int) -> str:
    """Remove at least n content tokens from the front of text."""
    if n <= 0:
        return text
    removed = 0
    for match in _TOKEN_RE.finditer(text):
        removed += _cost(match)
        if removed >= n:
            return text[match.end() :].lstrip()
    return ""


def split_prefix(text: str) -> tuple[str, str]:
    """Split a known task prefix (e.g. `search_query: `) off text."""
    for prefix in PREFIXES:
        if text.startswith(prefix):
            return prefix, text[len(prefix) :].lstrip()
    return "", text


@lru_cache(maxsize=262144)
def _slots(seed: str, feature: str, dim: int) -> tuple[tuple[int, float], ...]:
    digest = hashlib.blake2b(f"{seed}\x1f{feature}".encode(), digest_size=16).digest()
    out = []
    for start in (0, 8):
        value = int.from_bytes(digest[start : start + 8], "little")
        out.append((value % dim, 1.0 if value >> 63 else -1.0))
    return tuple(out)


def _dense(seed: str, key: str, dim: int) -> list[float]:
    raw = hashlib.shake_256(f"{seed}\x1f{key}".encode()).digest(dim)
    return _unit([(b - 127.5) / 127.5 for b in raw])


@lru_cache(maxsize=64)
def _dense_cached(seed: str, key: str, dim: int) -> tuple[float, ...]:
    return tuple(_dense(seed, key, dim))


def _unit(vec: list[float]) -> list[float]:
    norm = max(math.sqrt(sum(x * x for x in vec)), 1e-12)
    return [x / norm for x in vec]


def to_float32(vec: list[float]) -> list[float]:
    """Round values to float32 precision (shortest form that round-trips as float32)."""
    return [float(f"{x:.9g}") for x in array("f", vec)]


def _word_vector(text: str, seed: str, dim: int) -> list[float] | None:
    counts = Counter(words(text))
    if not counts:
        return None
    vec = [0.0] * dim
    for word, tf in counts.items():
        weight = (1.0 + math.log(tf)) * (STOP_WEIGHT if word in STOP_WORDS else 1.0)
        for index, sign in _slots(seed, word, dim):
            vec[index] += sign * weight
        for index, sign in _slots(seed, "~" + strip_accents(word), dim):
            vec[index] += sign * weight * ACCENTLESS_WEIGHT
    return vec


def embed_text(text: str, seed: str, dim: int) -> list[float]:
    """Unit-length float32 embedding of text for the model identified by seed."""
    prefix, body = split_prefix(text)
    vec = _word_vector(body, seed, dim)
    if vec is None or not any(vec):
        return to_float32(_dense(seed, "raw:" + text, dim))
    vec = _unit(vec)
    for weight, extra in (
        (UNIQUE_WEIGHT, _dense(seed, "text:" + " ".join(body.split()), dim)),
        (PREFIX_WEIGHT if prefix else 0.0, _dense_cached(seed, "prefix:" + prefix, dim)),
    ):
        if weight:
            vec = [x + weight * e for x, e in zip(vec, extra, strict=True)]
    return to_float32(_unit(vec))


def resize(vec: list[float], dims: int | None) -> list[float]:
    """Apply Ollama's `dimensions`: cut to the first k values and re-normalise."""
    if not dims or dims <= 0 or dims >= len(vec):
        return vec
    return to_float32(_unit(vec[:dims]))


def legacy_vector(vec: list[float]) -> list[float]:
    """The un-normalised vector served by the legacy /api/embeddings endpoint."""
    return [float(f"{x * LEGACY_SCALE:.9g}") for x in vec]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / max(na * nb, 1e-12)
