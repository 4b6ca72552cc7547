"""JUnit XML: one testcase per check, so any CI shows the gate in its test tab.

Mapping (as pytest maps its outcomes): ``fail`` -> ``<failure>``, ``error`` -> ``<error>`` with the
traceback, ``skip`` and ``waived`` -> ``<skipped>`` with the reason (a waiver's reason, owner and
expiry), ``pass`` and ``warn`` -> a passing testcase (a warning is printed in ``<system-out>``).

The document is built with ElementTree, which escapes markup; characters that XML 1.0 forbids
(control characters, lone surrogates, U+FFFE/U+FFFF) are removed first, so the output parses
whatever the column names or messages contain.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from qa.base import CheckResult
from qa.report import Report

SUITE = "qa-gate"
#: Evidence rows quoted per table in a failure's text.
MAX_ROWS = 20
MAX_TEXT = 20_000

# Everything outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] |
# [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any, limit: int = MAX_TEXT) -> str:
    """``value`` as text that XML 1.0 accepts, cut to ``limit`` characters."""
    text = _FORBIDDEN.sub("", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(report: Report) -> str:
    summary = report.summary
    total_time = sum(_seconds(c.duration_s) for c in report.checks)
    suites = ET.Element(
        "testsuites",
        _attrs(
            name=SUITE,
            tests=len(report.checks),
            failures=summary.get("fail", 0),
            errors=summary.get("error", 0),
            skipped=summary.get("skip", 0) + summary.get("waived", 0),
            time=f"{total_time:.3f}",
        ),
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        _attrs(
            name=SUITE,
            tests=len(report.checks),
            failures=summary.get("fail", 0),
            errors=summary.get("error", 0),
            skipped=summary.get("skip", 0) + summary.get("waived", 0),
            time=f"{total_time:.3f}",
            timestamp=report.created_at,
        ),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.status),
        ("tool", f"{report.tool.get('name', SUITE)} {report.tool.get('version', '')}".strip()),
        ("schema_version", report.schema_version),
        *(
            (f"task.{k}", v)
            for k, v in (report.task or {}).items()
            if isinstance(v, str | int | float) and not isinstance(v, bool)
        ),
    ):
        ET.SubElement(properties, "property", _attrs(name=name, value=value))
    for result in report.ordered_checks():
        _testcase(suite, result)
    if report.waiver_notes:
        out = ET.SubElement(suite, "system-out")
        out.text = xml_text("\n".join(f"waivers: {n}" for n in report.waiver_notes))
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _attrs(**values: Any) -> dict[str, str]:
    return {k: xml_text(v, 2000) for k, v in values.items() if v is not None}


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number >= 0 and number == number else 0.0


def _testcase(suite: ET.Element, result: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        _attrs(
            classname=SUITE,
            name=result.id,
            time=f"{_seconds(result.duration_s):.3f}",
        ),
    )
    status = result.status
    if status == "fail":
        failure = ET.SubElement(
            case, "failure", _attrs(message=_one_line(result.message), type=f"qa.{result.severity}")
        )
        failure.text = xml_text(details(result))
    elif status == "error":
        error = ET.SubElement(
            case, "error", _attrs(message=_one_line(result.message), type="qa.error")
        )
        error.text = xml_text(result.traceback or result.message)
    elif status == "waived":
        ET.SubElement(case, "skipped", _attrs(message=_one_line(waived_reason(result))))
    elif status == "skip":
        ET.SubElement(case, "skipped", _attrs(message=_one_line(result.message)))
    out = ET.SubElement(case, "system-out")
    prefix = {"warn": "WARNING: ", "waived": "waived failure: "}.get(status, "")
    text = f"[{status}] {result.title}\n{prefix}{result.message}"
    if status in ("warn", "waived"):
        text += "\n\n" + details(result, with_message=False)
    out.text = xml_text(text)


def waived_reason(result: CheckResult) -> str:
    waiver = result.waiver if isinstance(result.waiver, Mapping) else {}
    parts = [f"waived: {waiver.get('reason') or 'no reason given'}"]
    if waiver.get("owner"):
        parts.append(f"owner {waiver['owner']}")
    if waiver.get("expires"):
        parts.append(f"expires {waiver['expires']}")
    return "; ".join(parts)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())[:1000]


def details(result: CheckResult, with_message: bool = True) -> str:
    """Plain text for a failure: metrics vs thresholds, the first evidence rows, the remedy."""
    lines = [str(result.message), ""] if with_message else []
    if result.metrics or result.thresholds:
        lines.append("metrics (observed / threshold):")
        thresholds = dict(result.thresholds or {})
        for name, value in (result.metrics or {}).items():
            bar = f" / {_num(thresholds[name])}" if name in thresholds else ""
            lines.append(f"  {name} = {_num(value)}{bar}")
        for name, value in thresholds.items():
            if name not in (result.metrics or {}):
                lines.append(f"  {name}: threshold {_num(value)}")
        lines.append("")
    for evidence in result.evidence:
        rows = list(evidence.rows or ())
        lines.append(
            f"{evidence.title} ({len(rows)} rows{'; ' + evidence.note if evidence.note else ''}):"
        )
        lines.append("  " + " | ".join(str(c) for c in evidence.columns))
        for row in rows[:MAX_ROWS]:
            cells = row if isinstance(row, list | tuple) else [row]
            lines.append("  " + " | ".join(_cell(v) for v in cells))
        if len(rows) > MAX_ROWS:
            lines.append(f"  … {len(rows) - MAX_ROWS} more rows in the full report")
        lines.append("")
    if result.subjects:
        lines.append("at fault: " + ", ".join(str(s) for s in result.subjects[:50]))
    if result.remedy:
        lines += ["how to fix:", str(result.remedy)]
    return "\n".join(lines).strip()


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "null" if value is None else str(value)


def _cell(value: Any) -> str:
    text = _num(value) if isinstance(value, float) or value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"
