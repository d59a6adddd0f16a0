"""How a document's source is shown to people and to the chat model: never as a server path.

The catalog stores a source as ingested (an absolute path, or `uploads/<name>` for an upload)
and the roots the user named (`rag ingest /srv/docs/hr`). A source is shown relative to the
parent of its root: `/srv/docs/hr/leave/handbook.md` is `hr/leave/handbook.md`; a file named
alone is shown by its name, a glob's root is the folder it starts in. Rules, in order:
- a source that is not an absolute path (an upload) is shown as it is;
- under RAG_DISPLAY_ROOT (when set), relative to that folder;
- under recorded roots, through the outermost one; two roots that would be shown alike
  (`/a/docs`, `/b/docs`, or one shown as a folder of the other) each take one more parent folder
  until they differ (`a/docs/…`, `b/docs/…`), and so does a root whose documents would be shown
  like another document;
- ingested before roots were recorded (an older catalog): as if the closest folder holding all
  such documents had been their root.
"""

from __future__ import annotations

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
    root_set = set(roots)
    for source in sources:
        if not os.path.isabs(source):
            shown[source] = source
        elif display_root and _inside(source, display_root):
            shown[source] = _relative(source, display_root) or PurePath(source).name
        elif (root := _outermost(source, root_set)) is not None:
            rooted[source] = root
        else:
            unrooted.append(source)
    if unrooted:  # before roots were recorded: the closest folder holding them all
        common = os.path.commonpath([os.path.dirname(s) for s in unrooted])
        rooted.update((s, common) for s in unrooted)
    shown.update(_disambiguated(rooted, fixed=shown))
    by_display: dict[str, tuple[str, ...]] = {}
    for source, display in shown.items():
        by_display[display] = (*by_display.get(display, ()), source)
    return SourceNames(shown, by_display)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _relative(path: str, folder: str) -> str:
    return PurePath(path).relative_to(folder).as_posix() if path != folder else ""


def _outermost(source: str, roots: set[str]) -> str | None:
    found = None
    for candidate in (source, *map(str, PurePath(source).parents)):
        if candidate in roots:
            found = candidate  # keep climbing: an outer root wins
    return found


def _label(root: str, depth: int) -> str:
    parts = PurePath(root).parts[1:]  # without the leading "/"
    return "/".join(parts[len(parts) - depth :]) if depth else ""


def _join(label: str, rest: str) -> str:
    return f"{label}/{rest}" if label and rest else label or rest


def _disambiguated(rooted: dict[str, str], fixed: Mapping[str, str]) -> dict[str, str]:
    """Each source under its root's label; labels grow by a parent until nothing clashes."""
    rests = {source: _relative(source, root) for source, root in rooted.items()}
    depth = {root: min(1, len(PurePath(root).parts) - 1) for root in rooted.values()}
    while True:
        labels = {root: _label(root, d) for root, d in depth.items()}
        shown = {s: _join(labels[root], rests[s]) for s, root in rooted.items()}
        clashing = _clashing_roots(labels, shown, rooted, fixed)
        grow = [r for r in clashing if depth[r] < len(PurePath(r).parts) - 1]
        if not grow:
            return shown
        for root in grow:
            depth[root] += 1


def _clashing_roots(
    labels: dict[str, str], shown: dict[str, str], rooted: dict[str, str], fixed: Mapping[str, str]
) -> set[str]:
    """Roots whose label equals or holds another's, or whose documents look like another's."""
    clashing: set[str] = set()
    for root, label in labels.items():
        for other, theirs in labels.items():
            if other != root and (label == theirs or theirs.startswith(label + "/")):
                clashing.update((root, other))
    owners: dict[str, str] = {display: "" for display in fixed.values()}  # "": cannot grow
    for source, display in shown.items():
        root = rooted[source]
        if display in owners:
            clashing.update(r for r in (root, owners[display]) if r)
        owners[display] = root
    return clashing
