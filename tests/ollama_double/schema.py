"""Request structs and Go-decoder style type errors (`json: cannot unmarshal ...`)."""

from typing import Any

from .wire import ApiError, json_type, parse_json_body, parse_keep_alive

_MAP = "map[string]interface {}"
STRUCTS: dict[str, dict[str, str]] = {
    "EmbedRequest": {
        "model": "string", "truncate": "bool", "dimensions": "int", "options": _MAP,
    },
    "EmbeddingRequest": {"model": "string", "prompt": "string", "options": _MAP},
    "ChatRequest": {
        "model": "string", "messages": "[]api.Message", "stream": "bool", "options": _MAP,
        "tools": "api.Tools", "truncate": "bool", "shift": "bool",
    },
    "ShowRequest": {"model": "string", "name": "string", "verbose": "bool", "system": "string"},
    "Message": {
        "role": "string", "content": "string", "thinking": "string", "tool_name": "string",
        "images": "[]api.ImageData", "tool_calls": "[]api.ToolCall",
    },
}  # fmt: skip
KEEP_ALIVE_STRUCTS = ("EmbedRequest", "EmbeddingRequest", "ChatRequest")
THINK_LEVELS = ("high", "medium", "low", "max")


def _matches(go_type: str, value: Any) -> bool:
    if go_type == "string":
        return isinstance(value, str)
    if go_type == "bool":
        return isinstance(value, bool)
    if go_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if go_type == _MAP:
        return isinstance(value, dict)
    return isinstance(value, list)


def _type_error(value: Any, struct: str, path: str, go_type: str) -> ApiError:
    return ApiError(
        400,
        f"json: cannot unmarshal {json_type(value)} into Go struct field "
        f"{struct}.{path} of type {go_type}",
    )


def _check_struct(obj: dict[str, Any], struct: str, prefix: str = "") -> None:
    for name, go_type in STRUCTS[struct].items():
        value = obj.get(name)
        if value is None or _matches(go_type, value):
            continue
        raise _type_error(value, struct, prefix + name, go_type)


def _check_messages(messages: Any) -> None:
    for message in messages or []:
        if message is None:
            continue
        if not isinstance(message, dict):
            raise _type_error(message, "ChatRequest", "messages", "api.Message")
        _check_struct(message, "Message", "messages.")


def check_think(value: Any) -> bool:
    """Validate `think` (bool or level string); True if thinking was requested."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        if value not in THINK_LEVELS:
            allowed = '"high", "medium", "low", true, or false'
            raise ApiError(400, f'invalid think value: "{value}" (must be {allowed})')
        return True
    raise ApiError(
        400, 'think must be a boolean or string ("high", "medium", "low", true, or false)'
    )


def decode_request(
    raw: bytes, struct: str, keep_alive_default_s: float
) -> tuple[dict[str, Any], float]:
    """Decode and type-check a request body; returns (body, keep_alive seconds)."""
    value = parse_json_body(raw)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ApiError(
            400, f"json: cannot unmarshal {json_type(value)} into Go value of type api.{struct}"
        )
    keep_alive = keep_alive_default_s
    if struct in KEEP_ALIVE_STRUCTS:
        keep_alive = parse_keep_alive(value.get("keep_alive"), keep_alive_default_s)
    if struct == "ChatRequest":
        check_think(value.get("think"))
    _check_struct(value, struct)
    if struct == "ChatRequest":
        _check_messages(value.get("messages"))
    return value, keep_alive
