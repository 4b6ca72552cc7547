from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.leakage import Leakage
from qa.testing import check_contract
from tests.conftest import make_classification_frame, random_split


def run(train: pl.DataFrame, test: pl.DataFrame | None = None, **config) -> qa.report.CheckResult:
    cfg = {"task": {"target": "label", **config}}
    report = qa.check(train=train, test=test, config=cfg, only=["leakage"])
    return report.checks[0]


def detector(result, name: str) -> tuple:
    table = next(e for e in result.evidence if e.title == "Leakage detectors")
    return next(r for r in table.rows if r[0] == name)


def test_leakage_fails_when_5_percent_of_test_rows_are_in_train_and_passes_a_clean_split():
    train, test = random_split(make_classification_frame(n=4000, seed=1))
    copied = test.sample(fraction=0.05, seed=2)
    clean, defective = check_contract(
        Leakage,
        clean=dict(train=train, test=test, target="label"),
        defective=dict(train=pl.concat([train, copied]), test=test, target="label"),
    )
    assert clean.checks[0].subjects == ()
    result = defective.checks[0]
    assert "overlap" in result.subjects
    assert result.metrics["overlap_share_test"] == copied.height / test.height
    assert detector(result, "overlap")[1] is True


def test_leakage_ignores_chance_matches_in_a_coarse_categorical_feature_space():
    rng = np.random.default_rng(0)
    n = 3000
    frame = pl.DataFrame({
        "a": rng.choice(["x", "y"], n), "b": rng.choice(["p", "q", "r"], n),
        "label": rng.integers(0, 2, n),
    })
    train, test = random_split(frame)
    result = run(train, test)
    assert result.metrics["overlap_share_test"] > 0.9  # every combination is everywhere
    assert result.status == "pass", result.message


def test_leakage_fails_on_a_feature_equal_to_the_target_plus_small_noise():
    frame = make_classification_frame(n=3000, seed=2)
    rng = np.random.default_rng(5)
    leaky = frame.with_columns(
        (pl.col("label").cast(pl.Float64) + pl.Series(rng.normal(0, 0.05, frame.height)))
        .alias("score_after_outcome")
    )
    train, test = random_split(leaky)
    result = run(train, test)
    assert result.status == "fail"
    assert "target-proxy" in result.subjects and "score_after_outcome" in result.subjects
    assert result.metrics["proxy_sample_rows"] == train.height


def test_leakage_finds_a_non_monotone_proxy_and_a_regression_proxy():
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    frame = pl.DataFrame({"x": x, "noise": rng.normal(size=n), "label": (np.abs(x) > 0.7).astype(int)})
    assert "x" in run(frame).subjects
    reg = pl.DataFrame({"x": x, "noise": rng.normal(size=n), "label": np.abs(x) + rng.normal(0, 0.01, n)})
    result = run(reg)
    assert result.status == "fail" and "x" in result.subjects
    assert "noise" not in result.subjects


def test_leakage_does_not_flag_id_like_or_high_cardinality_columns():
    frame = make_classification_frame(n=3000, seed=4)
    n = frame.height
    rng = np.random.default_rng(0)
    frame = frame.with_columns(
        pl.Series("uuid", [f"u{i}" for i in rng.permutation(n)]),
        pl.Series("many", [f"v{i}" for i in rng.integers(0, 100_000, n)]),
        pl.Series("row_number", rng.permutation(n).astype(np.float64)),
    )
    train, test = random_split(frame)
    result = run(train, test)
    assert result.status == "pass", result.message


def test_leakage_group_detector_fires_when_an_entity_is_on_both_sides():
    frame = make_classification_frame(n=2000, seed=5).with_columns(
        (pl.int_range(pl.len()) // 4).alias("customer")
    )
    by_group_train = frame.filter(pl.col("customer") < 400)
    by_group_test = frame.filter(pl.col("customer") >= 400)
    clean = run(by_group_train, by_group_test, group="customer")
    assert clean.status == "pass", clean.message
    mixed_train, mixed_test = random_split(frame)
    result = run(mixed_train, mixed_test, group="customer")
    assert result.status == "fail"
    assert "group" in result.subjects
    assert result.metrics["shared_groups_test"] > 0


def test_leakage_time_detector_reports_how_many_and_by_how_much():
    frame = make_classification_frame(n=2000, seed=6)
    start = dt.datetime(2024, 1, 1)
    frame = frame.with_columns(
        pl.Series("when", [start + dt.timedelta(hours=i) for i in range(frame.height)])
    )
    train, test = frame.head(1600), frame.tail(400)
    assert run(train, test, time="when").status == "pass"
    late_train = pl.concat([train, test.head(40)])  # train now reaches 40 hours into test
    result = run(late_train, test, time="when")
    assert result.status == "fail" and "time" in result.subjects
    assert result.metrics["early_rows_test"] == 39
    assert result.metrics["max_lag_test"] == 39 * 3600


def test_leakage_conflicting_duplicate_labels_fire():
    train, test = random_split(make_classification_frame(n=3000, seed=7))
    dup = train.head(90).with_columns((1 - pl.col("label")).alias("label"))
    result = run(pl.concat([train, dup]), test)
    assert result.status == "fail"
    assert "conflicts" in result.subjects
    assert result.metrics["conflict_share"] == pytest.approx(180 / (train.height + 90), abs=1e-6)


def test_leakage_handles_nulls_constants_nan_inf_and_hostile_names():
    frame = make_classification_frame(n=1500, seed=8)
    vals = np.random.default_rng(1).normal(size=frame.height)
    vals[::5] = np.nan
    vals[::7] = np.inf
    frame = frame.with_columns(
        pl.Series("<script>alert(1)</script>", vals),
        pl.Series("naïve ü 列", [None] * frame.height, dtype=pl.Float64),
        pl.lit(3).alias("constant"),
    )
    train, test = random_split(frame)
    result = run(train, test.drop("constant"))
    assert result.status == "pass", result.message


def test_leakage_runs_without_other_splits_or_features():
    frame = pl.DataFrame({"label": [0, 1] * 50})
    result = run(frame)
    assert result.status == "pass"
    assert "not run" in detector(result, "overlap")[4]
