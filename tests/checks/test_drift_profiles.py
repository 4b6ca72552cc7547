"""drift on profiles: the same verdicts as on rows, the numbers within the bin resolution, and a
production file judged against a stored reference with no train rows at hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from qa.api import build_context
from qa.base import CheckResult
from qa.checks.drift import NO_TRAIN_ROWS, Drift
from qa.config import parse_config
from qa.errors import DataError
from qa.profile_context import build_profile_context
from tests.checks.test_drift import january_february, make_table
from tests.conftest import random_split

FAST = {"domain_sample": 3000}
UNIVARIATE = {"domain_classifier": False}
#: Column positions in the per-feature evidence table.
FEATURE, TEST, KS_JS, W_STD, PSI, MISSING_TRAIN, MISSING_CURRENT, UNSEEN = (
    0,
    6,
    10,
    11,
    12,
    13,
    14,
    15,
)


def config_for(**run: Any) -> Any:
    return parse_config({"task": {"target": "label"}, "run": run})


def both(
    frames: dict[str, pl.DataFrame], params: dict[str, Any] | None = None, **run: Any
) -> tuple[CheckResult, CheckResult]:
    """The check on rows (an in-memory Context) and on profiles (the polars engine)."""
    config = config_for(**run)
    wanted = Drift.Params(**(params or FAST))
    on_rows = Drift().run(build_context(config, frames), wanted)
    on_profiles = Drift().run_profiles(build_profile_context(config, frames), wanted)
    return on_rows, on_profiles


def rows_by_feature(result: CheckResult) -> dict[str, tuple[Any, ...]]:
    return {row[FEATURE]: row for row in result.evidence[0].rows}


def assert_numbers_agree(on_rows: CheckResult, on_profiles: CheckResult) -> None:
    """Per feature: KS on bins is a lower bound of the exact KS, short of it by at most about
    one bin's share (1/1,000 of train, noisier in the smaller split); PSI and W/std close;
    every count-based number (missing rates, JS, unseen share) exactly equal."""
    exact, binned = rows_by_feature(on_rows), rows_by_feature(on_profiles)
    assert exact.keys() == binned.keys()
    for name, row in exact.items():
        other = binned[name]
        for column in (MISSING_TRAIN, MISSING_CURRENT, UNSEEN):
            assert other[column] == row[column], (name, column)
        if row[W_STD] is None:  # a category: JS and PSI from exact counts
            assert other[KS_JS] == pytest.approx(row[KS_JS], abs=1e-6), name
            assert other[PSI] == pytest.approx(row[PSI], abs=1e-6), name
            continue
        assert other[KS_JS] <= row[KS_JS] + 1e-6, name
        assert row[KS_JS] - other[KS_JS] < 0.003, name
        assert other[PSI] == pytest.approx(row[PSI], abs=0.01), name
        assert other[W_STD] == pytest.approx(row[W_STD], abs=0.01), name


@pytest.fixture(scope="module")
def split() -> tuple[pl.DataFrame, pl.DataFrame]:
    return random_split(make_table(50_000, seed=11), (0.8, 0.2), seed=12)


def mix_changed(frame: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    """c0 drawn with shares (0.2, 0.25, 0.15, 0.1, 0.3) instead of (0.4, 0.25, 0.15, 0.1, 0.1):
    a PSI of about 0.36, past the large bar (0.2)."""
    rng = np.random.default_rng(seed)
    values = rng.choice(["a", "b", "c", "d", "e"], frame.height, p=[0.2, 0.25, 0.15, 0.1, 0.3])
    return frame.with_columns(pl.Series("c0", values))


# --------------------------------------------------------------------------- verdicts
def test_drift_on_profiles_passes_clean_data_as_on_rows(split):
    train, prod = split
    on_rows, on_profiles = both({"train": train, "production": prod})
    assert on_rows.status == on_profiles.status == "pass", (on_rows.message, on_profiles.message)
    assert_numbers_agree(on_rows, on_profiles)
    assert on_profiles.metrics["profile_bins"] == 1000
    assert on_profiles.metrics["domain_auc"] == on_rows.metrics["domain_auc"]  # whole split
    assert rows_by_feature(on_profiles)["x0"][TEST] == "KS on 1,000 bins"
    assert "On profiles: numeric KS at the edges of train's 1,000 bins" in (
        on_profiles.evidence[0].note
    )
    assert CheckResult.from_dict(on_profiles.to_dict()) == on_profiles


def test_drift_on_profiles_fails_a_half_sd_shift_and_a_category_mix_change_as_on_rows(split):
    train, prod = split
    shifted = mix_changed(prod.with_columns(pl.col("x1") + 0.5))
    on_rows, on_profiles = both({"train": train, "production": shifted}, UNIVARIATE)
    assert on_rows.status == on_profiles.status == "fail", (on_rows.message, on_profiles.message)
    assert set(on_rows.subjects) == set(on_profiles.subjects) == {"x1", "c0"}
    assert on_rows.metrics["features_large_drift"] == on_profiles.metrics["features_large_drift"]
    assert_numbers_agree(on_rows, on_profiles)
    x1 = rows_by_feature(on_profiles)["x1"]
    assert x1[W_STD] == pytest.approx(0.5, abs=0.03)
    assert x1[KS_JS] == pytest.approx(0.197, abs=0.015)  # 2 Phi(0.25) - 1
    assert rows_by_feature(on_profiles)["c0"][PSI] == pytest.approx(0.36, abs=0.03)


def test_drift_against_a_stored_reference_fails_a_shifted_production_without_train_rows(
    split, tmp_path: Path
):
    train, prod = split
    config = config_for()
    stored = tmp_path / "train.qaprofile"
    build_profile_context(config, {"train": train}).profiles.save(stored)
    shifted = prod.drop("label").with_columns(pl.col("x2") + 0.5)
    pctx = build_profile_context(config, {"production": shifted}, reference=str(stored))
    assert pctx.sample is None and pctx.rows("train") == train.height
    result = Drift().run_profiles(pctx, Drift.Params())
    assert result.status == "fail", result.message
    assert result.subjects == ("x2",)
    assert f"domain classifier not run: {NO_TRAIN_ROWS}" in result.message
    assert "domain_auc" not in result.metrics
    # the same numbers as with train's rows at hand: the spec comes from train either way
    engine = Drift().run_profiles(
        build_profile_context(config, {"train": train, "production": shifted}), Drift.Params()
    )
    assert result.metrics["max_ks"] == engine.metrics["max_ks"]
    assert result.metrics["max_psi"] == engine.metrics["max_psi"]
    clean = build_profile_context(config, {"production": prod}, reference=str(stored))
    assert Drift().run_profiles(clean, Drift.Params()).status == "pass"


def test_drift_on_profiles_names_the_sample_the_domain_classifier_ran_on(split):
    train, prod = split
    config = config_for(sample_rows=4000)
    pctx = build_profile_context(config, {"train": train, "production": prod})
    result = Drift().run_profiles(pctx, Drift.Params(**FAST))
    assert result.status == "pass", result.message
    taken = pctx.sampled["train"][0]
    assert f"domain classifier on a seeded sample of {taken:,} of 40,000 train rows" in (
        result.message
    )
    assert result.metrics["rows_reference"] == 40_000  # the per-feature tests see every row
    assert result.metrics["domain_sample_reference"] <= taken


def test_drift_on_profiles_runs_the_energy_test_on_a_small_split_as_on_rows():
    train, prod = random_split(make_table(130, seed=2, n_numeric=10), (0.7, 0.3), seed=2)
    shifted = prod.with_columns(pl.col(f"x{i}") + 0.5 for i in range(10))
    on_rows, on_profiles = both({"train": train, "production": shifted})
    assert on_rows.status == on_profiles.status == "fail", (on_rows.message, on_profiles.message)
    assert "energy-distance" in on_rows.subjects and "energy-distance" in on_profiles.subjects
    assert on_profiles.metrics["energy_p"] == on_rows.metrics["energy_p"]
    assert on_profiles.thresholds["energy_fail_alpha"] == on_rows.thresholds["energy_fail_alpha"]


def test_drift_on_profiles_judges_label_drift_from_class_counts(split):
    train, prod = split
    skewed = prod.filter((pl.col("label") == 1) | (pl.col("x5") > 0.5))
    on_rows, on_profiles = both({"train": train, "production": skewed}, UNIVARIATE)
    assert on_rows.status == on_profiles.status == "warn", (on_rows.message, on_profiles.message)
    assert "labels (label)" in on_profiles.subjects
    assert on_profiles.metrics["label_psi"] == pytest.approx(on_rows.metrics["label_psi"])


# --------------------------------------------------------------------------- edge cases
def test_drift_on_profiles_handles_nan_inf_nulls_unicode_and_unseen_categories():
    def hostile(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
        rng = np.random.default_rng(seed)
        n = frame.height
        values = rng.normal(size=n)
        values[rng.random(n) < 0.05] = np.nan
        values[rng.random(n) < 0.01] = np.inf
        return frame.with_columns(
            pl.Series("städte ✓", rng.choice(["Köln", "東京", "<b>x</b>"], n)),
            pl.Series("naninf", values),
            pl.lit(None, dtype=pl.Float64).alias("empty"),
            pl.lit(1.0).alias("constant"),
        )

    train, prod = random_split(hostile(make_table(25_000, seed=3), 1), (0.8, 0.2), seed=3)
    new = np.random.default_rng(5).random(prod.height) < 0.05
    prod = prod.with_columns(
        pl.when(pl.Series(new))
        .then(pl.lit("zz-new"))
        .otherwise(pl.col("städte ✓"))
        .alias("städte ✓")
    )
    on_rows, on_profiles = both({"train": train, "production": prod}, UNIVARIATE)
    assert on_rows.status == on_profiles.status == "fail", (on_rows.message, on_profiles.message)
    assert on_rows.subjects == on_profiles.subjects == ("städte ✓",)
    assert_numbers_agree(on_rows, on_profiles)
    assert rows_by_feature(on_profiles)["städte ✓"][UNSEEN] == pytest.approx(0.05, abs=0.01)
    assert rows_by_feature(on_profiles)["empty"][KS_JS] is None


def test_drift_on_profiles_lists_a_column_missing_from_the_current_split(split):
    train, prod = split
    on_rows, on_profiles = both({"train": train, "production": prod.drop("x3")})
    assert on_rows.status == on_profiles.status == "pass"
    assert on_rows.metrics["features_absent"] == on_profiles.metrics["features_absent"] == 1
    assert "Not in production (not compared): 'x3'" in on_profiles.evidence[0].note
    pctx = build_profile_context(config_for(), {"train": train, "production": prod[["x0"]]})
    result = Drift().run_profiles(pctx, Drift.Params(**FAST))
    assert result.metrics["features_absent"] == 9 and result.status == "pass", result.message
    pctx = build_profile_context(config_for(), {"train": train, "production": prod[["label"]]})
    result = Drift().run_profiles(pctx, Drift.Params(**FAST))
    assert result.status == "fail" and "has none of the 10 feature columns" in result.message


def test_drift_on_an_empty_split_is_a_data_error_with_rows_and_judged_against_a_reference(
    split, tmp_path: Path
):
    train, prod = split
    config = config_for()
    with pytest.raises(DataError, match="no rows"):
        build_context(config, {"train": train, "production": prod.head(0)})
    with pytest.raises(DataError, match="no rows"):
        build_profile_context(config, {"train": train, "production": prod.head(0)})
    stored = tmp_path / "train.qaprofile"
    build_profile_context(config, {"train": train}).profiles.save(stored)
    pctx = build_profile_context(config, {"production": prod.head(0)}, reference=str(stored))
    result = Drift().run_profiles(pctx, Drift.Params())
    assert result.status == "warn" and result.subjects == ("underpowered",), result.message
    assert result.metrics["rows_current"] == 0 and result.metrics["max_ks"] is None
    assert f"energy test not run: {NO_TRAIN_ROWS}" in result.message


def test_drift_on_profiles_reads_a_created_at_that_only_moves_forward_as_the_time_axis():
    train, test = january_february()
    on_rows, on_profiles = both({"train": train, "test": test})
    assert on_rows.status == on_profiles.status == "pass", (on_rows.message, on_profiles.message)
    assert "'created_at' looks like the time axis" in on_profiles.message
    calendar = [
        next(e for e in r.evidence if e.title == "Datetime features").rows
        for r in (on_rows, on_profiles)
    ]
    assert calendar[0] == calendar[1]  # beyond share, ranges, parts compared and skipped
    night = np.array([22, 23, 0, 1, 2, 3, 4, 5])
    train, test = january_february(hours=night)
    on_rows, on_profiles = both({"train": train, "test": test}, UNIVARIATE)
    assert on_rows.status == on_profiles.status == "fail"
    assert on_rows.subjects == on_profiles.subjects == ("created_at",)
    assert rows_by_feature(on_profiles)["created_at"][TEST] == "chi-square (hour)"
    assert_numbers_agree(on_rows, on_profiles)


def test_drift_on_profiles_compares_a_birth_date_by_value_and_caps_huge_domains():
    rng = np.random.default_rng(22)
    n = 25_000
    born = dt.date(1950, 1, 1)
    table = make_table(n, seed=22, n_numeric=3).with_columns(
        pl.Series("birth", [born + dt.timedelta(days=int(d)) for d in rng.integers(0, 18_250, n)]),
        pl.Series("user", [f"u{i}" for i in rng.integers(0, 20_000, n)]),
    )
    train, prod = random_split(table, (0.8, 0.2))
    on_rows, on_profiles = both({"train": train, "production": prod}, UNIVARIATE)
    assert on_rows.status == on_profiles.status == "pass", (on_rows.message, on_profiles.message)
    assert "unseen-category test not available for 'user'" in on_profiles.message
    assert rows_by_feature(on_profiles)["user"][UNSEEN] is None
    younger = prod.with_columns(pl.col("birth") + pl.duration(days=10 * 365))
    on_rows, on_profiles = both({"train": train, "production": younger}, UNIVARIATE)
    assert on_rows.status == on_profiles.status == "fail"
    assert on_rows.subjects == on_profiles.subjects == ("birth",)
    assert "time axis" not in on_profiles.message  # a fifth beyond train's dates
    calendar = [
        next(e for e in r.evidence if e.title == "Datetime features").rows
        for r in (on_rows, on_profiles)
    ]
    assert calendar[0] == calendar[1]


def test_drift_on_profiles_draws_the_histogram_from_the_bins(split):
    train, prod = split
    _on_rows, on_profiles = both(
        {"train": train, "production": prod.with_columns(pl.col("x4") * 3)}
    )
    chart = next(c for c in on_profiles.charts if c.title.startswith("x4"))
    assert len(chart.data["edges"]) == 31
    for shares in chart.data["series"].values():
        assert len(shares) == 30 and sum(shares) == pytest.approx(1.0)


def test_the_gate_runs_drift_on_profiles_with_an_engine(split):
    import qa

    train, prod = split
    report = qa.check(
        train=train,
        production=prod.with_columns(pl.col("x1") + 0.5),
        target="label",
        only=["drift"],
        checks={"drift": FAST},
        config={"run": {"engine": "polars"}},
    )
    result = report.checks[0]
    assert Drift.profiles_supported and result.metrics["profile_bins"] == 1000
    assert result.status == "fail" and "x1" in result.subjects, result.message


def test_drift_on_profiles_skips_without_a_current_split(split):
    train, _prod = split
    pctx = build_profile_context(config_for(), {"train": train})
    assert Drift().run_profiles(pctx, Drift.Params()).status == "skip"


# --------------------------------------------------------------------------- binned statistics
def test_binned_ks_is_a_lower_bound_within_one_bin_and_merged_bins_match_quantile_edges():
    from qa import stats

    rng = np.random.default_rng(0)
    a, b = np.sort(rng.normal(size=20_000)), np.sort(rng.normal(0.3, 1.0, 5_000))
    edges = np.quantile(a, np.linspace(0, 1, 1001)[1:-1])
    counts_a = np.bincount(np.searchsorted(edges, a, side="right"), minlength=1000)
    counts_b = np.bincount(np.searchsorted(edges, b, side="right"), minlength=1000)
    exact = stats.ks_statistic(a, b)
    binned = stats.binned_ks(counts_a, counts_b)
    assert exact - 0.003 < binned <= exact
    # integers: one value per fine bin, so the merged groups are exactly the quantile bins
    x, y = np.sort(rng.poisson(4, 10_000).astype(float)), np.sort(rng.poisson(5, 3_000) * 1.0)
    fine = np.arange(0.5, 20.5)
    groups = stats.quantile_groups(np.bincount(np.searchsorted(fine, x), minlength=21), 10)
    merged = [
        stats.merge_bins(np.bincount(np.searchsorted(fine, v), minlength=21), groups)
        for v in (x, y)
    ]
    cuts = stats.quantile_edges(x, 10)
    assert stats.psi(*merged) == pytest.approx(
        stats.psi(stats.binned_counts(x, cuts), stats.binned_counts(y, cuts))
    )
    # a bin at its mid-point within the sample's range; bins beyond it at its min / max
    points = stats.bin_points(fine, 3.0, 7.0)
    assert (points[0], points[3], points[4], points[5], points[-1]) == (3.0, 3.25, 4.0, 5.0, 7.0)
