"""Documents: upload (through the same pipeline as the CLI), list, show, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from rag.api.deps import KB, State
from rag.api.schemas import Deleted, DocumentList, DocumentOut, IngestSummary
from rag.errors import BadRequest, NotFound, PayloadTooLarge, ServiceUnavailable
from rag.filetypes import listing

router = APIRouter(tags=["documents"])
CollectionParam = Annotated[str | None, Query(description="knowledge base (default: configured)")]


@router.post("/documents")
async def upload(
    state: State,
    files: Annotated[list[UploadFile], File(description=f"one or more {listing()} files")],
    collection: CollectionParam = None,
) -> IngestSummary:
    """Ingest uploaded files; the answer is the same summary as `rag ingest --json`."""
    from ingest.run import ingest_uploads  # the upload edge is where rag may call ingest

    kb = state.kb
    name = kb.collection(collection)
    limit = int(state.settings.max_upload_mb * 1024 * 1024)
    uploads = []
    for upload_file in files:
        data = await upload_file.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(
                f"{upload_file.filename}: larger than the {state.settings.max_upload_mb:g} MB "
                "limit (RAG_MAX_UPLOAD_MB)"
            )
        uploads.append((upload_file.filename or "unnamed", data))
    if not uploads:
        raise BadRequest("no files in the upload (multipart field 'files')")

    def run() -> IngestSummary:
        with state.write_lock:
            return IngestSummary.model_validate(ingest_uploads(kb, name, uploads).to_dict())

    summary = await run_in_threadpool(run)
    if summary.aborted:
        raise ServiceUnavailable(f"ingest stopped: {summary.aborted}")
    return summary


@router.get("/documents")
def list_documents(kb: KB, collection: CollectionParam = None) -> DocumentList:
    """The documents of a collection."""
    name = kb.collection(collection)
    return DocumentList.of(name, kb.documents(name))


@router.get("/documents/{doc_id}")
def get_document(doc_id: str, kb: KB, collection: CollectionParam = None) -> DocumentOut:
    """One document by id."""
    name = kb.collection(collection)
    record = kb.document(name, doc_id)
    if record is None:
        raise NotFound(f"no document with id '{doc_id}' in collection '{name}'")
    return DocumentOut.of(record)


@router.delete("/documents/{doc_id}")
def delete_document(doc_id: str, state: State, collection: CollectionParam = None) -> Deleted:
    """Remove a document and its chunks."""
    kb = state.kb
    name = kb.collection(collection)
    if kb.document(name, doc_id) is None:
        raise NotFound(f"no document with id '{doc_id}' in collection '{name}'")
    with state.write_lock:
        record = kb.delete_document(name, doc_id)
    return Deleted(deleted=DocumentOut.of(record), collection=name)
