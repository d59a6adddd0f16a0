"""Small PDFs whose text layer is wrong in the ways real ones are: XFA forms, broken font maps."""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    TextStringObject,
)

XFA_PLACEHOLDER_TEXT = [
    "Please wait...",
    "If this message is not eventually replaced by the proper contents of the document, your PDF",
    "viewer may not be able to display this type of document.",
]
XFA_TEMPLATE = b"""<template xmlns="http://www.xfa.org/schema/xfa-template/3.0/">
<subform name="form1"><draw name="heading"><value><text>Vendor registration form</text></value>
</draw><field name="company"><caption><value><text>Company name</text></value></caption></field>
</subform></template>"""
XFA_DATASETS = b"""<xfa:datasets xmlns:xfa="http://www.xfa.org/schema/xfa-data/1.0/"><xfa:data>
<form1><company>Lotus Trading JSC</company><taxcode>0312345678</taxcode></form1>
</xfa:data></xfa:datasets>"""


def _stream(writer: PdfWriter, data: bytes) -> object:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def text_page_pdf(lines: list[str], to_unicode: bytes | None = None) -> PdfWriter:
    """A one-page writer with these lines in Helvetica (with this ToUnicode map, if given)."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    if to_unicode is not None:
        font[NameObject("/ToUnicode")] = _stream(writer, to_unicode)
    page = writer.add_blank_page(612, 792)
    ops = ["BT", "/F1 14 Tf", "20 TL", "72 720 Td"]
    ops += [f"({line}) Tj T*" for line in lines]
    page[NameObject("/Contents")] = _stream(writer, "\n".join([*ops, "ET"]).encode("latin-1"))
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    return writer


def to_bytes(writer: PdfWriter) -> bytes:
    """The writer's PDF."""
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def xfa_pdf(*, with_data: bool = True) -> bytes:
    """A LiveCycle-style form: the page shows only the placeholder; the content is XFA."""
    writer = text_page_pdf(XFA_PLACEHOLDER_TEXT)
    packets = ArrayObject()
    if with_data:
        for name, data in (("template", XFA_TEMPLATE), ("datasets", XFA_DATASETS)):
            packets += [TextStringObject(name), _stream(writer, data)]
    else:
        packets += [TextStringObject("template"), _stream(writer, b"<template><broken")]
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): packets}
    )
    return to_bytes(writer)


def garbled_pdf(lines: list[str]) -> bytes:
    """Readable on screen, junk when extracted: the font's ToUnicode map sends every code to
    U+FFFD, as with a broken non-embedded font."""
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CMapName /Junk def 1 begincodespacerange <00> <FF> endcodespacerange\n"
        "1 beginbfrange <20> <7E> [" + " ".join(["<FFFD>"] * 95) + "] endbfrange\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    return to_bytes(text_page_pdf(lines, cmap.encode("ascii")))
