"""Renderers: each ``render(report) -> str`` reads a Report and computes nothing.

Installed as ``qa.reports``. Every format can be rebuilt from a saved report.json. This is the
only place that renders: the engine (``qa/``) builds the Report and the sign-off document and
imports nothing from here; the user-facing layer (``qa/commands/``, ``qa/cli.py``, ``qa/api.py``)
calls the renderers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qa.report import Report

#: format -> (file name written by ``qa check --out``, renderer module)
FORMATS: dict[str, tuple[str, str]] = {
    "json": ("report.json", "qa.reports.json_report"),
    "html": ("report.html", "qa.reports.html"),
    "junit": ("junit.xml", "qa.reports.junit"),
    "md": ("summary.md", "qa.reports.markdown"),
}


def render(report: Report, fmt: str) -> str:
    module = importlib.import_module(FORMATS[fmt][1])
    return module.render(report)


def write_reports(report: Report, out_dir: str | Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """Write each requested format into ``out_dir``; return format -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt in formats:
        path = out / FORMATS[fmt][0]
        path.write_text(render(report, fmt), encoding="utf-8")
        written[fmt] = path
    return written


def write_signoff(document: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``signoff.json`` and ``signoff.html`` for a sign-off document into ``out_dir``.

    ``document`` is what :func:`qa.signoff.build_signoff` returns; returns name -> path.
    """
    from qa.reports import signoff_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "signoff.json"
    html_path = out / "signoff.html"
    json_path.write_text(signoff_html.render_json(document), encoding="utf-8")
    html_path.write_text(signoff_html.render(document), encoding="utf-8")
    return {"signoff-json": json_path, "signoff-html": html_path}
