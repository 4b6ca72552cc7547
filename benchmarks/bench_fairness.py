"""Time the fairness check on a 1,000,000-row test split with two sensitive columns.

    .venv/bin/python benchmarks/bench_fairness.py [--rows 1000000] [--task binary|multiclass|regression]
        [--threads 2] [--repeat 3]

Builds in memory a train split (20,000 rows) and a test split of ``--rows`` rows with five
numeric features, a categorical sensitive column ``sex`` (three values and 2 % missing) and a
numeric one ``age`` (62 values, cut into quantile bands), and the test predictions (the
contract format: ``prediction`` plus ``proba_<label>``). The context is built and warmed
(labels and predictions read, as ``qa check`` does before any check runs), then
``Fairness().run(ctx, Fairness.Params())`` is timed ``--repeat`` times; the best and the first
(cold: fairlearn and scikit-learn imported) are printed, wall-clock and CPU seconds (on a shared
machine the CPU seconds are the steadier number). The target: under 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time


def _limit_threads(threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    with contextlib.suppress(AttributeError, OSError):  # not on Linux
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))


def _inputs(rows: int, task: str, seed: int = 0) -> tuple:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)

    def split(n: int, noise: float):
        x = rng.normal(size=(n, 5)).astype(np.float32)
        signal = x[:, 0] + 0.5 * x[:, 1] - 0.5 * x[:, 2] * x[:, 3]
        sex = pl.Series("sex", rng.choice(["female", "male", "other"], n, p=[0.49, 0.49, 0.02]))
        sex = sex.scatter(np.flatnonzero(rng.random(n) < 0.02), None)
        frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(5)}).with_columns(
            sex, pl.Series("age", rng.integers(18, 80, n))
        )
        if task == "regression":
            y = 3 * signal + rng.normal(size=n)
            preds = pl.DataFrame({"prediction": 3 * signal + noise * rng.normal(size=n)})
            return frame.with_columns(pl.Series("label", y)), preds
        if task == "binary":
            logit = 1.5 * signal
            y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
            p1 = 1 / (1 + np.exp(-(logit + noise * rng.normal(size=n))))
            proba = np.column_stack([1 - p1, p1])
        else:
            logits = rng.normal(size=(n, 5))
            logits[:, 0] += 2 * signal
            y = (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)
            z = logits + noise * rng.normal(size=logits.shape)
            proba = np.exp(z - z.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
        preds = pl.DataFrame(
            {
                "prediction": proba.argmax(axis=1),
                **{f"proba_{c}": proba[:, c] for c in range(proba.shape[1])},
            }
        )
        return frame.with_columns(pl.Series("label", y)), preds

    train, _ = split(20_000, 0.3)
    test, preds = split(rows, 0.6)
    return train, test, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--task", choices=("binary", "multiclass", "regression"), default="binary")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _limit_threads(args.threads)

    from qa.api import build_context
    from qa.checks.fairness import Fairness
    from qa.config import parse_config

    train, test, preds = _inputs(args.rows, args.task)
    config = parse_config(
        {"task": {"target": "label", "type": args.task, "sensitive": ["sex", "age"]}}
    )
    start = time.perf_counter()
    ctx = build_context(config, {"train": train, "test": test}, {"test": preds})
    ctx.labels("test")
    ctx.predictions("test")
    print(f"context (read labels and predictions): {time.perf_counter() - start:.2f} s")
    check = Fairness()
    times, cpu = [], []
    result = None
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = check.run(ctx, Fairness.Params())
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert result is not None
    print(f"fairness on {args.rows:,} test rows, {args.task}, {args.threads} core(s):")
    print(f"  first run (cold imports): {times[0]:.2f} s ({cpu[0]:.2f} s CPU)")
    best = min(range(len(times)), key=times.__getitem__)
    print(f"  best of {len(times)}: {times[best]:.2f} s ({cpu[best]:.2f} s CPU)")
    print(f"  status {result.status}: {result.message[:300]}")


if __name__ == "__main__":
    main()
