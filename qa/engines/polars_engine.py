"""The default engine: polars, streaming a file in batches (memory bounded by the batch).

A source is a path (CSV/TSV, Parquet, Feather/IPC, JSON lines — scanned lazily) or an
in-memory polars DataFrame. :func:`profile_frame` is the definition of a profile of one batch;
the streaming pass merges batch profiles exactly, so the profile of a file does not depend on
the batch size. :func:`profile_predictions` profiles a split's prediction file the same way
(whatever engine profiles the splits: prediction files are files).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from qa.data import CSV_INFER_ROWS
from qa.encoding import column_kind
from qa.engines import (
    HASH_SEED,
    EngineResult,
    ProfileTask,
    ReferenceFacts,
    as_numbers,
    as_text,
    build_spec,
    calendar_parts,
    finite_or_none,
    numeric_kind,
    sample_fraction,
    split_names,
)
from qa.errors import DataError, ModelError
from qa.profile import (
    MAX_CATEGORIES,
    MAX_EXAMPLES,
    SCORE_EDGES,
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
    merge_all,
    merge_columns,
    sketch_of,
)

#: Rows per streamed batch: ~200 MB of float64 at 50 columns.
BATCH_ROWS = 500_000
HASH_FUNCTION = f"polars-{pl.__version__}-hash_rows"
SAMPLE_INDEX = "__qa_row_index"

Source = str | Path | pl.DataFrame


def scan(source: Source, what: str) -> pl.LazyFrame:
    """A lazy scan of a path (by extension) or a DataFrame."""
    if isinstance(source, pl.DataFrame):
        return source.lazy()
    path = Path(source)
    if not path.exists():
        raise DataError(f"{what}: {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pl.scan_parquet(path)
    if suffix in (".csv", ".txt"):
        return pl.scan_csv(path, try_parse_dates=True, infer_schema_length=CSV_INFER_ROWS)
    if suffix == ".tsv":
        return pl.scan_csv(
            path, separator="\t", try_parse_dates=True, infer_schema_length=CSV_INFER_ROWS
        )
    if suffix in (".feather", ".arrow", ".ipc"):
        return pl.scan_ipc(path)
    if suffix in (".jsonl", ".ndjson"):
        return pl.scan_ndjson(path)
    raise DataError(f"{what}: cannot stream {path.name} (use CSV, Parquet, Feather or JSON lines)")


def profile_splits(
    sources: Mapping[str, Source], task: ProfileTask, batch_rows: int = BATCH_ROWS
) -> EngineResult:
    """Profile every split (train first fixes the spec), with a seeded sample of each."""
    names = split_names(sources)
    if "train" not in sources:
        raise DataError("data.train: profiles need the train split (it fixes the bins)")
    scans = {name: scan(sources[name], f"data.{name}") for name in names}
    rows = {name: _rows(scans[name], f"data.{name}") for name in names}
    samples = {name: _sample(scans[name], rows[name], task) for name in names}
    task = task.resolved(samples["train"])
    spec = build_spec(_reference_facts(scans["train"], samples["train"], task), task)
    profiles = {
        name: _profile_scan(scans[name], spec, _source_name(sources[name]), batch_rows)
        for name in names
    }
    task_doc = {"target": task.target, "type": task.task_type, "structural": list(task.structural)}
    return EngineResult(
        ProfileSet(spec, profiles, task_doc),
        samples,
        {**rows, **{f"{n}.sample": s.height for n, s in samples.items()}},
    )


def profile_source(source: Source, spec: ProfileSpec, batch_rows: int = BATCH_ROWS) -> Profile:
    """One split counted into an existing spec (e.g. production against a stored reference)."""
    return _profile_scan(scan(source, "data"), spec, _source_name(source), batch_rows)


def sample_source(source: Source, task: ProfileTask, rows: int | None = None) -> pl.DataFrame:
    """The seeded sample of one source; ``rows`` = the row count the picks are made for (a
    prediction file is sampled like its split: same count, same seed, same rows)."""
    lazy = scan(source, "data")
    found = _rows(lazy, "data")
    if rows is not None and found != rows:
        raise DataError(f"{_source_name(source)}: {found} rows, but its split has {rows}")
    return _sample(lazy, found, task)


def profile_predictions(
    source: Source,
    spec: ProfileSpec,
    task_type: str,
    what: str = "model.predictions",
    batch_rows: int = BATCH_ROWS,
) -> dict[str, ColumnProfile]:
    """The profile of a prediction file, streamed in batches: every ``proba_<label>`` column
    on ``SCORE_EDGES``; ``prediction`` as categories, every value tracked (classification), or
    on the target's edges (regression). Row order and the id column play no part."""
    lazy = scan(source, what)
    try:
        schema = lazy.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{what}: cannot be read ({str(exc).splitlines()[0]})") from None
    name = _source_name(source)
    if "prediction" not in schema:
        raise ModelError(f"{what}: {name} has no 'prediction' column")
    scores = [c for c in schema if c.startswith("proba_")]
    for column in scores:
        if not schema[column].is_numeric():
            raise ModelError(f"{what}: {name} column {column!r} is not numeric")
    wanted = ["prediction", *scores]
    position = {c: i for i, c in enumerate(schema)}  # by position: names may look like patterns
    picked = lazy.select(pl.nth(position[c]) for c in wanted)
    merged: dict[str, ColumnProfile] = {}
    try:
        for batch in _batches(picked, batch_rows):
            found = prediction_frame(
                batch.rename(dict(zip(batch.columns, wanted, strict=True))), spec, task_type
            )
            merged = merge_columns(merged, found)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{what}: {name} cannot be read ({str(exc).splitlines()[0]})") from None
    return merged


