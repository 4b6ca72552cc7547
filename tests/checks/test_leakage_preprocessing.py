"""The leakage check's ``preprocessing`` detector: preprocessing fitted on more than train.

Part (a) reads a real scikit-learn pipeline artifact, written the way users write it (skops,
or a pickle with ``[model] trust``) and loaded the way qa-gate loads it; part (b) reads the data
alone. Each defective case has a clean twin built the same way with the one difference fixed.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import qa
from qa.api import build_context
from qa.base import CheckResult
from qa.checks.leakage import (
    EXACT_RTOL,
    MATCH_SE,
    SEPARATION,
    Leakage,
    compare_statistic,
    fitted_on,
    moments,
    scaling_forms,
    statistic_se,
)
from qa.config import parse_config
from qa.profile_context import build_profile_context
from tests.checks.test_leakage import detector

SPLITS = ("train", "validation", "test")
FEATURES = ("x1", "x2", "x3")
POOLED = SPLITS


# --------------------------------------------------------------------------- data and models
def three_splits(n: int = 3000, seed: int = 0, names: Sequence[str] = FEATURES) -> dict:
    """Three numeric features on different scales (means far from 0, sds far from 1), a label
    that depends on the first; 60 % train, 20 % validation, 20 % test (a random split)."""
    rng = np.random.default_rng(seed)
    loc, scale = np.array([5.0, -2.0, 10.0]), np.array([2.0, 1.0, 3.0])
    X = rng.normal(loc[: len(names)], scale[: len(names)], size=(n, len(names)))
    y = (X[:, 0] + rng.normal(size=n) > loc[0]).astype(np.int64)
    frame = pl.DataFrame({name: X[:, i] for i, name in enumerate(names)} | {"label": y})
    a, b = int(0.6 * n), int(0.8 * n)
    return {"train": frame[:a], "validation": frame[a:b], "test": frame[b:]}


def features(frames: dict, splits: Sequence[str]) -> Any:
    import pandas as pd

    return pd.concat([frames[s].drop("label").to_pandas() for s in splits], ignore_index=True)


def pipeline(frames: dict, fit_on: Sequence[str], step: Any, name: str = "scaler") -> Any:
    """``Pipeline([(name, step), ("model", LogisticRegression)])`` with ``step`` fitted on the
    rows of ``fit_on`` and the classifier on train (what happens when someone scales the whole
    table, then splits)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    step.fit(features(frames, fit_on))
    model = LogisticRegression(max_iter=500).fit(
        step.transform(features(frames, ["train"])), frames["train"]["label"].to_numpy()
    )
    return Pipeline([(name, step), ("model", model)])


def skops_file(model: Any, path: Path) -> Path:
    import skops.io as sio

    sio.dump(model, str(path))
    return path


def standard_scaler() -> Any:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def config(artifact: Path | None = None, trust: bool = False) -> dict[str, Any]:
    cfg: dict[str, Any] = {"task": {"target": "label"}}
    if artifact is not None:
        cfg["model"] = {"artifact": str(artifact), "trust": trust}
    return cfg


def leakage(frames: dict, artifact: Path | None = None, trust: bool = False) -> CheckResult:
    report = qa.check(**frames, config=config(artifact, trust), only=["leakage"])
    return report.checks[0]


def on_profiles(frames: dict, artifact: Path | None = None) -> CheckResult:
    pctx = build_profile_context(parse_config(config(artifact)), frames)
    return Leakage().run_profiles(pctx, Leakage.Params())


def statistics(result: CheckResult) -> list[tuple[Any, ...]]:
    found = [e for e in result.evidence if e.title.startswith("Fitted statistics")]
    return list(found[0].rows) if found else []


def standardised(frames: dict, on: Sequence[str], how: str = "z") -> dict:
    """Every feature scaled with the statistics of the splits ``on`` (z-score or min-max)."""
    pooled = pl.concat([frames[s] for s in on])
    out = {}
    for split, frame in frames.items():
        exprs = []
        for c in FEATURES:
            if how == "z":
                mean, sd = pooled[c].mean(), pooled[c].std(ddof=0)
                exprs.append((pl.col(c) - mean) / sd)
            else:
                low, high = pooled[c].min(), pooled[c].max()
                exprs.append((pl.col(c) - low) / (high - low))
        out[split] = frame.with_columns(exprs)
    return out


