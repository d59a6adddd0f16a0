"""Hostile PDFs made on the spot: a huge page tree, and a tiny file with a huge flate stream."""

from __future__ import annotations

import zlib

MB = 1024 * 1024


def pdf(objects: list[bytes]) -> bytes:
    """A PDF with the given objects (1 is the catalog) and a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def many_pages(count: int) -> bytes:
    """`count` pages that all show one short word (100,000 pages: 20 MB, made in 0.2 s)."""
    text = b"BT /F1 8 Tf 1 1 Td (page) Tj ET"
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    kids = b" ".join(b"%d 0 R" % (n + 4) for n in range(count))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 3 0 R >>"
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count %d /Kids [%s] /Resources %s >>" % (count, kids, font),
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
            *[page] * count,
        ]
    )


def flate_bomb(inflated_mb: int = 100) -> bytes:
    """One page whose content stream inflates to `inflated_mb` MB of zeros (about 0.5 MB)."""
    squeeze = zlib.compressobj(1)
    block = bytes(MB)
    data = b"".join(squeeze.compress(block) for _ in range(inflated_mb)) + squeeze.flush()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count 1 /Kids [4 0 R] >>",
            stream,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 3 0 R >>",
        ]
    )
