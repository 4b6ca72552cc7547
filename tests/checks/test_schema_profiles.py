"""schema and data-volume on profiles: the same verdicts as on rows, from counts alone.

Each case builds the same data as an in-memory Context and as a ProfileContext (the polars
engine), runs ``run`` and ``run_profiles`` and compares; the stored-reference cases judge a
production split against a saved train profile, with no train rows at all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from qa.api import build_context
from qa.base import Check, CheckResult
from qa.checks.data_volume import DataVolume
from qa.checks.schema import Schema, values_above, values_below
from qa.config import Config, parse_config
from qa.profile import NumericProfile
from qa.profile_context import ProfileContext, build_profile_context
from tests.checks.test_schema import dated, mixed_frame, with_rows_replaced
from tests.conftest import make_classification_frame, random_split

N = 20_000


def config_for(target: str = "label", **task: Any) -> Config:
    return parse_config({"task": {"target": target, **task}})


def both(
    check: type[Check],
    frames: Mapping[str, pl.DataFrame],
    config: Config | None = None,
    params: Any = None,
) -> tuple[CheckResult, CheckResult]:
    """The check on rows (an in-memory Context) and on profiles of the same frames."""
    config = config or config_for()
    params = params or check.Params()
    in_memory = check().run(build_context(config, dict(frames)), params)
    on_profiles = check().run_profiles(build_profile_context(config, dict(frames)), params)
    return in_memory, on_profiles


def findings(result: CheckResult) -> list[tuple[Any, ...]]:
    """(split, column, rule, rows, verdict) of every listed finding."""
    if not result.evidence or result.evidence[0].title != "Schema violations":
        return []
    return [(r[0], r[1], r[2], r[4], r[7]) for r in result.evidence[0].rows]


def against_reference(
    tmp_path: Path, train: pl.DataFrame, production: pl.DataFrame, config: Config | None = None
) -> ProfileContext:
    """Production judged against train's stored profile: no train rows, no sample."""
    config = config or config_for()
    path = tmp_path / "reference.json"
    build_profile_context(config, {"train": train}).profiles.save(path)
    pctx = build_profile_context(config, {"production": production}, reference=str(path))
    assert pctx.sample is None
    return pctx


@pytest.fixture(scope="module")
def splits() -> list[pl.DataFrame]:
    return random_split(make_classification_frame(n=N, seed=21), (0.6, 0.2, 0.2), seed=2)


@pytest.fixture(scope="module")
def broken(splits: list[pl.DataFrame]) -> tuple[CheckResult, CheckResult]:
    """5 % of num_1 a million times too large, 5 % of cat a new colour, num_2 dropped, num_3
    arriving as text."""
    train, _, test = splits
    test = with_rows_replaced(test, "num_1", 0.05, 1e6, seed=3)
    test = with_rows_replaced(test, "cat", 0.05, "purple", seed=4)
    test = test.drop("num_2").with_columns(pl.col("num_3").cast(pl.String))
    return both(Schema, {"train": train, "test": test})


# ------------------------------------------------------------------ schema: clean and broken
def test_schema_passes_clean_mixed_data_alike_on_rows_and_on_profiles():
    train, validation, test, prod = random_split(mixed_frame(N, seed=4), (0.6, 0.15, 0.15, 0.1))
    frames = {"train": train, "validation": validation, "test": test, "production": prod}
    frames["production"] = prod.drop("label")
    rows, profiles = both(Schema, frames, config_for(id="customer"))
    assert rows.status == profiles.status == "pass", (rows.message, profiles.message)
    assert profiles.metrics == pytest.approx(rows.metrics)
    assert profiles.metrics["rules_checked"] > 20
    assert profiles.thresholds == rows.thresholds
    assert profiles.evidence[-1].rows == rows.evidence[-1].rows  # the inferred rules, alike


def test_schema_fails_a_planted_break_alike_on_rows_and_on_profiles(broken):
    rows, profiles = broken
    assert rows.status == profiles.status == "fail"
    assert set(profiles.subjects) == set(rows.subjects) == {"num_1", "num_2", "num_3", "cat"}
    assert findings(profiles) == findings(rows)
    by_rule = {(r[1], r[2]): r for r in profiles.evidence[0].rows}
    assert by_rule[("num_1", "in range")][5] == pytest.approx(0.05, abs=1e-4)
    assert by_rule[("cat", "known category")][5] == pytest.approx(0.05, abs=1e-4)
    assert by_rule[("num_2", "column present")][7] == "fail"
    assert "categorical (String)" in by_rule[("num_3", "type family")][6]
    assert profiles.metrics == pytest.approx(rows.metrics)