def with_holes(frames: dict, share: float, seed: int) -> dict:
    """The splits with ``share`` of each feature's values missing (seeded)."""
    rng = np.random.default_rng(seed)
    return {
        split: frame.with_columns(
            pl.when(pl.Series(rng.random(frame.height) < share))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in FEATURES
        )
        for split, frame in frames.items()
    }


@pytest.fixture(scope="module")
def frames() -> dict:
    return three_splits()


# --------------------------------------------------------------------------- (a) the artifact
def test_preprocessing_fails_on_a_standard_scaler_fitted_on_all_splits_and_names_the_step(
    frames, tmp_path
):
    path = skops_file(pipeline(frames, POOLED, standard_scaler()), tmp_path / "pooled.skops")
    result = leakage(frames, path)
    assert result.status == "fail", result.message
    assert "preprocessing" in result.subjects and "preprocessing:scaler" in result.subjects
    assert "'scaler' (StandardScaler) on train+validation+test" in result.message
    assert "n_samples_seen_ 3,000 > 1,800 train rows" in result.message
    assert result.metrics["preprocessing_steps_fitted_beyond_train"] == 1
    row = detector(result, "preprocessing")
    assert row[1] is True and row[2] == 1
    # both statistics of every feature equal the pooled values, none train's
    stats = statistics(result)
    assert {(r[1], r[2]) for r in stats} == {(s, f) for s in ("mean_", "scale_") for f in FEATURES}
    assert {r[-1] for r in stats} == {"pooled"}
    assert {r[6] for r in stats} == {"train+validation+test"}


def test_preprocessing_passes_a_standard_scaler_fitted_on_train(frames, tmp_path):
    path = skops_file(pipeline(frames, ["train"], standard_scaler()), tmp_path / "train.skops")
    result = leakage(frames, path)
    assert result.status == "pass", result.message
    assert not any(s.startswith("preprocessing") for s in result.subjects)
    assert result.metrics["preprocessing_steps_judged"] == 1
    assert result.metrics["preprocessing_steps_fitted_beyond_train"] == 0
    assert "no pipeline step fitted on more than train" in detector(result, "preprocessing")[4]
    assert {r[-1] for r in statistics(result)} == {"train"}


def test_preprocessing_names_a_scaler_fitted_on_train_and_validation(frames, tmp_path):
    path = skops_file(
        pipeline(frames, ["train", "validation"], standard_scaler()), tmp_path / "tv.skops"
    )
    result = leakage(frames, path)
    assert result.status == "fail", result.message
    assert "on train+validation (" in result.message


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_preprocessing_fails_on_an_imputer_fitted_on_pooled_data_and_passes_one_on_train(
    tmp_path, strategy
):
    from sklearn.impute import SimpleImputer

    holes = with_holes(three_splits(seed=1), 0.1, seed=2)
    pooled = pipeline(holes, POOLED, SimpleImputer(strategy=strategy), name="impute")
    on_train = pipeline(holes, ["train"], SimpleImputer(strategy=strategy), name="impute")
    bad = leakage(holes, skops_file(pooled, tmp_path / "pooled.skops"))
    good = leakage(holes, skops_file(on_train, tmp_path / "train.skops"))
    # SimpleImputer keeps no row count: the statistics alone decide
    assert bad.status == "fail", bad.message
    assert "preprocessing:impute" in bad.subjects
    assert "'impute' (SimpleImputer)" in bad.message and "statistics_ equal" in bad.message
    assert "n_samples_seen_" not in bad.message
    assert good.status == "pass", good.message
    assert {r[-1] for r in statistics(good)} == {"train"}


