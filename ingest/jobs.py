"""What travels between the pipeline's stages: files being parsed, and documents being embedded."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from ingest.chunker import embed_heading
from ingest.sources import Item
from rag.kb import DocumentVersion
from rag.models import Chunk, Document, DocumentRecord


@dataclass
class Job:
    """A loaded, chunked document on its way through the embedder to the writer."""

    item: Item
    record: DocumentRecord
    chunks: list[Chunk]
    texts: list[str]
    existed: bool
    vectors: list[np.ndarray | None] = field(default_factory=list)  # float32 rows
    remaining: int = 0
    error: str | None = None


@dataclass
class Parsing:
    """A file being parsed (in this thread or in a worker process)."""

    item: Item
    existed: bool
    size: int
    future: Future[tuple[Document, list[Chunk]]]


def embed_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: its heading path gives the text its context."""
    heading = embed_heading(chunk.heading)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def version_of(job: Job) -> DocumentVersion:
    """What the writer hands the knowledge base for a fully embedded job."""
    rows = [v for v in job.vectors if v is not None]  # none is None once job.error is None
    return DocumentVersion(job.record, job.item.mtime_ns, job.chunks, np.stack(rows))
