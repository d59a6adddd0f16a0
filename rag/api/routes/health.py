"""GET /health: is every dependency up? 200 when yes, 503 with the reason when not."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rag.api.deps import State, authorize
from rag.errors import Unauthorized
from rag.health import check_ollama, check_store

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, state: State) -> JSONResponse:
    """Ollama reachable, models present, store reachable, document and chunk counts.

    Public, for load balancers; the details (addresses, paths, counts) only with a valid key
    when keys are configured.
    """
    kb = state.kb
    checks: dict[str, Any] = check_ollama(state.settings, kb.ollama)
    checks["store"], counts = check_store(kb)
    ok = all(check["ok"] for check in checks.values())
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "documents": sum(docs for docs, _ in counts.values()),
        "chunks": sum(chunks for _, chunks in counts.values()),
        "collections": {n: {"documents": d, "chunks": c} for n, (d, c) in counts.items()},
    }
    if not ok:
        failed = [f"{name}: {c['detail']}" for name, c in checks.items() if not c["ok"]]
        body["reason"] = "; ".join(failed)
    try:
        authorize(state.settings, request.headers, "read")
    except Unauthorized:
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=200 if ok else 503)
