from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import qa
from qa.checks.baseline_beats import BaselineBeats
from qa.metrics import METRICS, one_row_step
from qa.testing import check_contract
from tests.model_fixtures import (
    classification_splits,
    classifier_predictions,
    frames,
    prior_predictions,
    proba_frame,
    regression_splits,
    regressor_predictions,
    xgb_classifier,
)

CHECK = [BaselineBeats]
#: One thread per fit: XGBoost's threads spin badly on a shared, oversubscribed CI runner.
ONE_THREAD = {"run": {"threads": 1}}


def _run(data, preds, task=None, **params):
    report = qa.check(
        **frames(data),
        target="label",
        task=task,
        predictions=preds,
        only=["baseline-beats"],
        extra_checks=CHECK,
        checks={"baseline-beats": params} if params else None,
        config=ONE_THREAD,
    )
    return report.checks[0]


@pytest.fixture(scope="module")
def binary():
    return classification_splits(n=2000, flip=0.1, seed=1)


@pytest.fixture(scope="module")
def contract_reports(binary):
    """A good XGBoost model (200 trees, default depth) passes; a class-prior model fails."""
    data = binary
    xgb = xgb_classifier(n_estimators=200).fit(*data["train"])
    f = frames(data)
    return check_contract(
        BaselineBeats,
        clean=dict(
            **f, target="label", predictions=classifier_predictions(xgb, data), config=ONE_THREAD
        ),
        defective=dict(**f, target="label", predictions=prior_predictions(data), config=ONE_THREAD),
    )


def test_baseline_beats_contract_prior_only_model_fails_and_good_xgboost_passes(contract_reports):
    clean, defective = contract_reports
    good, bad = clean.checks[0], defective.checks[0]
    assert good.status == "pass", good.message
    assert bad.status == "fail"
    assert bad.subjects[0] == "majority"  # and the others beat it too
    assert bad.metrics["advantage_vs_majority"] == pytest.approx(0.0, abs=1e-9)
    assert "class prior" in bad.remedy
    assert good.metrics["advantage_vs_majority_ci_low"] > 0.3


def test_baseline_beats_evidence_lists_every_baseline_with_intervals(contract_reports):
    good = contract_reports[0].checks[0]
    table = good.evidence[0]
    assert [row[0] for row in table.rows] == ["model (under test)", "majority", "linear", "xgboost"]
    for row in table.rows:
        assert row[2] <= row[1] <= row[3]  # CI low <= score <= CI high
    assert "paired bootstrap" in table.note and "1,000 resamples" in table.note
    chart = good.charts[0]
    assert chart.kind == "bars"
    assert chart.data["labels"] == ["model", "majority", "linear", "xgboost"]
    for name in ("majority", "linear", "xgboost"):
        low, high = (
            good.metrics[f"advantage_vs_{name}_ci_low"],
            good.metrics[f"advantage_vs_{name}_ci_high"],
        )
        assert low <= good.metrics[f"advantage_vs_{name}"] <= high


def test_baseline_beats_fails_an_unpruned_tree_that_xgboost_beats_and_says_ship_it(binary):
    tree = DecisionTreeClassifier(random_state=0).fit(*binary["train"])
    result = _run(binary, classifier_predictions(tree, binary))
    assert result.status == "fail"
    assert "xgboost" in result.subjects
    assert result.metrics["advantage_vs_xgboost_ci_high"] < -0.02
    assert "ship XGBoost" in result.remedy


def test_baseline_beats_tolerance_decides_a_significant_but_small_lead(binary):
    tree = DecisionTreeClassifier(random_state=0, max_depth=6).fit(*binary["train"])
    preds = classifier_predictions(tree, binary)
    lenient = _run(binary, preds, tolerance=1.0)
    assert lenient.status == "pass", lenient.message
    strict = _run(binary, preds, tolerance=0.0)
    assert strict.status in ("fail", "warn")


