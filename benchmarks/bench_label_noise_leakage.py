"""Time `leakage` and `label-noise` (out-of-fold XGBoost included) on 1,000,000 rows x 50 features.

40 numeric and 10 categorical features, a learnable binary target; train 800k, validation 100k,
test 100k, production 100k (unlabelled). The Context is built once; each check runs once.

    .venv/bin/python benchmarks/bench_label_noise_leakage.py [--rows 1000000]

Prints seconds per check and the process's peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import polars as pl

from qa.api import build_context
from qa.checks.label_noise import LabelNoise
from qa.checks.leakage import Leakage
from qa.config import parse_config


def make_data(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 40)).astype(np.float32)
    numeric[rng.random((n, 40)) < 0.01] = np.nan
    cats = {f"cat_{j}": rng.integers(0, 5 + 10 * j, n) for j in range(10)}
    logit = np.nansum(numeric[:, :6], axis=1) * 0.8 + (cats["cat_0"] == 1) * 1.5
    label = (logit + rng.logistic(size=n) > 0).astype(np.int8)
    data = {f"num_{i}": numeric[:, i] for i in range(40)}
    data.update({k: pl.Series(k, v).cast(pl.String) for k, v in cats.items()})
    data["label"] = label
    return pl.DataFrame(data)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.rows
    t0 = time.perf_counter()
    frame = make_data(n)
    cut = [int(n * f) for f in (0.8, 0.9)]
    train, validation, test = frame[: cut[0]], frame[cut[0] : cut[1]], frame[cut[1] :]
    production = make_data(n // 10, seed=1).drop("label")
    print(
        f"generated {n:,} rows + {production.height:,} production in {time.perf_counter() - t0:.1f} s; "
        f"peak {peak_mib():,.0f} MiB",
        flush=True,
    )
    config = parse_config({"task": {"target": "label", "type": "binary"}})
    t0 = time.perf_counter()
    ctx = build_context(
        config, {"train": train, "validation": validation, "test": test, "production": production}
    )
    ctx.feature_matrix("train")
    print(
        f"context + train feature matrix: {time.perf_counter() - t0:.1f} s (threads {ctx.n_threads})",
        flush=True,
    )
    for check in (Leakage(), LabelNoise()):
        t0 = time.perf_counter()
        result = check.run(ctx, check.Params())
        elapsed = time.perf_counter() - t0
        shown = {
            k: v
            for k, v in result.metrics.items()
            if k
            in (
                "issue_rate",
                "oof_auc",
                "proxy_max_score",
                "proxy_sample_rows",
                "overlap_excess_share",
                "test_issue_rate",
            )
        }
        print(
            f"{check.id:12s} {elapsed:6.1f} s  status={result.status}  {shown}  "
            f"peak {peak_mib():,.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
