from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import mean_squared_error, roc_auc_score

import qa
from qa.checks.metric_threshold import MetricThreshold
from qa.testing import check_contract
from tests.model_fixtures import (
    classification_splits,
    classifier_predictions,
    frames,
    prior_predictions,
    regression_splits,
    regressor_predictions,
)

CHECK = [MetricThreshold]


def _run(data, preds, task=None, **params):
    f = frames(data)
    report = qa.check(
        **f,
        target="label",
        task=task,
        predictions=preds,
        only=["metric-threshold"],
        extra_checks=CHECK,
        checks={"metric-threshold": params} if params else None,
    )
    return report.checks[0]


@pytest.fixture(scope="module")
def binary():
    data = classification_splits(n=2400, flip=0.1, seed=1)
    model = LogisticRegression(max_iter=500).fit(*data["train"])
    return data, classifier_predictions(model, data), model


def test_metric_threshold_contract_prior_only_model_fails_default_auc_bar(binary):
    data, preds, _ = binary
    f = frames(data)
    clean = dict(**f, target="label", predictions=preds)
    defective = dict(**f, target="label", predictions=prior_predictions(data))
    _, bad = check_contract(MetricThreshold, clean=clean, defective=defective)
    result = bad.checks[0]
    assert result.metrics["roc_auc"] == pytest.approx(0.5)
    assert result.thresholds["min_roc_auc"] == 0.7
    assert result.subjects == ("roc_auc",)


def test_metric_threshold_passes_just_above_and_fails_just_below_the_bar(binary):
    data, preds, model = binary
    x, y = data["test"]
    auc = roc_auc_score(y, model.predict_proba(x)[:, 1])
    above = _run(data, preds, threshold=auc - 0.002, warn_when_uncertain=False)
    below = _run(data, preds, threshold=auc + 0.002, warn_when_uncertain=False)
    assert above.status == "pass", above.message
    assert below.status == "fail", below.message
    assert above.metrics["roc_auc"] == pytest.approx(auc, abs=1e-6)
    low, high = above.metrics["roc_auc_ci_low"], above.metrics["roc_auc_ci_high"]
    assert low < auc < high
    assert 0.01 < high - low < 0.1  # 600 test rows: a few points of AUC either way


def test_metric_threshold_warns_when_the_interval_straddles_the_bar(binary):
    data, preds, model = binary
    x, y = data["test"]
    auc = roc_auc_score(y, model.predict_proba(x)[:, 1])
    result = _run(data, preds, threshold=auc - 0.005)
    assert result.status == "warn"
    assert "one-sided 95% lower bound" in result.message
    assert result.metrics["roc_auc_lower_bound"] < auc - 0.005


def test_metric_threshold_uses_a_one_sided_bound_for_the_one_directional_bar(binary):
    """A bar between the 2.5 % and the 5 % quantile: met with one-sided 95 % confidence."""
    data, preds, _ = binary
    probe = _run(data, preds, threshold=0.5)
    two_sided_low = probe.metrics["roc_auc_ci_low"]
    one_sided_low = probe.metrics["roc_auc_lower_bound"]
    assert two_sided_low < one_sided_low < probe.metrics["roc_auc"]
    result = _run(data, preds, threshold=(two_sided_low + one_sided_low) / 2)
    assert result.status == "pass", result.message
    above = _run(data, preds, threshold=(one_sided_low + probe.metrics["roc_auc"]) / 2)
    assert above.status == "warn", above.message


def test_metric_threshold_reports_secondary_metrics_with_intervals(binary):
    data, preds, _ = binary
    result = _run(data, preds)
    for name in ("roc_auc", "pr_auc", "f1", "accuracy"):
        assert result.metrics[name] is not None
        assert (
            result.metrics[f"{name}_ci_low"]
            <= result.metrics[name]
            <= result.metrics[f"{name}_ci_high"]
        )
    assert result.metrics["bootstrap_resamples"] == 1000
    assert result.evidence[0].rows[0][0] == "AUC-ROC"


def test_metric_threshold_f1_uses_the_decision_threshold(binary):
    data, preds, _model = binary
    low = _run(data, preds, metric="f1", threshold=0.1, decision_threshold=0.2)
    high = _run(data, preds, metric="f1", threshold=0.1, decision_threshold=0.8)
    assert low.metrics["f1"] != high.metrics["f1"]


def test_metric_threshold_regression_warns_when_no_bar_is_declared_and_judges_max_rmse():
    data = regression_splits(n=1600, seed=3)
    model = LinearRegression().fit(*data["train"])
    preds = regressor_predictions(model, data)
    rmse = float(np.sqrt(mean_squared_error(data["test"][1], model.predict(data["test"][0]))))
    unset = _run(data, preds, task="regression")
    assert unset.status == "warn"
    assert "no bar" in unset.message
    assert {"rmse", "mae", "r2"} <= set(unset.metrics)
    ok = _run(data, preds, task="regression", threshold=rmse * 1.01, warn_when_uncertain=False)
    bad = _run(data, preds, task="regression", threshold=rmse * 0.99, warn_when_uncertain=False)
    assert ok.status == "pass" and bad.status == "fail"
    assert bad.thresholds["max_rmse"] == pytest.approx(rmse * 0.99)


