"""The engine renders nothing: no module of ``qa/`` below the user-facing layer imports a renderer.

``qa.reports`` reads the Report (or the sign-off document) and never the data; the engine builds
them and hands them over. Only the user-facing layer (``qa/commands/``, ``qa/cli.py``,
``qa/api.py``) may call a renderer. The walk below reads every import statement, at module
level, inside functions and under ``TYPE_CHECKING`` alike, and resolves relative imports. A
second walk holds ``reports/`` to its side: it imports the Report and its records, no data.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "qa"
#: The user-facing layer, allowed to call renderers.
USER_FACING = ("commands/", "cli.py", "api.py")
RENDERERS = "qa.reports"


def _is_renderer(module: str) -> bool:
    return module == RENDERERS or module.startswith(RENDERERS + ".")


def _package_of(relative: str) -> list[str]:
    """The package a module under ``qa/`` lives in, as name parts (``qa/x/y.py`` -> qa, x)."""
    parts = ["qa", *Path(relative).with_suffix("").parts]
    return parts[:-1]  # for ``__init__.py`` too: its package is the folder it sits in


def renderer_imports(source: str, relative: str) -> list[str]:
    """``line: statement`` for every import of ``qa.reports`` in a module of ``qa/``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(relative)
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call):  # importlib.import_module("qa.reports..."), resources
            names = [
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
        if any(_is_renderer(name) for name in names):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def engine_modules() -> list[Path]:
    return sorted(
        path
        for path in ENGINE.rglob("*.py")
        if not path.relative_to(ENGINE).as_posix().startswith(USER_FACING)
    )


def test_the_walk_covers_the_engine_and_leaves_out_the_user_facing_layer():
    names = {path.relative_to(ENGINE).as_posix() for path in engine_modules()}
    assert {"report.py", "ci.py", "signoff.py", "gate.py", "regression.py"} <= names
    assert not {"cli.py", "api.py"} & names
    assert not any(name.startswith("commands/") for name in names)


@pytest.mark.parametrize(
    "source",
    [
        "import qa.reports",
        "import qa.reports.html as h",
        "from qa.reports import render",
        "from qa.reports.markdown import render",
        "from qa import reports",
        "from . import reports",
        "from .reports.html import render",
        "def f():\n    from qa.reports.html import render\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from qa.reports import svg\n",
        "import importlib\nimportlib.import_module('qa.reports.html')",
        "from importlib import resources\nresources.files('qa.reports')",
    ],
)
def test_the_walk_finds_a_renderer_import_in_any_form(source: str):
    assert renderer_imports(source, "report.py")


def test_the_walk_resolves_relative_imports_from_subpackages():
    assert renderer_imports("from ..reports import html", "trainers/x.py")
    assert not renderer_imports("from .reports import html", "trainers/x.py")  # qa.trainers.reports
    assert not renderer_imports("from qa.report import Report\nimport qa.regression", "gate.py")


@pytest.mark.parametrize("path", engine_modules(), ids=lambda p: p.relative_to(ENGINE).as_posix())
def test_engine_module_imports_no_renderer(path: Path):
    relative = path.relative_to(ENGINE).as_posix()
    found = renderer_imports(path.read_text(encoding="utf-8"), relative)
    assert not found, f"qa/{relative} imports a renderer (render in the caller instead): {found}"


#: What a renderer may import from qa-gate: the Report, its records, and other renderers.
RENDERER_MAY_IMPORT = ("qa.base", "qa.report", "qa.reports")
#: Libraries that read or hold data; a renderer formats the Report and needs none of them.
DATA_LIBRARIES = ("polars", "pandas", "numpy", "pyarrow", "sklearn", "scipy", "qa.data")


def imported_modules(source: str, package: str = "qa.reports") -> set[str]:
    """Every module a source imports (relative imports resolved against ``package``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "qa":  # ``from qa import data`` imports qa.data
                out.update(f"qa.{alias.name}" for alias in node.names)
            else:
                out.add(module)
    return out


def renderer_may_import(module: str) -> bool:
    return module in RENDERER_MAY_IMPORT or module.startswith("qa.reports.")


def test_the_renderer_walk_sees_data_imports_in_any_form():
    assert not renderer_may_import("qa.data") and not renderer_may_import("qa.report_x")
    assert "qa.data" in imported_modules("from qa import data")
    assert "qa.context" in imported_modules("def f():\n    from ..context import Context\n")
    assert renderer_may_import("qa.reports.svg") and renderer_may_import("qa.report")


@pytest.mark.parametrize(
    "path", sorted((ROOT / "reports").rglob("*.py")), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_renderers_read_the_report_never_the_data(path: Path):
    modules = imported_modules(path.read_text(encoding="utf-8"))
    ours = {m for m in modules if m == "qa" or m.startswith("qa.")}
    assert all(renderer_may_import(m) for m in ours), sorted(ours)
    assert not [m for m in modules if m.split(".")[0] in DATA_LIBRARIES or m in DATA_LIBRARIES]