def prediction_frame(
    frame: pl.DataFrame, spec: ProfileSpec, task_type: str
) -> dict[str, ColumnProfile]:
    """The prediction profile of one in-memory batch of a prediction file."""
    out: dict[str, ColumnProfile] = {}
    prediction = frame.get_column("prediction")
    if task_type == "regression":
        target = spec.target
        edges = spec.column(target).edges if target and target in spec.names else ()
        column = ColumnSpec("prediction", "numeric", str(prediction.dtype), edges=edges)
        out["prediction"] = numeric_profile(prediction, column)
    else:
        labels = _label_text(prediction)
        seen = tuple(sorted(labels.drop_nulls().unique().to_list()))
        column = ColumnSpec("prediction", "categorical", str(prediction.dtype), categories=seen)
        out["prediction"] = categorical_profile(labels, column)
    for name in frame.columns:
        if name.startswith("proba_"):
            score = ColumnSpec(name, "numeric", "Float64", edges=SCORE_EDGES)
            out[name] = numeric_profile(frame.get_column(name), score)
    return out


def _label_text(series: pl.Series) -> pl.Series:
    """Predicted labels as strings: a whole float as the integer (``1.0`` -> ``1``, the class
    a CSV's ``1.0`` stands for), booleans as ``true``/``false``, like the target's counts."""
    if series.dtype.is_float():
        value = pl.col("value")
        whole = value.is_finite() & (value == value.round(0))
        as_int = value.cast(pl.Int64, strict=False).cast(pl.String)
        text = pl.when(whole).then(as_int).otherwise(value.cast(pl.String))
        return series.rename("value").to_frame().select(text.alias("value")).to_series()
    return as_text(series)


# --------------------------------------------------------------------------- one batch
def profile_frame(frame: pl.DataFrame, spec: ProfileSpec, source: str = "") -> Profile:
    """The profile of one in-memory frame under ``spec``."""
    columns: dict[str, ColumnProfile] = {}
    for col in spec.columns:
        base = col.source if col.part else col.name
        if base is None or base not in frame.columns:
            continue
        series = frame.get_column(base)
        if col.part:
            if not calendar_parts(series.dtype):  # no longer a date: the schema check says so
                continue
            series = getattr(series.dt, col.part)()
        if col.kind == "numeric":
            columns[col.name] = numeric_profile(series, col)
        else:
            columns[col.name] = categorical_profile(series, col)
    present = [c.name for c in spec.columns if c.part is None and c.name in frame.columns]
    return Profile(
        spec=spec,
        rows=frame.height,
        columns=columns,
        hashes=row_hashes(frame, spec),
        hash_function=HASH_FUNCTION,
        source=source,
        engine="polars",
        extra_columns={c: str(frame.schema[c]) for c in frame.columns if c not in spec.names},
        missing_columns=[c.name for c in spec.columns if c.part is None and c.name not in present],
        dtypes={c: str(frame.schema[c]) for c in present},
    )