def test_preprocessing_walks_the_gates_own_linear_pipeline(tmp_path):
    """qa train's linear model: a ColumnTransformer whose numeric branch imputes (median, with
    indicators) then scales, on the encoded matrix. Fitted on train it passes; the same
    pipeline fitted on the pooled splits fails, naming the nested steps."""
    from qa.trainers.base import SklearnModel, get_trainer
    from qa.trainers.linear import build_pipeline

    frames = three_splits(seed=3)
    cfg = parse_config(config())
    ctx = build_context(cfg, frames)
    fitted = get_trainer("linear").fit(ctx.training_data())
    assert isinstance(fitted, SklearnModel)
    good = fitted.save(tmp_path / "train")
    X = np.vstack([ctx.feature_matrix(s) for s in SPLITS])
    y = np.concatenate([ctx.labels(s) for s in SPLITS])
    pooled = build_pipeline(ctx.encoder.output_kinds, True, 0).fit(X, y)
    bad = SklearnModel("linear", pooled, fitted.meta).save(tmp_path / "pooled")

    def run(path: Path) -> CheckResult:
        with_model = build_context(parse_config(config(path)), frames)
        return Leakage().run(with_model, Leakage.Params())

    clean, leaky = run(good), run(bad)
    assert clean.status == "pass", clean.message
    assert clean.metrics["preprocessing_steps_judged"] == 2
    assert leaky.status == "fail", leaky.message
    assert "preprocessing:features__numeric__impute" in leaky.subjects
    assert "preprocessing:features__numeric__scale" in leaky.subjects


def test_preprocessing_counts_non_missing_values_per_column_for_a_scaler_that_skips_them(
    tmp_path,
):
    """With half of every feature missing, the pooled scaler saw fewer values per column than
    train has rows: the count is compared with train's non-missing values of each column."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    holes = with_holes(three_splits(seed=6), 0.5, seed=7)
    bad = StandardScaler().fit(features(holes, POOLED))
    assert bad.n_samples_seen_.max() < holes["train"].height  # fewer than train's rows
    leaky = leakage(holes, skops_file(Pipeline([("scaler", bad)]), tmp_path / "pooled.skops"))
    assert leaky.status == "fail", leaky.message
    assert "non-missing train values of a column" in leaky.message
    good = StandardScaler().fit(features(holes, ["train"]))
    clean = leakage(holes, skops_file(Pipeline([("scaler", good)]), tmp_path / "train.skops"))
    assert clean.status == "pass", clean.message


def test_preprocessing_counts_rows_even_when_train_is_the_only_split(frames, tmp_path):
    path = skops_file(pipeline(frames, POOLED, standard_scaler()), tmp_path / "pooled.skops")
    leaky = leakage({"train": frames["train"]}, path)
    assert leaky.status == "fail" and "preprocessing:scaler" in leaky.subjects, leaky.message
    assert "on more rows than train (n_samples_seen_ 3,000 > 1,800 train rows)" in leaky.message
    path = skops_file(pipeline(frames, ["train"], standard_scaler()), tmp_path / "train.skops")
    assert leakage({"train": frames["train"]}, path).status == "pass"


def test_preprocessing_reads_a_trusted_pickle_like_a_skops_file(frames, tmp_path):
    path = tmp_path / "pooled.pkl"
    path.write_bytes(pickle.dumps(pipeline(frames, POOLED, standard_scaler())))
    result = leakage(frames, path, trust=True)
    assert result.status == "fail" and "preprocessing:scaler" in result.subjects


def test_preprocessing_maps_a_column_transformer_and_skips_what_it_cannot_judge(frames, tmp_path):
    """Only x1 and x2 go through the scaler, fitted on the pooled splits; x3 is passed through."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import MinMaxScaler

    step = ColumnTransformer([("mm", MinMaxScaler(), ["x1", "x2"])], remainder="passthrough")
    result = leakage(frames, skops_file(pipeline(frames, POOLED, step, "cols"), tmp_path / "m"))
    assert result.status == "fail", result.message
    assert "preprocessing:cols__mm" in result.subjects
    judged = {(r[1], r[2]) for r in statistics(result)}
    assert judged <= {(s, f) for s in ("data_min_", "data_max_") for f in ("x1", "x2")}


