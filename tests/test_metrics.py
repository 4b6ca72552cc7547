"""The metrics module: scikit-learn agreement, bootstrap intervals that cover, pairing."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from qa.errors import ConfigError, ModelError
from qa.metrics import (
    METRICS,
    advantage,
    make_scorer,
    one_row_step,
    reported_metrics,
    resolve_metric,
    run_bootstrap,
)
from qa.predictions import Predictions


def _binary(n=3000, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(0.25 * y + rng.normal(0.4, 0.2, n), 0, 1)
    if ties:
        s = np.round(s, 2)
    return y, Predictions("test", labels=(s >= 0.5).astype(int), proba=np.column_stack([1 - s, s]))


def _multiclass(n=3000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    d = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    return y, Predictions("test", labels=d)


def _regression(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, n)
    return y, Predictions("test", values=y + rng.normal(0, 1.5, n))


def _sklearn_weighted(name, y, preds, w):
    """scikit-learn's value with bootstrap counts as sample weights."""
    if name in ("roc_auc", "pr_auc"):
        fn = skm.roc_auc_score if name == "roc_auc" else skm.average_precision_score
        return fn(y == 1, preds.proba[:, 1], sample_weight=w)
    if name in ("rmse", "mae", "r2"):
        fn = {
            "rmse": skm.root_mean_squared_error,
            "mae": skm.mean_absolute_error,
            "r2": skm.r2_score,
        }[name]
        return fn(y, preds.values, sample_weight=w)
    d = preds.labels if preds.proba is None else (preds.proba[:, 1] >= 0.5).astype(int)
    if name == "accuracy":
        return skm.accuracy_score(y, d, sample_weight=w)
    if name == "f1":
        return skm.f1_score(y, d, sample_weight=w, zero_division=0)
    average = "macro" if name == "macro_f1" else "weighted"
    keep = w > 0  # scikit-learn takes the labels present among the rows given
    return skm.f1_score(y[keep], d[keep], average=average, sample_weight=w[keep], zero_division=0)


CASES = (
    [("binary", m, _binary) for m in ("roc_auc", "pr_auc", "f1", "accuracy", "macro_f1")]
    + [("multiclass", m, _multiclass) for m in ("macro_f1", "accuracy", "weighted_f1")]
    + [("regression", m, _regression) for m in ("rmse", "mae", "r2")]
)


@pytest.mark.parametrize(("task", "name", "make"), CASES)
def test_vectorised_metric_equals_sklearn_on_all_rows_and_on_weighted_resamples(task, name, make):
    y, preds = make()
    scorer = make_scorer(
        METRICS[name], task, y, preds, n_classes=int(y.max()) + 1 if task != "regression" else 0
    )
    batch = scorer.batch(None)
    assert batch(np.ones((len(y), 1)))[0] == pytest.approx(scorer.point, abs=1e-12)
    rng = np.random.default_rng(1)
    counts = np.stack(
        [np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)) for _ in range(3)], axis=1
    ).astype(float)
    got = batch(counts)
    for j in range(3):
        assert got[j] == pytest.approx(_sklearn_weighted(name, y, preds, counts[:, j]), abs=1e-9)


def test_auc_interval_covers_the_true_auc_about_95_percent_of_the_time():
    """Binormal scores: the true AUC is Phi(d / sqrt 2); 150 datasets of 300 rows."""
    d, n, hits, trials = 1.0, 300, 0, 150
    truth = NormalDist().cdf(d / np.sqrt(2))
    rng = np.random.default_rng(0)
    for seed in range(trials):
        y = rng.integers(0, 2, n)
        s = 1 / (1 + np.exp(-(rng.normal(size=n) + d * y)))
        preds = Predictions("test", proba=np.column_stack([1 - s, s]), labels=(s > 0.5).astype(int))
        boot = run_bootstrap(
            {"m": make_scorer(METRICS["roc_auc"], "binary", y, preds)},
            n,
            n_resamples=250,
            seed=seed,
        )
        low, high = boot.ci("m")
        hits += low <= truth <= high
    assert 0.89 <= hits / trials <= 0.99


def test_paired_difference_of_a_model_with_itself_is_exactly_zero():
    y, preds = _binary()
    s = make_scorer(METRICS["roc_auc"], "binary", y, preds)
    boot = run_bootstrap({"a": s, "b": s}, len(y), n_resamples=200)
    assert boot.advantage(METRICS["roc_auc"], "a", "b") == (0.0, 0.0, 0.0)


def test_paired_interval_is_narrower_than_the_unpaired_one():
    """Two correlated models: pairing removes the shared row-to-row noise."""
    rng = np.random.default_rng(5)
    n = 2000
    y = rng.integers(0, 2, n)
    base = rng.normal(size=n) + 1.0 * y
    scorers = {}
    for name, extra in (("a", 0.0), ("b", 0.3)):
        s = 1 / (1 + np.exp(-(base + extra * rng.normal(size=n))))
        p = Predictions("test", proba=np.column_stack([1 - s, s]), labels=(s > 0.5).astype(int))
        scorers[name] = make_scorer(METRICS["roc_auc"], "binary", y, p)
    boot = run_bootstrap(scorers, n, n_resamples=500)
    _, low, high = boot.advantage(METRICS["roc_auc"], "a", "b")
    a_low, a_high = boot.ci("a")
    b_low, b_high = boot.ci("b")
    unpaired = np.hypot((a_high - a_low), (b_high - b_low))
    assert (high - low) < 0.5 * unpaired


