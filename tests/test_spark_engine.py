"""The Spark engine makes the polars engine's profiles: same spec, same counts, same samples.

One local Spark session for the module; ~20k rows. Only the row-hash function differs between
the engines, so hashes are compared by their counts (and, within Spark, exactly).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime", allow_module_level=True)

import qa.profile
from qa.engines import EngineResult, ProfileTask, polars_engine, spark_engine
from qa.errors import DataError
from qa.profile import (
    SKETCH_SIZE,
    CategoricalProfile,
    ColumnSpec,
    NumericProfile,
    Profile,
    ProfileSet,
    ProfileSpec,
)

ROWS = 20_000
TASK = ProfileTask(target="y", structural=("id",), sample_rows=50_000)


def records(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    """Numbers with NaN/null/±inf/-0.0, integers, low- and high-cardinality text (non-ASCII
    included: UTF-16 and code point order disagree on "！" and "🙂"), booleans, datetimes from
    before 1970, dates, an id and a binary target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(5 + shift, 2, n)
    x[rng.random(n) < 0.02] = np.nan
    x[:6] = [np.inf, -np.inf, np.inf, -0.0, 0.0, np.nan]
    seconds = rng.integers(-(10**8), 10**9, n)
    frame = pl.DataFrame(
        {
            "id": [f"r{seed}-{i}" for i in range(n)],
            "x": x,
            "i": rng.integers(-50, 50, n),
            "i32": pl.Series(rng.integers(0, 1000, n), dtype=pl.Int32),
            "f32": rng.normal(10, 3, n).astype(np.float32),
            "s": rng.choice(["a", "B", "é", "日本", "🙂", "！", "Z"], n),
            "hi": [("！" if i % 2 else "🙂") + str(rng.integers(10**6)) for i in range(n)],
            "b": rng.random(n) < 0.3,
            "ts": [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(s)) for s in seconds],
            "d": [dt.date(1960, 1, 1) + dt.timedelta(days=int(s)) for s in seconds % 30_000],
            "y": rng.integers(0, 2, n),
        }
    )
    holes = pl.Series(rng.random(n) < 0.01)
    return frame.with_columns(
        *(pl.when(holes).then(None).otherwise(pl.col(c)).alias(c) for c in ("x", "i", "s", "ts")),
        pl.when(pl.col("i32") > 990).then(None).otherwise(pl.col("b")).alias("b"),
    )


def train_frame() -> pl.DataFrame:
    frame = records(ROWS - 100, seed=0)
    copies = frame.slice(1000, 50)  # exact duplicates, and records with the other label
    relabelled = frame.slice(2000, 50).with_columns((1 - pl.col("y")).alias("y"))
    return pl.concat([frame, copies, relabelled])


def shifted_frame() -> pl.DataFrame:
    """Shifted numbers, values train never had, an extra column, no target and a feature less
    (so no row hashes: rows of different columns do not compare)."""
    frame = records(5_000, seed=1, shift=30.0).with_columns(
        pl.col("s").replace({"a": "new", "Z": "Ω"}),
        (pl.col("i") * 3).alias("i"),
        pl.lit(1.5).alias("extra"),
    )
    return frame.drop("y", "f32")


#: Where this module starts the JVM: its quick compiler only (a short run of small jobs: half
#: the CPU time of the JIT's optimising tier).
JVM_OPTIONS = "--driver-java-options '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC' pyspark-shell"


@pytest.fixture(scope="module")
def spark() -> Any:
    with pytest.MonkeyPatch.context() as env:
        if "PYSPARK_SUBMIT_ARGS" not in os.environ:
            env.setenv("PYSPARK_SUBMIT_ARGS", JVM_OPTIONS)
        try:
            session = spark_engine.session("local[2]")
        except Exception as exc:  # pyspark without a Java runtime
            pytest.skip(f"no local Spark: {exc}")
    session.conf.set("spark.sql.shuffle.partitions", "2")  # tiny data: fewer, fuller tasks
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spark")
    train, test = train_frame(), shifted_frame()
    paths = {"train": folder / "train.parquet", "test": folder / "test.parquet"}
    train.write_parquet(paths["train"])
    test.write_parquet(paths["test"])
    for i, part in enumerate((train.slice(0, 12_000), train.slice(12_000))):
        paths[f"part{i}"] = folder / f"part{i}.parquet"
        part.write_parquet(paths[f"part{i}"])
    return paths


