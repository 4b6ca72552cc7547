"""Do the checks catch planted defects on real data, and stay quiet on clean splits?

    .venv/bin/python benchmarks/eval_real_data.py [--quick] [--seeds 5] [--defect-seeds 1]
        [--datasets iris,wine] [--scenarios shift_3,unit_x10] [--json results.json]

Real datasets bundled with scikit-learn (no download): breast_cancer (binary, string labels),
wine and iris (multiclass, string labels), digits (10 classes, integer labels, many constant
pixels) and diabetes (regression). Each gets a categorical column (quantile bins of its
highest-variance feature, as strings) and a time column, then:

* **clean controls** — seeded random splits (stratified for classes) into train / validation /
  test / production = 60 / 15 / 15 / 10 %, times in split order (train earliest), and the
  predictions of a reasonable model fitted on train (logistic/ridge or HistGradientBoosting,
  whichever scores better on validation), for every split, in the contract format
  (``prediction`` + ``proba_<label>``). Every check should pass or warn: a ``fail`` or
  ``error`` counts as a false alarm.
* **planted defects**, one at a time on the same kind of split, each with the check(s)
  expected to fail (see ``SCENARIOS``). A defect counts as caught when an expected check
  fails, as weakly caught when it only warns.

Everything goes through the public API ``qa.check(...)`` with ``run.threads = 1`` and fixed
seeds. Checks whose module exists under ``checks/`` but which are not registered yet
(``label-noise``, ``leakage``) are passed as ``extra_checks`` so they are measured too.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TARGET = "target"
TIME = "event_time"
SHARES = {"train": 0.60, "validation": 0.15, "test": 0.15, "production": 0.10}
SPLITS = tuple(SHARES)
#: Checks that may exist as modules before they are registered as entry points.
MAYBE_UNREGISTERED = {"label-noise": "qa.checks.label_noise", "leakage": "qa.checks.leakage"}


# --------------------------------------------------------------------------- data
@dataclass
class Dataset:
    name: str
    task: str  # binary | multiclass | regression
    frame: pd.DataFrame  # features + categorical + target, no time yet
    numeric: list[str]
    categorical: str


def load_dataset(name: str) -> Dataset:
    from bundled import load_bundled

    x, y, task = load_bundled(name)
    numeric = list(x.columns)
    widest = x.var().idxmax()
    cat = f"{widest}_band"
    codes = pd.qcut(x[widest].rank(method="first"), 5, labels=False).astype(int)
    x[cat] = np.array(["very low", "low", "mid", "high", "very high"])[codes]
    x[TARGET] = y
    return Dataset(name, task, x, numeric, cat)


def split(ds: Dataset, seed: int) -> dict[str, pd.DataFrame]:
    """Random 60/15/15/10 split (stratified for classification), rows in random order."""
    from sklearn.model_selection import train_test_split

    frame = ds.frame
    strat = frame[TARGET] if ds.task != "regression" else None
    rest, prod = train_test_split(
        frame, test_size=SHARES["production"], random_state=seed, stratify=strat
    )
    left = 1 - SHARES["production"]
    strat = rest[TARGET] if ds.task != "regression" else None
    rest, test = train_test_split(
        rest, test_size=SHARES["test"] / left, random_state=seed + 1, stratify=strat
    )
    left -= SHARES["test"]
    strat = rest[TARGET] if ds.task != "regression" else None
    train, val = train_test_split(
        rest, test_size=SHARES["validation"] / left, random_state=seed + 2, stratify=strat
    )
    return {"train": train, "validation": val, "test": test, "production": prod}


def add_time(
    frames: dict[str, pd.DataFrame], order: tuple[str, ...], rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Hourly timestamps, splits one after another in ``order``, shuffled within each split."""
    start = pd.Timestamp("2024-01-01")
    out, offset = {}, 0
    for name in order:
        f = frames[name].copy()
        hours = offset + rng.permutation(len(f))
        f[TIME] = start + pd.to_timedelta(hours, unit="h")
        offset += len(f)
        out[name] = f
    return {s: out[s] for s in SPLITS}


