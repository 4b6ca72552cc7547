from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import qa
from qa.checks.overfit_gap import OverfitGap
from qa.testing import check_contract
from tests.model_fixtures import (
    classification_splits,
    classifier_predictions,
    frames,
    regression_splits,
    regressor_predictions,
    xgb_classifier,
)

CHECK = [OverfitGap]
#: One thread per fit: XGBoost's threads spin badly on a shared, oversubscribed CI runner.
ONE_THREAD = {"run": {"threads": 1}}


def _run(data, preds=None, task=None, history=None, **params):
    config: dict = {**ONE_THREAD}
    if history is not None:
        config["model"] = {"history": str(history)}
    report = qa.check(
        **frames(data),
        target="label",
        task=task,
        predictions=preds,
        only=["overfit-gap"],
        extra_checks=CHECK,
        checks={"overfit-gap": params} if params else None,
        config=config,
    )
    return report.checks[0]


@pytest.fixture(scope="module")
def noisy():
    """Binary data with 20 % of labels randomised: memorising them costs generalisation."""
    return classification_splits(n=2000, flip=0.2, seed=1)


def test_overfit_gap_contract_unpruned_tree_fails_logistic_regression_passes(noisy):
    data = noisy
    f = frames(data)
    logistic = LogisticRegression(max_iter=500).fit(*data["train"])
    tree = DecisionTreeClassifier(random_state=0).fit(*data["train"])
    _, defective = check_contract(
        OverfitGap,
        clean=dict(
            **f,
            target="label",
            predictions=classifier_predictions(logistic, data),
            config=ONE_THREAD,
        ),
        defective=dict(
            **f, target="label", predictions=classifier_predictions(tree, data), config=ONE_THREAD
        ),
    )
    result = defective.checks[0]
    assert result.metrics["train_roc_auc"] == pytest.approx(1.0)
    assert result.metrics["gap"] > 0.2
    assert result.metrics["advantage_vs_best_baseline_ci_high"] < 0
    assert result.subjects == ("train-validation gap",)
    assert "add dropout" in result.remedy.lower()
    assert "validation" in result.message


def test_overfit_gap_good_xgboost_fits_train_almost_perfectly_and_does_not_fail(noisy):
    data = noisy
    xgb = xgb_classifier(n_estimators=200).fit(*data["train"])
    report = qa.check(
        **frames(data),
        target="label",
        predictions=classifier_predictions(xgb, data),
        only=["overfit-gap", "baseline-beats"],
        config=ONE_THREAD,
    )
    result, beats = (
        next(c for c in report.checks if c.id == cid) for cid in ("overfit-gap", "baseline-beats")
    )
    assert result.metrics["train_roc_auc"] > 0.99
    assert result.metrics["gap"] > 0.05  # over the bar ...
    assert result.status == "warn", result.message  # ... but it generalises like the baselines
    assert "generalises as well as the baselines" in result.message
    assert beats.status == "pass", beats.message  # and on the same data it beats them


def test_overfit_gap_uses_test_when_there_is_no_validation_split(noisy):
    data = {"train": noisy["train"], "test": noisy["test"]}
    tree = DecisionTreeClassifier(random_state=0).fit(*data["train"])
    result = _run(data, classifier_predictions(tree, data))
    assert result.status == "fail"
    assert "test_roc_auc" in result.metrics
    assert "measured on test" in result.evidence[0].note


def test_overfit_gap_regression_deep_tree_fails_linear_model_passes():
    data = regression_splits(n=1600, noise=40.0, seed=6)
    tree = DecisionTreeRegressor(random_state=0).fit(*data["train"])
    bad = _run(data, regressor_predictions(tree, data), task="regression")
    assert bad.status == "fail", bad.message
    assert bad.metrics["gap"] > 0.9  # train RMSE is 0: the whole validation error is the gap
    assert bad.thresholds["max_relative_gap"] == 0.25
    line = LinearRegression().fit(*data["train"])
    good = _run(data, regressor_predictions(line, data), task="regression")
    assert good.status == "pass", good.message


