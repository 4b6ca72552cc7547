"""Benchmark the data-audit checks on 1,000,000 rows x 50 features (40 numeric, 10 categorical).

    .venv/bin/python benchmarks/bench_data_checks.py [--rows 1000000] [--data benchmarks/_data]

Writes the data once as Parquet (train 80 % / validation 10 % / test 10 %, plus a production
file as large as test, drawn from the same distribution), then times, in one process:

1. the floor: polars read of train + production and a per-feature scipy KS (numeric) or
   chi-square (categorical) test of train vs production — the least any drift check must do;
2. building the shared Context (reading all four splits) with ``qa.api.build_context``;
3. ``drift`` univariate only, ``drift`` with the domain classifier, ``split-hygiene``, and
   ``leakage`` / ``schema`` when registered — all through the one Context via
   ``qa.runner.plan_checks`` / ``run_one``.

Each step prints its wall time and the process's peak RSS so far (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

N_NUMERIC, N_CATEGORICAL = 40, 10
CARDINALITIES = (2, 5, 10, 20, 50, 100, 500, 1000, 10_000, 100_000)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generate(rows: int, folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write train / validation / test / production Parquet files (skipped when present)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ("train", "validation", "test", "production")
    paths = {n: folder / f"{n}_{rows}.parquet" for n in names}
    if all(p.is_file() for p in paths.values()):
        return paths
    rng = np.random.default_rng(seed)
    total = rows + rows // 10  # production comes from the same distribution
    columns: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        kind = i % 4
        if kind == 0:
            values = rng.normal(size=total)
        elif kind == 1:
            values = rng.lognormal(size=total)
        elif kind == 2:
            values = rng.integers(0, 50, total).astype(np.float64)
        else:
            values = rng.exponential(size=total)
        columns[f"num_{i}"] = values
    for j, card in enumerate(CARDINALITIES[:N_CATEGORICAL]):
        weights = 1.0 / np.arange(1, card + 1)  # Zipf-like shares
        codes = rng.choice(card, total, p=weights / weights.sum())
        columns[f"cat_{j}"] = pl.Series(codes).cast(pl.String)
    signal = columns["num_0"] + 0.5 * columns["num_4"] + rng.normal(size=total)
    columns["label"] = (signal > 0.5).astype(np.int64)
    frame = pl.DataFrame(columns)
    cats = [f"cat_{j}" for j in range(N_CATEGORICAL)]
    frame = frame.with_columns(pl.format("c{}", pl.col(c)).alias(c) for c in cats)
    cut = [int(rows * f) for f in (0.8, 0.9)]
    frame.slice(0, cut[0]).write_parquet(paths["train"])
    frame.slice(cut[0], cut[1] - cut[0]).write_parquet(paths["validation"])
    frame.slice(cut[1], rows - cut[1]).write_parquet(paths["test"])
    frame.slice(rows, total - rows).drop("label").write_parquet(paths["production"])
    return paths


def step(name: str, fn: Callable[[], Any], results: list[tuple[str, float, float, str]]) -> Any:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    status = getattr(value, "status", "")
    results.append((name, seconds, peak_rss_mb(), status))
    print(f"{name:<38} {seconds:8.2f} s   peak RSS {peak_rss_mb():8.0f} MB   {status}", flush=True)
    return value


def floor(paths: dict[str, Path]) -> int:
    """polars read + per-feature scipy KS / chi-square, train vs production."""
    from scipy import stats

    train = pl.read_parquet(paths["train"])
    prod = pl.read_parquet(paths["production"])
    tested = 0
    for col in prod.columns:
        if col == "label":
            continue
        if train.schema[col].is_numeric():
            stats.ks_2samp(train[col].to_numpy(), prod[col].to_numpy())
        else:
            a = train[col].value_counts(name="n").rename({col: "v"})
            b = prod[col].value_counts(name="m").rename({col: "v"})
            both = a.join(b, on="v", how="full", coalesce=True).fill_null(0)
            stats.chi2_contingency(np.vstack([both["n"].to_numpy(), both["m"].to_numpy()]))
        tested += 1
    return tested


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "_data")
    args = parser.parse_args(argv)

    from qa.base import build_params
    from qa.config import parse_config
    from qa.registry import load_registry
    from qa.runner import plan_checks, run_one

    print(
        f"generating / reusing {args.rows:,} rows x {N_NUMERIC + N_CATEGORICAL} features "
        f"in {args.data} …",
        flush=True,
    )
    t0 = time.perf_counter()
    paths = generate(args.rows, args.data)
    print(f"data ready in {time.perf_counter() - t0:.1f} s", flush=True)

    results: list[tuple[str, float, float, str]] = []
    step("floor: read + scipy KS/chi2 (train/prod)", lambda: floor(paths), results)

    config = parse_config(
        {
            "task": {"target": "label", "type": "binary"},
            "data": {k: str(v) for k, v in paths.items()},
        }
    )
    from qa.api import build_context

    ctx = step("build_context (read 4 splits)", lambda: build_context(config), results)
    registry = load_registry()
    planned = {p.registered.check.id: p for p in plan_checks(config, registry)}

    def run(check_id: str, **params: Any) -> Any:
        item = planned[check_id]
        if params:
            item = dataclasses.replace(
                item, params=build_params(item.registered.check, params, f"checks.{check_id}")
            )
        return run_one(ctx, item)

    step("drift (univariate only)", lambda: run("drift", domain_classifier=False), results)
    drift = step("drift (+ domain classifier)", lambda: run("drift"), results)
    step("split-hygiene", lambda: run("split-hygiene"), results)
    for optional in ("leakage", "schema"):
        if optional in planned:
            step(optional, lambda cid=optional: run(cid), results)
        else:
            print(f"{optional:<38} (not registered)")
    print(f"\ndrift message: {drift.message}")
    sample = (
        drift.metrics.get("domain_sample_reference"),
        drift.metrics.get("domain_sample_current"),
    )
    print(f"domain classifier sample: {sample[0]} train + {sample[1]} production rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
