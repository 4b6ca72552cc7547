"""The one feature encoder: how a split becomes a float32 matrix, everywhere.

A :class:`FeatureEncoder` is fitted on train and then turns any frame into numbers the same
way: the Context's feature matrix, the reference trainers, saved model artifacts (through their
``.qa.json`` sidecar), the out-of-fold models and drift's domain classifier all call it, so a
datetime or a category can never be encoded two ways.

Per column kind:

- numeric: the value as float32; NaN and +-inf become NaN.
- boolean: 0 / 1.
- categorical: the position of the value among train's distinct values (sorted as strings);
  a value train never had gets the *unseen* code (one past the last level); missing is NaN.
  With ``max_levels`` only the most frequent train levels keep a code of their own and the
  rest share the unseen code.
- datetime (Datetime, Date): epoch seconds, plus calendar parts as extra columns named
  ``<column>.<part>``: ``hour`` (datetimes only), ``weekday`` (1 = Monday) and ``month``.
  A Duration is its length in seconds, a Time its seconds since midnight. An instant with a
  time zone is encoded as stored (the UTC instant; calendar parts in its own zone).

The encoder is plain data (:meth:`to_dict` / :meth:`from_dict`, JSON-safe), never a pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import polars as pl

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "other"]

#: Calendar parts a datetime feature adds; a Date has no hour.
DATETIME_PARTS = ("hour", "weekday", "month")
DATE_PARTS = ("weekday", "month")


def column_kind(dtype: pl.DataType) -> ColumnKind:
    """The encoder's kind of a polars dtype; ``other`` columns (lists, structs...) are dropped."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "datetime"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "categorical"
    return "other"


def column_values(frame: pl.DataFrame, name: str) -> pl.Series:
    """A column as a series named ``value``: some polars Series methods select by name, and a
    column named like a pattern (``^x.*$``) would then select nothing."""
    return frame.get_column(name).rename("value")


def epoch_seconds(series: pl.Series) -> pl.Series:
    """A temporal series as float64 seconds: epoch seconds for a Date or Datetime, the length
    of a Duration, seconds since midnight for a Time."""
    dtype = series.dtype
    if dtype == pl.Time:
        return series.to_physical().cast(pl.Float64) / 1e9
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return series.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    if isinstance(dtype, pl.Duration):
        return series.cast(pl.Duration("us")).dt.total_microseconds().cast(pl.Float64) / 1e6
    return series.cast(pl.Float64, strict=False)


def is_calendar(dtype: pl.DataType) -> bool:
    """True for dates and datetimes (instants on the calendar), not durations or times of day."""
    return dtype == pl.Date or isinstance(dtype, pl.Datetime)


def calendar_part(series: pl.Series, part: str) -> pl.Series:
    """One calendar part of a Date/Datetime series as float64 (missing stays missing)."""
    if part == "hour":
        return series.dt.hour().cast(pl.Float64)
    if part == "weekday":
        return series.dt.weekday().cast(pl.Float64)
    if part == "month":
        return series.dt.month().cast(pl.Float64)
    raise ValueError(f"unknown calendar part {part!r}")


@dataclass(frozen=True)
class EncodedColumn:
    """How one feature column is encoded."""

    name: str
    kind: ColumnKind
    #: Categorical: train's levels; a level's position is its code.
    levels: tuple[str, ...] = ()
    #: Datetime: calendar parts added after the epoch-seconds column.
    parts: tuple[str, ...] = ()

    @property
    def outputs(self) -> list[str]:
        """Names of the matrix columns this feature produces."""
        return [self.name] + [f"{self.name}.{p}" for p in self.parts]

    @property
    def unseen_code(self) -> float:
        return float(len(self.levels))

    def encode(self, frame: pl.DataFrame) -> list[np.ndarray]:
        """This feature's matrix columns for ``frame`` (all-NaN when the column is absent;
        +-inf is left for :meth:`FeatureEncoder.transform` to make NaN)."""
        n = frame.height
        if self.name not in frame.columns:  # Series, not pl.col(): names may look like patterns
            return [np.full(n, np.nan, dtype=np.float32) for _ in self.outputs]
        series = column_values(frame, self.name)
        if self.kind == "categorical":
            return [self._codes(series)]
        if self.kind == "datetime":
            if column_kind(series.dtype) != "datetime":
                return [_as_float32(series)] + [
                    np.full(n, np.nan, dtype=np.float32) for _ in self.parts
                ]
            return [_as_float32(epoch_seconds(series))] + [
                _as_float32(calendar_part(series, part)) for part in self.parts
            ]
        return [_as_float32(series)]

    def _codes(self, series: pl.Series) -> np.ndarray:
        values = series.cast(pl.String, strict=False)
        codes = values.replace_strict(
            list(self.levels),
            np.arange(len(self.levels), dtype=np.float32).tolist(),
            default=self.unseen_code,
            return_dtype=pl.Float32,
        )
        out = codes.to_numpy(allow_copy=True).astype(np.float32, copy=True)
        out[values.is_null().to_numpy()] = np.nan
        return out


def _as_float64(series: pl.Series) -> np.ndarray:
    """Numbers (booleans as 0/1) as float64 with NaN for missing, NaN and +-inf."""
    if series.dtype == pl.Boolean:
        series = series.cast(pl.UInt8)
    out = series.cast(pl.Float64, strict=False).to_numpy(allow_copy=True)
    out = np.array(out, dtype=np.float64)  # a null-holding column arrives as float NaN
    out[~np.isfinite(out)] = np.nan
    return out


