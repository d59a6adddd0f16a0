"""Is OCR usable here: the Tesseract program and its language packs (ingest, `rag doctor`)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from typing import Any

from rag.config import Settings

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-vie"


@functools.cache
def installed_languages() -> frozenset[str] | None:
    """Tesseract's language packs, or None when the program is missing or broken."""
    program = shutil.which("tesseract")
    if program is None:
        return None
    try:
        done = subprocess.run(
            [program, "--list-langs"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # The first line is a header ("List of available languages in ...").
    return frozenset(line.strip() for line in done.stdout.splitlines()[1:] if line.strip())


def ocr_unavailable(languages: str) -> str | None:
    """Why OCR with these languages (`eng+vie`) cannot run here, or None when it can."""
    found = installed_languages()
    if found is None:
        return f"Tesseract is not installed ({INSTALL_HINT})"
    missing = [name for name in languages.split("+") if name not in found]
    if missing:
        packs = " ".join(f"tesseract-ocr-{name.lower().replace('_', '-')}" for name in missing)
        return f"Tesseract has no language pack for {'+'.join(missing)} (apt-get install {packs})"
    return None


def check_ocr(settings: Settings) -> dict[str, Any]:
    """The `rag doctor` line for OCR: failing only when RAG_OCR=force cannot be honoured."""
    if settings.ocr == "off":
        return {"ok": True, "detail": "off (RAG_OCR=off): scanned pages are reported, not read"}
    why = ocr_unavailable(settings.ocr_languages)
    if why is None:
        return {
            "ok": True,
            "detail": f"Tesseract ({settings.ocr_languages}) reads scanned pages "
            f"(RAG_OCR={settings.ocr})",
        }
    if settings.ocr == "force":
        return {"ok": False, "detail": f"RAG_OCR=force but {why}"}
    return {"ok": True, "detail": f"not available: {why}; scanned pages are reported, not read"}
