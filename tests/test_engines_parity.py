"""The same inputs give the same verdicts in memory, on the polars engine and on Spark.

~100k rows with three planted defects — drift (one feature shifted by half a standard
deviation in production), overlap (3 % of test rows copied from train) and a schema break (a
new category in 5 % of test rows) — and a clean control. The data checks' statuses must agree
across the three paths, and their headline metrics within the stated bin resolution.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from qa.api import run_gate
from qa.config import parse_config

DATA_CHECKS = ["schema", "data-volume", "class-imbalance", "drift", "split-hygiene", "leakage"]


def make_split(n: int, seed: int, shift: float = 0.0, label: bool = True) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 0] += shift
    city = rng.choice(["Köln", "Zürich", "東京", "Lyon"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = x[:, 0] + x[:, 1] - 0.5 * x[:, 2] + (city == "Lyon")
    frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(6)}).with_columns(
        pl.Series("city", city), pl.Series("id", [f"r{seed}-{i}" for i in range(n)])
    )
    if label:
        y = (logit + rng.logistic(size=n) > 0).astype(np.int64)
        frame = frame.with_columns(pl.Series("y", y))
    return frame


def defective(folder: Path) -> dict[str, Path]:
    train = make_split(80_000, 1)
    test = make_split(10_000, 2)
    copied = train.sample(300, seed=3)  # 3 % of test: whole records, their ids included
    test = pl.concat([test[: 10_000 - 300], copied])
    new_city = pl.Series(np.where(np.arange(test.height) % 20 == 0, "Atlantis", test["city"]))
    test = test.with_columns(new_city.alias("city"))
    production = make_split(10_000, 4, shift=0.5, label=False)
    return write(folder, train=train, test=test, production=production)


def clean(folder: Path) -> dict[str, Path]:
    return write(
        folder,
        train=make_split(80_000, 11),
        test=make_split(10_000, 12),
        production=make_split(10_000, 13, label=False),
    )


def write(folder: Path, **frames: pl.DataFrame) -> dict[str, Path]:
    paths = {}
    for split, frame in frames.items():
        paths[split] = folder / f"{split}.parquet"
        frame.write_parquet(paths[split])
    return paths


def statuses(paths: dict[str, Path], **run: object) -> dict[str, tuple[str, dict]]:
    config = parse_config(
        {
            "task": {"target": "y", "id": "id"},
            "data": {k: str(v) for k, v in paths.items()},
            "run": {"only": DATA_CHECKS, **run},
        }
    )
    report = run_gate(config)
    return {c.id: (c.status, dict(c.metrics)) for c in report.checks}


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, Path]:
    return defective(tmp_path_factory.mktemp("planted"))


@pytest.fixture(scope="module")
def control(tmp_path_factory) -> dict[str, Path]:
    return clean(tmp_path_factory.mktemp("control"))


def test_planted_defects_fail_alike_in_memory_and_on_polars_profiles(planted):
    memory = statuses(planted)
    streamed = statuses(planted, engine="polars", sample_rows=20_000)
    assert {k: v[0] for k, v in streamed.items()} == {k: v[0] for k, v in memory.items()}
    for check in ("drift", "leakage", "schema"):
        assert memory[check][0] == "fail", (check, memory[check])


def test_clean_data_passes_alike_in_memory_and_on_polars_profiles(control):
    memory = statuses(control)
    streamed = statuses(control, engine="polars", sample_rows=20_000)
    assert {k: v[0] for k, v in streamed.items()} == {k: v[0] for k, v in memory.items()}
    assert "fail" not in {v[0] for v in memory.values()}


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_spark_gives_the_polars_verdicts(planted, control):
    pytest.importorskip("pyspark")
    for paths in (planted, control):
        streamed = statuses(paths, engine="polars", sample_rows=20_000)
        spark = statuses(paths, engine="spark", sample_rows=20_000)
        assert {k: v[0] for k, v in spark.items()} == {k: v[0] for k, v in streamed.items()}
