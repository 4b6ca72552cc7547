"""Model predictions per split, from the contract's prediction files or from a model.

Prediction file: one per split (Parquet, CSV, ...), row-aligned with the split or joined on the
id column. Columns: ``prediction``; for classifiers also ``proba_<label>`` for every class label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from qa.errors import ModelError

#: Probability rows may be off by rounding; beyond this the file is rejected.
PROBA_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Predictions:
    """Predictions for one split, aligned with the split's rows.

    For classification ``labels`` holds class indices into ``Context.classes`` and ``proba`` an
    (n, k) matrix in the same class order (None when the file has no probabilities). For
    regression ``values`` holds the predicted numbers.
    """

    split: str
    labels: np.ndarray | None = None
    proba: np.ndarray | None = None
    values: np.ndarray | None = None
    source: str = ""


def parse_predictions(
    preds: pl.DataFrame,
    path: str,
    split: str,
    frame: pl.DataFrame,
    task: str,
    classes: Sequence[Any],
    id_column: str | None,
) -> Predictions:
    """Validate a prediction table (``path`` names where it came from) against its split."""
    what = f"model.predictions.{split}"
    if "prediction" not in preds.columns:
        raise ModelError(f"{what}: {path} has no 'prediction' column")
    preds = _align(preds, frame, id_column, what, path)
    if task == "regression":
        values = _as_float(preds, "prediction", what, path)
        return Predictions(split=split, values=values, source=path)
    proba = _read_proba(preds, classes, what, path)
    labels = encode_labels(preds["prediction"], classes, f"{what} ({path}) column 'prediction'")
    return Predictions(split=split, labels=labels, proba=proba, source=path)


def _align(
    preds: pl.DataFrame, frame: pl.DataFrame, id_column: str | None, what: str, path: str
) -> pl.DataFrame:
    if id_column and id_column in preds.columns and id_column in frame.columns:
        if preds[id_column].is_duplicated().any():
            raise ModelError(f"{what}: {path} repeats values of the id column {id_column!r}")
        keyed = frame.select(pl.col(id_column)).with_row_index("__row")
        joined = keyed.join(preds, on=id_column, how="left", coalesce=True).sort("__row")
        missing = int(joined["prediction"].is_null().sum())
        if missing:
            raise ModelError(
                f"{what}: {path} has no prediction for {missing} of {frame.height} rows "
                f"(joined on {id_column!r})"
            )
        return joined
    if preds.height != frame.height:
        raise ModelError(
            f"{what}: {path} has {preds.height} rows but the split has {frame.height}; "
            f"make them row-aligned or add the id column to both"
        )
    return preds


def _as_float(preds: pl.DataFrame, column: str, what: str, path: str) -> np.ndarray:
    """The column as finite floats; the error names the column that holds the bad values."""
    try:
        values = preds.get_column(column).cast(pl.Float64).to_numpy()
    except Exception:
        raise ModelError(f"{what}: {path} column {column!r} is not numeric") from None
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).sum())
        raise ModelError(f"{what}: {path} column {column!r} has {bad} missing or infinite values")
    return values


def _read_proba(
    preds: pl.DataFrame, classes: Sequence[Any], what: str, path: str
) -> np.ndarray | None:
    names = [f"proba_{c}" for c in classes]
    present = [n for n in names if n in preds.columns]
    if not present:
        return None
    missing = [n for n in names if n not in preds.columns]
    if missing:
        raise ModelError(f"{what}: {path} lacks probability column {missing[0]!r}")
    proba = np.column_stack([_as_float(preds, n, what, path) for n in names])
    if (proba < -1e-9).any() or (proba > 1 + 1e-9).any():
        raise ModelError(f"{what}: {path} has probabilities outside [0, 1]")
    sums = proba.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0))) if len(sums) else 0.0
    if worst > PROBA_SUM_TOLERANCE:
        raise ModelError(
            f"{what}: {path} probability columns do not sum to 1 (off by up to {worst:.3g})"
        )
    return np.clip(proba, 0.0, 1.0) / sums[:, None]


def encode_labels(series: pl.Series, classes: Sequence[Any], what: str) -> np.ndarray:
    """Map label values onto indices into ``classes``; an unknown label is an error."""
    numeric = _encode_numeric(series, classes)
    if numeric is not None:
        return numeric
    lookup = {str(c): i for i, c in enumerate(classes)}
    if series.dtype.is_float():
        finite = series.drop_nulls()
        if finite.len() and bool((finite == finite.round(0)).all()):
            series = series.cast(pl.Int64)
    if series.dtype == pl.Boolean:  # match str(True) == "True", not polars' "true"
        as_text = series.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
    else:
        as_text = series.cast(pl.String, strict=False)
    if as_text.null_count():
        raise ModelError(f"{what}: has {as_text.null_count()} missing labels")
    codes = as_text.replace_strict(lookup, default=None, return_dtype=pl.Int64)
    if codes.null_count():
        unknown = as_text.filter(codes.is_null()).unique().head(3).to_list()
        raise ModelError(f"{what}: unknown class label(s) {unknown} (known: {list(lookup)[:20]})")
    return codes.to_numpy()


def _encode_numeric(series: pl.Series, classes: Sequence[Any]) -> np.ndarray | None:
    """Fast path for numeric labels and numeric classes: a searchsorted, no string round trip.

    Returns None (use the general path) when types differ or some value is not a class.
    """
    numeric_classes = all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes)
    if not (numeric_classes and classes and series.dtype.is_numeric() and not series.null_count()):
        return None
    reference = np.asarray(classes, dtype=np.float64)
    order = np.argsort(reference, kind="stable")
    values = series.to_numpy().astype(np.float64, copy=False)
    position = np.clip(np.searchsorted(reference[order], values), 0, len(order) - 1)
    if not np.array_equal(reference[order][position], values):
        return None
    return order[position].astype(np.int64)
