"""Spreadsheets (.xlsx) and CSV: one section per sheet, each row a line with its column headers.

A row reads `Row 12: Name: Alice; Team: Sales; Start: 2024-03-01`, so a search for a value finds
its row and the citation says which row of which sheet. Huge sheets are cut at MAX_ROWS rows and
MAX_COLUMNS columns, with a warning. Formulas give their last computed value (as Excel saved it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from ingest.office import check_package
from ingest.text import clean_text, decode_text
from rag.errors import CorruptDocument, EmptyDocument
from rag.models import Document, Section

MAX_ROWS = 20_000  # per sheet: about 2 MB of text, some 1,500 chunks
MAX_COLUMNS = 60
MAX_CELL_CHARS = 2_000
_DELIMITERS = ",;\t|"


def parse_xlsx(doc: Document, data: bytes) -> None:
    """Fill doc from an .xlsx workbook's bytes: one section per worksheet."""
    check_package(data, "xlsx")
    import openpyxl  # here: runs without workbooks never load openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            lines = sheet_lines(sheet.iter_rows(values_only=True), sheet.title, doc.warnings)
            if lines:
                doc.sections.append(Section(clean_text("\n".join(lines)), heading=(sheet.title,)))
        doc.title = (book.properties.title or "").strip() or None
    finally:
        book.close()
    if not doc.sections:
        raise EmptyDocument(f"no cell values in any of its {len(book.worksheets)} sheets")


def parse_csv(doc: Document, data: bytes) -> None:
    """Fill doc from CSV (or TSV) bytes: the first row is the header."""
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=_DELIMITERS)
        delimiter = dialect.delimiter
    except csv.Error:  # one column, or too irregular to tell: commas
        delimiter = "\t" if doc.source.lower().endswith(".tsv") else ","
    try:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        lines = sheet_lines(rows, "", doc.warnings)
    except csv.Error as exc:
        raise CorruptDocument(f"malformed CSV ({exc})") from exc
    if not lines:
        raise EmptyDocument("no values in the file")
    doc.sections = [Section(clean_text("\n".join(lines)))]


def sheet_lines(rows: Iterable[Sequence[Any]], name: str, warnings: list[str]) -> list[str]:
    """One line per non-empty row: `Row N: Header: value; ...` under the first non-empty row."""
    header: list[str] | None = None
    out: list[str] = []
    where = f"sheet {name!r}: " if name else ""
    for number, row in enumerate(rows, 1):
        cells = [cell_text(value) for value in row[:MAX_COLUMNS]]
        if not any(cells):
            continue
        if header is None:
            header = cells
            out.append(f"Columns: {' | '.join(cell for cell in cells if cell)}")
            if len(row) > MAX_COLUMNS:
                warnings.append(f"{where}only the first {MAX_COLUMNS} columns were indexed")
            continue
        if len(out) > MAX_ROWS:
            warnings.append(f"{where}only the first {MAX_ROWS} rows were indexed")
            break
        out.append(f"Row {number}: {_pairs(header, cells)}")
    return out


def _pairs(header: list[str], cells: list[str]) -> str:
    parts = []
    for i, value in enumerate(cells):
        if value:
            name = header[i] if i < len(header) else ""
            parts.append(f"{name}: {value}" if name else value)
    return "; ".join(parts)


def cell_text(value: Any) -> str:
    """A cell value as a person reads it: 42 not 42.0, dates as ISO 8601, no stray spaces."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())[:MAX_CELL_CHARS]