def numeric_profile(series: pl.Series, spec: ColumnSpec) -> NumericProfile:
    if not numeric_kind(series.dtype):  # a type change: the schema check reports it
        series = series.rename("value").cast(pl.Float64, strict=False)
    values = as_numbers(series)
    nulls = series.null_count()
    nan = np.isnan(values)
    finite = values[np.isfinite(values)]
    counted = values[~nan]
    edges = np.asarray(spec.edges, dtype=np.float64)
    hist = np.bincount(np.searchsorted(edges, counted, side="right"), minlength=len(edges) + 1)
    mean = float(finite.mean()) if len(finite) else 0.0
    return NumericProfile(
        rows=len(values),
        nulls=nulls,
        nans=int(nan.sum()) - nulls,
        count=len(finite),
        min=float(finite.min()) if len(finite) else None,
        max=float(finite.max()) if len(finite) else None,
        mean=mean,
        m2=float(np.sum((finite - mean) ** 2)) if len(finite) else 0.0,
        pos_inf=int(np.sum(counted == np.inf)),
        neg_inf=int(np.sum(counted == -np.inf)),
        hist=[int(c) for c in hist] if len(edges) else [],
    )


def categorical_profile(series: pl.Series, spec: ColumnSpec) -> CategoricalProfile:
    text = as_text(series)
    counts = text.drop_nulls().value_counts(name="n").sort("n", descending=True)
    values, ns = counts.get_column("value").to_list(), counts.get_column("n").to_list()
    tracked = set(spec.categories)
    kept = {v: int(n) for v, n in zip(values, ns, strict=True) if v in tracked}
    untracked = sorted(v for v in values if v not in tracked)
    distinct = pl.Series(values, dtype=pl.String).hash(seed=HASH_SEED).to_numpy()
    return CategoricalProfile(
        rows=len(series),
        nulls=series.null_count(),
        counts=dict(sorted(kept.items())),
        other=int(sum(ns)) - sum(kept.values()),
        other_examples=untracked[:MAX_EXAMPLES],
        sketch=sketch_of(distinct),
    )


def row_hashes(frame: pl.DataFrame, spec: ProfileSpec) -> RowHashes:
    """Hashes of every row's features (and features + target); none when a feature is absent
    (rows of different columns cannot be compared)."""
    features = list(spec.hash_columns)
    if not features or any(c not in frame.columns for c in features):
        return RowHashes(frame.height)
    feature_hash = _hash(_columns(frame, features))
    with_target = features + ([spec.target] if spec.target in frame.columns else [])
    row_hash = (
        _hash(_columns(frame, with_target)) if len(with_target) > len(features) else feature_hash
    )
    kept = keep_below(feature_hash, row_hash, hash_threshold(frame.height))
    return RowHashes(frame.height, *kept)


