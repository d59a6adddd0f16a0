"""One process owns an embedded Chroma store at a time: an advisory lock file says who.

Two processes writing one PersistentClient path corrupt its vector index without an error,
and a second reader never sees new vectors; so every process that opens the store takes this lock.
The kernel releases it when the owner dies, so a crash never leaves a stale lock behind.

`rag serve` also writes its URL and a random token there (the file is then readable by its user
only): a CLI of the same user reads them to go through the server instead of refusing, and the
server's local-path ingest route accepts only loopback requests that carry the token.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from rag.errors import StoreLocked

LOCK_NAME = ".rag.lock"
_held: dict[Path, tuple[int, int]] = {}  # path -> (fd, refcount) for re-entrant use in one process
_tokens: dict[Path, str] = {}  # path -> the token this process wrote (role "serve" only)
_mutex = threading.Lock()


class StoreLock:
    """An exclusive, re-entrant (within one process) lock on a store folder."""

    def __init__(self, store_path: Path, role: str, url: str | None = None) -> None:
        self.path = (store_path / LOCK_NAME).resolve()
        self.role = role
        self.url = url
        self._acquired = False

    def acquire(self) -> StoreLock:
        """Take the lock or raise StoreLocked naming the owner and what to do."""
        with _mutex:
            if self.path in _held:
                fd, count = _held[self.path]
                _held[self.path] = (fd, count + 1)
                self._acquired = True
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise StoreLocked(locked_message(self.path.parent, owner)) from None
            owner = {
                "pid": os.getpid(),
                "role": self.role,
                "url": self.url,
                "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            if self.role == "serve":
                os.fchmod(fd, 0o600)  # the token lets its holder ingest server-side paths
                owner["token"] = _tokens[self.path] = secrets.token_urlsafe(32)
            _write_owner(fd, owner)
            _held[self.path] = (fd, 1)
            self._acquired = True
            return self

    def release(self) -> None:
        """Give the lock back (the last holder in this process closes the file)."""
        if not self._acquired:
            return
        self._acquired = False
        with _mutex:
            fd, count = _held[self.path]
            if count > 1:
                _held[self.path] = (fd, count - 1)
                return
            del _held[self.path]
            _tokens.pop(self.path, None)
            os.ftruncate(fd, 0)
            os.close(fd)

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def serving_owner(store_path: Path) -> dict[str, Any] | None:
    """The owner record of a store another process holds as `rag serve`, else None."""
    path = (store_path / LOCK_NAME).resolve()
    with _mutex:
        if path in _held or not path.exists():
            return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: by whom?
            owner = _read_owner(fd)
            return owner if owner.get("role") == "serve" and owner.get("url") else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def local_token(store_path: Path) -> str | None:
    """The token this process wrote as the store's `rag serve` owner, if it is that owner."""
    with _mutex:
        return _tokens.get((store_path / LOCK_NAME).resolve())


def locked_message(store: Path, owner: dict[str, Any]) -> str:
    """Explain who owns the store and how to proceed."""
    who = f"pid {owner.get('pid', '?')}"
    if owner.get("role") == "serve":
        where = f" at {owner['url']}" if owner.get("url") else ""
        return (
            f"the store {store} is owned by `rag serve` ({who}){where}. Send documents through "
            "its API (POST /documents), stop the server first, or run a Chroma server "
            "(`chroma run`) and set CHROMA_URL so several processes can share it"
        )
    role = owner.get("role") or "another rag process"
    return (
        f"the store {store} is in use by `rag {role}` ({who}); wait for it to finish, "
        "or set CHROMA_URL to share a Chroma server between processes"
    )


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0).decode("utf-8")
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}


def _write_owner(fd: int, owner: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode("utf-8"), 0)
