"""Time metric-threshold, baseline-beats and overfit-gap on a 1,000,000-row test split.

    .venv/bin/python benchmarks/bench_model_checks.py [--rows 1000000] [--train-rows 100000]
        [--task binary|multiclass|regression]

Writes train / validation / test splits (5 numeric features with signal) and a prediction
file per split (Parquet, ``prediction`` + ``proba_<label>``) to a temporary folder, then, in
one process through ``qa.api.build_context`` and ``qa.runner.run_one``:

1. reads the splits, the labels and the three prediction files (engine work, shared);
2. fits the reference baselines once (majority, linear, XGBoost on train; predicting every
   split) — timed apart, as the target excludes it;
3. runs each model check on the warm Context and prints its time; then their sum, the number
   the target (< 10 s on 2 cores) is about. The other model checks (per-class-recall,
   confusion-clusters, calibration) are timed too when registered, for the full picture.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

MINE = ["metric-threshold", "baseline-beats", "overfit-gap"]
OTHERS = ["per-class-recall", "confusion-clusters", "calibration"]


def _split(rng: np.random.Generator, rows: int, task: str, classes: int, noise: float):
    x = rng.normal(size=(rows, 5)).astype(np.float32)
    signal = x[:, 0] + 0.5 * x[:, 1] - 0.5 * x[:, 2] * x[:, 3]
    frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(5)})
    if task == "regression":
        y = 3 * signal + rng.normal(size=rows)
        pred = 3 * signal + noise * rng.normal(size=rows)
        return frame.with_columns(pl.Series("label", y)), pl.DataFrame({"prediction": pred})
    if task == "binary":
        logit = 1.5 * signal
        y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
        p1 = 1 / (1 + np.exp(-(logit + noise * rng.normal(size=rows))))
        proba = np.column_stack([1 - p1, p1])
    else:
        logits = rng.normal(size=(rows, classes))
        logits[:, 0] += 2 * signal
        y = (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)  # a draw from softmax
        proba = _softmax(logits + noise * rng.normal(size=logits.shape))
    preds = pl.DataFrame(
        {
            "prediction": proba.argmax(axis=1),
            **{f"proba_{c}": proba[:, c] for c in range(proba.shape[1])},
        }
    )
    return frame.with_columns(pl.Series("label", y)), preds


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def write_inputs(
    folder: Path, rows: int, train_rows: int, task: str, classes: int = 5
) -> dict[str, str]:
    rng = np.random.default_rng(0)
    sizes = {"train": (train_rows, 0.3), "validation": (train_rows, 0.6), "test": (rows, 0.6)}
    paths: dict[str, str] = {}
    for split, (n, noise) in sizes.items():
        frame, preds = _split(rng, n, task, classes, noise)
        paths[split] = str(folder / f"{split}.parquet")
        paths[f"pred_{split}"] = str(folder / f"pred_{split}.parquet")
        frame.write_parquet(paths[split])
        preds.write_parquet(paths[f"pred_{split}"])
    return paths


def run(paths: dict[str, str], task: str, threads: int | None) -> None:
    from qa.api import build_context
    from qa.config import parse_config
    from qa.registry import load_registry
    from qa.runner import plan_checks, run_one

    registry = load_registry([])
    ids = [c for c in MINE + OTHERS if c in registry]
    config = parse_config(
        {
            "task": {"target": "label", "type": task},
            "data": {s: paths[s] for s in ("train", "validation", "test")},
            "model": {
                "predictions": {s: paths[f"pred_{s}"] for s in ("train", "validation", "test")}
            },
            "run": {"only": ids, **({"threads": threads} if threads else {})},
        }
    )
    planned = plan_checks(config, registry)
    start = time.perf_counter()
    ctx = build_context(config)
    loaded = time.perf_counter()
    for split in ("train", "validation", "test"):
        ctx.labels(split)
        ctx.predictions(split)
    parsed = time.perf_counter()
    ctx.baselines()
    fitted = time.perf_counter()
    print(f"{'read splits':30s} {loaded - start:7.3f} s")
    print(f"{'labels + 3 prediction files':30s} {parsed - loaded:7.3f} s")
    print(f"{'fit baselines (separate)':30s} {fitted - parsed:7.3f} s")
    totals = {"mine": 0.0, "others": 0.0}
    for item in planned:
        cid = item.registered.check.id
        result = run_one(ctx, item)
        totals["mine" if cid in MINE else "others"] += result.duration_s
        print(f"{cid:30s} {result.duration_s:7.3f} s  ({result.status}: {result.message[:70]})")
    print(f"{'metric/baseline/overfit checks':30s} {totals['mine']:7.3f} s  (target < 10 s)")
    if totals["others"]:
        print(f"{'all six model checks':30s} {totals['mine'] + totals['others']:7.3f} s")
    print(
        f"{'with reading the inputs':30s} {totals['mine'] + totals['others'] + parsed - start:7.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="test rows")
    parser.add_argument(
        "--train-rows", type=int, default=100_000, help="train rows (validation has as many)"
    )
    parser.add_argument("--task", default="binary", choices=["binary", "multiclass", "regression"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        paths = write_inputs(Path(tmp), args.rows, args.train_rows, args.task)
        print(
            f"{args.task}: test {args.rows:,} rows, train and validation {args.train_rows:,} "
            f"rows each (written in {time.perf_counter() - t:.1f} s)"
        )
        run(paths, args.task, args.threads)


if __name__ == "__main__":
    main()
