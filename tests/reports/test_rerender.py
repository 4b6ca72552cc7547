"""Renderers on a real run, and ``qa report report.json --format ...`` rebuilding every format."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import qa
from qa.cli import cli
from qa.report import Report
from qa.reports import FORMATS, render, terminal, write_reports
from tests.conftest import make_classification_frame
from tests.reports.conftest import HOSTILE, every_status_report


@pytest.fixture(scope="module")
def real_report() -> Report:
    frame = make_classification_frame(n=600).rename({"num_0": HOSTILE})
    return qa.check(train=frame, target="label", only=["data-volume"])


def test_every_format_renders_a_real_run(real_report: Report, tmp_path: Path):
    written = write_reports(real_report, tmp_path, tuple(FORMATS))
    assert set(written) == set(FORMATS)
    html_text = written["html"].read_text(encoding="utf-8")
    assert 'id="verdict"' in html_text and "data-volume" in html_text
    assert "<script" not in html_text
    ET.fromstring(written["junit"].read_text(encoding="utf-8").encode())
    assert "data-volume" in written["md"].read_text(encoding="utf-8")
    assert "data-volume" in terminal.render(real_report)


def test_saved_json_rerenders_to_the_same_output(real_report: Report, tmp_path: Path):
    path = tmp_path / "report.json"
    path.write_text(render(real_report, "json"), encoding="utf-8")
    loaded = Report.load(path)
    for fmt in ("html", "junit", "md"):
        assert render(loaded, fmt) == render(real_report, fmt)


@pytest.mark.parametrize("fmt", ["html", "junit", "md", "terminal"])
def test_qa_report_command_rerenders_a_saved_json(fmt: str, tmp_path: Path):
    report = every_status_report()
    path = tmp_path / "report.json"
    path.write_text(report.to_json(), encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(path), "--format", fmt])
    assert result.exit_code == 0, result.output
    out = result.output
    for check in report.checks:
        assert check.id in out
    if fmt != "terminal":  # a terminal shows text as text; markup formats escape it
        assert HOSTILE not in out
    if fmt == "html":
        assert 'id="verdict"' in out and 'data-status="error"' in out
    elif fmt == "junit":
        assert ET.fromstring(out.encode()).find("testsuite").get("failures") == "1"
    elif fmt == "md":
        assert out.startswith("## 💥 qa-gate: **ERROR**")
    else:
        assert "gate: ERROR" in out


def test_terminal_strips_control_characters():
    from dataclasses import replace

    report = every_status_report()
    evil = replace(report.checks[0], message="ok\x1b[2J\x1b]0;pwned\x07 \u202eevil\nnext")
    out = terminal.render(replace(report, checks=(evil, *report.checks[1:])))
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "ok [2J ]0;pwned evil next" in out