def test_schema_on_profiles_names_offending_values_from_the_profile(broken):
    rows, profiles = broken
    examples = {(r[1], r[2]): r[6] for r in profiles.evidence[0].rows}
    assert examples[("num_1", "in range")] == "1e+06"
    assert examples[("cat", "known category")] == "purple"
    assert {(r[1], r[2]): r[6] for r in rows.evidence[0].rows}[("cat", "known category")] == (
        "purple"
    )


@pytest.mark.parametrize(("share", "status"), [(0.001, "pass"), (0.05, "fail")])
def test_schema_judges_unseen_categories_by_share_alike(splits, share, status):
    train, _, prod = splits
    prod = with_rows_replaced(prod.drop("label"), "cat", share, "purple")
    rows, profiles = both(Schema, {"train": train, "production": prod})
    assert rows.status == profiles.status == status, (rows.message, profiles.message)
    assert findings(profiles) == findings(rows)


# ------------------------------------------------------------------ schema: edge cases
@pytest.mark.parametrize(
    ("value", "rule"), [(float("inf"), "in range"), (float("nan"), "not missing")]
)
def test_schema_counts_infinities_out_of_range_and_nan_missing_alike(splits, value, rule):
    train, _, test = splits
    rows, profiles = both(
        Schema, {"train": train, "test": with_rows_replaced(test, "num_0", 0.03, value)}
    )
    assert rows.status == profiles.status == "fail"
    assert findings(profiles) == findings(rows)
    assert profiles.evidence[0].rows[0][2] == rule


def test_schema_allows_infinities_train_had_alike():
    frame = with_rows_replaced(make_classification_frame(n=N, seed=10), "num_0", 0.05, float("inf"))
    train, test = random_split(frame)
    rows, profiles = both(Schema, {"train": train, "test": test})
    assert rows.status == profiles.status == "pass"


def test_schema_fails_a_production_column_that_is_entirely_null_alike(splits):
    train, _, prod = splits
    empty = prod.drop("label").with_columns(pl.lit(None, dtype=pl.Float64).alias("num_1"))
    untyped = prod.drop("label").with_columns(pl.lit(None).alias("num_1"))  # dtype Null
    for production in (empty, untyped):
        rows, profiles = both(Schema, {"train": train, "production": production})
        assert rows.status == profiles.status == "fail"
        assert profiles.subjects == rows.subjects == ("num_1",)


@pytest.mark.parametrize("name", ["naïve ü 列", "<b>x</b>", "^num.*$"])
def test_schema_handles_unicode_and_hostile_column_names_alike(splits, name):
    train, _, test = (s.rename({"num_0": name}) for s in splits)
    rows, profiles = both(Schema, {"train": train, "test": test})
    assert rows.status == profiles.status == "pass"
    as_text = test.with_columns(test[name].cast(pl.String))
    rows, profiles = both(Schema, {"train": train, "test": as_text})
    assert rows.status == profiles.status == "fail"
    assert profiles.subjects == rows.subjects == (name,)
    json.dumps(profiles.to_dict())


def test_schema_notes_a_later_datetime_as_the_time_axis_alike():
    train = dated(8000, dt.datetime(2024, 1, 1), 31, seed=11)
    test = dated(2000, dt.datetime(2024, 2, 1), 29, seed=12)
    rows, profiles = both(Schema, {"train": train, "test": test})
    assert rows.status == profiles.status == "pass"
    assert profiles.metrics["time_axis_columns"] == rows.metrics["time_axis_columns"] == 1
    assert "'created_at' in test lies outside train's dates (100% of its values)" in (
        profiles.message
    )
    rows, profiles = both(Schema, {"train": train, "test": test.drop("created_at")})
    assert rows.status == profiles.status == "fail"
    assert profiles.subjects == rows.subjects == ("created_at",)


def test_schema_fails_a_datetime_arriving_as_text_alike():
    train = dated(8000, dt.datetime(2024, 1, 1), 31, seed=11)
    test = dated(2000, dt.datetime(2024, 2, 1), 29, seed=12)
    as_text = test.with_columns(pl.col("created_at").cast(pl.String))
    rows, profiles = both(Schema, {"train": train, "test": as_text})
    assert rows.status == profiles.status == "fail"
    assert profiles.subjects == rows.subjects == ("created_at",)


