from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.per_class_recall import (
    PerClassRecall,
    ReferenceCounts,
    ReferenceFinding,
    best_reference,
    class_verdict,
    decide,
    scores_from_confusion,
    with_reference,
)
from qa.evaluation import confusion_from_indices
from qa.stats import wilson_interval
from qa.testing import check_contract
from tests.model_fixtures import digits_case, fold_class, label_inputs, planted_confusion


def _run(inputs, **params):
    report = qa.check(
        **inputs, only=["per-class-recall"], checks={"per-class-recall": params} if params else None
    )
    return report.checks[0]


def _digits_folded():
    case = digits_case()
    y = case.y_test
    return case, fold_class(y, case.proba.argmax(axis=1), source=8, target=3)


def test_per_class_recall_fails_when_class_8_is_folded_into_3():
    case, folded = _digits_folded()
    _clean, defective = check_contract(
        PerClassRecall, clean=case.inputs(), defective=case.inputs(pred_index=folded)
    )
    result = defective.checks[0]
    assert result.subjects == ("8",)
    assert result.metrics["min_recall"] == 0.0
    assert result.metrics["n_classes_failing"] == 1
    table = result.evidence[0]
    assert table.rows[0][0] == "8" and table.rows[0][3] == 0.0  # sorted by recall, lowest first
    assert len(table.rows) == 10
    chart = result.charts[0]
    assert chart.kind == "bars" and chart.data["threshold"] == 0.5
    assert chart.data["labels"][0] == "8" and chart.data["series"]["recall"][0] == 0.0


def test_per_class_recall_passes_a_good_digits_model_and_reports_macro_f1():
    from sklearn.metrics import f1_score

    case = digits_case()
    result = _run(case.inputs())
    assert result.status == "pass"
    expected = f1_score(case.y_test, case.proba.argmax(axis=1), average="macro")
    assert result.metrics["macro_f1"] == pytest.approx(expected, abs=1e-6)
    assert result.metrics["min_recall"] > 0.8


def test_scores_equal_sklearn_precision_recall_fscore_support_with_an_absent_class():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 500)  # class 4 never occurs in truth
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 6, 500))  # class 5 predicted only
    scores = scores_from_confusion(confusion_from_indices(y, p, 6))
    ref = precision_recall_fscore_support(y, p, labels=range(6), zero_division=0)
    for got, want in zip(("precision", "recall", "f1", "support"), ref, strict=True):
        np.testing.assert_allclose(scores[got], want)


def test_wilson_interval_matches_known_values():
    lower, upper = wilson_interval(np.array([1, 0, 50]), np.array([3, 5, 100]), 0.95)
    assert upper[0] == pytest.approx(0.7923, abs=1e-3)
    assert lower[0] == pytest.approx(0.0615, abs=1e-3)
    assert upper[1] == pytest.approx(0.4345, abs=1e-3)
    assert (lower[2], upper[2]) == pytest.approx((0.4038, 0.5962), abs=1e-3)


def test_per_class_bar_override_fails_a_class_under_its_own_bar():
    case = digits_case()
    result = _run(case.inputs())
    recalls = {row[0]: row[3] for row in result.evidence[0].rows}
    worst = min(recalls, key=recalls.get)
    strict = _run(case.inputs(), per_class={worst: min(1.0, recalls[worst] + 0.05)})
    assert strict.status == "fail"
    assert strict.subjects == (worst,)
    assert strict.thresholds[f"min_recall[{worst}]"] == pytest.approx(recalls[worst] + 0.05)


def test_per_class_bar_override_can_excuse_a_known_weak_class():
    case, folded = _digits_folded()
    result = _run(case.inputs(pred_index=folded), per_class={"8": 0.0})
    assert result.status == "pass"


def test_per_class_bar_naming_an_unknown_class_is_a_config_error():
    case = digits_case()
    result = _run(case.inputs(), per_class={"eleven": 0.5})
    assert result.status == "error"
    assert "per_class.eleven" in result.message and "unknown class" in result.message


@pytest.mark.parametrize(
    "bad", [{"min_recall": 1.5}, {"per_class": {"3": -0.1}}, {"min_support": 0}, {"recall": 0.5}]
)
def test_per_class_recall_rejects_bad_parameters(bad):
    case = digits_case()
    with pytest.raises(qa.errors.ConfigError, match=r"checks\.per-class-recall"):
        _run(case.inputs(), **bad)


def test_a_class_with_three_test_rows_and_recall_one_third_warns_not_fails():
    y, p = planted_confusion({0: 200, 1: 200, 2: 3}, {(2, 0): 2})
    result = _run(label_inputs(y, p))
    assert result.status == "warn"
    assert result.subjects == ("2",)
    assert result.metrics["n_classes_uncertain"] == 1
    assert result.metrics["n_classes_failing"] == 0
    strict = _run(label_inputs(y, p), strict=True)
    assert strict.status == "fail" and strict.subjects == ("2",)


