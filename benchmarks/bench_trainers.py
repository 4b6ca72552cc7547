"""Time the reference baselines and the MLP trainer on generated data.

    .venv/bin/python benchmarks/bench_trainers.py            # both parts, 1,000,000 x 50
    .venv/bin/python benchmarks/bench_trainers.py baselines --rows 200000
    .venv/bin/python benchmarks/bench_trainers.py mlp --mlp-rows 100000

Part ``baselines``: ``fit_baselines`` (majority, linear, XGBoost) on ``--rows`` train rows x 50
features (40 numeric with 5 % missing, 9 low-cardinality categorical, one with ~100,000 levels),
binary target, plus validation and test of ``--rows // 10`` rows each; fitted with
``--threads`` threads (default 2, our CI budget) and scored on every split.
Part ``mlp``: ``qa train --trainer mlp`` as a subprocess on ``--mlp-rows`` train rows.
Each part runs in its own process, so the peak memory printed is that part's own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def make_frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 40)).astype(np.float32)
    numeric[rng.random((n, 40)) < 0.05] = np.nan
    logit = np.nan_to_num(numeric[:, :5]) @ np.array([1.0, -0.8, 0.6, 0.4, -0.3])
    data: dict[str, object] = {f"num_{i}": numeric[:, i] for i in range(40)}
    for i in range(9):
        levels = rng.integers(0, 5 + 3 * i, n)
        if i == 0:
            logit = logit + 0.5 * (levels % 2)
        data[f"cat_{i}"] = pl.Series([f"L{v}" for v in range(5 + 3 * i)])[levels]
    data["high_card"] = pl.Series([f"h{v}" for v in range(100_000)])[rng.integers(0, 100_000, n)]
    data["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(data)


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def bench_baselines(rows: int, threads: int) -> None:
    from qa.api import build_context
    from qa.config import parse_config
    from qa.trainers.baselines import fit_baselines

    t0 = time.perf_counter()
    frames = {
        "train": make_frame(rows, 0),
        "validation": make_frame(rows // 10, 1),
        "test": make_frame(rows // 10, 2),
    }
    config = parse_config({"task": {"target": "label"}, "run": {"threads": threads}})
    ctx = build_context(config, frames=frames)
    print(
        f"data: {rows:,} train rows x {len(ctx.feature_columns)} features "
        f"(+{rows // 10:,} validation, +{rows // 10:,} test), generated in "
        f"{time.perf_counter() - t0:.1f}s"
    )
    t0 = time.perf_counter()
    ctx.feature_matrix("train")
    print(f"feature matrix (train): {time.perf_counter() - t0:.1f}s")
    timings: dict[str, float] = {}
    import qa.trainers.baselines as module

    original = module.get_trainer

    def timed(name: str, **kw: object):
        trainer = original(name, **kw)
        fit = trainer.fit

        def wrapped(c):
            start = time.perf_counter()
            model = fit(c)
            timings[name] = time.perf_counter() - start
            return model

        trainer.fit = wrapped
        return trainer

    module.get_trainer = timed
    t0 = time.perf_counter()
    baselines = fit_baselines(ctx.training_data())
    total = time.perf_counter() - t0
    module.get_trainer = original
    y = ctx.labels("test")
    for name, b in baselines.items():
        acc = float(np.mean(b.predictions["test"].labels == y))
        fit_s = timings.get(name if name != "mean" else "majority", float("nan"))
        print(f"  {name:9s} fit {fit_s:6.1f}s  test accuracy {acc:.3f}  {b.note}")
    print(
        f"fit_baselines: {total:.1f}s (fit + predict 3 splits) with {threads} threads; "
        f"peak memory {peak_mb():.0f} MB"
    )


def bench_mlp(rows: int, threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        args = []
        for split, n, seed in (
            ("train", rows, 0),
            ("validation", rows // 5, 1),
            ("test", rows // 5, 2),
        ):
            make_frame(n, seed).write_parquet(folder / f"{split}.parquet")
            args += [f"--{split}", str(folder / f"{split}.parquet")]
        qa = Path(sys.executable).with_name("qa")
        cmd = [
            str(qa),
            "train",
            "--trainer",
            "mlp",
            *args,
            "--target",
            "label",
            "--out",
            str(folder / "out"),
            "--threads",
            str(threads),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if done.returncode:
            print(done.stderr)
            raise SystemExit(done.returncode)
        epochs = pl.read_csv(folder / "out" / "history.csv").height
        print(
            f"qa train --trainer mlp: {rows:,} train rows, {epochs} epochs, {seconds:.1f}s "
            f"wall (whole command); peak memory {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB"
        )
        print("  " + done.stderr.strip().splitlines()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", nargs="?", default="all", choices=["all", "baselines", "mlp"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mlp-rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.part == "all":
        for part in ("baselines", "mlp"):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    part,
                    "--rows",
                    str(args.rows),
                    "--mlp-rows",
                    str(args.mlp_rows),
                    "--threads",
                    str(args.threads),
                ],
                check=True,
            )
    elif args.part == "baselines":
        bench_baselines(args.rows, args.threads)
    else:
        bench_mlp(args.mlp_rows, args.threads)


if __name__ == "__main__":
    main()
