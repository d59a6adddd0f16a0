"""Text clean-up and decoding shared by the loaders: NFC, control characters, charsets."""

from __future__ import annotations

import codecs
import re
import unicodedata
from html.parser import HTMLParser

import charset_normalizer

from rag.errors import UnsupportedFile

# Line and page breaks that are not "\n"; form feeds mark page breaks in plain-text dumps.
_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# C0/C1 controls except \t and \n, soft hyphens, stray byte-order marks, and private-use
# code points (symbol-font glyphs such as Wingdings bullets: meaningless outside their font).
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\ufeff\ufffe\ue000-\uf8ff]")
# NFC keeps typographic ligatures; PDFs are full of them and "oﬃcial" would not match "official".
_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)
# Every horizontal space but the tab (kept: it can separate table cells).
_SPACES = re.compile(r"[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# Spaces around line breaks are layout, never content (code indentation is collapsed anyway).
_AROUND_BREAKS = re.compile(r"[ \t]*\n[ \t]*")
_BLANK_RUNS = re.compile(r"\n{3,}")
_HYPHENATED = re.compile(r"([^\W\d_])-[ \t]*\n[ \t]*([^\W\d_])")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# charset_normalizer often ranks a Baltic or Mac code page first on short Western text, or
# leaves cp1252 out: near-equal guesses that include cp1258 or cp1252 are settled by what the
# text looks like, and mostly-ASCII text that cp1252 decodes is cp1252 (a Western-first bias).
_CHAOS_TOLERANCE = 0.1
_VIETNAMESE = frozenset([chr(code) for code in range(0x1EA0, 0x1EFA)] + list("ăđơưĂĐƠƯ"))
_MAX_ACCENTED_PERCENT = 30
_MOSTLY_UTF8 = 20  # valid non-ASCII characters per undecodable byte
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])


def clean_text(text: str, *, join_hyphens: bool = False) -> str:
    """NFC-normalise text, drop control characters, collapse spaces and blank-line runs."""
    text = _BREAKS.sub("\n", text)
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = _CONTROLS.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _AROUND_BREAKS.sub("\n", text)
    if join_hyphens:
        text = _HYPHENATED.sub(_join_hyphen, text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _join_hyphen(match: re.Match[str]) -> str:
    # Only "exam-\nple": a capital after the break is more likely a compound like "Huggins-Daines".
    left, right = match.group(1), match.group(2)
    return left + right if right.islower() else match.group(0)


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode text bytes: BOM, then the declared charset, then strict UTF-8, then detection."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if looks_binary(data):
        raise UnsupportedFile("binary file, not text")
    if declared:
        return data.decode(declared, errors="replace")
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    # A few stray bytes in otherwise valid UTF-8 (pasted cp1252 text) are not a different charset.
    if not bad or bad * (_MOSTLY_UTF8 + 1) <= len(text) - len(text.encode("ascii", "ignore")):
        return text
    return _guess_decode(data)


def looks_binary(data: bytes) -> bool:
    """True for NUL bytes or more than 10% control bytes in the first 8 KB."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))  # counted in C
    return controls * 10 > len(head)


def _guess_decode(data: bytes) -> str:
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        raise UnsupportedFile("binary file, not text")
    least = min(match.chaos for match in matches)
    close = {
        codec
        for match in matches
        if match.chaos <= least + _CHAOS_TOLERANCE
        for codec in match.could_be_from_charset
    }
    if "cp1258" in close:
        text = unicodedata.normalize("NFC", data.decode("cp1258", errors="replace"))
        if _looks_vietnamese(text):
            return text
    if "cp1252" in close or _looks_western(data):
        return data.decode("cp1252", errors="replace")
    return str(matches[0])


def _looks_vietnamese(text: str) -> bool:
    """At least a fifth of the words carry a letter only Vietnamese uses (ế, ọ, ư, đ...)."""
    words = text.split()
    marked = sum(1 for word in words if any(ch in _VIETNAMESE for ch in word))
    return bool(words) and marked * 5 >= len(words)


def _looks_western(data: bytes) -> bool:
    """cp1252 decodes it, and most letters are ASCII as in English, French or German text."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    letters = [ch for ch in text if ch.isalpha()]
    foreign = sum(1 for ch in letters if not ch.isascii())
    return bool(letters) and foreign * 100 < len(letters) * _MAX_ACCENTED_PERCENT


# --- Markdown ---------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(
    r"\A(?:---|\+\+\+)[ \t]*\n(.*?)\n(?:---|\+\+\+|\.\.\.)[ \t]*(?:\n|\Z)", re.S
)
_FM_TITLE = re.compile(r"^title[ \t]*[:=][ \t]*[\"']?(.*?)[\"']?[ \t]*$", re.M)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>")


