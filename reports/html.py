"""The HTML report: one self-contained file (inline CSS and SVG, no script, no external request).

Everything in a report is untrusted text (column names, class labels, messages, paths), so the
jinja2 environment autoescapes, and the only markup marked safe is the SVG from
:mod:`qa.reports.svg`, which escapes every label itself. A Content-Security-Policy meta tag
forbids scripts and remote loads as a second line of defence.

``render(report)`` only formats what the Report holds: it computes no statistic and reads no data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from qa.base import STATUSES, CheckResult, Evidence
from qa.report import Report
from qa.reports import svg

#: Rows of one evidence table shown in HTML (evidence is small by contract; this caps hand-made
#: or plugin reports so the file stays openable).
MAX_EVIDENCE_ROWS = 1000
MAX_CELL_CHARS = 1000
MAX_DIFF_ROWS = 500
MAX_CLASSES_LISTED = 40

STATUS_LABEL = {
    "pass": "PASS",
    "warn": "WARN",
    "fail": "FAIL",
    "error": "ERROR",
    "skip": "SKIP",
    "waived": "WAIVED",
}
VERDICT_TEXT = {
    "pass": "The gate passed",
    "fail": "The gate failed",
    "error": "The gate could not run to completion",
}


@cache
def environment() -> jinja2.Environment:
    """The one jinja2 environment of every HTML page (report, sign-off): templates from the
    ``qa.reports`` package, autoescaping on, an undefined name an error."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qa.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["pretty_json"] = pretty_json
    return env


def pretty_json(value: Any) -> str:
    """A JSON value indented for a <pre> block (keys sorted, unicode kept)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def render(report: Report) -> str:
    """The report as one standalone HTML document."""
    template = environment().get_template("report.html.j2")
    return template.render(**view(report))


# --------------------------------------------------------------------------- view model
def view(report: Report) -> dict[str, Any]:
    """Everything the template shows, as plain strings and lists (formatting only)."""
    summary = report.summary
    return {
        "status": str(report.status),
        "status_label": STATUS_LABEL.get(report.status, str(report.status).upper()),
        "verdict_text": VERDICT_TEXT.get(report.status, "Unknown verdict"),
        "summary": [(s, STATUS_LABEL[s], summary.get(s, 0)) for s in STATUSES],
        "total": len(report.checks),
        "tool": f"{report.tool.get('name', 'qa-gate')} {report.tool.get('version', '')}".strip(),
        "created_at": str(report.created_at),
        "schema_version": str(report.schema_version),
        "task": _task_rows(report.task),
        "inputs": _input_rows(report.inputs),
        "checks": [_check_view(c) for c in report.ordered_checks()],
        "waiver_notes": [str(n) for n in report.waiver_notes],
        "diff": diff_view(report.diff),
        "plugins": [
            (str(p.get("id", "")), str(p.get("package", "")), str(p.get("version", "")))
            for p in report.plugins
            if isinstance(p, Mapping)
        ],
        "config": _json_text(report.config),
    }


def fmt_number(value: Any) -> str:
    """A metric or cell number, short and exact enough to read: 0.8123, 12,345, 1.2e-05."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return fmt_number(int(value))
        magnitude = abs(value)
        if magnitude >= 1e6 or magnitude < 1e-3:
            return f"{value:.3e}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def fmt_cell(value: Any) -> str:
    """One evidence or diff cell as text (nested values as compact JSON), capped in length."""
    if isinstance(value, list | tuple | Mapping):
        text = _json_text(value, indent=None)
    elif isinstance(value, int | float | bool) or value is None:
        text = fmt_number(value)
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def fmt_duration(seconds: Any) -> str:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return ""
    if value < 0.001:
        return "<1 ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {value % 60:.0f} s"


def _json_text(value: Any, indent: int | None = 2) -> str:
    try:
        return json.dumps(
            value,
            indent=indent,
            ensure_ascii=False,
            default=str,
            separators=None if indent else (",", ":"),
        )
    except (TypeError, ValueError):
        return str(value)


