"""Bars moved in a change (``moved-bars``) and looks at the test set (``test_looks``)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from qa.bars import classify, moved_bars
from qa.checks.metric_threshold import MetricThreshold
from qa.checks.split_hygiene import SplitHygiene
from qa.looks import count_looks
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa

CHECKS = {"metric-threshold": MetricThreshold, "split-hygiene": SplitHygiene}


def config(checks: dict | None = None, waivers: list | None = None, **run: object) -> dict:
    return {"checks": checks or {}, "waivers": waivers or [], "run": run, "task": {}}


def bars(base: dict, head: dict, task: str = "binary") -> dict[str, str]:
    return {r["bar"]: r["change"] for r in moved_bars(base, head, CHECKS, task)}


# --------------------------------------------------------------------------- classification
@pytest.mark.parametrize(
    "name, old, new, expected",
    [
        ("min_rows", 100, 50, "loosened"),
        ("min_rows", 50, 100, "tightened"),
        ("max_issue_rate", 0.05, 0.10, "loosened"),
        ("range_tolerance", 0.1, 0.3, "loosened"),
        ("max_share", 0.3, 0.1, "tightened"),
        ("alpha", 0.05, 0.10, "changed"),
        ("metric", "roc_auc", "accuracy", "changed"),
    ],
)
def test_a_bar_is_loosened_tightened_or_changed_by_its_name(name, old, new, expected):
    assert classify(name, old, new) == expected


def test_a_metric_bar_is_a_minimum_for_a_score_and_a_maximum_for_an_error():
    lowered = (
        config({"metric-threshold": {"threshold": 0.8}}),
        config({"metric-threshold": {"threshold": 0.7}}),
    )
    assert bars(*lowered)["metric-threshold.threshold"] == "loosened"  # roc_auc: a minimum
    assert bars(*lowered, task="regression")["metric-threshold.threshold"] == "tightened"  # rmse


def test_defaults_fill_what_a_config_does_not_declare():
    declared_default = config({"split-hygiene": {"max_test_looks": 20}})
    assert bars(config(), declared_default) == {}
    raised = config({"split-hygiene": {"max_test_looks": 40}})
    assert bars(config(), raised) == {"split-hygiene.max_test_looks": "loosened"}


def test_switching_a_check_off_lowering_its_severity_or_a_new_waiver_loosen():
    waiver = {"check": "drift", "match": "x*", "reason": "r", "owner": "o", "expires": None}
    head = config(
        {"metric-threshold": {"enabled": False}, "split-hygiene": {"severity": "warning"}},
        waivers=[waiver],
        false_alarm_rate=0.05,
    )
    assert bars(config(), head) == {
        "metric-threshold.runs": "loosened",
        "split-hygiene.severity": "loosened",
        "waiver:drift[x*]": "loosened",
        "run.false_alarm_rate": "loosened",
    }
    assert bars(config(), config(skip=["metric-threshold"])) == {
        "metric-threshold.runs": "loosened"
    }
    own = {"check": "moved-bars", "match": "x", "reason": "r", "owner": "o", "expires": None}
    assert bars(config(), config(waivers=[own])) == {}  # the waiver that lets a change through


def test_the_gates_own_shares_are_not_bars():
    assert bars(config(), config(only=["metric-threshold", "split-hygiene"])) == {}


# --------------------------------------------------------------------------- end to end
@pytest.fixture
def project(tmp_path: Path) -> Path:
    frame = make_classification_frame(n=3000)
    frame[:2400].write_csv(tmp_path / "train.csv")
    test = frame[2400:]
    test.write_csv(tmp_path / "test.csv")
    right = test["label"].to_numpy()
    pl.DataFrame({"prediction": right}).write_csv(tmp_path / "preds.csv")
    return tmp_path


def gate(root: Path, out: str, bar: float, *extra: str, waiver: str = "") -> tuple[int, dict]:
    (root / "qa.toml").write_text(
        '[task]\ntarget = "label"\nmetric = "accuracy"\n'
        '[data]\ntrain = "train.csv"\ntest = "test.csv"\n'
        '[model.predictions]\ntest = "preds.csv"\n'
        f"[checks.metric-threshold]\nthreshold = {bar}\n"
        '[run]\nonly = ["metric-threshold", "split-hygiene"]\n' + waiver,
        encoding="utf-8",
    )
    run = run_qa(
        "check", "--config", str(root / "qa.toml"), "--out", str(root / out),
        "--format", "json", "--ci", "none", "-q", *extra,
    )  # fmt: skip
    assert run.code in (0, 1), run.err
    return run.code, json.loads((root / out / "report.json").read_text())


def by_id(report: dict, check_id: str) -> dict:
    return next(c for c in report["checks"] if c["id"] == check_id)


def test_a_bar_lowered_in_the_change_fails_unless_a_waiver_names_it(project: Path):
    code, base = gate(project, "base", 0.80)
    assert code == 0 and base["test_looks"]["count"] == 1
    baseline = ("--baseline", str(project / "base" / "report.json"))
    code, head = gate(project, "head", 0.70, *baseline)
    moved = by_id(head, "moved-bars")
    assert code == 1 and moved["status"] == "fail"
    assert moved["subjects"] == ["metric-threshold.threshold"] and "0.8 → 0.7" in moved["message"]
    waiver = (
        '[[waivers]]\ncheck = "moved-bars"\nmatch = "metric-threshold.threshold"\n'
        'reason = "the new labelling guideline lowers achievable accuracy"\n'
        'owner = "ana@example.com"\nexpires = 2999-01-01\n'
    )
    code, head = gate(project, "waived", 0.70, *baseline, waiver=waiver)
    assert code == 0 and by_id(head, "moved-bars")["status"] == "waived"
    code, head = gate(project, "tight", 0.85, *baseline)
    assert code == 0 and by_id(head, "moved-bars")["status"] == "pass"
    assert head["diff"]["moved_bars"][0]["change"] == "tightened"


def test_qa_diff_exits_1_on_a_loosened_bar(project: Path):
    gate(project, "base", 0.80)
    gate(project, "head", 0.70)
    run = run_qa(
        "diff", str(project / "base" / "report.json"), str(project / "head" / "report.json")
    )
    assert run.code == 1 and "metric-threshold.threshold" in run.err
    assert "loosened" in run.out and "0.8 → 0.7" in run.out


# --------------------------------------------------------------------------- looks
def test_looks_count_only_new_predictions_and_restart_with_a_new_test_set():
    first = count_looks(None, "t1", "p1")
    assert first.count == 1 and first.new_look
    same = count_looks(first.to_dict(), "t1", "p1")
    assert same.count == 1 and not same.new_look  # an identical rerun is not a look
    second = count_looks(same.to_dict(), "t1", "p2")
    assert second.count == 2
    fresh = count_looks(second.to_dict(), "t2", "p3")
    assert fresh.count == 1  # a fresh test set
    assert count_looks(second.to_dict(), "t1", None).count == 2  # nothing evaluated: carried


def test_the_21st_look_warns_in_split_hygiene(project: Path):
    gate(project, "base", 0.80)
    base_path = project / "base" / "report.json"
    report = json.loads(base_path.read_text())
    report["test_looks"].update(count=20, predictions_sha256="0" * 64)  # 20 earlier looks
    base_path.write_text(json.dumps(report))
    _, head = gate(project, "head", 0.80, "--baseline", str(base_path))
    assert head["test_looks"]["count"] == 21
    hygiene = by_id(head, "split-hygiene")
    assert hygiene["status"] == "warn" and "21 times" in hygiene["message"]
    assert hygiene["metrics"]["test_looks"] == 21
    again_path = project / "head" / "report.json"
    _, again = gate(project, "again", 0.80, "--baseline", str(again_path))
    assert again["test_looks"]["count"] == 21  # the same predictions: not another look


def test_qa_lock_rotate_says_how_to_draw_a_fresh_test_set(tmp_path: Path):
    run = run_qa("lock", "--rotate", cwd=tmp_path)
    assert run.code == 0 and "fresh test set" in run.out and "qa lock" in run.out
    assert not (tmp_path / "qa.lock").exists()  # it writes nothing


def test_serving_bars_raised_or_dropped_loosen():
    base = {**config(), "model": {"latency_p95_ms": 5.0, "min_rows_per_second": 1000.0}}
    head = {**config(), "model": {"latency_p95_ms": 8.0, "min_rows_per_second": None}}
    assert bars(base, head) == {
        "model.latency_p95_ms": "loosened",
        "model.min_rows_per_second": "loosened",
    }
    assert bars(head, base)["model.min_rows_per_second"] == "tightened"
