"""Expand the paths a user gives (files, folders, globs) into the files to ingest."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from rag.filetypes import kind_for

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "chroma"}


@dataclass
class Discovery:
    """What a set of paths expands to."""

    files: list[Path] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)  # folders walked (for --prune)
    missing: list[str] = field(default_factory=list)  # paths that do not exist
    unsupported: list[Path] = field(default_factory=list)  # files named explicitly


def supported(path: Path) -> bool:
    """True for the file types we ingest."""
    return kind_for(path.name) is not None


def discover(paths: list[str]) -> Discovery:
    """Files (explicit), folders (recursive, hidden entries skipped) and globs, deduplicated."""
    found = Discovery()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        path = path.resolve()
        if path not in seen:
            seen.add(path)
            found.files.append(path)

    for raw in paths:
        expanded = os.path.expanduser(raw)
        if glob.has_magic(expanded):
            matches = [Path(m) for m in glob.glob(expanded, recursive=True)]
            for match in sorted(matches):
                if match.is_file() and supported(match):
                    add(match)
                elif match.is_dir():
                    found.roots.append(match.resolve())
                    for file in walk(match):
                        add(file)
            if not matches:
                found.missing.append(raw)
            continue
        path = Path(expanded)
        if path.is_dir():
            found.roots.append(path.resolve())
            for file in walk(path):
                add(file)
        elif path.is_file():
            if supported(path):
                add(path)
            else:
                found.unsupported.append(path.resolve())
        else:
            found.missing.append(raw)
    return found


def walk(root: Path) -> list[Path]:
    """Supported files under a folder, sorted, skipping hidden and tool folders."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(filenames):
            file = Path(dirpath) / name
            if not name.startswith(".") and supported(file):
                out.append(file)
    return out