def _task_rows(task: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in (task or {}).items():
        if value is None or value == "":
            continue
        name = str(key).replace("_", " ")
        if isinstance(value, list | tuple):
            count = len(value)
            shown = ", ".join(str(v) for v in value[:MAX_CLASSES_LISTED])
            if count > MAX_CLASSES_LISTED:
                shown += f", … ({count} in all)"
            value = shown or "—"
            name = f"{name} ({count})"
        rows.append((name, fmt_cell(value)))
    return rows


def _input_rows(inputs: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for split, info in (inputs or {}).items():
        info = info if isinstance(info, Mapping) else {}
        sha = str(info.get("sha256") or "")
        rows.append(
            {
                "split": str(split),
                "path": str(info.get("path") or "(in memory)"),
                "rows": fmt_number(info.get("rows")),
                "columns": fmt_number(info.get("columns")),
                "sha": sha[:12],
                "sha_full": sha,
            }
        )
    return rows


def _metric_rows(result: CheckResult) -> list[tuple[str, str, str]]:
    """Observed metrics beside the thresholds of the same name; unmatched ones on their own."""
    metrics, thresholds = dict(result.metrics or {}), dict(result.thresholds or {})
    rows = [
        (str(k), fmt_number(v), fmt_number(thresholds[k]) if k in thresholds else "")
        for k, v in metrics.items()
    ]
    rows += [(str(k), "", fmt_number(v)) for k, v in thresholds.items() if k not in metrics]
    return rows


def _evidence_view(evidence: Evidence) -> dict[str, Any]:
    rows = list(evidence.rows or ())
    shown = rows[:MAX_EVIDENCE_ROWS]
    note = str(evidence.note or "")
    if len(rows) > len(shown):
        extra = f"showing {len(shown)} of {len(rows)} rows; the JSON report has them all"
        note = f"{note}; {extra}" if note else extra
    return {
        "title": str(evidence.title),
        "note": note,
        "columns": [str(c) for c in evidence.columns],
        "rows": [[fmt_cell(v) for v in as_cells(row)] for row in shown],
    }


def as_cells(row: Any) -> list[Any]:
    """A row's cells; a malformed row (a bare value) becomes one cell instead of its letters."""
    if isinstance(row, list | tuple):
        return list(row)
    return [row]


def _check_view(result: CheckResult) -> dict[str, Any]:
    waiver = result.waiver if isinstance(result.waiver, Mapping) else None
    return {
        "id": str(result.id),
        "title": str(result.title),
        "status": str(result.status),
        "status_label": STATUS_LABEL.get(result.status, str(result.status).upper()),
        "severity": str(result.severity),
        "message": str(result.message),
        "metrics": _metric_rows(result),
        "evidence": [_evidence_view(e) for e in result.evidence],
        # svg.chart_svg escapes every label it draws; this is the one place markup is trusted.
        "charts": [Markup(svg.chart_svg(c)) for c in result.charts],
        "remedy": str(result.remedy or ""),
        "subjects": [str(s) for s in result.subjects],
        "waiver": _waiver_view(waiver) if waiver else None,
        "traceback": str(result.traceback or ""),
        "duration": fmt_duration(result.duration_s),
    }


def _waiver_view(waiver: Mapping[str, Any]) -> dict[str, str]:
    view = {key: str(waiver.get(key) or "") for key in ("reason", "owner", "expires", "match")}
    return view


def diff_view(diff: Any) -> dict[str, Any] | None:
    """The comparison with a baseline, shown generically: scalars, lists and tables.

    The regression feature decides the keys (e.g. ``rows``: list of {metric, check, base, head,
    delta, verdict}; ``newly_failing``: list of ids); anything else still renders.
    """
    if diff is None:
        return None
    if not isinstance(diff, Mapping):
        return {"facts": [("diff", fmt_cell(diff))], "lists": [], "tables": []}
    facts, lists, tables = [], [], []
    for key, value in diff.items():
        name = str(key).replace("_", " ")
        if isinstance(value, Mapping):
            tables.append(
                {
                    "title": name,
                    "columns": ["key", "value"],
                    "rows": [[str(k), fmt_cell(v)] for k, v in value.items()],
                    "note": "",
                }
            )
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            items = list(value)
            if items and all(isinstance(i, Mapping) for i in items):
                tables.append(_records_table(name, items))
            else:
                lists.append((name, [fmt_cell(i) for i in items]))
        else:
            facts.append((name, fmt_cell(value)))
    return {"facts": facts, "lists": lists, "tables": tables}


def _records_table(title: str, records: list[Mapping[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for record in records:
        for key in record:
            if str(key) not in columns:
                columns.append(str(key))
    shown = records[:MAX_DIFF_ROWS]
    rows = [[fmt_cell(_get(r, c)) for c in columns] for r in shown]
    note = f"showing {len(shown)} of {len(records)} rows" if len(records) > len(shown) else ""
    verdict_col = columns.index("verdict") if "verdict" in columns else None
    return {
        "title": title,
        "columns": columns,
        "rows": rows,
        "note": note,
        "verdict_col": verdict_col,
    }


def _get(record: Mapping[str, Any], column: str) -> Any:
    if column in record:
        return record[column]
    for key, value in record.items():
        if str(key) == column:
            return value
    return ""
