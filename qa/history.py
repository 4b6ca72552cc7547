"""Reading a training history: one row per epoch (or boosting round).

Accepted files:

- CSV / TSV with a header: ``epoch, train_loss, val_loss`` plus any metric columns
  (``train_accuracy``, ``val_accuracy``, ``val_auc``, ...);
- JSON: an array of records (``[{"epoch": 1, "train_loss": ..., ...}, ...]``), JSON lines, or
  an object of columns (``{"epoch": [...], "train_loss": [...], ...}``).

Keras' ``history.history`` (``loss``, ``val_loss``, no ``epoch``) is accepted too: ``loss`` is
read as ``train_loss`` and epochs are numbered from 1. Loggers that write train and validation
values on separate rows of the same epoch (PyTorch Lightning's CSV logger) are merged: each
column's values within an epoch are averaged (a NaN among them stays NaN). Rows are sorted by
epoch; non-numeric extra columns are dropped.

Optional columns that the ``training-health`` check reads: ``grad_norm`` (the global L2 norm of
the gradients) and ``lr`` (the learning rate). They are found under common other names too
(:data:`ALIASES`: ``learning_rate``, ``gradient_norm``, Lightning's ``grad_2.0_norm_total``);
a history without them is read as it is.

NaN and infinite values are kept as written (``nan``, ``NaN``, ``inf``, ``-Infinity`` in a CSV;
``NaN`` / ``Infinity`` in JSON): they are how a diverged run shows. Only an empty cell (or JSON
``null``) is missing — note that pandas' ``to_csv`` writes NaN as an empty cell unless given
``na_rep="nan"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from qa.errors import DataError

REQUIRED = ("epoch", "train_loss", "val_loss")
#: Other names of the optional columns, renamed when the usual name is absent (first found wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "lr": ("learning_rate",),
    "grad_norm": ("gradient_norm", "grad_2.0_norm_total"),
}


def read_history(path: str | Path) -> pl.DataFrame:
    """Read and validate a history file into a frame sorted by ``epoch``."""
    path = Path(path)
    what = f"model.history: {path}"
    if not path.is_file():
        raise DataError(f"model.history: file not found: {path}")
    frame = _read(path, what)
    if "train_loss" not in frame.columns and "loss" in frame.columns:
        frame = frame.rename({"loss": "train_loss"})
    for name, others in ALIASES.items():
        found = [o for o in others if o in frame.columns]
        if name not in frame.columns and found:
            frame = frame.rename({found[0]: name})
    if "epoch" not in frame.columns and "train_loss" in frame.columns and frame.height:
        frame = frame.with_row_index("epoch", offset=1)
    for column in REQUIRED:
        if column not in frame.columns:
            raise DataError(
                f"{what} has no {column!r} column (needs {', '.join(REQUIRED)}; "
                f"found: {', '.join(frame.columns[:12]) or 'none'})"
            )
    if frame.height == 0:
        raise DataError(f"{what} has no rows")
    return _clean(frame, what)


def _read(path: Path, what: str) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return pl.read_csv(path, infer_schema_length=None)
        if suffix == ".tsv":
            return pl.read_csv(path, separator="\t", infer_schema_length=None)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path)
        if suffix == ".json":
            return _read_json(path, what)
    except DataError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{what}: cannot read it: {first}") from None
    raise DataError(f"{what}: unknown file type {suffix!r} (expected .csv, .tsv, .json, .jsonl)")


def _read_json(path: Path, what: str) -> pl.DataFrame:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return pl.read_ndjson(path)  # JSON lines
    if isinstance(data, dict):
        columns = {k: v for k, v in data.items() if isinstance(v, list)}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise DataError(f"{what}: its columns have different lengths {sorted(lengths)}")
        return pl.DataFrame(columns, strict=False)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pl.DataFrame(data, strict=False, infer_schema_length=None)
    raise DataError(f"{what}: expected an array of records or an object of columns")


def _clean(frame: pl.DataFrame, what: str) -> pl.DataFrame:
    numeric = []
    for column in frame.columns:
        dtype = frame.schema[column]
        if dtype.is_numeric() or dtype == pl.Null:
            numeric.append(column)
            continue
        # A CSV column holding "nan" or "inf" reads as text: keep it when every value parses.
        cast = frame[column].cast(pl.Float64, strict=False) if dtype == pl.String else None
        if cast is not None and cast.null_count() == frame[column].null_count():
            frame = frame.with_columns(cast)
            numeric.append(column)
        elif column in REQUIRED:
            raise DataError(f"{what}: column {column!r} is not numeric ({dtype})")
    frame = frame.select(numeric).with_columns(pl.exclude("epoch").cast(pl.Float64))
    if frame["epoch"].null_count():
        raise DataError(f"{what}: column 'epoch' has {frame['epoch'].null_count()} missing values")
    epochs = frame["epoch"].cast(pl.Float64)
    if not bool((epochs.is_finite() & (epochs == epochs.round(0))).all()):
        raise DataError(f"{what}: column 'epoch' must hold whole numbers")
    frame = frame.with_columns(pl.col("epoch").cast(pl.Int64))
    if frame["epoch"].is_duplicated().any():
        frame = frame.group_by("epoch", maintain_order=True).agg(pl.exclude("epoch").mean())
    frame = frame.sort("epoch")
    for column in ("train_loss", "val_loss"):
        if frame[column].null_count() == frame.height:
            raise DataError(f"{what}: column {column!r} has no values")
    return frame