def test_preprocessing_is_not_applicable_to_an_xgboost_artifact_and_changes_no_verdict(
    frames, tmp_path
):
    import xgboost as xgb

    ctx = build_context(parse_config(config()), frames)
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1},
        xgb.DMatrix(ctx.feature_matrix("train"), label=ctx.labels("train")),
        num_boost_round=5,
    )
    path = tmp_path / "booster.json"
    booster.save_model(str(path))
    for data in (frames, standardised(frames, POOLED)):
        without, with_booster = leakage(data), leakage(data, path)
        assert with_booster.status == without.status
        assert with_booster.subjects == without.subjects
        finding = detector(with_booster, "preprocessing")[4]
        assert "pipeline: not applicable (the model artifact is an XGBoost JSON booster" in finding
        assert "preprocessing_steps_judged" not in with_booster.metrics
    assert leakage(frames, path).status == "pass"


def test_preprocessing_is_not_applicable_to_a_bare_estimator(frames, tmp_path):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(
        features(frames, ["train"]), frames["train"]["label"].to_numpy()
    )
    result = leakage(frames, skops_file(model, tmp_path / "bare.skops"))
    assert result.status == "pass", result.message
    assert (
        "pipeline: not applicable (the model is a LogisticRegression"
        in detector(result, "preprocessing")[4]
    )


def test_preprocessing_handles_unicode_and_hostile_feature_names(tmp_path):
    names = ("größe 列", "naïve ü", "<script>alert(1)</script>")
    frames = three_splits(seed=4, names=names)
    bad = skops_file(pipeline(frames, POOLED, standard_scaler()), tmp_path / "pooled.skops")
    good = skops_file(pipeline(frames, ["train"], standard_scaler()), tmp_path / "train.skops")
    leaky, clean = leakage(frames, bad), leakage(frames, good)
    assert leaky.status == "fail" and "preprocessing:scaler" in leaky.subjects
    assert {r[2] for r in statistics(leaky)} == set(names)
    assert clean.status == "pass", clean.message


# --------------------------------------------------------------------------- (b) data alone
@pytest.mark.parametrize("how", ["z", "minmax"])
def test_preprocessing_warns_on_data_scaled_on_pooled_splits_and_not_on_train(frames, how):
    data = standardised(frames, POOLED, how)
    pooled = leakage(data)
    on_train = leakage(standardised(frames, ["train"], how))
    # z-scores give every feature away; min-max only those whose extreme lies outside train
    train = data["train"]
    expected = (
        set(FEATURES)
        if how == "z"
        else {c for c in FEATURES if train[c].min() > 1e-6 or train[c].max() < 1 - 1e-6}
    )
    assert expected, "the seeded split must put some extreme outside train"
    assert pooled.status == "warn", pooled.message
    assert set(pooled.subjects) == {"preprocessing", *expected}
    form = "mean 0, sd 1" if how == "z" else "min 0, max 1"
    assert f"({form} on train+validation+test)" in pooled.message
    assert "probably fitted on all splits" in pooled.message
    assert pooled.metrics["preprocessing_pooled_scaled_features"] == len(expected)
    assert on_train.status == "pass", on_train.message
    assert on_train.metrics["preprocessing_pooled_scaled_features"] == 0


def test_preprocessing_does_not_take_a_natural_indicator_for_min_max_scaling(frames):
    """A 0/1 column that is 1 only outside train (a pixel lit once, in test) spans [0, 1] on
    the pooled splits and not on train, and is no scaling at all."""
    lit = {s: f.with_columns(pl.lit(0.0).alias("pixel")) for s, f in frames.items()}
    lit["test"] = lit["test"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(1.0).otherwise(0.0).alias("pixel")
    )
    result = leakage(lit)
    assert result.status == "pass", result.message


