"""How a document's source is shown to people and to the chat model: never as a server path.

The catalog stores a source as ingested (an absolute path, or `uploads/<name>` for an upload)
and the roots the user named (`rag ingest /srv/docs/hr`). A source is shown relative to the
parent of its root: `/srv/docs/hr/leave/handbook.md` is `hr/leave/handbook.md`; a file named
alone is shown by its name, a glob's root is the folder it starts in. Rules, in order:
- a source that is not an absolute path (an upload) is shown as it is;
- under RAG_DISPLAY_ROOT (when set), relative to that folder;
- under recorded roots, through the outermost one; two roots that would be shown alike
  (`/a/docs`, `/b/docs`, or one shown as a folder of the other) each take one more parent folder
  until they differ (`a/docs/…`, `b/docs/…`), and so does a root shown like an upload's or a
  display-root document's folder;
- ingested before roots were recorded (an older catalog): as if the closest folder holding all
  such documents had been their root (each one's own folder when they share only `/`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Protocol


class Sourced(Protocol):
    """Anything with a stored source and, once the knowledge base named it, its display form."""

    @property
    def source(self) -> str: ...
    @property
    def display(self) -> str: ...


def display_source(item: Sourced) -> str:
    """The source as people and the model see it (see the module doc); never absolute."""
    return item.display or fallback_name(item.source)


def fallback_name(source: str) -> str:
    """A source shown without its collection's roots: an absolute path by its file name."""
    return PurePath(source).name if os.path.isabs(source) else source


@dataclass(frozen=True)
class SourceNames:
    """The display form of every source of one collection, and the way back."""

    shown: Mapping[str, str]  # stored source -> display form
    by_display: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def show(self, source: str) -> str:
        """The display form of a stored source."""
        return self.shown.get(source) or fallback_name(source)

    def sources_shown_as(self, text: str) -> tuple[str, ...]:
        """The stored sources displayed as text (`./` and surrounding blanks ignored)."""
        text = text.strip()
        return self.by_display.get(text[2:] if text.startswith("./") else text, ())


def source_names(
    sources: Iterable[str], roots: Iterable[str], display_root: str | None = None
) -> SourceNames:
    """Display forms for a collection's sources, given its recorded ingest roots."""
    shown: dict[str, str] = {}
    rooted: dict[str, str] = {}  # source -> its outermost root
    unrooted: list[str] = []
    find = _RootFinder(set(roots))
    for source in sources:
        if not os.path.isabs(source):
            shown[source] = source
        elif display_root and _inside(source, display_root):
            shown[source] = _relative(source, display_root) or fallback_name(source)
        elif (root := find.outermost(source)) is not None:
            rooted[source] = root
        else:
            unrooted.append(source)
    rooted.update(_inferred_roots(unrooted))
    labels = _labels(set(rooted.values()), taken=_prefixes(shown.values()))
    shown.update((s, _join(labels[root], _relative(s, root))) for s, root in rooted.items())
    by_display: dict[str, tuple[str, ...]] = {}
    for source, display in shown.items():
        by_display[display] = (*by_display.get(display, ()), source)
    return SourceNames(shown, by_display)


# String work, not PurePath: a collection's names are rebuilt after every catalog change.
_SEP = os.sep


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(_SEP) + _SEP)


def _relative(path: str, folder: str) -> str:
    """path below folder with `/` separators ("" for the folder itself)."""
    if path == folder:
        return ""
    return path[len(folder.rstrip(_SEP)) + 1 :].replace(_SEP, "/")


def _parts(path: str) -> list[str]:
    return [part for part in path.split(_SEP) if part]


def _join(label: str, rest: str) -> str:
    return f"{label}/{rest}" if label and rest else label or rest


class _RootFinder:
    """The outermost recorded root holding a source (folders' answers are remembered)."""

    def __init__(self, roots: set[str]) -> None:
        self.roots = roots
        self.above: dict[str, str | None] = {}  # folder -> outermost root holding it

    def outermost(self, source: str) -> str | None:
        folder = os.path.dirname(source)
        if folder not in self.above:
            self.above[folder] = self._climb(folder)
        return self.above[folder] or (source if source in self.roots else None)

    def _climb(self, folder: str) -> str | None:
        found = None
        while True:
            if folder in self.roots:
                found = folder  # keep climbing: an outer root wins
            parent = os.path.dirname(folder)
            if parent == folder:
                return found
            folder = parent


def _inferred_roots(unrooted: list[str]) -> dict[str, str]:
    """Sources of an older catalog: the closest folder holding them all, else each one's own."""
    if not unrooted:
        return {}
    common = os.path.commonpath([os.path.dirname(s) for s in unrooted])
    if _parts(common):
        return dict.fromkeys(unrooted, common)
    return {s: os.path.dirname(s) for s in unrooted}  # nothing in common but `/`


def _prefixes(displays: Iterable[str]) -> set[str]:
    """Every leading run of whole components of the fixed displays (uploads, display root)."""
    out: set[str] = set()
    for display in displays:
        parts = display.split("/")
        out.update("/".join(parts[: n + 1]) for n in range(len(parts)))
    return out


def _labels(roots: set[str], taken: set[str]) -> dict[str, str]:
    """Each root's last folder names: one, more while it clashes with another or a fixed one."""
    parts = {root: _parts(root) for root in roots}
    depth = {root: min(1, len(p)) for root, p in parts.items()}
    while True:
        labels = {root: "/".join(parts[root][len(parts[root]) - d :]) for root, d in depth.items()}
        grow = [r for r in _clashing(labels, taken) if depth[r] < len(parts[r])]
        if not grow:
            return labels
        for root in grow:
            depth[root] += 1


def _clashing(labels: dict[str, str], taken: set[str]) -> set[str]:
    """Roots whose label equals or holds another's (`docs`, `docs/hr`), or a fixed display's."""
    clashing = {root for root, label in labels.items() if label in taken}
    # In component order a label and one it holds sit together (or with one that also clashes).
    ordered = sorted(labels.items(), key=lambda item: item[1].split("/"))
    for (root, label), (other, theirs) in itertools.pairwise(ordered):
        if label == theirs or theirs.startswith(label + "/"):
            clashing.update((root, other))
    return clashing
