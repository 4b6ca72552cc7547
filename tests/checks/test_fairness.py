from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.fairness import (
    Fairness,
    bootstrap_rates,
    confusion_by_group,
    decide,
    fairlearn_rates,
    group_rows,
    measure_gap,
    outcome_cells,
    rates_from_cells,
)
from qa.testing import check_contract


# --------------------------------------------------------------------------- inputs
def _run(inputs: dict[str, Any], **params: Any):
    """The fairness result of ``qa.check`` on ``inputs`` (from :func:`_inputs`)."""
    report = qa.check(
        **inputs,
        checks={"fairness": params} if params else None,
        only=["fairness"],
        extra_checks=[Fairness],
    )
    return next(c for c in report.checks if c.id == "fairness")


def _inputs(
    train: pl.DataFrame, test: pl.DataFrame, preds: pl.DataFrame, sensitive: Any = ("group",)
) -> dict[str, Any]:
    """``check_contract`` / ``qa.check`` keyword arguments with the sensitive columns declared."""
    return dict(
        train=train,
        test=test,
        target="label",
        predictions={"test": preds},
        config={"task": {"sensitive": list(sensitive)}},
    )


def _proba_frame(proba: np.ndarray, pred: np.ndarray | None = None) -> pl.DataFrame:
    pred = proba.argmax(axis=1) if pred is None else pred
    cols: dict[str, Any] = {"prediction": pred}
    cols.update({f"proba_{c}": proba[:, c] for c in range(proba.shape[1])})
    return pl.DataFrame(cols)


