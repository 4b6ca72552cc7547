"""How often does the whole gate fail clean work, and does it still catch planted defects?

    .venv/bin/python benchmarks/false_alarms.py [--runs 200] [--seed 0] [--workers N]
        [--defects] [--per-defect 20] [--json out.json]
    .venv/bin/python benchmarks/false_alarms.py --compare before.json after.json

The gate promises (``[run] false_alarm_rate``, default 0.02) that on clean data and a sound
model it fails at most that share of runs. This script measures the promise:

* **clean runs** — each run draws a source (a scikit-learn bundled dataset: breast_cancer,
  wine, iris, digits, diabetes; or a seeded generated table of 300 to 20,000 rows, binary,
  3-10 classes or regression, with numeric, skewed, categorical and missing-valued columns),
  splits it at random into train / validation / test / production (production from the same
  distribution), fits the model a careful user would ship — the best on validation of a
  logistic/ridge model and two XGBoost boosters (depth 3 and 6, ``tree_method="hist"``,
  early-stopped on a slice of train) — and hands its predictions for every split
  (``prediction`` + ``proba_<label>``) to the full default gate through ``qa.check``.
  A run is a false alarm when the gate's status is not ``pass`` (a check failed or errored).
* **--defects** — the same kind of runs, each with one planted defect (label noise, drifted or
  unit-changed production feature, test rows copied into train, a target proxy, a class nearly
  removed, a model worse than the linear baseline, ...), printing per defect kind the share of
  runs where an expected check failed (the detection rate).

Every share comes with a Clopper–Pearson 95 % interval. ``--json`` writes the summary and every
run, so two versions of the gate can be compared. Each run is single-threaded
(``[run] threads = 1``) in a process pool of ``--workers`` processes; progress goes to stderr.
"""

from __future__ import annotations

import os

# one thread per run: the process pool supplies the parallelism (set before numpy loads)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TARGET = "target"
TIME = "event_time"
SHARES = {"train": 0.60, "validation": 0.15, "test": 0.15, "production": 0.10}
SPLITS = tuple(SHARES)
BUNDLED = ("breast_cancer", "wine", "iris", "digits", "diabetes")
CLASSIFY = ("binary", "multiclass")
ALL_TASKS = ("binary", "multiclass", "regression")


# --------------------------------------------------------------------------- sources
@dataclass
class Source:
    """A table to split: features, the target column, and which features are categorical."""

    name: str
    task: str  # binary | multiclass | regression
    frame: pd.DataFrame
    categorical: list[str]

    @property
    def numeric(self) -> list[str]:
        return [
            c for c in self.frame.columns if c not in self.categorical and c not in (TARGET, TIME)
        ]


def bundled(name: str) -> Source:
    """A scikit-learn bundled dataset (no download), plus a categorical band column."""
    from bundled import load_bundled

    x, y, task = load_bundled(name)
    x.columns = [str(c).replace(" ", "_") for c in x.columns]
    widest = x.var().idxmax()
    codes = pd.qcut(x[widest].rank(method="first"), 4, labels=False).astype(int)
    x[f"{widest}_band"] = np.array(["low", "mid", "high", "top"])[codes]
    x[TARGET] = y
    return Source(name, task, x, [f"{widest}_band"])


@dataclass(frozen=True)
class Spec:
    """A generated table: rows, task, class count and feature mix."""

    rows: int
    task: str
    classes: int = 2
    numeric: int = 6
    categorical: int = 2
    missing: float = 0.0  # share of missing values in a few columns
    int_labels: bool = False


