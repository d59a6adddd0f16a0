"""The chunking a collection was built with, so one collection never mixes two chunkings.

Stored per collection in the catalog (its `chunking` table), beside the documents. A run
whose chunking differs from the stored one (another model window, RAG_CHUNK_TOKENS or overlap,
or a newer chunker) stops with ChunkingChanged unless it re-chunks: `rag ingest --rechunk`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from rag.errors import ChunkingChanged
from rag.kb import KnowledgeBase
from rag.tokens import estimate_tokens

# Special tokens ([CLS]/[SEP], BOS/EOS) plus slack for the estimate; what is still too long is
# split and retried by ingest.oversize.
WINDOW_SLACK = 8
# Bump when chunk boundaries change for the same settings (2: budget per heading, new estimate).
CHUNKER_VERSION = 2


@dataclass(frozen=True)
class Chunking:
    """Everything that decides where chunks end."""

    max_tokens: int
    overlap: int
    room: int | None  # tokens the embedder's window leaves for heading + text
    version: int = CHUNKER_VERSION

    def describe(self) -> str:
        """A short human form, e.g. `248 tokens (window room 248), overlap 50, chunker v2`."""
        return (
            f"{self.max_tokens} tokens (window room {self.room}), overlap {self.overlap}, "
            f"chunker v{self.version}"
        )


def stored(kb: KnowledgeBase, collection: str) -> Chunking | None:
    """The chunking recorded for a collection, if any."""
    params = kb.chunking(collection)
    if params is None:
        return None
    try:
        return Chunking(**json.loads(params))
    except (TypeError, ValueError):
        return None  # unreadable: treated like a collection from before the record


def record(kb: KnowledgeBase, collection: str, chunking: Chunking) -> None:
    """Remember the chunking a collection is now built with."""
    kb.set_chunking(collection, json.dumps(asdict(chunking)))


def is_stale(kb: KnowledgeBase, collection: str, chunking: Chunking) -> bool:
    """True if the collection holds documents chunked some other way (or unknown)."""
    return kb.counts(collection)[0] > 0 and stored(kb, collection) != chunking


def check(kb: KnowledgeBase, collection: str, chunking: Chunking) -> None:
    """Raise ChunkingChanged if ingesting with this chunking would mix two chunkings."""
    if not is_stale(kb, collection, chunking):
        return
    old = stored(kb, collection)
    was = old.describe() if old else "an older chunker"
    raise ChunkingChanged(
        f"collection '{collection}' was chunked with {was}; this run would use "
        f"{chunking.describe()}. Re-chunk it with `rag ingest --rechunk PATH…` (re-embeds "
        "every document), or ingest into another collection"
    )


def window_budget(kb: KnowledgeBase, collection: str) -> tuple[int, int]:
    """(chunk size, tokens the embedder's window leaves for heading + text); see chunk_document."""
    settings = kb.settings
    info = kb.embed_info()
    kb.store.check_pin(collection, settings.embed_model, info.embedding_length)
    context = info.context_length or 512
    prefix = estimate_tokens(kb.ollama.prefixes()[0])
    room = max(32, context - prefix - WINDOW_SLACK)
    return min(settings.chunk_tokens, room), room


def begin(kb: KnowledgeBase, collection: str, now: Chunking, rechunk: bool | None) -> bool:
    """Before a run: refuse to mix chunkings unless re-chunking; True if the run re-chunks.

    rechunk None re-chunks when needed without asking (the evaluation's throwaway indexes).
    """
    stale = is_stale(kb, collection, now)
    if stale and rechunk is False:
        check(kb, collection, now)
    if not stale:  # recorded first, so an interrupted run's documents are known too
        record(kb, collection, now)
    return stale


def finish(kb: KnowledgeBase, collection: str, now: Chunking, done: set[str]) -> str | None:
    """After a re-chunking run: record the new chunking, or warn what still has the old one."""
    left = [r.source for r in kb.documents(collection) if r.source not in done]
    if left:
        return (
            f"{len(left)} documents (e.g. {left[0]}) still have the old chunking: "
            "re-chunk them with `rag ingest --rechunk` too"
        )
    record(kb, collection, now)
    return None
