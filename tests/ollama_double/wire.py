"""Go/gin wire details: JSON encoding and decoding errors, durations, timestamps."""

import json
import re
import time
from typing import Any

FOREVER_S = 290 * 365 * 86400.0
_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}  # fmt: skip
_NUMBER_RE = re.compile(r"(\d*)(\.\d*)?")
_UNIT_RE = re.compile(r"[^\d.]*")
INT_OPTIONS = frozenset(
    (
        "num_ctx",
        "num_batch",
        "num_gpu",
        "num_thread",
        "num_keep",
        "num_predict",
        "seed",
        "top_k",
        "repeat_last_n",
    )
)
FLOAT_OPTIONS = frozenset(
    (
        "temperature",
        "top_p",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
    )
)


class ApiError(Exception):
    """An error answered as `{"error": message}` with the given HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def go_json(obj: Any) -> str:
    """Serialise like Go's encoding/json: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_time(ns: int | None = None) -> str:
    """RFC3339 UTC timestamp with nanoseconds, trailing zeros trimmed, `Z` suffix."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def metrics(**values: int) -> dict[str, int]:
    """Drop zero-valued metrics (Go `omitempty`)."""
    return {key: int(value) for key, value in values.items() if int(value)}


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + ch.encode("unicode_escape").decode("ascii") + "'" if ch < " " else f"'{ch}'"


def _container_at(text: str, pos: int) -> str:
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:pos]:
        if in_string:
            escaped = not escaped and ch == "\\"
            in_string = escaped or ch != '"'
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _decode_message(err: json.JSONDecodeError, text: str) -> str:
    pos = err.pos
    if pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    msg, ch = err.msg, text[pos]
    if msg.startswith("Expecting property name"):
        where = "looking for beginning of object key string"
    elif msg.startswith("Expecting ':'"):
        where = "after object key"
    elif msg.startswith("Expecting ','"):
        in_object = _container_at(text, pos) == "{"
        where = "after object key:value pair" if in_object else "after array element"
    elif msg.startswith("Invalid control character"):
        where = "in string literal"
    elif msg.startswith("Invalid \\escape"):
        ch, where = text[pos + 1 : pos + 2] or "\\", "in string escape code"
    else:
        where = "looking for beginning of value"
    return f"invalid character {_quote_char(ch)} {where}"


def _reject_constant(name: str) -> Any:
    raise ApiError(400, f"invalid character {_quote_char(name[0])} looking for beginning of value")


def parse_json_body(raw: bytes) -> Any:
    """Decode a request body the way gin's ShouldBindJSON does (first JSON value only)."""
    text = raw.decode("utf-8", "replace").lstrip(" \t\r\n")
    if not text.strip():
        raise ApiError(400, "missing request body")
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    try:
        value, _ = decoder.raw_decode(text)
    except json.JSONDecodeError as err:
        raise ApiError(400, _decode_message(err, text)) from None
    return value


def json_type(value: Any) -> str:
    """Go's name for the JSON type of value (as in `cannot unmarshal <type> into ...`)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}" if isinstance(value, float) else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def parse_go_duration(text: str) -> float:
    """Parse a Go duration string (`5m`, `1h30m`, `-1s`, `0`) to seconds."""
    quoted = '"' + text + '"'
    rest, sign = text, 1.0
    if rest and rest[0] in "+-":
        sign, rest = (-1.0 if rest[0] == "-" else 1.0), rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ApiError(400, f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number = _NUMBER_RE.match(rest)
        if number is None or not number.group(0).strip("."):
            raise ApiError(400, f"time: invalid duration {quoted}")
        rest = rest[number.end() :]
        unit = _UNIT_RE.match(rest).group(0)  # type: ignore[union-attr]
        if not unit:
            raise ApiError(400, f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS:
            raise ApiError(400, f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number.group(0)) * _DURATION_UNITS[unit]
        rest = rest[len(unit) :]
    return sign * total


def parse_keep_alive(value: Any, default_s: float) -> float:
    """Seconds to keep a model loaded (api.Duration rules); negative means forever."""
    if value is None:
        return default_s
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        type_name = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}
        raise ApiError(400, f"Unsupported type: '{type_name.get(type(value), 'unknown')}'")
    seconds = parse_go_duration(value) if isinstance(value, str) else float(value)
    return FOREVER_S if seconds < 0 else seconds


def check_options(options: Any) -> dict[str, Any]:
    """Validate runner options like Ollama's FromMap (wrong types are a 500)."""
    if not isinstance(options, dict):
        return {}
    # Ollama skips null options (they keep the model's default) before checking types.
    options = {key: value for key, value in options.items() if value is not None}
    for key, value in options.items():
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if key in INT_OPTIONS and not numeric:
            raise ApiError(500, f'option "{key}" must be of type integer')
        if key in FLOAT_OPTIONS and not numeric:
            raise ApiError(500, f'option "{key}" must be of type float')
    return options
