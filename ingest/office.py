"""What the Office loaders share: checking the package, heading outlines, and table rows."""

from __future__ import annotations

import io
import zipfile
from itertools import zip_longest

from ingest.text import clean_text
from rag.errors import CorruptDocument, EncryptedDocument, UnsupportedFile
from rag.models import Section

# Password-protected Office files are not ZIP packages but OLE2 containers (as are .doc/.xls/.ppt)
# holding the encrypted package in a stream of this name.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_MAIN_PART = {
    "docx": "word/document.xml",
    "pptx": "ppt/presentation.xml",
    "xlsx": "xl/workbook.xml",
}
_NAMES = {"docx": "a Word document", "pptx": "a PowerPoint deck", "xlsx": "an Excel workbook"}
_LEGACY = {"docx": ".doc", "pptx": ".ppt", "xlsx": ".xls"}
_SIGNATURES = (
    (b"%PDF-", "a PDF"),
    (b"{\\rtf", "an RTF document"),
    (b"<!DOCTYPE html", "an HTML page"),
    (b"<html", "an HTML page"),
)


def check_package(data: bytes, kind: str) -> None:
    """Raise a DocumentError saying why these bytes are not a readable `kind` package."""
    name = _NAMES[kind]
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise EncryptedDocument(
                f"encrypted {kind} file: it is password-protected "
                "(remove the password in Office and save it again)"
            )
        legacy = _LEGACY[kind]
        raise UnsupportedFile(
            f"this is an old binary Office file ({legacy}) named .{kind}: save it as .{kind}"
        )
    for signature, what in _SIGNATURES:
        if data.lstrip()[:64].lower().startswith(signature.lower()):
            raise UnsupportedFile(f"not {name}: this is {what} with a .{kind} name")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            parts = set(package.namelist())
    except zipfile.BadZipFile as exc:
        raise CorruptDocument(f"damaged or truncated {kind} file ({exc})") from exc
    if _MAIN_PART[kind] not in parts:
        other = [k for k, part in _MAIN_PART.items() if part in parts]
        what = _NAMES[other[0]] if other else "a ZIP archive of something else"
        raise UnsupportedFile(f"not {name}: this is {what} with a .{kind} name")


class Outline:
    """Collects lines under a heading path (level 1 outermost) into Sections."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self._parts: list[tuple[tuple[str, ...], list[str]]] = [((), [])]

    def heading(self, level: int, text: str) -> None:
        """Start a new section under this heading."""
        self.path = [(lvl, h) for lvl, h in self.path if lvl < level] + [(level, text)]
        self._parts.append((tuple(h for _, h in self.path), []))

    def add(self, line: str) -> None:
        """Add a line of body text to the current section."""
        self._parts[-1][1].append(line)

    def sections(self) -> list[Section]:
        """The non-empty sections, cleaned."""
        out = []
        for heading, lines in self._parts:
            text = clean_text("\n".join(lines))
            if text:
                out.append(Section(text, heading=tuple(clean_text(h) for h in heading)))
        return out


def table_lines(rows: list[list[str]]) -> list[str]:
    """A table as lines a search finds and a citation shows: `Header: value; Header: value`."""
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    rows = [row for row in rows if any(cell for cell in row)]
    if len(rows) < 2:
        return [" | ".join(cell for cell in row if cell) for row in rows]
    header, out = rows[0], [" | ".join(cell for cell in rows[0] if cell)]
    for row in rows[1:]:
        pairs = [
            f"{name}: {value}" if name else value
            for name, value in zip_longest(header, row, fillvalue="")
            if value
        ]
        out.append("; ".join(pairs))
    return out
