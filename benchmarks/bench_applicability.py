"""Benchmark the applicability check on 1,000,000 production rows x 50 features.

    .venv/bin/python benchmarks/bench_applicability.py [--rows 1000000] [--train-rows N]
        [--threads 2] [--novel 0.0]

Builds train and production in memory from one distribution: 40 numeric features (normal,
lognormal, integer, exponential), 8 categorical (2 to 1,000 levels), a boolean and a datetime
that is the time axis (train in 2023, production in 2024: not judged by its value). With
``--novel`` that share of production rows gets three features far outside train's range.
Train has as many rows as production unless ``--train-rows`` says otherwise.

Times, in one process: building the Context (not the check's), then the check itself
(``Applicability().run``), which includes encoding production with the shared encoder, the
rules, the isolation forest's fit on its train sample (10,000 rows by default, stated in the
metric fit_rows) and scoring every production row in batches. ``--threads`` sets
``[run] threads`` (the speed target is 15 s at 1M rows on 2 cores). Prints the seconds, the
peak RSS and the verdict.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import polars as pl

N_NUMERIC, CARDINALITIES = 40, (2, 3, 5, 10, 20, 50, 200, 1000)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_split(rows: int, seed: int, start: dt.datetime) -> pl.DataFrame:
    """One split: 40 numeric, 8 categorical, a boolean and a datetime feature, and a label."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        kind = i % 4
        if kind == 0:
            values = rng.normal(size=rows)
        elif kind == 1:
            values = rng.lognormal(size=rows)
        elif kind == 2:
            values = rng.integers(0, 50, rows).astype(np.float64)
        else:
            values = rng.exponential(size=rows)
        columns[f"num_{i}"] = values
    for j, levels in enumerate(CARDINALITIES):
        weights = 1.0 / np.arange(1, levels + 1)
        codes = rng.choice(levels, size=rows, p=weights / weights.sum())
        columns[f"cat_{j}"] = np.char.add("v", codes.astype(str))
    columns["flag"] = rng.random(rows) < 0.3
    seconds = rng.integers(0, 365 * 86_400, rows)
    instants = np.datetime64(start, "s") + seconds.astype("timedelta64[s]")
    columns["event_at"] = instants.astype("datetime64[us]")
    columns["label"] = (columns["num_0"] + rng.normal(size=rows) > 0).astype(np.int64)
    return pl.DataFrame(columns)


def plant_novel(frame: pl.DataFrame, share: float, seed: int) -> pl.DataFrame:
    """Move three features of ``share`` of the rows far outside train's range."""
    if share <= 0:
        return frame
    rng = np.random.default_rng(seed)
    hit = pl.Series("hit", rng.random(frame.height) < share)
    return frame.with_columns(
        pl.when(hit).then(pl.col(c) * 100 + 1000).otherwise(pl.col(c)).alias(c)
        for c in ("num_0", "num_5", "num_10")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="production rows")
    parser.add_argument("--train-rows", type=int, default=None, help="train rows (= --rows)")
    parser.add_argument("--threads", type=int, default=2, help="[run] threads")
    parser.add_argument("--novel", type=float, default=0.0, help="share of planted novel rows")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import qa.api
    from qa.checks.applicability import Applicability
    from qa.config import parse_config

    train_rows = args.train_rows or args.rows
    t0 = time.perf_counter()
    train = make_split(train_rows, 1, dt.datetime(2023, 1, 1))
    production = plant_novel(make_split(args.rows, 2, dt.datetime(2024, 1, 1)), args.novel, 3)
    print(
        f"data: train {train.height:,} x production {production.height:,} rows, 50 features "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    config = parse_config({"task": {"target": "label"}, "run": {"threads": args.threads}})
    t0 = time.perf_counter()
    ctx = qa.api.build_context(config, {"train": train, "production": production})
    print(f"context: {time.perf_counter() - t0:.2f} s")
    import sklearn.ensemble  # noqa: F401  (imported once per process, as in a gate run)

    t0 = time.perf_counter()
    result = Applicability().run(ctx, Applicability.Params())
    seconds = time.perf_counter() - t0
    m = result.metrics
    print(
        f"applicability: {seconds:.2f} s on {args.rows:,} production rows "
        f"(threads {args.threads}, forest fitted on {m['fit_rows']:,} train rows, threshold "
        f"from {m['calibration_rows']:,} held-out rows), peak RSS {peak_rss_mb():,.0f} MB"
    )
    print(f"  {result.status}: {result.message}")
    print(f"  novel share {m['novel_share']:.4f}, expected {m['expected_novel_share']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
