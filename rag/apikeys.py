"""API keys and their scopes (`read` < `write` < `admin`) from `RAG_API_KEYS` and a keys file.

Messages here never contain a key: they name the entry by its position instead.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import ConfigError

SCOPES = ("read", "write", "admin")  # each scope includes the ones before it


@dataclass(frozen=True)
class ApiKey:
    """One configured key and its scope; its repr hides the key (settings get logged)."""

    key: str = field(repr=False)
    scope: str = "admin"

    def allows(self, scope: str) -> bool:
        """Whether this key's scope includes `scope`."""
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


def parse_entry(entry: str, where: str) -> ApiKey:
    """`key` (admin, as before scopes existed) or `key:scope`."""
    key, sep, scope = entry.strip().rpartition(":")
    if not sep:
        key, scope = entry.strip(), "admin"
    key, scope = key.strip(), scope.strip().lower()
    if not key:
        raise ConfigError(f"{where}: empty key")
    if scope not in SCOPES:
        raise ConfigError(f"{where}: unknown scope {scope!r} (use read, write or admin)")
    if any(c.isspace() for c in key):
        raise ConfigError(f"{where}: a key cannot contain spaces")
    return ApiKey(key, scope)


def parse_keys(raw: str) -> tuple[ApiKey, ...]:
    """`RAG_API_KEYS`: comma-separated `key` or `key:scope` entries."""
    entries = [part for part in raw.split(",") if part.strip()]
    return tuple(parse_entry(e, f"RAG_API_KEYS entry {n}") for n, e in enumerate(entries, 1))


def read_keys_file(path: Path) -> tuple[ApiKey, ...]:
    """A keys file: one `key:scope` (or `key scope`) per line; blank lines and `#` comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"RAG_API_KEYS_FILE: cannot read {path}: {exc.strerror}") from None
    keys = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            keys.append(parse_entry(":".join(line.split(None, 1)), f"{path}:{lineno}"))
    return tuple(keys)


def normalized(keys: Iterable[ApiKey | str]) -> tuple[ApiKey, ...]:
    """Keys as ApiKey (a bare string is an admin key); one scope per key."""
    out: dict[str, ApiKey] = {}
    for n, item in enumerate(keys, 1):
        key = item if isinstance(item, ApiKey) else parse_entry(item, f"API key {n}")
        if key.key in out and out[key.key].scope != key.scope:
            raise ConfigError(f"API key {n} is configured twice with different scopes")
        out[key.key] = key
    return tuple(out.values())


def match(keys: Sequence[ApiKey], token: str) -> ApiKey | None:
    """The configured key equal to token (compared in constant time), or None."""
    found = None
    for key in keys:
        if hmac.compare_digest(token.encode(), key.key.encode()):
            found = key
    return found


def pick(keys: Sequence[ApiKey], scope: str) -> ApiKey | None:
    """The key with the least scope that still allows `scope` (least privilege), or None."""
    fitting = [k for k in keys if k.allows(scope)]
    return min(fitting, key=lambda k: SCOPES.index(k.scope)) if fitting else None
