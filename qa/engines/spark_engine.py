"""The Spark engine (``--engine spark``, extra ``qa-gate[spark]``): profiles as Spark jobs.

It makes the same profiles as :mod:`qa.engines.polars_engine` (whose ``profile_frame`` is the
definition) over any path or table Spark reads, or a pyspark DataFrame. Spark does the
scanning; the driver receives only aggregates, the seeded samples and the kept row hashes —
never a whole table.

A source is a path (Parquet, or a folder of it; CSV/TSV with a header and inferred types; JSON
lines; ORC — by extension), a table name (a string without a path separator that names no
existing file: ``spark.table``), or a pyspark DataFrame.

Job plan:

- **Reference pass** on train: (1) one aggregation: the row count and the exact finite min/max
  of every numeric column; (2) the seeded sample (``sample(fraction, seed)``, collected through
  Arrow as a polars frame); (3) one grouped job: the value counts of every low-cardinality
  column ((column, value) pairs exploded and grouped). :func:`qa.engines.build_spec` makes the
  spec from these, exactly as for polars (the Spark schema is mapped to polars dtypes).
- **Counting pass**, per split: (1) one aggregation: rows; per numeric column nulls, NaN, the
  finite count/min/max/mean/``var_pop`` and the ±inf counts; per categorical column nulls;
  (2) one grouped job: histogram bins (``Bucketizer`` on ``[-inf, *edges, +inf]``) and value
  counts as (column, bin, value) pairs grouped once (cached: one scan), reduced in Spark to
  what a profile keeps (tracked counts, the smallest untracked values, the smallest distinct
  value hashes) and collected as one union — the untracked total is the non-null rows less the
  tracked counts; (3) the row hashes below the threshold, filtered in Spark.
- **Samples** of the other splits: a count and the seeded sample.

Dates and datetimes count as epoch seconds and calendar parts from exact microseconds, whatever
the session time zone. Hashes are Spark's ``xxhash64`` (seed 42) read as unsigned 64-bit:
the value sketch hashes each value's text, a row hash the row's values and their null flags
(numbers as doubles, NaN as null), so ``hash_function`` is ``spark-xxhash64``.

Known differences from polars (outside them counts are identical): a tz-aware datetime counts
its calendar parts in UTC (Spark keeps no zone) and its dtype reads ``time_zone='UTC'``;
nanosecond datetimes are microseconds; unsigned integers read as wider signed ones, and
durations (polars writes them as plain Int64) as integers; CSV types are Spark's inference
(integers widened to 64 bits and timestamps made zone-less, as polars reads them); a float counted as categories is written as Spark writes it (``1.0E-5``).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from qa.encoding import column_kind
from qa.engines import (
    EngineResult,
    ProfileTask,
    ReferenceFacts,
    build_spec,
    finite_or_none,
    numeric_kind,
    sample_fraction,
    split_names,
)
from qa.errors import DataError
from qa.profile import (
    HASH_SPACE,
    MAX_CATEGORIES,
    MAX_EXAMPLES,
    SKETCH_SIZE,
    CategoricalProfile,
    ColumnProfile,
    ColumnSpec,
    NumericProfile,
    Profile,
    ProfileSet,
    ProfileSpec,
    RowHashes,
    hash_threshold,
    keep_below,
    sketch_of,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType

DEFAULT_MASTER = "local[2]"
HASH_FUNCTION = "spark-xxhash64"
MISSING = "--engine spark: PySpark is not installed; pip install 'qa-gate[spark]'"
#: Settings of a session this engine creates: datetimes as polars reads them, small shuffles.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "1g",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.caseSensitive": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Not a spark-warehouse folder in the working directory.
    "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "qa-gate-spark-warehouse"),
}
#: Adding this flips the sign bit: unsigned 64-bit order becomes Spark's signed order.
SIGN_BIT = -(2**63)
MICROS_PER_DAY = 86_400_000_000
EPOCH_NTZ = "TIMESTAMP_NTZ'1970-01-01 00:00:00'"

SparkSource = str | Path | Any  # a path, a table name or a pyspark DataFrame


# --------------------------------------------------------------------------- public functions
def session(master: str | None = None) -> SparkSession:
    """The active Spark session, or a new local one (UTC, quiet, 8 shuffle partitions)."""
    _require_pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master or DEFAULT_MASTER).appName("qa-gate")
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    with contextlib.suppress(Exception):  # Spark Connect has no SparkContext
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def profile_splits(
    sources: Mapping[str, SparkSource],
    task: ProfileTask,
    spark: SparkSession | None = None,
    master: str | None = None,
) -> EngineResult:
    """Profile every split (train first fixes the spec), with a seeded sample of each."""
    _require_pyspark()
    names = split_names(sources)
    if "train" not in sources:
        raise DataError("data.train: profiles need the train split (it fixes the bins)")
    spark = _session(spark, master, sources.values())
    frames = {name: read(spark, sources[name], f"data.{name}") for name in names}
    schema = polars_schema(frames["train"])
    rows, extremes = _count_and_extremes(frames["train"], schema, "data.train")
    counted = {"train": rows}
    counted.update({n: _count(frames[n], f"data.{n}") for n in names if n != "train"})
    samples = {name: _sample(frames[name], counted[name], task) for name in names}
    task = task.resolved(samples["train"])
    domains = _domains(frames["train"], schema, samples["train"], task)
    spec = build_spec(ReferenceFacts(schema, samples["train"], extremes, domains), task)
    profiles = {
        name: _profile(spark, frames[name], spec, _source_name(sources[name])) for name in names
    }
    task_doc = {"target": task.target, "type": task.task_type, "structural": list(task.structural)}
    return EngineResult(
        ProfileSet(spec, profiles, task_doc),
        samples,
        {**counted, **{f"{n}.sample": s.height for n, s in samples.items()}},
    )


def profile_source(
    source: SparkSource,
    spec: ProfileSpec,
    spark: SparkSession | None = None,
    master: str | None = None,
) -> Profile:
    """One split counted into an existing spec (e.g. production against a stored reference)."""
    _require_pyspark()
    spark = _session(spark, master, [source])
    return _profile(spark, read(spark, source, "data"), spec, _source_name(source))


def sample_source(
    source: SparkSource,
    task: ProfileTask,
    rows: int | None = None,
    spark: SparkSession | None = None,
    master: str | None = None,
) -> pl.DataFrame:
    """A seeded uniform sample of about ``task.sample_rows`` rows of one source; ``rows``: the
    row count it must have (as polars' ``sample_source``)."""
    _require_pyspark()
    spark = _session(spark, master, [source])
    frame = read(spark, source, "data")
    found = _count(frame, "data")
    if rows is not None and found != rows:
        raise DataError(f"{_source_name(source)}: {found} rows, but its split has {rows}")
    return _sample(frame, found, task)


# --------------------------------------------------------------------------- reading
def read(spark: SparkSession, source: SparkSource, what: str) -> DataFrame:
    """A Spark DataFrame of a path (by extension), a table name or a DataFrame."""
    from pyspark.errors import PySparkException
    from pyspark.sql import DataFrame

    if isinstance(source, DataFrame):
        return source
    text = str(source)
    try:
        if not _is_path(source):
            return spark.table(text)
        return _read_path(spark, text, what)
    except PySparkException as exc:
        kind = "a path" if _is_path(source) else "a file or a table"
        raise DataError(f"{what}: cannot read {text} as {kind} ({_first_line(exc)})") from None


def _is_path(source: SparkSource) -> bool:
    if isinstance(source, Path):
        return True
    text = str(source)
    return "/" in text or "\\" in text or Path(text).exists()


def _read_path(spark: SparkSession, text: str, what: str) -> DataFrame:
    path = Path(text)
    if "://" not in text and not path.exists():
        raise DataError(f"{what}: {path} does not exist")
    suffix = path.suffix.lower()
    reader = spark.read
    if suffix in (".parquet", ".pq") or (not suffix and path.is_dir()):
        return reader.parquet(text)
    if suffix in (".csv", ".txt", ".tsv"):
        sep = "\t" if suffix == ".tsv" else ","
        return _csv_like_polars(reader.csv(text, header=True, inferSchema=True, sep=sep))
    if suffix in (".json", ".jsonl", ".ndjson"):
        return _json_like_polars(reader.json(text), path)
    if suffix == ".orc":
        return reader.orc(text)
    raise DataError(
        f"{what}: cannot read {path.name} (use Parquet, CSV, JSON lines, ORC or a table name)"
    )


def _csv_like_polars(frame: DataFrame) -> DataFrame:
    """Inferred CSV types as polars infers them: integers as 64-bit, timestamps without a zone
    (Spark's inference gives 32-bit integers and zoned timestamps)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    wider: dict[type, str] = {
        T.IntegerType: "bigint",
        T.ShortType: "bigint",
        T.TimestampType: "timestamp_ntz",
    }
    columns = [
        F.col(_quote(f.name)).cast(wider[type(f.dataType)]).alias(f.name)
        if type(f.dataType) in wider
        else F.col(_quote(f.name))
        for f in frame.schema.fields
    ]
    return frame.select(*columns)


def _json_like_polars(frame: DataFrame, path: Path) -> DataFrame:
    """Columns in the order of the first record, as polars reads them (Spark sorts them)."""
    if not path.is_file():
        return frame
    with path.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "{}")
    try:
        keys = list(json.loads(first))
    except (ValueError, TypeError):
        return frame
    order = [k for k in keys if k in frame.columns]
    order += [c for c in frame.columns if c not in order]
    return frame.select(*[_quote(c) for c in order])


def _count(frame: DataFrame, what: str) -> int:
    from pyspark.errors import PySparkException

    try:
        return int(frame.count())
    except PySparkException as exc:
        raise DataError(f"{what}: cannot be read ({_first_line(exc)})") from None


# --------------------------------------------------------------------------- types
def polars_schema(frame: DataFrame) -> dict[str, pl.DataType]:
    """The polars dtype of every column (what ``build_spec`` and the profile's dtypes see)."""
    return {field.name: polars_dtype(field.dataType) for field in frame.schema.fields}


def polars_dtype(dtype: DataType) -> pl.DataType:
    """The polars dtype polars would read for a Spark type (``Object``: none; not profiled)."""
    from pyspark.sql import types as T

    simple: dict[type, pl.DataType] = {
        T.BooleanType: pl.Boolean(),
        T.ByteType: pl.Int8(),
        T.ShortType: pl.Int16(),
        T.IntegerType: pl.Int32(),
        T.LongType: pl.Int64(),
        T.FloatType: pl.Float32(),
        T.DoubleType: pl.Float64(),
        T.StringType: pl.String(),
        T.CharType: pl.String(),
        T.VarcharType: pl.String(),
        T.DateType: pl.Date(),
        T.BinaryType: pl.Binary(),
        T.NullType: pl.Null(),
        T.TimestampType: pl.Datetime("us", "UTC"),
        T.TimestampNTZType: pl.Datetime("us"),
        T.DayTimeIntervalType: pl.Duration("us"),
    }
    if type(dtype) in simple:
        return simple[type(dtype)]
    if isinstance(dtype, T.DecimalType):
        return pl.Decimal(dtype.precision, dtype.scale)
    if isinstance(dtype, T.ArrayType):
        return pl.List(polars_dtype(dtype.elementType))
    if isinstance(dtype, T.MapType):
        entry = {"key": polars_dtype(dtype.keyType), "value": polars_dtype(dtype.valueType)}
        return pl.List(pl.Struct(entry))
    if isinstance(dtype, T.StructType):
        return pl.Struct({f.name: polars_dtype(f.dataType) for f in dtype.fields})
    return pl.Object()


def _spark_types(frame: DataFrame) -> dict[str, DataType]:
    return {field.name: field.dataType for field in frame.schema.fields}


# --------------------------------------------------------------------------- SQL expressions
def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _micros_sql(name: str, dtype: DataType) -> str | None:
    """Exact epoch microseconds of a date/datetime, independent of the session time zone."""
    from pyspark.sql import types as T

    column = _quote(name)
    if isinstance(dtype, T.TimestampType):
        return f"unix_micros({column})"
    if isinstance(dtype, T.TimestampNTZType):
        return f"timestampdiff(MICROSECOND, {EPOCH_NTZ}, {column})"
    if isinstance(dtype, T.DateType):
        return f"(CAST(unix_date({column}) AS BIGINT) * {MICROS_PER_DAY})"
    return None


def _number_sql(name: str, dtype: DataType) -> str:
    """A column as float64, as ``qa.engines.as_numbers`` makes it (temporal: seconds)."""
    from pyspark.sql import types as T

    column = _quote(name)
    micros = _micros_sql(name, dtype)
    if micros is None and isinstance(dtype, T.DayTimeIntervalType):
        micros = f"timestampdiff(MICROSECOND, {EPOCH_NTZ}, {EPOCH_NTZ} + {column})"
    if micros is not None:
        return f"(CAST({micros} AS DOUBLE) / 1e6)"
    if isinstance(dtype, T.NumericType | T.BooleanType):
        return f"CAST({column} AS DOUBLE)"
    if isinstance(dtype, T.StringType | T.CharType | T.VarcharType):
        return f"TRY_CAST({column} AS DOUBLE)"
    return "CAST(NULL AS DOUBLE)"  # a type change to lists etc.: the schema check reports it


def _zero_sql(number: str) -> str:
    """-0.0 as 0.0: numpy bins it on the edge 0 and Bucketizer below it, and a range that
    ends at a signed zero would otherwise end at whichever zero the aggregation met first."""
    return f"(CASE WHEN {number} = 0 THEN 0.0D ELSE {number} END)"


def _part_sql(name: str, dtype: DataType, part: str) -> str:
    """A calendar part of a date/datetime (polars numbering: ISO weekday 1 = Monday) as text."""
    micros = _micros_sql(name, dtype)
    assert micros is not None
    days = f"(({micros} - pmod({micros}, {MICROS_PER_DAY})) div {MICROS_PER_DAY})"
    value = {
        "hour": f"(pmod({micros}, {MICROS_PER_DAY}) div 3600000000)",
        "weekday": f"(pmod({days} + 3, 7) + 1)",  # 1970-01-01 was a Thursday (4)
        "month": f"month(date_from_unix_date(CAST({days} AS INT)))",
    }[part]
    return f"CAST({value} AS STRING)"


def _text_sql(name: str) -> str:
    """A categorical value as text (booleans ``true``/``false``, integers ``0``/``1``)."""
    return f"CAST({_quote(name)} AS STRING)"


def _hash_args(name: str, dtype: DataType) -> list[str]:
    """A column's part of a row hash: its value — numbers as doubles (NaN as null), so a value
    hashes alike whichever type a file gave it, as polars' ``_hashable`` — and its null flag
    (Spark's xxhash64 skips nulls: without it ``(null, 1)`` and ``(1, null)`` hash alike)."""
    from pyspark.sql import types as T

    column = _quote(name)
    if isinstance(dtype, T.NumericType):
        value = f"CAST({column} AS DOUBLE)"
        value = f"(CASE WHEN isnan({value}) THEN NULL ELSE {value} END)"
    else:
        value = column
    return [value, f"({value} IS NULL)"]


# --------------------------------------------------------------------------- reference pass
def _count_and_extremes(
    frame: DataFrame, schema: Mapping[str, pl.DataType], what: str
) -> tuple[int, dict[str, tuple[float | None, float | None]]]:
    """One job: the row count and the exact finite min/max of every numeric column (the
    target's too: the sample that tells whether it is a class or a number comes later;
    ``build_spec`` reads the range of numeric spec columns only)."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    types = _spark_types(frame)
    numeric = [n for n, t in schema.items() if numeric_kind(t)]
    exprs = [F.count(F.lit(1)).alias("rows")]
    for i, name in enumerate(numeric):
        finite = _finite(F.expr(_zero_sql(_number_sql(name, types[name]))))
        exprs += [F.min(finite).alias(f"min{i}"), F.max(finite).alias(f"max{i}")]
    try:
        row = frame.agg(*exprs).collect()[0]
    except PySparkException as exc:
        raise DataError(f"{what}: cannot be read ({_first_line(exc)})") from None
    extremes = {
        name: (finite_or_none(row[f"min{i}"]), finite_or_none(row[f"max{i}"]))
        for i, name in enumerate(numeric)
    }
    return int(row["rows"]), extremes


def _domains(
    frame: DataFrame, schema: Mapping[str, pl.DataType], sample: pl.DataFrame, task: ProfileTask
) -> dict[str, dict[str, int] | None]:
    """One job: exact value counts of the columns counted as categories whose sample has at
    most MAX_CATEGORIES values (structural columns excluded), as polars' reference pass."""
    from pyspark.sql import functions as F

    candidates = [
        n
        for n, t in schema.items()
        if task.counted_as_categories(n, t)
        and column_kind(t) != "other"
        and n not in task.structural
        and sample.get_column(n).n_unique() <= MAX_CATEGORIES
    ]
    if not candidates:
        return {}
    pairs = [
        F.struct(F.lit(i).alias("c"), F.expr(_text_sql(name)).alias("v"))
        for i, name in enumerate(candidates)
    ]
    counts = (
        frame.select(F.inline(F.array(*pairs)))
        .where(F.col("v").isNotNull())
        .groupBy("c", "v")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    domains: dict[str, dict[str, int] | None] = {name: {} for name in candidates}
    for c, v, n in _to_polars(counts).iter_rows():
        domain = domains[candidates[c]]
        assert domain is not None
        domain[v] = int(n)
    return domains


def _sample(frame: DataFrame, rows: int, task: ProfileTask) -> pl.DataFrame:
    """A seeded uniform (Bernoulli) sample of about ``task.sample_rows`` rows."""
    fraction = sample_fraction(rows, task.sample_rows)
    picked = frame if fraction >= 1.0 else frame.sample(False, fraction, seed=task.seed)
    return _conform(_to_polars(picked), polars_schema(frame))


# --------------------------------------------------------------------------- counting pass
@dataclass(frozen=True)
class _Planned:
    """A spec column present in the split, and its Spark SQL expression."""

    spec: ColumnSpec
    sql: str


def _plan(spec: ProfileSpec, types: Mapping[str, DataType]) -> list[_Planned]:
    """The spec columns this split has (a calendar part when its source column is here and
    still a date: else the schema check reports the type change)."""
    planned: list[_Planned] = []
    for col in spec.columns:
        base = col.source if col.part else col.name
        if base is None or base not in types:
            continue
        if col.part:
            if _micros_sql(base, types[base]) is None:
                continue
            sql = _part_sql(base, types[base], col.part)
        elif col.kind == "numeric":
            sql = _number_sql(base, types[base])
        else:
            sql = _text_sql(base)
        planned.append(_Planned(col, sql))
    return planned


def _profile(spark: SparkSession, frame: DataFrame, spec: ProfileSpec, source: str) -> Profile:
    """A split counted into ``spec``: the moments job, the counts job, the row hashes."""
    types = _spark_types(frame)
    planned = _plan(spec, types)
    numeric = [p for p in planned if p.spec.kind == "numeric"]
    categorical = [p for p in planned if p.spec.kind != "numeric"]
    prepared = _prepare(frame, numeric, categorical)
    moments = _moments(prepared, numeric, categorical, source)
    rows = int(moments["rows"])
    counts = _counts(spark, prepared, numeric, categorical)
    columns: dict[str, ColumnProfile] = {}
    for i, p in enumerate(numeric):
        columns[p.spec.name] = _numeric_profile(p.spec, i, rows, moments, counts)
    for j, p in enumerate(categorical):
        columns[p.spec.name] = _categorical_profile(j, rows, moments, counts)
    names = frame.columns
    present = [c.name for c in spec.columns if c.part is None and c.name in types]
    dtypes = polars_schema(frame)
    return Profile(
        spec=spec,
        rows=rows,
        columns={c.name: columns[c.name] for c in spec.columns if c.name in columns},
        hashes=_row_hashes(frame, spec, rows),
        hash_function=HASH_FUNCTION,
        source=source,
        engine="spark",
        extra_columns={c: str(dtypes[c]) for c in names if c not in spec.names},
        missing_columns=[c.name for c in spec.columns if c.part is None and c.name not in present],
        dtypes={c: str(dtypes[c]) for c in present},
    )


def _prepare(
    frame: DataFrame, numeric: Sequence[_Planned], categorical: Sequence[_Planned]
) -> DataFrame:
    """Numbers as ``n<i>`` (-0.0 as 0.0) and categorical values as text ``t<j>``; a ``__one``
    column so that no projection is empty."""
    from pyspark.sql import functions as F

    exprs = [F.lit(1).alias("__one")]
    exprs += [F.expr(_zero_sql(p.sql)).alias(f"n{i}") for i, p in enumerate(numeric)]
    exprs += [F.expr(p.sql).alias(f"t{j}") for j, p in enumerate(categorical)]
    return frame.select(*exprs)


def _finite(number: Column) -> Column:
    from pyspark.sql import functions as F

    inf = float("inf")
    return F.when(~F.isnan(number) & (number != inf) & (number != -inf), number)


def _moments(
    prepared: DataFrame,
    numeric: Sequence[_Planned],
    categorical: Sequence[_Planned],
    source: str,
) -> dict[str, Any]:
    """One aggregation: rows; per numeric column missing/finite/infinite counts and finite
    min/max/mean/var_pop; per categorical column nulls."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    def count_if(condition: Column) -> Column:
        return F.count(F.when(condition, F.lit(1)))

    exprs = [F.count(F.lit(1)).alias("rows")]
    for i in range(len(numeric)):
        x = F.col(f"n{i}")
        finite = _finite(x)
        exprs += [
            count_if(x.isNull()).alias(f"nulls{i}"),
            count_if(F.isnan(x)).alias(f"nans{i}"),
            F.count(finite).alias(f"count{i}"),
            F.min(finite).alias(f"min{i}"),
            F.max(finite).alias(f"max{i}"),
            F.avg(finite).alias(f"mean{i}"),
            F.var_pop(finite).alias(f"var{i}"),
            count_if(x == float("inf")).alias(f"pos{i}"),
            count_if(x == float("-inf")).alias(f"neg{i}"),
        ]
    exprs += [
        count_if(F.col(f"t{j}").isNull()).alias(f"tnulls{j}") for j in range(len(categorical))
    ]
    try:
        return prepared.agg(*exprs).collect()[0].asDict()
    except PySparkException as exc:
        raise DataError(f"{source}: cannot be read ({_first_line(exc)})") from None


@dataclass
class _Counts:
    """What the counts job brings back, by planned column index."""

    hist: dict[int, dict[int, int]]
    tracked: dict[int, dict[str, int]]
    examples: dict[int, list[str]]
    sketch: dict[int, list[int]]


def _counts(
    spark: SparkSession,
    prepared: DataFrame,
    numeric: Sequence[_Planned],
    categorical: Sequence[_Planned],
) -> _Counts:
    """One grouped job: (column, bin) and (column, value) pairs counted, reduced in Spark."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    out = _Counts({}, {}, {}, {})
    binned = [i for i, p in enumerate(numeric) if p.spec.edges]
    if not binned and not categorical:
        return out
    grouped = _grouped_pairs(_bucketize(prepared, numeric, binned), binned, len(categorical))
    # Cached: the branches below read the grouped pairs once (Spark would otherwise push their
    # filters and joins below the aggregation and scan the split once per branch).
    grouped = grouped.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        parts = []
        if binned:
            hist = grouped.where(F.col("k").isNotNull())
            parts.append(hist.select(F.lit("hist").alias("kind"), "c", "k", "v", "n"))
        if categorical:
            parts += _category_parts(spark, grouped.where(F.col("v").isNotNull()), categorical)
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        for kind, c, k, v, n in _to_polars(union).iter_rows():
            _collect_row(out, kind, c, k, v, n)
    finally:
        grouped.unpersist()
    return out


def _bucketize(prepared: DataFrame, numeric: Sequence[_Planned], binned: list[int]) -> DataFrame:
    """Bin ``n<i>`` into ``b<i>`` on ``[-inf, *edges, +inf]``: Bucketizer's bins are
    ``[s_j, s_j+1)`` with the last one closed, numpy ``searchsorted(side="right")``; NaN goes to
    an extra bin (``handleInvalid="keep"``) that the counts drop, null stays null."""
    if not binned:
        return prepared
    from pyspark.ml.feature import Bucketizer

    inf = float("inf")
    splits = [[-inf, *(e + 0.0 for e in numeric[i].spec.edges), inf] for i in binned]
    bucketizer = Bucketizer(
        splitsArray=splits,
        inputCols=[f"n{i}" for i in binned],
        outputCols=[f"b{i}" for i in binned],
        handleInvalid="keep",
    )
    return bucketizer.transform(prepared)


def _grouped_pairs(frame: DataFrame, binned: list[int], n_categorical: int) -> DataFrame:
    """``(c, k, v, n)``: rows per histogram bin ``k`` of numeric column ``c`` and per value
    ``v`` of categorical column ``c`` — one explode, one shuffle."""
    from pyspark.sql import functions as F

    no_bin, no_value = F.lit(None).cast("long"), F.lit(None).cast("string")
    pairs = []
    for i in binned:
        x, b = F.col(f"n{i}"), F.col(f"b{i}")
        k = F.when(x.isNotNull() & ~F.isnan(x), b.cast("long"))
        pairs.append(F.struct(F.lit(i).alias("c"), k.alias("k"), no_value.alias("v")))
    for j in range(n_categorical):
        value = F.col(f"t{j}")
        pairs.append(F.struct(F.lit(j).alias("c"), no_bin.alias("k"), value.alias("v")))
    exploded = frame.select(F.inline(F.array(*pairs)))
    kept = exploded.where(F.col("k").isNotNull() | F.col("v").isNotNull())
    return kept.groupBy("c", "k", "v").agg(F.count(F.lit(1)).alias("n"))


def _category_parts(
    spark: SparkSession, values: DataFrame, categorical: Sequence[_Planned]
) -> list[DataFrame]:
    """From ``(c, v, n)`` distinct values: tracked counts, the MAX_EXAMPLES smallest
    untracked values (Spark orders strings by UTF-8 bytes: Python's code
    point order) and the SKETCH_SIZE smallest distinct hashes (unsigned order)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    tracked = F.broadcast(_tracked_categories(spark, categorical))
    counts = values.join(tracked, ["c", "v"], "left_semi")
    untracked = values.join(tracked, ["c", "v"], "left_anti")
    by_value = Window.partitionBy("c").orderBy("v")
    examples = untracked.withColumn("r", F.row_number().over(by_value))
    hashes = values.select("c", F.xxhash64("v").alias("k"))
    by_hash = Window.partitionBy("c").orderBy(F.col("k").bitwiseXOR(F.lit(SIGN_BIT)))
    smallest = hashes.withColumn("r", F.dense_rank().over(by_hash))
    no_bin, no_value, zero = (
        F.lit(None).cast("long"),
        F.lit(None).cast("string"),
        F.lit(0).cast("long"),
    )
    return [
        counts.select(F.lit("count").alias("kind"), "c", no_bin.alias("k"), "v", "n"),
        examples.where(F.col("r") <= MAX_EXAMPLES).select(
            F.lit("example").alias("kind"), "c", no_bin.alias("k"), "v", zero.alias("n")
        ),
        smallest.where(F.col("r") <= SKETCH_SIZE).select(
            F.lit("sketch").alias("kind"), "c", "k", no_value.alias("v"), zero.alias("n")
        ),
    ]


def _tracked_categories(spark: SparkSession, categorical: Sequence[_Planned]) -> DataFrame:
    """``(c, v)``: the tracked categories, sent as one JSON literal (a DataFrame made from a
    Python list would start Python workers; a literal array would cost a call per value)."""
    from pyspark.sql import functions as F

    pairs = [{"c": j, "v": v} for j, p in enumerate(categorical) for v in p.spec.categories]
    parsed = F.from_json(F.lit(json.dumps(pairs)), "array<struct<c:int,v:string>>")
    return spark.range(1).select(F.inline(parsed))


def _collect_row(out: _Counts, kind: str, c: int, k: int | None, v: str | None, n: int) -> None:
    if kind == "hist":
        assert k is not None
        out.hist.setdefault(c, {})[k] = int(n)
    elif kind == "count":
        assert v is not None
        out.tracked.setdefault(c, {})[v] = int(n)
    elif kind == "example":
        assert v is not None
        out.examples.setdefault(c, []).append(v)
    else:
        assert k is not None
        out.sketch.setdefault(c, []).append(k & (HASH_SPACE - 1))


def _numeric_profile(
    spec: ColumnSpec, i: int, rows: int, moments: Mapping[str, Any], counts: _Counts
) -> NumericProfile:
    count = int(moments[f"count{i}"])
    bins = counts.hist.get(i, {})
    hist = [bins.get(b, 0) for b in range(len(spec.edges) + 1)] if spec.edges else []
    return NumericProfile(
        rows=rows,
        nulls=int(moments[f"nulls{i}"]),
        nans=int(moments[f"nans{i}"]),
        count=count,
        min=finite_or_none(moments[f"min{i}"]),
        max=finite_or_none(moments[f"max{i}"]),
        mean=float(moments[f"mean{i}"]) if count else 0.0,
        m2=float(moments[f"var{i}"]) * count if count else 0.0,
        pos_inf=int(moments[f"pos{i}"]),
        neg_inf=int(moments[f"neg{i}"]),
        hist=hist,
    )


def _categorical_profile(
    j: int, rows: int, moments: Mapping[str, Any], counts: _Counts
) -> CategoricalProfile:
    tracked = counts.tracked.get(j, {})
    nulls = int(moments[f"tnulls{j}"])
    return CategoricalProfile(
        rows=rows,
        nulls=nulls,
        counts=dict(sorted(tracked.items())),
        other=rows - nulls - sum(tracked.values()),  # a value's text is null only when it is
        other_examples=sorted(counts.examples.get(j, []))[:MAX_EXAMPLES],
        sketch=sketch_of(np.asarray(counts.sketch.get(j, []), dtype=np.uint64)),
    )


# --------------------------------------------------------------------------- row hashes
def _row_hashes(frame: DataFrame, spec: ProfileSpec, rows: int) -> RowHashes:
    """xxhash64 of every row's features (and features + target), those below the threshold
    kept (filtered in Spark); none when a feature is absent (as polars)."""
    from pyspark.sql import functions as F

    types = _spark_types(frame)
    features = list(spec.hash_columns)
    if not features or any(c not in types for c in features):
        return RowHashes(rows)
    feature_args = [F.expr(a) for c in features for a in _hash_args(c, types[c])]
    feature_hash = F.xxhash64(*feature_args)
    row_hash = feature_hash
    if spec.target is not None and spec.target in types:
        target_args = [F.expr(a) for a in _hash_args(spec.target, types[spec.target])]
        row_hash = F.xxhash64(*feature_args, *target_args)
    hashes = frame.select(feature_hash.alias("f"), row_hash.alias("r"))
    threshold = hash_threshold(rows)
    if threshold < HASH_SPACE:
        unsigned = F.col("f").bitwiseXOR(F.lit(SIGN_BIT))
        hashes = hashes.where(unsigned < F.lit(threshold + SIGN_BIT))
    kept = _to_polars(hashes)
    as_unsigned = [kept.get_column(c).to_numpy().astype(np.int64).view(np.uint64) for c in "fr"]
    return RowHashes(rows, *keep_below(as_unsigned[0], as_unsigned[1], threshold))


# --------------------------------------------------------------------------- helpers
def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise DataError(MISSING) from None


def _session(spark: SparkSession | None, master: str | None, sources: Any) -> SparkSession:
    """The given session, else that of a DataFrame source, else :func:`session`."""
    if spark is not None:
        return spark
    from pyspark.sql import DataFrame

    for source in sources:
        if isinstance(source, DataFrame):
            return source.sparkSession
    return session(master)


def _to_polars(frame: DataFrame) -> pl.DataFrame:
    """Collect a (small) Spark DataFrame through Arrow."""
    if hasattr(frame, "toArrow"):
        out = pl.from_arrow(frame.toArrow())
    else:  # pyspark 3.5
        out = pl.from_pandas(frame.toPandas())
    assert isinstance(out, pl.DataFrame)
    return out


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Cast sample columns to the mapped dtypes where the Arrow/pandas route differs (by
    position: polars reads a name like ``^x.*$`` as a pattern)."""
    casts = []
    for index, (name, have) in enumerate(frame.schema.items()):
        dtype = schema.get(name)
        if dtype is None or have == dtype or column_kind(dtype) == "other":
            continue
        column = pl.nth(index)
        if isinstance(dtype, pl.Datetime) and isinstance(have, pl.Datetime):
            if dtype.time_zone and not have.time_zone:
                column = column.dt.replace_time_zone(dtype.time_zone)
            casts.append(column.cast(dtype))
        else:
            casts.append(column.cast(dtype, strict=False))
    return frame.with_columns(casts) if casts else frame


def _source_name(source: Any) -> str:
    return str(source) if isinstance(source, str | Path) else "(spark DataFrame)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