def reset(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {s: f.reset_index(drop=True) for s, f in frames.items()}


# --------------------------------------------------------------------------- models
def model_columns(frame: pd.DataFrame, ds: Dataset) -> list[str]:
    """Numeric features the reference models use (the band column is derived from one)."""
    return [c for c in frame.columns if c not in (TARGET, TIME, ds.categorical)]


def fit_best(frames: dict[str, pd.DataFrame], ds: Dataset, seed: int) -> Any:
    """Linear or HistGradientBoosting, whichever scores better on validation."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cols = model_columns(frames["train"], ds)
    xt, yt = frames["train"][cols], frames["train"][TARGET]
    xv, yv = frames["validation"][cols], frames["validation"][TARGET]
    if ds.task == "regression":
        cands = [
            make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
            HistGradientBoostingRegressor(random_state=seed),
        ]
    else:
        cands = [
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
            HistGradientBoostingClassifier(random_state=seed),
        ]
    best, best_score = None, -math.inf
    for model in cands:
        model.fit(xt, yt)
        score = model.score(xv, yv)
        if score > best_score:
            best, best_score = model, score
    return best


def fit_tree(frames: dict[str, pd.DataFrame], ds: Dataset, seed: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeRegressor if ds.task == "regression" else DecisionTreeClassifier
    cols = model_columns(frames["train"], ds)
    return cls(random_state=seed).fit(frames["train"][cols], frames["train"][TARGET])


def predictions_from(
    model: Any, frames: dict[str, pd.DataFrame], ds: Dataset
) -> dict[str, pd.DataFrame]:
    cols = model_columns(frames["train"], ds)
    out = {}
    for s, f in frames.items():
        if ds.task == "regression":
            out[s] = pd.DataFrame({"prediction": model.predict(f[cols])})
        else:
            out[s] = proba_frame(model.predict_proba(f[cols]), list(model.classes_))
    return out


def proba_frame(proba: np.ndarray, classes: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"prediction": np.asarray(classes)[proba.argmax(axis=1)]})
    for j, c in enumerate(classes):
        frame[f"proba_{c}"] = proba[:, j]
    return frame


def prior_predictions(frames: dict[str, pd.DataFrame], ds: Dataset) -> dict[str, pd.DataFrame]:
    """A model that learned nothing: the train class prior (or the train mean)."""
    y = frames["train"][TARGET]
    if ds.task == "regression":
        return {
            s: pd.DataFrame({"prediction": np.full(len(f), y.mean())}) for s, f in frames.items()
        }
    shares = y.value_counts(normalize=True).sort_index()
    classes = list(shares.index)
    return {
        s: proba_frame(np.tile(shares.to_numpy(), (len(f), 1)), classes) for s, f in frames.items()
    }


def fold_predictions(preds: dict[str, pd.DataFrame], ds: Dataset) -> dict[str, pd.DataFrame]:
    """A model that never predicts the second class: its probability goes to the first."""
    out = {}
    for s, p in preds.items():
        cols = [c for c in p.columns if c.startswith("proba_")]
        classes = [c[len("proba_") :] for c in cols]
        proba = p[cols].to_numpy().copy()
        proba[:, 0] += proba[:, 1]
        proba[:, 1] = 0.0
        labels = np.asarray(sorted(ds.frame[TARGET].unique()))  # label values, model order
        out[s] = proba_frame(proba, list(labels) if len(labels) == len(classes) else classes)
    return out


# --------------------------------------------------------------------------- scenarios
@dataclass
class Case:
    frames: dict[str, pd.DataFrame]
    model: str = "best"  # best | tree | prior | fold
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    expect: tuple[str, ...]
    apply: Callable[[Dataset, dict[str, pd.DataFrame], np.random.Generator], Case]
    tasks: tuple[str, ...] = ("binary", "multiclass", "regression")
    what: str = ""


def _flip(y: pd.Series, share: float, rng: np.random.Generator) -> pd.Series:
    y = y.copy()
    classes = np.asarray(sorted(y.unique()))
    rows = rng.choice(len(y), size=math.ceil(share * len(y)), replace=False)
    for r in rows:
        others = classes[classes != y.iloc[r]]
        y.iloc[r] = rng.choice(others)
    return y


def _widest(ds: Dataset, train: pd.DataFrame, k: int) -> list[str]:
    return list(train[ds.numeric].var().sort_values(ascending=False, kind="stable").index[:k])


def s_label_noise(ds, frames, rng):
    tr = frames["train"].copy()
    tr[TARGET] = _flip(tr[TARGET], 0.10, rng)
    return Case({**frames, "train": tr})


def s_dup_test_rows(ds, frames, rng):
    test = frames["test"]
    rows = rng.choice(len(test), size=math.ceil(0.05 * len(test)), replace=False)
    tr = pd.concat([frames["train"], test.iloc[rows]], ignore_index=True)
    tr = tr.iloc[rng.permutation(len(tr))]
    return Case({**frames, "train": tr}, note=f"{len(rows)} test rows copied")


def s_target_proxy(ds, frames, rng):
    out = {}
    codes = {c: i for i, c in enumerate(sorted(ds.frame[TARGET].unique()))}
    scale = 0.05 * ds.frame[TARGET].std() if ds.task == "regression" else 0.1
    for s, f in frames.items():
        f = f.copy()
        base = f[TARGET].astype(float) if ds.task == "regression" else f[TARGET].map(codes)
        f["proxy_score"] = base.to_numpy(dtype=float) + rng.normal(0, scale, len(f))
        out[s] = f
    return Case(out)


def s_shift_3(ds, frames, rng):
    prod = frames["production"].copy()
    for c in _widest(ds, frames["train"], 3):
        prod[c] = prod[c] + 0.5 * frames["train"][c].std()
    return Case({**frames, "production": prod})


def s_unit_x10(ds, frames, rng):
    prod = frames["production"].copy()
    c = _widest(ds, frames["train"], 1)[0]
    prod[c] = prod[c] * 10
    return Case({**frames, "production": prod}, note=c)


def s_unseen_cats(ds, frames, rng):
    prod = frames["production"].copy()
    rows = rng.choice(len(prod), size=math.ceil(0.05 * len(prod)), replace=False)
    col = prod.columns.get_loc(ds.categorical)
    for i, r in enumerate(rows):
        prod.iat[r, col] = f"unseen {i % 3}"
    return Case({**frames, "production": prod}, note=f"{len(rows)} rows")


def s_time_reversed(ds, frames, rng):
    # the time column is laid out again afterwards in this order (see run_case)
    return Case(frames, note="test < train < validation < production")


def s_prior_model(ds, frames, rng):
    return Case(frames, model="prior")


def s_overfit_tree(ds, frames, rng):
    if ds.task == "regression":  # diabetes is noisy already
        return Case(frames, model="tree")
    tr = frames["train"].copy()
    tr[TARGET] = _flip(tr[TARGET], 0.20, rng)
    return Case({**frames, "train": tr}, model="tree", note="20% train labels flipped")


def s_fold_class(ds, frames, rng):
    return Case(frames, model="fold")


def s_rare_class(ds, frames, rng):
    tr = frames["train"]
    counts = tr[TARGET].value_counts()
    rare = sorted(counts.index[counts == counts.min()])[0]
    others = int((tr[TARGET] != rare).sum())
    keep = max(1, round(0.005 * others / 0.995))
    idx = np.flatnonzero((tr[TARGET] == rare).to_numpy())
    drop = rng.choice(idx, size=len(idx) - keep, replace=False)
    tr = tr.drop(tr.index[drop])
    return Case({**frames, "train": tr}, note=f"class {rare}: {keep} of {len(tr)} train rows")


CLASSIFY = ("binary", "multiclass")
SCENARIOS = [
    Scenario(
        "label_noise", ("label-noise",), s_label_noise, CLASSIFY, "10 % of train labels flipped"
    ),
    Scenario("dup_test_rows", ("leakage",), s_dup_test_rows, what="5 % of test rows in train"),
    Scenario("target_proxy", ("leakage",), s_target_proxy, what="feature = target + noise"),
    Scenario("shift_3", ("drift",), s_shift_3, what="3 production features +0.5 SD"),
    Scenario("unit_x10", ("schema", "drift"), s_unit_x10, what="1 production feature x10"),
    Scenario(
        "unseen_cats",
        ("schema", "drift"),
        s_unseen_cats,
        what="5 % production rows with unseen categories",
    ),
    Scenario(
        "time_reversed",
        ("leakage", "split-hygiene"),
        s_time_reversed,
        what="test earlier than train",
    ),
    Scenario("prior_model", ("baseline-beats",), s_prior_model, what="model = class prior/mean"),
    Scenario(
        "overfit_tree",
        ("overfit-gap",),
        s_overfit_tree,
        what="unpruned tree (on 20 % flipped labels)",
    ),
    Scenario(
        "fold_class",
        ("per-class-recall", "confusion-clusters"),
        s_fold_class,
        ("multiclass",),
        "2nd class never predicted: folded into the 1st",
    ),
    Scenario(
        "rare_class", ("class-imbalance",), s_rare_class, CLASSIFY, "minority class 0.5 % of train"
    ),
]


# --------------------------------------------------------------------------- running
@dataclass
class Outcome:
    dataset: str
    scenario: str
    seed: int
    statuses: dict[str, str]
    messages: dict[str, str]
    seconds: float
    note: str = ""
    expect: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def extra_checks() -> tuple[list[type], list[str]]:
    """Check classes for ids whose module exists but is not registered (yet)."""
    from qa.base import Check
    from qa.registry import load_registry

    registered = set(load_registry([]))
    found, notes = [], []
    for cid, module in MAYBE_UNREGISTERED.items():
        if cid in registered:
            continue
        try:
            mod = importlib.import_module(module)
        except Exception as exc:  # a module mid-edit must not stop the benchmark
            notes.append(f"{cid}: not registered and {module} failed to import ({exc})")
            continue
        classes = [
            v
            for v in vars(mod).values()
            if isinstance(v, type) and issubclass(v, Check) and getattr(v, "id", "") == cid
        ]
        if classes:
            found.append(classes[0])
            notes.append(f"{cid}: not registered; passed as extra_checks from {module}")
        else:
            notes.append(f"{cid}: not registered and {module} has no Check with that id")
    return found, notes


def run_case(ds: Dataset, scenario: Scenario | None, seed: int, extras: list[type]) -> Outcome:
    import qa

    rng = np.random.default_rng(10_000 + seed)
    frames = reset(split(ds, seed))
    case = scenario.apply(ds, frames, rng) if scenario else Case(frames)
    order = (
        ("test", "train", "validation", "production")
        if scenario and scenario.name == "time_reversed"
        else SPLITS
    )
    frames = reset(add_time(case.frames, order, rng))
    if case.model == "prior":
        preds = prior_predictions(frames, ds)
    elif case.model == "tree":
        preds = predictions_from(fit_tree(frames, ds, seed), frames, ds)
    else:
        preds = predictions_from(fit_best(frames, ds, seed), frames, ds)
        if case.model == "fold":
            preds = fold_predictions(preds, ds)
    config = {
        "task": {"type": ds.task, "target": TARGET, "time": TIME},
        "checks": {},
        "run": {"threads": 1, "seed": seed},
    }
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = qa.check(**frames, config=config, predictions=preds, extra_checks=extras)
    took = time.perf_counter() - start
    statuses = {r.id: r.status for r in report.checks}
    messages = {r.id: r.message.replace("\n", " ") for r in report.checks}
    return Outcome(
        ds.name,
        scenario.name if scenario else "clean",
        seed,
        statuses,
        messages,
        took,
        case.note,
        scenario.expect if scenario else (),
    )


def verdict(o: Outcome) -> str:
    got = [o.statuses.get(c, "absent") for c in o.expect]
    if "fail" in got:
        return "caught"
    if "warn" in got:
        return "weak"
    if all(g == "absent" for g in got):
        return "n/a"
    if all(g in ("skip", "absent") for g in got):
        return "SKIPPED"
    return "MISSED"


def short(text: str, n: int = 230) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------- report
def print_report(clean: list[Outcome], defects: list[Outcome], notes: list[str]) -> None:
    for n in notes:
        print(f"note: {n}")
    print("\n== Clean controls (fail/error = false alarm) ==")
    print(f"{'dataset':<14}{'runs':>5}{'false alarms':>14}  warns (check x runs)")
    for name in dict.fromkeys(o.dataset for o in clean):
        runs = [o for o in clean if o.dataset == name]
        alarms = sum(s in ("fail", "error") for o in runs for s in o.statuses.values())
        warns = Counter(c for o in runs for c, s in o.statuses.items() if s == "warn")
        wtxt = ", ".join(f"{c} x{k}" for c, k in sorted(warns.items())) or "-"
        print(f"{name:<14}{len(runs):>5}{alarms:>14}  {wtxt}")
    print("\n-- false alarms (clean) --")
    any_alarm = False
    for o in clean:
        for c, s in o.statuses.items():
            if s in ("fail", "error"):
                any_alarm = True
                print(f"{o.dataset}/seed{o.seed} {c}: {s}: {short(o.messages[c])}")
    if not any_alarm:
        print("none")
    print("\n-- warns (clean), first message per dataset and check --")
    seen = set()
    for o in clean:
        for c, s in o.statuses.items():
            if s == "warn" and (o.dataset, c) not in seen:
                seen.add((o.dataset, c))
                print(f"{o.dataset}/seed{o.seed} {c}: {short(o.messages[c])}")

    print("\n== Planted defects ==")
    print(
        f"{'dataset':<14}{'scenario':<15}{'seed':>4}  {'verdict':<8}{'expected check(s)':<52}"
        "other fails"
    )
    for o in defects:
        exp = ", ".join(f"{c}={o.statuses.get(c, 'absent')}" for c in o.expect)
        other = (
            ", ".join(
                c for c, s in o.statuses.items() if s in ("fail", "error") and c not in o.expect
            )
            or "-"
        )
        print(f"{o.dataset:<14}{o.scenario:<15}{o.seed:>4}  {verdict(o):<8}{exp:<52}{other}")
    print("\n-- missed / weak defects (message of each expected check) --")
    for o in defects:
        if verdict(o) in ("MISSED", "weak", "SKIPPED"):
            for c in o.expect:
                msg = o.messages.get(c, "(not run)")
                print(
                    f"{o.dataset}/{o.scenario}/seed{o.seed} {c}="
                    f"{o.statuses.get(c, 'absent')}: {short(msg)}"
                )
    errors = [(o, c) for o in clean + defects for c, s in o.statuses.items() if s == "error"]
    print("\n-- errors (a check crashed) --")
    for o, c in errors:
        print(f"{o.dataset}/{o.scenario}/seed{o.seed} {c}: {short(o.messages[c])}")
    if not errors:
        print("none")
    tally = Counter(verdict(o) for o in defects)
    fa = sum(s in ("fail", "error") for o in clean for s in o.statuses.values())
    total = sum(o.seconds for o in clean + defects)
    print(
        f"\nsummary: {len(clean)} clean runs, {fa} false alarms; {len(defects)} defect runs: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
        + f"; gate time {total:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke-test subset")
    ap.add_argument("--seeds", type=int, default=5, help="clean-control seeds per dataset")
    ap.add_argument("--defect-seeds", type=int, default=1, help="seeds per planted defect")
    ap.add_argument("--datasets", default="breast_cancer,wine,iris,digits,diabetes")
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    ap.add_argument("--json", help="write every outcome (statuses, messages) to this file")
    args = ap.parse_args(argv)
    names = args.datasets.split(",")
    wanted = args.scenarios.split(",")
    seeds, dseeds = args.seeds, args.defect_seeds
    if args.quick:
        names = [n for n in names if n in ("breast_cancer", "wine")] or names[:1]
        wanted = [
            w
            for w in wanted
            if w in ("dup_test_rows", "shift_3", "prior_model", "fold_class", "unit_x10")
        ] or wanted[:2]
        seeds, dseeds = 1, 1
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    extras, notes = extra_checks()
    scen = [s for s in SCENARIOS if s.name in wanted]
    clean, defects = [], []
    # a scratch folder as working directory: no stray qa.lock or qa.toml is picked up
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for name in names:
            ds = load_dataset(name)
            for seed in range(seeds):
                clean.append(run_case(ds, None, seed, extras))
                print(f"  {name} clean seed {seed}: {clean[-1].seconds:.1f} s", file=sys.stderr)
            for sc in scen:
                if ds.task not in sc.tasks:
                    continue
                for seed in range(dseeds):
                    defects.append(run_case(ds, sc, 100 + seed, extras))
                    print(
                        f"  {name} {sc.name} seed {100 + seed}: {defects[-1].seconds:.1f} s",
                        file=sys.stderr,
                    )
    print_report(clean, defects, notes)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([o.__dict__ for o in clean + defects], fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
