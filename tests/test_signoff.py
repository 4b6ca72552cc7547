"""The sign-off report: signoff.json (valid against its shipped schema) and a printable HTML twin."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import polars as pl
import pytest

from qa.reports.signoff_html import render as render_html
from qa.signoff import SIGNATORIES, build_signoff, git_info, signoff_schema_errors
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa

HOSTILE = "<script>alert(1)</script>"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_classification_frame(n=6000).write_csv(tmp_path / "train.csv")
    make_classification_frame(n=1000, seed=1).write_csv(tmp_path / "test.csv")
    # row-aligned with test.csv: a bad prediction file now stops the run with exit 2
    (tmp_path / "preds.csv").write_text("prediction\n" + "1\n0\n" * 500, encoding="utf-8")
    (tmp_path / "model.skops").write_bytes(b"not really a model, but bytes to fingerprint")
    (tmp_path / "qa.toml").write_text(
        '[task]\ntarget = "label"\n'
        '[data]\ntrain = "train.csv"\ntest = "test.csv"\n'
        '[model]\nartifact = "model.skops"\n[model.predictions]\ntest = "preds.csv"\n'
        "[checks.data-volume]\nmin_rows_binary = 4000\n"
        '[run]\nonly = ["data-volume"]\n'
        f'[[waivers]]\ncheck = "data-volume"\nreason = "r {HOSTILE}"\nowner = "ana"\n'
        "expires = 2999-01-01\n",
        encoding="utf-8",
    )
    return tmp_path


def signoff_files(root: Path, *args: str) -> tuple[dict, str]:
    run = run_qa(
        *args,
        "--config",
        str(root / "qa.toml"),
        "--out",
        str(root / "out"),
        "--format",
        "json",
        "--ci",
        "none",
        "-q",
        cwd=root,
    )
    assert run.code in (0, 1), run.err
    doc = json.loads((root / "out" / "signoff.json").read_text(encoding="utf-8"))
    html = (root / "out" / "signoff.html").read_text(encoding="utf-8")
    return doc, html


def test_check_signoff_writes_both_files_and_the_json_validates(project: Path):
    doc, html = signoff_files(project, "check", "--signoff")
    assert signoff_schema_errors(doc) == []
    assert (project / "out" / "report.json").exists()  # the usual reports too
    report = json.loads((project / "out" / "report.json").read_text())
    assert doc["verdict"] == report["status"] == "pass"
    assert doc["summary"] == report["summary"]
    assert html.lstrip().startswith("<!DOCTYPE html>")


def test_qa_signoff_is_check_with_signoff(project: Path):
    doc, _ = signoff_files(project, "signoff")
    assert signoff_schema_errors(doc) == []
    assert {c["id"] for c in doc["checks"]} == {"waivers", "data-volume"}


def test_signoff_records_criteria_declared_in_advance_and_the_bars_held(project: Path):
    doc, html = signoff_files(project, "check", "--signoff")
    dv = next(c for c in doc["success_criteria"] if c["check"] == "data-volume")
    assert dv["declared"] == {"min_rows_binary": 4000}
    assert dv["thresholds"]["min_rows"] == 4000
    assert dv["metrics"]["rows_train"] == 6000
    assert "min_rows_binary" in html and "4,000" in html


def test_signoff_fingerprints_data_and_model_files(project: Path):
    doc, html = signoff_files(project, "check", "--signoff")
    assert doc["data"]["train"]["sha256"] == sha256(project / "train.csv")
    assert doc["data"]["train"]["rows"] == 6000
    assert doc["data"]["test"]["columns"] == 6
    assert doc["model"]["artifact"]["sha256"] == sha256(project / "model.skops")
    assert doc["model"]["predictions"]["test"]["sha256"] == sha256(project / "preds.csv")
    assert doc["model"]["history"] is None
    assert sha256(project / "model.skops") in html


def test_signoff_records_config_versions_waivers_and_a_signature_block(project: Path):
    doc, html = signoff_files(project, "check", "--signoff")
    assert doc["config"]["checks"]["data-volume"] == {"min_rows_binary": 4000}
    env = doc["environment"]
    assert env["qa_gate"] == metadata.version("qa-gate")
    assert env["libraries"]["numpy"] == metadata.version("numpy")
    assert re.fullmatch(r"3\.\d+\.\d+.*", env["python"])
    assert doc["waivers"] == [
        {
            "check": "data-volume",
            "match": None,
            "reason": f"r {HOSTILE}",
            "owner": "ana",
            "expires": "2999-01-01",
            "state": "active",
            "waived": [],
        }
    ]
    assert [s["role"] for s in doc["signatures"]] == list(SIGNATORIES)
    assert all(s["name"] == s["date"] == s["decision"] == "" for s in doc["signatures"])
    for role in SIGNATORIES:
        assert role in html


def test_signoff_html_is_self_contained_escaped_and_printable(project: Path):
    _, html = signoff_files(project, "check", "--signoff")
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "@media print" in html and "@page" in html
    assert "break-before: page" in html and "break-inside: avoid" in html


def test_hostile_target_name_is_escaped_in_the_signoff(tmp_path: Path):
    frame = make_classification_frame(n=200).rename({"label": HOSTILE})
    frame.write_csv(tmp_path / "train.csv")
    run = run_qa(
        "check",
        "--train",
        str(tmp_path / "train.csv"),
        "--target",
        HOSTILE,
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "out"),
        "--signoff",
        "--ci",
        "none",
        "-q",
    )
    assert run.code == 0, run.err
    html = (tmp_path / "out" / "signoff.html").read_text(encoding="utf-8")
    assert HOSTILE not in html and "&lt;script&gt;" in html
    doc = json.loads((tmp_path / "out" / "signoff.json").read_text(encoding="utf-8"))
    assert doc["task"]["target"] == HOSTILE and signoff_schema_errors(doc) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_signoff_records_git_commit_branch_and_dirty_flag(project: Path):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "qa.toml", "train.csv")
    git("commit", "-q", "-m", "data")
    doc, html = signoff_files(project, "check", "--signoff")
    assert doc["git"] == {"commit": git("rev-parse", "HEAD"), "branch": "main", "dirty": False}
    assert doc["git"]["commit"] in html
    with (project / "train.csv").open("a") as handle:
        handle.write("1,1,1,1,red,1\n")
    doc, html = signoff_files(project, "check", "--signoff")
    assert doc["git"]["dirty"] is True
    assert "uncommitted changes" in html


def test_git_info_is_none_outside_a_repository(tmp_path: Path):
    if (
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True).returncode
        == 0
    ):
        pytest.skip("the temporary folder is inside a git repository")
    assert git_info(tmp_path) is None


def test_git_info_uses_the_ci_branch_name_on_a_detached_head(tmp_path: Path, monkeypatch):
    import qa.signoff as signoff

    answers = {
        "rev-parse HEAD": "a" * 40,
        "rev-parse --abbrev-ref HEAD": "HEAD",
        "status --porcelain --untracked-files=no": "",
    }
    monkeypatch.setattr(signoff, "_git", lambda args, cwd: answers[" ".join(args)])
    info = git_info(tmp_path, {"GITHUB_HEAD_REF": "feature/x"})
    assert info == {"commit": "a" * 40, "branch": "feature/x", "dirty": False}


def test_signoff_schema_rejects_a_bad_document(project: Path):
    doc, _ = signoff_files(project, "check", "--signoff")
    for mutate in (
        lambda d: d.update(verdict="maybe"),
        lambda d: d.pop("signatures"),
        lambda d: d["data"]["train"].update(sha256="not-a-hash"),
        lambda d: d["waivers"][0].update(owner=""),
        lambda d: d.update(extra=1),
    ):
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert signoff_schema_errors(bad), mutate


def test_signoff_shows_a_missing_model_file_instead_of_failing(project: Path):
    import qa
    from qa.report import Report

    report = qa.check(
        train=pl.read_csv(project / "train.csv"),
        target="label",
        only=["data-volume"],
        config={"model": {"artifact": "gone.skops"}},
    )
    doc = build_signoff(Report.from_json(report.to_json()))
    assert doc["model"]["artifact"] == {"path": "gone.skops", "sha256": None, "bytes": None}
    assert signoff_schema_errors(doc) == []
    assert "not readable at sign-off" in render_html(doc)


def test_signoff_with_a_baseline_summarises_the_comparison(project: Path):
    signoff_files(project, "check", "--signoff")
    shutil.copy(project / "out" / "report.json", project / "base.json")
    run = run_qa(
        "check",
        "--config",
        str(project / "qa.toml"),
        "--out",
        str(project / "out"),
        "--baseline",
        str(project / "base.json"),
        "--signoff",
        "--ci",
        "none",
        "-q",
        cwd=project,
    )
    assert run.code == 0, run.err
    doc = json.loads((project / "out" / "signoff.json").read_text())
    assert doc["baseline"]["baseline"] == str(project / "base.json")
    assert doc["baseline"]["newly_failing"] == []
    assert signoff_schema_errors(doc) == []


def test_signoff_has_a_model_risk_section_naming_what_did_not_run(project: Path):
    doc, html = signoff_files(project, "check", "--signoff")
    rows = {r["check"]: r for r in doc["model_risk"]}
    assert list(rows) == ["weak-segments", "fairness", "robustness", "applicability"]
    assert all(r["status"] == "not run" for r in rows.values())  # only data-volume ran
    assert "<h2>Model risk</h2>" in html and "Protected groups treated differently" in html
    assert signoff_schema_errors(doc) == []


def test_model_risk_shows_a_risk_check_result(project: Path):
    from qa.base import CheckResult
    from qa.report import Report

    result = CheckResult(
        id="fairness", title="Fairness", status="fail", severity="error",
        message=f"recall of group {HOSTILE} is 0.30 lower", subjects=("sex", HOSTILE),
    )  # fmt: skip
    report = Report(
        status="fail", checks=(result,), inputs={}, config={}, created_at="2026-11-30T00:00:00",
        tool={"name": "qa-gate", "version": "x"},
    )  # fmt: skip
    doc = build_signoff(report, cwd=project)
    fairness = next(r for r in doc["model_risk"] if r["check"] == "fairness")
    assert fairness["status"] == "fail" and fairness["subjects"] == ["sex", HOSTILE]
    html = render_html(doc)
    assert HOSTILE not in html and "&lt;script&gt;" in html
