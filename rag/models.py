"""Plain data types shared by the ingest and query sides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from rag.display import display_source

# Search modes: one leg each, then both fused (the default); the eval reports them in this order.
Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "hybrid"


@dataclass(frozen=True)
class Section:
    """A run of text from one place in a document: a PDF page, or a Markdown heading's body."""

    text: str
    page: int | None = None  # 1-based physical page number (PDF), or slide number (pptx)
    page_label: str | None = None  # printed page label, e.g. "iv" or "12" (PDF only)
    heading: tuple[str, ...] = ()  # heading path, outermost first (Markdown/HTML/Office)
    ocr: bool = False  # the text was read from the page image by OCR, not from a text layer


@dataclass
class Document:
    """A loaded file: its text in sections, plus what could not be read."""

    source: str  # absolute and resolved (or uploads/<name>); shown through rag.display
    kind: str  # a kind from rag.filetypes: "pdf", "md", "docx", "csv", ...
    sha256: str  # of the exact bytes that were parsed
    sections: list[Section]
    pages: int | None = None  # page count for PDFs
    title: str | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. "page 3: no extractable text ..."


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed, with where it came from."""

    id: str  # derived from the document hash and the chunk's position
    doc_id: str
    source: str
    index: int  # position within the document, 0-based
    text: str
    tokens: int  # estimated embedding tokens (without the task prefix)
    page: int | None = None
    page_label: str | None = None
    heading: str = ""  # heading path joined with " > "
    ocr: bool = False  # from a page read by OCR

    def metadata(self) -> dict[str, Any]:
        """Chroma-safe metadata (no None values)."""
        meta: dict[str, Any] = {
            "doc_id": self.doc_id,
            "source": self.source,
            "index": self.index,
            "heading": self.heading,
        }
        if self.page is not None:
            meta["page"] = self.page
        if self.page_label is not None:
            meta["page_label"] = self.page_label
        if self.ocr:
            meta["ocr"] = True
        return meta


@dataclass
class Hit:
    """A retrieved chunk with its score (higher is better)."""

    chunk_id: str
    source: str
    text: str
    score: float
    page: int | None = None
    page_label: str | None = None
    heading: str = ""
    doc_id: str = ""
    explain: dict[str, Any] | None = None
    display: str = ""  # the source as people see it (rag.display); "" until the kb names it


@dataclass
class DocumentRecord:
    """What the catalog knows about an ingested document."""

    doc_id: str
    source: str
    sha256: str
    kind: str
    chunks: int
    pages: int | None
    ingested_at: str  # ISO 8601 UTC
    size: int = 0
    warnings: list[str] = field(default_factory=list)
    display: str = ""  # the source as people see it (rag.display); "" until the kb names it

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.doc_id,
            "source": display_source(self),
            "sha256": self.sha256,
            "kind": self.kind,
            "chunks": self.chunks,
            "pages": self.pages,
            "size": self.size,
            "ingested_at": self.ingested_at,
            "warnings": self.warnings,
        }


@dataclass
class Citation:
    """A checked `[n]` in an answer, pointing at a retrieved chunk."""

    n: int
    source: str
    page: int | None
    heading: str
    chunk_id: str
    snippet: str
    score: float
    page_label: str | None = None
    display: str = ""  # the source as people see it (rag.display)


@dataclass
class Answer:
    """A grounded answer, or a structured refusal (answerable False with a reason)."""

    answer: str
    answerable: bool
    reason: str | None = None  # "no_documents" | "nothing_relevant" | "model_declined"
    citations: list[Citation] = field(default_factory=list)
    dropped_citations: list[int] = field(default_factory=list)  # [n] that matched no source
    candidates: list[Hit] = field(default_factory=list)  # nearest chunks, shown on refusal
    query: str = ""  # the standalone query used for retrieval
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
