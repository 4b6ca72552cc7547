"""Does the gate stay quiet on a realistic census-like table and catch planted defects there?

    .venv/bin/python benchmarks/eval_mixed_data.py [--rows 30000] [--seeds 3] [--defect-seeds 1]
        [--tasks binary,multiclass,regression] [--scenarios shift_3,unit_x100] [--json out.json]

``eval_real_data.py`` measures the checks on scikit-learn's tiny bundled datasets. Real tabular
data (adult/census income, credit default, bank marketing, churn) is larger and messier: 10k-100k
rows, numeric and string categorical columns, missing values, skewed and zero-inflated numerics,
a high-cardinality code column, class imbalance and correlated features. This benchmark builds
such a table from a seeded generator (no download):

* ``age`` (right-skewed int), ``hours_per_week`` (int, spike at 40), ``capital_gain`` (92 % zero,
  heavy log-normal tail), ``capital_loss`` (95 % zero), ``fnlwgt`` (log-normal, no signal),
  ``education`` (16 levels) and its code ``education_num`` (a deterministic duplicate, as in the
  real adult data), ``occupation`` (15 levels, ~6 % missing, tied to education), ``marital``,
  ``sex``, ``race``, ``native_country`` (40 levels, one ~89 %), ``zip`` (~5k Zipf-distributed
  string codes), ``experience`` and ``tenure`` (correlated with age), ``debt_ratio`` (with NaNs);
* a target from a nonlinear logistic model with label noise built in (Bayes AUC ~0.88, ~20 %
  positives, string labels ``<=50K`` / ``>50K``), a regression variant (log income with
  heteroscedastic noise) and a 5-class variant (income band, imbalanced 38/26/18/12/6 %).

Clean controls: seeded random stratified 60/15/15/10 splits, a time column in split order and the
predictions (contract format) of a HistGradientBoosting model on every split; a ``fail`` or
``error`` of any check is a false alarm. Planted defects as in ``eval_real_data`` (see
``SCENARIOS``). Everything runs through ``qa.check(...)`` with the full gate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real_data as base

TARGET, TIME = base.TARGET, base.TIME
SHARES, SPLITS = base.SHARES, base.SPLITS
CATEGORICAL = ["education", "occupation", "marital", "sex", "race", "native_country", "zip"]
NUMERIC = [
    "age",
    "hours_per_week",
    "capital_gain",
    "capital_loss",
    "fnlwgt",
    "education_num",
    "experience",
    "tenure",
    "debt_ratio",
]
EDUCATION = [
    "Preschool",
    "1st-4th",
    "5th-6th",
    "7th-8th",
    "9th",
    "10th",
    "11th",
    "12th",
    "HS-grad",
    "Some-college",
    "Assoc-voc",
    "Assoc-acdm",
    "Bachelors",
    "Masters",
    "Prof-school",
    "Doctorate",
]
EDU_SHARE = np.array([0.2, 0.5, 1, 2, 1.6, 2.9, 3.6, 1.3, 32, 22, 4.2, 3.3, 16.5, 5.4, 1.8, 1.3])
OCCUPATIONS = [
    "Adm-clerical",
    "Armed-Forces",
    "Craft-repair",
    "Exec-managerial",
    "Farming-fishing",
    "Handlers-cleaners",
    "Machine-op-inspct",
    "Other-service",
    "Priv-house-serv",
    "Prof-specialty",
    "Protective-serv",
    "Sales",
    "Tech-support",
    "Transport-moving",
    "Clergy",
]
OCC_EFFECT = np.array(
    [-0.2, 0.0, 0.0, 0.9, -0.6, -0.9, -0.5, -1.1, -1.5, 0.8, 0.3, 0.2, 0.4, -0.2, -0.3]
)
OCC_SKILL = np.array(
    [0.0, 0.0, -0.3, 0.8, -0.8, -1.0, -0.8, -0.9, -1.2, 1.2, 0.0, 0.1, 0.5, -0.6, 0.6]
)  # which occupations go with more education
MARITAL = [
    "Married-civ-spouse",
    "Never-married",
    "Divorced",
    "Separated",
    "Widowed",
    "Married-spouse-absent",
    "Married-AF-spouse",
]
MARITAL_EFFECT = np.array([1.2, -1.0, -0.4, -0.6, -0.5, -0.4, 1.0])
RACES = ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"]
CLASSES5 = ["A_very_low", "B_low", "C_mid", "D_high", "E_very_high"]
CLASS5_SHARE = np.array([0.38, 0.26, 0.18, 0.12, 0.06])


# --------------------------------------------------------------------------- generator
def _choice(rng: np.random.Generator, names: list[str], weights: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(names, dtype=object)[
        rng.choice(len(names), size=n, p=weights / weights.sum())
    ]


def features(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """The census-like feature table and a latent income score (before the target's noise)."""
    age = np.clip(17 + rng.gamma(2.3, 9.0, n), 17, 90).round().astype(np.int64)
    edu_idx = rng.choice(16, size=n, p=EDU_SHARE / EDU_SHARE.sum())
    edu_z = (edu_idx - 9.5) / 3.0
    # occupation: softmax over a skill match with education, ~6 % missing
    logits = OCC_SKILL[None, :] * edu_z[:, None] + rng.gumbel(size=(n, len(OCCUPATIONS)))
    logits[:, 1] -= 4.0  # Armed-Forces is rare
    logits[:, 8] -= 2.5  # Priv-house-serv too
    occ_idx = logits.argmax(axis=1)
    occupation = np.asarray(OCCUPATIONS, dtype=object)[occ_idx]
    occ_missing = rng.random(n) < 0.06
    occupation[occ_missing] = None
    married_p = 1 / (1 + np.exp(-(age - 32) / 8))
    mar_idx = np.where(
        rng.random(n) < married_p * 0.75,
        np.where(rng.random(n) < 0.995, 0, 6),
        rng.choice([1, 2, 3, 4, 5], size=n, p=[0.62, 0.2, 0.06, 0.07, 0.05]),
    )
    mar_idx = np.where((age > 60) & (mar_idx != 0) & (rng.random(n) < 0.4), 4, mar_idx)
    sex = np.where(rng.random(n) < 0.67, "Male", "Female").astype(object)
    race = _choice(rng, RACES, np.array([85.4, 9.6, 3.1, 1.0, 0.9]), n)
    countries = ["United-States", "Mexico"] + [f"Country-{i:02d}" for i in range(38)]
    cw = np.r_[89.0, 2.0, 9.0 * (1 / np.arange(1, 39)) / (1 / np.arange(1, 39)).sum()]
    native = _choice(rng, countries, cw, n)
    zipf = 1 / np.arange(1, 5001) ** 0.7
    zips = np.array([f"Z{i:05d}" for i in rng.permutation(90000)[:5000] + 10000], dtype=object)
    zip_code = zips[rng.choice(5000, size=n, p=zipf / zipf.sum())]
    hours = np.clip(
        np.where(
            rng.random(n) < 0.45,
            40,
            rng.normal(40, 12, n) + 0.1 * (age - 38) - 4 * (sex == "Female"),
        ),
        1,
        99,
    )
    hours = hours.round().astype(np.int64)
    gain = np.where(
        rng.random(n) < 0.08 + 0.04 * (edu_z > 0.5), rng.lognormal(8.2, 1.1, n), 0.0
    ).round()
    gain = np.minimum(gain, 99999.0)
    loss = np.where(rng.random(n) < 0.05, rng.normal(1900, 350, n).clip(150), 0.0).round()
    fnlwgt = rng.lognormal(12.0, 0.55, n).round()
    experience = np.clip(age - 18 - 2 * np.maximum(edu_idx - 8, 0) + rng.normal(0, 3, n), 0, None)
    tenure = np.clip(experience * rng.beta(2, 3, n) + rng.normal(0, 1, n), 0, None).round(1)
    debt_ratio = np.clip(rng.lognormal(-1.3, 0.7, n) - 0.05 * edu_z, 0, None)
    debt_ratio[rng.random(n) < 0.04] = np.nan

    latent = (
        -0.0016 * (age - 50) ** 2
        + 0.55 * edu_z
        + 0.65 * np.log1p(gain) / 8
        + 0.3 * (loss > 0)
        + 0.028 * (hours - 40)
        + MARITAL_EFFECT[mar_idx]
        + np.where(occ_missing, -0.6, OCC_EFFECT[occ_idx])
        + 0.35 * (sex == "Male")
        + 0.25 * (native == "United-States")
        - 0.4 * np.nan_to_num(debt_ratio, nan=0.3)
        + 0.015 * tenure
    )
    frame = pd.DataFrame(
        {
            "age": age,
            "hours_per_week": hours,
            "capital_gain": gain,
            "capital_loss": loss,
            "fnlwgt": fnlwgt,
            "education": np.asarray(EDUCATION, dtype=object)[edu_idx],
            "education_num": edu_idx + 1,
            "occupation": occupation,
            "marital": np.asarray(MARITAL, dtype=object)[mar_idx],
            "sex": sex,
            "race": race,
            "native_country": native,
            "zip": zip_code,
            "experience": experience.round(1),
            "tenure": tenure,
            "debt_ratio": debt_ratio,
        }
    )
    return frame, latent


def make_table(task: str, n: int, seed: int) -> pd.DataFrame:
    """The table with a ``target`` column for ``task`` (binary | multiclass | regression)."""
    rng = np.random.default_rng(seed)
    frame, latent = features(n, rng)
    z = (latent - latent.mean()) / latent.std()
    if task == "binary":
        logit = 1.75 * z + 0.35 * z**2
        shift = _intercept(logit, 0.20)
        p = 1 / (1 + np.exp(-(logit + shift)))
        y = np.where(rng.random(n) < p, ">50K", "<=50K").astype(object)
    elif task == "multiclass":
        noisy = z + rng.logistic(0, 0.45, n)
        cuts = np.quantile(noisy, np.cumsum(CLASS5_SHARE)[:-1])
        y = np.asarray(CLASSES5, dtype=object)[np.searchsorted(cuts, noisy)]
    else:
        y = 10.4 + 0.45 * z + 0.08 * z**2 + rng.normal(0, 0.35 + 0.1 * np.abs(z), n)
    frame[TARGET] = y
    return frame


def _intercept(logit: np.ndarray, share: float) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(logit + mid)))).mean() < share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def split(frame: pd.DataFrame, task: str, seed: int) -> dict[str, pd.DataFrame]:
    ds = base.Dataset("mixed", task, frame, NUMERIC, "education")
    return base.reset(base.split(ds, seed))


