"""Engines: what computes profiles (and the seeded row samples) of the splits.

Both engines follow the same three steps, so they produce the same :class:`qa.profile.Profile`
(counts identical, moments equal up to float rounding; only the row-hash function differs):

1. **Reference pass** on train: its row count, a seeded uniform sample (``sample_rows``), the
   exact finite min/max of every numeric column and the exact value counts of every
   low-cardinality column. :func:`build_spec` turns these into the spec (bin edges from the
   sample's quantiles framed by the exact range and the schema's widened range; tracked
   categories). The spec is the same whichever engine computes it from the same sample.
2. **Counting pass** on every split: the split counted into the spec.
3. **Samples** of every split for the parts of checks that need rows (domain classifier,
   target proxy, out-of-fold label noise, model checks); the report states their size.

- ``polars`` (default, :mod:`qa.engines.polars_engine`): streams a file in batches (``scan_*``
  + ``collect_batches``): memory bounded by the batch, not the file.
- ``spark`` (optional extra ``qa-gate[spark]``, :mod:`qa.engines.spark_engine`): the same
  aggregations as Spark jobs over any path or table Spark reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from qa.encoding import DATE_PARTS, DATETIME_PARTS, column_kind, epoch_seconds
from qa.profile import MAX_CATEGORIES, N_BINS, ColumnSpec, ProfileSet, ProfileSpec
from qa.stats import widened_range

#: Rows sampled per split for the parts of checks that need rows.
DEFAULT_SAMPLE_ROWS = 200_000
#: Seed of the row-content hashes (fixed: hashes of two runs must compare).
HASH_SEED = 20_241_130


@dataclass(frozen=True)
class ProfileTask:
    """What the engine needs to know of the gate: target, structural columns, tolerance."""

    target: str | None
    #: id / time / group columns: profiled for presence and type, no category tracking.
    structural: tuple[str, ...] = ()
    range_tolerance: float = 0.1
    seed: int = 0
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    #: binary | multiclass | regression; None: inferred from train's sample (:meth:`resolved`).
    task_type: str | None = None

    @property
    def classification(self) -> bool:
        """A classification target is counted as categories (its class counts)."""
        return self.task_type != "regression"

    def resolved(self, train_sample: pl.DataFrame) -> ProfileTask:
        """The task with its type inferred from train's sample when none was declared."""
        if self.task_type or self.target is None or self.target not in train_sample.columns:
            return self
        from qa.task import infer_task_type

        return replace(self, task_type=infer_task_type(train_sample.get_column(self.target)))

    def counted_as_categories(self, name: str, dtype: pl.DataType) -> bool:
        if name == self.target and self.classification:
            return True
        return not numeric_kind(dtype)


@dataclass
class EngineResult:
    """Profiles of every split under one spec, and each split's seeded sample."""

    profiles: ProfileSet
    samples: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: Rows of each split, and of its sample (the report states both).
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class ReferenceFacts:
    """What the reference pass found, from which :func:`build_spec` fixes the spec."""

    schema: Mapping[str, pl.DataType]
    sample: pl.DataFrame
    #: Exact finite (min, max) of every numeric column (None when it has no finite value), and
    #: whether it holds -inf / +inf.
    extremes: dict[str, tuple[float | None, float | None]]
    #: Exact value counts (as strings) of low-cardinality columns; None: too many values.
    domains: dict[str, dict[str, int] | None]


def numeric_kind(dtype: pl.DataType) -> bool:
    """Counted on bin edges: numbers, and dates/durations as epoch seconds."""
    return column_kind(dtype) in ("numeric", "datetime")


def calendar_parts(dtype: pl.DataType) -> tuple[str, ...]:
    if isinstance(dtype, pl.Datetime):
        return DATETIME_PARTS
    if dtype == pl.Date:
        return DATE_PARTS
    return ()


def as_numbers(series: pl.Series) -> np.ndarray:
    """A numeric or temporal column as float64 (temporal as seconds; nulls as NaN)."""
    series = series.rename("value")  # polars reads a name like ``^x.*$`` as a pattern
    values = epoch_seconds(series) if series.dtype.is_temporal() else series.cast(pl.Float64)
    return values.fill_null(float("nan")).to_numpy().astype(np.float64, copy=False)


