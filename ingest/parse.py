"""Bytes to a document and its chunks: the CPU-heavy step, run in a worker process for big PDFs."""

from __future__ import annotations

from ingest.chunker import chunk_document
from ingest.loaders import load_bytes
from rag.errors import EmptyDocument
from rag.models import Chunk, Document


def parse_bytes(
    source: str, data: bytes, doc_id: str, max_tokens: int, overlap: int, room: int | None = None
) -> tuple[Document, list[Chunk]]:
    """Load and chunk one file's bytes; raises a DocumentError when nothing can be indexed."""
    doc = load_bytes(source, data)
    chunks = chunk_document(doc, doc_id, max_tokens, overlap, room)
    if not chunks:
        raise EmptyDocument("no text to index")
    return doc, chunks