@pytest.fixture(scope="module")
def engines(spark: Any, data: dict[str, Path]) -> tuple[EngineResult, EngineResult]:
    splits = {"train": data["train"], "test": data["test"]}
    return (
        polars_engine.profile_splits(splits, TASK),
        spark_engine.profile_splits(splits, TASK, spark=spark),
    )


# --------------------------------------------------------------------------- comparing
def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or math.isclose(a, b, rel_tol=1e-9)


def assert_same_column(name: str, a: Any, b: Any) -> None:
    assert type(a) is type(b), name
    if isinstance(a, NumericProfile):
        for field in ("rows", "nulls", "nans", "count", "pos_inf", "neg_inf", "hist"):
            assert getattr(a, field) == getattr(b, field), f"{name}.{field}"
        for field in ("min", "max", "mean", "m2"):
            assert close(getattr(a, field), getattr(b, field)), f"{name}.{field}"
    else:
        assert isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile)
        for field in ("rows", "nulls", "counts", "other", "other_examples"):
            assert getattr(a, field) == getattr(b, field), f"{name}.{field}"
        # Different value hashes: the same number of distinct values while exact.
        assert min(len(a.sketch), SKETCH_SIZE) == min(len(b.sketch), SKETCH_SIZE), name
        assert b.sketch == sorted(set(b.sketch)) and all(0 <= h < 2**64 for h in b.sketch)


def assert_same_profile(a: Profile, b: Profile) -> None:
    assert (a.rows, a.dtypes, a.extra_columns, a.missing_columns) == (
        b.rows,
        b.dtypes,
        b.extra_columns,
        b.missing_columns,
    )
    assert list(a.columns) == list(b.columns)
    for name in a.columns:
        assert_same_column(name, a.columns[name], b.columns[name])
    assert a.hashes.total == b.hashes.total
    assert len(a.hashes.features) == len(b.hashes.features)
    for field in ("features", "rows"):  # duplicates found alike
        mine, theirs = getattr(a.hashes, field), getattr(b.hashes, field)
        assert len(np.unique(mine)) == len(np.unique(theirs)), field


# --------------------------------------------------------------------------- the engines agree
def test_the_engines_fix_the_same_spec_and_samples(engines: tuple[EngineResult, ...]) -> None:
    polars_result, spark_result = engines
    assert spark_result.profiles.spec == polars_result.profiles.spec
    assert spark_result.profiles.spec.fingerprint == polars_result.profiles.spec.fingerprint
    assert (
        spark_result.rows
        == polars_result.rows
        == {
            "train": ROWS,
            "test": 5_000,
            "train.sample": ROWS,
            "test.sample": 5_000,
        }
    )
    for split, sample in polars_result.samples.items():
        assert_frame_equal(spark_result.samples[split], sample)


def test_the_engines_count_alike(engines: tuple[EngineResult, ...]) -> None:
    polars_result, spark_result = engines
    spec = spark_result.profiles.spec
    assert spec.column("hi").categories == () and not spec.column("hi").complete
    assert spec.column("s").complete and "！" in spec.column("s").categories
    assert [c.name for c in spec.columns if c.part] == [
        "ts.hour",
        "ts.weekday",
        "ts.month",
        "d.weekday",
        "d.month",
    ]
    for split in ("train", "test"):
        mine, theirs = polars_result.profiles.splits[split], spark_result.profiles.splits[split]
        assert_same_profile(mine, theirs)
        assert (theirs.engine, theirs.hash_function) == ("spark", "spark-xxhash64")
    test = spark_result.profiles.splits["test"]
    assert test.missing_columns == ["f32", "y"] and test.extra_columns == {"extra": "Float64"}
    assert (test.hashes.total, len(test.hashes.features)) == (5_000, 0)
    assert test.columns["s"].other > 0 and test.columns["x"].hist[-1] > 0
    # The smallest untracked values in Python's (code point) order: "！…" before "🙂…".
    assert test.columns["hi"].other_examples[0].startswith("！")
    train = spark_result.profiles.splits["train"]
    assert len(np.unique(train.hashes.features)) == ROWS - 100  # the 50 copies, relabelled 50
    assert len(np.unique(train.hashes.rows)) == ROWS - 50
    # A valid stored document (schema, 64-bit sketch values as strings, base64 hashes).
    ProfileSet.from_dict(spark_result.profiles.to_dict())