def test_baseline_beats_regression_mean_fails_a_line_on_curved_data_fails_boosting_passes():
    from xgboost import XGBRegressor

    data = regression_splits(n=1600, noise=10.0, seed=4)  # y has a quadratic term
    mean_only = {
        s: pl.DataFrame({"prediction": [float(data["train"][1].mean())] * len(y)})
        for s, (_x, y) in data.items()
    }
    bad = _run(data, mean_only, task="regression")
    assert bad.status == "fail"
    assert bad.subjects[0] == "mean"
    assert "train mean" in bad.remedy
    line = _run(
        data, regressor_predictions(LinearRegression().fit(*data["train"]), data), task="regression"
    )
    assert line.status == "fail"
    assert line.subjects == ("xgboost",)
    assert line.metrics["advantage_vs_mean_ci_low"] > 0.5  # RMSE more than halved vs the mean
    assert "relative error reduction" in line.evidence[0].note
    boosted = XGBRegressor(n_estimators=200, learning_rate=0.1, n_jobs=1, random_state=0)
    boosted.fit(*data["train"])
    good = _run(data, regressor_predictions(boosted, data), task="regression")
    assert good.status in ("pass", "warn"), good.message


def test_baseline_beats_multiclass_prior_model_fails_on_macro_f1():
    data = classification_splits(n=1500, n_classes=3, flip=0.05, seed=5)
    bad = _run(data, prior_predictions(data, n_classes=3))
    assert bad.status == "fail"
    assert "model_macro_f1" in bad.metrics
    good = _run(
        data, classifier_predictions(LogisticRegression(max_iter=500).fit(*data["train"]), data)
    )
    assert "majority" not in good.subjects


def test_baseline_beats_without_intervals_uses_point_estimates(binary):
    result = _run(binary, prior_predictions(binary), n_bootstrap=0)
    assert result.status == "fail"
    assert result.metrics["advantage_vs_majority_ci_low"] is None


def test_baseline_beats_skips_when_test_has_one_class(binary):
    x, y = binary["test"]
    data = {**binary, "test": (x[y == 1], y[y == 1])}
    model = LogisticRegression(max_iter=500).fit(*data["train"])
    result = _run(data, classifier_predictions(model, data))
    assert result.status == "skip"
    assert "no negative rows" in result.message


def test_baseline_beats_uses_the_metric_declared_in_its_own_table(binary):
    """Checks read only their own Params: metric-threshold's metric no longer carries over."""
    model = LogisticRegression(max_iter=500).fit(*binary["train"])
    report = qa.check(
        **frames(binary),
        target="label",
        predictions=classifier_predictions(model, binary),
        only=["baseline-beats"],
        extra_checks=CHECK,
        config=ONE_THREAD,
        checks={"baseline-beats": {"metric": "pr_auc"}},
    )
    result = report.checks[0]
    assert "model_pr_auc" in result.metrics and "model_roc_auc" not in result.metrics
    assert result.metrics["majority_pr_auc"] == pytest.approx(binary["test"][1].mean())


def _tiny_separable(seed=0, n_test=27):
    """Three far-apart blobs: every baseline is perfect; a 27-row test split (wine-sized)."""
    rng = np.random.default_rng(seed)

    def blob(n):
        y = np.arange(n) % 3
        return (rng.normal(size=(n, 4)) + 8.0 * y[:, None]).astype(np.float32), y

    return {"train": blob(120), "test": blob(n_test)}


def _perfect_but(data, wrong):
    """Contract predictions for the test labels with ``wrong`` rows moved to the next class."""
    out = {}
    for split, (_x, y) in data.items():
        d = y.copy()
        if split == "test":
            d[:wrong] = (d[:wrong] + 1) % 3
        out[split] = proba_frame(np.eye(3)[d], [0, 1, 2])
    return out


def test_baseline_beats_a_baseline_one_test_row_ahead_on_27_rows_is_not_a_warning():
    data = _tiny_separable()
    result = _run(data, _perfect_but(data, wrong=1))
    assert result.status == "pass", result.message
    one_row = result.metrics["one_row_step"]
    lead = -result.metrics["advantage_vs_xgboost"]
    assert result.metrics["xgboost_macro_f1"] == 1.0
    assert lead > result.thresholds["tolerance"]  # the old rule warned on this
    assert lead <= one_row + 1e-12  # but it is one row's worth
    assert result.thresholds["lead_that_counts"] == pytest.approx(one_row)


def test_baseline_beats_still_warns_when_a_baseline_is_several_rows_ahead_on_27_rows():
    data = _tiny_separable()
    result = _run(data, _perfect_but(data, wrong=3))
    step = one_row_step(METRICS["macro_f1"], data["test"][1], n_classes=3)
    assert -result.metrics["advantage_vs_xgboost"] > 2 * step
    assert result.status in ("warn", "fail"), result.message
    assert "linear" in result.subjects and "xgboost" in result.subjects


