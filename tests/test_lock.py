"""qa lock and the fingerprint behind it: order-insensitive, exact, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from qa.lockfile import compare, fingerprint, read_lock, write_lock
from tests.conftest import make_classification_frame


def run_cli(*args: str) -> int:
    from qa.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_qa_lock_without_test_split_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.toml").write_text('[task]\ntarget = "y"\n[data]\ntrain = "t.csv"\n')
    assert run_cli("lock") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "data.test" in err
    assert run_cli("lock", "--test", "missing.parquet") == 2
    assert "not found" in capsys.readouterr().err


def test_fingerprint_is_order_insensitive_and_catches_tiny_edits():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "x": rng.normal(size=1000),
            "<script>": rng.choice(["a", "ü"], 1000),
            "n": pl.Series([None, 1] * 500, dtype=pl.Int64),
        }
    )
    base = fingerprint(frame)
    assert fingerprint(frame.reverse())["sha256"] == base["sha256"]
    assert fingerprint(frame.reverse())["ordered_sha256"] != base["ordered_sha256"]
    tiny = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("x") * (1 + 1e-15))
        .otherwise(pl.col("x"))
        .alias("x")
    )
    assert fingerprint(tiny)["sha256"] != base["sha256"]
    swapped = frame.with_columns(pl.col("x").reverse())  # same values per column, new rows
    assert fingerprint(swapped)["column_sha256"] == base["column_sha256"]
    assert fingerprint(swapped)["sha256"] != base["sha256"]


def test_write_lock_keeps_other_entries(tmp_path):
    frame = make_classification_frame(n=50)
    path = tmp_path / "qa.lock"
    write_lock(path, {"validation": fingerprint(frame)})
    write_lock(path, {"test": fingerprint(frame)})
    assert set(json.loads(path.read_text())["splits"]) == {"validation", "test"}


def test_compare_names_dtype_and_added_column():
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    changed = frame.with_columns(pl.col("a").cast(pl.Float64), pl.lit(0).alias("c"))
    parts = [c[0] for c in compare(fingerprint(frame), fingerprint(changed))]
    assert "dtype" in parts and "columns" in parts
    assert compare(fingerprint(frame), fingerprint(frame.reverse())) == []


def test_qa_lock_writes_to_out_and_reads_back(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_classification_frame(n=200).write_csv(tmp_path / "test.csv")
    assert run_cli("lock", "--test", "test.csv", "--target", "label", "--out", "x/my.lock") == 0
    assert "200 rows" in capsys.readouterr().out
    assert read_lock(tmp_path / "x" / "my.lock")["splits"]["test"]["rows"] == 200
