"""pypdf's warnings for the PDF a thread reads, collected (not printed) for the file's report."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# pypdf notes these on healthy files (the IRS 1040 form, for one): not worth a user's attention.
_BENIGN = ("parsing for Object Streams", "Multiple definitions in dictionary")

LogEntry = tuple[str, str]  # a pypdf warning: its format string, its message (picklable)


class _PdfLog(logging.Handler):
    """Collects pypdf's warnings for the file this thread is loading, instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        seen = getattr(self._local, "seen", None)
        if seen is not None and str(record.msg)[:200] not in seen:  # repeats add nothing
            seen[str(record.msg)[:200]] = (str(record.msg), _message(record))

    @contextmanager
    def capture(self) -> Iterator[dict[str, LogEntry]]:
        """Collect the warnings of this thread's pypdf calls, one per kind, in order."""
        self._local.seen = {}
        try:
            yield self._local.seen
        finally:
            self._local.seen = None


PDF_LOG = _PdfLog()
logging.getLogger("pypdf").addHandler(PDF_LOG)
# Without this, an app that configures root logging would still print every pypdf warning.
logging.getLogger("pypdf").propagate = False


def log_warnings(entries: list[LogEntry]) -> list[str]:
    """What the collected pypdf warnings tell a user: garbled fonts, damage worked around."""
    out = []
    fonts = [e for e in entries if "fontTools" in e[0]]
    others = [e for e in entries if not e[0].startswith(_BENIGN) and e not in fonts]
    if fonts:
        # We do not install fontTools: on the corpus it turned a readable table into garbage.
        out.append("some embedded fonts could not be fully decoded: their text may be garbled")
    if others:
        out.append(
            f"pypdf worked around {len(others)} kind(s) of damage in this PDF "
            f"(e.g. {others[0][1]!r}): some text may be missing"
        )
    return out


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a malformed log call must not break loading
        text = str(record.msg)
    return " ".join(text.split())[:120]
