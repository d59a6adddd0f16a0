"""GET /health: is every dependency up? 200 when yes, 503 with the reason when not."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rag.api.deps import State
from rag.health import check_ollama, check_store

router = APIRouter(tags=["health"])


@router.get("/health")
def health(state: State) -> JSONResponse:
    """Ollama reachable, models present, store reachable, document and chunk counts."""
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
    return JSONResponse(body, status_code=200 if ok else 503)
