"""Dependency checks shared by `rag doctor` and `GET /health`."""

from __future__ import annotations

from typing import Any

from rag.config import Settings
from rag.errors import RagError
from rag.kb import KnowledgeBase
from rag.ocr_check import check_ocr
from rag.ollama import OllamaClient


def check_ollama(settings: Settings, client: OllamaClient) -> dict[str, dict[str, Any]]:
    """Is Ollama reachable, and are the embedding and chat models pulled?"""
    checks: dict[str, dict[str, Any]] = {}
    try:
        version = client.version()
        checks["ollama"] = {"ok": True, "detail": f"Ollama {version} at {settings.ollama_host}"}
    except RagError as exc:
        checks["ollama"] = {"ok": False, "detail": str(exc)}
        return checks
    if client.pool.several:
        checks["ollama"]["detail"] = f"Ollama {version} at {', '.join(settings.hosts)}"
        down = [h.url for h in client.pool.hosts if h not in client.pool.healthy()]
        if down:
            checks["ollama"]["detail"] += f"; not answering: {', '.join(down)}"
    for role, model in (("embed_model", settings.embed_model), ("chat_model", settings.chat_model)):
        try:
            info = client.require_model(model)
            ctx = f", context {info.context_length}" if info.context_length else ""
            checks[role] = {"ok": True, "detail": f"{model} is pulled{ctx}"}
        except RagError as exc:
            checks[role] = {"ok": False, "detail": str(exc)}
    return checks


def check_store(kb: KnowledgeBase) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Is the open store reachable? The check, and every collection's (documents, chunks)."""
    try:
        counts = kb.collection_counts()
    except RagError as exc:
        return {"ok": False, "detail": str(exc)}, {}
    docs = sum(d for d, _ in counts.values())
    detail = f"{kb.store.where}: {len(counts)} collections, {docs} documents"
    return {"ok": True, "detail": detail}, counts


def check_all(settings: Settings) -> dict[str, Any]:
    """Every check `rag doctor` runs, with an overall verdict."""
    with OllamaClient(settings) as client:
        checks = check_ollama(settings, client)
    try:
        with KnowledgeBase(settings, role="doctor") as kb:
            checks["store"], _ = check_store(kb)
    except RagError as exc:  # the store could not even be opened (locked, unreachable)
        checks["store"] = {"ok": False, "detail": str(exc)}
    checks["ocr"] = check_ocr(settings)
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