def test_subsampled_bootstrap_matches_the_full_interval_width():
    y, preds = _binary(n=40_000, ties=False)
    s = make_scorer(METRICS["roc_auc"], "binary", y, preds)
    full = run_bootstrap({"m": s}, len(y), n_resamples=400, max_rows=100_000)
    sub = run_bootstrap({"m": s}, len(y), n_resamples=400, max_rows=4000)
    assert sub.subsampled and not full.subsampled
    width_full = np.subtract(*full.ci("m")[::-1])
    width_sub = np.subtract(*sub.ci("m")[::-1])
    assert width_sub == pytest.approx(width_full, rel=0.25)
    assert sub.ci("m")[0] < s.point < sub.ci("m")[1]
    assert "4,000-row subsample" in sub.note()


def test_bootstrap_is_deterministic_for_a_seed_and_changes_with_it():
    y, preds = _binary()
    s = {"m": make_scorer(METRICS["f1"], "binary", y, preds)}
    a = run_bootstrap(s, len(y), n_resamples=100, seed=3)
    b = run_bootstrap(s, len(y), n_resamples=100, seed=3)
    c = run_bootstrap(s, len(y), n_resamples=100, seed=4)
    assert np.array_equal(a.replicates["m"], b.replicates["m"])
    assert not np.array_equal(a.replicates["m"], c.replicates["m"])


def test_auc_is_undefined_with_a_single_class_and_says_why():
    y = np.zeros(50, dtype=int)
    s = np.linspace(0, 1, 50)
    preds = Predictions("test", proba=np.column_stack([1 - s, s]), labels=(s > 0.5).astype(int))
    scorer = make_scorer(METRICS["roc_auc"], "binary", y, preds, class_names=["no", "yes"])
    assert scorer.point is None
    assert "no positive rows" in scorer.reason and "'yes'" in scorer.reason
    boot = run_bootstrap({"m": scorer}, 50)
    assert boot.ci("m") == (None, None)


def test_rare_class_resamples_without_positives_are_dropped_not_counted():
    y = np.zeros(200, dtype=int)
    y[:3] = 1  # three positives: some resamples have none
    s = np.linspace(0, 1, 200)[::-1]
    preds = Predictions("test", proba=np.column_stack([1 - s, s]), labels=(s > 0.5).astype(int))
    boot = run_bootstrap(
        {"m": make_scorer(METRICS["roc_auc"], "binary", y, preds)}, 200, n_resamples=500
    )
    reps = boot.replicates["m"]
    assert np.isnan(reps).any() and np.isfinite(reps).sum() > 400
    low, high = boot.ci("m")
    assert low <= 1.0 and high == pytest.approx(1.0)


def test_metric_needing_probabilities_refuses_labels_only_predictions():
    y, preds = _binary()
    labels_only = Predictions("test", labels=preds.labels, source="preds.csv")
    with pytest.raises(ModelError, match=r"preds\.csv"):
        make_scorer(METRICS["pr_auc"], "binary", y, labels_only)


def test_resolve_metric_defaults_per_task_and_rejects_mismatches():
    assert resolve_metric("binary", None).name == "roc_auc"
    assert resolve_metric("multiclass", None).name == "macro_f1"
    assert resolve_metric("regression", None).name == "rmse"
    with pytest.raises(ConfigError, match=r"checks\.x\.metric"):
        resolve_metric("regression", "roc_auc", "checks.x.metric")
    with pytest.raises(ConfigError, match="unknown metric"):
        resolve_metric("binary", "auc", "checks.x.metric")
    names = [m.name for m in reported_metrics("regression", METRICS["mae"])]
    assert names == ["mae", "rmse", "r2"]


def test_advantage_is_a_difference_for_scores_and_a_relative_reduction_for_errors():
    assert advantage(METRICS["roc_auc"], 0.8, 0.7) == pytest.approx(0.1)
    assert advantage(METRICS["rmse"], 8.0, 10.0) == pytest.approx(0.2)
    assert advantage(METRICS["rmse"], 12.0, 10.0) == pytest.approx(-0.2)
    assert METRICS["rmse"].better(1.0, 2.0) and METRICS["r2"].better(0.9, 0.5)