@cache
def _binary_case(n: int = 6000, seed: int = 0):
    """make_classification with a logistic regression; ``group`` (A/B/C) and ``age`` are
    declared sensitive and independent of everything (not model inputs)."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, class_sep=1.2, random_state=seed
    )
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B", "C"], n)
    age = rng.integers(18, 80, n)
    half = n // 2
    model = LogisticRegression(max_iter=1000).fit(x[:half], y[:half])

    def frame(rows: slice) -> pl.DataFrame:
        cols: dict[str, Any] = {f"f{i}": x[rows, i] for i in range(x.shape[1])}
        cols.update(group=group[rows], age=age[rows], label=y[rows])
        return pl.DataFrame(cols)

    return frame(slice(None, half)), frame(slice(half, None)), model.predict_proba(x[half:])


def _lower_recall(
    y: np.ndarray, pred: np.ndarray, in_group: np.ndarray, drop: float, seed: int = 1
) -> np.ndarray:
    """Predictions whose recall in ``in_group`` is ``drop`` lower: that many of the group's
    positives, taken from those found, are missed."""
    found = np.flatnonzero(in_group & (y == 1) & (pred == 1))
    n_miss = round(drop * int((in_group & (y == 1)).sum()))
    missed = np.random.default_rng(seed).choice(found, n_miss, replace=False)
    out = pred.copy()
    out[missed] = 0
    return out


def _binary_defect(group: str = "B", drop: float = 0.3):
    train, test, proba = _binary_case()
    y = test["label"].to_numpy()
    pred = _lower_recall(y, proba.argmax(axis=1), test["group"].to_numpy() == group, drop)
    return train, test, proba, pred


# --------------------------------------------------------------------------- the promises
def test_fairness_fails_when_one_groups_recall_is_0_3_lower_and_names_it():
    train, test, proba, pred = _binary_defect("B", 0.3)
    clean, defective = check_contract(
        Fairness,
        clean=_inputs(train, test, _proba_frame(proba), ("group", "age")),
        defective=_inputs(train, test, _proba_frame(proba, pred), ("group", "age")),
    )
    result = next(c for c in defective.checks if c.id == "fairness")
    assert result.status == "fail"
    assert result.subjects[0] == "group=B"
    assert "'B'" in result.message and "equal opportunity" in result.message
    assert result.metrics["equal_opportunity_difference[group]"] == pytest.approx(0.3, abs=0.05)
    assert result.metrics["equal_opportunity_lower[group]"] > 0.10
    passing = next(c for c in clean.checks if c.id == "fairness")
    assert passing.metrics["equal_opportunity_difference[group]"] < 0.06
    # the evidence: a gaps table, a per-group table per column, a TPR chart per column
    groups = result.evidence[1]
    assert groups.title == "Groups of 'group' on test"
    tpr = {row[0]: row[groups.columns.index("TPR")] for row in groups.rows}
    assert tpr["B"] < min(tpr["A"], tpr["C"]) - 0.2
    chart = result.charts[0]
    assert chart.kind == "bars" and chart.data["labels"] == ["A", "B", "C"]
    low, point, high = (chart.data["series"][k] for k in ("95% low", "TPR", "95% high"))
    assert all(lo <= p <= hi for lo, p, hi in zip(low, point, high, strict=True))
    assert chart.data["threshold"] == pytest.approx(max(point) - 0.10)


def test_fairness_a_gap_just_under_the_bar_does_not_fail():
    train, test, proba, pred = _binary_defect("B", 0.05)
    result = _run(_inputs(train, test, _proba_frame(proba, pred)))
    assert result.status == "pass", result.message
    assert result.metrics["equal_opportunity_difference"] < 0.10


def test_fairness_a_gap_over_the_bar_on_too_few_rows_warns_not_fails():
    train, test, proba = _binary_case()
    y = test["label"].to_numpy()
    # group "small": 60 rows (about 30 positives) with recall 0.2 lower: over the bar,
    # but not with confidence at the check's share
    rng = np.random.default_rng(3)
    small = np.zeros(len(y), dtype=bool)
    small[rng.choice(np.flatnonzero(y == 1), 32, replace=False)] = True
    small[rng.choice(np.flatnonzero(y == 0), 30, replace=False)] = True
    test = test.with_columns(pl.Series("group", np.where(small, "small", "large")))
    pred = _lower_recall(y, proba.argmax(axis=1), small, 0.2)
    result = _run(_inputs(train, test, _proba_frame(proba, pred)))
    assert result.status == "warn", result.message
    assert result.subjects == ("group=small",)
    assert "not with confidence" in result.message and "underpowered" in result.message


def test_a_fair_model_on_real_data_passes():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.5, stratify=y, random_state=0
    )
    proba = LogisticRegression(max_iter=2000).fit(x_train, y_train).predict_proba(x_test)
    rng = np.random.default_rng(0)

    def frame(x_: np.ndarray, y_: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "mean radius": x_[:, 0],
                "mean texture": x_[:, 1],
                "sex": rng.choice(["female", "male"], len(y_)),
                "income": rng.lognormal(10, 1, len(y_)),
                "label": y_,
            }
        )

    inputs = _inputs(
        frame(x_train, y_train), frame(x_test, y_test), _proba_frame(proba), ["sex", "income"]
    )
    result = _run(inputs, bands=3)
    assert result.status == "pass", result.message
    assert "income" in result.message and "bands" in result.message


def test_a_fair_multiclass_model_on_digits_passes_and_a_folded_group_fails():
    from tests.model_fixtures import digits_case

    case = digits_case()
    rng = np.random.default_rng(0)
    region = rng.choice(["north", "south"], case.test.height)
    test = case.test.with_columns(pl.Series("region", region))
    train = case.train.with_columns(pl.Series("region", rng.choice(["north", "south"], 1257)))
    pred = case.proba.argmax(axis=1)
    clean = _run(_inputs(train, test, case.predictions(pred_index=pred), ["region"]))
    assert clean.status == "pass", clean.message
    assert "macro recall" in clean.message
    # in the south, classes 3, 5 and 8 are all predicted as 1: macro recall drops by 0.3
    folded = pred.copy()
    south = region == "south"
    folded[south & np.isin(case.y_test, [3, 5, 8])] = 1
    result = _run(_inputs(train, test, case.predictions(pred_index=folded), ["region"]))
    assert result.status == "fail", result.message
    assert result.subjects == ("region=south",)
    gaps = result.evidence[0]
    row = next(r for r in gaps.rows if r[1] == "equal opportunity (macro recall)")
    assert row[3] == pytest.approx(0.3, abs=0.05)


def _regression_case(worse: float = 1.0, seed: int = 0):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    x, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed)
    x_train, x_test, y_train, y_test = x[:221], x[221:], y[:221], y[221:]
    pred = Ridge(alpha=0.1).fit(x_train, y_train).predict(x_test)
    band = rng.choice(["young", "old"], len(y_test))
    pred = np.where(band == "old", y_test + worse * (pred - y_test), pred)

    def frame(x_: np.ndarray, y_: np.ndarray, b: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({"bmi": x_[:, 2], "bp": x_[:, 3], "band": b, "label": y_})

    train = frame(x_train, y_train, rng.choice(["young", "old"], len(y_train)))
    return _inputs(train, frame(x_test, y_test, band), pl.DataFrame({"prediction": pred}), ["band"])


def test_regression_is_judged_on_the_mae_gap():
    clean = _run(_regression_case(1.0))
    assert clean.status == "pass", clean.message
    assert "relative MAE" in clean.message
    result = _run(_regression_case(2.0))  # twice the errors for "old"
    assert result.status == "fail", result.message
    assert result.subjects == ("band=old",)
    assert result.metrics["metric_difference[band]"] == pytest.approx(0.5, abs=0.05)
    table = result.evidence[1]
    assert table.columns[:3] == ("group", "rows", "mae")


# --------------------------------------------------------------------------- edge cases
def test_a_group_under_30_rows_is_listed_not_judged():
    train, test, proba = _binary_case()
    y = test["label"].to_numpy()
    tiny = np.zeros(len(y), dtype=bool)
    tiny[:20] = True  # 20 rows, every positive missed
    group = np.where(tiny, "tiny", test["group"].to_numpy())
    test = test.with_columns(pl.Series("group", group))
    pred = proba.argmax(axis=1).copy()
    pred[tiny] = 0
    result = _run(_inputs(train, test, _proba_frame(proba, pred)))
    assert result.status == "pass", result.message
    assert result.metrics["n_groups"] == 4 and result.metrics["n_groups_judged"] == 3
    assert "1 group(s) under 30 test rows listed, not judged" in result.message
    row = next(r for r in result.evidence[1].rows if r[0] == "tiny")
    assert row[1] == 20 and row[-1] == "listed, not judged: under 30 rows"
    # judged from 5 rows: every positive of 20 rows missed is a gap the rows establish
    judged = _run(_inputs(train, test, _proba_frame(proba, pred)), min_group_rows=5)
    assert judged.status == "fail" and judged.subjects[0] == "group=tiny"


def test_a_group_with_one_class_has_no_tpr_and_is_judged_on_the_rest():
    train, test, proba = _binary_case()
    y = test["label"].to_numpy()
    negatives = np.flatnonzero(y == 0)[:100]
    group = test["group"].to_numpy().copy()
    group[negatives] = "only negatives"
    test = test.with_columns(pl.Series("group", group))
    result = _run(_inputs(train, test, _proba_frame(proba)))
    # judged on its selection rate: a group without positives is selected less (four-fifths)
    assert result.status == "warn", result.message
    assert result.subjects == ("group=only negatives",)
    assert "four-fifths" in result.message and "equal opportunity" not in result.message
    table = result.evidence[1]
    row = next(r for r in table.rows if r[0] == "only negatives")
    at = table.columns.index
    assert row[at("positives")] == 0 and row[at("TPR")] is None
    assert row[at("FPR")] is not None and row[at("roc_auc")] is None
    assert "TPR not" in row[-1] and "AUC-ROC is undefined" in row[-1]
    gaps = {(r[0], r[1]): r for r in result.evidence[0].rows}
    assert gaps[("group", "equal opportunity (TPR)")][2] == 3  # the three groups with positives
    assert gaps[("group", "false positive rate (FPR)")][2] == 4


@pytest.mark.parametrize("dtype", [pl.String, pl.Float64])
def test_missing_sensitive_values_form_their_own_group(dtype):
    train, test, proba = _binary_case()
    n = test.height
    if dtype == pl.String:
        values = pl.Series("group", test["group"]).scatter(np.arange(0, n, 10), None)
    else:
        raw = np.where(test["group"].to_numpy() == "A", 1.0, 2.0)
        raw[np.arange(0, n, 10)] = np.nan
        values = pl.Series("group", raw).scatter(np.arange(5, n, 10), None)  # NaN and null
    test = test.with_columns(values)
    result = _run(_inputs(train, test, _proba_frame(proba)))
    names = [r[0] for r in result.evidence[1].rows]
    assert names[-1] == "(missing)"
    missing = len(range(0, n, 10)) + (len(range(5, n, 10)) if dtype == pl.Float64 else 0)
    assert result.evidence[1].rows[-1][1] == missing
    assert result.status == "pass", result.message


def test_hostile_and_unicode_group_and_column_names_survive_every_format():
    from qa.reports import render

    column = "<script>alert('c')</script> 性别"
    train, test, proba, pred = _binary_defect("B", 0.3)
    hostile = {"A": "naïve ü 列", "B": "<img src=x onerror=alert(1)>", "C": ""}
    test = test.with_columns(pl.Series(column, [hostile[v] for v in test["group"].to_list()])).drop(
        "group"
    )
    train = train.with_columns(pl.Series(column, train["group"].to_list())).drop("group")
    inputs = _inputs(train, test, _proba_frame(proba, pred), [column])
    report = qa.check(**inputs, only=["fairness"], extra_checks=[Fairness])
    result = report.checks[0]
    assert result.status == "fail", result.message
    assert result.subjects[0] == f"{column}=<img src=x onerror=alert(1)>"
    assert qa.Report.from_json(report.to_json()) == report
    html = render(report, "html")
    assert "<img src=x" not in html and "<script>alert('c')" not in html
    assert "naïve ü 列" in html
    for fmt in ("md", "junit"):
        assert render(report, fmt)


def test_a_numeric_sensitive_column_is_banded_or_kept_by_its_distinct_values():
    series = pl.Series("age", np.arange(1000) % 80 + 18.0)
    banded = group_rows(series, "age", max_values=10, bands=4)
    assert banded.names == ("<= 37", "(37, 56]", "(56, 77]", "> 77")
    assert banded.rows.sum() == 1000 and "4 bands" in banded.note
    kept = group_rows(pl.Series("flag", np.arange(100) % 2), "flag", 10, 4)
    assert kept.names == ("0", "1") and kept.note == ""
    boolean = group_rows(pl.Series("b", [True, None, False, True]), "b", 10, 4)
    assert boolean.names == ("False", "True", "(missing)")
    assert list(boolean.codes) == [1, 2, 0, 1]
    categorical = group_rows(pl.Series("c", ["x", "y", None], dtype=pl.Categorical), "c", 10, 4)
    assert categorical.names == ("x", "y", "(missing)")


def test_a_numeric_sensitive_column_end_to_end():
    train, test, proba = _binary_case()
    result = _run(_inputs(train, test, _proba_frame(proba), ["age"]))
    assert result.status == "pass", result.message
    assert "'age' is numeric with 62 distinct values: cut into 5 bands" in result.message
    assert len(result.evidence[1].rows) == 5


def test_nothing_declared_skips():
    train, test, proba = _binary_case()
    result = _run(_inputs(train, test, _proba_frame(proba), ()))
    assert result.status == "skip"
    assert "sensitive" in result.message


def test_a_declared_column_missing_from_test_is_an_error_naming_it():
    train, test, proba = _binary_case()
    result = _run(_inputs(train, test, _proba_frame(proba), ["group", "ethnicity"]))
    assert result.status == "error"
    assert "'ethnicity'" in result.message and "test split" in result.message


def test_fairness_skips_without_predictions():
    train, test, _proba = _binary_case()
    report = qa.check(
        train=train,
        test=test,
        target="label",
        config={"task": {"sensitive": ["group"]}},
        only=["fairness"],
        extra_checks=[Fairness],
    )
    assert report.checks[0].status == "skip" and "prediction" in report.checks[0].message


@pytest.mark.parametrize(
    "bad", [{"max_tpr_gap": 1.5}, {"min_group_rows": 1}, {"bands": 1}, {"tpr_gap": 0.1}]
)
def test_fairness_rejects_bad_parameters(bad):
    train, test, proba = _binary_case()
    with pytest.raises(qa.errors.ConfigError, match=r"checks\.fairness"):
        _run(_inputs(train, test, _proba_frame(proba)), **bad)


# --------------------------------------------------------------------------- measure / decide
def test_rates_equal_fairlearn_on_the_rows_and_the_counts_formulas():
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equal_opportunity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    rng = np.random.default_rng(5)
    n = 3000
    codes = rng.integers(0, 4, n)
    y = (rng.random(n) < 0.3 + 0.1 * codes).astype(int)
    pred = np.where(rng.random(n) < 0.7 + 0.05 * codes, y, 1 - y)
    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=codes,
    )
    confusion = confusion_by_group(codes, 4, y, pred, 2)
    got = fairlearn_rates(confusion, "binary", 1)
    np.testing.assert_allclose(got["selection_rate"], frame.by_group["sel"])
    np.testing.assert_allclose(got["tpr"], frame.by_group["tpr"])
    np.testing.assert_allclose(got["fpr"], frame.by_group["fpr"])
    counted = rates_from_cells(outcome_cells(confusion), "binary", 1)
    for name in got:
        np.testing.assert_allclose(counted[name], got[name])
    # the gaps, every group judged, are fairlearn's
    everyone = np.ones(4, dtype=bool)
    reps = bootstrap_rates(outcome_cells(confusion), "binary", 1, 500, rng)

    def gap(name: str):
        return measure_gap(name, got[name], reps[name], everyone, 0.05, None)

    assert gap("selection_rate").difference == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=codes)
    )
    assert gap("selection_rate").ratio == pytest.approx(
        demographic_parity_ratio(y, pred, sensitive_features=codes)
    )
    assert gap("tpr").difference == pytest.approx(
        equal_opportunity_difference(y, pred, sensitive_features=codes)
    )
    assert max(gap("tpr").difference, gap("fpr").difference) == pytest.approx(
        equalized_odds_difference(y, pred, sensitive_features=codes)
    )


def test_multiclass_rate_is_balanced_accuracy_per_group():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(2)
    n, k = 2000, 4
    codes = rng.integers(0, 3, n)
    y = rng.integers(0, k, n)
    y[codes == 2] = np.minimum(y[codes == 2], 2)  # class 3 absent from group 2
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    confusion = confusion_by_group(codes, 3, y, pred, k)
    got = fairlearn_rates(confusion, "multiclass", 1)["tpr"]
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        want = [balanced_accuracy_score(y[codes == g], pred[codes == g]) for g in range(3)]
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(
        rates_from_cells(outcome_cells(confusion), "multiclass", 1)["tpr"], want
    )


def _two_groups(tpr: tuple[float, float], positives: int, rng: np.random.Generator) -> np.ndarray:
    """Outcome cells (2 groups, 2 classes, [wrong, right]) with binomial TPRs."""
    hits = rng.binomial(positives, tpr)
    cells = np.zeros((2, 2, 2), dtype=np.int64)
    cells[:, 1, 1], cells[:, 1, 0] = hits, positives - hits
    cells[:, 0, 1] = positives  # negatives, all right: they do not enter the TPR
    return cells


@pytest.mark.parametrize(("true_gap", "at_most", "at_least"), [(0.10, 0.05, 0.0), (0.30, 1.0, 0.9)])
def test_the_gap_rule_holds_its_false_alarm_level_on_the_bar_and_finds_a_real_gap(
    true_gap, at_most, at_least
):
    """On the bar (a true gap of exactly 0.10) the rule fails at most its level; a true gap
    of 0.30 on 150 positives a group fails nearly always."""
    rng = np.random.default_rng(11)
    alpha, runs, fails = 0.05, 300, 0
    everyone = np.ones(2, dtype=bool)
    for _ in range(runs):
        cells = _two_groups((0.8, 0.8 - true_gap), 150, rng)
        points = rates_from_cells(cells, "binary", 1)["tpr"]
        reps = bootstrap_rates(cells, "binary", 1, 1000, rng)["tpr"]
        fails += measure_gap("tpr", points, reps, everyone, alpha, 0.10).cleared is not None
    assert at_least * runs <= fails <= at_most * runs


def test_the_level_is_split_across_ordered_pairs_of_judged_groups():
    rng = np.random.default_rng(0)
    points = np.array([0.8, 0.7, 0.75, np.nan, 0.9])
    reps = points[:, None] + rng.normal(0, 0.01, (5, 1000))
    judged = np.array([True, True, True, True, False])
    gap = measure_gap("tpr", points, reps, judged, 0.06, 0.05)
    assert gap.n_groups == 3  # NaN (no positives) and the unjudged group left out
    assert gap.alpha == pytest.approx(0.06 / 6)
    assert (gap.extreme.high, gap.extreme.low) == (0, 1)
    assert gap.difference == pytest.approx(0.1) and gap.ratio == pytest.approx(0.7 / 0.8)
    assert gap.cleared is not None and gap.cleared.lower > 0.05
    assert (
        measure_gap("tpr", points, reps, np.array([1, 0, 0, 0, 0], bool), 0.06, 0.05).difference
        is None
    )


def test_decide_fails_only_on_a_confident_gap():
    assert decide([["gap"], []]) == "fail"
    assert decide([["gap-point"], ["four-fifths"]]) == "warn"
    assert decide([["no-comparison"]]) == "warn"
    assert decide([[], []]) == "pass"