def generated(spec: Spec, seed: int) -> Source:
    """A seeded table with a learnable but noisy target (P(y|x) is never 0 or 1).

    Classes: y from a mildly uneven prior, numeric features around a class mean (mean vectors
    orthogonal, far enough apart that a sound model recalls every class), categorical features
    whose level shares depend on the class. Regression: a linear and a nonlinear signal plus
    noise (R^2 about 0.7). Some numeric columns are skewed amounts or counts.
    """
    rng = np.random.default_rng(seed)
    n = spec.rows
    classes = spec.classes if spec.task != "regression" else 0
    k = max(spec.numeric, classes)
    cov = 0.3 * np.ones((k, k)) + 0.7 * np.eye(k)
    noise = rng.multivariate_normal(np.zeros(k), cov, size=n)
    if spec.task == "regression":
        z = noise
        latent = z @ rng.normal(0, 1, k) / math.sqrt(k) + 0.5 * np.sin(2 * z[:, 0])
        y_idx = np.zeros(n, dtype=np.int64)
    else:
        prior = rng.dirichlet(np.full(classes, 8.0))
        y_idx = rng.choice(classes, size=n, p=prior)
        q, _ = np.linalg.qr(rng.normal(size=(k, k)))
        sep = rng.uniform(1.6, 2.2) if classes == 2 else rng.uniform(2.6, 3.2)
        z = noise + sep * q[:classes][y_idx]
        latent = np.zeros(n)
    cols: dict[str, Any] = {}
    for j in range(k):
        if j % 3 == 2:  # skewed, positive (an amount)
            cols[f"num_{j}"] = np.round(np.exp(0.5 * z[:, j] + 3), 2)
        elif j % 4 == 3:  # a count
            cols[f"num_{j}"] = rng.poisson(np.exp(1.5 + 0.3 * z[:, j])).astype(np.int64)
        else:
            cols[f"num_{j}"] = z[:, j]
    cats = []
    for j in range(spec.categorical):
        levels = int(rng.integers(3, 13))
        names = np.array([f"L{i:02d}" for i in range(levels)], dtype=object)
        if spec.task == "regression":
            idx = rng.choice(levels, size=n, p=rng.dirichlet(np.full(levels, 2.0)))
            latent = latent + rng.normal(0, 0.5, levels)[idx]
        else:  # level shares differ by class
            shares = rng.dirichlet(np.full(levels, 2.0), size=classes)
            u = rng.random(n)[:, None]
            idx = (u > np.cumsum(shares[y_idx], axis=1)).sum(axis=1).clip(0, levels - 1)
        cols[f"cat_{j}"] = names[idx]
        cats.append(f"cat_{j}")
    frame = pd.DataFrame(cols)
    if spec.missing > 0:
        for c in [*list(frame.columns[:2]), *cats[:1]]:
            frame[c] = frame[c].astype(float if c.startswith("num_") else object)
            frame.loc[rng.random(n) < spec.missing, c] = np.nan if c.startswith("num") else None
    if spec.task == "regression":
        latent = (latent - latent.mean()) / latent.std()
        y: Any = np.round(50 + 10 * latent + rng.normal(0, 6, n), 3)
    elif spec.int_labels:
        y = y_idx
    elif classes == 2:
        y = np.array(["no", "yes"], dtype=object)[y_idx]
    else:
        y = np.array([f"class_{i}" for i in range(classes)], dtype=object)[y_idx]
    frame[TARGET] = y
    name = f"gen-{spec.task}{classes if spec.task == 'multiclass' else ''}-{n}"
    return Source(name, spec.task, frame, cats)


def draw_source(rng: np.random.Generator, small: bool = False) -> Source:
    """One source for a run: a bundled dataset (a quarter of runs) or a generated table."""
    if not small and rng.random() < 0.25:
        return bundled(str(rng.choice(BUNDLED)))
    task = str(rng.choice(ALL_TASKS))
    if small:
        rows = int(rng.integers(300, 600))
    else:
        rows = int(
            rng.choice([300, 600, 1_000, 2_000, 5_000, 20_000], p=[0.2, 0.2, 0.2, 0.2, 0.15, 0.05])
        )
    classes = int(rng.integers(3, 11)) if task == "multiclass" else 2
    if task == "multiclass":
        rows = max(rows, 80 * classes)  # a few test rows per class
    spec = Spec(
        rows=rows,
        task=task,
        classes=classes,
        numeric=int(rng.integers(3, 13)),
        categorical=int(rng.integers(0, 4)),
        missing=float(rng.choice([0.0, 0.0, 0.05, 0.15])),
        int_labels=bool(rng.random() < 0.3),
    )
    return generated(spec, int(rng.integers(2**31)))


