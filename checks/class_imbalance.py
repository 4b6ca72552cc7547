"""Is a class too rare, and do the splits share train's class balance?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.context import Context
from qa.errors import DataError

if TYPE_CHECKING:
    from qa.profile import CategoricalProfile
    from qa.profile_context import ProfileContext

#: One train class's verdict from :func:`minority_verdict`.
Verdict = Literal["ok", "warn", "fail"]

#: Metrics per class are kept for at most this many classes (the report stays small).
MAX_CLASS_METRICS = 50
#: Splits compared with train for stratification. Production's class balance is the drift
#: check's business (label shift is real-world change, not a splitting mistake).
STRATIFIED_SPLITS = ("validation", "test")


class ClassImbalance(Check):
    """Every class has a fair share of train, and the splits share train's class balance.

    What it checks
    --------------
    The share of each class in train and in every other labelled split. The rarest train
    class (the minority) is held to a bar, a class seen outside train but never in train is
    flagged, and validation and test are compared with train to see whether the split was
    stratified. This is the one check that judges stratification; split-hygiene judges the
    split's proportions, time order and locked test set.

    On profiles (``--engine``, ``--reference``) every number is exact and nothing is sampled:
    the target's profile counts each class of every split, so the shares, the bars, the
    chi-square test and the verdict are those of the rows, against a stored reference too.
    Classes a split has but train never had are named (up to 20 per split); when a split has
    several, the profile keeps only their total, shown as one column, ``(classes not in
    train)``.

    Why it matters
    --------------
    A class with a few percent of the rows is easy to ignore: a model can reach high accuracy
    while never predicting it, and its per-class metrics swing from one split to the next. A
    class the model never saw in train cannot be predicted at all. Splits with different class
    balances make validation and test scores disagree for no reason but the split.

    How it decides
    --------------
    The bars are stated for a binary task and scale with the number of classes K (a balanced
    K-class task gives each class 1/K): the minority share warns below
    ``min_minority_share`` × 2/K and fails below ``fail_minority_share`` × 2/K (10 % and 1 %
    for a binary task). A class under the warn bar with fewer than ``fail_min_rows`` train rows
    also fails: with a handful of rows it can be neither learned nor cross-validated, whatever
    its share. A class present in another labelled split but absent from train fails.
    Validation and test are not stratified when a chi-square test on the split × class table is
    significant at ``alpha`` *and* some class share differs from train's by more than
    ``max_share_difference`` (absolute): both, so that a large sample does not turn a negligible
    difference into a warning. That warns. Production's class balance is shown but left to the
    drift check.

    How to fix
    ----------
    For a rare class: gather more of its rows, weight it in the loss (class weights), resample,
    or merge it into a broader class; judge the model by per-class recall or macro-F1 rather than
    accuracy. For a class missing from train: add its rows to train or drop it from evaluation
    on purpose. For unstratified splits: re-split with stratification on the target (e.g.
    scikit-learn's ``train_test_split(..., stratify=y)``).
    """

    id = "class-imbalance"
    title = "Class balance and stratified splits"
    requires = ("train",)
    tasks = ("binary", "multiclass")
    severity = "error"
    profiles_supported = True

    @dataclass(frozen=True)
    class Params:
        min_minority_share: float = param(
            0.10,
            "Minority share below which a binary task warns (scaled by 2/K for K classes).",
            ge=0.0,
            le=0.5,
        )
        fail_minority_share: float = param(
            0.01,
            "Minority share below which a binary task fails (scaled by 2/K for K classes).",
            ge=0.0,
            le=0.5,
        )
        max_share_difference: float = param(
            0.05,
            "Largest absolute class-share difference between train and validation/test.",
            ge=0.0,
            le=1.0,
        )
        fail_min_rows: int = param(
            10,
            "A class under the warn bar with fewer train rows than this fails: it cannot be "
            "learned or cross-validated.",
            ge=0,
        )
        alpha: float = param(
            0.001,
            "Significance level of the chi-square test for unstratified splits (a random "
            "split warns this often by chance when the share bar is also crossed).",
            gt=0.0,
            lt=1.0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        names = ctx.class_names
        splits = [s for s in ctx.splits if ctx.has_labels(s)]
        # measure
        counts = {s: np.bincount(ctx.labels(s), minlength=len(names)) for s in splits}
        return self._judge(names, counts, _absent_classes(names, counts), params)

    def run_profiles(self, pctx: ProfileContext, params: Params) -> CheckResult:
        if not pctx.is_classification:
            return self.skip(f"does not apply to {pctx.task} tasks")
        measured = profile_class_counts(pctx)
        if isinstance(measured, str):
            return self.skip(measured)
        names, counts, absent, note = measured
        return self._judge(names, counts, absent, params, note)

    def _judge(
        self,
        names: list[str],
        counts: dict[str, np.ndarray],
        absent: list[tuple[str, str]],
        params: Params,
        note: str = "",
    ) -> CheckResult:
        """Measure shares and stratification from the class counts, decide, explain."""
        splits = list(counts)
        shares = {s: c / max(int(c.sum()), 1) for s, c in counts.items()}
        train, train_shares = counts["train"], shares["train"]
        in_train = train > 0
        k = int(in_train.sum())
        compared = [s for s in splits if s in STRATIFIED_SPLITS]
        p_value, differences = _stratification(counts, shares, compared, names)
        max_diff = max((d for _, _, d in differences), default=0.0)
        # decide
        verdicts = _class_verdicts(train, train_shares, k, params)
        unstratified = is_unstratified(p_value, max_diff, params)
        status = decide(len(absent), list(verdicts.values()), unstratified)
        return self._explain(
            names,
            splits,
            counts,
            shares,
            k,
            absent,
            compared,
            p_value,
            differences,
            verdicts,
            unstratified,
            status,
            params,
            note,
        )

    def _explain(
        self,
        names: list[str],
        splits: list[str],
        counts: dict[str, np.ndarray],
        shares: dict[str, np.ndarray],
        k: int,
        absent: list[tuple[str, str]],
        compared: list[str],
        p_value: float | None,
        differences: list[tuple[str, str, float]],
        verdicts: dict[int, Verdict],
        unstratified: bool,
        status: Status,
        params: Params,
        note: str = "",
    ) -> CheckResult:
        max_diff = max((d for _, _, d in differences), default=0.0)
        bars = _bars(params, k)
        metrics = _metrics(names, splits, counts, shares, k, p_value, max_diff)
        subjects: list[str] = []
        if status == "pass":
            strat = f"; splits agree with train within {max_diff:.1%}" if compared else ""
            message = _passing_text(metrics["minority_share"], bars[0], strat)
        else:
            problems = _absent_problems(absent)
            problems += _rarity_problems(names, counts, shares, verdicts, bars, params)
            if unstratified:
                problems += _stratification_problems(
                    differences, p_value, params.max_share_difference
                )
            message, subjects = _problem_text(problems), _problem_subjects(problems)
        return self.result(
            status,
            message,
            subjects=subjects,
            metrics=metrics,
            thresholds=_thresholds(params, bars),
            evidence=[_share_table(names, splits, counts, shares, note)],
            charts=[_share_chart(names, splits, shares, bars[0])],
        )


# --------------------------------------------------------------------------- explain
@dataclass(frozen=True)
class Problem:
    """One finding for the message: its clause, the classes at fault, and whether it fails."""

    text: str
    subjects: list[str]
    fails: bool


def _bars(params: ClassImbalance.Params, k: int) -> tuple[float, float]:
    """The warn and fail bars on the minority share, scaled by 2/K for K train classes."""
    return params.min_minority_share * 2 / k, params.fail_minority_share * 2 / k


def _metrics(
    names: list[str],
    splits: list[str],
    counts: dict[str, np.ndarray],
    shares: dict[str, np.ndarray],
    k: int,
    p_value: float | None,
    max_diff: float,
) -> dict[str, float | None]:
    """Class counts, minority share, imbalance ratio, stratification, and each class's share."""
    train_shares = shares["train"]
    in_train = counts["train"] > 0
    metrics: dict[str, float | None] = {
        "n_classes": len(names),
        "n_classes_train": k,
        "minority_share": float(train_shares[in_train].min()),
        "imbalance_ratio": _imbalance_ratio(counts["train"], train_shares),
        "max_share_difference": max_diff,
        "chi2_p_value": p_value,
    }
    for s in splits:
        for i, name in enumerate(names[:MAX_CLASS_METRICS]):
            metrics[f"share_{s}_{name}"] = float(shares[s][i])
    return metrics


def _imbalance_ratio(train: np.ndarray, train_shares: np.ndarray) -> float:
    """The largest class share over the smallest, among the classes in train."""
    in_train = train > 0
    return float(train_shares[in_train].max() / train_shares[in_train].min())


def _thresholds(params: ClassImbalance.Params, bars: tuple[float, float]) -> dict[str, float]:
    return {
        "min_minority_share": bars[0],
        "fail_minority_share": bars[1],
        "fail_min_rows": params.fail_min_rows,
        "max_share_difference": params.max_share_difference,
        "alpha": params.alpha,
    }


def _share_chart(
    names: list[str], splits: list[str], shares: dict[str, np.ndarray], warn_bar: float
) -> Chart:
    return Chart(
        "bars",
        "Class shares per split",
        {
            "labels": names[:MAX_CLASS_METRICS],
            "series": {s: [float(v) for v in shares[s][:MAX_CLASS_METRICS]] for s in splits},
            "threshold": warn_bar,
        },
    )


def _passing_text(minority_share: float | None, warn_bar: float, stratified: str) -> str:
    return f"minority class has {minority_share:.1%} of train (bar {warn_bar:.1%}){stratified}"


def _absent_problems(absent: list[tuple[str, str]]) -> list[Problem]:
    """Classes seen outside train but never in it (fail)."""
    if not absent:
        return []
    listed = ", ".join(f"{c!r} (in {s})" for c, s in absent[:5])
    text = f"{len(absent)} class(es) never seen in train: {listed}"
    return [Problem(text, [c for c, _ in absent], fails=True)]


def _rarity_problems(
    names: list[str],
    counts: dict[str, np.ndarray],
    shares: dict[str, np.ndarray],
    verdicts: dict[int, Verdict],
    bars: tuple[float, float],
    params: ClassImbalance.Params,
) -> list[Problem]:
    """The rarest class under the floor (fail), else the rarest under the warn bar (warn)."""
    train, train_shares = counts["train"], shares["train"]
    too_rare = [names[i] for i, v in verdicts.items() if v == "fail"]
    rare = [names[i] for i, v in verdicts.items() if v == "warn"]
    if too_rare:
        i = names.index(too_rare[0])
        text = (
            f"class {too_rare[0]!r} has {train_shares[i]:.2%} of train, {int(train[i])} "
            f"row(s) (floor {bars[1]:.2%} or {params.fail_min_rows} rows)"
        )
        return [Problem(text, too_rare, fails=True)]
    if rare:
        text = (
            f"class {rare[0]!r} has {train_shares[names.index(rare[0])]:.2%} of train "
            f"(bar {bars[0]:.2%}); imbalance ratio {_imbalance_ratio(train, train_shares):.1f}:1"
        )
        return [Problem(text, rare, fails=False)]
    return []


def _stratification_problems(
    differences: list[tuple[str, str, float]], p_value: float | None, max_difference: float
) -> list[Problem]:
    """The split and class whose share differs most from train's (warn)."""
    shifted = [(s, c, d) for s, c, d in differences if d > max_difference]
    s, c, d = max(shifted, key=lambda t: t[2])
    text = (
        f"splits are not stratified: class {c!r} differs by {d:.1%} between train and "
        f"{s} (chi-square p = {p_value:.2g})"
    )
    return [Problem(text, [c for _, c, _ in shifted], fails=False)]


def _problem_text(problems: list[Problem]) -> str:
    """The clauses, failing ones first."""
    return "; ".join(
        [p.text for p in problems if p.fails] + [p.text for p in problems if not p.fails]
    )


def _problem_subjects(problems: list[Problem]) -> list[str]:
    """Every class at fault, once, in the order the problems name them."""
    return list(dict.fromkeys(s for p in problems for s in p.subjects))


# --------------------------------------------------------------------------- decide
def _class_verdicts(
    train: np.ndarray, train_shares: np.ndarray, k: int, params: ClassImbalance.Params
) -> dict[int, Verdict]:
    """Each train class's verdict (by index), rarest first."""
    return {
        i: minority_verdict(float(train_shares[i]), int(train[i]), k, params)
        for i in np.argsort(train_shares, kind="stable")
        if train[i] > 0
    }


def minority_verdict(share: float, rows: int, k: int, params: ClassImbalance.Params) -> Verdict:
    """One train class: fail under the floor (``fail_minority_share`` x 2/K) or, under the warn
    bar, with fewer than ``fail_min_rows`` rows; warn under the bar (``min_minority_share``
    x 2/K); else ok."""
    warn_bar = params.min_minority_share * 2 / k
    fail_bar = params.fail_minority_share * 2 / k
    if share >= warn_bar:
        return "ok"
    if share < fail_bar or rows < params.fail_min_rows:
        return "fail"
    return "warn"


def is_unstratified(
    p_value: float | None, max_difference: float, params: ClassImbalance.Params
) -> bool:
    """Significant (p < ``alpha``) and large (> ``max_share_difference``): both."""
    return (
        p_value is not None
        and p_value < params.alpha
        and max_difference > params.max_share_difference
    )


def decide(n_absent: int, class_verdicts: Sequence[Verdict], unstratified: bool) -> Status:
    """fail on a class missing from train or too rare; warn on a rare class or unstratified
    splits; else pass."""
    if n_absent or "fail" in class_verdicts:
        return "fail"
    if "warn" in class_verdicts or unstratified:
        return "warn"
    return "pass"


# --------------------------------------------------------------------------- measure
def _stratification(
    counts: dict[str, np.ndarray],
    shares: dict[str, np.ndarray],
    compared: list[str],
    names: list[str],
) -> tuple[float | None, list[tuple[str, str, float]]]:
    """Chi-square p-value over train + compared splits, and each (split, class, |Δ share|)."""
    if not compared:
        return None, []
    from scipy.stats import chi2_contingency

    matrix = np.vstack([counts["train"]] + [counts[s] for s in compared])
    matrix = matrix[:, matrix.sum(axis=0) > 0]
    p_value: float | None = None
    if matrix.shape[1] >= 2:
        p_value = float(chi2_contingency(matrix, correction=False).pvalue)
    differences = []
    for s in compared:
        diff = np.abs(shares[s] - shares["train"])
        differences += [(s, names[i], float(diff[i])) for i in np.nonzero(diff > 0)[0]]
    return p_value, differences


def _share_table(
    names: list[str],
    splits: list[str],
    counts: dict[str, np.ndarray],
    shares: dict[str, np.ndarray],
    note: str = "",
) -> Evidence:
    columns = ["class"]
    for s in splits:
        columns += [f"{s} rows", f"{s} share"]
    rows = []
    for i, name in enumerate(names):
        row: list[object] = [name]
        for s in splits:
            row += [int(counts[s][i]), float(shares[s][i])]
        rows.append(row)
    return table("Class counts and shares per split", columns, rows, note=note)


def _absent_classes(names: list[str], counts: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(class, split) for every class seen in a split other than train but never in train."""
    in_train = counts["train"] > 0
    return [
        (names[i], s)
        for s in counts
        if s != "train"
        for i in np.nonzero((counts[s] > 0) & ~in_train)[0]
    ]


# --------------------------------------------------------------------------- measure on profiles
#: The column of a split's rows whose classes train never had, when the split has several such
#: classes: a profile counts those rows in total (``other``), not class by class.
UNSEEN_CLASSES = "(classes not in train)"

ProfileCounts = tuple[list[str], dict[str, np.ndarray], list[tuple[str, str]], str]


def profile_class_counts(pctx: ProfileContext) -> ProfileCounts | str:
    """Class names (spelt and ordered as in memory), exact counts per labelled split, the
    classes missing from train, and a note for the evidence; or why they cannot be had."""
    target = str(pctx.target)
    splits = [s for s in pctx.splits if pctx.has_labels(s)]
    targets = {s: pctx.categorical(s, target) for s in splits}
    if targets.get("train") is None:
        return f"train's profile has no class counts of the target {target!r}"
    spec = pctx.profiles.spec.column(target)
    if not spec.complete:
        return (
            f"train's target {target!r} has more than {len(spec.categories):,} classes; the "
            "profile counts only the most frequent, so shares of the rest are not known"
        )
    found = {s: t for s, t in targets.items() if t is not None}
    _require_usable_target(found, target, spec.dtype)
    per_split = {s: _split_class_counts(pctx, s, found[s], spec.categories) for s in found}
    order = _class_order({c for counts in per_split.values() for c in counts}, spec.dtype)
    names = [_label_name(c, spec.dtype) for c in order]
    counts = {s: np.array([per_split[s].get(c, 0) for c in order]) for s in found}
    absent = [
        (_label_name(c, spec.dtype), s)
        for s in found
        if s != "train"
        for c in _class_order(set(found[s].other_examples), spec.dtype)
    ]
    lumped = [s for s, counts in per_split.items() if UNSEEN_CLASSES in counts]
    return names, counts, absent, _unseen_note(lumped)


def _split_class_counts(
    pctx: ProfileContext, split: str, column: CategoricalProfile, tracked: Sequence[str]
) -> dict[str, int]:
    """Rows per class of one split: the tracked (train's) classes exact from the class counts;
    classes train never had exact when there is one, else their total under UNSEEN_CLASSES."""
    known = set(tracked)
    counts = {c: n for c, n in (pctx.class_counts(split) or {}).items() if c in known and n}
    if column.other and len(column.other_examples) == 1:
        counts[column.other_examples[0]] = column.other
    elif column.other:
        counts[UNSEEN_CLASSES] = column.other
    return counts


def _require_usable_target(targets: dict[str, CategoricalProfile], target: str, dtype: str) -> None:
    """The in-memory loader's refusals: a missing target value, a single class in train."""
    for split, column in targets.items():
        if column.nulls:
            raise DataError(
                f"data.{split}: target column {target!r} has {column.nulls} missing value(s)"
            )
    train = [c for c, n in targets["train"].counts.items() if n]
    if len(train) < 2:
        only = _as_label(train[0], dtype) if train else None
        raise DataError(
            f"data.train: target column {target!r} has a single class ({only!r}); "
            "a classifier needs at least two"
        )


def _as_label(text: str, dtype: str) -> object:
    """A class label as profiles spell it (text; booleans ``true``) as the value the in-memory
    path reads from the split's dtype, so that both name and order classes alike."""
    try:
        if dtype == "Boolean":
            return text == "true"
        if dtype.startswith(("Int", "UInt")):
            return int(text)
        if dtype.startswith("Float"):
            number = float(text)
            return int(number) if number.is_integer() else number
    except ValueError:
        pass
    return text


def _class_order(labels: set[str], dtype: str) -> list[str]:
    """Profile labels in the in-memory class order (by type, then value); UNSEEN_CLASSES last."""
    real = [c for c in labels if c != UNSEEN_CLASSES]
    values = {c: _as_label(c, dtype) for c in real}
    ordered = sorted(real, key=lambda c: (str(type(values[c])), values[c]))
    return ordered + ([UNSEEN_CLASSES] if UNSEEN_CLASSES in labels else [])


def _label_name(label: str, dtype: str) -> str:
    """A class's name as the in-memory path shows it (``str`` of its value: ``1``, ``True``)."""
    return label if label == UNSEEN_CLASSES else str(_as_label(label, dtype))


def _unseen_note(lumped: list[str]) -> str:
    if not lumped:
        return ""
    return (
        f"{', '.join(lumped)}: several classes train never had; the profile counts their rows "
        f"together, shown as {UNSEEN_CLASSES!r}"
    )