def test_schema_says_nothing_of_dates_within_trains_alike():
    train, test = random_split(dated(8000, dt.datetime(2024, 1, 1), 60, seed=15))
    rows, profiles = both(Schema, {"train": train, "test": test})
    assert rows.status == profiles.status == "pass"
    assert "time_axis_columns" not in profiles.metrics


def test_schema_treats_extra_and_untyped_columns_alike(splits):
    train, _, test = splits
    train = train.with_columns(pl.lit(None).alias("empty"))  # dtype Null: the spec skips it
    test = test.with_columns(pl.lit(None).alias("empty"), pl.lit(1.0).alias("new"))
    rows, profiles = both(Schema, {"train": train, "test": test})
    assert rows.status == profiles.status == "warn"
    assert profiles.subjects == rows.subjects == ("new",)
    rows, profiles = both(Schema, {"train": train, "test": test.drop("empty")})
    assert rows.status == profiles.status == "fail"
    assert profiles.subjects == rows.subjects == ("empty",)


def test_schema_checks_a_list_column_for_presence_alike(splits):
    train, _, test = splits
    train = train.with_columns(pl.lit([1, 2]).alias("tags"))
    rows, profiles = both(Schema, {"train": train, "test": test})
    assert rows.status == profiles.status == "fail"
    assert profiles.subjects == rows.subjects == ("tags",)


def test_schema_on_profiles_says_when_the_profile_was_cut_for_another_tolerance(splits):
    train, _, test = splits
    pctx = build_profile_context(config_for(), {"train": train, "test": test})
    result = Schema().run_profiles(pctx, Schema.Params(range_tolerance=0.3))
    assert result.status == "pass"
    assert result.thresholds["range_tolerance"] == pytest.approx(0.1)
    assert "profile's range_tolerance 0.1, not 0.3" in result.message


PANDERA_SCHEMA = """
import pandera.polars as pa
import polars as pl
schema = pa.DataFrameSchema({"num_0": pa.Column(pl.Float64, checks=pa.Check.in_range(-10, 10))})
"""
#: pandera imports pyspark.pandas when pyspark is installed, which warns under pandas 3.
PYSPARK_ON_PANDAS_3 = "ignore:PySpark does not yet fully support pandas:FutureWarning"


@pytest.mark.filterwarnings(PYSPARK_ON_PANDAS_3)
def test_schema_file_runs_on_the_engines_sample_and_says_so(splits, tmp_path):
    train, _, test = splits
    path = tmp_path / "rules.py"
    path.write_text(PANDERA_SCHEMA)
    params = Schema.Params(schema_file=str(path))
    one_bad = with_rows_replaced(test, "num_0", 1 / test.height, 50.0)
    rows, profiles = both(Schema, {"train": train, "test": one_bad}, params=params)
    assert rows.status == profiles.status == "fail"  # the sample is every row: exact
    assert profiles.evidence[0].rows == rows.evidence[0].rows
    config = parse_config({"task": {"target": "label"}, "run": {"sample_rows": 1000}})
    pctx = build_profile_context(config, {"train": train, "test": test})
    sampled = Schema().run_profiles(pctx, params)
    assert sampled.status == "pass"
    assert "a seeded sample of" in sampled.message and "of 12,000 train rows" in sampled.message


def test_schema_file_is_skipped_against_a_stored_reference(splits, tmp_path):
    train, _, test = splits
    path = tmp_path / "rules.py"  # duck-typed: loading it imports no pandera
    path.write_text(
        "class Rules:\n    columns = {}\n    def validate(self, df): pass\nschema = Rules()\n"
    )
    params = Schema.Params(schema_file=str(path))
    pctx = against_reference(tmp_path, train, test.drop("label"))
    skipped = Schema().run_profiles(pctx, params)
    assert skipped.status == "skip" and "stored reference" in skipped.message


# ------------------------------------------------------------------ schema: stored reference
def test_schema_against_a_stored_reference_passes_clean_production(splits, tmp_path):
    train, _, prod = splits
    pctx = against_reference(tmp_path, train, prod.drop("label"))
    result = Schema().run_profiles(pctx, Schema.Params())
    rows = Schema().run(
        build_context(config_for(), {"train": train, "production": prod.drop("label")}),
        Schema.Params(),
    )
    assert result.status == rows.status == "pass", result.message
    assert result.metrics == pytest.approx(rows.metrics)