def as_text(series: pl.Series) -> pl.Series:
    """A categorical column's values as strings (booleans ``true``/``false``), named value."""
    series = series.rename("value")
    if series.dtype == pl.Boolean:
        return series.cast(pl.String).str.to_lowercase()
    return series.cast(pl.String, strict=False)


def build_spec(facts: ReferenceFacts, task: ProfileTask) -> ProfileSpec:
    """The spec every split is counted into, from what the reference pass found."""
    columns: list[ColumnSpec] = []
    for name, dtype in facts.schema.items():
        kind = column_kind(dtype)
        if kind == "other":
            continue
        if not task.counted_as_categories(name, dtype):
            edges = numeric_edges(
                facts.sample.get_column(name), facts.extremes.get(name), task.range_tolerance
            )
            columns.append(ColumnSpec(name, "numeric", str(dtype), edges=edges))
            for part in calendar_parts(dtype):
                columns.append(_calendar_spec(name, part))
            continue
        domain = None if name in task.structural else facts.domains.get(name)
        columns.append(_categorical_spec(name, str(dtype), domain))
    features = tuple(
        c.name
        for c in columns
        if c.part is None and c.name != task.target and c.name not in task.structural
    )
    return ProfileSpec(tuple(columns), task.target, features, task.range_tolerance)


def numeric_edges(
    sample: pl.Series, extremes: tuple[float | None, float | None] | None, tolerance: float
) -> tuple[float, ...]:
    """Equal-frequency edges from the sample's quantiles, framed by the exact range and the
    range widened by ``tolerance`` of its width (the schema check's allowed range)."""
    low, high = extremes if extremes else (None, None)
    if low is None or high is None:
        return ()
    values = as_numbers(sample)
    values = values[np.isfinite(values)]
    inner = np.quantile(values, np.linspace(0.0, 1.0, N_BINS + 1)[1:-1]) if len(values) else []
    allowed_low, allowed_high = widened_range(low, high, tolerance, False, False)
    # Edges just above train's max and the widened high: a value equal to either is counted
    # at or below it (the schema's rule is inclusive; the share beyond train's dates is exact).
    above_max, top = (float(np.nextafter(v, np.inf)) for v in (high, allowed_high))
    inner_points = (float(q) for q in inner if low < q < high)
    points = [allowed_low, low, *inner_points, high, above_max, allowed_high, top]
    # + 0.0 turns -0.0 into 0.0: which zero an engine's min/max meets first is row order.
    return tuple(float(p) for p in np.unique(np.asarray(points, dtype=np.float64) + 0.0))


def _calendar_spec(source: str, part: str) -> ColumnSpec:
    values = {"hour": range(24), "weekday": range(1, 8), "month": range(1, 13)}[part]
    return ColumnSpec(
        f"{source}.{part}",
        "categorical",
        f"calendar {part}",
        categories=tuple(str(v) for v in values),
        source=source,
        part=part,
    )


def _categorical_spec(name: str, dtype: str, domain: Mapping[str, int] | None) -> ColumnSpec:
    """Track the whole domain when it is small enough, else its most frequent values."""
    if domain is None:
        return ColumnSpec(name, "categorical", dtype, complete=False)
    ranked = sorted(domain.items(), key=lambda item: (-item[1], item[0]))
    complete = len(ranked) <= MAX_CATEGORIES
    kept = sorted(value for value, _ in ranked[:MAX_CATEGORIES])
    return ColumnSpec(name, "categorical", dtype, categories=tuple(kept), complete=complete)


def sample_fraction(rows: int, wanted: int) -> float:
    return 1.0 if rows <= wanted else wanted / rows


def finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def split_names(sources: Mapping[str, Any]) -> Sequence[str]:
    """Splits in the gate's order, train first."""
    order = ("train", "validation", "test", "production")
    return [s for s in order if s in sources] + [s for s in sources if s not in order]