def test_csv_json_a_regression_target_and_an_empty_split(spark: Any, tmp_path: Path) -> None:
    """CSV train (types inferred as polars infers them), JSON-lines test (its dates are text:
    a type change, no calendar parts), an empty production; a numeric target (inferred
    regression) gets bins, not classes."""
    rng = np.random.default_rng(5)
    days = rng.integers(0, 400, 2_000)
    frame = pl.DataFrame(
        {
            "price": rng.gamma(2.0, 50.0, 2_000),
            "c": rng.choice(["u", "v", "w"], 2_000),
            "n": rng.integers(0, 10**6, 2_000),
            "on": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in days],
        }
    )
    paths = {
        "train": tmp_path / "train.csv",
        "test": tmp_path / "test.jsonl",
        "production": tmp_path / "empty.parquet",
    }
    frame.write_csv(paths["train"])
    frame.tail(500).with_columns(pl.col("c").replace({"u": "ü"})).write_ndjson(paths["test"])
    frame.head(0).write_parquet(paths["production"])
    task = ProfileTask(target="price")
    mine = polars_engine.profile_splits(paths, task).profiles
    theirs = spark_engine.profile_splits(paths, task, spark=spark).profiles
    assert theirs.spec == mine.spec and theirs.task == mine.task
    assert theirs.spec.column("price").kind == "numeric" and theirs.task["type"] == "regression"
    for split in paths:
        assert_same_profile(mine.splits[split], theirs.splits[split])
    assert (
        theirs.splits["test"].dtypes["on"] == "String"
        and "on.month" not in theirs.splits["test"].columns
    )
    assert theirs.splits["production"].rows == 0


def test_partition_profiles_merge_into_the_whole(
    spark: Any, data: dict[str, Path], engines: tuple[EngineResult, ...], monkeypatch: Any
) -> None:
    """Exact counts; with few hashes kept, Spark keeps those below the threshold and the
    merge keeps those below the whole's threshold: the whole's hashes below it."""
    whole = engines[1].profiles.splits["train"]  # all 20k hashes kept
    monkeypatch.setattr(qa.profile, "MAX_HASHES", 1_000)
    spec = whole.spec
    # Other integer types in one part: a value hashes alike whichever type a file gave it.
    retyped = spark.read.parquet(str(data["part0"])).selectExpr(
        "* EXCEPT (i, i32)", "CAST(i AS DOUBLE) AS i", "CAST(i32 AS BIGINT) AS i32"
    )
    first = spark_engine.profile_source(retyped, spec, spark=spark)
    spark.read.parquet(str(data["part1"])).createOrReplaceTempView("qa_part1")
    second = spark_engine.profile_source("qa_part1", spec, spark=spark)
    assert (first.source, second.source) == ("(spark DataFrame)", "qa_part1")
    assert first.hashes.features.max() < first.hashes.threshold < 2**64
    merged = first.merge(second)
    assert list(merged.columns) == list(whole.columns) and merged.rows == whole.rows
    for name, column in whole.columns.items():
        assert_same_column(name, merged.columns[name], column)
        if isinstance(column, CategoricalProfile):
            assert merged.columns[name].to_dict() == column.to_dict(), name
    below = whole.hashes.features < np.uint64(merged.hashes.threshold)
    assert 500 < below.sum() < 1_500
    assert np.array_equal(merged.hashes.features, whole.hashes.features[below])
    assert np.array_equal(merged.hashes.rows, whole.hashes.rows[below])


