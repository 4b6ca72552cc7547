"""The test-set lock: a fingerprint written by ``qa lock`` and verified by ``split-hygiene``.

The fingerprint of a split is its row count, its columns (name and dtype) and sha256 digests of
a canonical form. Row order does NOT count: every value becomes a stable 64-bit code (its bit
pattern, or its rank among the column's sorted distinct values for text), codes are mixed into
one 64-bit code per row, and the digest covers the *sorted* row codes. Re-exporting or
shuffling the same rows keeps the lock valid; any added, dropped or edited row breaks it.
Besides the whole-table digest the lock keeps one digest per column (of its sorted codes), so a
mismatch can say which columns' contents changed, and an order-sensitive digest, so a reorder
alone can be named. No CSV round trip and no library hash whose values change between versions
is involved: the codes depend only on the values and their dtypes.

The file is JSON::

    {"qa_lock": 1, "tool": "qa-gate 0.1.0", "created_at": "...",
     "splits": {"test": {"path": ..., "rows": ..., "columns": [[name, dtype], ...],
                         "sha256": ..., "ordered_sha256": ..., "column_sha256": {name: ...}}}}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from qa._version import __version__
from qa.config import Config
from qa.errors import ConfigError

LOCK_VERSION = 1
DEFAULT_LOCK_FILE = "qa.lock"


# --------------------------------------------------------------------------- canonical form
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, well-spread 64-bit mixing of every element."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _column_codes(series: pl.Series) -> tuple[np.ndarray, bytes]:
    """Each value as a uint64 that depends only on the value, plus bytes that pin the codes.

    Numbers, booleans and dates use their bit pattern (NaN canonicalised); text, categories
    and nested values are ranked among the column's sorted distinct values, whose list goes
    into the extra bytes. Nulls get a code of their own.
    """
    nulls = series.is_null().to_numpy()
    dtype = series.dtype
    extra = b""
    if dtype.is_numeric() or dtype == pl.Boolean or dtype.is_temporal():
        physical = series.to_physical()
        if physical.dtype == pl.Boolean:
            physical = physical.cast(pl.UInt8)
        if physical.dtype.is_float():
            values = physical.cast(pl.Float64).fill_null(0.0).to_numpy().copy()
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
            values[values == 0.0] = 0.0  # -0.0 == 0.0
            codes = values.view(np.uint64)
        else:
            codes = physical.cast(pl.Int64, strict=False).fill_null(0).to_numpy().view(np.uint64)
    else:
        if dtype.is_nested() or dtype in (pl.Object, pl.Binary):
            text = pl.Series(
                [json.dumps(v, default=str, sort_keys=True) for v in series.to_list()],
                dtype=pl.String,
            )
        else:
            text = series.cast(pl.String)
        distinct = text.drop_nulls().unique().sort()
        lookup = pl.DataFrame({"v": distinct, "code": np.arange(len(distinct), dtype=np.int64)})
        codes = (
            pl.DataFrame({"v": text})
            .join(lookup, on="v", how="left", maintain_order="left")["code"]
            .fill_null(0)
            .to_numpy()
            .view(np.uint64)
        )
        extra = "\x1f".join(distinct.to_list()).encode("utf-8", "surrogatepass")
    codes = np.where(nulls, np.uint64(0xFFFFFFFFFFFFFFFF), _mix(codes ^ _GOLDEN))
    return codes, extra + b"\x1e" + str(int(nulls.sum())).encode()


def fingerprint(frame: pl.DataFrame, path: str | None = None) -> dict[str, Any]:
    """The lock entry of one split (see the module docstring)."""
    names = sorted(frame.columns)
    columns = [[name, str(frame.schema[name])] for name in names]
    rows = np.zeros(frame.height, dtype=np.uint64)
    per_column: dict[str, str] = {}
    for position, (name, dtype) in enumerate(columns):
        codes, extra = _column_codes(frame.get_column(name))
        digest = hashlib.sha256(dtype.encode())
        digest.update(np.sort(codes).tobytes())
        digest.update(hashlib.sha256(extra).digest())
        per_column[name] = digest.hexdigest()
        salt = np.uint64((position * 0x9E3779B97F4A7C15) % (1 << 64))
        rows = _mix(rows ^ (codes + salt))
    header = "\x1f".join(f"{n}:{d}" for n, d in columns).encode("utf-8", "surrogatepass")
    content = hashlib.sha256(header)
    content.update(np.sort(rows).tobytes())
    for name in names:  # the row codes of text columns rest on their distinct values
        content.update(per_column[name].encode())
    ordered = hashlib.sha256(header)
    ordered.update(rows.tobytes())
    return {
        "path": path,
        "rows": frame.height,
        "columns": columns,
        "sha256": content.hexdigest(),
        "ordered_sha256": ordered.hexdigest(),
        "column_sha256": per_column,
    }


# --------------------------------------------------------------------------- files
def lock_path(config: Config, explicit: str | None = None) -> Path:
    """Where the lock lives: ``explicit``, else ``checks.split-hygiene.lock_file`` (already
    resolved against the config file by the loader), else ``qa.lock`` beside the config file,
    else in the current folder."""
    if explicit:
        return Path(explicit)
    configured = config.check_table("split-hygiene").get("lock_file")
    if isinstance(configured, str) and configured:
        return Path(configured)
    if config.source:
        return Path(config.source).parent / DEFAULT_LOCK_FILE
    return Path(DEFAULT_LOCK_FILE)


def write_lock(path: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Write the lock file (keeping entries of other splits already in it)."""
    existing: dict[str, Any] = {}
    if path.is_file():
        try:
            existing = dict(read_lock(path).get("splits", {}))
        except ConfigError:
            existing = {}
    existing.update({k: dict(v) for k, v in entries.items()})
    data = {
        "qa_lock": LOCK_VERSION,
        "tool": f"qa-gate {__version__}",
        "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "splits": existing,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_lock(path: Path) -> dict[str, Any]:
    """Read and minimally validate a lock file; ConfigError naming the file otherwise."""
    where = f"checks.split-hygiene.lock_file: {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not a qa lock file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
        raise ConfigError(f"{where}: not a qa lock file (no 'splits' table)")
    if data.get("qa_lock") != LOCK_VERSION:
        raise ConfigError(
            f"{where}: lock format {data.get('qa_lock')!r} is not supported "
            f"(expected {LOCK_VERSION}); run `qa lock` again"
        )
    for split, entry in data["splits"].items():
        if not isinstance(entry, dict) or not {"rows", "columns", "sha256"} <= set(entry):
            raise ConfigError(f"{where}: entry {split!r} is incomplete; run `qa lock` again")
    return data


# --------------------------------------------------------------------------- comparison
def compare(locked: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """What changed between a locked fingerprint and the current one.

    Returns (part, locked, now) rows, part one of ``columns``, ``dtype``, ``rows``,
    ``contents``; empty when the split still matches.
    """
    if locked["sha256"] == now["sha256"] and locked["rows"] == now["rows"]:
        return []
    changes: list[tuple[str, str, str]] = []
    old_cols = {n: d for n, d in locked["columns"]}
    new_cols = {n: d for n, d in now["columns"]}
    removed = [n for n in old_cols if n not in new_cols]
    added = [n for n in new_cols if n not in old_cols]
    if removed:
        changes.append(("columns", "removed: " + ", ".join(map(repr, removed)), "absent"))
    if added:
        changes.append(("columns", "absent", "added: " + ", ".join(map(repr, added))))
    for name in old_cols:
        if name in new_cols and old_cols[name] != new_cols[name]:
            changes.append(("dtype", f"{name!r}: {old_cols[name]}", f"{name!r}: {new_cols[name]}"))
    if locked["rows"] != now["rows"]:
        changes.append(("rows", f"{locked['rows']:,}", f"{now['rows']:,}"))
    old_hash = locked.get("column_sha256") or {}
    new_hash = now.get("column_sha256") or {}
    edited = [
        n for n in old_cols if n in new_cols and n in old_hash and old_hash[n] != new_hash.get(n)
    ]
    if edited:
        shown = ", ".join(map(repr, edited[:10])) + (" …" if len(edited) > 10 else "")
        changes.append(
            (
                "contents",
                "as locked",
                f"values differ in {len(edited)} of {len(old_cols)} column(s): {shown}",
            )
        )
    elif not changes:
        changes.append(
            ("contents", "as locked", "same values per column, recombined into different rows")
        )
    return changes
