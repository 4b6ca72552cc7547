from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.calibration import Calibration, null_ece, reliability
from qa.testing import check_contract
from tests.model_fixtures import blobs_case, label_inputs, sharpen


def _run(inputs, **params):
    report = qa.check(
        **inputs, only=["calibration"], checks={"calibration": params} if params else None
    )
    return report.checks[0]


def _naive_ece(score, outcome, n_bins):
    """Textbook equal-width ECE, one bin at a time (the reference for the vectorised one)."""
    total = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for i in range(n_bins):
        last = i == n_bins - 1
        inside = (score >= edges[i]) & ((score <= edges[i + 1]) if last else (score < edges[i + 1]))
        if inside.any():
            total += inside.sum() * abs(outcome[inside].mean() - score[inside].mean())
    return total / len(score)


def test_calibration_warns_on_a_model_with_logits_sharpened_five_times():
    case = blobs_case()
    clean, defective = check_contract(
        Calibration,
        clean=case.inputs(),
        defective=case.inputs(proba=sharpen(case.proba, 5)),
        defective_statuses=("warn",),
    )
    assert clean.checks[0].metrics["ece"] < 0.05
    result = defective.checks[0]
    assert result.metrics["ece"] > 0.1
    assert result.subjects == ("overconfident",)
    assert "(severity: warning)" in result.message
    chart = result.charts[0]
    assert chart.kind == "lines" and chart.data["x_label"] == "confidence"
    assert set(chart.data["series"]) == {"observed accuracy", "perfect"}
    assert len(chart.data["x"]) == len(chart.data["series"]["observed accuracy"])


def test_calibration_fails_the_gate_only_when_its_severity_is_raised():
    case = blobs_case()
    report = qa.check(
        **case.inputs(proba=sharpen(case.proba, 5)),
        only=["calibration"],
        checks={"calibration": {"severity": "error"}},
    )
    assert report.checks[0].status == "fail"
    assert report.status == "fail"


def test_an_underconfident_model_warns_too():
    case = blobs_case()
    result = _run(case.inputs(proba=sharpen(case.proba, 0.3)))
    assert result.status == "warn"
    assert result.subjects == ("underconfident",)


@pytest.mark.parametrize("binning", ["width", "mass"])
def test_binary_calibration_uses_the_positive_class_probability(binning):
    case = blobs_case(n_classes=2, spread=1.0)
    calibrated = _run(case.inputs(), binning=binning)
    assert calibrated.status == "pass"
    assert calibrated.charts[0].data["x_label"] == "predicted P(1)"
    assert calibrated.metrics["brier"] == pytest.approx(
        np.mean((case.proba[:, 1] - case.y_test) ** 2), abs=1e-6
    )
    sharp = _run(case.inputs(proba=sharpen(case.proba, 5)), binning=binning)
    assert sharp.status == "warn"
    assert sharp.subjects == ("overconfident",)


def test_predictions_without_probabilities_skip_calibration_with_a_reason():
    case = blobs_case()
    result = _run(case.inputs(with_proba=False))
    assert result.status == "skip"
    assert "no probability columns" in result.message


def test_vectorised_ece_equals_the_textbook_loop_and_multiclass_brier_matches_sklearn():
    rng = np.random.default_rng(0)
    score = rng.random(2000)
    outcome = rng.random(2000) < score**1.5
    rel = reliability(score, outcome, 15, "width")
    assert rel.ece == pytest.approx(_naive_ece(score, outcome, 15))
    assert rel.rows.sum() == 2000
    mass = reliability(score, outcome, 10, "mass")
    assert set(mass.rows.tolist()) == {200}

    case = blobs_case()
    result = _run(case.inputs())
    onehot = np.eye(case.proba.shape[1])[case.y_test]
    brier = np.mean(((case.proba - onehot) ** 2).sum(axis=1))
    assert result.metrics["brier"] == pytest.approx(brier, abs=1e-6)


def test_noise_guard_keeps_false_alarms_on_small_calibrated_test_sets_near_five_percent():
    rng = np.random.default_rng(7)
    naive, guarded, trials = 0, 0, 300
    for _ in range(trials):
        score = rng.beta(2, 2, 80)
        outcome = rng.random(80) < score  # calibrated by construction
        rel = reliability(score, outcome, 15, "width")
        q95 = np.quantile(null_ece(rel, rng, draws=500), 0.95)
        naive += rel.ece > 0.1
        guarded += rel.ece > 0.1 and rel.ece > q95
    assert naive / trials > 0.5  # the raw ECE cries wolf on 80 rows...
    assert guarded / trials <= 0.06  # ...the noise guard does not