def markdown_sections(text: str) -> tuple[list[tuple[tuple[str, ...], str]], str | None]:
    """Split Markdown into (heading path, body) pairs; the title is the first H1."""
    text, fm_title = _strip_front_matter(_BREAKS.sub("\n", text))
    out: list[tuple[tuple[str, ...], str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    fence: str | None = None
    title = None
    for line in text.split("\n"):
        if fence is not None or _FENCE.match(line):
            fence = _next_fence(line, fence)
            body.append(line)
            continue
        level, heading = _heading(line, body)
        if not level:
            body.append(_inline(line))
            continue
        out.append((tuple(h for _, h in path if h), "\n".join(body)))
        body = []
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        if level == 1 and title is None and heading:
            title = heading
    out.append((tuple(h for _, h in path if h), "\n".join(body)))
    return out, title or fm_title


def _strip_front_matter(text: str) -> tuple[str, str | None]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return text, None
    found = _FM_TITLE.search(match.group(1))
    return text[match.end() :], (found.group(1).strip() or None) if found else None


def _next_fence(line: str, fence: str | None) -> str | None:
    # A fence closes only with the same character, at least as long, and nothing after it.
    match = _FENCE.match(line)
    if fence is None:
        return match.group(1) if match else None
    closing = match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
    return None if closing and not line.strip().lstrip(fence[0]) else fence


def _heading(line: str, body: list[str]) -> tuple[int, str]:
    match = _ATX.match(line)
    if match:
        return len(match.group(1)), _inline(match.group(2) or "").strip()
    if not (_SETEXT.match(line) and body and body[-1].strip()):
        return 0, ""
    # The underline turns the whole paragraph above it into the heading (unless it is code).
    start = len(body)
    while start > 0 and body[start - 1].strip():
        start -= 1
    if any(_FENCE.match(part) for part in body[start:]):
        return 0, ""
    heading = " ".join(part.strip() for part in body[start:])
    del body[start:]
    return (1 if line.strip()[0] == "=" else 2), heading


def _inline(line: str) -> str:
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    return _AUTOLINK.sub(r"\1", line)


# --- HTML ---------------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "noscript", "template", "head", "svg"})
_BLOCK_TAGS = (
    "address article aside blockquote body br caption dd details dialog div dl dt fieldset "
    "figcaption figure footer form header hr main nav ol p pre section summary table tbody "
    "tfoot thead tr ul"
)
_BLOCKS = frozenset(_BLOCK_TAGS.split())
_LEVELS = {f"h{n}": n for n in range(1, 7)}
_WHITESPACE = re.compile(r"\s+")  # outside <pre>, HTML source line breaks are just spaces
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class HtmlText(HTMLParser):
    """Collects visible text per heading path, the <title> and the first <h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[tuple[str, ...], str]] = []
        self.title: list[str] = []
        self.first_h1: str | None = None
        self._skip: list[str] = []
        self._in_title = False
        self._pre = 0
        self._path: list[tuple[int, str]] = []
        self._heading: list[str] | None = None
        self._level = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self._skip:
            self._skip.remove("head")  # an unclosed <head> ends where <body> starts
        if tag in _SKIPPED:
            self._skip.append(tag)
        elif tag == "title":
            self._in_title = True
        elif not self._skip:
            self._open(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # "<br/>" is one line break, and a self-closed "<svg/>" or "<title/>" hides nothing.
        if tag not in _SKIPPED and tag != "title":
            self.handle_starttag(tag, attrs)

    def _open(self, tag: str) -> None:
        if tag in _LEVELS:
            self._flush()
            self._heading, self._level = [], _LEVELS[tag]
        elif tag == "li":
            self._text.append("\n- ")
        elif tag in ("td", "th"):
            self._text.append("\t")
        elif tag in _BLOCKS:
            self._text.append("\n")
        if tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and tag in self._skip:
            del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag) :]
        elif tag == "title":
            self._in_title = False
        elif self._skip:
            return
        elif tag in _LEVELS and self._heading is not None:
            self._close_heading()
        elif tag in _BLOCKS:
            self._text.append("\n")
            if tag == "pre" and self._pre:
                self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title and all(tag == "head" for tag in self._skip):
            self.title.append(data)
        elif self._skip or self._in_title:
            return
        elif self._heading is not None:
            self._heading.append(data)
        else:
            self._text.append(data if self._pre else _WHITESPACE.sub(" ", data))

    def _close_heading(self) -> None:
        text = " ".join("".join(self._heading or []).split())
        self._heading = None
        if text:
            self._path = [(lvl, h) for lvl, h in self._path if lvl < self._level]
            self._path.append((self._level, text))
            if self._level == 1 and self.first_h1 is None:
                self.first_h1 = text

    def _flush(self) -> None:
        self.parts.append((tuple(h for _, h in self._path), "".join(self._text)))
        self._text = []

    def finish(self) -> None:
        """Close the parser and keep the text after the last heading."""
        self.close()
        if self._heading is not None:
            self._close_heading()
        self._flush()


def html_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in a <meta> tag, as a Python codec name."""
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    # As browsers do: "latin-1" pages are really cp1252, and a UTF-16 label without a BOM is a lie.
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return "utf-8" if name.startswith("utf-16") else name
