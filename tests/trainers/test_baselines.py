from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from qa.config import parse_config
from qa.context import Context
from qa.trainers import baselines, linear
from qa.trainers.baselines import Baseline, fit_baselines
from tests.conftest import make_classification_frame
from tests.trainers.helpers import (
    accuracy,
    classification_context,
    context,
    mae,
    make_regression_frame,
    split3,
)


def test_baselines_classification_keys_in_order_and_every_split_predicted():
    ctx = classification_context(n=900, n_classes=3)
    baselines = fit_baselines(ctx.training_data())
    assert list(baselines) == ["majority", "linear", "xgboost"]
    for name, baseline in baselines.items():
        assert isinstance(baseline, Baseline) and baseline.name == name
        assert set(baseline.predictions) == set(ctx.splits)
        for split, preds in baseline.predictions.items():
            n = ctx.frame(split).height
            assert preds.split == split and preds.source == f"baseline:{name}"
            assert preds.labels.dtype == np.int64 and preds.labels.shape == (n,)
            assert preds.proba.shape == (n, 3)
            np.testing.assert_allclose(preds.proba.sum(axis=1), 1.0, atol=1e-9)
            np.testing.assert_array_equal(preds.labels, preds.proba.argmax(axis=1))


def test_baselines_learned_ones_beat_majority_on_learnable_data():
    ctx = classification_context(n=1200, n_classes=3)
    b = fit_baselines(ctx.training_data())
    prior = accuracy(ctx, b["majority"].predictions["test"])
    assert prior < 0.45
    assert accuracy(ctx, b["linear"].predictions["test"]) > prior + 0.25
    assert accuracy(ctx, b["xgboost"].predictions["test"]) > prior + 0.2
    assert "early stopping" in b["xgboost"].note


def test_majority_baseline_predicts_the_train_prior():
    frame = make_classification_frame(n=1000, seed=3)
    ctx = context(split3(frame))
    preds = fit_baselines(ctx.training_data())["majority"].predictions["test"]
    prior = np.bincount(ctx.labels("train"), minlength=2) / ctx.frame("train").height
    np.testing.assert_allclose(preds.proba, np.tile(prior, (ctx.frame("test").height, 1)))
    assert set(preds.labels) == {int(np.argmax(prior))}


def test_baselines_regression_keys_and_values():
    ctx = context(split3(make_regression_frame(n=900)))
    assert ctx.task == "regression"
    b = fit_baselines(ctx.training_data())
    assert list(b) == ["mean", "linear", "xgboost"]
    mean_pred = b["mean"].predictions["test"].values
    np.testing.assert_allclose(mean_pred, ctx.labels("train").mean())
    assert b["linear"].predictions["test"].proba is None
    assert mae(ctx, b["linear"].predictions["test"]) < 0.6 * mae(ctx, b["mean"].predictions["test"])
    assert mae(ctx, b["xgboost"].predictions["test"]) < 0.7 * mae(
        ctx, b["mean"].predictions["test"]
    )


def test_baselines_are_deterministic_for_a_seed():
    a = fit_baselines(classification_context(n=600, seed=1).training_data())
    b = fit_baselines(classification_context(n=600, seed=1).training_data())
    for name in a:
        np.testing.assert_array_equal(
            a[name].predictions["test"].proba, b[name].predictions["test"].proba
        )


def test_linear_baseline_samples_large_train_and_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(baselines, "LINEAR_MAX_ROWS", 200)
    monkeypatch.setattr(baselines, "XGBOOST_MAX_ROWS", 300)
    ctx = classification_context(n=1000)
    fitted = fit_baselines(ctx.training_data())
    assert "200-row random sample of 600 train rows" in fitted["linear"].note
    assert "300-row random sample of 600 train rows" in fitted["xgboost"].note
    assert fitted["xgboost"].predictions["train"].labels.shape == (600,)


def test_baselines_survive_nan_inf_unseen_categories_and_hostile_names():
    rng = np.random.default_rng(0)
    n = 900
    y = rng.integers(0, 2, n)
    frame = pl.DataFrame(
        {
            "<script>alert(1)</script>": rng.normal(size=n) + 2 * y,
            "naïve ü 列": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "inf col": np.where(rng.random(n) < 0.1, np.inf, rng.normal(size=n)),
            "ids": [f"id{i}" for i in range(n)],  # 100 % cardinality
            "cat": rng.choice(["x", "y", None], n),
            "flag": rng.random(n) < 0.5,
            "label": y,
        }
    )
    frames = split3(frame)
    frames["test"] = frames["test"].with_columns(pl.lit("never seen").alias("cat"))
    frames["production"] = frames["test"].drop("label")
    ctx = context(frames)
    b = fit_baselines(ctx.training_data())
    assert set(b["xgboost"].predictions) == {"train", "validation", "test", "production"}
    for baseline in b.values():
        assert np.isfinite(baseline.predictions["production"].proba).all()
    assert accuracy(ctx, b["linear"].predictions["test"]) > 0.75


def test_linear_one_hot_stays_small_on_a_high_cardinality_column():
    rng = np.random.default_rng(0)
    n = 3000
    frame = pl.DataFrame(
        {
            "code": [f"c{v}" for v in rng.integers(0, 2000, n)],
            "x": rng.normal(size=n),
            "label": rng.integers(0, 2, n),
        }
    )
    ctx = context({"train": frame})
    model = linear.LinearTrainer().fit(ctx.training_data())
    encoded = model.estimator[:-1].transform(ctx.feature_matrix("train"))
    assert encoded.shape[1] <= linear.MAX_LEVELS + 2


def test_class_missing_from_train_gets_zero_probability_column():
    frame = make_classification_frame(n=900, n_classes=3)
    frames = split3(frame)
    frames["train"] = frames["train"].filter(pl.col("label") != 2)
    ctx = context(frames, task="multiclass")
    assert ctx.classes == [0, 1, 2]
    for baseline in fit_baselines(ctx.training_data()).values():
        proba = baseline.predictions["test"].proba
        assert proba.shape[1] == 3
        assert proba[:, 2].max() < 0.05


def test_baselines_without_feature_columns_reduce_to_the_trivial_model():
    # A run without features stops in build_context (exit 2); the engine piece still copes.
    rng = np.random.default_rng(0)
    frames = {
        "train": pl.DataFrame({"label": rng.integers(0, 2, 300)}),
        "test": pl.DataFrame({"label": rng.integers(0, 2, 100)}),
    }
    config = parse_config({"task": {"target": "label"}, "run": {"seed": 0, "threads": 1}})
    ctx = Context(config, frames, {})
    assert ctx.feature_columns == []
    b = fit_baselines(ctx.training_data())
    assert list(b) == ["majority", "linear", "xgboost"]
    assert "no feature columns" in b["xgboost"].note
    np.testing.assert_array_equal(
        b["linear"].predictions["test"].proba, b["majority"].predictions["test"].proba
    )