def test_small_perfectly_calibrated_test_set_passes_even_with_raw_ece_over_the_bar():
    rng = np.random.default_rng(11)
    n = 80
    p1 = rng.beta(2, 2, n)
    y = (rng.random(n) < p1).astype(int)
    proba = np.column_stack([1 - p1, p1])
    result = _run(label_inputs(y, proba.argmax(axis=1), proba=proba))
    assert result.metrics["ece"] > 0.1
    assert result.status == "pass"
    assert "within sampling noise" in result.message


def test_calibration_with_hostile_class_names_and_a_class_absent_from_test():
    names = ["<script>alert(1)</script>", "naïve ü 列", "plain"]
    case = blobs_case(n_classes=3).rename(dict(enumerate(names)))
    assert case.classes == tuple(names)
    keep = case.y_test != 2  # "plain" never occurs in test; it stays a class through train
    test = case.test.filter(pl.Series(keep))
    preds = case.predictions(proba=sharpen(case.proba, 6)).filter(pl.Series(keep))
    report = qa.check(
        train=case.train,
        test=test,
        target="label",
        predictions={"test": preds},
        only=["calibration"],
    )
    result = report.checks[0]
    assert result.status == "warn"
    assert report.task["classes"] == names


def test_calibration_is_skipped_for_regression():
    frame = pl.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0) * 0.5})
    result = qa.check(train=frame, test=frame, target="y", only=["calibration"]).checks[0]
    assert result.status == "skip" and "regression" in result.message


def test_calibration_decide_needs_the_bar_and_the_noise_level_both():
    from qa.checks.calibration import decide

    assert decide(0.12, 0.05, 0.1) == ("fail", "miscalibrated")
    assert decide(0.12, 0.15, 0.1) == ("pass", "within-noise")  # small test set: chance
    assert decide(0.10, 0.01, 0.1) == ("pass", "calibrated")  # at the bar is not over it
    assert decide(0.12, 0.12, 0.1) == ("pass", "within-noise")  # at the noise level


def _borderline_overconfident(seed: int = 4, n: int = 100):
    """100 rows whose probabilities are stretched 1.4x away from 0.5: an ECE of about 0.13,
    over the bar and over a calibrated model's median ECE, under its 99.9th percentile."""
    rng = np.random.default_rng(seed)
    p_true = rng.beta(2, 2, n)
    y = (rng.random(n) < p_true).astype(int)
    p1 = np.clip(0.5 + 1.4 * (p_true - 0.5), 0.001, 0.999)
    proba = np.column_stack([1 - p1, p1])
    return label_inputs(y, proba.argmax(axis=1), proba=proba)


@pytest.mark.parametrize(("rate", "status"), [(0.5, "fail"), (0.001, "pass")])
def test_calibration_noise_bar_follows_the_false_alarm_share(rate, status):
    report = qa.check(
        **_borderline_overconfident(),
        only=["calibration"],
        checks={"calibration": {"severity": "error"}},
        config={"run": {"false_alarm_rate": rate}},
    )
    result = report.checks[0]
    assert result.status == status, result.message
    assert result.thresholds["false_alarm_share"] == pytest.approx(rate)
    assert result.thresholds["null_quantile"] == pytest.approx(1 - rate)
    assert 0.12 < result.metrics["ece"] < 0.15
    assert result.metrics["null_draws"] == max(1000, round(20 / rate))
    assert "ece_noise_q95" in result.metrics  # the reported percentile stays a contract
    if status == "pass":
        assert "within sampling noise" in result.message
        assert result.metrics["ece_noise_bar"] > result.metrics["ece"]


def test_calibration_at_severity_warning_draws_no_budget_and_uses_the_whole_rate():
    result = _run(_borderline_overconfident())
    assert "false_alarm_share" not in result.thresholds
    assert result.thresholds["null_quantile"] == pytest.approx(0.98)


def test_null_draws_resolve_the_quantile_within_bounds():
    from qa.checks.calibration import MAX_NULL_DRAWS, NULL_DRAWS, null_draws

    assert null_draws(0.05) == NULL_DRAWS
    assert null_draws(0.001) == 20_000
    assert null_draws(1e-7) == MAX_NULL_DRAWS