def split(src: Source, seed: int) -> dict[str, pd.DataFrame]:
    """Random 60/15/15/10 split (stratified for classes); production from the same rows."""
    from sklearn.model_selection import train_test_split

    def cut(frame: pd.DataFrame, share: float, s: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        strat = frame[TARGET] if src.task != "regression" else None
        return train_test_split(frame, test_size=share, random_state=s, stratify=strat)

    rest, prod = cut(src.frame, SHARES["production"], seed)
    rest, test = cut(rest, SHARES["test"] / 0.9, seed + 1)
    train, val = cut(rest, SHARES["validation"] / 0.75, seed + 2)
    frames = {"train": train, "validation": val, "test": test, "production": prod}
    return {s: f.reset_index(drop=True) for s, f in frames.items()}


def add_time(
    frames: dict[str, pd.DataFrame], order: tuple[str, ...], rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Hourly timestamps, splits one after another in ``order``, shuffled within each split."""
    out, offset = {}, 0
    for name in order:
        f = frames[name].copy()
        f[TIME] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
            offset + rng.permutation(len(f)), unit="h"
        )
        offset += len(f)
        out[name] = f
    return {s: out[s] for s in SPLITS}


# --------------------------------------------------------------------------- models
def design(frames: dict[str, pd.DataFrame], drop: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Model matrix from train: numbers (NaN kept), one-hot categories seen in train."""
    train = frames["train"]
    feats = [c for c in train.columns if c not in (TARGET, TIME, *drop)]
    cats = [c for c in feats if not pd.api.types.is_numeric_dtype(train[c])]
    levels = {c: sorted(train[c].dropna().astype(str).unique()) for c in cats}
    out = {}
    for s, f in frames.items():
        parts = [f[[c for c in feats if c not in cats]].to_numpy(dtype=float)]
        for c in cats:
            v = f[c].astype(str).to_numpy()
            parts.append(np.column_stack([v == lv for lv in levels[c]]).astype(float))
        out[s] = np.column_stack(parts) if parts else np.empty((len(f), 0))
    return out


@dataclass
class Fitted:
    name: str
    predict: Callable[[np.ndarray], np.ndarray]  # proba (n, k) or values (n,)
    classes: list[Any]
    score: float = -math.inf


def _labels(y: pd.Series) -> tuple[np.ndarray, list[Any]]:
    classes = sorted(y.unique())
    index = {c: i for i, c in enumerate(classes)}
    return y.map(index).to_numpy(dtype=np.int64), classes


def fit_linear(x: dict[str, np.ndarray], y: pd.Series, task: str, seed: int) -> Fitted:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    prep = [SimpleImputer(strategy="median", add_indicator=True), StandardScaler()]
    if task == "regression":
        model = make_pipeline(*prep, Ridge(alpha=1.0)).fit(x["train"], y)
        return Fitted("ridge", model.predict, [])
    codes, classes = _labels(y)
    model = make_pipeline(*prep, LogisticRegression(max_iter=2000, C=1.0))
    model.fit(x["train"], codes)
    return Fitted("logistic", model.predict_proba, classes)


def fit_xgb(x: dict[str, np.ndarray], y: pd.Series, task: str, seed: int, depth: int) -> Fitted:
    """An XGBoost booster early-stopped on a 20 % slice of train."""
    import xgboost as xgb

    rng = np.random.default_rng(seed + depth)
    n = len(y)
    hold = np.zeros(n, dtype=bool)
    hold[rng.choice(n, size=max(20, n // 5), replace=False)] = True
    params: dict[str, Any] = {
        "tree_method": "hist",
        "max_depth": depth,
        "eta": 0.1,
        "subsample": 0.9,
        "nthread": 1,
        "seed": seed,
        "verbosity": 0,
    }
    classes: list[Any] = []
    if task == "regression":
        target = y.to_numpy(dtype=float)
        params.update(objective="reg:squarederror", eval_metric="rmse")
    else:
        target, classes = _labels(y)
        if len(classes) == 2:
            params.update(objective="binary:logistic", eval_metric="logloss")
        else:
            params.update(
                objective="multi:softprob", num_class=len(classes), eval_metric="mlogloss"
            )
    dtrain = xgb.DMatrix(x["train"][~hold], label=target[~hold])
    dhold = xgb.DMatrix(x["train"][hold], label=target[hold])
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=400,
        evals=[(dhold, "hold")],
        early_stopping_rounds=20,
        verbose_eval=False,
    )
    rounds = (0, booster.best_iteration + 1)

    def predict(m: np.ndarray) -> np.ndarray:
        out = booster.predict(xgb.DMatrix(m), iteration_range=rounds)
        if task == "binary":
            return np.column_stack([1 - out, out])
        return out

    return Fitted(f"xgboost-d{depth}", predict, classes)


def fit_stump(x: dict[str, np.ndarray], y: pd.Series, task: str, seed: int) -> Fitted:
    """A depth-1 tree: a model clearly worse than a linear baseline on most tables."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    xt = np.nan_to_num(x["train"], nan=-1.0)
    if task == "regression":
        model = DecisionTreeRegressor(max_depth=1, random_state=seed).fit(xt, y)
        return Fitted("stump", lambda m: model.predict(np.nan_to_num(m, nan=-1.0)), [])
    codes, classes = _labels(y)
    model = DecisionTreeClassifier(max_depth=1, random_state=seed).fit(xt, codes)
    full = len(classes)

    def predict(m: np.ndarray) -> np.ndarray:
        p = model.predict_proba(np.nan_to_num(m, nan=-1.0))
        out = np.zeros((len(m), full))
        out[:, model.classes_] = p
        return out

    return Fitted("stump", predict, classes)


def fit_tree(x: dict[str, np.ndarray], y: pd.Series, task: str, seed: int) -> Fitted:
    """An unpruned tree: memorises train."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    xt = np.nan_to_num(x["train"], nan=-1.0)
    if task == "regression":
        model = DecisionTreeRegressor(random_state=seed).fit(xt, y)
        return Fitted("tree", lambda m: model.predict(np.nan_to_num(m, nan=-1.0)), [])
    codes, classes = _labels(y)
    model = DecisionTreeClassifier(random_state=seed).fit(xt, codes)
    return Fitted("tree", lambda m: model.predict_proba(np.nan_to_num(m, nan=-1.0)), classes)


def val_score(fit: Fitted, x: np.ndarray, y: pd.Series, task: str) -> float:
    """Higher is better: minus log loss, or minus RMSE."""
    out = fit.predict(x)
    if task == "regression":
        return -float(np.sqrt(np.mean((out - y.to_numpy(dtype=float)) ** 2)))
    index = {c: i for i, c in enumerate(fit.classes)}
    codes = y.map(index).to_numpy()
    p = np.clip(out[np.arange(len(codes)), codes], 1e-12, 1)
    return float(np.mean(np.log(p)))


def best_model(x: dict[str, np.ndarray], frames: dict[str, pd.DataFrame], task: str, seed: int):
    y = frames["train"][TARGET]
    cands = [
        fit_linear(x, y, task, seed),
        fit_xgb(x, y, task, seed, 3),
        fit_xgb(x, y, task, seed, 6),
    ]
    for c in cands:
        c.score = val_score(c, x["validation"], frames["validation"][TARGET], task)
    return max(cands, key=lambda c: c.score)


def predictions(fit: Fitted, x: dict[str, np.ndarray], task: str) -> dict[str, pd.DataFrame]:
    out = {}
    for s, m in x.items():
        raw = fit.predict(m)
        if task == "regression":
            out[s] = pd.DataFrame({"prediction": raw})
            continue
        frame = pd.DataFrame({"prediction": np.asarray(fit.classes)[raw.argmax(axis=1)]})
        for j, c in enumerate(fit.classes):
            frame[f"proba_{c}"] = raw[:, j]
        out[s] = frame
    return out


# --------------------------------------------------------------------------- defects
@dataclass
class Case:
    frames: dict[str, pd.DataFrame]
    model: str = "best"  # best | stump | tree | corrupt
    order: tuple[str, ...] = SPLITS
    time: bool = False
    note: str = ""


@dataclass(frozen=True)
class Defect:
    name: str
    expect: tuple[str, ...]
    apply: Callable[[Source, dict[str, pd.DataFrame], np.random.Generator], Case]
    tasks: tuple[str, ...] = ALL_TASKS
    what: str = ""


def _flip(y: pd.Series, share: float, rng: np.random.Generator) -> pd.Series:
    y = y.copy()
    classes = np.asarray(sorted(y.unique()), dtype=object)
    rows = rng.choice(len(y), size=math.ceil(share * len(y)), replace=False)
    values = y.to_numpy(dtype=object).copy()
    for r in rows:
        values[r] = rng.choice(classes[classes != values[r]])
    return pd.Series(values, index=y.index).astype(y.dtype)


def _widest(src: Source, train: pd.DataFrame, k: int) -> list[str]:
    num = [c for c in src.numeric if train[c].nunique() > 5]
    scaled = (train[num].std() / (train[num].abs().mean() + 1e-9)).sort_values(
        ascending=False, kind="stable"
    )
    return list(train[num].var().loc[scaled.index].sort_values(ascending=False).index[:k])


def d_label_noise(src, frames, rng):
    share = float(rng.uniform(0.10, 0.20))
    tr = frames["train"].copy()
    tr[TARGET] = _flip(tr[TARGET], share, rng)
    return Case({**frames, "train": tr}, note=f"{share:.0%} flipped")


def d_unit_x10(src, frames, rng):
    prod = frames["production"].copy()
    c = _widest(src, frames["train"], 1)[0]
    prod[c] = prod[c] * 10
    return Case({**frames, "production": prod}, note=c)


def d_shift_3(src, frames, rng):
    prod = frames["production"].copy()
    cols = _widest(src, frames["train"], 3)
    for c in cols:
        prod[c] = prod[c] + 0.5 * frames["train"][c].std()
    return Case({**frames, "production": prod}, note=", ".join(cols))


def d_dup_test_rows(src, frames, rng):
    test = frames["test"]
    rows = rng.choice(len(test), size=math.ceil(0.05 * len(test)), replace=False)
    tr = pd.concat([frames["train"], test.iloc[rows]], ignore_index=True)
    tr = tr.iloc[rng.permutation(len(tr))].reset_index(drop=True)
    return Case({**frames, "train": tr}, note=f"{len(rows)} test rows copied")


def d_target_proxy(src, frames, rng):
    out = {}
    classes = sorted(src.frame[TARGET].unique()) if src.task != "regression" else []
    codes = {c: i for i, c in enumerate(classes)}
    scale = 0.05 * src.frame[TARGET].std() if src.task == "regression" else 0.1
    for s, f in frames.items():
        f = f.copy()
        base = f[TARGET].astype(float) if src.task == "regression" else f[TARGET].map(codes)
        f["proxy_score"] = base.to_numpy(dtype=float) + rng.normal(0, scale, len(f))
        out[s] = f
    return Case(out)


def d_rare_class(src, frames, rng):
    tr = frames["train"]
    counts = tr[TARGET].value_counts()
    rare = sorted(counts.index[counts == counts.min()])[0]
    others = int((tr[TARGET] != rare).sum())
    keep = max(1, round(0.005 * others / 0.995))
    idx = np.flatnonzero((tr[TARGET] == rare).to_numpy())
    drop = rng.choice(idx, size=max(0, len(idx) - keep), replace=False)
    tr = tr.drop(tr.index[drop]).reset_index(drop=True)
    return Case({**frames, "train": tr}, note=f"class {rare}: {keep} of {len(tr)} train rows")


def d_time_reversed(src, frames, rng):
    return Case(frames, order=("test", "train", "validation", "production"), time=True)


def d_stump_model(src, frames, rng):
    return Case(frames, model="stump", note="depth-1 tree")


def d_corrupt_feature(src, frames, rng):
    return Case(frames, model="corrupt", note="model fit with train's features shuffled")


def d_overfit_tree(src, frames, rng):
    if src.task == "regression":
        return Case(frames, model="tree", note="unpruned tree")
    tr = frames["train"].copy()
    tr[TARGET] = _flip(tr[TARGET], 0.20, rng)
    return Case({**frames, "train": tr}, model="tree", note="unpruned tree, 20 % labels flipped")


def d_unseen_cats(src, frames, rng):
    prod = frames["production"].copy()
    col = src.categorical[0]
    rows = rng.choice(len(prod), size=math.ceil(0.05 * len(prod)), replace=False)
    prod[col] = prod[col].astype(object)
    for i, r in enumerate(rows):
        prod.iat[r, prod.columns.get_loc(col)] = f"unseen {i % 3}"
    return Case({**frames, "production": prod}, note=f"{len(rows)} rows of {col}")


DEFECTS = [
    Defect(
        "label_noise", ("label-noise",), d_label_noise, CLASSIFY, "10-20 % train labels flipped"
    ),
    Defect("unit_x10", ("schema", "drift"), d_unit_x10, what="1 production feature x10"),
    Defect("shift_3", ("drift",), d_shift_3, what="3 production features +0.5 SD"),
    Defect("dup_test_rows", ("leakage",), d_dup_test_rows, what="5 % of test rows in train"),
    Defect("target_proxy", ("leakage",), d_target_proxy, what="feature = target + noise"),
    Defect("rare_class", ("class-imbalance",), d_rare_class, CLASSIFY, "a class at 0.5 % of train"),
    Defect(
        "time_reversed", ("leakage", "split-hygiene"), d_time_reversed, what="test before train"
    ),
    Defect("unseen_cats", ("schema", "drift"), d_unseen_cats, what="5 % prod rows, new category"),
    Defect("stump_model", ("baseline-beats",), d_stump_model, what="model = depth-1 tree"),
    Defect(
        "corrupt_model",
        ("baseline-beats",),
        d_corrupt_feature,
        what="model trained on shuffled feature rows",
    ),
    Defect(
        "overfit_tree",
        ("overfit-gap",),
        d_overfit_tree,
        what="unpruned tree (classes: on 20 % flipped labels)",
    ),
]
BY_NAME = {d.name: d for d in DEFECTS}


# --------------------------------------------------------------------------- one run
@dataclass
class Run:
    index: int
    seed: int
    source: str
    task: str
    rows: int
    defect: str = "clean"
    model: str = ""
    status: str = ""  # the gate's: pass | fail | error | exception
    statuses: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # fail / error only
    expect: tuple[str, ...] = ()
    caught: bool = False
    note: str = ""
    seconds: float = 0.0


def run_seed(base_seed: int, index: int, defect: str = "clean") -> int:
    """A run's seed from the base seed, its index and its defect kind (stable across Pythons)."""
    kind = 0 if defect == "clean" else zlib.crc32(defect.encode())
    return (base_seed * 1_000_003 + index * 7_919 + kind) % 2**31


def run_one(index: int, base_seed: int = 0, defect: str = "clean", small: bool = False) -> Run:
    """One run: draw a source, split, plant ``defect`` (or none), fit, gate. Deterministic."""
    seed = run_seed(base_seed, index, defect)
    rng = np.random.default_rng(seed)
    d = BY_NAME.get(defect)
    src = draw_source(rng, small)
    tries = 0
    while d and (src.task not in d.tasks or (d.name == "unseen_cats" and not src.categorical)):
        src = draw_source(rng, small)  # a source this defect applies to
        tries += 1
        if tries > 50:
            raise RuntimeError(f"no source for {defect}")
    run = Run(index, seed, src.name, src.task, len(src.frame), defect)
    start = time.perf_counter()
    try:
        _gate(run, src, d, rng, seed)
    except Exception:  # the gate raised instead of reporting: record, never hide
        run.status = "exception"
        run.messages["exception"] = traceback.format_exc(limit=6)
    run.seconds = time.perf_counter() - start
    return run


def _gate(run: Run, src: Source, d: Defect | None, rng: np.random.Generator, seed: int) -> None:
    import qa

    frames = split(src, seed % 100_000)
    case = d.apply(src, frames, rng) if d else Case(frames)
    use_time = case.time or rng.random() < 0.3
    frames = add_time(case.frames, case.order, rng) if use_time else case.frames
    task = src.task
    x = design(frames)
    y = frames["train"][TARGET]
    if case.model == "stump":
        fit = fit_stump(x, y, task, seed)
    elif case.model == "tree":
        fit = fit_tree(x, y, task, seed)
    elif case.model == "corrupt":
        shuffled = dict(x)
        shuffled["train"] = x["train"][rng.permutation(len(y))]  # features no longer match y
        fit = fit_linear(shuffled, y, task, seed)
        fit.name = "corrupt-linear"
    else:
        fit = best_model(x, frames, task, seed)
    run.model = fit.name
    preds = predictions(fit, x, task)
    config = {
        "task": {"type": task, "target": TARGET, **({"time": TIME} if use_time else {})},
        "run": {"threads": 1, "seed": seed % 100_000},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = qa.check(**frames, config=config, predictions=preds)
    run.status = report.status
    run.statuses = {r.id: r.status for r in report.checks}
    run.messages = {
        r.id: r.message.replace("\n", " ")[:400]
        for r in report.checks
        if r.status in ("fail", "error")
    }
    run.note = case.note
    if d:
        run.expect = d.expect
        run.caught = any(run.statuses.get(c) == "fail" for c in d.expect)


def _run_star(args: tuple[int, int, str, bool]) -> Run:
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # no stray qa.toml/qa.lock
        return run_one(*args)


# --------------------------------------------------------------------------- summary
def interval(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return (float(ci.low), float(ci.high))


def share(k: int, n: int) -> dict[str, Any]:
    lo, hi = interval(k, n)
    return {"k": k, "n": n, "rate": k / n if n else None, "ci95": [lo, hi]}


def fmt(s: dict[str, Any]) -> str:
    lo, hi = s["ci95"]
    rate = s["rate"] if s["rate"] is not None else float("nan")
    return f"{s['k']:>4}/{s['n']:<4} {rate:6.1%}  [{lo:5.1%}, {hi:5.1%}]"


def summarise(runs: list[Run]) -> dict[str, Any]:
    clean = [r for r in runs if r.defect == "clean"]
    out: dict[str, Any] = {}
    if clean:
        checks = sorted({c for r in clean for c in r.statuses})
        out["clean"] = {
            "gate_failed": share(sum(r.status != "pass" for r in clean), len(clean)),
            "exceptions": sum(r.status == "exception" for r in clean),
            "per_check": {
                c: share(sum(r.statuses.get(c) in ("fail", "error") for r in clean), len(clean))
                for c in checks
            },
            "warn_per_check": {c: sum(r.statuses.get(c) == "warn" for r in clean) for c in checks},
            "models": dict(Counter(r.model for r in clean)),
        }
    defects = [r for r in runs if r.defect != "clean"]
    if defects:
        out["defects"] = {}
        for d in DEFECTS:
            rs = [r for r in defects if r.defect == d.name]
            if not rs:
                continue
            out["defects"][d.name] = {
                "what": d.what,
                "expect": list(d.expect),
                "detected": share(sum(r.caught for r in rs), len(rs)),
                "gate_failed": share(sum(r.status != "pass" for r in rs), len(rs)),
                "per_task": {
                    t: share(sum(r.caught for r in rs if r.task == t), sum(r.task == t for r in rs))
                    for t in sorted({r.task for r in rs})
                },
            }
    return out


def print_summary(summary: dict[str, Any], runs: list[Run], seconds: float, workers: int) -> None:
    clean = summary.get("clean")
    if clean:
        print("== clean runs: share where the gate failed (fail or error), 95 % Clopper-Pearson ==")
        print(f"{'whole gate':<22}{fmt(clean['gate_failed'])}")
        for c, s in clean["per_check"].items():
            warns = clean["warn_per_check"][c]
            print(f"  {c:<20}{fmt(s)}   warn {warns}")
        print(f"models shipped: {clean['models']}")
        alarms = [r for r in runs if r.defect == "clean" and r.status != "pass"]
        if alarms:
            print("-- false alarms --")
        for r in alarms:
            for c, m in r.messages.items():
                print(f"  run {r.index} {r.source} ({r.task}, {r.model}) {c}: {m[:300]}")
    if "defects" in summary:
        print("\n== planted defects: share where an expected check failed ==")
        for name, s in summary["defects"].items():
            print(
                f"{name:<16}{fmt(s['detected'])}   gate failed {s['gate_failed']['rate']:.0%}"
                f"   expect {'/'.join(s['expect'])}"
            )
        missed = [r for r in runs if r.defect != "clean" and not r.caught]
        if missed:
            print("-- missed --")
        for r in missed:
            got = ", ".join(f"{c}={r.statuses.get(c, 'absent')}" for c in r.expect)
            print(f"  {r.defect} run {r.index} {r.source} ({r.task}, {r.model}) {got} {r.note}")
    exc = [r for r in runs if r.status == "exception"]
    for r in exc:
        print(f"EXCEPTION run {r.index} {r.defect} {r.source}: {r.messages['exception']}")
    gate = sum(r.seconds for r in runs)
    print(
        f"\ntotal time {seconds:.0f} s wall ({len(runs)} runs, {workers} workers, "
        f"{gate:.0f} s in runs, {gate / max(1, len(runs)):.1f} s per run)"
    )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_all(jobs: list[tuple[int, int, str, bool]], workers: int) -> list[Run]:
    runs: list[Run] = []
    start = time.perf_counter()
    if workers <= 1:
        results = (_run_star(j) for j in jobs)
        for r in results:
            runs.append(r)
            _progress(r, len(runs), len(jobs), start)
        return runs
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_star, j) for j in jobs]
        for fut in as_completed(futures):
            runs.append(fut.result())
            _progress(runs[-1], len(runs), len(jobs), start)
    return sorted(runs, key=lambda r: (r.defect != "clean", r.defect, r.index))


def _progress(r: Run, done: int, total: int, start: float) -> None:
    flag = "" if r.status == "pass" else f" {r.status.upper()} {','.join(r.messages)}"
    print(
        f"  [{done}/{total} {time.perf_counter() - start:5.0f}s] {r.defect} #{r.index} "
        f"{r.source} {r.model} {r.seconds:.1f}s{flag}",
        file=sys.stderr,
        flush=True,
    )


def code_version() -> dict[str, Any]:
    import qa

    root = Path(qa.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {"qa_file": qa.__file__, "commit": commit, "version": getattr(qa, "__version__", "")}


def compare(before_path: str, after_path: str) -> None:
    """Two ``--json`` files side by side; runs are paired (same seed, same data, same model)."""
    a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (before_path, after_path))
    print(f"before: {a['code'].get('commit', '')[:10]}   after: {b['code'].get('commit', '')[:10]}")
    ca, cb = a["summary"].get("clean", {}), b["summary"].get("clean", {})
    if ca and cb:
        print("== clean runs failing ==")
        print(f"{'whole gate':<22}{fmt(ca['gate_failed'])}  ->  {fmt(cb['gate_failed'])}")
        for c in sorted(set(ca["per_check"]) | set(cb["per_check"])):
            left, right = ca["per_check"].get(c), cb["per_check"].get(c)
            if left and right:
                print(f"  {c:<20}{fmt(left)}  ->  {fmt(right)}")
    da, db = a["summary"].get("defects", {}), b["summary"].get("defects", {})
    if da and db:
        print("== planted defects detected ==")
        for name in [d for d in da if d in db]:
            print(f"{name:<22}{fmt(da[name]['detected'])}  ->  {fmt(db[name]['detected'])}")
    key = lambda r: (r["defect"], r["index"])  # noqa: E731
    runs_a = {key(r): r for r in a["runs"]}
    for r in b["runs"]:
        old = runs_a.get(key(r))
        if old is None or old["seed"] != r["seed"]:
            continue
        if r["defect"] == "clean" and (old["status"] == "pass") != (r["status"] == "pass"):
            print(f"  clean #{r['index']} {r['source']}: {old['status']} -> {r['status']}")
        elif r["defect"] != "clean" and old["caught"] != r["caught"]:
            got = ", ".join(f"{c}={r['statuses'].get(c, 'absent')}" for c in r["expect"])
            print(
                f"  {r['defect']} #{r['index']} {r['source']}: "
                f"{'caught' if old['caught'] else 'missed'} -> {got}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="clean runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=available_cores())
    ap.add_argument("--defects", action="store_true", help="also run planted defects")
    ap.add_argument("--per-defect", type=int, default=20, help="runs per defect kind")
    ap.add_argument("--only-defects", help="comma-separated defect kinds (with --defects)")
    ap.add_argument("--no-clean", action="store_true", help="skip the clean runs")
    ap.add_argument("--small", action="store_true", help="small generated tables only")
    ap.add_argument("--json", help="write the summary and every run to this file")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="two --json files")
    args = ap.parse_args(argv)
    if args.compare:
        compare(*args.compare)
        return 0
    workers = max(1, min(args.workers, available_cores()))
    jobs = [] if args.no_clean else [(i, args.seed, "clean", args.small) for i in range(args.runs)]
    if args.defects:
        wanted = set(args.only_defects.split(",")) if args.only_defects else set(BY_NAME)
        for d in DEFECTS:
            if d.name in wanted:
                jobs += [(i, args.seed, d.name, args.small) for i in range(args.per_defect)]
    start = time.perf_counter()
    runs = run_all(jobs, workers)
    seconds = time.perf_counter() - start
    summary = summarise(runs)
    print_summary(summary, runs, seconds, workers)
    if args.json:
        doc = {
            "code": code_version(),
            "args": vars(args),
            "workers": workers,
            "seconds": seconds,
            "summary": summary,
            "runs": [asdict(r) for r in runs],
        }
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
