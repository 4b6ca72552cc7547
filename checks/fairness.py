"""Does the model treat declared groups alike? Per-group rates, their gaps and ratios on test."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import polars as pl

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import more_rows_needed, per_test, underpowered_note
from qa.context import Context
from qa.errors import ConfigError, DataError
from qa.metrics import (
    METRICS,
    Bootstrap,
    BootstrapSettings,
    Metric,
    advantage,
    bootstrap_replicates,
    choose_metric,
    fmt_level,
    make_scorer,
)
from qa.predictions import Predictions
from qa.stats import quantile_edges, sorted_finite

SPLIT = "test"
#: The group of rows whose sensitive value is missing (null or NaN).
MISSING = "(missing)"
#: Resamples of the primary metric per group. Classification metrics resample the group's
#: counts over (truth, decision) or (truth, score band) cells, like the rates; regression
#: metrics need the rows: a seeded subsample of at most ``max_rows`` rows per group, the
#: spread rescaled to the group's size (as the model checks do, with fewer resamples so that
#: ten groups of a million-row test set take a second). The note under the table says so.
METRIC_BOOTSTRAP = BootstrapSettings(n_resamples=1000, max_rows=5_000)
#: A rank metric's (AUC, average precision) replicates score the group's rows in at most this
#: many bands of equal row count; the point estimate is always on the rows.
SCORE_BANDS = 200
#: Half a row added to each outcome cell of a class present in a group before resampling its
#: counts, so a group whose rows are all hits (30 of 30) still varies in the bootstrap.
SMOOTHING = 0.5

#: The measures compared across groups; "tpr" is macro recall in a multiclass task.
Measure = Literal["selection_rate", "tpr", "fpr", "metric"]
RATES: tuple[Measure, ...] = ("selection_rate", "tpr", "fpr")
MEASURE_TITLE: dict[str, str] = {
    "selection_rate": "selection rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "metric": "metric",
}
GAP_TITLE: dict[str, str] = {
    "selection_rate": "demographic parity (selection rate)",
    "tpr": "equal opportunity (TPR)",
    "fpr": "false positive rate (FPR)",
    "metric": "primary metric",
}


# --------------------------------------------------------------------------- measure: groups
@dataclass(frozen=True)
class Grouping:
    """The test rows of one sensitive column cut into groups: one per value, a band of a
    numeric column with many values, and "(missing)" for null or NaN."""

    column: str
    names: tuple[str, ...]
    codes: np.ndarray  # the group of each row
    rows: np.ndarray  # rows per group
    note: str = ""  # how the groups were formed when not one per value

    @property
    def n_groups(self) -> int:
        return len(self.names)


def _band_names(edges: np.ndarray) -> list[str]:
    """Right-closed bands: "<= 18", "(18, 30]", ..., "> 65"; distinct even when edges round
    alike."""
    shown = [f"{e:.6g}" for e in edges]
    if not shown:
        return ["all"]
    names = [f"<= {shown[0]}"]
    names += [f"({a}, {b}]" for a, b in itertools.pairwise(shown)]
    names.append(f"> {shown[-1]}")
    return [n if names.count(n) == 1 else f"{n} #{i + 1}" for i, n in enumerate(names)]


def group_rows(series: pl.Series, column: str, max_values: int, bands: int) -> Grouping:
    """Group the rows of ``series`` (one sensitive column of the test split).

    A numeric column with more than ``max_values`` distinct values is cut into at most
    ``bands`` bands at its quantiles on the test split (right-closed, ties kept in one band);
    any other column gets one group per value, in sorted order. Null and NaN form the group
    "(missing)", last.
    """
    s = series
    if s.dtype.is_float():
        s = s.fill_nan(None)
    if isinstance(s.dtype, pl.Categorical | pl.Enum):
        s = s.cast(pl.String)
    missing = s.is_null().to_numpy()
    present = s.drop_nulls()
    note = ""
    if s.dtype.is_numeric() and present.n_unique() > max_values:
        values = s.cast(pl.Float64).to_numpy()
        edges = quantile_edges(sorted_finite(values), bands)
        codes = np.searchsorted(edges, np.where(missing, 0.0, values), side="left")
        names = _band_names(edges)
        note = (
            f"{column!r} is numeric with {present.n_unique():,} distinct values: cut into "
            f"{len(names)} bands at its quantiles on the test split"
        )
    else:
        try:
            uniques = present.unique().sort()
        except pl.exceptions.PolarsError:
            raise DataError(
                f"task.sensitive: column {column!r} has type {series.dtype}, whose values "
                "cannot be grouped"
            ) from None
        names = [str(v) for v in uniques.to_list()]
        index = pl.Series(np.arange(len(names), dtype=np.int64))
        codes = (
            s.replace_strict(uniques, index, default=None, return_dtype=pl.Int64)
            .fill_null(0)
            .to_numpy()
        )
    codes = np.array(codes, dtype=np.int64)  # a copy: polars' arrays are read-only
    if missing.any():
        label = MISSING if MISSING not in names else f"{MISSING} [null]"
        codes[missing] = len(names)
        names.append(label)
    rows = np.bincount(codes, minlength=len(names))
    return Grouping(column, tuple(names), codes, rows, note)


# --------------------------------------------------------------------------- measure: rates
def confusion_by_group(
    codes: np.ndarray, n_groups: int, y: np.ndarray, pred: np.ndarray, k: int
) -> np.ndarray:
    """(groups, k, k) confusion counts: rows of each group by true and predicted class."""
    flat = (codes.astype(np.int64) * k + y.astype(np.int64)) * k + pred.astype(np.int64)
    return np.bincount(flat, minlength=n_groups * k * k).reshape(n_groups, k, k)


def fairlearn_rates(confusion: np.ndarray, task: str, positive: int) -> dict[str, np.ndarray]:
    """Per-group selection rate, TPR and FPR (binary) or macro recall (multiclass, as "tpr").

    fairlearn's ``MetricFrame`` with its ``selection_rate``, ``true_positive_rate`` and
    ``false_positive_rate`` (scikit-learn's ``balanced_accuracy_score``, the mean recall over
    the classes present, for multiclass), evaluated on one row per non-empty (group, truth,
    prediction) cell weighted by its count: the same numbers as on the rows (fairlearn walks
    rows in Python, minutes on a million), at the cost of a few cells. A rate whose
    denominator is empty (TPR of a group without positives) is NaN.
    """
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import balanced_accuracy_score

    n_groups = confusion.shape[0]
    group, truth, said = np.nonzero(confusion)
    weight = confusion[group, truth, said].astype(np.float64)
    metrics: dict[str, Callable[..., float]]
    if task == "binary":
        metrics = {
            "selection_rate": partial(selection_rate, pos_label=positive),
            "tpr": partial(true_positive_rate, pos_label=positive),
            "fpr": partial(false_positive_rate, pos_label=positive),
        }
    else:
        metrics = {"tpr": balanced_accuracy_score}
    with warnings.catch_warnings():  # a class predicted in a group that holds none of it
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        frame = MetricFrame(
            metrics=metrics,
            y_true=truth,
            y_pred=said,
            sensitive_features=group,
            sample_params={name: {"sample_weight": weight} for name in metrics},
        )
    by_group = frame.by_group.reindex(range(n_groups))
    out = {name: by_group[name].to_numpy(dtype=np.float64) for name in metrics}
    denominators = rate_denominators(confusion, task, positive)
    return {name: np.where(denominators[name] > 0, v, np.nan) for name, v in out.items()}


def rate_denominators(confusion: np.ndarray, task: str, positive: int) -> dict[str, np.ndarray]:
    """The rows each per-group rate rests on: all rows (selection rate, macro recall), the
    positives (TPR) or the negatives (FPR)."""
    rows = confusion.sum(axis=(1, 2))
    if task != "binary":
        return {"tpr": rows}
    positives = confusion[:, positive, :].sum(axis=1)
    return {"selection_rate": rows, "tpr": positives, "fpr": rows - positives}


def outcome_cells(confusion: np.ndarray) -> np.ndarray:
    """(..., k, 2) counts per true class: [wrong, right]. Enough for every rate here: in a
    binary task the negatives predicted wrongly are the false positives."""
    right = np.diagonal(confusion, axis1=-2, axis2=-1)
    return np.stack([confusion.sum(axis=-1) - right, right], axis=-1)


def rates_from_cells(cells: np.ndarray, task: str, positive: int) -> dict[str, np.ndarray]:
    """The rates of :func:`fairlearn_rates` from outcome cells (..., k, 2), vectorised over
    the leading axes (the bootstrap's replicates); NaN where a denominator is empty."""
    wrong, right = cells[..., 0].astype(np.float64), cells[..., 1].astype(np.float64)
    support = wrong + right
    with np.errstate(divide="ignore", invalid="ignore"):
        if task == "binary":
            negative = 1 - positive
            return {
                "selection_rate": (right[..., positive] + wrong[..., negative])
                / support.sum(axis=-1),
                "tpr": right[..., positive] / support[..., positive],
                "fpr": wrong[..., negative] / support[..., negative],
            }
        present = support > 0
        recall = np.where(present, right / np.where(present, support, 1.0), 0.0)
        return {"tpr": recall.sum(axis=-1) / present.sum(axis=-1)}


def bootstrap_rates(
    cells: np.ndarray, task: str, positive: int, n_resamples: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicates (groups, n_resamples) of every rate: a stratified bootstrap on counts.

    Resampling a group's rows with replacement is a multinomial draw of its row count over
    its outcome cells; each group keeps its size. Every cell of a class present in the group
    gets half a row (:data:`SMOOTHING`) before the draw, so a rate at 0 or 1 still varies.
    """
    n_groups = cells.shape[0]
    out: dict[str, np.ndarray] = {}
    for g in range(n_groups):
        counts = cells[g].astype(np.float64)
        present = counts.sum(axis=-1, keepdims=True) > 0
        smoothed = (counts + SMOOTHING * present).ravel()
        live = np.flatnonzero(smoothed > 0)
        draws = np.zeros((n_resamples, smoothed.size), dtype=np.int64)
        draws[:, live] = rng.multinomial(
            int(counts.sum()), smoothed[live] / smoothed[live].sum(), size=n_resamples
        )
        for name, values in rates_from_cells(
            draws.reshape(n_resamples, *cells.shape[1:]), task, positive
        ).items():
            out.setdefault(name, np.empty((n_groups, n_resamples)))[g] = values
    return out


@dataclass(frozen=True)
class GroupMetric:
    """The primary metric of each judged group with its bootstrap replicates."""

    points: np.ndarray  # NaN where undefined (AUC of a group with one class) or not judged
    replicates: np.ndarray  # (groups, resamples), NaN where undefined
    reasons: dict[int, str]


def group_metric(
    metric: Metric,
    task: str,
    y: np.ndarray,
    preds: Predictions,
    grouping: Grouping,
    judged: np.ndarray,
    seed: int,
    positive: int,
    class_names: list[str],
    settings: BootstrapSettings = METRIC_BOOTSTRAP,
) -> GroupMetric:
    """The project's scorer of ``metric`` on each judged group's rows (the point), and its
    replicates: a multinomial draw of the group's counts over its outcome cells
    (classification, see :func:`metric_cells`), or the rows bootstrap of ``qa.metrics``
    (regression). Every group has its own seeded stream: groups are independent samples."""
    n_groups = grouping.n_groups
    points = np.full(n_groups, np.nan)
    replicates = np.full((n_groups, settings.n_resamples), np.nan)
    reasons: dict[int, str] = {}
    for g in (int(g) for g in np.flatnonzero(judged)):
        rows = np.flatnonzero(grouping.codes == g)
        sub = _subset(preds, rows)
        options = {
            "positive_index": positive,
            "n_classes": len(class_names),
            "class_names": class_names,
            "decision_threshold": settings.decision_threshold,
        }
        scorer = make_scorer(metric, task, y[rows], sub, **options)  # type: ignore[arg-type]
        if scorer.point is None:
            reasons[g] = scorer.reason
            continue
        points[g] = scorer.point
        own_seed = int(np.random.SeedSequence([seed, g]).generate_state(1)[0])
        if task == "regression":
            replicates[g] = bootstrap_replicates(
                {0: scorer},
                len(rows),
                n_resamples=settings.n_resamples,
                seed=own_seed,
                max_rows=settings.max_rows,
            )[0]
            continue
        y_cells, cells, counts = metric_cells(metric, task, y[rows], sub, positive, settings)
        score = make_scorer(metric, task, y_cells, cells, **options).batch(None)  # type: ignore[arg-type]
        centre = float(score(counts[:, None])[0])
        draws = np.random.default_rng(own_seed).multinomial(
            len(rows), counts / counts.sum(), size=settings.n_resamples
        )
        replicates[g] = scorer.point + (score(draws.T.astype(np.float64)) - centre)
    return GroupMetric(points, replicates, reasons)


def metric_cells(
    metric: Metric,
    task: str,
    y: np.ndarray,
    preds: Predictions,
    positive: int,
    settings: BootstrapSettings,
) -> tuple[np.ndarray, Predictions, np.ndarray]:
    """One group's rows collapsed into cells the metric cannot tell apart, with their counts.

    Count metrics (F1, accuracy, macro-F1): one cell per (truth, decision), the decisions
    made as ``qa.metrics.make_scorer`` makes them, so the cells score exactly as the rows.
    Rank metrics (AUC, average precision): one cell per (truth, score band), at most
    :data:`SCORE_BANDS` bands of equal row count (ties kept together): the spread of the
    banded metric stands for the exact one's, which the caller centres it on. Returns the cells' truth, their predictions (in the
    contract format ``make_scorer`` reads) and their row counts (float).
    """
    if metric.needs_proba:
        assert preds.proba is not None  # choose_metric falls back to F1 without probabilities
        score = preds.proba[:, positive]
        edges = np.unique(np.quantile(score, np.linspace(0, 1, SCORE_BANDS + 1)[1:-1]))
        band = np.searchsorted(edges, score, side="right")
        flat = band.astype(np.int64) * 2 + (y == positive)
        counts = np.bincount(flat)
        cell = np.flatnonzero(counts)
        band_score = (cell // 2) / max(1, int(band.max()))
        proba = np.empty((len(cell), 2))
        proba[:, positive], proba[:, 1 - positive] = band_score, 1 - band_score
        y_cells = np.where(cell % 2 == 1, positive, 1 - positive)
        return y_cells, Predictions(preds.split, proba=proba), counts[cell].astype(np.float64)
    if task == "binary" and preds.proba is not None:
        said = np.where(
            preds.proba[:, positive] >= settings.decision_threshold, positive, 1 - positive
        )
    else:
        assert preds.labels is not None  # classification predictions always carry labels
        said = preds.labels
    k = int(max(y.max(), said.max())) + 1
    counts = np.bincount(y.astype(np.int64) * k + said, minlength=k * k)
    cell = np.flatnonzero(counts)
    return (
        cell // k,
        Predictions(preds.split, labels=cell % k),
        counts[cell].astype(np.float64),
    )


def _subset(preds: Predictions, rows: np.ndarray) -> Predictions:
    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[rows]

    return Predictions(
        preds.split, take(preds.labels), take(preds.proba), take(preds.values), preds.source
    )


# --------------------------------------------------------------------------- measure: gaps
@dataclass(frozen=True)
class Pair:
    """Two groups and the gap between them: ``high`` ahead of ``low`` (a higher rate, or a
    better metric), with the one-sided lower bound of the gap at the pair level."""

    high: int
    low: int
    gap: float
    lower: float | None


@dataclass(frozen=True)
class Gap:
    """The largest gap of one measure across a column's judged groups.

    ``difference`` is largest minus smallest (rates), or the metric's advantage of the best
    group over the worst (relative for errors: 0.2 = 20 % lower error); ``ratio`` smallest over
    largest (rates). ``lower`` / ``upper`` bound the extreme pair's gap at the one-sided level
    ``alpha`` (the column's share split across the k(k-1) ordered pairs); ``cleared`` is the
    pair whose gap's lower bound clears the bar by the most, None when none does.
    """

    measure: str
    n_groups: int
    alpha: float
    difference: float | None = None
    ratio: float | None = None
    extreme: Pair | None = None
    upper: float | None = None
    cleared: Pair | None = None

    @property
    def lower(self) -> float | None:
        return self.extreme.lower if self.extreme else None


def measure_gap(
    measure: str,
    points: np.ndarray,
    replicates: np.ndarray,
    judged: np.ndarray,
    alpha_column: float,
    bar: float | None,
    metric: Metric | None = None,
    confidence: float = 0.95,
) -> Gap:
    """The gap of ``measure`` across the judged groups with a finite point value, and the
    pairs whose gap's lower bound clears ``bar``.

    Each ordered pair's gap is tested one-sided at ``alpha_column / (k (k - 1))``
    (Bonferroni): by the union bound, a column whose true gaps are all within the bar fails
    by chance at most ``alpha_column`` of the time. Only pairs whose point gap exceeds the bar
    can clear it, so only those (and the extreme pair, for its interval) are bounded.
    """
    groups = [int(g) for g in np.flatnonzero(judged & np.isfinite(points))]
    k = len(groups)
    alpha = alpha_column / max(1, k * (k - 1))
    if k < 2:
        return Gap(measure, k, alpha)
    ahead_first = metric is None or metric.higher_is_better
    order = sorted(groups, key=lambda g: (-points[g] if ahead_first else points[g], g))

    def gap(a: Any, b: Any) -> Any:
        return np.subtract(a, b) if metric is None else advantage(metric, a, b)

    pairs = [(order[0], order[-1])]
    if bar is not None:
        pairs += [
            (a, b)
            for i, a in enumerate(order)
            for b in order[i + 1 :]
            if (a, b) != pairs[0] and float(gap(points[a], points[b])) > bar
        ]
    gap_of = {p: float(gap(points[p[0]], points[p[1]])) for p in pairs}
    point_of: dict[Hashable, float | None] = dict(gap_of)
    replicates_of: dict[Hashable, np.ndarray] = {
        p: gap(replicates[p[0]], replicates[p[1]]) for p in pairs
    }
    boot = _bootstrap(point_of, replicates_of, replicates.shape[1], confidence)
    bounded = [Pair(a, b, gap_of[(a, b)], boot.bound((a, b), "lower", alpha)) for a, b in pairs]
    clearing = [p for p in bounded if bar is not None and p.lower is not None and p.lower > bar]
    hi, lo = order[0], order[-1]
    ratio = None
    if metric is None and points[hi] > 0:
        ratio = float(points[lo] / points[hi])
    return Gap(
        measure,
        k,
        alpha,
        difference=bounded[0].gap,
        ratio=ratio,
        extreme=bounded[0],
        upper=boot.bound(pairs[0], "upper", alpha),
        cleared=max(clearing, key=lambda p: (p.lower, p.gap)) if clearing else None,
    )


def _bootstrap(
    points: dict[Hashable, float | None],
    replicates: dict[Hashable, np.ndarray],
    n_resamples: int,
    confidence: float,
) -> Bootstrap:
    """qa.metrics' Bootstrap over replicates drawn here (from counts, not rows: no row
    counts to report), so its intervals and bounds are the shared ones."""
    return Bootstrap(
        points=points,
        reasons={},
        replicates=replicates,
        n_rows=0,
        sample_rows=0,
        n_resamples=n_resamples,
        confidence=confidence,
    )


def group_intervals(
    points: np.ndarray, replicates: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided percentile intervals per group at ``confidence`` (NaN where undefined)."""
    n = len(points)
    point_of: dict[Hashable, float | None] = {
        g: (float(points[g]) if np.isfinite(points[g]) else None) for g in range(n)
    }
    replicates_of: dict[Hashable, np.ndarray] = {g: replicates[g] for g in range(n)}
    boot = _bootstrap(point_of, replicates_of, replicates.shape[1], confidence)
    bounds = [boot.ci(g) for g in range(n)]
    low = np.array([np.nan if lo is None else lo for lo, _ in bounds])
    high = np.array([np.nan if hi is None else hi for _, hi in bounds])
    return low, high


# --------------------------------------------------------------------------- decide
#: Why a column got its status: the rule's gap cleared the bar with confidence (fail), or a
#: point estimate crossed a bar (warn), or nothing could be compared (warn).
Finding = Literal["gap", "gap-point", "four-fifths", "parity", "odds", "no-comparison"]


def column_findings(gaps: dict[str, Gap], rule: str, params: Any) -> list[Finding]:
    """Every bar one column crosses (see *How it decides*)."""
    found: list[Finding] = []
    bar = params.max_metric_gap if rule == "metric" else params.max_tpr_gap
    main = gaps[rule]
    if main.n_groups < 2:
        found.append("no-comparison")
    elif main.cleared is not None:
        found.append("gap")
    elif main.difference is not None and main.difference > bar:
        found.append("gap-point")
    selection = gaps.get("selection_rate")
    if selection is not None and selection.ratio is not None:
        if selection.ratio < params.min_selection_ratio:
            found.append("four-fifths")
        parity = selection.difference
        if (
            params.max_parity_gap is not None
            and parity is not None
            and parity > params.max_parity_gap
        ):
            found.append("parity")
    odds = equalized_odds(gaps)
    if params.max_odds_gap is not None and odds[0] is not None and odds[0] > params.max_odds_gap:
        found.append("odds")
    return found


def decide(findings: Sequence[Sequence[Finding]]) -> Status:
    """fail when a column's rule gap clears its bar with confidence; warn when any other bar
    is crossed or a column has nothing to compare; else pass."""
    flat = [f for column in findings for f in column]
    if "gap" in flat:
        return "fail"
    return "warn" if flat else "pass"


def equalized_odds(gaps: dict[str, Gap]) -> tuple[float | None, float | None]:
    """fairlearn's equalised-odds difference and ratio: the worse of the TPR and FPR gaps."""
    tpr, fpr = gaps.get("tpr"), gaps.get("fpr")
    if tpr is None or fpr is None or tpr.difference is None or fpr.difference is None:
        return None, None
    ratios = [r for r in (tpr.ratio, fpr.ratio) if r is not None]
    return max(tpr.difference, fpr.difference), (min(ratios) if ratios else None)


# --------------------------------------------------------------------------- the column
@dataclass(frozen=True)
class ColumnResult:
    """Everything measured on one sensitive column, and the bars it crosses."""

    grouping: Grouping
    task: str
    #: Per measure: points, interval low and high per group (NaN where not measured).
    values: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    #: Per measure: the rows the rate rests on, per group.
    denominators: dict[str, np.ndarray]
    judged: np.ndarray  # groups with enough rows (and among the max_groups largest)
    gaps: dict[str, Gap]
    findings: list[Finding]
    metric_reasons: dict[int, str]
    alpha: float  # the column's share of the check's false-alarm share

    def name(self, g: int | None) -> str:
        return "" if g is None else self.grouping.names[g]

    @property
    def order(self) -> list[int]:
        """Groups as tables and charts show them: the judged ones first, each part in the
        column's order (sorted values, bands in order, "(missing)" last)."""
        return sorted(range(self.grouping.n_groups), key=lambda g: (not self.judged[g], g))

    @property
    def rule(self) -> str:
        """The measure the fail rule reads: TPR (macro recall) or, for regression, the metric."""
        return "metric" if self.task == "regression" else "tpr"


def _value_title(measure: str, task: str, metric: Metric) -> str:
    """What a per-group value is called: "TPR", "macro recall", "AUC-ROC", ..."""
    if measure == "metric":
        return metric.title
    if measure == "tpr" and task == "multiclass":
        return "macro recall"
    return MEASURE_TITLE[measure]


def _gap_title(measure: str, task: str, metric: Metric) -> str:
    """What a gap is called: "equal opportunity (TPR)", "relative MAE", ..."""
    if measure == "metric":
        return f"relative {metric.title}" if metric.relative else metric.title
    if measure == "tpr":
        return f"equal opportunity ({_value_title(measure, task, metric)})"
    return GAP_TITLE[measure]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# --------------------------------------------------------------------------- the check
class Fairness(Check):
    """Groups of the declared sensitive columns get alike outcomes from the model on test.

    What it checks
    --------------
    For every column declared in ``[task] sensitive`` (present in the test split; a model input
    or not), the test rows are cut into groups: one per value, "(missing)" for null or NaN,
    and for a numeric column with more than ``max_values`` distinct values at most ``bands``
    bands at its quantiles on the test split (the report says so). Per group: rows, the
    selection rate (share predicted positive), the true positive rate (TPR, recall of the
    positive class) and the false positive rate (FPR), computed by fairlearn's
    ``MetricFrame``; and the primary metric (``metric``, else ``[task] metric``, else AUC-ROC,
    macro-F1, or MAE for regression: a per-group gap in MAE reads in the target's units and a
    few large errors do not swamp a small group). Every value has a bootstrap interval at
    ``confidence``. Across the groups: the largest difference and the ratio of each rate —
    demographic parity (selection rate), equal opportunity (TPR), equalised odds (the worse
    of the TPR and FPR gaps) and the four-fifths rule (lowest selection rate over the
    highest) — and the primary metric's gap.

    A multiclass task is judged on macro recall per group (the mean recall over the classes
    present in the group, scikit-learn's balanced accuracy) in place of the TPR, one number
    per group rather than one per class; selection rate and FPR do not apply. A regression
    task is judged on the primary metric's gap.

    Why it matters
    --------------
    A model can score well overall and still miss far more of the positives of one group
    than of another (a diagnosis found for men but not for women): equal opportunity asks
    that the people who qualify are found alike whatever their group. Laws and policies
    (the US four-fifths rule on selection rates, the EU AI Act on high-risk systems) expect
    such gaps to be measured before a model ships, on the groups the team declared up front.

    How it decides
    --------------
    A group is judged when it has at least ``min_group_rows`` test rows (and is among the
    ``max_groups`` largest of its column); smaller groups are listed with their numbers, not
    judged. A rate is judged when its own denominator (rows, positives, negatives) has at least
    ``min_group_rows`` rows too, so a group without positives (one class only) is judged on
    its selection rate and FPR but not its TPR.

    Fails when a column's equal-opportunity gap is above ``max_tpr_gap`` (default 0.10) with
    confidence (for regression: the primary metric's gap above ``max_metric_gap``, default
    0.20, relative for an error: the best group's error that much lower than the worst's):
    some pair of judged groups whose gap's one-sided lower bound exceeds the bar. That is the
    check's one fail rule that rests on a test: its share of the gate's false-alarm budget
    (the whole ``[run] false_alarm_rate`` when it runs alone) is split evenly across the
    declared columns, and within a column across the k(k-1) ordered pairs of its k judged
    groups (Bonferroni), the level reported as ``thresholds.alpha[column]``.

    The intervals are bootstrapped, seeded. The rates': a stratified bootstrap on each group's
    outcome counts (a multinomial draw of its rows over its cells, each group keeping its size,
    half a row added to each cell so that a rate of 0 or 1 still varies; ``n_resamples``
    resamples). The classification metric's: the same draw over the group's (truth, decision)
    cells, or (truth, score band) cells for AUC, centred on the exact value (1,000
    resamples). The regression metric's: the group's rows (1,000 resamples of at most 5,000
    rows, the spread rescaled to the group's size).

    Warns when the gap's point estimate is over its bar without that confidence (saying how
    many more rows would settle it), when the lowest selection rate is under
    ``min_selection_ratio`` (default 0.8, the four-fifths rule) of the highest, when set, when
    the demographic parity difference exceeds ``max_parity_gap`` or the equalised-odds
    difference exceeds ``max_odds_gap``, and when a column has fewer than two groups to
    compare. Skips when no column is declared; a declared column missing from the test split
    is an error that names it.

    How to fix
    ----------
    Look at the groups named in the evidence. Check first that the data are not the cause:
    too few training rows of the group (gather more, or weight them up), labels of worse
    quality for it, or features that mean something else for it. Then consider
    group-aware remedies: a decision threshold per group chosen on validation data (fairlearn's
    ``ThresholdOptimizer``), or training under a fairness constraint (fairlearn's
    ``ExponentiatedGradient``). Where the gap is justified, record why in a waiver with an owner
    and an expiry date.
    """

    id = "fairness"
    title = "Declared groups treated alike"
    requires = ("test", "labels", "predictions")
    severity = "error"
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        max_tpr_gap: float = param(
            0.10,
            "Largest equal-opportunity gap (TPR; macro recall for multiclass) between two "
            "judged groups: fails when its interval lies above it, warns when its estimate does.",
            ge=0.0,
            le=1.0,
        )
        max_metric_gap: float = param(
            0.20,
            "Regression: largest gap of the primary metric between two groups (relative for "
            "errors: 0.2 = the best group's error is 20 % lower than the worst's).",
            ge=0.0,
        )
        min_selection_ratio: float = param(
            0.8,
            "Binary: lowest selection rate over the highest under which the check warns "
            "(the four-fifths rule).",
            ge=0.0,
            le=1.0,
        )
        max_parity_gap: float | None = param(
            None,
            "Binary: demographic parity difference above which the check warns (unset: reported).",
            ge=0.0,
            le=1.0,
        )
        max_odds_gap: float | None = param(
            None,
            "Binary: equalised-odds difference above which the check warns (unset: reported).",
            ge=0.0,
            le=1.0,
        )
        min_group_rows: int = param(
            30, "Test rows (and rows of a rate's denominator) from which a group is judged.", ge=2
        )
        max_values: int = param(
            10, "A numeric column with more distinct values is cut into quantile bands.", ge=2
        )
        bands: int = param(5, "Quantile bands of a numeric column with many values.", ge=2, le=50)
        max_groups: int = param(
            50, "Judge at most this many groups per column (the largest); list the rest.", ge=2
        )
        confidence: float = param(0.95, "Level of the per-group intervals shown.", gt=0.5, lt=1.0)
        n_resamples: int = param(
            10_000,
            "Resamples of the per-group counts bootstrap of the rates.",
            ge=200,
            le=1_000_000,
        )
        metric: str | None = param(
            None,
            "Primary metric per group; default: [task] metric, else roc_auc (binary), "
            "macro_f1 (multiclass), mae (regression).",
            choices=tuple(METRICS),
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        declared = ctx.config.task.sensitive
        if not declared:
            return self.skip(
                'no sensitive columns declared ([task] sensitive = ["sex", "age_band"])'
            )
        test = ctx.frame(SPLIT)
        for column in declared:
            if column not in test.columns:
                raise DataError(
                    f"task.sensitive: column {column!r} is not in the test split "
                    f"(it has {', '.join(repr(c) for c in test.columns[:20])})"
                )
            if column == ctx.target:
                raise ConfigError(f"task.sensitive: {column!r} is the target column")
        y = ctx.labels(SPLIT)
        if len(y) == 0:
            return self.skip("the test split is empty")
        preds = ctx.predictions(SPLIT)
        metric, metric_note = self._metric(ctx, params, preds)
        # measure
        groupings = [
            group_rows(test[column], column, params.max_values, params.bands) for column in declared
        ]
        rates = _rates(ctx, groupings, y, preds)
        alpha = per_test(ctx.false_alarm_share(self.id), len(declared))
        results = [
            self._column(ctx, params, grouping, i, rates[i], y, preds, metric, alpha)
            for i, grouping in enumerate(groupings)
        ]
        # decide
        status = decide([r.findings for r in results])
        # explain
        return self._explain(ctx, params, results, metric, metric_note, status)

    def _metric(self, ctx: Context, params: Params, preds: Predictions) -> tuple[Metric, str]:
        name = params.metric
        if name is None and ctx.task == "regression" and not ctx.config.task.metric:
            name = "mae"
        return choose_metric(ctx, name, f"checks.{self.id}.metric", [preds])

    def _column(
        self,
        ctx: Context,
        params: Params,
        grouping: Grouping,
        index: int,
        rates: tuple[np.ndarray, dict[str, np.ndarray]] | None,
        y: np.ndarray,
        preds: Predictions,
        metric: Metric,
        alpha: float,
    ) -> ColumnResult:
        """Measure one column: rates (classification) and the metric per group, their
        intervals and gaps; and the bars it crosses."""
        judged = _judged(grouping.rows, params.min_group_rows, params.max_groups)
        positive = ctx.positive_index if ctx.task == "binary" else 1
        values: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        denominators: dict[str, np.ndarray] = {}
        gaps: dict[str, Gap] = {}
        if rates is not None:
            confusion, points = rates
            denominators = rate_denominators(confusion, ctx.task, positive)
            rng = np.random.default_rng([ctx.seed, index])
            replicates = bootstrap_rates(
                outcome_cells(confusion), ctx.task, positive, params.n_resamples, rng
            )
            for name, point in points.items():
                low, high = group_intervals(point, replicates[name], params.confidence)
                values[name] = (point, low, high)
                enough = judged & (denominators[name] >= params.min_group_rows)
                bar = params.max_tpr_gap if name == "tpr" else None
                gaps[name] = measure_gap(
                    name, point, replicates[name], enough, alpha, bar, None, params.confidence
                )
        scored = group_metric(
            metric,
            ctx.task,
            y,
            preds,
            grouping,
            judged,
            int(np.random.SeedSequence([ctx.seed, index, 1]).generate_state(1)[0]),
            positive,
            ctx.class_names,
        )
        low, high = group_intervals(scored.points, scored.replicates, params.confidence)
        values["metric"] = (scored.points, low, high)
        gaps["metric"] = measure_gap(
            "metric",
            scored.points,
            scored.replicates,
            judged,
            alpha,
            params.max_metric_gap if ctx.task == "regression" else None,
            metric,
            params.confidence,
        )
        rule = "tpr" if ctx.is_classification else "metric"
        return ColumnResult(
            grouping,
            ctx.task,
            values,
            denominators,
            judged,
            gaps,
            column_findings(gaps, rule, params),
            scored.reasons,
            alpha,
        )

    # ------------------------------------------------------------------ explain
    def _explain(
        self,
        ctx: Context,
        params: Params,
        results: list[ColumnResult],
        metric: Metric,
        metric_note: str,
        status: Status,
    ) -> CheckResult:
        lines = [_column_text(r, params, metric) for r in results]
        parts = [line for line in lines if line]
        if status == "pass":
            parts = [_pass_text(results, metric)]
        small = sum(int((r.grouping.rows < params.min_group_rows).sum()) for r in results)
        beyond = sum(
            int(((r.grouping.rows >= params.min_group_rows) & ~r.judged).sum()) for r in results
        )
        listed = [f"{small} group(s) under {params.min_group_rows} test rows"] if small else []
        if beyond:
            listed.append(f"{beyond} beyond the {params.max_groups} largest of a column")
        if listed:
            parts.append(" and ".join(listed) + " listed, not judged")
        banded = [r.grouping.note for r in results if r.grouping.note]
        if metric_note:
            parts.append(metric_note)
        message = "; ".join(parts + banded)
        evidence: list[Evidence] = [_gaps_table(results, ctx.task, params, metric)]
        evidence += [_groups_table(r, ctx.task, params, metric) for r in results]
        charts = [_chart(r, params, metric) for r in results]
        return self.result(
            status,
            message,
            metrics=_metrics(results, ctx.task, len(ctx.labels(SPLIT))),
            thresholds=_thresholds(params, results, ctx.false_alarm_share(self.id)),
            evidence=evidence,
            charts=charts,
            subjects=_subjects(results, status),
        )


def _rates(
    ctx: Context, groupings: list[Grouping], y: np.ndarray, preds: Predictions
) -> list[tuple[np.ndarray, dict[str, np.ndarray]] | None]:
    """Per column: the confusion counts per group and fairlearn's rates of each group (None
    for regression). One ``MetricFrame`` serves every column, its groups numbered across
    them: its cost is fixed, not per row."""
    if not ctx.is_classification:
        return [None] * len(groupings)
    assert preds.labels is not None  # classification predictions always carry labels
    positive = ctx.positive_index if ctx.task == "binary" else 1
    k = len(ctx.classes)
    confusions = [confusion_by_group(g.codes, g.n_groups, y, preds.labels, k) for g in groupings]
    stacked = fairlearn_rates(np.concatenate(confusions), ctx.task, positive)
    out: list[tuple[np.ndarray, dict[str, np.ndarray]] | None] = []
    start = 0
    for confusion in confusions:
        stop = start + len(confusion)
        out.append((confusion, {name: v[start:stop] for name, v in stacked.items()}))
        start = stop
    return out


def _judged(rows: np.ndarray, min_rows: int, max_groups: int) -> np.ndarray:
    """Groups with at least ``min_rows`` rows, at most ``max_groups`` of them (the largest)."""
    enough = rows >= min_rows
    if enough.sum() > max_groups:
        order = np.argsort(-rows, kind="stable")[:max_groups]
        enough = np.zeros_like(enough)
        enough[order] = True
    return enough


# --------------------------------------------------------------------------- explain helpers
def _pair_text(r: ColumnResult, pair: Pair, measure: str, metric: Metric) -> str:
    values = r.values[measure][0]
    what = _value_title(measure, r.task, metric)
    return (
        f"{what} {_fmt(values[pair.high], 3)} for {r.name(pair.high)!r} vs "
        f"{_fmt(values[pair.low], 3)} for {r.name(pair.low)!r}"
    )


def _column_text(r: ColumnResult, params: Fairness.Params, metric: Metric) -> str:
    """What one column's findings say, empty when it crosses no bar."""
    column = repr(r.grouping.column)
    rule = r.rule
    bar = params.max_metric_gap if rule == "metric" else params.max_tpr_gap
    title = _gap_title(rule, r.task, metric)
    gap = r.gaps[rule]
    level = fmt_level(1 - gap.alpha)
    out = []
    for found in r.findings:
        if found == "gap" and gap.cleared is not None:
            pair = gap.cleared
            out.append(
                f"{column}: {title} gap over the bar {bar:.2f}: "
                f"{_pair_text(r, pair, rule, metric)} (gap {_fmt(pair.gap, 3)}, at least "
                f"{_fmt(pair.lower, 3)} at the one-sided {level} level)"
            )
        elif found == "gap-point" and gap.extreme is not None:
            pair = gap.extreme
            smaller = min(
                r.denominators.get(rule, r.grouping.rows)[pair.high],
                r.denominators.get(rule, r.grouping.rows)[pair.low],
            )
            margin = (pair.gap - pair.lower) if pair.lower is not None else math.inf
            excess = pair.gap - bar
            note = underpowered_note(
                int(smaller),
                "positives in the smaller group"
                if r.task == "binary"
                else "rows in the smaller group",
                f"a gap more than {_fmt(margin, 3)} above the bar",
                more_rows_needed(int(smaller), margin, excess),
                f"this gap's excess of {_fmt(excess, 3)} over the bar",
            )
            out.append(
                f"{column}: {title} gap {_fmt(pair.gap, 3)} over the bar {bar:.2f} "
                f"({_pair_text(r, pair, rule, metric)}) but not with confidence ({note})"
            )
        elif found == "four-fifths":
            sel = r.gaps["selection_rate"]
            assert sel.extreme is not None
            out.append(
                f"{column}: selection-rate ratio {_fmt(sel.ratio, 3)} under the four-fifths "
                f"bar ({_pair_text(r, sel.extreme, 'selection_rate', metric)})"
            )
        elif found == "parity":
            sel = r.gaps["selection_rate"]
            out.append(f"{column}: demographic parity difference {_fmt(sel.difference, 3)}")
        elif found == "odds":
            out.append(f"{column}: equalised-odds difference {_fmt(equalized_odds(r.gaps)[0], 3)}")
        elif found == "no-comparison":
            out.append(
                f"{column}: fewer than two groups large enough to compare "
                f"({r.grouping.n_groups} group(s), {int(r.judged.sum())} judged)"
            )
    return "; ".join(out)


def _pass_text(results: list[ColumnResult], metric: Metric) -> str:
    worst = max(results, key=lambda r: r.gaps[r.rule].difference or 0.0)
    gap = worst.gaps[worst.rule]
    what = _gap_title(worst.rule, worst.task, metric)
    return (
        f"groups treated alike on {len(results)} column(s): largest {what} gap "
        f"{_fmt(gap.difference, 3)} ({worst.grouping.column!r}, {gap.n_groups} groups judged)"
    )


def _metrics(results: list[ColumnResult], task: str, n_rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n_columns": len(results), "test_rows": n_rows}
    out["n_groups"] = sum(r.grouping.n_groups for r in results)
    out["n_groups_judged"] = sum(int(r.judged.sum()) for r in results)
    per_column: dict[str, Any] = {}
    names = {
        "selection_rate": "demographic_parity",
        "tpr": "equal_opportunity",
        "fpr": "false_positive_rate",
        "metric": "metric",
    }
    for measure, name in names.items():
        diffs = [(r.gaps[measure], r.grouping.column) for r in results if measure in r.gaps]
        if not diffs:
            continue
        known = [g.difference for g, _ in diffs if g.difference is not None]
        out[f"{name}_difference"] = max(known) if known else None
        ratios = [g.ratio for g, _ in diffs if g.ratio is not None]
        if measure != "metric":
            out[f"{name}_ratio"] = min(ratios) if ratios else None
        for g, column in diffs:
            per_column[f"{name}_difference[{column}]"] = g.difference
            per_column[f"{name}_lower[{column}]"] = g.lower
    if task == "binary":
        odds = [equalized_odds(r.gaps) for r in results]
        known = [d for d, _ in odds if d is not None]
        ratios = [q for _, q in odds if q is not None]
        out["equalized_odds_difference"] = max(known) if known else None
        out["equalized_odds_ratio"] = min(ratios) if ratios else None
    out.update(per_column)
    return out


def _thresholds(params: Fairness.Params, results: list[ColumnResult], share: float) -> dict:
    out: dict[str, Any] = {
        "max_tpr_gap": params.max_tpr_gap,
        "max_metric_gap": params.max_metric_gap,
        "min_selection_ratio": params.min_selection_ratio,
        "max_parity_gap": params.max_parity_gap,
        "max_odds_gap": params.max_odds_gap,
        "min_group_rows": params.min_group_rows,
        "confidence": params.confidence,
        "false_alarm_share": share,
    }
    for r in results:
        out[f"alpha[{r.grouping.column}]"] = r.gaps[r.rule].alpha
    return out


def _subjects(results: list[ColumnResult], status: Status) -> list[str]:
    """``column=group`` of the group behind (failing pair on fail, any flagged pair on warn)."""
    out: list[str] = []
    for r in results:
        for found in r.findings:
            pair: Pair | None = None
            if found == "gap" and status == "fail":
                pair = r.gaps[r.rule].cleared
            elif status == "warn" and found == "gap-point":
                pair = r.gaps[r.rule].extreme
            elif status == "warn" and found in ("four-fifths", "parity"):
                pair = r.gaps["selection_rate"].extreme
            elif status == "warn" and found == "odds":
                tpr, fpr = r.gaps["tpr"], r.gaps["fpr"]
                pair = (
                    tpr.extreme if (tpr.difference or 0) >= (fpr.difference or 0) else fpr.extreme
                )
            elif status == "warn" and found == "no-comparison":
                out.append(r.grouping.column)
            if pair is not None:
                subject = f"{r.grouping.column}={r.name(pair.low)}"
                if subject not in out:
                    out.append(subject)
    return out


def _group_note(r: ColumnResult, g: int, params: Fairness.Params) -> str:
    if r.grouping.rows[g] < params.min_group_rows:
        return f"listed, not judged: under {params.min_group_rows} rows"
    if not r.judged[g]:
        return f"listed, not judged: beyond the {params.max_groups} largest groups"
    thin = [
        _value_title(m, r.task, METRICS["f1"])
        for m, d in r.denominators.items()
        if d[g] < params.min_group_rows and m != "selection_rate"
    ]
    notes = ["judged"]
    if thin:
        notes.append(f"{', '.join(thin)} not: under {params.min_group_rows} rows behind it")
    if g in r.metric_reasons:
        notes.append(r.metric_reasons[g])
    return "; ".join(notes)


def _groups_table(r: ColumnResult, task: str, params: Fairness.Params, metric: Metric) -> Evidence:
    level = fmt_level(params.confidence)
    measures = [m for m in (*RATES, "metric") if m in r.values]
    columns = ["group", "rows"]
    if task == "binary":
        columns.append("positives")
    for m in measures:
        title = metric.name if m == "metric" else _value_title(m, task, metric)
        columns += [title, f"{title} {level} low", f"{title} {level} high"]
    columns.append("verdict")
    rows = []
    for g in r.order:
        name = r.grouping.names[g]
        row: list[Any] = [name, int(r.grouping.rows[g])]
        if task == "binary":
            row.append(int(r.denominators["tpr"][g]))
        for m in measures:
            point, low, high = r.values[m]
            row += [_cell(point[g]), _cell(low[g]), _cell(high[g])]
        row.append(_group_note(r, g, params))
        rows.append(row)
    notes = [
        f"{level} bootstrap intervals: rates from {params.n_resamples:,} stratified resamples "
        f"of each group's counts; {metric.name} from {_metric_note(task, metric)}"
    ]
    if r.grouping.note:
        notes.append(r.grouping.note)
    return table(
        f"Groups of {r.grouping.column!r} on test",
        columns,
        rows,
        note="; ".join(notes),
        max_rows=200,
    )


def _metric_note(task: str, metric: Metric) -> str:
    n = f"{METRIC_BOOTSTRAP.n_resamples:,}"
    if task == "regression":
        return (
            f"{n} resamples of each group's rows (a seeded subsample of at most "
            f"{METRIC_BOOTSTRAP.max_rows:,} rows, spread rescaled to the group's size)"
        )
    if metric.needs_proba:
        return (
            f"{n} stratified resamples of each group's counts by truth and score band "
            f"(at most {SCORE_BANDS:,} bands of equal rows), centred on the exact value"
        )
    return f"{n} stratified resamples of each group's counts by truth and decision"


def _cell(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _gaps_table(
    results: list[ColumnResult], task: str, params: Fairness.Params, metric: Metric
) -> Evidence:
    rows = []
    for r in results:
        for measure, gap in r.gaps.items():
            title = _gap_title(measure, task, metric)
            high = gap.extreme.high if gap.extreme else None
            low = gap.extreme.low if gap.extreme else None
            bar = _bar(measure, task, params)
            rows.append(
                (
                    r.grouping.column,
                    title,
                    gap.n_groups,
                    gap.difference,
                    gap.ratio,
                    r.name(high),
                    r.name(low),
                    gap.lower,
                    gap.upper,
                    fmt_level(1 - gap.alpha),
                    bar,
                    _gap_verdict(r, measure, gap, bar),
                )
            )
        if task == "binary":
            odds, ratio = equalized_odds(r.gaps)
            rows.append(
                (
                    r.grouping.column,
                    "equalised odds (worse of TPR, FPR)",
                    r.gaps["tpr"].n_groups,
                    odds,
                    ratio,
                    "",
                    "",
                    None,
                    None,
                    "",
                    params.max_odds_gap,
                    "over the bar" if "odds" in r.findings else "",
                )
            )
    return table(
        "Largest gaps across judged groups",
        [
            "column",
            "measure",
            "groups judged",
            "difference",
            "ratio",
            "highest / best",
            "lowest / worst",
            "lower bound",
            "upper bound",
            "bound level",
            "bar",
            "verdict",
        ],
        rows,
        note=(
            "difference = highest minus lowest (for an error metric: how much lower the best "
            "group's error is, relatively); ratio = lowest / highest; bounds of that pair's gap, "
            "one-sided each, at the column's share of the false-alarm budget split across its "
            "ordered pairs of groups"
        ),
        max_rows=200,
    )


def _bar(measure: str, task: str, params: Fairness.Params) -> float | None:
    if measure == "tpr":
        return params.max_tpr_gap
    if measure == "metric":
        return params.max_metric_gap if task == "regression" else None
    if measure == "selection_rate":
        return params.max_parity_gap
    return None


def _gap_verdict(r: ColumnResult, measure: str, gap: Gap, bar: float | None) -> str:
    if gap.n_groups < 2:
        return "fewer than two groups to compare"
    if gap.cleared is not None:
        return "over the bar with confidence"
    if bar is not None and gap.difference is not None and gap.difference > bar:
        return "over the bar, not with confidence"
    if measure == "selection_rate" and "four-fifths" in r.findings:
        return "ratio under the four-fifths bar"
    return "" if bar is None else "within the bar"


def _chart(r: ColumnResult, params: Fairness.Params, metric: Metric) -> Chart:
    """TPR (macro recall; the metric for regression) by group with its interval as bars, and
    for the TPR a line one bar below the best judged group: groups left of it trail by more."""
    rule = r.rule
    point, low, high = r.values[rule]
    level = fmt_level(params.confidence)
    what = _value_title(rule, r.task, metric)
    gap = r.gaps[rule]
    threshold = None
    title = f"{what} by group of {r.grouping.column!r} on test, with {level} intervals"
    if rule == "tpr" and gap.extreme is not None:
        threshold = float(point[gap.extreme.high]) - params.max_tpr_gap
        title += f" (line: the best group's {what} minus {params.max_tpr_gap:g})"
    return Chart(
        "bars",
        title,
        {
            "labels": [r.grouping.names[g] for g in r.order],
            "series": {
                f"{level} low": [_cell(low[g]) for g in r.order],
                what: [_cell(point[g]) for g in r.order],
                f"{level} high": [_cell(high[g]) for g in r.order],
            },
            "threshold": threshold,
        },
    )
