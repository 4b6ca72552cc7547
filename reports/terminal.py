"""The terminal table printed by ``qa check``: one line per check, failing first."""

from __future__ import annotations

from qa.report import Report

_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "skip": "skip",
         "waived": "waived"}


def render(report: Report) -> str:
    checks = report.ordered_checks()
    width = max((len(c.id) for c in checks), default=8)
    lines = []
    for c in checks:
        message = " ".join(c.message.split())
        if len(message) > 110:
            message = message[:107] + "..."
        lines.append(f"{_MARK[c.status]:<6} {c.id:<{width}}  {message}")
    counts = ", ".join(f"{n} {s}" for s, n in report.summary.items() if n)
    lines.append("")
    lines.append(f"gate: {report.status.upper()} ({counts})")
    return "\n".join(lines) + "\n"
