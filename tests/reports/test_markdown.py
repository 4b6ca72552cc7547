"""Markdown summary: escaped, failing first, and always under the size limit."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from qa.base import CheckResult, Evidence
from qa.report import Report
from qa.reports import markdown
from tests.reports.conftest import HOSTILE, IMG


def big_report(n_checks: int = 200, n_rows: int = 2000) -> Report:
    statuses = ["fail", "warn", "error", "pass", "skip", "waived"]
    evidence = Evidence(
        "Rows at fault",
        ("row", HOSTILE, "value"),
        tuple((i, f"{HOSTILE} {i}", "x" * 40) for i in range(n_rows)),
    )
    checks = tuple(
        CheckResult(
            f"check-{i:03d}",
            f"Check {i}",
            statuses[i % 6],
            "error",
            f"message {i} " + "y" * 200,
            metrics={"observed": i},
            thresholds={"observed": 1},
            evidence=(evidence, evidence),
            traceback="Traceback\n" * 40,
            remedy="Do the thing.",
        )
        for i in range(n_checks)
    )
    return Report(
        status="fail",
        checks=checks,
        inputs={},
        config={},
        created_at="now",
        tool={"name": "qa-gate", "version": "0"},
    )


def test_markdown_stays_under_60k_with_2000_evidence_rows_and_200_checks_keeping_every_id():
    report = big_report()
    out = markdown.render(report)
    assert len(out) < 60_000
    for check in report.checks:
        assert f"`{check.id}`" in out, check.id
    assert "Shortened to fit" in out and "report.html" in out
    assert HOSTILE not in out


@pytest.mark.parametrize("limit", [5_000, 20_000, 100_000])
def test_markdown_respects_any_max_chars(limit: int):
    report = big_report(n_checks=60, n_rows=500)
    out = markdown.render(report, max_chars=limit)
    assert len(out) < limit
    assert all(c.id in out for c in report.checks)


def test_small_report_is_not_truncated(hostile_report: Report):
    out = markdown.render(hostile_report)
    assert "Shortened" not in out
    # all five evidence rows of the failing check are there
    assert out.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "report.html" in out


def test_hostile_text_is_escaped_never_raw(hostile_report: Report):
    out = markdown.render(hostile_report)
    assert HOSTILE not in out and IMG not in out
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_verdict_counts_and_table_put_failing_checks_first(hostile_report: Report):
    out = markdown.render(hostile_report)
    assert out.startswith("## 💥 qa-gate: **ERROR**")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "`" in line]
    ids = [re.search(r"`([^`]+)`", r).group(1) for r in rows[:6]]
    assert ids == ["drift", "overfit-gap", "per-class-recall", "leakage", "schema", "data-volume"]
    assert "1 fail" in out and "1 waived" in out
    assert "known duplicates" in out and "ana@example.com" in out


def test_details_cover_failing_error_and_warning_checks_only(hostile_report: Report):
    out = markdown.render(hostile_report)
    details = out[out.index("### Details") :]
    for check_id in ("drift", "overfit-gap", "per-class-recall"):
        assert "#### " in details and f"`{check_id}`" in details
    for check_id in ("leakage", "schema", "data-volume"):
        assert f"`{check_id}`" not in details
    assert "| `max_psi` | 0.4123 | 0.2 |" in details
    assert "**How to fix:** Retrain on recent data." in details
    assert "<pre>" in details and "&lt;img src=x" in details


def test_table_cells_escape_pipes_backticks_and_newlines():
    nasty = "a | b `code` *bold* [link](x) $math$ # h\nnew line"
    result = CheckResult("x-check", nasty, "fail", "error", nasty)
    report = Report(
        status="fail",
        checks=(result,),
        inputs={},
        config={},
        created_at="now",
        tool={"name": "qa-gate", "version": "0"},
    )
    out = markdown.render(report)
    row = next(line for line in out.splitlines() if line.startswith("| ") and "x-check" in line)
    assert row.count(" | ") == 2  # three cells: the message's pipe is escaped
    assert "\\|" in row and "\\`code\\`" in row and "\\*bold\\*" in row and "\\[link\\]" in row
    assert "\\$math\\$" in row and "new line" in row


def test_hostile_check_ids_are_not_put_in_code_spans():
    result = CheckResult("bad`id|x", "t", "fail", "error", "m")
    report = Report(
        status="fail",
        checks=(result,),
        inputs={},
        config={},
        created_at="now",
        tool={"name": "qa-gate", "version": "0"},
    )
    out = markdown.render(report)
    assert "bad\\`id\\|x" in out


def test_diff_renders_generically(hostile_report: Report):
    out = markdown.render(hostile_report)
    assert "### Compared with the baseline" in out and "newly failing" in out
    assert "| auc | metric-threshold | 0.9 | 0.85 | -0.05 | worse |" in out
    assert "Compared with" not in markdown.render(replace(hostile_report, diff=None))
