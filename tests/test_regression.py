"""Regression against a baseline report: ``qa check --baseline`` and ``qa diff``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from qa.base import CheckResult
from qa.config import parse_config
from qa.regression import (
    BaselineReport,
    compare_to_baseline,
    diff_reports,
    metric_direction,
    moved_rows,
    regressed,
    regressed_rows,
    regression_result,
)
from qa.report import Report, schema_errors
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa


def result(cid: str, status: str = "pass", **metrics: float) -> CheckResult:
    return CheckResult(
        id=cid,
        title=cid,
        status=status,
        severity="error",
        message=f"{cid} {status}",
        metrics=metrics,
    )


def report(*checks: CheckResult) -> Report:
    return Report(
        status="fail" if any(c.status == "fail" for c in checks) else "pass",
        checks=checks,
        inputs={},
        config={},
        created_at="2026-01-01T00:00:00+00:00",
        tool={"name": "qa-gate", "version": "0"},
    )


def compare(base: list[CheckResult], head: list[CheckResult], tolerance: float = 0.01) -> dict:
    return diff_reports(base, head, tolerance=tolerance, baseline_label="base.json")


def row(diff: dict, check: str, metric: str) -> dict:
    return next(r for r in diff["rows"] if r["check"] == check and r["metric"] == metric)


# --------------------------------------------------------------------------- directions
@pytest.mark.parametrize(
    "name, direction",
    [
        ("auc", "up"),
        ("roc_auc", "up"),
        ("auc_ci_low", "up"),
        ("f1_macro", "up"),
        ("macro-F1", "up"),
        ("accuracy", "up"),
        ("balanced_accuracy", "up"),
        ("recall_min", "up"),
        ("min_recall", "up"),
        ("precision", "up"),
        ("r2", "up"),
        ("mae", "down"),
        ("rmse", "down"),
        ("log_loss", "down"),
        ("val_loss", "down"),
        ("ece", "down"),
        ("issue_rate", "down"),
        ("label_issue_rate", "down"),
        ("auc_gap", "down"),
        ("train_val_gap", "down"),
        ("psi_max", "down"),
        ("rows_train", "unknown"),
        ("ks_statistic", "unknown"),
        ("n_classes", "unknown"),
        ("precise_count", "unknown"),
        ("maximum", "unknown"),
    ],
)
def test_metric_direction_table(name: str, direction: str):
    assert metric_direction(name) == direction


@pytest.mark.parametrize(
    "name, direction",
    [
        ("macro_f1_ci_low", "up"),
        ("macro_f1_ci_high", "unknown"),
        ("model_roc_auc_ci_high", "unknown"),
        ("rmse_ci_high", "down"),
        ("rmse_ci_low", "unknown"),
        ("ece_noise_mean", "unknown"),
        ("ece_noise_q95", "unknown"),
        ("noise_rate", "down"),
    ],
)
def test_optimistic_interval_ends_and_chance_levels_have_no_direction(name: str, direction: str):
    assert metric_direction(name) == direction


def test_a_narrower_interval_from_a_larger_test_set_is_not_a_regression():
    # Same model, same point estimate; the test set grew, so the 95% interval narrowed.
    base = result("metric-threshold", macro_f1=0.90, macro_f1_ci_low=0.84, macro_f1_ci_high=0.96)
    head = result("metric-threshold", macro_f1=0.90, macro_f1_ci_low=0.87, macro_f1_ci_high=0.93)
    calib_base = result("calibration", ece=0.03, ece_noise_q95=0.05)
    calib_head = result("calibration", ece=0.03, ece_noise_q95=0.08)
    diff = compare([base, calib_base], [head, calib_head])
    assert not regressed(diff)
    assert row(diff, "metric-threshold", "macro_f1_ci_low")["verdict"] == "improved"


# --------------------------------------------------------------------------- hand-built reports
def test_auc_0_02_below_the_baseline_fails_regression_at_tolerance_0_01():
    diff = compare([result("metric-threshold", auc=0.92)], [result("metric-threshold", auc=0.90)])
    assert row(diff, "metric-threshold", "auc")["verdict"] == "regressed"
    assert row(diff, "metric-threshold", "auc")["delta"] == pytest.approx(-0.02)
    assert regressed(diff)
    res = regression_result(diff)
    assert res.status == "fail"
    assert res.subjects == ("metric-threshold/auc",)
    assert "metric-threshold.auc" in res.message and "base.json" in res.message


def test_auc_0_005_below_the_baseline_passes():
    diff = compare([result("metric-threshold", auc=0.92)], [result("metric-threshold", auc=0.915)])
    assert row(diff, "metric-threshold", "auc")["verdict"] == "within tolerance"
    assert not regressed(diff)
    assert regression_result(diff).status == "pass"


def test_a_move_of_exactly_the_tolerance_is_allowed():
    diff = compare([result("m", auc=0.90)], [result("m", auc=0.89)])
    assert row(diff, "m", "auc")["verdict"] == "within tolerance"


def test_error_metrics_regress_when_they_go_up():
    diff = compare([result("m", log_loss=0.30, ece=0.02)], [result("m", log_loss=0.33, ece=0.025)])
    assert row(diff, "m", "log_loss")["verdict"] == "regressed"
    assert row(diff, "m", "ece")["verdict"] == "within tolerance"


def test_rmse_tolerance_is_relative_to_the_baseline_value():
    ok = compare([result("m", rmse=100.0)], [result("m", rmse=100.5)])
    bad = compare([result("m", rmse=100.0)], [result("m", rmse=102.0)])
    assert row(ok, "m", "rmse")["verdict"] == "within tolerance"
    assert row(bad, "m", "rmse")["verdict"] == "regressed"
    assert row(bad, "m", "rmse")["tolerance"] == pytest.approx(1.0)


def test_improvements_are_reported_and_never_fail():
    diff = compare([result("m", auc=0.80, mae=5.0)], [result("m", auc=0.90, mae=4.0)])
    assert {r["verdict"] for r in diff["rows"]} == {"improved"}
    assert diff["summary"]["improved"] == 2
    assert not regressed(diff)


def test_metrics_of_unknown_direction_are_listed_but_never_fail():
    diff = compare(
        [result("data-volume", rows_train=50_000)], [result("data-volume", rows_train=10)]
    )
    r = row(diff, "data-volume", "rows_train")
    assert r["direction"] == "unknown" and r["verdict"] == "no direction"
    assert r["delta"] == -49_990
    assert not regressed(diff)


def test_a_check_that_newly_fails_is_named_in_the_diff():
    diff = compare(
        [result("leakage", "pass"), result("drift", "warn"), result("schema", "fail")],
        [result("leakage", "fail"), result("drift", "error"), result("schema", "fail")],
    )
    assert diff["newly_failing"] == ["leakage", "drift"]
    res = regression_result(diff)
    assert res.status == "fail"
    assert "leakage" in res.message and "drift" in res.message
    assert "schema" not in res.subjects  # it failed on the baseline too: not new


def test_missing_and_null_metrics_are_marked_not_compared():
    diff = compare([result("m", auc=0.9, old=1.0)], [result("m", auc=None, new=2.0)])
    assert row(diff, "m", "auc")["verdict"] == "gone"
    assert row(diff, "m", "old")["verdict"] == "gone"
    assert row(diff, "m", "new")["verdict"] == "new"
    assert not regressed(diff)


def test_checks_only_in_one_report_and_the_regression_result_itself_are_not_compared():
    diff = compare(
        [result("a", auc=0.9), result("regression", "pass", metrics_regressed=0)],
        [result("b", auc=0.1), result("regression", "fail", metrics_regressed=3)],
    )
    assert diff["rows"] == [] and diff["newly_failing"] == []


def test_a_lowered_bar_is_listed_for_review():
    base = CheckResult(
        id="m", title="m", status="pass", severity="error", message="", thresholds={"min_auc": 0.9}
    )
    head = CheckResult(
        id="m", title="m", status="pass", severity="error", message="", thresholds={"min_auc": 0.7}
    )
    diff = compare([base], [head])
    assert diff["threshold_changes"] == [
        {"check": "m", "threshold": "min_auc", "base": 0.9, "head": 0.7}
    ]


def test_a_waived_head_failure_is_not_newly_failing():
    config = parse_config(
        {
            "waivers": [
                {"check": "leakage", "reason": "known", "owner": "ana", "expires": "2999-01-01"}
            ]
        }
    )
    base = BaselineReport(report(result("leakage", "pass")), "base.json")
    res, diff = compare_to_baseline(
        base, [result("leakage", "fail")], config, today=dt.date(2026, 1, 1)
    )
    assert diff["newly_failing"] == []
    assert res.status == "pass"


def test_tolerance_comes_from_the_config():
    config = parse_config({"run": {"baseline_tolerance": 0.05}})
    base = BaselineReport(report(result("m", auc=0.92)), "base.json")
    res, diff = compare_to_baseline(base, [result("m", auc=0.90)], config)
    assert res.status == "pass" and diff["tolerance"] == 0.05


# --------------------------------------------------------------------------- through the CLI
@pytest.fixture
def runs(tmp_path: Path) -> Path:
    make_classification_frame(n=6000).write_csv(tmp_path / "big.csv")
    make_classification_frame(n=40).write_csv(tmp_path / "tiny.csv")
    run = run_qa(
        "check",
        "--train",
        str(tmp_path / "big.csv"),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "base"),
        "--format",
        "json",
        "--ci",
        "none",
        "-q",
    )
    assert run.code == 0, run.err
    return tmp_path


def test_check_with_a_baseline_fails_regression_when_a_check_newly_fails(runs: Path):
    run = run_qa(
        "check",
        "--train",
        str(runs / "tiny.csv"),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--baseline",
        str(runs / "base" / "report.json"),
        "--out",
        str(runs / "head"),
        "--format",
        "json,md,junit,html",
        "--ci",
        "none",
    )
    assert run.code == 1, run.err
    data = json.loads((runs / "head" / "report.json").read_text())
    assert schema_errors(data) == []
    regression = next(c for c in data["checks"] if c["id"] == "regression")
    assert regression["status"] == "fail"
    assert "data-volume" in regression["subjects"]
    diff = data["diff"]
    assert diff["baseline"] == str(runs / "base" / "report.json")
    assert diff["newly_failing"] == ["data-volume"]
    rows_train = next(r for r in diff["rows"] if r["metric"] == "rows_train")
    assert (rows_train["base"], rows_train["head"], rows_train["verdict"]) == (
        6000,
        40,
        "no direction",
    )
    assert set(rows_train) >= {"check", "metric", "base", "head", "delta", "direction", "verdict"}
    for name in ("summary.md", "junit.xml", "report.html"):  # the diff is in every format
        text = (runs / "head" / name).read_text(encoding="utf-8")
        assert "regression" in text and "rows_train" in text, name


def test_check_with_an_equal_baseline_passes_regression(runs: Path):
    run = run_qa(
        "check",
        "--train",
        str(runs / "big.csv"),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--baseline",
        str(runs / "base" / "report.json"),
        "--out",
        str(runs / "head"),
        "--format",
        "json",
        "--ci",
        "none",
        "-q",
    )
    assert run.code == 0, run.err
    data = json.loads((runs / "head" / "report.json").read_text())
    regression = next(c for c in data["checks"] if c["id"] == "regression")
    assert regression["status"] == "pass"
    assert {r["verdict"] for r in data["diff"]["rows"]} == {"unchanged"}


def test_a_missing_baseline_file_is_an_error_naming_it(runs: Path):
    run = run_qa(
        "check",
        "--train",
        str(runs / "big.csv"),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--baseline",
        str(runs / "nope.json"),
        "--ci",
        "none",
        "-q",
    )
    assert run.code == 2
    assert "nope.json" in run.err and "Traceback" not in run.err


def test_a_bad_baseline_tolerance_in_config_names_the_key(runs: Path):
    (runs / "qa.toml").write_text('[run]\nbaseline_tolerance = "high"\n', encoding="utf-8")
    run = run_qa(
        "check",
        "--config",
        str(runs / "qa.toml"),
        "--train",
        str(runs / "big.csv"),
        "--target",
        "label",
        "--ci",
        "none",
        "-q",
    )
    assert run.code == 2
    assert "run.baseline_tolerance" in run.err


def test_baseline_tolerance_flag_lets_a_small_drop_pass(tmp_path: Path):
    base = report(result("metric-threshold", auc=0.92))
    head = report(result("metric-threshold", auc=0.90))
    (tmp_path / "base.json").write_text(base.to_json(), encoding="utf-8")
    (tmp_path / "head.json").write_text(head.to_json(), encoding="utf-8")
    strict = run_qa("diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"))
    loose = run_qa(
        "diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"), "--tolerance", "0.05"
    )
    assert strict.code == 1 and loose.code == 0


def test_qa_diff_prints_the_table_and_exits_1_on_regression(runs: Path):
    head = run_qa(
        "check",
        "--train",
        str(runs / "tiny.csv"),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--out",
        str(runs / "head"),
        "--format",
        "json",
        "--ci",
        "none",
        "-q",
    )
    assert head.code == 1
    run = run_qa("diff", str(runs / "base" / "report.json"), str(runs / "head" / "report.json"))
    assert run.code == 1
    header = run.out.splitlines()[0].split()
    assert header == ["check", "metric", "base", "head", "Δ", "direction", "verdict"]
    assert "rows_train" in run.out and "6000" in run.out and "newly failing: data-volume" in run.out
    same = run_qa("diff", str(runs / "base" / "report.json"), str(runs / "base" / "report.json"))
    assert same.code == 0


def test_qa_diff_json_has_the_report_diff_shape(tmp_path: Path):
    (tmp_path / "b.json").write_text(report(result("m", auc=0.92)).to_json(), encoding="utf-8")
    (tmp_path / "h.json").write_text(report(result("m", auc=0.90)).to_json(), encoding="utf-8")
    run = run_qa("diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--format", "json")
    assert run.code == 1
    data = json.loads(run.out)
    assert data["rows"][0]["verdict"] == "regressed"
    assert set(data) >= {"baseline", "rows", "newly_failing"}


def test_qa_diff_rejects_a_file_that_is_not_a_report(tmp_path: Path):
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    run = run_qa("diff", str(tmp_path / "x.json"), str(tmp_path / "x.json"))
    assert run.code == 2 and "x.json" in run.err


def test_run_gate_accepts_a_report_object_as_baseline():
    import qa
    from qa.api import run_gate

    base = qa.check(train=make_classification_frame(n=6000), target="label", only=["data-volume"])
    config = parse_config({"task": {"target": "label"}, "run": {"only": ["data-volume"]}})
    head = run_gate(config, frames={"train": make_classification_frame(n=40)}, baseline=base)
    assert head.diff is not None and head.diff["newly_failing"] == ["data-volume"]
    assert head.status == "fail"
    assert Report.from_json(head.to_json()) == head


def test_check_baseline_tolerance_flag_reaches_the_diff(runs: Path):
    run = run_qa(
        "check",
        "--train",
        str(runs / "big.csv"),
        "--target",
        "label",
        "--only",
        "data-volume",
        "--baseline",
        str(runs / "base" / "report.json"),
        "--baseline-tolerance",
        "0.03",
        "--out",
        str(runs / "head"),
        "--format",
        "json",
        "--ci",
        "none",
        "-q",
    )
    data = json.loads((runs / "head" / "report.json").read_text())
    assert data["diff"]["tolerance"] == 0.03
    assert data["config"]["run"]["baseline_tolerance"] == 0.03
    regression = next(c for c in data["checks"] if c["id"] == "regression")
    assert regression["thresholds"]["tolerance"] == 0.03
    assert regression["status"] == "pass"
    # a wider tolerance lets more through: it is a bar moved in this change, and says so
    assert run.code == 1, run.err
    moved = next(c for c in data["checks"] if c["id"] == "moved-bars")
    assert moved["status"] == "fail" and moved["subjects"] == ["run.baseline_tolerance"]


def test_baseline_model_scores_and_train_scores_have_no_direction():
    from qa.regression import metric_direction

    for name in (
        "linear_roc_auc",
        "majority_macro_f1",
        "xgboost_rmse",
        "mean_rmse",
        "train_macro_f1",
        "best_baseline_roc_auc",
    ):
        assert metric_direction(name) == "unknown", name
    for name, direction in (
        ("roc_auc", "up"),
        ("validation_roc_auc", "up"),
        ("train_val_gap", "down"),
        ("rmse", "down"),
    ):
        assert metric_direction(name) == direction, name


def test_regressed_rows_and_moved_rows_pick_the_rows_the_regression_result_shows():
    diff = compare(
        [result("m", auc=0.90, f1=0.80, ece=0.05, rows_train=100.0, brier=None)],
        [result("m", auc=0.85, f1=0.80, ece=0.02, rows_train=120.0, brier=None)],
    )
    assert [r["metric"] for r in regressed_rows(diff)] == ["auc"]
    # worst verdict first; unchanged (f1) and never-measured (brier) rows are left out
    assert [(r["metric"], r["verdict"]) for r in moved_rows(diff)] == [
        ("auc", "regressed"),
        ("rows_train", "no direction"),
        ("ece", "improved"),
    ]
    assert regressed_rows(compare([result("m", auc=0.9)], [result("m", auc=0.9)])) == []
