"""The allowed import directions between the packages, read from the source (every import,
including those inside functions), so a wrong-way import fails here rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What each layer may import. "core" is every rag module outside the three edge packages.
MAY_IMPORT = {
    "core": {"core"},
    "ingest": {"core", "ingest"},
    "api": {"core", "api"},
    "eval": {"core", "ingest", "eval"},
    "cli": {"core", "ingest", "api", "eval", "cli"},
}
EXTRA = {
    # The upload route is the one place the HTTP layer calls the ingest pipeline.
    "rag.api.routes.documents": {"ingest"},
}
EVAL_ALLOWED_CLI = {"rag.cli.progress"}  # eval prints its progress with the CLI's bar


def layer(module: str) -> str | None:
    """The layer a module belongs to (None for modules outside the project)."""
    parts = module.split(".")
    if parts[0] == "ingest":
        return "ingest"
    if parts[0] != "rag":
        return None
    if len(parts) > 1 and parts[1] in ("api", "eval", "cli"):
        return parts[1]
    return "core"


def project_modules() -> dict[str, Path]:
    """Every module of the rag and ingest packages by dotted name."""
    found = {}
    for package in ("rag", "ingest"):
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every module an import statement in the file names (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def allowed(importer: str, imported: str) -> bool:
    """Whether importer may import imported under the layering above."""
    src, dst = layer(importer), layer(imported)
    if src is None or dst is None:
        return True
    if dst in EXTRA.get(importer, set()):
        return True
    if src == "eval" and imported in EVAL_ALLOWED_CLI:
        return True
    return dst in MAY_IMPORT[src]


def test_layers_classify_the_packages() -> None:
    assert layer("rag.retrieve") == "core"
    assert layer("rag.api.routes.ask") == "api"
    assert layer("ingest.pipeline") == "ingest"
    assert layer("chromadb") is None
    assert not allowed("rag.retrieve", "ingest.run")
    assert not allowed("rag.api.routes.ask", "ingest.run")
    assert allowed("rag.api.routes.documents", "ingest.run")
    assert not allowed("ingest.pipeline", "rag.cli.progress")
    assert allowed("rag.cli.main", "ingest.run")


def test_every_import_goes_the_allowed_way() -> None:
    wrong = []
    for name, path in sorted(project_modules().items()):
        for imported in sorted(imports_of(path)):
            if not allowed(name, imported):
                wrong.append(f"{name} imports {imported} ({layer(name)} -> {layer(imported)})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["rag.eval", "rag.cli", "rag.api"])
def test_no_import_cycles_inside_a_package(package: str) -> None:
    modules = {n: p for n, p in project_modules().items() if n.startswith(package + ".")}
    graph = {n: {i for i in imports_of(p) if i in modules and i != n} for n, p in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start] - seen:
            seen.add(nxt)
            if nxt == goal or reaches(nxt, goal, seen):
                return True
        return False

    cycles = [n for n in graph if reaches(n, n, set())]
    assert not cycles, f"modules on an import cycle: {cycles}"
