"""What one file may cost: pages, characters and chunks indexed; a parse worker's time, memory.

Past a count limit the rest of the file is cut, with a warning saying what was cut (like
Elasticsearch's `indexed_chars`); past the time or memory limit the file fails (ParseLimit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from rag.config import Settings
from rag.models import Chunk, Document

_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
_MAX_DEPTH = 64


@dataclass(frozen=True)
class ParseLimits:
    """The per-file limits; picklable, so worker processes get them with each file."""

    max_pages: int = 5000
    max_chars: int = 5_000_000
    max_chunks: int = 10_000
    seconds: float = 300.0
    memory_mb: int = 2048

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        """The limits the settings ask for."""
        return cls(
            settings.max_pages,
            settings.max_chars,
            settings.max_chunks_per_file,
            settings.parse_timeout,
            settings.parse_memory_mb,
        )


def declared_pages(reader: PdfReader) -> int:
    """The page count the PDF's page tree declares (cheap: no walk)."""
    try:
        root = _node(_node(reader.trailer["/Root"])["/Pages"])
        return int(root.get("/Count", 0))
    except Exception:  # a damaged tree: pypdf's own walk will say what is wrong
        return 0


def first_pages(reader: PdfReader, limit: int) -> list[PageObject]:
    """The first `limit` pages, walking only that much of the tree.

    pypdf's `reader.pages` flattens the whole tree first: for 100,000 pages that took 30 s and
    half a gigabyte before the first page could be read.
    """
    root = _node(reader.trailer["/Root"])["/Pages"]
    out: list[PageObject] = []
    stack: list[tuple[Any, dict[str, Any], int]] = [(root, {}, 0)]
    seen: set[int] = set()
    while stack and len(out) < limit:
        ref, inherit, depth = stack.pop()
        node = ref.get_object()
        if not isinstance(node, DictionaryObject) or depth > _MAX_DEPTH or id(node) in seen:
            continue
        seen.add(id(node))
        kids = node.get("/Kids")
        if node.get("/Type") == "/Pages" or (kids is not None and node.get("/Type") != "/Page"):
            inherit = {**inherit, **{k: v for k, v in node.items() if k in _INHERITED}}
            members = kids.get_object() if kids is not None else []
            if isinstance(members, ArrayObject):
                stack.extend((kid, inherit, depth + 1) for kid in reversed(members))
            continue
        page = PageObject(
            reader, ref.indirect_reference if isinstance(ref, IndirectObject) else None
        )
        page.update(node)
        for key, value in inherit.items():
            if key not in page:
                page[key] = value
        out.append(page)
    return out


def cap_chars(doc: Document, limit: int) -> None:
    """Cut the document's text after `limit` characters, with a warning saying so."""
    total = sum(len(s.text) for s in doc.sections)
    if total <= limit:
        return
    room, kept = limit, []
    for section in doc.sections:
        if room <= 0:
            break
        if len(section.text) > room:
            section = replace(section, text=section.text[:room])
        kept.append(section)
        room -= len(section.text)
    doc.sections = kept
    doc.warnings.append(
        f"only the first {limit:,} of its {total:,} characters were indexed (RAG_MAX_CHARS)"
    )


def cap_chunks(doc: Document, chunks: list[Chunk], limit: int) -> list[Chunk]:
    """The first `limit` chunks, with a warning on the document when more were cut."""
    if len(chunks) <= limit:
        return chunks
    doc.warnings.append(
        f"only the first {limit:,} of its {len(chunks):,} chunks were indexed "
        "(RAG_MAX_CHUNKS_PER_FILE)"
    )
    return chunks[:limit]


def _node(obj: Any) -> DictionaryObject:
    found = obj.get_object()
    if not isinstance(found, DictionaryObject):
        raise ValueError("the page tree is not made of dictionaries")
    return found
