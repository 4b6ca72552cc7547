"""Reading the splits: CSV, Parquet, Feather/Arrow IPC and JSON lines through polars.

Python callers may hand pandas or polars DataFrames instead of paths. Every failure is a
DataError naming the split and file: missing, unreadable, empty, no target column, one class.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from qa.config import SPLITS
from qa.errors import DataError

#: Splits that must carry the target column when present (production may be unlabeled).
LABELED_SPLITS = ("train", "validation", "test")

#: Rows a CSV's column types are inferred from (the streaming engine uses the same).
CSV_INFER_ROWS = 10_000

_READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "ipc",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".json": "json",
}


@dataclass(frozen=True)
class InputInfo:
    """What the report records of one split: where it came from and its fingerprint."""

    split: str
    path: str | None
    rows: int
    columns: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rows": self.rows,
            "columns": self.columns,
            "sha256": self.sha256,
        }


def read_table(path: str | Path, what: str) -> pl.DataFrame:
    """Read one file by its extension; ``what`` names it in errors (e.g. ``data.train``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what}: file not found: {path}")
    if path.is_dir():
        raise DataError(f"{what}: {path} is a folder, expected a data file")
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{what}: cannot read {path}: unknown file type {path.suffix!r} "
            f"(expected one of {', '.join(sorted(_READERS))})"
        )
    try:
        if kind in ("csv", "tsv"):
            separator = "\t" if kind == "tsv" else ","
            frame = pl.read_csv(
                path, separator=separator, infer_schema_length=CSV_INFER_ROWS, try_parse_dates=True
            )
            if any(_DUPLICATE_MARK in name for name in frame.columns):
                _check_header_unique(path, separator, what)
            return frame
        if kind == "parquet":
            return pl.read_parquet(path)
        if kind == "ipc":
            _check_ipc_names_unique(path, what)  # polars panics on a repeated name
            return pl.read_ipc(path)
        if kind == "ndjson":
            return pl.read_ndjson(path)
        return _read_json(path)
    except DataError:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:  # many types for a corrupt file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{what}: cannot read {path}: {first_line[:300]}") from None


#: polars renames the second of two equal CSV header names to ``<name>_duplicated_<n>``.
_DUPLICATE_MARK = "_duplicated_"


def _check_header_unique(path: Path, separator: str, what: str) -> None:
    """Read the CSV header line itself and refuse a column name that appears twice.

    Called only when polars renamed a column, so a clean file costs no second read.
    """
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    _refuse_repeated_names(header, f"{path} has", what)


def _check_ipc_names_unique(path: Path, what: str) -> None:
    """Refuse a Feather/Arrow IPC file whose schema repeats a column name (footer only)."""
    import pyarrow.ipc

    try:
        with pyarrow.ipc.open_file(path) as reader:
            names = reader.schema.names
    except Exception:
        return  # not a readable IPC file: polars' own error says why
    _refuse_repeated_names(names, f"{path} has", what)


def _refuse_repeated_names(names: list[str], subject: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"{what}: {subject} the column {name!r} twice; give every column a unique name"
            )
        seen.add(name)


def _read_json(path: Path) -> pl.DataFrame:
    """A ``.json`` file may hold JSON lines or one array of records."""
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
    if head.startswith(b"["):
        return pl.read_json(path)
    return pl.read_ndjson(path)


def as_frame(value: Any, what: str) -> tuple[pl.DataFrame, str | None]:
    """A split given as a path, a polars or a pandas DataFrame -> (polars frame, path or None)."""
    if isinstance(value, pl.DataFrame):
        return value, None
    if isinstance(value, pl.LazyFrame):
        return value.collect(), None
    if isinstance(value, str | Path):
        return read_table(value, what), str(value)
    if type(value).__name__ == "DataFrame" and hasattr(value, "to_numpy"):  # pandas
        _refuse_repeated_names([str(c) for c in value.columns], "the DataFrame has", what)
        try:
            return pl.from_pandas(value), None
        except Exception as exc:
            raise DataError(f"{what}: cannot convert the pandas DataFrame: {exc}") from None
    raise DataError(f"{what}: expected a path or a DataFrame, got {type(value).__name__}")


def load_splits(
    sources: Mapping[str, Any], target: str | None
) -> tuple[dict[str, pl.DataFrame], dict[str, InputInfo]]:
    """Load every given split and validate it: non-empty, with the target where labels are needed."""
    unknown = set(sources) - set(SPLITS)
    if unknown:
        raise DataError(f"data.{sorted(unknown)[0]}: unknown split (expected {', '.join(SPLITS)})")
    if "train" not in sources:
        raise DataError("data.train: a train split is required")
    frames: dict[str, pl.DataFrame] = {}
    infos: dict[str, InputInfo] = {}
    for split in SPLITS:
        if split not in sources:
            continue
        what = f"data.{split}"
        frame, path = as_frame(sources[split], what)
        where = path or f"the {split} DataFrame"
        if frame.height == 0:
            raise DataError(f"{what}: {where} has no rows")
        if frame.width == 0:
            raise DataError(f"{what}: {where} has no columns")
        _check_unique_names(frame, what)
        if target is not None and split in LABELED_SPLITS and target not in frame.columns:
            raise DataError(
                f"{what}: target column {target!r} not found in {where} "
                f"(columns: {_preview(frame.columns)})"
            )
        frames[split] = frame
        infos[split] = InputInfo(
            split=split,
            path=path,
            rows=frame.height,
            columns=frame.width,
            sha256=file_sha256(path) if path else frame_sha256(frame),
        )
    return frames, infos


def _check_unique_names(frame: pl.DataFrame, what: str) -> None:
    seen: set[str] = set()
    for name in frame.columns:
        if name in seen:
            raise DataError(f"{what}: column {name!r} appears twice")
        seen.add(name)


def _preview(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f", … ({len(columns)} in all)" if len(columns) > limit else "")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def frame_sha256(frame: pl.DataFrame) -> str:
    """sha256 of a canonical form: columns in name order, written as CSV with a fixed format.

    Row order counts; two frames with the same values in the same order hash the same whatever
    file format they came from.
    """
    # Series, not pl.col(name): polars reads a name like "^a.*$" or "*" as a pattern.
    canonical = pl.DataFrame([_hashable(frame.get_column(c)) for c in sorted(frame.columns)])
    digest = hashlib.sha256()
    digest.update("\x1f".join(f"{c}:{canonical[c].dtype}" for c in canonical.columns).encode())
    step = 200_000
    for start in range(0, canonical.height, step):
        chunk = canonical.slice(start, step)
        digest.update(chunk.write_csv(include_header=False, float_precision=10).encode())
    return digest.hexdigest()


def _hashable(series: pl.Series) -> pl.Series:
    """CSV cannot hold nested values, durations or objects; those are hashed as their repr."""
    dtype = series.dtype
    if dtype.is_nested() or dtype == pl.Object or isinstance(dtype, pl.Duration | pl.Time):
        return pl.Series(series.name, [repr(v) for v in series.to_list()], dtype=pl.String)
    return series