def test_bins_parts_and_hashes_on_the_edges(spark: Any, tmp_path: Path) -> None:
    """Values on bin edges, -0.0, ±inf, NaN and null; calendar parts around midnight before
    1970; nulls in different places of a row hash apart."""
    inf, nan = float("inf"), float("nan")
    frame = pl.DataFrame(
        {
            "x": [-1.0, 0.0, -0.0, 1.0, 2.0, 2.5, inf, -inf, nan, None, -3.0, 1.5],
            "a": [None, 5, 1, 1, 2, 2, 3, 3, 4, 4, 6, 7],
            "b": [5, None, 1, 1, 2, 2, 3, 3, 4, 4, 6, 7],
            "s": ["a", "b", None, "a", "c", "Ω", "ω", "z", "A", "a", "b", "😀"],
            "t": [
                dt.datetime(1969, 12, 31, 23, 59, 59, 999_999) + dt.timedelta(hours=7 * h)
                for h in range(11)
            ]
            + [None],
            "y": [0, 1] * 6,
        }
    )
    columns = (
        ColumnSpec("x", "numeric", "Float64", edges=(-1.0, 0.0, 1.0, 2.0)),
        ColumnSpec("a", "numeric", "Int64", edges=(1.0, 4.0)),
        ColumnSpec("b", "numeric", "Int64", edges=()),
        ColumnSpec("s", "categorical", "String", categories=("a", "b"), complete=False),
        ColumnSpec("t", "numeric", "Datetime(time_unit='us', time_zone=None)", edges=(0.0,)),
        *(
            ColumnSpec(f"t.{p}", "categorical", f"calendar {p}", categories=c, source="t", part=p)
            for p, c in (("hour", ("23",)), ("weekday", ("3", "4")), ("month", ("12",)))
        ),
        ColumnSpec("y", "categorical", "Int64", categories=("0", "1")),
    )
    spec = ProfileSpec(columns, target="y", hash_columns=("a", "b"))
    path = tmp_path / "edges.parquet"
    frame.write_parquet(path)
    theirs = spark_engine.profile_source(path, spec, spark=spark)
    assert_same_profile(polars_engine.profile_frame(frame, spec), theirs)
    x = theirs.columns["x"]
    assert isinstance(x, NumericProfile) and x.hist == [2, 1, 2, 2, 3]  # -0.0 on the edge 0
    assert len(np.unique(theirs.hashes.features)) == 8  # (null, 5) and (5, null) differ


def test_a_seeded_sample_of_the_asked_size(spark: Any, data: dict[str, Path]) -> None:
    task = ProfileTask(target="y", sample_rows=2_000, seed=7)
    sample = spark_engine.sample_source(data["train"], task, spark=spark)
    assert 1_600 < sample.height < 2_400
    assert sample.schema == pl.read_parquet(data["train"]).schema
    again = spark_engine.sample_source(data["train"], task, rows=ROWS, spark=spark)
    assert_frame_equal(again, sample)
    with pytest.raises(DataError, match="20000 rows, but its split has 5"):
        spark_engine.sample_source(data["train"], task, rows=5, spark=spark)


def test_sources_that_cannot_be_read(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        spark_engine.sample_source(tmp_path / "nope.parquet", TASK, spark=spark)
    with pytest.raises(DataError, match="no_such_table"):
        spark_engine.sample_source("no_such_table", TASK, spark=spark)
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"cannot read data\.xlsx"):
        spark_engine.sample_source(tmp_path / "data.xlsx", TASK, spark=spark)
    with pytest.raises(DataError, match="train split"):
        spark_engine.profile_splits({"test": tmp_path / "x.parquet"}, TASK, spark=spark)


def test_without_pyspark_a_data_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(
        DataError, match=r"PySpark is not installed; pip install 'qa-gate\[spark\]'"
    ):
        spark_engine.profile_splits({"train": tmp_path / "train.parquet"}, TASK)
    with pytest.raises(DataError, match="PySpark is not installed"):
        spark_engine.session(None)