def test_one_sided_bounds_are_the_ends_of_the_two_sided_interval_at_twice_the_alpha():
    """A one-sided 95 % bound is the end of the 90 % two-sided interval, not of the 95 % one."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    scorers = {}
    for name, noise in (("a", 0.8), ("b", 1.2)):
        s = 1 / (1 + np.exp(-(y - 0.5 + noise * rng.normal(size=300))))
        p = Predictions("test", proba=np.column_stack([1 - s, s]), labels=(s > 0.5).astype(int))
        scorers[name] = make_scorer(METRICS["roc_auc"], "binary", y, p)
    at95 = run_bootstrap(scorers, 300, n_resamples=400, seed=3, confidence=0.95)
    at90 = run_bootstrap(scorers, 300, n_resamples=400, seed=3, confidence=0.90)
    auc = METRICS["roc_auc"]
    assert at95.bound("a", "lower") == pytest.approx(at90.ci("a")[0])
    assert at95.bound("a", "upper") == pytest.approx(at90.ci("a")[1])
    assert at95.bound("a", "lower") > at95.ci("a")[0]  # tighter than the two-sided end
    _, low90, high90 = at90.advantage(auc, "a", "b")
    assert at95.advantage_bound(auc, "a", "b", "upper") == pytest.approx(high90)
    assert at95.advantage_bound(auc, "a", "b", "lower") == pytest.approx(low90)
    assert at95.advantage_bound(auc, "a", "b", "upper") < at95.advantage(auc, "a", "b")[2]
    none = run_bootstrap(scorers, 300, n_resamples=0)
    assert none.bound("a", "lower") is None and none.advantage_bound(auc, "a", "b", "upper") is None
    with pytest.raises(ValueError, match="side"):
        at95.bound("a", "left")


def _worst_single_flip(name, y, k):
    """The largest drop of scikit-learn's metric when one row of a perfect prediction flips."""
    average = {"macro_f1": "macro", "weighted_f1": "weighted", "f1": "binary"}.get(name)
    worst = 0.0
    for a in np.unique(y):
        for b in range(k):
            if a == b:
                continue
            d = y.copy()
            d[np.flatnonzero(y == a)[0]] = b
            if name == "accuracy":
                score = skm.accuracy_score(y, d)
            else:
                score = skm.f1_score(
                    y,
                    d,
                    average=average,
                    labels=np.unique(y) if average != "binary" else None,
                    zero_division=0,
                )
            worst = max(worst, 1.0 - score)
    return worst


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "weighted_f1"])
@pytest.mark.parametrize("counts", [(9, 11, 7), (20, 3, 40), (1, 5, 5)])
def test_one_row_step_is_the_largest_change_one_row_makes_at_a_perfect_score(name, counts):
    y = np.repeat(np.arange(len(counts)), counts)
    step = one_row_step(METRICS[name], y, n_classes=len(counts))
    assert step == pytest.approx(_worst_single_flip(name, y, len(counts)), abs=1e-12)


def test_one_row_step_of_binary_f1_and_its_scale_on_small_and_large_splits():
    y = np.array([0] * 20 + [1] * 5)
    assert one_row_step(METRICS["f1"], y) == pytest.approx(_worst_single_flip("f1", y, 2))
    assert one_row_step(METRICS["accuracy"], np.zeros(27, int)) == pytest.approx(1 / 27)
    big = np.repeat([0, 1, 2], 1000)
    assert one_row_step(METRICS["macro_f1"], big, n_classes=3) < 0.001
    # rank and regression metrics move in much finer steps: no granularity allowance
    assert one_row_step(METRICS["roc_auc"], y) == 0.0
    assert one_row_step(METRICS["rmse"], np.arange(10.0)) == 0.0
    assert one_row_step(METRICS["macro_f1"], np.array([], dtype=int)) == 0.0


def test_choose_metric_reads_no_check_config_only_the_name_it_is_given():
    from types import SimpleNamespace

    from qa.config import Config
    from qa.metrics import choose_metric

    config = Config(checks={"metric-threshold": {"metric": "pr_auc"}})
    ctx = SimpleNamespace(task="binary", config=config)
    preds = Predictions(split="test", proba=np.full((4, 2), 0.5), labels=np.zeros(4, int))
    assert choose_metric(ctx, None, "checks.x.metric", [preds])[0].name == "roc_auc"
    assert choose_metric(ctx, "pr_auc", "checks.x.metric", [preds])[0].name == "pr_auc"


def test_the_metric_declared_in_task_is_every_model_checks_default():
    from types import SimpleNamespace

    from qa.config import Config, TaskConfig
    from qa.metrics import choose_metric

    ctx = SimpleNamespace(task="binary", config=Config(task=TaskConfig(metric="pr_auc")))
    preds = Predictions(split="test", proba=np.full((4, 2), 0.5), labels=np.zeros(4, int))
    assert choose_metric(ctx, None, "checks.x.metric", [preds])[0].name == "pr_auc"
    assert choose_metric(ctx, "f1", "checks.x.metric", [preds])[0].name == "f1"  # own param wins
    labels_only = Predictions(split="test", labels=np.zeros(4, int))
    with pytest.raises(ModelError, match=r"task\.metric"):
        choose_metric(ctx, None, "checks.x.metric", [labels_only])


def test_an_unknown_task_metric_stops_the_run_naming_the_key():
    from qa.api import build_context
    from qa.config import parse_config

    frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "label": [0, 1, 0, 1]})
    config = parse_config({"task": {"target": "label", "metric": "auc"}})
    with pytest.raises(ConfigError, match=r"task\.metric: unknown metric 'auc'"):
        build_context(config, frames={"train": frame})
