"""Time per-class-recall, confusion-clusters and calibration on a 1M-row test split.

    .venv/bin/python benchmarks/bench_class_checks.py [--rows 1000000] [--classes 10]

Writes the test split and its prediction file (Parquet, ``prediction`` + ``proba_<label>``)
to a temporary folder, then runs the three checks through ``qa.check`` from those files and
prints the time of the whole call (which includes reading the files), then the parts: reading
and parsing the inputs (engine work, done once per run and shared by every check) apart from
each check's own work on a warm Context.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

import qa

CHECKS = ["per-class-recall", "confusion-clusters", "calibration"]


def write_inputs(folder: Path, rows: int, classes: int, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    logits = rng.normal(size=(rows, classes)).astype(np.float64)
    logits[np.arange(rows), y] += 2.5
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    train = pl.DataFrame({"x0": rng.normal(size=10_000), "label": rng.integers(0, classes, 10_000)})
    test = pl.DataFrame({"x0": rng.normal(size=rows), "label": y})
    preds = pl.DataFrame(
        {"prediction": proba.argmax(axis=1), **{f"proba_{c}": proba[:, c] for c in range(classes)}}
    )
    paths = {
        "train": folder / "train.parquet",
        "test": folder / "test.parquet",
        "preds": folder / "preds.parquet",
    }
    train.write_parquet(paths["train"])
    test.write_parquet(paths["test"])
    preds.write_parquet(paths["preds"])
    return {k: str(v) for k, v in paths.items()}


def time_parts(paths: dict[str, str]) -> None:
    """Reading inputs (engine) apart from each check's own work (on a warm Context)."""
    from qa.api import build_context
    from qa.config import parse_config
    from qa.registry import load_registry
    from qa.runner import plan_checks, run_one

    config = parse_config(
        {
            "task": {"target": "label", "type": "multiclass"},
            "data": {"train": paths["train"], "test": paths["test"]},
            "model": {"predictions": {"test": paths["preds"]}},
            "run": {"only": CHECKS},
        }
    )
    planned = plan_checks(config, load_registry([]))
    start = time.perf_counter()
    ctx = build_context(config)
    loaded = time.perf_counter()
    ctx.labels("test")
    labels = time.perf_counter()
    ctx.predictions("test")
    preds = time.perf_counter()
    print(f"{'read splits':28s} {loaded - start:7.3f} s")
    print(f"{'encode test labels':28s} {labels - loaded:7.3f} s")
    print(f"{'read + parse predictions':28s} {preds - labels:7.3f} s")
    total = 0.0
    for item in planned:
        result = run_one(ctx, item)
        total += result.duration_s
        print(f"{item.registered.check.id:28s} {result.duration_s:7.3f} s  ({result.status})")
    print(f"{'three checks, warm context':28s} {total:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_inputs(Path(tmp), args.rows, args.classes)
        start = time.perf_counter()
        report = qa.check(
            train=paths["train"],
            test=paths["test"],
            target="label",
            task="multiclass",
            predictions={"test": paths["preds"]},
            only=CHECKS,
        )
        total = time.perf_counter() - start
        print(
            f"qa.check end to end: {total:.3f} s ({args.rows:,} rows, {args.classes} classes; "
            "includes reading the split and prediction files)"
        )
        for check in report.checks:
            print(f"  {check.id:26s} {check.duration_s:7.3f} s  ({check.status})")
        print("Parts:")
        time_parts(paths)


if __name__ == "__main__":
    main()
