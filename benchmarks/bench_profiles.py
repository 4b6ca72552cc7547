"""Data of any size: the data checks on profiles, with each engine, against a stored reference.

Generates ``--rows`` rows x 50 features (40 numeric, 10 categorical; the generator of
bench_label_noise_leakage.py, written in 1M-row chunks so generation itself stays small) to
Parquet: train 80 %, test 10 %, production 10 % (unlabelled, one feature shifted by 0.3 std so
drift has something to find). Then, each command in a fresh process (wall seconds, peak RSS):

  a. ``qa check --engine polars`` — the data checks (schema, data-volume, class-imbalance,
     drift, split-hygiene, leakage) on profiles streamed in batches;
  b. the same with ``--engine spark`` (Spark local[2]; skipped without PySpark/Java);
  c. ``qa profile`` of train, then ``qa check --reference`` against the production file
     (``--reference-rows``, default 1M rows, written separately);
  d. the in-memory path (no engine) on ``--memory-rows`` rows (default 1M), the full default
     gate, to show it did not slow down.

    .venv/bin/python benchmarks/bench_profiles.py [--rows 10000000] [--skip spark,memory]

Prints one line per run with its verdicts per check, so the engines' verdicts can be compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from bench_label_noise_leakage import make_data

DATA_CHECKS = "schema,data-volume,class-imbalance,drift,split-hygiene,leakage"
CHUNK = 1_000_000
#: Runs one command and prints its own peak RSS (KiB), so each command is measured alone.
WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(rc)"
)


def write_split(path: Path, rows: int, seed: int, shift: float = 0.0, label: bool = True) -> None:
    """``rows`` generated rows to one Parquet file, 1M rows at a time."""
    writer = None
    for start in range(0, rows, CHUNK):
        frame = make_data(min(CHUNK, rows - start), seed=seed * 1000 + start // CHUNK)
        if shift:
            frame = frame.with_columns(pl.col("num_10") + shift)
        if not label:
            frame = frame.drop("label")
        table = frame.to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def run(args: list[str], out: Path) -> tuple[float, float, dict[str, str]]:
    """Wall seconds, peak RSS (MiB) and the status of every check of one qa command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    peak = int(done.stderr.split()[-1]) / 1024
    statuses = {}
    report = out / "report.json"
    if report.exists():
        statuses = {c["id"]: c["status"] for c in json.loads(report.read_text())["checks"]}
    return elapsed, peak, statuses


def line(name: str, elapsed: float, peak: float, statuses: dict[str, str]) -> None:
    shown = " ".join(f"{k}={v}" for k, v in statuses.items() if v != "skip")
    print(f"  {name:34s} {elapsed:7.1f} s  peak RSS {peak:7,.0f} MiB  {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="comma-separated: polars,spark,reference,memory")
    parser.add_argument("--folder", help="keep the data here (default: a temporary folder)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        n = args.rows
        splits = {"train": (int(n * 0.8), 1), "test": (n // 10, 2)}
        for split, (rows, seed) in splits.items():
            if not (folder / f"{split}.parquet").exists():
                write_split(folder / f"{split}.parquet", rows, seed)
        prod = folder / "production.parquet"
        if not prod.exists():
            write_split(prod, n // 10, 3, shift=0.3, label=False)
        print(f"{n:,} rows x 50 features written in {time.perf_counter() - start:.0f} s")
        qa = str(Path(sys.executable).with_name("qa"))
        data = [f"--{s}={folder / f'{s}.parquet'}" for s in ("train", "test", "production")]
        common = ["--target", "label", "--task", "binary", "--ci", "none", "-q"]
        print(f"\nData checks ({DATA_CHECKS}) on {n:,} rows:")
        for engine in ("polars", "spark"):
            if engine in skip:
                continue
            out = folder / f"out-{engine}"
            cmd = [qa, "check", *data, *common, "--only", DATA_CHECKS, "--engine", engine]
            line(f"a/b. --engine {engine}", *run([*cmd, "--out", str(out)], out))
        if "reference" not in skip:
            reference_run(qa, folder, common, args.reference_rows)
        if "memory" not in skip:
            memory_run(qa, folder, common, args.memory_rows)


def reference_run(qa: str, folder: Path, common: list[str], rows: int) -> None:
    print("\nc. a stored reference:")
    ref = folder / "reference.qaprofile"
    train = f"--train={folder / 'train.parquet'}"
    profile_cmd = [qa, "profile", train, "--target", "label", "--out", str(ref)]
    elapsed, peak, _ = run(profile_cmd, folder)
    size = ref.stat().st_size / 1e6
    print(
        f"  {'qa profile (train)':34s} {elapsed:7.1f} s  peak RSS {peak:7,.0f} MiB  {size:.1f} MB"
    )
    prod = folder / f"production-{rows}.parquet"
    if not prod.exists():
        write_split(prod, rows, 4, shift=0.3, label=False)
    out = folder / "out-reference"
    cmd = [qa, "check", f"--reference={ref}", f"--production={prod}", *common, "--out", str(out)]
    line(f"qa check --reference ({rows:,} rows)", *run(cmd, out))


def memory_run(qa: str, folder: Path, common: list[str], rows: int) -> None:
    print(f"\nd. in memory (no engine), the full default gate on {rows:,} rows:")
    small = folder / f"memory-{rows}"
    small.mkdir(exist_ok=True)
    cut = [int(rows * 0.8), rows // 10]
    for split, count, seed in (("train", cut[0], 1), ("test", cut[1], 2)):
        if not (small / f"{split}.parquet").exists():
            write_split(small / f"{split}.parquet", count, seed)
    if not (small / "production.parquet").exists():
        write_split(small / "production.parquet", cut[1], 3, shift=0.3, label=False)
    data = [f"--{s}={small / f'{s}.parquet'}" for s in ("train", "test", "production")]
    out = small / "out"
    line("qa check (in memory)", *run([qa, "check", *data, *common, "--out", str(out)], out))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