def test_a_small_class_fails_when_even_its_upper_confidence_bound_is_under_the_bar():
    y, p = planted_confusion({0: 200, 1: 200, 2: 8}, {(2, 0): 8})  # 0 of 8 found
    result = _run(label_inputs(y, p))
    assert result.status == "fail"
    assert result.subjects == ("2",)


@pytest.mark.parametrize(("missed", "status"), [(51, "fail"), (49, "pass")])
def test_recall_just_either_side_of_the_bar_with_adequate_support(missed, status):
    y, p = planted_confusion({0: 100, 1: 100, 2: 100}, {(1, 2): missed})
    result = _run(label_inputs(y, p))
    assert result.status == status
    assert result.metrics["min_recall"] == pytest.approx((100 - missed) / 100)


def test_a_class_absent_from_test_is_reported_as_not_evaluable():
    y, p = planted_confusion({0: 100, 1: 100, 2: 0}, {(0, 1): 3})
    inputs = label_inputs(y, p, classes=[0, 1, 2])  # class 2 exists in train only
    result = _run(inputs)
    assert result.status == "warn"
    assert result.subjects == ("2",)
    assert result.metrics["n_classes_absent"] == 1
    row = next(r for r in result.evidence[0].rows if r[0] == "2")
    assert row[1] == 0 and row[3] is None
    assert "cannot be evaluated" in result.message


def test_binary_task_holds_both_classes_to_the_bar():
    y, p = planted_confusion({0: 300, 1: 100}, {(1, 0): 70, (0, 1): 10})
    result = _run(label_inputs(y, p))
    assert result.status == "fail"
    assert result.subjects == ("1",)
    assert result.metrics["min_recall"] == pytest.approx(0.3)


def test_per_class_recall_skips_regression_and_missing_predictions():
    frame = pl.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0) * 0.5})
    result = qa.check(train=frame, test=frame, target="y", only=["per-class-recall"]).checks[0]
    assert result.status == "skip" and "regression" in result.message
    case = digits_case()
    result = qa.check(
        train=case.train, test=case.test, target="label", only=["per-class-recall"]
    ).checks[0]
    assert result.status == "skip" and "prediction" in result.message


def test_per_class_recall_with_hostile_class_names():
    names = ["<script>alert(1)</script>", "naïve ü 列", "plain"]
    y, p = planted_confusion({0: 80, 1: 80, 2: 80}, {(1, 0): 80})
    result = _run(label_inputs(y, p, classes=names))
    assert result.status == "fail"
    assert result.subjects == ("naïve ü 列",)
    assert "naïve ü 列" in result.message
    override = _run(label_inputs(y, p, classes=names), per_class={"naïve ü 列": 0.0})
    assert override.status == "pass"


def test_model_checks_end_to_end_with_hostile_class_names_in_every_format():
    from qa.reports import render
    from tests.model_fixtures import blobs_case, sharpen

    names = ["<script>alert(1)</script>", "naïve ü 列", "plain"]
    case = blobs_case(n_classes=3).rename(dict(enumerate(names)))
    folded = fold_class(case.y_test, case.proba.argmax(axis=1), source=1, target=0)
    report = qa.check(
        **case.inputs(pred_index=folded, proba=sharpen(case.proba, 6)),
        only=["per-class-recall", "confusion-clusters", "calibration"],
    )
    statuses = {c.id: c.status for c in report.checks}
    assert statuses == {
        "per-class-recall": "fail",
        "confusion-clusters": "fail",
        "calibration": "warn",
    }
    by_id = {c.id: c for c in report.checks}
    assert by_id["per-class-recall"].subjects == ("naïve ü 列",)
    assert set(by_id["confusion-clusters"].subjects) == {names[0], names[1]}
    assert qa.Report.from_json(report.to_json()) == report
    html = render(report, "html")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "naïve ü 列" in html


def test_per_class_bars_accept_integer_class_keys_from_python():
    case, folded = _digits_folded()
    assert _run(case.inputs(pred_index=folded), per_class={8: 0.0}).status == "pass"