def test_metric_threshold_multiclass_macro_f1_default_bar():
    data = classification_splits(n=3000, n_classes=4, flip=0.05, seed=2)
    good = classifier_predictions(LogisticRegression(max_iter=500).fit(*data["train"]), data)
    prior = prior_predictions(data, n_classes=4)
    assert _run(data, good).metrics["macro_f1"] > 0.6
    assert _run(data, good).status in ("pass", "warn")
    bad = _run(data, prior)
    assert bad.status == "fail"
    assert bad.thresholds["min_macro_f1"] == 0.6


def test_metric_threshold_skips_when_the_test_split_has_one_class(binary):
    data, _, model = binary
    x, y = data["test"]
    keep = y == 0
    data = {**data, "test": (x[keep], y[keep])}
    preds = classifier_predictions(model, data)
    result = _run(data, preds)
    assert result.status == "skip"
    assert "no positive rows" in result.message


def test_metric_threshold_without_probabilities_falls_back_to_f1_and_says_so(binary):
    data, preds, _ = binary
    labels_only = {s: p.select("prediction") for s, p in preds.items()}
    result = _run(data, labels_only)
    assert "no probabilities" in result.message
    assert "f1" in result.metrics and "roc_auc" not in result.metrics
    assert result.status == "warn"  # F1 has no general bar


def test_metric_threshold_explicit_auc_without_probabilities_is_an_error(binary):
    data, preds, _ = binary
    labels_only = {s: p.select("prediction") for s, p in preds.items()}
    result = _run(data, labels_only, metric="roc_auc")
    assert result.status == "error"
    assert "proba_" in result.message


def test_metric_threshold_rejects_a_metric_of_another_task(binary):
    data, preds, _ = binary
    result = _run(data, preds, metric="rmse")
    assert result.status == "error"  # the task is known only once the data is read
    assert "checks.metric-threshold.metric" in result.message


def test_metric_threshold_handles_hostile_class_names(binary):
    data, _, model = binary
    names = ["<script>alert(1)</script>", "naïve ü 列"]
    f = frames(data, labels=names)
    preds = classifier_predictions(model, data, labels=names)
    report = qa.check(
        **f,
        target="label",
        predictions=preds,
        only=["metric-threshold"],
        extra_checks=CHECK,
        task="binary",
        config={"task": {"positive_label": names[1]}},
    )
    result = report.checks[0]
    assert result.status in ("pass", "warn")
    assert result.metrics["roc_auc"] > 0.8


def test_metric_threshold_large_split_subsamples_and_says_so():
    rng = np.random.default_rng(0)
    n = 30_000
    y = rng.integers(0, 2, n)
    score = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    test = pl.DataFrame({"f0": rng.normal(size=n), "label": y})
    preds = pl.DataFrame(
        {"prediction": (score >= 0.5).astype(int), "proba_0": 1 - score, "proba_1": score}
    )
    report = qa.check(
        train=test,
        test=test,
        target="label",
        predictions={"test": preds},
        only=["metric-threshold"],
        extra_checks=CHECK,
        checks={"metric-threshold": {"max_bootstrap_rows": 5000}},
    )
    result = report.checks[0]
    assert result.metrics["bootstrap_rows"] == 5000
    assert "subsample" in result.evidence[0].note
    auc = roc_auc_score(y, score)
    assert result.metrics["roc_auc_ci_low"] < auc < result.metrics["roc_auc_ci_high"]
    # the width matches a 30,000-row interval (about ±0.006), not a 5,000-row one (±0.015)
    assert result.metrics["roc_auc_ci_high"] - result.metrics["roc_auc_ci_low"] < 0.02


def test_metric_threshold_decide_at_the_bar_for_scores_and_errors():
    from qa.checks.metric_threshold import decide
    from qa.metrics import METRICS

    auc, rmse = METRICS["roc_auc"], METRICS["rmse"]
    assert decide(auc, 0.9, None, 0.85, True) == "warn"  # no bar declared
    assert decide(auc, 0.7, 0.7, 0.7, True) == "pass"  # at the bar meets it
    assert decide(auc, 0.6999, 0.7, 0.65, True) == "fail"
    assert decide(auc, 0.72, 0.7, 0.69, True) == "warn"  # the lower bound crosses
    assert decide(auc, 0.72, 0.7, 0.69, False) == "pass"
    assert decide(auc, 0.72, 0.7, None, True) == "pass"  # no interval (n_bootstrap = 0)
    assert decide(rmse, 2.0, 2.0, 2.1, False) == "pass"  # errors: at most the bar
    assert decide(rmse, 2.01, 2.0, 2.1, True) == "fail"
    assert decide(rmse, 1.9, 2.0, 2.05, True) == "warn"  # the upper bound crosses
