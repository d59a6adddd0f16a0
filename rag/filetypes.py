"""The file types the service accepts: one table that ingest, filters, the API and CLI read."""

from __future__ import annotations

from pathlib import PurePath

# Suffix -> loader kind. The first suffix listed for a kind is its canonical one.
SUFFIXES: dict[str, str] = {
    ".pdf": "pdf",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".text": "txt",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".csv": "csv",
    ".tsv": "csv",
}
KINDS: tuple[str, ...] = tuple(dict.fromkeys(SUFFIXES.values()))


def kind_for(name: str) -> str | None:
    """The loader kind for a file name from its suffix, or None when the type is not accepted."""
    return SUFFIXES.get(PurePath(name).suffix.lower())


def kind_alias(raw: str) -> str | None:
    """A kind named by a user (`md`, `.markdown`, `HTM`), or None when it names no kind."""
    word = raw.strip().lower().lstrip(".")
    return word if word in KINDS else SUFFIXES.get("." + word)


def listing() -> str:
    """The canonical suffixes, for help texts: `.pdf .md .txt .html .docx ...`."""
    return " ".join("." + kind for kind in KINDS)


def unsupported_message(suffix: str) -> str:
    """Why a file type is refused, with what is accepted."""
    kinds = ", ".join(sorted(SUFFIXES))
    return f"unsupported file type '{suffix or '(no suffix)'}' (supported: {kinds})"
