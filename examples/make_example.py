"""Build the bundled demo: a real data set split four ways, with realistic defects planted.

    python examples/make_example.py OUTDIR

Data: the Wisconsin breast-cancer diagnostic data set that ships with scikit-learn
(569 patients, 30 numeric measurements of cell nuclei, binary diagnosis). It is real, small,
needs no network, and its features are physical measurements with units, which makes a units
mix-up a realistic defect. (``load_digits`` was the alternative: its 64 pixel intensities
share one 0–16 scale, so a unit change would be artificial.)

Writes ``OUTDIR/data/{train,validation,test,production}.parquet`` (stratified 60/15/15/10
split, seeded; production unlabelled) and ``OUTDIR/qa.toml``. Planted defects:

1. production records ``mean radius`` and ``mean perimeter`` in millimetres instead of
   centimetres (×10) — the ``schema`` and ``drift`` checks should catch it;
2. 5 % of the test rows are copied into train (same patient id, same values) — the
   ``leakage`` check should catch it.

Running it again rewrites the same files, byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

SEED = 20240611
TARGET = "diagnosis"
ID = "sample_id"
SPLIT_SHARES = {"train": 0.60, "validation": 0.15, "test": 0.15, "production": 0.10}
UNIT_COLUMNS = ("mean radius", "mean perimeter")
UNIT_FACTOR = 10.0
LEAKED_TEST_SHARE = 0.05

QA_TOML = """\
# qa-gate demo: breast-cancer diagnosis (scikit-learn's copy of the Wisconsin data set).
# Built by examples/make_example.py; paths are relative to this file.
[task]
type = "binary"
target = "{target}"
id = "{id}"
positive_label = "malignant"

[data]
train = "data/train.parquet"
validation = "data/validation.parquet"
test = "data/test.parquet"
production = "data/production.parquet"

# The model under test: `make demo` fits the reference MLP first
# (qa train --trainer mlp --out model), which writes these files.
[model]
history = "model/history.csv"

[model.predictions]
train = "model/predictions_train.parquet"
validation = "model/predictions_validation.parquet"
test = "model/predictions_test.parquet"
production = "model/predictions_production.parquet"

[checks.split-hygiene]
plan = {{ train = 0.60, validation = 0.15, test = 0.15 }}
"""


def load_frame() -> pl.DataFrame:
    """The data set as polars: an id column, 30 features and a string diagnosis."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = np.asarray(bunch.target_names)[bunch.target]  # 0 = malignant, 1 = benign
    features = {name: bunch.data[:, j] for j, name in enumerate(bunch.feature_names)}
    ids = np.arange(100_001, 100_001 + len(names), dtype=np.int64)
    return pl.DataFrame({ID: ids, **features, TARGET: names.tolist()})


def stratified_split(frame: pl.DataFrame, seed: int) -> dict[str, pl.DataFrame]:
    """Shuffle each class with the seed and cut it by SPLIT_SHARES, so shares match per split."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_SHARES}
    labels = frame[TARGET].to_numpy()
    for label in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.round(np.cumsum(list(SPLIT_SHARES.values())) * len(rows)).astype(int)
        for name, start, stop in zip(SPLIT_SHARES, np.r_[0, cuts[:-1]], cuts, strict=True):
            parts[name].append(rows[start:stop])
    out = {}
    for name, chunks in parts.items():
        index = rng.permutation(np.concatenate(chunks))
        out[name] = frame[index]
    return out


def plant_defects(splits: dict[str, pl.DataFrame], seed: int) -> list[str]:
    """Change the splits in place; return one line per planted defect."""
    rng = np.random.default_rng(seed + 1)
    notes = []
    test = splits["test"]
    n_leak = max(1, round(LEAKED_TEST_SHARE * test.height))
    leaked = test[np.sort(rng.choice(test.height, n_leak, replace=False))]
    train = pl.concat([splits["train"], leaked])
    splits["train"] = train[rng.permutation(train.height)]
    ids = ", ".join(str(i) for i in leaked[ID].to_list())
    notes.append(
        f"leakage: {n_leak} of {test.height} test rows ({n_leak / test.height:.1%}) copied into "
        f"train ({ID} {ids})"
    )
    production = splits["production"].drop(TARGET)
    splits["production"] = production.with_columns(
        [(pl.col(c) * UNIT_FACTOR).alias(c) for c in UNIT_COLUMNS]
    )
    notes.append(
        "units: production records "
        + " and ".join(repr(c) for c in UNIT_COLUMNS)
        + f" in mm instead of cm (×{UNIT_FACTOR:g}) for all {production.height} rows"
    )
    notes.append("production is unlabelled (no diagnosis column), as it would be in deployment")
    return notes


def build_example(outdir: str | Path, seed: int = SEED) -> dict[str, object]:
    """Write the demo into ``outdir``; return the row counts and the planted defects."""
    outdir = Path(outdir)
    data = outdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    splits = stratified_split(load_frame(), seed)
    defects = plant_defects(splits, seed)
    for name, frame in splits.items():
        frame.write_parquet(data / f"{name}.parquet", statistics=False)
    (outdir / "qa.toml").write_text(QA_TOML.format(target=TARGET, id=ID), encoding="utf-8")
    return {"rows": {n: f.height for n, f in splits.items()}, "defects": defects}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python examples/make_example.py OUTDIR", file=sys.stderr)
        return 2
    summary = build_example(args[0])
    rows = ", ".join(f"{n} {r}" for n, r in summary["rows"].items())  # type: ignore[union-attr]
    print(f"wrote {args[0]}/qa.toml and data/*.parquet ({rows} rows)")
    print("planted defects:")
    for line in summary["defects"]:  # type: ignore[union-attr]
        print(f"  - {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
