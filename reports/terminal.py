"""The terminal table printed by ``qa check``: one line per check, failing first.

Column names and messages are untrusted: control characters (an ANSI escape sequence in a column
name could rewrite the terminal) are replaced before anything is printed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from qa.report import Report

_MARK = {
    "pass": "PASS",
    "warn": "WARN",
    "fail": "FAIL",
    "error": "ERROR",
    "skip": "skip",
    "waived": "waived",
}
# C0 and C1 control characters (tab and newline included: every message prints on one line),
# plus the bidirectional overrides that can reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MESSAGE_WIDTH = 110


def clean(text: Any) -> str:
    """One printable line: control characters become spaces, runs of space collapse."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def _short(text: str, width: int = MESSAGE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render(report: Report) -> str:
    checks = report.ordered_checks()
    ids = [clean(c.id) for c in checks]
    width = max((len(i) for i in ids), default=8)
    lines = []
    for check_id, c in zip(ids, checks, strict=True):
        message = _short(clean(c.message))
        if c.status == "waived":
            message += _waiver_suffix(c.waiver)
        mark = _MARK.get(c.status, clean(c.status).upper())
        lines.append(f"{mark:<6} {check_id:<{width}}  {message}")
    for note in report.waiver_notes:
        lines.append(f"{'note':<6} {_short(clean(note), width + MESSAGE_WIDTH)}")
    newly = _newly_failing(report.diff)
    if newly:
        lines.append(f"{'diff':<6} newly failing against the baseline: {_short(newly)}")
    counts = ", ".join(f"{n} {s}" for s, n in report.summary.items() if n)
    lines.append("")
    lines.append(f"gate: {clean(report.status).upper()} ({counts or 'no checks'})")
    return "\n".join(lines) + "\n"


def _waiver_suffix(waiver: Any) -> str:
    if not isinstance(waiver, Mapping):
        return ""
    owner = f", owner {clean(waiver['owner'])}" if waiver.get("owner") else ""
    return f" [waived: {clean(waiver.get('reason') or 'no reason')}{owner}]"


def _newly_failing(diff: Any) -> str:
    if not isinstance(diff, Mapping):
        return ""
    items = diff.get("newly_failing")
    if not isinstance(items, list | tuple) or not items:
        return ""
    return ", ".join(clean(i) for i in items)
