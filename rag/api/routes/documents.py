"""Documents: upload (through the same pipeline as the CLI), list, show, delete; read chunks.

POST /documents/local is the `rag ingest` of a CLI beside the server: it ingests paths on the
server's own disk, so it answers only loopback requests carrying the token `rag serve` wrote in
its lock file (readable by the server's user only): a remote client can never name a file.
POST /documents/local/find (`rag delete PATH` beside the server) is guarded the same way: other
clients see sources only as shown (rag.display) and name documents by id.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Annotated

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from rag.api.deps import KB, WRITE, State
from rag.api.schemas import (
    ChunkWindow,
    Deleted,
    DocumentList,
    DocumentOut,
    IngestSummary,
    LocalFind,
    LocalIngest,
)
from rag.errors import BadRequest, NotFound, PayloadTooLarge, ServiceUnavailable, Unauthorized
from rag.filetypes import listing
from rag.lock import local_token

router = APIRouter(tags=["documents"])
CollectionParam = Annotated[str | None, Query(description="knowledge base (default: configured)")]


@router.post(
    "/documents",
    dependencies=[WRITE],
    responses={422: {"model": IngestSummary, "description": "no file could be ingested"}},
)
async def upload(
    state: State,
    response: Response,
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
        hosts = state.settings.hosts  # any of them may be named: to operators, not API clients
        raise ServiceUnavailable(f"ingest stopped: {summary.aborted}", internal=hosts)
    if summary.failed and not (summary.added or summary.updated or summary.unchanged):
        response.status_code = 422  # nothing went in: say so, with every file's reason
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


@router.delete("/documents/{doc_id}", dependencies=[WRITE])
def delete_document(doc_id: str, state: State, collection: CollectionParam = None) -> Deleted:
    """Remove a document and its chunks."""
    kb = state.kb
    name = kb.collection(collection)
    if kb.document(name, doc_id) is None:
        raise NotFound(f"no document with id '{doc_id}' in collection '{name}'")
    with state.write_lock:
        record = kb.delete_document(name, doc_id)
    return Deleted(deleted=DocumentOut.of(record), collection=name)


@router.post("/documents/local", include_in_schema=False, dependencies=[WRITE])
async def ingest_local(
    payload: LocalIngest,
    request: Request,
    state: State,
    token: Annotated[str, Header(alias="X-Rag-Local-Token")] = "",
    collection: CollectionParam = None,
) -> IngestSummary:
    """`rag ingest PATH` from a CLI on this machine while this server owns the store."""
    from ingest.run import ingest_paths

    _check_local(request, token, state.settings.store_path)
    relative = [p for p in payload.paths if not os.path.isabs(p)]
    if relative:
        raise BadRequest(f"paths must be absolute: {relative[0]!r}")
    kb = state.kb
    name = kb.collection(collection)

    def run() -> IngestSummary:
        with state.write_lock:
            report = ingest_paths(kb, name, payload.paths, payload.prune, rechunk=payload.rechunk)
        return IngestSummary.model_validate(report.to_dict())

    return await run_in_threadpool(run)


@router.post("/documents/local/find", include_in_schema=False, dependencies=[WRITE])
def find_local(
    payload: LocalFind,
    request: Request,
    kb: KB,
    token: Annotated[str, Header(alias="X-Rag-Local-Token")] = "",
    collection: CollectionParam = None,
) -> DocumentOut:
    """`rag delete PATH` from a CLI on this machine: the document at a server-side path."""
    _check_local(request, token, kb.settings.store_path)  # a path is never asked of remotes
    return DocumentOut.of(kb.find_document(kb.collection(collection), payload.source))


def _check_local(request: Request, token: str, store_path: os.PathLike[str]) -> None:
    """Only this machine's user who can read the lock file may name server-side paths."""
    from pathlib import Path

    expected = local_token(Path(store_path))
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (expected and loopback and hmac.compare_digest(token.encode(), expected.encode())):
        raise Unauthorized("local ingest needs a loopback request with the store owner's token")


@router.get("/chunks/{chunk_id}")
def chunk_window(
    chunk_id: str,
    kb: KB,
    radius: Annotated[int, Query(ge=0, le=5, description="neighbours on each side")] = 1,
    collection: CollectionParam = None,
) -> ChunkWindow:
    """A chunk whole, with its neighbours in its document (the chat page's passage view)."""
    name = kb.collection(collection)
    row = kb.chunks(name, [chunk_id]).get(chunk_id)
    record = kb.document(name, row["doc_id"]) if row else None
    if row is None or record is None:
        raise NotFound(f"no chunk '{chunk_id}' in collection '{name}'")
    ids = kb.chunk_ids(name, record.doc_id)
    at = ids.index(chunk_id)
    window = ids[max(0, at - radius) : at + radius + 1]
    rows = kb.chunks(name, window)
    return ChunkWindow.of(record, chunk_id, [rows[cid] for cid in window if cid in rows])
