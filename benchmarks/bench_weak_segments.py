"""Time weak-segments on a 1,000,000-row test split with 50 features.

    taskset -c 0,1 .venv/bin/python benchmarks/bench_weak_segments.py [--rows 1000000]
        [--train-rows 20000] [--task binary|multiclass|regression] [--clean]
        [--search-rows N]

Builds train and test in memory: 50 features (40 numeric with 2 % missing and a few
infinities, 6 categorical of 3 to 40 levels, one ID-like string column with a distinct value
per row, one boolean, one datetime, one integer count), a label from a few of them, and the
model's test predictions (the true signal plus noise). Unless ``--clean``, the model is wrong
on one level of one categorical feature (about 10 % of the rows), so the search, the
reference baselines and the report all run. Then, through ``qa.api.build_context``:

1. reads the labels and predictions and fits the reference baselines (majority, linear,
   XGBoost on train) — timed apart: the Context does that once for every model check;
2. runs the check on the warm Context and prints its seconds (target: <= 20 s on 2 cores at
   1,000,000 rows), its status and the sampling note. ``--search-rows 40000`` at 200,000
   rows exercises the sampled pair search (as 200,000 of 1,000,000 does) on a small machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

N_NUMERIC = 40
CATEGORIES = (3, 5, 8, 12, 20, 40)


def make_split(rng: np.random.Generator, rows: int, task: str, defect: bool):
    """A split's frame and the model's predictions for it."""
    x = rng.normal(size=(rows, N_NUMERIC))
    cols: dict[str, object] = {}
    for i in range(N_NUMERIC):
        values = x[:, i].copy()
        values[rng.random(rows) < 0.02] = np.nan
        values[rng.random(rows) < 1e-4] = np.inf
        cols[f"num_{i}"] = values
    cats = {}
    for k in CATEGORIES:
        codes = rng.integers(0, k, rows)
        cats[k] = codes
        cols[f"cat_{k}"] = pl.Series([f"level_{c}" for c in range(k)])[codes].to_list()
    cols["row_key"] = [f"id-{i}" for i in rng.permutation(rows)]
    cols["flag"] = rng.random(rows) < 0.3
    cols["when"] = pl.datetime_range(
        pl.datetime(2024, 1, 1), pl.datetime(2024, 12, 31), interval="1m", eager=True
    ).sample(rows, with_replacement=True, seed=int(rng.integers(1 << 30)))
    cols["count"] = rng.poisson(3, rows)
    signal = np.nan_to_num(x[:, 0] + 0.7 * x[:, 1] - 0.5 * x[:, 2] + 0.3 * (cats[5] == 2))
    frame = pl.DataFrame(cols)
    if task == "regression":
        y = 3 * signal + rng.normal(size=rows)
        pred = 3 * signal + 0.5 * rng.normal(size=rows)
        if defect:
            wrong = cats[8] == 3
            pred[wrong] += 6.0
        return frame.with_columns(pl.Series("label", y)), pl.DataFrame({"prediction": pred})
    n_classes = 2 if task == "binary" else 4
    logits = np.zeros((rows, n_classes))
    logits[:, 1] = 2 * signal
    if n_classes > 2:
        logits[:, 2] = -2 * signal
        logits[:, 3] = x[:, 3]
    y = (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)
    model = logits + 0.3 * rng.normal(size=logits.shape)
    if defect:
        wrong = cats[8] == 3
        model[wrong] = model[wrong][:, ::-1]
    proba = np.exp(model - model.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    preds = pl.DataFrame(
        {
            "prediction": proba.argmax(axis=1),
            **{f"proba_{c}": proba[:, c] for c in range(n_classes)},
        }
    )
    return frame.with_columns(pl.Series("label", y)), preds


def main() -> None:
    from qa.api import build_context
    from qa.checks.weak_segments import WeakSegments
    from qa.config import parse_config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="test rows")
    parser.add_argument("--train-rows", type=int, default=20_000, help="train rows")
    parser.add_argument("--task", default="binary", choices=["binary", "multiclass", "regression"])
    parser.add_argument("--clean", action="store_true", help="no planted weak segment")
    parser.add_argument("--threads", type=int, default=2, help="threads for the baseline fits")
    parser.add_argument(
        "--search-rows", type=int, default=None, help="the check's search_rows (default 200,000)"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    t = time.perf_counter()
    train, _ = make_split(rng, args.train_rows, args.task, defect=False)
    test, preds = make_split(rng, args.rows, args.task, defect=not args.clean)
    print(
        f"{args.task}: test {args.rows:,} rows x {test.width - 1} features, train "
        f"{args.train_rows:,} rows (built in {time.perf_counter() - t:.1f} s)"
    )
    config = parse_config(
        {"task": {"target": "label", "type": args.task}, "run": {"threads": args.threads}}
    )
    start = time.perf_counter()
    ctx = build_context(config, {"train": train, "test": test}, {"test": preds})
    ctx.labels("test")
    ctx.predictions("test")
    loaded = time.perf_counter()
    ctx.baselines()
    fitted = time.perf_counter()
    print(f"{'context + labels + predictions':32s} {loaded - start:7.2f} s")
    print(f"{'fit baselines (shared, separate)':32s} {fitted - loaded:7.2f} s")
    check = WeakSegments()
    t = time.perf_counter()
    params = WeakSegments.Params()
    if args.search_rows:
        params = WeakSegments.Params(search_rows=args.search_rows)
    result = check.run(ctx, params)
    seconds = time.perf_counter() - t
    print(f"{'weak-segments':32s} {seconds:7.2f} s  (target <= 20 s at 1,000,000 rows, 2 cores)")
    print(f"status {result.status}: {result.message[:300]}")
    if result.evidence:
        print(f"search: {result.evidence[0].note}")
    print({k: v for k, v in result.metrics.items() if k.startswith(("n_", "search"))})


if __name__ == "__main__":
    main()
