"""Bytes to a document and its chunks: the CPU-heavy step, run in a worker process for big files."""

from __future__ import annotations

import resource
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from ingest.bounds import ParseLimits, cap_chunks
from ingest.chunker import chunk_document
from ingest.loaders import load_bytes
from ingest.ocr import mark_ocr_chunks
from rag.errors import EmptyDocument, ParseLimit
from rag.models import Chunk, Document

T = TypeVar("T")
_TOO_LONG = "parsing took longer than {:g} s (RAG_PARSE_TIMEOUT): split the file or raise the limit"


def parse_bytes(
    source: str,
    data: bytes,
    doc_id: str,
    max_tokens: int,
    overlap: int,
    room: int | None = None,
    limits: ParseLimits | None = None,
) -> tuple[Document, list[Chunk]]:
    """Load and chunk one file's bytes; raises a DocumentError when nothing can be indexed."""
    limits = limits or ParseLimits()
    doc = load_bytes(source, data, limits=limits)
    return doc, chunk_loaded(doc, doc_id, max_tokens, overlap, room, limits)


def chunk_loaded(
    doc: Document, doc_id: str, max_tokens: int, overlap: int, room: int | None, limits: ParseLimits
) -> list[Chunk]:
    """A loaded document's chunks, capped; raises EmptyDocument when there are none."""
    chunks = chunk_document(doc, doc_id, max_tokens, overlap, room)
    chunks = cap_chunks(doc, chunks, limits.max_chunks)
    chunks = mark_ocr_chunks(doc, chunks)  # pages read by OCR say so in the chunk metadata
    if not chunks:
        raise EmptyDocument("no text to index")
    return chunks


def start_worker(memory_mb: int) -> None:
    """Worker-process initializer: import the parsers, then cap this process's address space."""
    import ingest.pdf_pages  # noqa: F401 - imported before the cap, so the cap is left for the file

    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def parse_in_worker(
    source: str,
    data: bytes,
    doc_id: str,
    max_tokens: int,
    overlap: int,
    room: int | None,
    limits: ParseLimits,
) -> tuple[Document, list[Chunk]]:
    """parse_bytes under the time limit (and the initializer's memory limit) of a worker."""
    args = (source, data, doc_id, max_tokens, overlap, room, limits)
    return run_limited(limits, limits.seconds, parse_bytes, *args)


def run_limited(limits: ParseLimits, seconds: float, work: Callable[..., T], *args: Any) -> T:
    """work(*args) in a worker, stopped after `seconds` (what is left of RAG_PARSE_TIMEOUT).

    Time and memory overruns become the file's ParseLimit, worded the same for every part of
    a parse, so a PDF split across workers fails exactly as the whole file would.
    """
    if seconds <= 0:
        raise ParseLimit(_TOO_LONG.format(limits.seconds))
    previous = signal.signal(signal.SIGALRM, _out_of_time)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return work(*args)
    except _OutOfTime:
        raise ParseLimit(_TOO_LONG.format(limits.seconds)) from None
    except MemoryError:
        raise ParseLimit(
            f"parsing needed more than {limits.memory_mb} MB of memory (RAG_PARSE_MEMORY_MB): "
            "split the file or raise the limit"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _OutOfTime(BaseException):
    """Raised by the timer; a BaseException so that no parser's `except Exception` eats it."""


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise _OutOfTime