# --------------------------------------------------------------------------- history
def _history(path, val_rise_epochs: int, n_epochs: int = 30, noise: float = 0.0, seed: int = 0):
    """Train loss falls throughout; validation loss falls, then climbs for the last epochs."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(1, n_epochs + 1)
    train = 1.0 / np.sqrt(epochs)
    best = n_epochs - val_rise_epochs
    val = np.where(
        epochs <= best, 1.2 / np.sqrt(epochs), 1.2 / np.sqrt(best) + 0.02 * (epochs - best)
    )
    val = val + noise * rng.normal(size=n_epochs)
    pl.DataFrame({"epoch": epochs, "train_loss": train, "val_loss": val}).write_csv(path)
    return best


def test_overfit_gap_history_fails_when_validation_loss_climbs_8_epochs_and_names_the_epoch(
    noisy, tmp_path
):
    path = tmp_path / "history.csv"
    best = _history(path, val_rise_epochs=8)
    result = _run(noisy, history=path)  # no predictions at all: the history part still runs
    assert result.status == "fail"
    assert result.metrics["best_epoch"] == best == 22
    assert result.metrics["epochs_after_best"] == 8
    assert f"epoch {best}" in result.message
    assert result.subjects == ("history",)
    chart = result.charts[0]
    assert chart.kind == "lines" and chart.data["marker"] == best
    assert set(chart.data["series"]) == {"train_loss", "val_loss"}
    assert "dropout" in result.remedy


def test_overfit_gap_history_passes_a_rise_shorter_than_the_patience(noisy, tmp_path):
    path = tmp_path / "history.csv"
    _history(path, val_rise_epochs=4)
    result = _run(noisy, history=path)
    assert result.status == "pass", result.message
    assert result.metrics["epochs_after_best"] == 4


def test_overfit_gap_history_warns_when_the_best_weights_were_restored(noisy, tmp_path):
    path = tmp_path / "history.csv"
    _history(path, val_rise_epochs=8)
    result = _run(noisy, history=path, restored_best=True)
    assert result.status == "warn"


def test_overfit_gap_history_ignores_a_noisy_plateau(noisy, tmp_path):
    """Validation loss flat after epoch 10 with noise: no sustained rise, no alarm."""
    epochs = np.arange(1, 31)
    rng = np.random.default_rng(3)
    val = np.maximum(1.0 / np.sqrt(np.minimum(epochs, 10)), 0) + 0.001 * rng.normal(size=30)
    path = tmp_path / "history.json"
    path.write_text(
        json.dumps(
            {
                "epoch": epochs.tolist(),
                "train_loss": (1 / epochs).tolist(),
                "val_loss": val.tolist(),
            }
        )
    )
    result = _run(noisy, history=path)
    assert result.status == "pass", result.message


def test_overfit_gap_combines_gap_and_history_and_the_worse_decides(noisy, tmp_path):
    path = tmp_path / "history.csv"
    _history(path, val_rise_epochs=8)
    logistic = LogisticRegression(max_iter=500).fit(*noisy["train"])
    result = _run(noisy, classifier_predictions(logistic, noisy), history=path)
    assert result.status == "fail"
    assert "gap" in result.metrics and "best_epoch" in result.metrics
    assert result.subjects == ("history",)


def test_overfit_gap_skips_without_train_predictions_or_history(noisy):
    logistic = LogisticRegression(max_iter=500).fit(*noisy["train"])
    preds = classifier_predictions(logistic, noisy)
    result = _run(noisy, {"test": preds["test"]})
    assert result.status == "skip"
    assert "history" in result.message


def test_overfit_gap_missing_history_file_is_an_error_not_a_pass(noisy, tmp_path):
    result = _run(noisy, history=tmp_path / "nope.csv")
    assert result.status == "error"
    assert "nope.csv" in result.message


def _diabetes_tree(n_train=300, n_validation=45):
    """Real, noisy, small: an unpruned regression tree on scikit-learn's diabetes data."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    stop = n_train + n_validation
    cuts = {"train": order[:n_train], "validation": order[n_train:stop], "test": order[stop:]}
    data = {s: (x[rows], y[rows]) for s, rows in cuts.items()}
    tree = DecisionTreeRegressor(random_state=0).fit(*data["train"])
    return data, regressor_predictions(tree, data)


def test_overfit_gap_costly_rule_uses_the_one_sided_bound_of_the_advantage():
    """ "Generalises worse" is one-directional: the 95 % one-sided bound = the 90 % interval's end."""
    data, preds = _diabetes_tree()
    at95 = _run(data, preds, task="regression")
    at90 = _run(data, preds, task="regression", confidence=0.90)
    upper = at95.metrics["advantage_vs_best_baseline_upper_bound"]
    assert upper == pytest.approx(at90.metrics["advantage_vs_best_baseline_ci_high"])
    assert upper < at95.metrics["advantage_vs_best_baseline_ci_high"]
    assert at95.status == "fail", at95.message
    assert "one-sided 95% upper bound" in at95.message


