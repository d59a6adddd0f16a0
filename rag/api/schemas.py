"""Request and response bodies of the HTTP API (they drive the OpenAPI docs at /docs).

The response models are also the one presenter of each result: `rag … --json` prints the same
bodies through `body()`. Optional fields that a result leaves out (an answer's refusal reason,
a hit's explain) are left unset, so they are absent rather than null, as the API always sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.display import display_source
from rag.grouping import DocumentHits, group_by_document
from rag.models import DEFAULT_MODE, Answer, Citation, DocumentRecord, Hit, Mode

if TYPE_CHECKING:
    from rag.retrieve import Retrieval


SOURCE_DOC = (
    "where the document came from, as people see it: relative to the folder it was ingested "
    "from (hr/handbook.md) or uploads/<name>; never a server path (documents are named by id)"
)


def body(model: BaseModel) -> dict[str, Any]:
    """A response model as the JSON object the API sends."""
    return model.model_dump(mode="json", exclude_unset=True)


def _timings(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in timings.items()}


def _same_names(model: type[BaseModel], item: object, **overrides: Any) -> dict[str, Any]:
    """The model's fields taken from item's attributes of the same names, then overrides."""
    return {**{name: getattr(item, name) for name in model.model_fields}, **overrides}


# -- requests ----------------------------------------------------------------------------------


class Message(BaseModel):
    """One turn of a conversation."""

    role: Literal["system", "user", "assistant"]
    content: str


class SearchRequest(BaseModel):
    """POST /search."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    collection: str | None = None
    filters: dict[str, Any] | None = Field(
        default=None,
        description='{"source": "glob or path", "kind": "pdf", "ingested_after": "2026-01-31"}',
    )
    top_k: int | None = Field(default=None, ge=1, le=100)
    explain: bool = False
    mode: Mode = DEFAULT_MODE
    group_by: Literal["chunk", "document"] = Field(
        default="chunk",
        description='"document": also rank documents (each with its best and other chunks)',
    )


class AskRequest(BaseModel):
    """POST /ask."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    messages: list[Message] | None = None
    collection: str | None = None
    filters: dict[str, Any] | None = None
    top_k: int | None = Field(default=None, ge=1, le=50)
    stream: bool = False


# -- responses ---------------------------------------------------------------------------------


class HitOut(BaseModel):
    """A retrieved chunk."""

    chunk_id: str
    source: str = Field(description=SOURCE_DOC)
    page: int | None = Field(description="1-based physical page (PDF only)")
    page_label: str | None = Field(description="the page's printed label (PDF only)")
    heading: str = Field(description="heading path joined with ' > '")
    score: float = Field(description="the mode's score: fused RRF, cosine or bm25")
    text: str
    explain: dict[str, Any] | None = Field(
        default=None, description="each leg's rank and score (only with explain: true)"
    )

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        """The hit as the API shows it (explain only when retrieval explained it)."""
        fields = _same_names(cls, hit, source=display_source(hit), score=round(hit.score, 6))
        if hit.explain is None:
            del fields["explain"]
        return cls(**fields)


class DocumentHitsOut(BaseModel):
    """A document among the results: its best chunk ranks it; its other matching chunks."""

    doc_id: str
    source: str = Field(description=SOURCE_DOC)
    score: float
    best: HitOut
    others: list[HitOut]

    @classmethod
    def of(cls, group: DocumentHits) -> DocumentHitsOut:
        """One document's group as the API shows it."""
        return cls(
            doc_id=group.doc_id,
            source=display_source(group.best),
            score=round(group.score, 6),
            best=HitOut.of(group.best),
            others=[HitOut.of(h) for h in group.others],
        )


class SearchResponse(BaseModel):
    """POST /search and `rag search --json`."""

    query: str
    collection: str
    hits: list[HitOut] = Field(description="chunks that passed the relevance floor, best first")
    reason: str | None = Field(description='null, "no_documents" or "nothing_relevant"')
    candidates: list[HitOut] = Field(description="the nearest chunks anyway, when no hit passed")
    timings: dict[str, float] = Field(description="milliseconds per step")
    documents: list[DocumentHitsOut] | None = Field(
        default=None, description='with group_by "document": the best documents, best first'
    )

    @classmethod
    def of(
        cls, query: str, collection: str, result: Retrieval, documents: int | None = None
    ) -> SearchResponse:
        """One retrieval as the API shows it; grouped into at most `documents` when given."""
        out = cls(
            query=query,
            collection=collection,
            hits=[HitOut.of(h) for h in result.hits],
            reason=result.reason,
            candidates=[HitOut.of(h) for h in result.candidates] if result.reason else [],
            timings=_timings(result.timings),
        )
        if documents is not None:
            groups = group_by_document(result.hits, documents)
            out.documents = [DocumentHitsOut.of(g) for g in groups]
        return out