def _as_float32(series: pl.Series) -> np.ndarray:
    """Numbers (booleans as 0/1) as float32, missing as NaN; may be a read-only view, and may
    hold +-inf (:meth:`FeatureEncoder.transform` makes those NaN in one pass)."""
    if series.dtype == pl.Boolean:
        series = series.cast(pl.UInt8)
    return np.asarray(series.cast(pl.Float32, strict=False).to_numpy(allow_copy=True))


@dataclass(frozen=True)
class FeatureEncoder:
    """Feature columns fitted on train and the way each becomes matrix columns."""

    columns: tuple[EncodedColumn, ...] = field(default_factory=tuple)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        train: pl.DataFrame,
        features: Sequence[str],
        *,
        max_levels: int | None = None,
        calendar: bool = True,
    ) -> FeatureEncoder:
        """Fit on ``train``'s ``features`` (their kinds, categories and calendar parts).

        ``max_levels`` keeps only the most frequent levels per categorical column (ties by
        value); ``calendar=False`` encodes datetimes as epoch seconds only.
        """
        encoded = []
        for name in features:
            series = column_values(train, name)
            kind = column_kind(series.dtype)
            levels: tuple[str, ...] = ()
            parts: tuple[str, ...] = ()
            if kind == "categorical":
                levels = _levels(series, max_levels)
            elif kind == "datetime" and calendar and is_calendar(series.dtype):
                parts = DATE_PARTS if series.dtype == pl.Date else DATETIME_PARTS
            encoded.append(EncodedColumn(name, kind, levels, parts))
        return cls(tuple(encoded))

    # ------------------------------------------------------------------ describing
    @property
    def feature_columns(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def output_names(self) -> list[str]:
        """One name per matrix column: the feature, or ``<feature>.<calendar part>``."""
        return [name for c in self.columns for name in c.outputs]

    @property
    def output_features(self) -> list[str]:
        """The feature each matrix column comes from."""
        return [c.name for c in self.columns for _ in c.outputs]

    @property
    def output_kinds(self) -> list[ColumnKind]:
        """Per matrix column: ``categorical`` for category codes, else the feature's kind
        (calendar parts count as ``numeric``)."""
        kinds: list[ColumnKind] = []
        for c in self.columns:
            kinds.append(c.kind)
            kinds.extend("numeric" for _ in c.parts)
        return kinds

    @cached_property
    def _by_name(self) -> dict[str, EncodedColumn]:
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> EncodedColumn:
        """How feature ``name`` is encoded; KeyError when it is not a feature."""
        return self._by_name[name]

    def kind(self, name: str) -> ColumnKind:
        return self.column(name).kind

    def levels(self, name: str) -> tuple[str, ...]:
        """Train's levels of a categorical feature (a level's position is its code)."""
        return self.column(name).levels

    @property
    def kinds(self) -> dict[str, ColumnKind]:
        return {c.name: c.kind for c in self.columns}

    # ------------------------------------------------------------------ encoding
    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """``frame`` as a float32 (n, len(output_names)) matrix; see the module docstring."""
        matrix = np.empty((frame.height, len(self.output_names)), dtype=np.float32)
        j = 0
        for column in self.columns:
            for array in column.encode(frame):
                matrix[:, j] = array
                j += 1
        matrix[~np.isfinite(matrix)] = np.nan
        return matrix

    def pandas_frame(self, frame: pl.DataFrame, columns: Sequence[str] | None = None) -> Any:
        """A pandas frame for scikit-learn pipelines fitted on named columns: numbers as
        float64 (NaN and inf missing), booleans 0/1, datetimes as epoch seconds, categories as
        strings with missing as ``None``. A column train did not have is taken as numeric."""
        import pandas as pd

        names = list(columns) if columns is not None else self.feature_columns
        known = {c.name: c for c in self.columns}
        out: dict[str, Any] = {}
        for name in names:
            spec = known.get(name, EncodedColumn(name, "numeric"))
            if spec.kind == "categorical":
                values = (
                    frame.get_column(name).cast(pl.String, strict=False).to_list()
                    if name in frame.columns
                    else [None] * frame.height
                )
                out[name] = pd.Series(values, dtype=object)
            elif name not in frame.columns:
                out[name] = np.full(frame.height, np.nan)
            else:
                series = frame.get_column(name)
                if spec.kind == "datetime" and column_kind(series.dtype) == "datetime":
                    series = epoch_seconds(series)
                out[name] = _as_float64(series)
        return pd.DataFrame(out, index=pd.RangeIndex(frame.height))

    # ------------------------------------------------------------------ storing
    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [
                {"name": c.name, "kind": c.kind, "levels": list(c.levels), "parts": list(c.parts)}
                for c in self.columns
            ]
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureEncoder:
        """Read :meth:`to_dict`'s output; raises ValueError/KeyError/TypeError when malformed."""
        columns = []
        for item in raw["columns"]:
            kind = str(item["kind"])
            if kind not in ("numeric", "categorical", "boolean", "datetime"):
                raise ValueError(f"unknown column kind {kind!r}")
            parts = tuple(str(p) for p in item.get("parts", ()))
            unknown = [p for p in parts if p not in DATETIME_PARTS]
            if unknown:
                raise ValueError(f"unknown calendar part {unknown[0]!r}")
            columns.append(
                EncodedColumn(
                    name=str(item["name"]),
                    kind=kind,  # type: ignore[arg-type]
                    levels=tuple(str(v) for v in item.get("levels", ())),
                    parts=parts,
                )
            )
        return cls(tuple(columns))


def _levels(series: pl.Series, max_levels: int | None) -> tuple[str, ...]:
    values = series.cast(pl.String, strict=False).drop_nulls()
    if max_levels is None:
        return tuple(values.unique().sort().to_list())
    counts = values.value_counts(name="n").sort(["n", values.name], descending=[True, False])
    return tuple(counts.get_column(values.name).head(max_levels).to_list())
