"""Word, PowerPoint, Excel and CSV files: what is extracted, and a clear reason for bad files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from ingest import sheets
from ingest.loaders import load_bytes
from rag.cli import main
from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, UnsupportedFile
from tests.office_fixtures import encrypt, make_docx, make_pptx, make_xlsx

MAKERS = {"docx": make_docx, "pptx": make_pptx, "xlsx": make_xlsx}


def test_docx_headings_tables_footnotes_and_no_comments() -> None:
    doc = load_bytes("handbook.docx", make_docx())
    assert doc.kind == "docx" and doc.title == "Staff handbook"
    by_heading = {section.heading: section.text for section in doc.sections}
    assert "18 days of paid leave" in by_heading[("Time off", "Annual leave")]
    assert "- Ask your manager first" in by_heading[("Time off", "Annual leave")]
    travel = by_heading[("Travel",)]
    # Each table row carries its header, so "hotel in Paris" finds a self-explaining line.
    assert "City: Paris; Hotel per night: 180 EUR; Meals: 60 EUR" in travel
    assert "Book trains rather than flights" in travel
    assert by_heading[("Footnotes",)] == "Approved by the works council in 2023."
    text = "\n".join(section.text for section in doc.sections)
    assert "Check this number with finance" not in text  # comments are review talk


def test_pptx_one_section_per_slide_with_notes() -> None:
    doc = load_bytes("results.pptx", make_pptx())
    assert doc.kind == "pptx" and doc.pages == 3
    first, second = doc.sections  # the blank third slide has nothing to index
    assert (first.page, first.heading) == (1, ("Quarterly results",))
    assert "Revenue grew 12% in Vietnam" in first.text
    assert "Notes: Mention the new Da Nang office" in first.text
    assert (second.page, second.heading) == (2, ("Headcount",))
    assert "Team: Sales; People: 14" in second.text


def test_xlsx_rows_keep_their_headers_and_row_numbers() -> None:
    doc = load_bytes("staff.xlsx", make_xlsx())
    assert doc.kind == "xlsx"
    assert [section.heading for section in doc.sections] == [("Staff",)]  # "Notes" is empty
    lines = doc.sections[0].text.split("\n")
    assert lines[0] == "Columns: Name | Team | Salary | Start"
    assert lines[1] == "Row 2: Name: Alice Nguyen; Team: Sales; Salary: 5200; Start: 2024-03-01"
    assert lines[2] == "Row 3: Name: Person 0; Team: Support; Salary: 4000; Start: 2023-01-02"


def test_huge_sheet_is_cut_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheets, "MAX_ROWS", 50)
    doc = load_bytes("big.xlsx", make_xlsx(rows=200))
    assert len(doc.sections[0].text.split("\n")) == 51  # the header line and 50 rows
    assert "sheet 'Staff': only the first 50 rows were indexed" in doc.warnings


def test_csv_sniffs_the_delimiter_and_reads_quoted_cells() -> None:
    data = 'Mã;Tên sản phẩm;Giá\nA1;"Bàn làm việc; gỗ sồi";2500000\n\nB2;Ghế xoay;900000\n'
    doc = load_bytes("gia.csv", ("\ufeff" + data).encode("utf-8"))
    assert doc.kind == "csv"
    lines = doc.sections[0].text.split("\n")
    assert lines == [
        "Columns: Mã | Tên sản phẩm | Giá",
        "Row 2: Mã: A1; Tên sản phẩm: Bàn làm việc; gỗ sồi; Giá: 2500000",
        "Row 4: Mã: B2; Tên sản phẩm: Ghế xoay; Giá: 900000",
    ]
    tsv = load_bytes("t.tsv", b"name\tteam\nAn\tSales\n")
    assert tsv.sections[0].text.split("\n")[1] == "Row 2: name: An; team: Sales"


# --- bad files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["docx", "pptx", "xlsx"])
def test_password_protected_office_file_is_encrypted(kind: str) -> None:
    with pytest.raises(EncryptedDocument, match=f"encrypted {kind} file: it is password-protected"):
        load_bytes(f"locked.{kind}", encrypt(MAKERS[kind]()))


@pytest.mark.parametrize("kind", ["docx", "pptx", "xlsx"])
def test_truncated_and_random_office_files_are_corrupt(kind: str) -> None:
    data = MAKERS[kind]()
    with pytest.raises(CorruptDocument, match=f"damaged or truncated {kind} file"):
        load_bytes(f"cut.{kind}", data[: len(data) // 2])
    with pytest.raises(CorruptDocument, match=f"damaged or truncated {kind} file"):
        load_bytes(f"noise.{kind}", bytes((i * 37 + 11) % 256 for i in range(4000)))


@pytest.mark.parametrize("kind", ["docx", "pptx", "xlsx", "csv"])
def test_zero_byte_office_file_is_empty(kind: str) -> None:
    with pytest.raises(EmptyDocument, match="empty file"):
        load_bytes(f"empty.{kind}", b"")


def test_office_files_without_text_are_empty() -> None:
    import docx
    import openpyxl
    import pptx

    blank_doc, blank_deck, blank_book = io.BytesIO(), io.BytesIO(), io.BytesIO()
    docx.Document().save(blank_doc)
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])
    deck.save(blank_deck)
    openpyxl.Workbook().save(blank_book)
    with pytest.raises(EmptyDocument, match="no text in the document"):
        load_bytes("blank.docx", blank_doc.getvalue())
    with pytest.raises(EmptyDocument, match="no text on any of its 1 slides"):
        load_bytes("blank.pptx", blank_deck.getvalue())
    with pytest.raises(EmptyDocument, match="no cell values in any of its 1 sheets"):
        load_bytes("blank.xlsx", blank_book.getvalue())
    with pytest.raises(EmptyDocument, match="no values"):
        load_bytes("blank.csv", b",,\n,,\n")


def test_wrong_extension_says_what_the_file_is() -> None:
    with pytest.raises(UnsupportedFile, match="not a Word document: this is an Excel workbook"):
        load_bytes("report.docx", make_xlsx())
    with pytest.raises(UnsupportedFile, match="not a PowerPoint deck: this is a PDF"):
        load_bytes("deck.pptx", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedFile, match="a ZIP archive of something else"):
        load_bytes("sheet.xlsx", archive.getvalue())
    with pytest.raises(UnsupportedFile, match="binary file, not text"):
        load_bytes("table.csv", make_xlsx())


# --- end to end ----------------------------------------------------------------------------------


def test_office_files_are_searchable_from_the_cli(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = cli_env / "office"
    docs.mkdir()
    (docs / "handbook.docx").write_bytes(make_docx())
    (docs / "results.pptx").write_bytes(make_pptx())
    (docs / "staff.xlsx").write_bytes(make_xlsx())
    (docs / "prices.csv").write_text("item,price\nstanding desk,450 EUR\n", encoding="utf-8")
    (docs / "locked.docx").write_bytes(encrypt(make_docx()))
    assert main(["ingest", str(docs), "--json"]) == 3
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["added"]) == 4
    assert [Path(f["path"]).name for f in summary["failed"]] == ["locked.docx"]

    def top_hit(query: str, *extra: str) -> dict[str, object]:
        assert main(["search", query, "--mode", "keyword", "--json", *extra]) == 0
        return dict(json.loads(capsys.readouterr().out)["hits"][0])

    hit = top_hit("Alice Nguyen salary")
    assert hit["source"] == "office/staff.xlsx" and hit["heading"] == "Staff"  # as shown
    assert "Row 2: Name: Alice Nguyen" in str(hit["text"])
    hit = top_hit("Da Nang office")
    assert (hit["source"], hit["page"]) == ("office/results.pptx", 1)
    hit = top_hit("hotel Paris")
    assert (hit["source"], hit["heading"]) == ("office/handbook.docx", "Travel")
    assert top_hit("standing desk")["source"] == "office/prices.csv"
