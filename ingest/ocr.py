"""OCR of PDF pages without a usable text layer: pdfium renders them, Tesseract reads them.

It runs where the PDF is parsed (a parse worker process for PDF runs when OCR is possible), one
page at a time, each Tesseract call limited to one thread: the workers are the parallelism.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping

from ingest.text import clean_text
from rag.config import Settings
from rag.models import Chunk, Document
from rag.ocr_check import installed_languages, ocr_unavailable

DPI = 300  # Tesseract's sweet spot for body text
MAX_SIDE_PX = 5000  # posters and 30-inch test pages: more pixels only cost time
PAGE_TIMEOUT_S = 300  # one page; a stuck Tesseract must not hold the worker for ever
NO_TEXT = "no extractable text"  # the loader's per-page warning for an empty text layer
_PDFIUM = threading.Lock()  # pdfium is not thread-safe, and uploads may parse in threads


def ocr_possible() -> bool:
    """Cheap: RAG_OCR is not off and a Tesseract program is installed (for the parse planner)."""
    return Settings.load().ocr != "off" and shutil.which("tesseract") is not None


PageOcr = tuple[str, str | None]  # one page's OCR: its text, or "" and the warning why not


def apply_ocr(
    data: bytes,
    texts: list[str],
    suspect: set[int],
    warnings: list[str],
    ready: Mapping[int, PageOcr] | None = None,
) -> set[int]:
    """Re-read empty or `suspect` pages (0-based) by OCR in place; return the pages OCR read.

    `ready` holds pages already read by ocr_ahead (in the workers of a split parse).
    """
    settings = Settings.load()  # here, not passed in: this runs in a parse worker process
    if settings.ocr == "off" or not texts:
        return set()
    wanted = {i for i, text in enumerate(texts) if not text} | suspect
    if settings.ocr == "force":
        wanted = set(range(len(texts)))
    if not wanted:  # a PDF with a good text layer costs nothing more
        return set()
    why = ocr_unavailable(settings.ocr_languages)
    if why is not None:
        warnings.append(f"{_pages(wanted)} not read: OCR is not available ({why})")
        return set()
    done = set()
    for i in sorted(wanted):
        text, failed = ready[i] if ready and i in ready else ocr_page(data, i, settings)
        if failed:
            warnings.append(failed)
            continue
        texts[i] = text
        done.add(i)
    if done:
        warnings[:] = [w for w in warnings if not _about_empty_page(w, done)]
        warnings.append(f"{_pages(done)} read by OCR (Tesseract, {settings.ocr_languages})")
    return done


def ocr_ahead(data: bytes, texts: list[str], start: int) -> dict[int, PageOcr]:
    """OCR the pages of a span (from page index `start`) that apply_ocr will want for sure.

    Those with no text layer (every page, under RAG_OCR=force): the checks after the merge
    never give text to an empty page, so each is OCR'd, and here it is OCR'd in parallel.
    """
    settings = Settings.load()
    if settings.ocr == "off" or ocr_unavailable(settings.ocr_languages) is not None:
        return {}
    pages = [i for i, text in enumerate(texts) if settings.ocr == "force" or not text]
    return {start + i: ocr_page(data, start + i, settings) for i in pages}


def ocr_page(data: bytes, index: int, settings: Settings) -> PageOcr:
    """One page (0-based) read by Tesseract: its text, or "" and a warning saying why not."""
    try:
        image = render_page(data, index)
        text = clean_text(ocr_image(image, settings.ocr_languages), join_hyphens=True)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return "", f"page {index + 1}: OCR failed ({type(exc).__name__}: {exc})"[:240]
    if not text:
        return "", f"page {index + 1}: OCR found no text on the page image either"
    return text, None


def render_page(data: bytes, index: int) -> bytes:
    """One PDF page (0-based) as a greyscale PGM image at DPI, at most MAX_SIDE_PX a side."""
    import pypdfium2  # only files that need OCR pay for loading pdfium

    with _PDFIUM:
        pdf = pypdfium2.PdfDocument(data)
        try:
            page = pdf[index]
            scale = min(DPI / 72, MAX_SIDE_PX / max(*page.get_size(), 1.0))
            image = page.render(scale=scale, grayscale=True).to_pil()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.convert("L").save(out, "PPM")  # uncompressed: Tesseract reads it from a pipe at once
    return out.getvalue()


def ocr_image(image: bytes, languages: str) -> str:
    """The text Tesseract reads in an image (any format Leptonica reads)."""
    program = shutil.which("tesseract")
    if program is None or installed_languages() is None:
        raise OSError("Tesseract is not installed")
    # One thread per call: OpenMP threads fighting the other parse workers made a page 4x slower.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run(
        [program, "stdin", "stdout", "-l", languages],
        input=image,
        capture_output=True,
        env=env,
        timeout=PAGE_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(" ".join(done.stderr.decode("utf-8", "replace").split())[:160])
    return done.stdout.decode("utf-8", "replace")


def mark_ocr_chunks(doc: Document, chunks: list[Chunk]) -> list[Chunk]:
    """Chunks from pages that OCR read carry `ocr` in their metadata."""
    pages = {section.page for section in doc.sections if section.ocr}
    if not pages:
        return chunks
    return [dataclasses.replace(c, ocr=True) if c.page in pages else c for c in chunks]


def _about_empty_page(warning: str, done: set[int]) -> bool:
    return NO_TEXT in warning and any(warning.startswith(f"page {i + 1}:") for i in done)


def _pages(indexes: set[int]) -> str:
    numbers = sorted(i + 1 for i in indexes)
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    return "pages " + ", ".join(str(n) for n in numbers)
