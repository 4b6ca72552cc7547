"""The core's shape, enforced: no import circles through the Context, one feature encoder."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Import name prefix -> folder (the package-dir mapping of pyproject.toml).
PACKAGES = {"qa.checks": ROOT / "checks", "qa.reports": ROOT / "reports", "qa": ROOT / "qa"}


def module_files() -> dict[str, Path]:
    """Every module of the installed package, by its import name."""
    out: dict[str, Path] = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            out.setdefault(name, path)
    return out


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of ours that ``path`` imports anywhere: top level, in functions, under
    TYPE_CHECKING. ``from a import b`` counts ``a.b`` when that is a module, else ``a``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return {m for m in found if m in known}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imports_of(path, name, known) - {name} for name, path in files.items()}


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every module reachable from ``start``, with one import path to it."""
    paths = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop()
        for nxt in sorted(graph[current]):
            if nxt not in paths:
                paths[nxt] = [*paths[current], nxt]
                todo.append(nxt)
    return paths


def test_the_graph_sees_lazy_and_type_checking_imports():
    graph = import_graph()
    assert "qa.encoding" in graph["qa.context"]  # top level
    assert "qa.oof" in graph["qa.context"]  # inside a method
    assert "qa.context" in graph["qa.runner"]


def test_no_module_the_context_imports_imports_the_context():
    graph = import_graph()
    below = reachable(graph, "qa.context")
    circles = [
        " -> ".join([*path, "qa.context"])
        for module, path in below.items()
        if module != "qa.context" and "qa.context" in graph[module]
    ]
    assert not circles, "import circle through the Context:\n" + "\n".join(circles)


def test_trainers_models_and_oof_know_nothing_of_the_context():
    graph = import_graph()
    for module in ("qa.models", "qa.oof", "qa.encoding", "qa.task"):
        assert "qa.context" not in reachable(graph, module), module
    trainers = [m for m in graph if m.startswith("qa.trainers")]
    assert trainers
    for module in trainers:
        assert "qa.context" not in reachable(graph, module), module


def test_only_the_encoder_knows_category_codes():
    offenders = [
        str(path.relative_to(ROOT))
        for path in module_files().values()
        if "_category_maps" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