def test_overfit_gap_compares_with_the_baselines_on_validation_and_test_pooled():
    data, preds = _diabetes_tree()
    n_val, n_test = len(data["validation"][1]), len(data["test"][1])
    pooled = _run(data, preds, task="regression")
    assert pooled.metrics["comparison_rows"] == n_val + n_test
    assert "validation and test pooled" in pooled.evidence[0].note
    assert "validation + test" in pooled.message
    assert "on validation" in pooled.message  # the gap itself is measured on validation
    alone = _run(
        {s: data[s] for s in ("train", "validation")},
        {s: preds[s] for s in ("train", "validation")},
        task="regression",
    )
    assert alone.metrics["comparison_rows"] == n_val
    assert alone.status == "fail", alone.message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overfit_gap_good_xgboost_does_not_fail_across_seeds(seed):
    data = classification_splits(n=2000, flip=0.2, seed=seed)
    xgb = xgb_classifier(n_estimators=200, seed=seed).fit(*data["train"])
    result = _run(data, classifier_predictions(xgb, data))
    assert result.metrics["gap"] > 0.05
    assert result.status == "warn", result.message


def test_overfit_gap_decide_functions_at_their_edges():
    from qa.checks.overfit_gap import Versus, decide_gap, decide_history

    def versus(advantage, upper, step=0.0):
        return Versus(advantage, upper, step, "", [], [], {})

    assert decide_gap(0.05, 0.05, None, 0.02) == "pass"  # at the bar
    assert decide_gap(0.051, 0.05, None, 0.02) == "warn"  # over it, no baseline to compare
    assert decide_gap(0.2, 0.05, versus(-0.03, -0.01), 0.02) == "fail"
    assert decide_gap(0.2, 0.05, versus(-0.02, -0.01), 0.02) == "warn"  # within tolerance
    assert decide_gap(0.2, 0.05, versus(-0.03, 0.01), 0.02) == "warn"  # could be chance
    assert decide_gap(0.2, 0.05, versus(-0.03, -0.01, step=0.04), 0.02) == "warn"  # one row
    assert decide_gap(0.2, 0.05, versus(-0.03, None), 0.02) == "fail"  # no interval: point
    params = OverfitGap.Params()  # patience 5, min_rise 0.01
    assert decide_history(5, 0.02, True, params) == "fail"
    assert decide_history(4, 0.02, True, params) == "pass"
    assert decide_history(5, 0.01, True, params) == "pass"  # a plateau, not a rise
    assert decide_history(5, 0.02, False, params) == "pass"  # training loss did not fall
    assert decide_history(5, 0.02, True, OverfitGap.Params(restored_best=True)) == "warn"


def test_overfit_gap_measure_history_finds_the_best_epoch_among_epochs_with_both_losses():
    from qa.checks.overfit_gap import measure_history

    epochs = np.array([1, 2, 3, 4, 5])
    train = np.array([1.0, 0.8, np.nan, 0.5, 0.4])
    val = np.array([1.0, 0.5, 0.1, 0.6, 0.55])  # epoch 3's 0.1 has no train loss: not usable
    shape = measure_history(epochs, train, val)
    assert shape is not None
    assert (shape.best_epoch, shape.last_epoch, shape.epochs_after_best) == (2, 5, 2)
    assert (shape.val_best, shape.val_last) == (0.5, 0.55)
    assert shape.rise == pytest.approx(0.1)
    assert (shape.train_at_best, shape.train_last, shape.train_fell) == (0.8, 0.4, True)
    assert shape.tail == [(2, 0.8, 0.5), (4, 0.5, 0.6), (5, 0.4, 0.55)]
    # a best loss of exactly zero: the rise is absolute
    flat = measure_history(np.array([1, 2]), np.array([1.0, 1.0]), np.array([0.0, 0.25]))
    assert flat is not None and flat.rise == 0.25 and not flat.train_fell
    assert measure_history(np.array([1, 2]), np.array([1.0, np.nan]), np.array([1.0, 0.5])) is None