def test_preprocessing_fails_and_warns_alike_on_profiles(frames, tmp_path):
    bad = skops_file(pipeline(frames, POOLED, standard_scaler()), tmp_path / "pooled.skops")
    good = skops_file(pipeline(frames, ["train"], standard_scaler()), tmp_path / "train.skops")
    leaky, clean = on_profiles(frames, bad), on_profiles(frames, good)
    assert leaky.status == "fail" and "preprocessing:scaler" in leaky.subjects, leaky.message
    assert {r[-1] for r in statistics(leaky)} == {"pooled"}
    assert clean.status == "pass", clean.message
    assert {r[-1] for r in statistics(clean)} == {"train"}
    warned = on_profiles(standardised(frames, POOLED))
    assert warned.status == "warn" and set(FEATURES) <= set(warned.subjects), warned.message
    assert on_profiles(standardised(frames, ["train"])).status == "pass"


def test_preprocessing_on_profiles_says_medians_need_rows(tmp_path):
    from sklearn.impute import SimpleImputer

    frames = three_splits(seed=5)
    path = skops_file(
        pipeline(frames, POOLED, SimpleImputer(strategy="median"), "impute"), tmp_path / "m"
    )
    result = on_profiles(frames, path)
    assert result.status == "pass", result.message  # not judged there: said, not guessed
    assert "never medians (they need rows)" in result.message


# --------------------------------------------------------------------------- the rules at edges
def test_compare_statistic_at_its_edges():
    se, scale = 0.02, 3.0
    tol = max(EXACT_RTOL * scale, MATCH_SE * se)
    train, pool = 1.0, 1.0 + 1.01 * SEPARATION * tol
    assert compare_statistic(pool, train, pool, se, scale) == "pooled"
    assert compare_statistic(pool + 0.99 * tol, train, pool, se, scale) == "pooled"
    assert compare_statistic(pool + 1.01 * tol, train, pool, se, scale) == "other"
    assert compare_statistic(train, train, pool, se, scale) == "train"
    close = 1.0 + 0.99 * SEPARATION * tol  # train and pooled cannot be told apart
    assert compare_statistic(close, train, close, se, scale) == "unresolved"
    assert compare_statistic(1.0, 1.0, 1.0, 0.0, 0.0) == "unresolved"


def test_fitted_on_needs_every_telling_statistic_and_at_least_one():
    assert fitted_on({"a": ["pooled", "unresolved"], "b": ["other"]}) == "a"
    assert fitted_on({"a": ["pooled", "other"]}) is None
    assert fitted_on({"a": ["unresolved"]}) is None
    assert fitted_on({"a": ["other"], "b": ["pooled"]}) == "b"
    assert fitted_on({"a": ["train", "train"]}, "train") == "a"


def test_standard_error_of_the_gap_matches_a_simulation():
    rng = np.random.default_rng(0)
    n_train, n_pooled = 600, 1000
    gaps = []
    for _ in range(2000):
        x = rng.normal(size=n_pooled)
        gaps.append(x.mean() - x[:n_train].mean())
    assert np.std(gaps) == pytest.approx(statistic_se("mean", 1.0, n_train, n_pooled), rel=0.05)
    assert statistic_se("min", 1.0, n_train, n_pooled) == 0.0


def test_scaling_forms_are_exact_and_ignore_indicators():
    x = np.random.default_rng(0).normal(3, 2, 500)
    z = (x - x.mean()) / x.std()
    assert scaling_forms(moments(z)) == {"mean 0, sd 1"}
    assert scaling_forms(moments((x - x.mean()) / x.std(ddof=1))) == {"mean 0, sd 1"}
    assert scaling_forms(moments(z + 1e-4)) == set()
    m = (x - x.min()) / (x.max() - x.min())
    assert scaling_forms(moments(m)) == {"min 0, max 1"}
    assert scaling_forms(moments(np.r_[np.zeros(99), 1.0])) == set()
    assert not math.isnan(moments(np.array([np.nan, 1.0])).mean)


def test_preprocessing_reports_are_deterministic(frames, tmp_path):
    from qa.testing import comparable

    path = skops_file(pipeline(frames, POOLED, standard_scaler()), tmp_path / "pooled.skops")
    runs = [qa.check(**frames, config=config(path), only=["leakage"]) for _ in range(2)]
    assert comparable(runs[0]) == comparable(runs[1])