def test_schema_against_a_stored_reference_fails_a_broken_production(splits, tmp_path):
    train, _, prod = splits
    prod = with_rows_replaced(prod.drop("label"), "num_1", 0.05, -1e6, seed=5)
    prod = with_rows_replaced(prod, "cat", 0.05, "purple", seed=6).drop("num_2")
    pctx = against_reference(tmp_path, train, prod)
    result = Schema().run_profiles(pctx, Schema.Params())
    rows = Schema().run(
        build_context(config_for(), {"train": train, "production": prod}), Schema.Params()
    )
    assert result.status == rows.status == "fail"
    assert set(result.subjects) == set(rows.subjects) == {"num_1", "num_2", "cat"}
    assert findings(result) == findings(rows)


def test_schema_against_a_stored_reference_copes_with_an_empty_production(splits, tmp_path):
    train, _, prod = splits
    empty = prod.drop("label").head(0)
    result = Schema().run_profiles(against_reference(tmp_path, train, empty), Schema.Params())
    assert result.status == "pass", result.message
    dropped = empty.drop("cat")
    result = Schema().run_profiles(against_reference(tmp_path, train, dropped), Schema.Params())
    assert result.status == "fail" and result.subjects == ("cat",)


# ------------------------------------------------------------------ the bin counts
def test_bin_counts_are_exact_at_edges_and_bound_ties_by_the_extremes():
    edges = np.array([0.0, 1.0, 2.0])
    column = NumericProfile(count=6, min=-1.0, max=2.0, hist=[1, 2, 1, 2], pos_inf=0)
    assert values_below(column, edges, 0.0) == 1  # (-inf, 0)
    assert values_below(column, edges, float("-inf")) == 0
    assert values_above(column, edges, 2.0) == 0  # the split's max is on the bound: none above
    assert values_above(column, edges, 1.0) == 3  # [1, 2) and [2, inf]: at most
    assert values_above(column, edges, 1.0, ties=False) == 2  # beyond the next edge: at least
    inf_only = NumericProfile(count=2, min=0.5, max=0.5, hist=[0, 2, 0, 1], pos_inf=1)
    assert values_above(inf_only, edges, 2.0) == 1


# ------------------------------------------------------------------ data-volume
def test_data_volume_counts_rows_alike_on_rows_and_on_profiles(splits):
    train, validation, test = splits
    rows, profiles = both(DataVolume, {"train": train, "validation": validation, "test": test})
    assert rows.status == profiles.status == "pass"
    assert (
        profiles.metrics
        == rows.metrics
        == {"rows_train": 12_000, "rows_validation": 4000, "rows_test": 4000}
    )


def test_data_volume_warns_on_a_small_binary_train_alike(splits):
    train, _, test = splits
    rows, profiles = both(DataVolume, {"train": train.head(4999), "test": test})
    assert rows.status == profiles.status == "warn"
    assert profiles.metrics == rows.metrics


def test_data_volume_names_the_short_class_alike():
    frame = make_classification_frame(n=N, n_classes=3, seed=5)
    rare = frame.filter(pl.col("label") != 2).vstack(frame.filter(pl.col("label") == 2).head(400))
    rows, profiles = both(DataVolume, {"train": rare}, config_for(type="multiclass"))
    assert rows.status == profiles.status == "warn"
    assert profiles.subjects == rows.subjects == ("2",)
    assert profiles.metrics["min_rows_per_class"] == rows.metrics["min_rows_per_class"] == 400
    assert profiles.evidence[0].rows == rows.evidence[0].rows


def test_data_volume_counts_a_class_only_test_has_as_zero_train_rows_alike():
    frame = make_classification_frame(n=N, n_classes=4, seed=6)
    train = frame.filter(pl.col("label") != 3)
    test = frame.filter(pl.col("label") == 3).head(300).vstack(train.head(3000))
    rows, profiles = both(DataVolume, {"train": train, "test": test}, config_for(type="multiclass"))
    assert rows.status == profiles.status == "warn"
    assert profiles.subjects == rows.subjects == ("3",)
    assert profiles.metrics == rows.metrics


def test_data_volume_against_a_stored_reference_reads_trains_rows(splits, tmp_path):
    train, _, prod = splits
    pctx = against_reference(tmp_path, train, prod.drop("label"))
    result = DataVolume().run_profiles(pctx, DataVolume.Params())
    assert result.status == "pass"
    assert result.metrics == {"rows_train": 12_000, "rows_production": 4000}