# --------------------------------------------------------------------------- models
def encode(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Model matrix: categories from train as pandas categoricals, zip as its train frequency."""
    train = frames["train"]
    freq = train["zip"].value_counts(normalize=True)
    out = {}
    for s, f in frames.items():
        x = f.drop(columns=[c for c in (TARGET, TIME) if c in f.columns]).copy()
        extra = [c for c in x.columns if c not in NUMERIC + CATEGORICAL]
        for c in extra:  # planted columns (e.g. a target proxy) go in as numbers
            x[c] = pd.to_numeric(x[c], errors="coerce")
        x["zip"] = x["zip"].map(freq).astype(float).fillna(0.0)
        for c in CATEGORICAL:
            if c == "zip":
                continue
            cats = pd.Index(sorted(train[c].dropna().unique()))
            x[c] = pd.Categorical(x[c].where(x[c].isin(cats)), categories=cats)
        out[s] = x
    return out


def fit_hgb(frames: dict[str, pd.DataFrame], task: str, seed: int) -> tuple[Any, dict]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    xs = encode(frames)
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    model = cls(
        max_iter=200,
        learning_rate=0.08,
        categorical_features="from_dtype",
        early_stopping=True,
        validation_fraction=0.15,
        random_state=seed,
    )
    model.fit(xs["train"], frames["train"][TARGET])
    return model, xs


def fit_tree(frames: dict[str, pd.DataFrame], task: str, seed: int) -> tuple[Any, dict]:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    xs = encode(frames)
    for x in xs.values():
        for c in x.columns:
            if isinstance(x[c].dtype, pd.CategoricalDtype):
                x[c] = x[c].cat.codes.astype(float)
        x.fillna(-1.0, inplace=True)
    cls = DecisionTreeRegressor if task == "regression" else DecisionTreeClassifier
    return cls(random_state=seed).fit(xs["train"], frames["train"][TARGET]), xs


def predictions(model: Any, xs: dict[str, pd.DataFrame], task: str) -> dict[str, pd.DataFrame]:
    if task == "regression":
        return {s: pd.DataFrame({"prediction": model.predict(x)}) for s, x in xs.items()}
    return {
        s: base.proba_frame(model.predict_proba(x), list(model.classes_)) for s, x in xs.items()
    }


def prior(frames: dict[str, pd.DataFrame], task: str) -> dict[str, pd.DataFrame]:
    ds = base.Dataset("mixed", task, frames["train"], NUMERIC, "education")
    return base.prior_predictions(frames, ds)


# --------------------------------------------------------------------------- scenarios
@dataclass
class Case:
    frames: dict[str, pd.DataFrame]
    model: str = "hgb"  # hgb | tree | prior
    note: str = ""
    order: tuple[str, ...] = SPLITS


def s_label_noise(task, frames, rng):
    tr = frames["train"].copy()
    tr[TARGET] = base._flip(tr[TARGET], 0.10, rng)
    return Case({**frames, "train": tr})


def s_dup_test_rows(task, frames, rng):
    test = frames["test"]
    rows = rng.choice(len(test), size=math.ceil(0.05 * len(test)), replace=False)
    tr = pd.concat([frames["train"], test.iloc[rows]], ignore_index=True)
    return Case(
        {**frames, "train": tr.iloc[rng.permutation(len(tr))]}, note=f"{len(rows)} test rows copied"
    )


def s_target_proxy(task, frames, rng):
    out = {}
    classes = sorted(frames["train"][TARGET].unique()) if task != "regression" else []
    codes = {c: i for i, c in enumerate(classes)}
    scale = 0.05 * frames["train"][TARGET].std() if task == "regression" else 0.1
    for s, f in frames.items():
        f = f.copy()
        y = f[TARGET].astype(float) if task == "regression" else f[TARGET].map(codes)
        f["proxy_score"] = y.to_numpy(dtype=float) + rng.normal(0, scale, len(f))
        out[s] = f
    return Case(out)


SHIFTED = ("age", "hours_per_week", "tenure")


def s_shift_3(task, frames, rng):
    prod = frames["production"].copy()
    for c in SHIFTED:
        prod[c] = prod[c] + 0.5 * frames["train"][c].std()
    return Case({**frames, "production": prod}, note=", ".join(SHIFTED))


def s_unit_x100(task, frames, rng):
    prod = frames["production"].copy()
    prod["hours_per_week"] = prod["hours_per_week"] * 100
    return Case({**frames, "production": prod}, note="hours_per_week x100")


def s_unseen_cats(task, frames, rng):
    prod = frames["production"].copy()
    rows = rng.choice(len(prod), size=math.ceil(0.05 * len(prod)), replace=False)
    col = prod.columns.get_loc("occupation")
    for i, r in enumerate(rows):
        prod.iat[r, col] = f"New-occupation-{i % 3}"
    return Case({**frames, "production": prod}, note=f"{len(rows)} rows, occupation")


def s_time_reversed(task, frames, rng):
    return Case(
        frames,
        note="test < train < validation < production",
        order=("test", "train", "validation", "production"),
    )


def s_prior_model(task, frames, rng):
    return Case(frames, model="prior")


def s_overfit_tree(task, frames, rng):
    return Case(frames, model="tree", note="unpruned decision tree")


@dataclass(frozen=True)
class Scenario:
    name: str
    expect: tuple[str, ...]
    apply: Any
    tasks: tuple[str, ...] = ("binary", "multiclass", "regression")
    what: str = ""


CLASSIFY = ("binary", "multiclass")
SCENARIOS = [
    Scenario("label_noise", ("label-noise",), s_label_noise, CLASSIFY, "10 % train labels flipped"),
    Scenario("dup_test_rows", ("leakage",), s_dup_test_rows, what="5 % of test rows in train"),
    Scenario("target_proxy", ("leakage",), s_target_proxy, what="feature = target + noise"),
    Scenario("shift_3", ("drift",), s_shift_3, what="3 production features +0.5 SD"),
    Scenario("unit_x100", ("schema", "drift"), s_unit_x100, what="hours_per_week x100 in prod"),
    Scenario(
        "unseen_cats",
        ("schema", "drift"),
        s_unseen_cats,
        what="5 % production rows with unseen occupations",
    ),
    Scenario(
        "time_reversed",
        ("leakage", "split-hygiene"),
        s_time_reversed,
        what="test earlier than train",
    ),
    Scenario("prior_model", ("baseline-beats",), s_prior_model, what="model = class prior/mean"),
    Scenario("overfit_tree", ("overfit-gap",), s_overfit_tree, what="unpruned decision tree"),
]


# --------------------------------------------------------------------------- running
def run_case(
    task: str, table: pd.DataFrame, scenario: Scenario | None, seed: int, threads: int
) -> base.Outcome:
    import qa

    rng = np.random.default_rng(20_000 + seed)
    frames = split(table, task, seed)
    case = scenario.apply(task, frames, rng) if scenario else Case(frames)
    frames = base.reset(base.add_time(case.frames, case.order, rng))
    if case.model == "prior":
        preds = prior(frames, task)
    elif case.model == "tree":
        preds = predictions(*fit_tree(frames, task, seed), task)
    else:
        preds = predictions(*fit_hgb(frames, task, seed), task)
    config = {
        "task": {"type": task, "target": TARGET, "time": TIME},
        "run": {"threads": threads, "seed": seed},
    }
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = qa.check(**frames, config=config, predictions=preds)
    took = time.perf_counter() - start
    statuses = {r.id: r.status for r in report.checks}
    messages = {r.id: r.message.replace("\n", " ") for r in report.checks}
    return base.Outcome(
        f"mixed-{task}",
        scenario.name if scenario else "clean",
        seed,
        statuses,
        messages,
        took,
        case.note,
        scenario.expect if scenario else (),
    )


def describe(table: pd.DataFrame, task: str, seed: int) -> str:
    """One line on how learnable the clean table is (5-fold OOF of the reference model)."""
    from sklearn.metrics import r2_score, roc_auc_score

    frames = split(table, task, seed)
    model, xs = fit_hgb(frames, task, seed)
    y = frames["test"][TARGET]
    if task == "binary":
        p = model.predict_proba(xs["test"])[:, list(model.classes_).index(">50K")]
        return (
            f"binary: {(table[TARGET] == '>50K').mean():.1%} positive, test AUC "
            f"{roc_auc_score(y == '>50K', p):.3f}"
        )
    if task == "multiclass":
        shares = table[TARGET].value_counts(normalize=True).sort_index().round(3).to_dict()
        return f"multiclass: shares {shares}, test accuracy {model.score(xs['test'], y):.3f}"
    return f"regression: test R2 {r2_score(y, model.predict(xs['test'])):.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--seeds", type=int, default=3, help="clean-control seeds per task")
    ap.add_argument("--defect-seeds", type=int, default=1, help="seeds per planted defect")
    ap.add_argument("--tasks", default="binary,multiclass,regression")
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write every outcome (statuses, messages) to this file")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    wanted = [w for w in args.scenarios.split(",") if w]
    scen = [s for s in SCENARIOS if s.name in wanted]
    clean, defects = [], []
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for task in args.tasks.split(","):
            table = make_table(task, args.rows, seed=7)
            print(f"  {describe(table, task, 0)}", file=sys.stderr)
            for seed in range(args.seeds):
                clean.append(run_case(task, table, None, seed, args.threads))
                print(f"  {task} clean seed {seed}: {clean[-1].seconds:.1f} s", file=sys.stderr)
            for sc in scen:
                if task not in sc.tasks:
                    continue
                for seed in range(args.defect_seeds):
                    defects.append(run_case(task, table, sc, 100 + seed, args.threads))
                    o = defects[-1]
                    print(
                        f"  {task} {sc.name} seed {o.seed}: {o.seconds:.1f} s {base.verdict(o)}",
                        file=sys.stderr,
                    )
    base.print_report(clean, defects, [])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([o.__dict__ for o in clean + defects], fh, indent=1, default=str)
    tally = Counter(base.verdict(o) for o in defects)
    return 1 if tally.get("MISSED") else 0


if __name__ == "__main__":
    sys.exit(main())
