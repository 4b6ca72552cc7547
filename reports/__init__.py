"""Renderers: each ``render(report) -> str`` reads a Report and computes nothing.

Installed as ``qa.reports``. Every format can be rebuilt from a saved report.json.
"""

from __future__ import annotations

import importlib
from pathlib import Path

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
