"""Small real Office files, made with the libraries that write them (no binary blobs)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import docx
import msoffcrypto.format.ooxml
import openpyxl
import pptx
from pptx.util import Inches

FOOTNOTES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
    '<w:footnote w:id="1"><w:p><w:r><w:t>Approved by the works council in 2023.</w:t></w:r></w:p>'
    "</w:footnote></w:footnotes>"
)


def make_docx(*, footnote: bool = True) -> bytes:
    """A handbook: title, nested headings, a list, a table with a header row, a comment."""
    document = docx.Document()
    document.core_properties.title = "Staff handbook"
    document.add_paragraph("Staff handbook", style="Title")
    document.add_heading("Time off", level=1)
    document.add_heading("Annual leave", level=2)
    para = document.add_paragraph("Every employee gets 18 days of paid leave a year.")
    document.add_comment(para.runs, text="Check this number with finance", author="Reviewer")
    document.add_paragraph("Ask your manager first", style="List Bullet")
    document.add_heading("Travel", level=1)
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [
            ["City", "Hotel per night", "Meals"],
            ["Hanoi", "90 USD", "30 USD"],
            ["Paris", "180 EUR", "60 EUR"],
        ]
    ):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.add_paragraph("Book trains rather than flights under four hours.")
    out = io.BytesIO()
    document.save(out)
    return add_footnotes(out.getvalue()) if footnote else out.getvalue()


def add_footnotes(data: bytes) -> bytes:
    """The same package with a footnotes part (python-docx cannot write one)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                body = body.replace(
                    b"</Types>",
                    b'<Override PartName="/word/footnotes.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>',
                )
            elif item.filename == "word/_rels/document.xml.rels":
                body = re.sub(
                    rb"</Relationships>",
                    b'<Relationship Id="rIdFoot" Type="http://schemas.openxmlformats.org/'
                    b'officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/>'
                    b"</Relationships>",
                    body,
                )
            target.writestr(item, body)
        target.writestr("word/footnotes.xml", FOOTNOTES_XML)
    return out.getvalue()


def make_pptx() -> bytes:
    """Three slides: title + bullets with notes, a table, and an empty one."""
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly results"
    slide.placeholders[1].text_frame.text = "Revenue grew 12% in Vietnam"
    slide.notes_slide.notes_text_frame.text = "Mention the new Da Nang office"
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Headcount"
    shape = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate([["Team", "People"], ["Sales", "14"], ["Support", "9"]]):
        for c, text in enumerate(row):
            shape.table.cell(r, c).text = text
    deck.slides.add_slide(deck.slide_layouts[6])  # blank: nothing to index
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(rows: int = 3) -> bytes:
    """Two sheets: staff with numbers and dates, and an empty one; `rows` staff rows."""
    book = openpyxl.Workbook()
    staff = book.active
    staff.title = "Staff"
    staff.append(["Name", "Team", "Salary", "Start"])
    people = [("Alice Nguyen", "Sales", 5200.0, dt.datetime(2024, 3, 1))]
    people += [(f"Person {n}", "Support", 4000 + n, dt.datetime(2023, 1, 2)) for n in range(rows)]
    for person in people[:rows]:
        staff.append(list(person))
    book.create_sheet("Notes")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def encrypt(data: bytes, password: str = "secret") -> bytes:
    """The same Office file, password-protected as Office does it (an OLE2 container)."""
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()