def test_baseline_beats_judge_and_decide_at_their_edges():
    from qa.checks.baseline_beats import Comparison, _judge, decide

    params = BaselineBeats.Params()
    acc = METRICS["accuracy"]

    def versus(advantage, low, high):
        return Comparison("linear", 0.8, (0.7, 0.9), advantage, (low, high))

    margin, tol = params.min_margin, params.tolerance
    trivial = _judge(versus(0.3, margin, 0.4), True, acc, params)
    assert trivial.verdict == "ok"  # the interval's low end reaches the margin
    # The rows cannot show the model beats the prior by the margin, nor rule it out: warn.
    assert _judge(versus(0.3, margin - 1e-6, 0.4), True, acc, params).verdict == "warn"
    # Even the optimistic end falls short of the margin: clearly no better than the prior.
    assert _judge(versus(0.0, -0.02, margin - 1e-6), True, acc, params).verdict == "fail"
    assert _judge(versus(0.0, -0.02, margin), True, acc, params).verdict == "warn"
    behind = -(tol + 1e-6)
    assert _judge(versus(behind, -0.1, -0.001), False, acc, params).verdict == "fail"
    assert _judge(versus(behind, -0.1, 0.01), False, acc, params).verdict == "warn"
    assert _judge(versus(-tol, -0.1, -0.001), False, acc, params).verdict != "fail"  # tolerated
    one_row = _judge(versus(behind, -0.1, -0.001), False, acc, params, step=0.05)
    assert one_row.verdict != "fail"  # a lead of less than one row's worth
    assert decide(["ok", "warn", "fail"]) == "fail"
    assert decide(["ok", "warn"]) == "warn"
    assert decide(["ok", "n/a"]) == "pass"


# --------------------------------------------------------------------------- the false-alarm budget
def test_baseline_beats_still_fails_a_model_a_linear_model_beats_by_010_macro_f1():
    """The baseline-first rule is not a false alarm: a clear loss keeps failing at the share."""
    data = classification_splits(n=1500, n_classes=3, flip=0.05, seed=5)
    logistic = LogisticRegression(max_iter=500).fit(*data["train"])
    rng = np.random.default_rng(0)
    preds = {}
    for split, (x, _y) in data.items():
        proba = logistic.predict_proba(x)
        spoiled = rng.random(len(proba)) < 0.25  # 25 % of rows sent to the wrong class
        proba[spoiled] = np.eye(3)[(proba[spoiled].argmax(axis=1) + 1) % 3]
        preds[split] = proba_frame(proba, [0, 1, 2])
    result = _run(data, preds)
    assert result.metrics["advantage_vs_linear"] < -0.08, result.metrics["advantage_vs_linear"]
    assert result.status == "fail", result.message
    assert "linear" in result.subjects
    assert result.thresholds["false_alarm_share"] == pytest.approx(0.02)
    assert result.thresholds["alpha_per_baseline"] == pytest.approx(0.02 / 3, rel=1e-4)
    assert "one-sided 99.3%" in result.message
    assert BaselineBeats.fail_tests == 1


def test_baseline_beats_judges_a_strong_baseline_at_the_share_and_the_margin():
    from qa.checks.baseline_beats import Comparison, _judge

    params = BaselineBeats.Params()
    auc = METRICS["roc_auc"]

    def versus(advantage, high, bound, detectable=0.01):
        return Comparison(
            "xgboost", 0.8, (0.7, 0.9), advantage, (advantage - 0.05, high),
            bound=bound, alpha=0.01, detectable=detectable, n_rows=200,
        )  # fmt: skip

    # Behind by 0.04 and the 95 % interval below zero, but not at the share: warn, and say
    # how many rows would settle it.
    shy = _judge(versus(-0.04, -0.002, 0.012, detectable=0.052), False, auc, params)
    assert shy.verdict == "warn"
    assert "though not significantly" in shy.note and "one-sided 99% upper bound" in shy.note
    assert "underpowered: with 200 test rows only a gap of 0.052" in shy.note
    # Significant at the share but within the margin (a large test set): not a failure.
    small = _judge(versus(-0.008, -0.004, -0.003), False, auc, params)
    assert small.verdict == "ok"
    # Beyond the margin and significant at the share: fail.
    assert _judge(versus(-0.04, -0.02, -0.01), False, auc, params).verdict == "fail"
    # The metric's own margin holds even when the tolerance is set lower.
    lenient = BaselineBeats.Params(tolerance=0.0)
    assert _judge(versus(-0.009, -0.004, -0.003), False, auc, lenient).verdict == "ok"
