"""``qa check --ci github``: step summary, annotations (10 per type + one closing line), outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import qa.api
from qa.base import Check, CheckResult
from qa.ci import (
    MAX_ANNOTATIONS,
    SUMMARY_MAX_BYTES,
    SUMMARY_MAX_CHARS,
    annotation_lines,
    append_outputs,
    append_step_summary,
    escape_data,
    escape_property,
    report_github,
    resolve_mode,
    workflow_command,
)
from qa.cli import main
from qa.report import Report
from qa.reports.markdown import render as render_markdown
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa


# --------------------------------------------------------------------------- helpers
def parse_outputs(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file as the runner does (name=value and name<<DELIM blocks)."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            out[name] = "\n".join(body)
        elif line:
            name, _, value = line.partition("=")
            out[name] = value
    return out


def github_env(tmp_path: Path) -> dict[str, str]:
    summary, output = tmp_path / "step_summary.md", tmp_path / "github_output.txt"
    summary.write_text("", encoding="utf-8")
    output.write_text("", encoding="utf-8")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }


def commands(stdout: str, kind: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"::{kind} ")]


def result(
    cid: str, status: str, message: str = "found something", severity: str = "error"
) -> CheckResult:
    return CheckResult(
        id=cid,
        title=f"Title of {cid}",
        status=status,
        severity=severity,
        message=message,
        remedy="Do the fix.",
    )


def hand_report(checks: list[CheckResult]) -> Report:
    status = (
        "error"
        if any(c.status == "error" for c in checks)
        else ("fail" if any(c.status == "fail" for c in checks) else "pass")
    )
    return Report(
        status=status,
        checks=tuple(checks),
        inputs={},
        config={},
        created_at="2026-01-01T00:00:00+00:00",
        tool={"name": "qa-gate", "version": "0"},
    )


def fake_checks(status: str, n: int, prefix: str) -> list[type[Check]]:
    """``n`` registered-looking checks that return ``status`` (for the annotation cap)."""
    made = []
    for i in range(n):

        def run(self, ctx, params, _status=status, _i=i):
            return self.result(_status, f"planted {_status} number {_i}")

        cls = type(
            f"Fake{prefix}{i}",
            (Check,),
            {
                "__doc__": "Planted.",
                "id": f"{prefix}-{i:02d}",
                "title": f"Planted {i}",
                "requires": ("train",),
                "run": run,
            },
        )
        made.append(cls)
    return made


@pytest.fixture
def small_train(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    make_classification_frame(n=40).write_csv(path)  # data-volume fails below 50 rows
    return path


@pytest.fixture
def ok_train(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    make_classification_frame(n=6000).write_csv(path)  # data-volume passes
    return path


# --------------------------------------------------------------------------- escaping
def test_escape_data_escapes_percent_and_newlines_only():
    assert escape_data("100% a\r\nb: c, d") == "100%25 a%0D%0Ab: c, d"


def test_escape_property_also_escapes_colon_and_comma():
    assert escape_property("a: b, c%\n") == "a%3A b%2C c%25%0A"


def test_a_hostile_message_cannot_start_a_second_workflow_command():
    line = workflow_command("error", "bad\n::set-output name=x::pwned", title="t::x,y")
    assert "\n" not in line
    assert line == "::error title=t%3A%3Ax%2Cy::bad%0A::set-output name=x::pwned"


def test_outputs_with_newlines_use_a_delimited_block(tmp_path: Path):
    path = tmp_path / "out"
    append_outputs(path, {"status": "fail", "note": "two\nlines"})
    assert parse_outputs(path.read_text()) == {"status": "fail", "note": "two\nlines"}


def test_ci_auto_means_github_only_when_github_actions_is_true():
    assert resolve_mode("auto", {"GITHUB_ACTIONS": "true"}) == "github"
    assert resolve_mode("auto", {"GITHUB_ACTIONS": "false"}) == "none"
    assert resolve_mode("auto", {}) == "none"
    assert resolve_mode("github", {}) == "github"
    assert resolve_mode("none", {"GITHUB_ACTIONS": "true"}) == "none"


# --------------------------------------------------------------------------- annotations
def test_annotations_list_failures_before_crashes_and_warnings_separately():
    report = hand_report(
        [
            result("w-1", "warn"),
            result("e-1", "error"),
            result("f-1", "fail"),
            result("p-1", "pass"),
            result("s-1", "skip"),
            result("v-1", "waived"),
        ]
    )
    lines = annotation_lines(report, "qa-reports/report.html")
    assert [line.split("::")[1] for line in lines] == [
        "error title=qa-gate%3A f-1 (fail)",
        "error title=qa-gate%3A e-1 (error)",
        "warning title=qa-gate%3A w-1 (warn)",
    ]
    assert "How to fix: Do the fix." in lines[0].replace("%0A", "\n")
    assert "could not run" in lines[1]


def test_annotations_cap_each_type_at_ten_and_count_the_rest_in_one_closing_line():
    checks = [result(f"f-{i:02d}", "fail") for i in range(13)]
    checks += [result(f"w-{i:02d}", "warn") for i in range(11)]
    lines = annotation_lines(hand_report(checks), "qa-reports/report.html")
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    notices = [line for line in lines if line.startswith("::notice ")]
    assert len(errors) == MAX_ANNOTATIONS == 10
    assert len(warnings) == 10
    assert len(notices) == 1 and lines[-1] == notices[0]
    assert "3 more failing check(s)" in notices[0]
    assert "1 more warning(s)" in notices[0]
    assert "qa-reports/report.html" in notices[0]


def test_no_closing_line_when_nothing_is_left_out():
    lines = annotation_lines(hand_report([result(f"f-{i}", "fail") for i in range(10)]), "r.html")
    assert len(lines) == 10
    assert not any(line.startswith("::notice") for line in lines)


# --------------------------------------------------------------------------- qa check --ci github
def test_check_ci_github_writes_summary_outputs_and_an_error_for_the_failing_check(
    tmp_path: Path, small_train: Path
):
    env = github_env(tmp_path)
    run = run_qa(
        "check",
        "--train",
        str(small_train),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "out"),
        "--ci",
        "github",
        env=env,
    )
    assert run.code == 1, run.err
    errors = commands(run.out, "error")
    assert len(errors) == 1
    assert errors[0].startswith(
        "::error title=qa-gate%3A data-volume (fail)::train has only 40 rows"
    )
    outputs = parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text())
    assert outputs["status"] == "fail"
    assert Path(outputs["report-path"]) == (tmp_path / "out").resolve()
    assert json.loads(Path(outputs["report-json"]).read_text())["status"] == "fail"
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "FAIL" in summary and "data-volume" in summary


def test_check_is_auto_github_when_github_actions_is_true(tmp_path: Path, ok_train: Path):
    env = github_env(tmp_path)
    run = run_qa(
        "check",
        "--train",
        str(ok_train),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
        env=env,
    )
    assert run.code == 0, run.err
    assert parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text())["status"] == "pass"
    assert "PASS" in Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert not commands(run.out, "error")


def test_check_ci_none_writes_nothing_even_inside_github_actions(tmp_path: Path, small_train: Path):
    env = github_env(tmp_path)
    run = run_qa(
        "check",
        "--train",
        str(small_train),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "out"),
        "--ci",
        "none",
        env=env,
    )
    assert run.code == 1
    assert "::error" not in run.out
    assert Path(env["GITHUB_OUTPUT"]).read_text() == ""
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text() == ""


def test_check_ci_github_caps_annotations_through_the_cli(
    tmp_path: Path, ok_train: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    planted = fake_checks("fail", 13, "planted-fail") + fake_checks("warn", 12, "planted-warn")
    original = qa.api.load_registry
    monkeypatch.setattr(
        qa.api, "load_registry", lambda extra=None: original([*(extra or []), *planted])
    )
    for key, value in github_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    code = main(
        [
            "check",
            "--train",
            str(ok_train),
            "--target",
            "label",
            "--only",
            ",".join(c.id for c in planted),
            "--out",
            str(tmp_path / "out"),
            "--format",
            "json,md",
            "--quiet",
        ]
    )
    assert code == 1
    stdout = capsys.readouterr().out
    errors, warnings = commands(stdout, "error"), commands(stdout, "warning")
    notices = commands(stdout, "notice")
    assert len(errors) == 10 and len(warnings) == 10 and len(notices) == 1
    assert "3 more failing check(s) and 2 more warning(s)" in notices[0]
    assert str((tmp_path / "out" / "report.json").resolve()) in notices[0]
    assert [e.split("(")[0] for e in errors] == [
        f"::error title=qa-gate%3A planted-fail-{i:02d} " for i in range(10)
    ]
    outputs = parse_outputs(Path(tmp_path / "github_output.txt").read_text())
    assert outputs["status"] == "fail"


def test_check_ci_github_with_a_config_error_exits_2_and_writes_no_status(
    tmp_path: Path, small_train: Path
):
    env = github_env(tmp_path)
    run = run_qa(
        "check",
        "--train",
        str(small_train),
        "--target",
        "label",
        "--only",
        "no-such-check",
        "--ci",
        "github",
        env=env,
    )
    assert run.code == 2
    assert "no-such-check" in run.err
    assert Path(env["GITHUB_OUTPUT"]).read_text() == ""  # the action reports status=error


# --------------------------------------------------------------------------- step summary size
def huge_report(n_checks: int = 150) -> Report:
    from qa.base import table

    checks = []
    for i in range(n_checks):
        rows = [(f"col_{j} " + "x" * 80, j) for j in range(50)]
        checks.append(
            CheckResult(
                id=f"big-{i:03d}",
                title="A big one",
                status="fail" if i % 2 else "warn",
                severity="error",
                message="m" * 500,
                evidence=(table("rows", ["a", "b"], rows),),
                metrics={f"m{j}": j for j in range(40)},
            )
        )
    return hand_report(checks)


def test_step_summary_stays_well_under_githubs_cap_for_a_huge_report(tmp_path: Path):
    env = github_env(tmp_path)
    report = huge_report()
    assert len(report.to_json()) > SUMMARY_MAX_BYTES  # the whole report would not fit
    markdown = render_markdown(report, max_chars=SUMMARY_MAX_CHARS)  # what qa check hands over
    report_github(report, tmp_path / "out", {}, summary=markdown, environ=env, stream=io.StringIO())
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_bytes()
    assert 0 < len(summary) <= 250_000
    assert "FAIL" in summary.decode("utf-8")


def test_report_github_cuts_an_oversized_summary_it_is_handed(tmp_path: Path):
    env = github_env(tmp_path)
    markdown = "## qa-gate: FAIL\n" + "| a row of the table |\n" * 10_000
    report = hand_report([result("f-1", "fail")])
    report_github(report, tmp_path / "out", {}, summary=markdown, environ=env, stream=io.StringIO())
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert len(summary) <= SUMMARY_MAX_CHARS
    assert summary.startswith("## qa-gate: FAIL") and "summary truncated" in summary


def test_step_summary_never_pushes_an_existing_file_past_one_mib(tmp_path: Path):
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (SUMMARY_MAX_BYTES - 10_000))
    append_step_summary(path, "y" * 50_000)
    assert path.stat().st_size <= SUMMARY_MAX_BYTES
    assert b"summary is full" in path.read_bytes()


def test_check_appends_to_an_existing_step_summary(tmp_path: Path, ok_train: Path):
    env = github_env(tmp_path)
    Path(env["GITHUB_STEP_SUMMARY"]).write_text("earlier step\n", encoding="utf-8")
    run = run_qa(
        "check",
        "--train",
        str(ok_train),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
        "--ci",
        "github",
        env=env,
    )
    assert run.code == 0
    text = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert text.startswith("earlier step\n") and "data-volume" in text


def test_run_url_is_named_in_the_closing_line(tmp_path: Path):
    env = {
        **github_env(tmp_path),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    stream = io.StringIO()
    report = hand_report([result(f"f-{i:02d}", "fail") for i in range(11)])
    report_github(report, tmp_path / "out", {}, summary="", environ=env, stream=stream)
    assert "https://github.com/o/r/actions/runs/42" in stream.getvalue().splitlines()[-1]


# --------------------------------------------------------------------------- PR comment size
def test_markdown_report_for_a_pr_comment_stays_under_60000_characters(tmp_path: Path):
    report = huge_report()
    path = tmp_path / "report.json"
    path.write_text(report.to_json(), encoding="utf-8")
    run = run_qa("report", str(path), "--format", "md")
    assert run.code == 0, run.err
    assert len(run.out) < 60_000
    assert "FAIL" in run.out  # the verdict survives the cut
    # every failing check is still named, even when its evidence is cut
    for c in report.checks[:20]:
        if c.status == "fail":
            assert c.id in run.out
