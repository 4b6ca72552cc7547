"""Markdown for GitHub's job summary or a pull-request comment.

Layout: a verdict line, the counts, a table of every check (failing first), the comparison with
a baseline when there is one, then details (metrics against thresholds, the first evidence rows,
the remedy) for each failing, erroring or warning check.

GitHub limits a job summary to 1 MiB and a comment to 65,536 characters, so ``render`` keeps the
output under ``max_chars`` whatever the report's size: it first shows fewer evidence rows, then
drops evidence, then drops details check by check (warnings before failures), then shortens the
messages in the table. Each check's verdict line is never dropped, and the output says what
was cut and points to the full report.

Untrusted text (messages, column and class names, paths) is escaped: HTML-significant characters
become entities and Markdown punctuation is backslash-escaped, so neither raw HTML nor Markdown
syntax from the data reaches the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from qa.base import STATUSES, CheckResult, Evidence
from qa.report import Report
from qa.reports.html import as_cells, diff_view, fmt_cell, fmt_number

MAX_CHARS = 60_000
EMOJI = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "💥", "skip": "⏭️", "waived": "🔕"}
VERDICT = {"pass": "passed", "fail": "failed", "error": "could not run to completion"}
#: Statuses whose checks get a details section, in the order they are kept when space is short.
DETAILED = ("fail", "error", "warn")
#: (evidence rows per table, evidence tables per check, traceback lines) from richest to leanest.
LEVELS: tuple[tuple[int, int, int], ...] = (
    (10, 4, 15),
    (5, 3, 10),
    (3, 2, 6),
    (1, 1, 3),
    (0, 0, 0),
)
MESSAGE_LIMITS = (160, 80, 40, 0)
FULL_REPORT = (
    "Full report: `report.html` and `report.json` in the folder written by `qa check` "
    "(upload it as a job artifact); `qa report report.json --format html` rebuilds it."
)

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPES.update({c: "\\" + c for c in "\\`*_[]|~#!$"})
_TABLE = str.maketrans(_ESCAPES)
_SAFE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:=-]{0,200}$")


# --------------------------------------------------------------------------- escaping
def md_escape(text: Any, limit: int | None = None) -> str:
    """Untrusted text on one line: entities for ``& < >``, backslashes for Markdown syntax."""
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: max(limit - 1, 0)] + "…" if limit > 0 else ""
    return flat.translate(_TABLE)


def md_block(text: Any, limit: int = 2000) -> str:
    """Untrusted multi-line text as one paragraph; lines joined with ``<br>`` (ours, trusted)."""
    lines = [md_escape(line) for line in str(text).splitlines() if line.strip()]
    joined = "<br>".join(lines)
    return joined if len(joined) <= limit else md_escape(str(text), limit)


def md_code(text: Any) -> str:
    """An identifier in a code span when it is plainly safe, else escaped text."""
    value = str(text)
    return f"`{value}`" if _SAFE_CODE.match(value) else md_escape(value, 200)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], align: str = "---") -> list[str]:
    return [_row(columns), _row([align] * len(columns)), *(_row(r) for r in rows)]


# --------------------------------------------------------------------------- render
def render(report: Report, max_chars: int = MAX_CHARS) -> str:
    """The Markdown summary, always shorter than ``max_chars`` characters."""
    checks = report.ordered_checks()
    notes: list[str] = []
    head = _head(report)
    footer_room = 700
    budget = max_chars - footer_room - len(head)

    table = _checks_table(checks, budget, notes)
    budget -= len(table)
    extras = ""
    for block in (_waiver_notes(report), _diff(report.diff)):
        if block and len(block) <= budget:
            extras += block
            budget -= len(block)
        elif block:
            notes.append("the comparison with the baseline or the waiver notes were left out")
    details = _details(checks, budget, notes)
    body = head + table + extras + details
    footer = _footer(notes)
    text = body + footer
    if len(text) >= max_chars:  # only for absurdly small limits: cut hard, keep the pointer
        tail = "\n\n_(cut to fit the size limit)_\n"
        text = text[: max(max_chars - len(tail) - 1, 0)] + tail
        text = text[: max_chars - 1]
    return text


def _head(report: Report) -> str:
    status = str(report.status)
    emoji = EMOJI.get(status, "❓")
    counts = " · ".join(f"{EMOJI[s]} {n} {s}" for s in STATUSES if (n := report.summary.get(s, 0)))
    tool = f"{report.tool.get('name', 'qa-gate')} {report.tool.get('version', '')}".strip()
    lines = [
        f"## {emoji} qa-gate: **{status.upper()}** — the gate {VERDICT.get(status, status)}",
        "",
        f"{len(report.checks)} checks: {counts or 'none ran'}",
        "",
        f"<sub>{md_escape(tool)} · {md_escape(report.created_at)}{_task_line(report.task)}</sub>",
        "",
    ]
    return "\n".join(lines) + "\n"


def _task_line(task: Mapping[str, Any]) -> str:
    if not task:
        return ""
    parts = []
    if task.get("type"):
        parts.append(f"task {md_escape(task['type'], 40)}")
    if task.get("target"):
        parts.append(f"target {md_escape(task['target'], 80)}")
    classes = task.get("classes")
    if isinstance(classes, Sequence) and not isinstance(classes, str) and classes:
        parts.append(f"{len(classes)} classes")
    return (" · " + " · ".join(parts)) if parts else ""


def _message(result: CheckResult, limit: int) -> str:
    text = str(result.message)
    if result.status == "waived":
        waiver = result.waiver if isinstance(result.waiver, Mapping) else {}
        text += f" — waived: {waiver.get('reason') or 'no reason'}"
        if waiver.get("owner"):
            text += f" (owner {waiver['owner']}"
            text += f", expires {waiver['expires']})" if waiver.get("expires") else ")"
    return md_escape(text, limit)


def _checks_table(checks: list[CheckResult], budget: int, notes: list[str]) -> str:
    """One row per check; messages shortened until the table fits. Never drops a check."""
    if not checks:
        return "No check ran.\n\n"
    text = ""
    for limit in MESSAGE_LIMITS:
        rows = [
            [f"{EMOJI.get(c.status, '')} {md_escape(c.status)}", md_code(c.id), _message(c, limit)]
            for c in checks
        ]
        columns = ["status", "check", "message"]
        if limit == 0:
            rows = [r[:2] for r in rows]
            columns = columns[:2]
        text = "\n".join(_table(columns, rows)) + "\n\n"
        if len(text) <= budget:
            if limit != MESSAGE_LIMITS[0]:
                notes.append(
                    f"messages in the table were cut to {limit} characters"
                    if limit
                    else "messages were left out of the table"
                )
            return text
    # Thousands of checks: one line per status listing the ids.
    lines = []
    for status in STATUSES:
        ids = [md_code(c.id) for c in checks if c.status == status]
        if ids:
            lines.append(f"- {EMOJI[status]} **{status}** ({len(ids)}): {', '.join(ids)}")
    notes.append("the table of checks was reduced to their ids")
    return "\n".join(lines) + "\n\n"


def _waiver_notes(report: Report) -> str:
    if not report.waiver_notes:
        return ""
    lines = ["### Waivers to review", ""]
    lines += [f"- {md_escape(n, 500)}" for n in report.waiver_notes[:50]]
    if len(report.waiver_notes) > 50:
        lines.append(f"- … and {len(report.waiver_notes) - 50} more")
    return "\n".join(lines) + "\n\n"


def _diff(diff: Any, max_rows: int = 50) -> str:
    """The comparison with a baseline, rendered generically (the keys are the diff's)."""
    view = diff_view(diff)
    if view is None:
        return ""
    lines = ["### Compared with the baseline", ""]
    for name, value in view["facts"]:
        lines.append(f"- **{md_escape(name, 80)}**: {md_escape(value, 300)}")
    for name, items in view["lists"]:
        shown = ", ".join(md_code(i) for i in items[:100]) or "none"
        more = f" … ({len(items)} in all)" if len(items) > 100 else ""
        lines.append(f"- **{md_escape(name, 80)}** ({len(items)}): {shown}{more}")
    if view["facts"] or view["lists"]:
        lines.append("")
    for table in view["tables"]:
        lines += [f"**{md_escape(table['title'], 120)}**", ""]
        rows = [[md_escape(c, 120) for c in r] for r in table["rows"][:max_rows]]
        lines += _table([md_escape(c, 60) for c in table["columns"]], rows)
        if len(table["rows"]) > max_rows:
            lines.append(f"\n_showing {max_rows} of {len(table['rows'])} rows_")
        lines.append("")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- details
def _details(checks: list[CheckResult], budget: int, notes: list[str]) -> str:
    chosen = sorted(
        (c for c in checks if c.status in DETAILED), key=lambda c: DETAILED.index(c.status)
    )
    if not chosen:
        return ""
    heading = "### Details\n\n"
    budget -= len(heading)
    for level, (rows, tables, tb_lines) in enumerate(LEVELS):
        blocks = [_check_details(c, rows, tables, tb_lines) for c in chosen]
        if sum(len(b) for b in blocks) <= budget:
            if level:
                notes.append(_level_note(rows, tables))
            return heading + "".join(blocks)
    # Even the leanest details do not all fit: keep them in order (failures first) while they do.
    kept, used = [], 0
    for block in blocks:
        if used + len(block) > budget:
            break
        kept.append(block)
        used += len(block)
    left_out = len(blocks) - len(kept)
    notes.append(_level_note(0, 0))
    notes.append(
        f"details of {left_out} of {len(blocks)} checks were left out "
        "(their verdicts are in the table above)"
    )
    return (heading + "".join(kept)) if kept else ""


def _level_note(rows: int, tables: int) -> str:
    if rows == 0:
        return "evidence tables were left out"
    return f"evidence was cut to the first {rows} rows of at most {tables} tables per check"


def _check_details(result: CheckResult, max_rows: int, max_tables: int, tb_lines: int) -> str:
    emoji = EMOJI.get(result.status, "")
    lines = [
        f"#### {emoji} {md_code(result.id)} — {md_escape(result.title, 200)}",
        "",
        md_block(result.message),
        "",
    ]
    metrics = _metrics_table(result)
    if metrics:
        lines += [*metrics, ""]
    if result.subjects:
        shown = ", ".join(md_code(s) for s in result.subjects[:20])
        more = f" … ({len(result.subjects)} in all)" if len(result.subjects) > 20 else ""
        lines += [f"At fault: {shown}{more}", ""]
    for evidence in list(result.evidence)[:max_tables]:
        if max_rows:
            lines += [*_evidence(evidence, max_rows), ""]
    if result.status == "error" and result.traceback and tb_lines:
        tail = str(result.traceback).strip().splitlines()[-tb_lines:]
        lines += ["<pre>", *(_html_escape(line) for line in tail), "</pre>", ""]
    if result.remedy:
        lines += [f"**How to fix:** {md_block(result.remedy, 1500)}", ""]
    return "\n".join(lines) + "\n"


def _html_escape(text: str) -> str:
    """Inside ``<pre>`` Markdown is off and entities decode: escape for HTML only."""
    escaped = "".join(_ESCAPES[c] if c in "&<>" else c for c in text)
    return escaped[:500]


def _metrics_table(result: CheckResult) -> list[str]:
    metrics, thresholds = dict(result.metrics or {}), dict(result.thresholds or {})
    if not metrics and not thresholds:
        return []
    rows = [
        [md_code(k), fmt_number(v), fmt_number(thresholds[k]) if k in thresholds else ""]
        for k, v in list(metrics.items())[:30]
    ]
    rows += [
        [md_code(k), "", fmt_number(v)]
        for k, v in list(thresholds.items())[:30]
        if k not in metrics
    ]
    return _table(
        ["metric", "observed", "threshold"],
        [[md_escape(c) if i else c for i, c in enumerate(r)] for r in rows],
    )


def _evidence(evidence: Evidence, max_rows: int) -> list[str]:
    rows = list(evidence.rows or ())
    shown = rows[:max_rows]
    note = str(evidence.note or "")
    if len(shown) < len(rows):
        extra = f"first {len(shown)} of {len(rows)} rows here"
        note = f"{note}; {extra}" if note else extra
    caption = f"**{md_escape(evidence.title, 200)}**" + (
        f" — _{md_escape(note, 300)}_" if note else ""
    )
    columns = [md_escape(c, 60) for c in evidence.columns][:12]
    if not columns:
        return [caption]
    cells = [[md_escape(fmt_cell(v), 120) for v in as_cells(r)[: len(columns)]] for r in shown]
    cells = [r + [""] * (len(columns) - len(r)) for r in cells]
    return [caption, "", *_table(columns, cells)] if cells else [caption, "", "_(no rows)_"]


def _footer(notes: list[str]) -> str:
    if not notes:
        return f"<sub>{FULL_REPORT}</sub>\n"
    unique = list(dict.fromkeys(notes))
    return f"> [!NOTE]\n> Shortened to fit the size limit: {'; '.join(unique)}.\n> {FULL_REPORT}\n"
