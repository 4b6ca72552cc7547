"""The gate's false-alarm budget: split across testing checks, stated in the report."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import qa
from qa.base import Check, CheckResult, explain
from qa.budget import more_rows_needed, split_budget, underpowered_note
from qa.config import parse_config
from qa.errors import ConfigError


def test_the_budget_is_split_in_proportion_to_each_checks_tests():
    shares = split_budget(0.02, {"drift": 2, "schema": 1, "data-volume": 0, "leakage": 1})
    assert shares == pytest.approx({"drift": 0.01, "schema": 0.005, "leakage": 0.005})
    assert sum(shares.values()) == pytest.approx(0.02)  # the union bound: the gate's total
    assert split_budget(0.02, {"data-volume": 0}) == {}


def test_false_alarm_rate_is_validated_naming_the_key():
    assert parse_config({"run": {"false_alarm_rate": 0.05}}).run.false_alarm_rate == 0.05
    assert parse_config({}).run.false_alarm_rate == 0.02
    for bad in (0, 0.9, "low", True):
        with pytest.raises(ConfigError, match=r"run\.false_alarm_rate"):
            parse_config({"run": {"false_alarm_rate": bad}})


def test_more_rows_needed_scales_with_the_square_of_the_ratio():
    assert more_rows_needed(100, 0.2, 0.1) == 300  # 4x the rows halve the detectable gap
    assert more_rows_needed(100, 0.05, 0.1) == 0
    assert more_rows_needed(100, float("inf"), 0.1) is None
    note = underpowered_note(100, "test rows", "a gap of 0.2", 300, "0.1")
    assert note.startswith("underpowered: with 100 test rows") and "300 more test rows" in note


class _Seen(Check):
    """Records the share it was given.

    What it checks
    --------------
    Nothing.

    Why it matters
    --------------
    It does not.

    How it decides
    --------------
    Always passes.

    How to fix
    ----------
    Nothing to fix.
    """

    id = "test/seen"
    title = "Seen"
    requires = ("train",)
    fail_tests = 3

    def run(self, ctx, params) -> CheckResult:
        return self.result("pass", "ok", metrics={"share": ctx.false_alarm_share(self.id)})


def _frames() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(0)
    return {
        split: pl.DataFrame({"x": rng.normal(size=300), "label": rng.integers(0, 2, 300)})
        for split in ("train", "test")
    }


def test_the_report_states_each_testing_checks_share():
    report = qa.check(
        **_frames(), target="label", only=["test/seen", "schema"], extra_checks=[_Seen]
    )
    seen = next(c for c in report.checks if c.id == "test/seen")
    share = seen.thresholds["false_alarm_share"]
    assert seen.metrics["share"] == pytest.approx(share)
    shares = [c.thresholds.get("false_alarm_share", 0.0) for c in report.checks]
    assert sum(shares) == pytest.approx(report.config["run"]["false_alarm_rate"], rel=1e-5)
    assert qa.Report.from_json(report.to_json()) == report  # the share round-trips


def test_a_check_alone_gets_the_whole_budget_and_warnings_draw_none():
    alone = qa.check(**_frames(), target="label", only=["test/seen"], extra_checks=[_Seen])
    assert alone.checks[0].thresholds["false_alarm_share"] == pytest.approx(0.02)
    demoted = qa.check(
        **_frames(),
        target="label",
        only=["test/seen"],
        extra_checks=[_Seen],
        config={"checks": {"test/seen": {"severity": "warning"}}},
    )
    assert "false_alarm_share" not in demoted.checks[0].thresholds


def test_explain_states_how_a_check_draws_on_the_budget():
    assert "3 fail rules rest on a test" in explain(_Seen)