def _hard_binary(n_train: int = 3000, n_test: int = 2000, seed: int = 0):
    """A 20 %-positive target at a realistic Bayes error: the Bayes-optimal argmax finds
    well under half of the positives, and so does any reference model."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(1.6 * x[:, 0] + 0.6 * x[:, 1] - 2.1)))
    y = (rng.random(n) < p).astype(int)
    frame = pl.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "label": y})
    train, test = frame[:n_train], frame[n_train:]
    pt = p[n_train:]
    return train, test, pt


def _hard_binary_run(proba_pos):
    train, test, _ = _hard_binary()
    preds = pl.DataFrame(
        {
            "prediction": (proba_pos >= 0.5).astype(int),
            "proba_0": 1 - proba_pos,
            "proba_1": proba_pos,
        }
    )
    return _run(dict(train=train, test=test, target="label", predictions={"test": preds}))


def test_a_hard_minority_class_the_baselines_find_no_better_warns_not_fails():
    *_, bayes = _hard_binary()
    result = _hard_binary_run(bayes)
    assert result.metrics["min_recall"] < 0.45  # under the default bar on 400+ rows
    assert result.status == "warn"
    assert result.subjects == ("1",)
    assert result.metrics["n_classes_hard"] == 1 and result.metrics["n_classes_failing"] == 0
    assert "reference" in result.message


def test_a_minority_class_the_model_never_predicts_fails_when_the_baselines_find_it():
    *_, bayes = _hard_binary()
    result = _hard_binary_run(np.minimum(bayes, 0.49))  # never predicts the positive class
    assert result.status == "fail"
    assert result.subjects == ("1",)
    assert result.metrics["min_recall"] == 0.0


# --------------------------------------------------------------------------- decide, without data
def test_class_verdict_at_the_edges_of_the_bar_and_of_min_support():
    params = PerClassRecall.Params()  # bar 0.5, min_support 50, not strict
    assert class_verdict(0, 0.0, float("nan"), 0.5, params) == "absent"
    assert class_verdict(10, 0.5, 0.8, 0.5, params) == "ok"  # at the bar is enough
    assert class_verdict(50, 0.49, 0.62, 0.5, params) == "fail"  # enough rows: point decides
    assert class_verdict(49, 0.49, 0.62, 0.5, params) == "uncertain"  # too few, CI reaches bar
    assert class_verdict(49, 0.1, 0.499, 0.5, params) == "fail"  # even the CI's top misses
    strict = PerClassRecall.Params(strict=True)
    assert class_verdict(3, 0.33, 0.79, 0.5, strict) == "fail"


def test_a_reference_that_finds_no_more_turns_a_fail_into_hard():
    finding = ReferenceFinding("xgboost", 0.45, behind=False)
    assert with_reference("fail", finding) == "hard"
    assert with_reference("fail", ReferenceFinding("xgboost", 0.9, behind=True)) == "fail"
    assert with_reference("fail", None) == "fail"  # no skilled reference: the bar stands
    assert with_reference("uncertain", finding) == "uncertain"
    assert decide(["ok", "hard", "ok"]) == "warn"
    assert decide(["ok", "uncertain", "fail"]) == "fail"
    assert decide(["ok", "absent"]) == "warn"
    assert decide(["ok", "ok"]) == "pass"


def test_best_reference_needs_skill_and_a_significant_gap_to_leave_behind():
    # 100 rows of the class, 900 others. A skilled reference finds 60; the model 40.
    skilled = ReferenceCounts("xgboost", hits=60, n=100, false_hits=50, m=900, gained=25, lost=5)
    blind = ReferenceCounts("linear", hits=90, n=100, false_hits=810, m=900, gained=60, lost=10)
    found = best_reference([blind, skilled], model_recall=0.40, min_gap=0.10)
    assert found == ReferenceFinding("xgboost", 0.60, behind=True)  # blind predicts it for all
    assert best_reference([blind], 0.40, 0.10) is None
    close = best_reference([skilled], model_recall=0.51, min_gap=0.10)  # gap 0.09 < 0.10
    assert close is not None and not close.behind
    noisy = ReferenceCounts("xgboost", hits=60, n=100, false_hits=50, m=900, gained=6, lost=4)
    assert not best_reference([noisy], 0.40, 0.10).behind  # 6 vs 4 discordant: chance


# --------------------------------------------------------------------------- the false-alarm budget
def test_a_small_class_decision_follows_the_checks_share_of_the_budget():
    """0 of 8 rows found: at the whole default budget (one-sided 99 % Wilson bound, 0.40) the
    class fails; with a gate budget of 0.001 (bound at 99.95 %, 0.58) it only warns and says
    how many more rows would settle it."""
    assert PerClassRecall.fail_tests == 2
    y, p = planted_confusion({0: 200, 1: 200, 2: 8}, {(2, 0): 8})
    result = _run(label_inputs(y, p))
    assert result.status == "fail" and result.subjects == ("2",)
    assert result.thresholds["false_alarm_share"] == pytest.approx(0.02)
    assert result.thresholds["alpha_small_class"] == pytest.approx(0.01)
    inputs = label_inputs(y, p)
    report = qa.check(
        **inputs, only=["per-class-recall"], config={"run": {"false_alarm_rate": 0.001}}
    )
    strict_budget = report.checks[0]
    assert strict_budget.thresholds["alpha_small_class"] == pytest.approx(0.0005)
    assert strict_budget.status == "warn", strict_budget.message
    assert strict_budget.metrics["n_classes_uncertain"] == 1
    assert "underpowered: with 8 test rows of '2'" in strict_budget.message


def test_the_small_class_level_is_split_across_the_small_classes():
    from qa.checks.per_class_recall import levels

    lv = levels(0.02, 4, 6)
    assert lv.small_class == pytest.approx(0.0025)
    assert lv.reference == pytest.approx(0.01 / 6)
    assert levels(0.02, 0, 0).small_class == pytest.approx(0.01)