def _columns(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Columns by name, renamed by position (polars reads ``^x.*$`` as a pattern), numbers as
    Float64 and categories as String, so a value hashes alike whichever type a file gave it."""
    return pl.DataFrame(
        [_hashable(frame.get_column(n)).rename(f"c{i}") for i, n in enumerate(names)]
    )


def _hashable(series: pl.Series) -> pl.Series:
    if series.dtype.is_numeric():
        return series.cast(pl.Float64)
    if isinstance(series.dtype, pl.Categorical | pl.Enum):
        return series.cast(pl.String)
    return series


def _hash(frame: pl.DataFrame) -> np.ndarray:
    # Normalise -0.0 and NaN payloads so equal values hash alike.
    normal = frame.with_columns(
        pl.col(c).fill_nan(None) + 0.0 for c, t in frame.schema.items() if t.is_float()
    )
    return normal.hash_rows(seed=HASH_SEED).to_numpy().astype(np.uint64)


# --------------------------------------------------------------------------- streaming
def _profile_scan(lazy: pl.LazyFrame, spec: ProfileSpec, source: str, batch_rows: int) -> Profile:
    batches = _batches(lazy, batch_rows)
    profile = merge_all(profile_frame(batch, spec, source) for batch in batches)
    profile.source = source
    return profile


def _batches(lazy: pl.LazyFrame, batch_rows: int) -> Iterator[pl.DataFrame]:
    empty = True
    for batch in lazy.collect_batches(chunk_size=batch_rows, engine="streaming"):
        empty = False
        yield batch
    if empty:  # an empty file still has a schema: profile zero rows
        yield lazy.head(0).collect()


def _rows(lazy: pl.LazyFrame, what: str) -> int:
    try:
        return int(lazy.select(pl.len()).collect(engine="streaming").item())
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{what}: cannot be read ({str(exc).splitlines()[0]})") from None


def _sample(lazy: pl.LazyFrame, rows: int, task: ProfileTask) -> pl.DataFrame:
    """A seeded uniform sample of about ``task.sample_rows`` rows, in file order."""
    fraction = sample_fraction(rows, task.sample_rows)
    if fraction >= 1.0:
        return lazy.collect(engine="streaming")
    cut = int(fraction * 2**64)
    picked = lazy.with_row_index(SAMPLE_INDEX).filter(
        pl.col(SAMPLE_INDEX).hash(seed=task.seed) < cut
    )
    return picked.drop(SAMPLE_INDEX).collect(engine="streaming")


def _reference_facts(lazy: pl.LazyFrame, sample: pl.DataFrame, task: ProfileTask) -> ReferenceFacts:
    """Exact min/max of numeric columns and exact domains of low-cardinality columns."""
    schema = lazy.collect_schema()
    position = {name: i for i, name in enumerate(schema)}  # by position: a name may look
    # like a regular expression (``^num.*$``) to pl.col
    kept = {n: t for n, t in schema.items() if column_kind(t) != "other"}
    as_categories = [n for n, t in kept.items() if task.counted_as_categories(n, t)]
    numeric = [n for n, t in kept.items() if numeric_kind(t) and n not in as_categories]
    extremes: dict[str, tuple[float | None, float | None]] = {}
    if numeric:
        exprs = []
        for name in numeric:
            number = _number_expr(position[name], schema[name])
            finite = number.filter(number.is_finite())
            exprs += [finite.min().alias(f"{name}\0min"), finite.max().alias(f"{name}\0max")]
        row = lazy.select(exprs).collect(engine="streaming").row(0)
        for i, name in enumerate(numeric):
            extremes[name] = (finite_or_none(row[2 * i]), finite_or_none(row[2 * i + 1]))
    domains: dict[str, dict[str, int] | None] = {}
    candidates = [
        n
        for n in as_categories
        if n not in task.structural and sample.get_column(n).n_unique() <= MAX_CATEGORIES
    ]
    queries = [
        lazy.select(_text_expr(position[n], schema[n]).alias("value"))
        .drop_nulls()
        .group_by("value")
        .len()
        for n in candidates
    ]
    for name, counts in zip(candidates, pl.collect_all(queries, engine="streaming"), strict=True):
        domains[name] = dict(zip(counts["value"].to_list(), counts["len"].to_list(), strict=True))
    return ReferenceFacts(schema, sample, extremes, domains)


def _number_expr(index: int, dtype: pl.DataType) -> pl.Expr:
    column = pl.nth(index)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return column.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    if isinstance(dtype, pl.Duration):
        return column.cast(pl.Duration("us")).dt.total_microseconds().cast(pl.Float64) / 1e6
    if dtype == pl.Time:
        return column.to_physical().cast(pl.Float64) / 1e9
    return column.cast(pl.Float64)


def _text_expr(index: int, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return pl.nth(index).cast(pl.String).str.to_lowercase()
    return pl.nth(index).cast(pl.String, strict=False)


def _source_name(source: Any) -> str:
    return "(in memory)" if isinstance(source, pl.DataFrame) else str(source)