class CitationOut(BaseModel):
    """A checked `[n]` of an answer and the passage it points at."""

    n: int
    source: str = Field(description=SOURCE_DOC)
    page: int | None
    page_label: str | None
    heading: str
    chunk_id: str
    snippet: str = Field(description="the part of the chunk that best matches the claim")
    score: float

    @classmethod
    def of(cls, citation: Citation) -> CitationOut:
        """The citation as the API shows it."""
        score = round(citation.score, 6)
        return cls(**_same_names(cls, citation, source=display_source(citation), score=score))


class AnswerOut(BaseModel):
    """POST /ask, the `done` event of a streamed /ask, and `rag ask --json`."""

    answer: str
    answerable: bool
    citations: list[CitationOut]
    dropped_citations: list[int] = Field(description="[n] that named no source, removed")
    query: str = Field(description="the standalone query used for retrieval")
    timings: dict[str, float] = Field(description="milliseconds per step")
    reason: str | None = Field(
        default=None,
        description='"no_documents", "nothing_relevant" or "model_declined" '
        "(only when answerable is false)",
    )
    candidates: list[HitOut] | None = Field(
        default=None, description="the nearest chunks (only when answerable is false)"
    )

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        """The answer as the API shows it (a refusal adds its reason and candidates)."""
        refusal: dict[str, Any] = {}
        if not answer.answerable:
            refusal["reason"] = answer.reason
            refusal["candidates"] = [HitOut.of(h) for h in answer.candidates]
        return cls(
            answer=answer.answer,
            answerable=answer.answerable,
            citations=[CitationOut.of(c) for c in answer.citations],
            dropped_citations=answer.dropped_citations,
            query=answer.query,
            timings=_timings(answer.timings),
            **refusal,
        )


class DocumentOut(BaseModel):
    """An ingested document as the catalog knows it."""

    id: str = Field(description="the document's identifier in the API")
    source: str = Field(description=SOURCE_DOC)
    sha256: str
    kind: str = Field(description='"pdf", "md", "txt" or "html"')
    chunks: int
    pages: int | None
    size: int = Field(description="bytes")
    ingested_at: str = Field(description="ISO 8601 UTC")
    warnings: list[str]

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentOut:
        """The record as the API shows it."""
        return cls.model_validate(record.to_dict())


class DocumentList(BaseModel):
    """GET /documents and `rag list --json`."""

    collection: str
    documents: list[DocumentOut]

    @classmethod
    def of(cls, collection: str, records: list[DocumentRecord]) -> DocumentList:
        """A collection's documents as the API shows them."""
        return cls(collection=collection, documents=[DocumentOut.of(r) for r in records])


class Deleted(BaseModel):
    """DELETE /documents/{id}."""

    deleted: DocumentOut
    collection: str


class FailedFile(BaseModel):
    """A file that could not be ingested, and why."""

    path: str
    error: str


class IngestSummary(BaseModel):
    """POST /documents: the same summary as `rag ingest --json`."""

    collection: str
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    failed: list[FailedFile]
    warnings: dict[str, list[str]] = Field(description="per source: pages without text, …")
    chunks: int = Field(description="chunks written")
    seconds: float
    aborted: str | None = Field(description="why the run stopped early, if it did")


class CollectionOut(BaseModel):
    """One knowledge base and its size."""

    name: str
    documents: int
    chunks: int


class CollectionList(BaseModel):
    """GET /collections and `rag collections --json`."""

    collections: list[CollectionOut]
    default: str = Field(description="the collection used when a request names none")

    @classmethod
    def of(cls, counts: dict[str, tuple[int, int]], default: str) -> CollectionList:
        """Collections with their (documents, chunks) counts."""
        rows = [CollectionOut(name=n, documents=d, chunks=c) for n, (d, c) in counts.items()]
        return cls(collections=rows, default=default)


# -- the CLI beside the server and the chat page's passage view --------------------------------


class LocalIngest(BaseModel):
    """POST /documents/local: `rag ingest PATH` of a CLI on the server's machine."""

    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1, description="absolute paths or globs")
    prune: bool = False
    rechunk: bool = False


class LocalFind(BaseModel):
    """POST /documents/local/find: `rag delete PATH` of a CLI on the server's machine."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, description="an absolute path, or the source as shown")


class ChunkOut(BaseModel):
    """One chunk of a document, whole."""

    chunk_id: str
    index: int = Field(description="0-based position in its document")
    text: str
    heading: str
    page: int | None
    page_label: str | None


class ChunkWindow(BaseModel):
    """GET /chunks/{id}: a chunk with its neighbours, in document order."""

    document: DocumentOut
    chunk_id: str = Field(description="the chunk asked for")
    chunks: list[ChunkOut]

    @classmethod
    def of(cls, record: DocumentRecord, chunk_id: str, rows: list[dict[str, Any]]) -> ChunkWindow:
        """A catalog window as the API shows it."""
        chunks = [ChunkOut(**{k: row[k] for k in ChunkOut.model_fields}) for row in rows]
        return cls(document=DocumentOut.of(record), chunk_id=chunk_id, chunks=chunks)
