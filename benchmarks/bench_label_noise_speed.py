"""How fast `label-noise` and `qa audit labels` are at 1,000,000 rows, and what the speed costs.

Data: 1M rows x 50 features (40 numeric, 10 categorical; the generator of
bench_label_noise_leakage.py), split 800k train / 100k validation / 100k test, written to
Parquet in a temporary folder.

1. In one process, one Context: the `label-noise` check under three out-of-fold settings,
   each a reference measured in the same run —
   - ``0.1.0``: 5 folds, each model fit on all 640k rows of the other folds;
   - ``cap-5``: 5 folds, each model fit on 250k seeded rows (the cap alone);
   - ``now``: the shipped default — the fewest folds whose fitting rows still reach the cap
     (2 folds of 400k here, each model fit on 250k).
   For each: seconds, out-of-fold AUC, train flag rate, folds and rows per fold.
2. How fast the flag rate settles as the per-fold cap grows (100k .. 400k rows), with 10 % of
   train labels flipped so there is something to find: the cap is chosen where it stops moving.
3. The commands end to end in fresh processes (reading Parquet included):
   `qa check --only label-noise` and `qa audit labels`, wall seconds and peak RSS.

    .venv/bin/python benchmarks/bench_label_noise_speed.py [--rows 1000000] [--skip-old]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from bench_label_noise_leakage import make_data

from qa import oof
from qa.api import build_context
from qa.checks.label_noise import LabelNoise
from qa.config import parse_config


@contextmanager
def oof_setting(cap: int, adaptive: bool) -> Iterator[None]:
    """Temporarily run the out-of-fold fit with another cap / fold rule."""
    saved_cap, saved_folds = oof.MAX_FIT_ROWS, oof.effective_folds
    oof.MAX_FIT_ROWS = cap
    if not adaptive:
        oof.effective_folds = lambda n, requested: max(2, min(requested, n))  # type: ignore[assignment]
    try:
        yield
    finally:
        oof.MAX_FIT_ROWS, oof.effective_folds = saved_cap, saved_folds  # type: ignore[assignment]


def run_check(splits: dict[str, pl.DataFrame]) -> tuple[float, dict[str, float]]:
    config = parse_config({"task": {"target": "label", "type": "binary"}})
    ctx = build_context(config, splits)
    for split in splits:
        ctx.feature_matrix(split)  # encoding is not the check's time
    check = LabelNoise()
    start = time.perf_counter()
    result = check.run(ctx, check.Params())
    elapsed = time.perf_counter() - start
    keys = ("oof_auc", "issue_rate", "n_folds", "oof_fit_rows_per_fold", "control_issue_rate")
    shown = {k: result.metrics[k] for k in keys if k in result.metrics}
    shown["status"] = result.status  # type: ignore[assignment]
    return elapsed, shown


def flipped(train: pl.DataFrame, share: float, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    flip = rng.random(train.height) < share
    label = train["label"].to_numpy()
    return train.with_columns(pl.Series("label", np.where(flip, 1 - label, label)))


def settings_table(splits: dict[str, pl.DataFrame], skip_old: bool) -> None:
    print("\n1. label-noise check, one process (seconds exclude reading and encoding)")
    rows = [("cap-5", 250_000, False), ("now", oof.MAX_FIT_ROWS, True)]
    if not skip_old:
        rows.insert(0, ("0.1.0", 10**9, False))
    for name, cap, adaptive in rows:
        with oof_setting(cap, adaptive):
            elapsed, shown = run_check(splits)
        print(f"  {name:6s} {elapsed:6.1f} s  {shown}", flush=True)


def cap_sweep(splits: dict[str, pl.DataFrame]) -> None:
    print("\n2. flag rate against the per-fold cap, 10 % of train labels flipped")
    noisy = {**splits, "train": flipped(splits["train"], 0.10)}
    for cap in (100_000, 150_000, 250_000, 400_000):
        with oof_setting(cap, True):
            elapsed, shown = run_check(noisy)
        print(f"  cap {cap:>7,}  {elapsed:6.1f} s  {shown}", flush=True)


#: Runs one command and prints its own peak RSS (KiB), so each command is measured alone.
WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(rc)"
)


def command(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one qa command in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, int(done.stderr.split()[-1]) / 1024


def commands(splits: dict[str, pl.DataFrame], folder: Path) -> None:
    print("\n3. commands end to end (fresh process, Parquet read included)")
    paths = {}
    for split, frame in splits.items():
        paths[split] = folder / f"{split}.parquet"
        frame.write_parquet(paths[split])
    qa = str(Path(sys.executable).with_name("qa"))
    data = [f"--{s}={p}" for s, p in paths.items()] + ["--target", "label", "--task", "binary"]
    quiet = ["-q", "--out", str(folder / "reports"), "--ci", "none"]
    runs = {
        "qa check --only label-noise": [qa, "check", *data, "--only", "label-noise", *quiet],
        "qa audit labels": [qa, "audit", "labels", *data, "--out", str(folder / "audit")],
    }
    for name, args in runs.items():
        elapsed, peak = command(args)
        print(f"  {name:28s} {elapsed:6.1f} s  peak RSS {peak:,.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-old", action="store_true", help="skip the slow 0.1.0 setting")
    args = parser.parse_args()
    frame = make_data(args.rows)
    cut = [int(args.rows * f) for f in (0.8, 0.9)]
    splits = {
        "train": frame[: cut[0]],
        "validation": frame[cut[0] : cut[1]],
        "test": frame[cut[1] :],
    }
    print(f"{args.rows:,} rows x {frame.width - 1} features; train {splits['train'].height:,}")
    settings_table(splits, args.skip_old)
    cap_sweep(splits)
    with tempfile.TemporaryDirectory() as tmp:
        commands(splits, Path(tmp))


if __name__ == "__main__":
    main()
