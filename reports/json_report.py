"""The JSON report: the Report document itself."""

from __future__ import annotations

from qa.report import Report


def render(report: Report) -> str:
    return report.to_json(indent=2) + "\n"