# --------------------------------------------------------------------------- the false-alarm budget
def _auc_versus(n: int, extra: float, seed: int, alpha: float):
    """A model and a reference scored by AUC on ``n`` validation rows, paired bootstrap; the
    Versus the gap rule reads at one-sided level ``alpha``."""
    from qa.checks.overfit_gap import Versus
    from qa.metrics import METRICS, make_scorer, run_bootstrap
    from qa.predictions import Predictions

    auc = METRICS["roc_auc"]
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    reference = y * 1.2 + rng.normal(size=n)
    model = reference + extra * rng.normal(size=n)

    def scorer(score):
        p = 1 / (1 + np.exp(-score))
        preds = Predictions(split="validation", proba=np.c_[1 - p, p])
        return make_scorer(auc, "binary", y, preds, positive_index=1, n_classes=2)

    boot = run_bootstrap({"model": scorer(model), "ref": scorer(reference)}, n, seed=0)
    advantage, low, high = boot.advantage(auc, "model", "ref")
    at95 = boot.advantage_bound(auc, "model", "ref", "upper")
    at_share = boot.advantage_bound(auc, "model", "ref", "upper", alpha)
    detectable = boot.detectable(auc, "model", "ref", alpha)
    versus = Versus(advantage, at_share, 0.0, "", [], [], {}, alpha, auc.margin)
    return versus, (low, high), at95, detectable


def test_overfit_gap_does_not_fail_a_model_004_auc_behind_the_reference_on_200_rows():
    """The issue's false alarm: 0.04 AUC behind the reference XGBoost on 200 validation rows,
    the two-sided 95 % interval straddling zero, the one-sided 95 % bound just under it."""
    from qa.budget import DEFAULT_FALSE_ALARM_RATE, per_test
    from qa.checks.overfit_gap import decide_gap

    alpha = per_test(DEFAULT_FALSE_ALARM_RATE, 3)  # the share alone, across three baselines
    versus, (low, high), at95, detectable = _auc_versus(200, 0.6, seed=1, alpha=alpha)
    assert -0.05 < versus.advantage < -0.03
    assert low < 0 < high  # the two-sided interval straddles zero
    assert at95 < 0  # the old one-sided 95 % rule failed this
    assert versus.upper > 0  # at the share it is not significant
    assert decide_gap(0.2, 0.05, versus, 0.02) == "warn"
    assert detectable > 0.02  # 200 rows cannot establish a gap of the margin


def test_overfit_gap_message_says_underpowered_with_the_rows_needed():
    from qa.budget import more_rows_needed, underpowered_note
    from qa.checks.overfit_gap import _why_not_costly

    versus, _, _, detectable = _auc_versus(200, 0.6, seed=1, alpha=0.02 / 3)
    note = underpowered_note(
        200, "held-out rows", f"a gap of {detectable:.3g} roc_auc",
        more_rows_needed(200, detectable, 0.02), "0.02",
    )  # fmt: skip
    from dataclasses import replace

    text = _why_not_costly(replace(versus, margin=0.02, underpowered=note))
    assert "not significant at the gate's share" in text
    assert "one-sided 99.3% upper bound" in text
    assert "underpowered: with 200 held-out rows only a gap of" in text
    assert "more held-out rows would detect 0.02" in text


def test_overfit_gap_warns_not_fails_on_a_significant_gap_within_the_margin_on_a_large_set():
    from qa.checks.overfit_gap import _why_not_costly, decide_gap

    versus, (_low, high), _, _ = _auc_versus(40_000, 0.12, seed=3, alpha=0.02 / 3)
    assert -0.01 < versus.advantage < 0  # a trivial shortfall...
    assert versus.upper < 0 and high < 0  # ...that 40,000 rows establish at the share
    assert decide_gap(0.2, 0.05, versus, 0.02) == "warn"
    text = _why_not_costly(versus)
    assert "significant at the gate's share" in text and "within the practical margin" in text


def test_overfit_gap_fail_rule_draws_on_the_budget():
    assert OverfitGap.fail_tests == 1
    data, preds = _diabetes_tree()
    result = _run(data, preds, task="regression")
    assert result.status == "fail", result.message
    assert result.thresholds["false_alarm_share"] == pytest.approx(0.02)
    assert result.thresholds["alpha_per_baseline"] == pytest.approx(0.02 / 3, abs=1e-6)
    assert result.thresholds["margin"] == pytest.approx(0.02)
    bound = result.metrics["advantage_vs_best_baseline_bound_at_share"]
    assert bound > result.metrics["advantage_vs_best_baseline_upper_bound"]
    assert "one-sided 99.3%" in result.message
