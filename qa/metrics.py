"""Model metrics: the primary metric per task, its score, and fast bootstrap intervals.

Point estimates come from scikit-learn. Confidence intervals come from a vectorised bootstrap:
a resample is a vector of row weights (how often each row was drawn), and every metric here is
written as a function of those weights, so one (B, n) weight matrix scores B resamples with a
few matrix operations instead of B scikit-learn calls. AUC uses the rank (Mann–Whitney) form,
computed once per score ordering. Comparing two models on the same rows uses the *same*
weights for both (a paired bootstrap), so the interval of their difference is tight.

Large splits: when a split has more rows than ``max_rows``, the bootstrap runs on a seeded
random subsample of ``max_rows`` rows (default 20,000) and the spread of the resampled scores is rescaled by
``sqrt(max_rows / n)`` (every metric here is sqrt(n)-consistent), centred on the full-data
point estimate. :meth:`Bootstrap.note` says so in words for the report.

Usage::

    metric = resolve_metric("binary", None)            # roc_auc
    scorers = {"model": make_scorer(metric, task, y, preds, positive_index=1)}
    boot = run_bootstrap(scorers, n=len(y), seed=0)
    boot.point("model"), boot.ci("model")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, TypeVar

import numpy as np

from qa.errors import ConfigError, ModelError
from qa.predictions import Predictions

BatchFn = Callable[[np.ndarray], np.ndarray]
#: A bootstrap key: ``(model name, metric name)`` in the checks, anything hashable in tests.
K = TypeVar("K", bound=Hashable)

#: Weight-matrix entries per bootstrap chunk (float64: 8 MB, so passes stay in cache).
CHUNK_ENTRIES = 1 << 20


# --------------------------------------------------------------------------- metric catalogue
@dataclass(frozen=True)
class Metric:
    """One metric: its name in config and reports, its direction, and where it applies."""

    name: str
    title: str
    higher_is_better: bool
    tasks: tuple[str, ...]
    needs_proba: bool = False
    #: A default pass bar for metric-threshold; None where no bar is meaningful in general.
    default_bar: float | None = None
    #: The practical margin: the smallest difference worth failing a model over, in the units
    #: of :func:`advantage` (points for scores, relative for errors). Below it a significant
    #: difference only warns, so a large test set never fails a trivial gap.
    margin: float = 0.01

    @property
    def relative(self) -> bool:
        """Error metrics (RMSE, MAE) are compared in relative terms: 0.05 = 5 % lower error."""
        return not self.higher_is_better

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "AUC-ROC", True, ("binary",), needs_proba=True, default_bar=0.7),
        Metric("pr_auc", "PR-AUC (average precision)", True, ("binary",), needs_proba=True),
        Metric("f1", "F1 of the positive class", True, ("binary",)),
        Metric("macro_f1", "macro-F1", True, ("binary", "multiclass"), default_bar=0.6),
        Metric("weighted_f1", "weighted F1", True, ("binary", "multiclass")),
        Metric("accuracy", "accuracy", True, ("binary", "multiclass")),
        Metric("rmse", "RMSE", False, ("regression",), margin=0.02),
        Metric("mae", "MAE", False, ("regression",), margin=0.02),
        Metric("r2", "R²", True, ("regression",)),
    )
}

DEFAULT_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "macro_f1",
    "regression": "rmse",
}

#: Metrics reported beside the primary one, per task (MAE and RMSE always together).
REPORTED: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "pr_auc", "f1", "accuracy"),
    "multiclass": ("macro_f1", "accuracy", "weighted_f1"),
    "regression": ("rmse", "mae", "r2"),
}


def resolve_metric(task: str, name: str | None, where: str = "metric") -> Metric:
    """The metric named in config (or the task's default); ConfigError naming ``where``."""
    chosen = name or DEFAULT_METRIC[task]
    metric = METRICS.get(chosen)
    valid = ", ".join(m for m, spec in METRICS.items() if task in spec.tasks)
    if metric is None:
        raise ConfigError(f"{where}: unknown metric {chosen!r} (for a {task} task: {valid})")
    if task not in metric.tasks:
        raise ConfigError(f"{where}: {chosen!r} does not apply to a {task} task (choose {valid})")
    return metric


def reported_metrics(task: str, primary: Metric) -> list[Metric]:
    """The primary metric first, then the task's usual companions."""
    names = [primary.name] + [m for m in REPORTED[task] if m != primary.name]
    return [METRICS[m] for m in names]


def advantage(metric: Metric, model: Any, other: Any) -> Any:
    """How much better ``model`` is than ``other``: positive means the model is better.

    Scores: the plain difference. Error metrics: the relative reduction of ``other``'s error
    (0.1 = 10 % lower error). Works elementwise on arrays of bootstrap replicates.
    """
    if metric.higher_is_better:
        return np.subtract(model, other)
    other = np.asarray(other, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            other > 0,
            (other - np.asarray(model)) / np.where(other > 0, other, 1.0),
            other - np.asarray(model),
        )


# --------------------------------------------------------------------------- scorers
@dataclass
class Scorer:
    """One metric of one model on one split.

    ``point`` is scikit-learn's value on all rows (None when undefined, with ``reason``);
    ``batch(rows)`` returns a function scoring an (m, b) weight matrix over ``y[rows]``: column
    j holds how often each of the m rows was drawn in resample j.
    """

    metric: Metric
    point: float | None
    reason: str
    _batch: Callable[[np.ndarray | None], BatchFn] = field(repr=False)

    def batch(self, rows: np.ndarray | None) -> BatchFn:
        return self._batch(rows)


def make_scorer(
    metric: Metric,
    task: str,
    y: np.ndarray,
    preds: Predictions,
    *,
    positive_index: int = 1,
    n_classes: int = 2,
    decision_threshold: float = 0.5,
    class_names: list[str] | None = None,
) -> Scorer:
    """Build the scorer of ``metric`` for predictions ``preds`` against truth ``y``.

    Binary decisions (F1, accuracy, macro-F1) threshold the positive-class probability at
    ``decision_threshold``; without probabilities they use the predicted labels.
    Raises ModelError when the metric needs probabilities the predictions lack.
    """
    if len(y) == 0:
        return _undefined(metric, "the split has no rows")
    if task == "regression":
        if preds.values is None:
            raise ModelError(f"model.predictions.{preds.split}: no regression predictions")
        return _regression_scorer(metric, np.asarray(y, float), np.asarray(preds.values, float))
    y = np.asarray(y, dtype=np.int64)
    if metric.needs_proba:
        if preds.proba is None:
            raise ModelError(
                f"model.predictions.{preds.split}: {metric.name} needs probabilities "
                f"(proba_<label> columns) and {preds.source or 'the predictions'} has none; "
                f"add them or choose a metric such as f1 or macro_f1"
            )
        if task != "binary":  # pragma: no cover - catalogue prevents it
            raise ConfigError(f"metric: {metric.name} is defined for binary tasks only")
        positives = y == positive_index
        return _rank_scorer(
            metric, positives, preds.proba[:, positive_index], class_names, positive_index
        )
    if task == "binary" and preds.proba is not None:
        positive = preds.proba[:, positive_index] >= decision_threshold
        decisions = np.where(positive, positive_index, 1 - positive_index)
    else:
        if preds.labels is None:
            raise ModelError(f"model.predictions.{preds.split}: no predicted labels")
        decisions = np.asarray(preds.labels, dtype=np.int64)
    return _count_scorer(metric, y, decisions, n_classes, positive_index, class_names)


def _undefined(metric: Metric, reason: str) -> Scorer:
    def batch(rows: np.ndarray | None) -> BatchFn:
        return lambda w: np.full(w.shape[1], np.nan)

    return Scorer(metric, None, reason, batch)


def _dot(columns: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(k, m) @ (m, b) without BLAS threads: a thin product that threads only slow down."""
    return np.einsum("km,mb->kb", columns, w)


def _class_name(class_names: list[str] | None, index: int) -> str:
    return repr(class_names[index]) if class_names else f"#{index}"


# ----------------------------------------------------------------- rank metrics (AUC, AP)
def _rank_scorer(
    metric: Metric,
    positives: np.ndarray,
    scores: np.ndarray,
    class_names: list[str] | None,
    positive_index: int,
) -> Scorer:
    n_pos = int(positives.sum())
    if n_pos == 0 or n_pos == len(positives):
        missing = "positive" if n_pos == 0 else "negative"
        name = _class_name(class_names, positive_index)
        return _undefined(
            metric,
            f"{metric.title} is undefined: the split has no {missing} rows (positive class {name})",
        )
    from sklearn.metrics import average_precision_score, roc_auc_score

    if metric.name == "roc_auc":
        point = float(roc_auc_score(positives, scores))
    else:
        point = float(average_precision_score(positives, scores))

    def batch(rows: np.ndarray | None) -> BatchFn:
        y = positives if rows is None else positives[rows]
        s = scores if rows is None else scores[rows]
        descending = metric.name == "pr_auc"
        order = np.argsort(-s if descending else s, kind="stable")
        s_sorted = s[order]
        y_sorted = y[order].astype(np.float64)
        change = np.flatnonzero(s_sorted[1:] != s_sorted[:-1]) + 1
        if len(change) == 0:  # one constant score (a prior-only model): no ordering to gather
            return lambda w: _constant_score(metric, w, y.astype(np.float64))
        ends = None if len(change) == len(s) - 1 else np.append(change - 1, len(s) - 1)
        fn = _auc_from_weights if metric.name == "roc_auc" else _ap_from_weights
        return lambda w: fn(w[order], y_sorted, ends)

    return Scorer(metric, point, "", batch)


def _constant_score(metric: Metric, w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUC (0.5) or average precision (the prevalence) of a model that scores every row alike."""
    pos = _dot(y[None, :], w)[0]
    total = w.sum(axis=0)
    valid = (pos > 0) & (pos < total)
    if metric.name == "roc_auc":
        return np.where(valid, 0.5, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pos > 0, pos / total, np.nan)


def _cumulative(w: np.ndarray, y_sorted: np.ndarray, ends: np.ndarray | None):
    """Cumulative positive and total weight at the end of each group of tied scores."""
    pos_cum = np.cumsum(w * y_sorted[:, None], axis=0)
    all_cum = np.cumsum(w, axis=0)
    if ends is not None:  # tied scores: only the cumulative sums at a group's last row count
        pos_cum, all_cum = pos_cum[ends], all_cum[ends]
    return pos_cum, all_cum


def _step(cum: np.ndarray) -> np.ndarray:
    """Per-group amounts from cumulative sums along axis 0."""
    out = cum.copy()
    out[1:] -= cum[:-1]
    return out


def _auc_from_weights(w: np.ndarray, y_sorted: np.ndarray, ends: np.ndarray | None) -> np.ndarray:
    """Weighted Mann–Whitney AUC; rows sorted by ascending score, ties count one half."""
    pos_cum, all_cum = _cumulative(w, y_sorted, ends)
    neg_cum = all_cum - pos_cum
    neg_before = neg_cum - _step(neg_cum)
    # each positive beats the negatives below its group and ties half of those inside it
    u = np.einsum("ij,ij->j", _step(pos_cum), neg_before + neg_cum) * 0.5
    denom = pos_cum[-1] * neg_cum[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, u / denom, np.nan)


def _ap_from_weights(w: np.ndarray, y_sorted: np.ndarray, ends: np.ndarray | None) -> np.ndarray:
    """Weighted average precision (scikit-learn's step-wise definition), descending scores."""
    tp, predicted = _cumulative(w, y_sorted, ends)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        total = tp[-1]
        ap = np.einsum("ij,ij->j", _step(tp), precision)
        return np.where(total > 0, ap / np.where(total > 0, total, 1), np.nan)


# ----------------------------------------------------------------- count metrics (F1, accuracy)
def _count_scorer(
    metric: Metric,
    y: np.ndarray,
    decisions: np.ndarray,
    n_classes: int,
    positive_index: int,
    class_names: list[str] | None,
) -> Scorer:
    from sklearn.metrics import accuracy_score, f1_score

    k = max(n_classes, int(max(y.max(), decisions.max())) + 1)
    if metric.name == "f1":
        if not (y == positive_index).any():
            name = _class_name(class_names, positive_index)
            return _undefined(
                metric, f"F1 is undefined: the split has no rows of the positive class {name}"
            )
        point = float(f1_score(y == positive_index, decisions == positive_index, zero_division=0))
    elif metric.name == "accuracy":
        point = float(accuracy_score(y, decisions))
    else:
        average = "macro" if metric.name == "macro_f1" else "weighted"
        point = float(f1_score(y, decisions, average=average, zero_division=0))

    def batch(rows: np.ndarray | None) -> BatchFn:
        yt = y if rows is None else y[rows]
        d = decisions if rows is None else decisions[rows]
        correct = (yt == d).astype(np.float64)
        if metric.name == "accuracy":
            return lambda w: _dot(correct[None, :], w)[0] / w.sum(axis=0)
        if metric.name == "f1":
            is_pos, said_pos = yt == positive_index, d == positive_index
            columns = np.vstack([is_pos & said_pos, ~is_pos & said_pos, is_pos & ~said_pos])
            columns = columns.astype(np.float64)

            def f1(w: np.ndarray) -> np.ndarray:
                tp, fp, fn = _dot(columns, w)
                denom = 2 * tp + fp + fn
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)

            return f1
        truth = np.zeros((len(yt), k))
        truth[np.arange(len(yt)), yt] = 1.0
        said = np.zeros((len(yt), k))
        said[np.arange(len(yt)), d] = 1.0
        columns = np.hstack([truth, said, truth * correct[:, None]]).T
        weighted = metric.name == "weighted_f1"

        def class_f1(w: np.ndarray) -> np.ndarray:
            counts = _dot(columns, w)
            support, predicted, tp = counts[:k], counts[k : 2 * k], counts[2 * k :]
            denom = support + predicted
            with np.errstate(divide="ignore", invalid="ignore"):
                f1_k = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)
                if weighted:
                    return np.nansum(f1_k * support, axis=0) / support.sum(axis=0)
                present = denom > 0
                return np.where(present, f1_k, 0.0).sum(axis=0) / present.sum(axis=0)

        return class_f1

    return Scorer(metric, point, "", batch)


# ----------------------------------------------------------------- regression
def _regression_scorer(metric: Metric, y: np.ndarray, pred: np.ndarray) -> Scorer:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    if metric.name == "r2" and (len(y) < 2 or float(np.ptp(y)) == 0.0):
        return _undefined(metric, "R² is undefined: the target is constant on this split")
    if metric.name == "mae":
        point = float(mean_absolute_error(y, pred))
    elif metric.name == "rmse":
        point = math.sqrt(float(mean_squared_error(y, pred)))
    else:
        point = float(r2_score(y, pred))

    def batch(rows: np.ndarray | None) -> BatchFn:
        yt = y if rows is None else y[rows]
        p = pred if rows is None else pred[rows]
        err = p - yt
        centred = yt - yt.mean()
        columns = np.vstack([np.abs(err), err**2, centred, centred**2])

        def score(w: np.ndarray) -> np.ndarray:
            total = w.sum(axis=0)
            s_abs, s_sq, s_y, s_y2 = _dot(columns, w)
            if metric.name == "mae":
                return s_abs / total
            if metric.name == "rmse":
                return np.sqrt(s_sq / total)
            sst = s_y2 - s_y**2 / total
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(sst > 0, 1.0 - s_sq / np.where(sst > 0, sst, 1), np.nan)

        return score

    return Scorer(metric, point, "", batch)


# --------------------------------------------------------------------------- bootstrap
#: Fewest replicates beyond a one-sided bound for the percentile to stand (else normal bound).
MIN_TAIL_RESAMPLES = 10


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap replicates of several scorers on the same resamples (paired)."""

    points: dict[Hashable, float | None]
    reasons: dict[Hashable, str]
    #: Replicates on the full-data scale, shape (n_resamples,), NaN where undefined.
    replicates: dict[Hashable, np.ndarray]
    n_rows: int
    sample_rows: int
    n_resamples: int
    confidence: float

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    def point(self, key: Hashable) -> float | None:
        return self.points.get(key)

    def ci(self, key: Hashable) -> tuple[float | None, float | None]:
        """Percentile interval of one scorer (None when undefined or too few valid resamples)."""
        if self.points.get(key) is None or key not in self.replicates:
            return None, None
        return self._interval(self.replicates[key])

    def advantage(
        self, metric: Metric, a: Hashable, b: Hashable
    ) -> tuple[float | None, float | None, float | None]:
        """Point and paired interval of ``advantage(metric, a, b)`` (positive: a is better)."""
        pa, pb = self.points.get(a), self.points.get(b)
        if pa is None or pb is None:
            return None, None, None
        point = float(advantage(metric, pa, pb))
        low, high = self._interval(advantage(metric, self.replicates[a], self.replicates[b]))
        return point, low, high

    def bound(self, key: Hashable, side: str, alpha: float | None = None) -> float | None:
        """One-sided ``confidence`` bound of one scorer: ``side`` is "lower" or "upper".

        For a one-directional question (is the score at least the bar?) the one-sided bound is
        the right test: the lower one is the ``alpha`` quantile of the replicates (the lower end
        of the two-sided interval at level ``1 - 2 alpha``), not the ``alpha / 2`` quantile.
        ``alpha`` overrides ``1 - confidence`` (a check's share of the false-alarm budget); see
        :meth:`_quantile` for levels finer than the resamples resolve.
        """
        if self.points.get(key) is None or key not in self.replicates:
            return None
        return self._quantile(self.replicates[key], side, alpha, self.points[key])

    def advantage_bound(
        self, metric: Metric, a: Hashable, b: Hashable, side: str, alpha: float | None = None
    ) -> float | None:
        """One-sided ``confidence`` bound (or at level ``1 - alpha``) of the paired
        ``advantage(metric, a, b)``."""
        pa, pb = self.points.get(a), self.points.get(b)
        if pa is None or pb is None:
            return None
        if a not in self.replicates or b not in self.replicates:
            return None
        values = advantage(metric, self.replicates[a], self.replicates[b])
        return self._quantile(values, side, alpha, float(advantage(metric, pa, pb)))

    def _valid(self, values: np.ndarray) -> np.ndarray | None:
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        return values if len(values) >= max(20, self.n_resamples // 2) else None

    def _quantile(
        self,
        values: np.ndarray,
        side: str,
        alpha: float | None = None,
        point: float | None = None,
    ) -> float | None:
        """The ``alpha`` (lower) or ``1 - alpha`` (upper) quantile of the replicates.

        An explicit ``alpha`` that leaves fewer than :data:`MIN_TAIL_RESAMPLES` replicates in
        the tail (0.002 of 1,000 resamples is two) is beyond what the resamples resolve: the
        bound is then extrapolated from that side's own tail — the distance from the median to
        the finest quantile the resamples do resolve, stretched by the ratio of the normal
        quantiles. On a symmetric, normal spread that is the normal bound ``point ± z · sd``;
        on a skewed one (a relative RMSE advantage) it keeps the skew, where ``sd`` would mix
        in the long tail on the other side.
        """
        if side not in ("lower", "upper"):
            raise ValueError(f"side must be 'lower' or 'upper', not {side!r}")
        valid = self._valid(values)
        if valid is None:
            return None
        level = self.alpha if alpha is None else alpha
        if alpha is not None and point is not None and level * len(valid) < MIN_TAIL_RESAMPLES:
            return _extrapolated_bound(valid, side, level)
        return float(np.quantile(valid, level if side == "lower" else 1 - level))

    def detectable(
        self, metric: Metric, a: Hashable, b: Hashable, alpha: float | None = None
    ) -> float | None:
        """The smallest shortfall of ``a`` behind ``b`` these rows can establish at one-sided
        level ``alpha``: the distance from the point advantage to its upper bound. Beside the
        practical margin it says whether the data are underpowered (see qa.budget)."""
        point, _, _ = self.advantage(metric, a, b)
        upper = self.advantage_bound(metric, a, b, "upper", alpha)
        if point is None or upper is None:
            return None
        return max(0.0, upper - point)

    def _interval(self, values: np.ndarray) -> tuple[float | None, float | None]:
        valid = self._valid(values)
        if valid is None:
            return None, None
        low, high = np.quantile(valid, [self.alpha / 2, 1 - self.alpha / 2])
        return float(low), float(high)

    @property
    def subsampled(self) -> bool:
        return self.sample_rows < self.n_rows

    def note(self) -> str:
        """One sentence for the report: how the intervals were obtained."""
        level = f"{self.confidence:.0%}"
        text = f"{level} paired bootstrap intervals from {self.n_resamples:,} resamples"
        if self.subsampled:
            text += (
                f" of a seeded {self.sample_rows:,}-row subsample of the {self.n_rows:,} rows, "
                f"spread rescaled by sqrt({self.sample_rows:,}/{self.n_rows:,}) to the full size"
            )
        else:
            text += f" of all {self.n_rows:,} rows"
        return text


def run_bootstrap(
    scorers: Mapping[Hashable, Scorer],
    n: int,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    max_rows: int = 20_000,
    confidence: float = 0.95,
) -> Bootstrap:
    """Score every scorer on the same ``n_resamples`` bootstrap resamples of ``n`` rows.

    The resamples depend only on (``n``, ``n_resamples``, ``seed``, ``max_rows``), so two
    calls with the same settings are paired with each other too.
    """
    m = min(n, max_rows)
    return Bootstrap(
        points={k: s.point for k, s in scorers.items()},
        reasons={k: s.reason for k, s in scorers.items() if s.reason},
        replicates=bootstrap_replicates(
            scorers, n, n_resamples=n_resamples, seed=seed, max_rows=max_rows
        ),
        n_rows=n,
        sample_rows=m,
        n_resamples=n_resamples,
        confidence=confidence,
    )


def bootstrap_replicates(
    scorers: Mapping[K, Scorer], n: int, *, n_resamples: int, seed: int, max_rows: int
) -> dict[K, np.ndarray]:
    """Replicates on the full-data scale for every defined scorer (see the module docstring)."""
    live = {k: s for k, s in scorers.items() if s.point is not None}
    if not live or n == 0:
        return {}
    rng = np.random.default_rng(seed)
    if n > max_rows:
        rows: np.ndarray | None = np.sort(rng.choice(n, size=max_rows, replace=False))
        m = max_rows
    else:
        rows, m = None, n
    fns = {k: s.batch(rows) for k, s in live.items()}
    out = {k: np.empty(n_resamples) for k in fns}
    chunk = max(1, min(n_resamples, CHUNK_ENTRIES // m))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        # Row i of resample j lands at flat index i * b + j: weights come out as (m, b), rows
        # contiguous, so gathers, cumulative sums and tie groups run along axis 0.
        draws = rng.integers(0, m, size=(b, m), dtype=np.int64)
        draws *= b
        draws += np.arange(b, dtype=np.int64)[:, None]
        weights = np.bincount(draws.ravel(), minlength=m * b).reshape(m, b).astype(np.float64)
        for k, fn in fns.items():
            out[k][start : start + b] = fn(weights)
    if rows is None:
        return out
    scale = math.sqrt(m / n)
    replicates: dict[K, np.ndarray] = {}
    for k, values in out.items():
        centre = float(fns[k](np.ones((m, 1)))[0])
        replicates[k] = live[k].point + scale * (values - centre)  # type: ignore[operator]
    return replicates


# --------------------------------------------------------------------------- context helpers
def scorer_for(
    ctx: Any, split: str, preds: Predictions, metric: Metric, decision_threshold: float = 0.5
) -> Scorer:
    """The scorer of ``metric`` for ``preds`` against the split's labels in ``ctx``."""
    return make_scorer(
        metric,
        ctx.task,
        ctx.labels(split),
        preds,
        positive_index=ctx.positive_index if ctx.task == "binary" else 1,
        n_classes=len(ctx.classes),
        decision_threshold=decision_threshold,
        class_names=ctx.class_names,
    )


@dataclass(frozen=True)
class BootstrapSettings:
    """How the checks bootstrap; shared so that their intervals agree and are cached once."""

    n_resamples: int = 1000
    max_rows: int = 20_000
    confidence: float = 0.95
    decision_threshold: float = 0.5


def _extrapolated_bound(valid: np.ndarray, side: str, level: float) -> float:
    """A one-sided bound at ``level``, finer than the resamples resolve, from the tail's shape
    at the finest level they do (``MIN_TAIL_RESAMPLES`` replicates beyond it)."""
    resolved = MIN_TAIL_RESAMPLES / len(valid)
    middle = float(np.median(valid))
    edge = float(np.quantile(valid, resolved if side == "lower" else 1 - resolved))
    stretch = NormalDist().inv_cdf(1 - level) / NormalDist().inv_cdf(1 - resolved)
    return middle + (edge - middle) * stretch


def evaluate(
    ctx: Any,
    split: str,
    models: Mapping[str, Predictions],
    metrics: Sequence[Metric],
    settings: BootstrapSettings,
) -> Bootstrap:
    """Score every model on ``split`` with every metric, paired, cached in the Context.

    ``models`` maps a stable name (``"model"``, ``"baseline:xgboost"``) to its predictions.
    Keys of the result are ``(name, metric.name)``. Scorers and replicates are cached per
    (split, name, metric, settings), so checks that share settings share the work.
    """
    store: dict[Hashable, Any] = ctx.cached(("qa.metrics", "store"), dict)
    n = len(ctx.labels(split))
    scorers: dict[Hashable, Scorer] = {}
    replicates: dict[Hashable, np.ndarray] = {}
    missing: dict[tuple[str, str], Scorer] = {}
    base = (split, settings.n_resamples, settings.max_rows, ctx.seed)
    for name, preds in models.items():
        for metric in metrics:
            key = (name, metric.name)
            skey = ("scorer", split, name, metric.name, settings.decision_threshold)
            if skey not in store:
                store[skey] = scorer_for(ctx, split, preds, metric, settings.decision_threshold)
            scorers[key] = store[skey]
            rkey = ("replicates", *base, name, metric.name, settings.decision_threshold)
            if rkey in store:
                if store[rkey] is not None:
                    replicates[key] = store[rkey]
            else:
                missing[key] = scorers[key]
    if missing:
        fresh = bootstrap_replicates(
            missing, n, n_resamples=settings.n_resamples, seed=ctx.seed, max_rows=settings.max_rows
        )
        for key in missing:
            name, metric_name = key
            rkey = ("replicates", *base, name, metric_name, settings.decision_threshold)
            store[rkey] = fresh.get(key)
            if key in fresh:
                replicates[key] = fresh[key]
    return Bootstrap(
        points={k: s.point for k, s in scorers.items()},
        reasons={k: s.reason for k, s in scorers.items() if s.reason},
        replicates=replicates,
        n_rows=n,
        sample_rows=min(n, settings.max_rows),
        n_resamples=settings.n_resamples,
        confidence=settings.confidence,
    )


def evaluate_pooled(
    ctx: Any,
    splits: Sequence[str],
    models: Mapping[str, Mapping[str, Predictions]],
    metrics: Sequence[Metric],
    settings: BootstrapSettings,
) -> Bootstrap:
    """Like :func:`evaluate`, on the rows of several labelled splits taken together.

    ``models`` maps a name to its predictions per split (every split in ``splits``). The rows
    are concatenated in the order of ``splits`` and bootstrapped as one sample (paired across
    models). Used where several held-out splits answer the same question, so that the answer
    rests on all the held-out rows rather than the smallest split alone.
    """
    if len(splits) == 1:
        return evaluate(
            ctx, splits[0], {n: p[splits[0]] for n, p in models.items()}, metrics, settings
        )
    store: dict[Hashable, Any] = ctx.cached(("qa.metrics", "store"), dict)
    tag = "+".join(splits)
    y = np.concatenate([np.asarray(ctx.labels(s)) for s in splits])
    scorers: dict[Hashable, Scorer] = {}
    for name, per_split in models.items():
        pooled = _concat_predictions(tag, [per_split[s] for s in splits])
        for metric in metrics:
            skey = ("scorer", tag, name, metric.name, settings.decision_threshold)
            if skey not in store:
                store[skey] = make_scorer(
                    metric,
                    ctx.task,
                    y,
                    pooled,
                    positive_index=ctx.positive_index if ctx.task == "binary" else 1,
                    n_classes=len(ctx.classes),
                    decision_threshold=settings.decision_threshold,
                    class_names=ctx.class_names,
                )
            scorers[(name, metric.name)] = store[skey]
    rkey = ("pooled-replicates", tag, tuple(scorers), settings, ctx.seed)
    if rkey not in store:
        store[rkey] = bootstrap_replicates(
            scorers,
            len(y),
            n_resamples=settings.n_resamples,
            seed=ctx.seed,
            max_rows=settings.max_rows,
        )
    return Bootstrap(
        points={k: s.point for k, s in scorers.items()},
        reasons={k: s.reason for k, s in scorers.items() if s.reason},
        replicates=store[rkey],
        n_rows=len(y),
        sample_rows=min(len(y), settings.max_rows),
        n_resamples=settings.n_resamples,
        confidence=settings.confidence,
    )


def _concat_predictions(split: str, parts: Sequence[Predictions]) -> Predictions:
    def join(field_name: str) -> np.ndarray | None:
        arrays = [getattr(p, field_name) for p in parts]
        if any(a is None for a in arrays):
            return None
        return np.concatenate(arrays)

    sources = ", ".join(p.source for p in parts if p.source)
    return Predictions(
        split=split,
        labels=join("labels"),
        proba=join("proba"),
        values=join("values"),
        source=sources,
    )


def one_row_step(
    metric: Metric, y: np.ndarray, *, positive_index: int = 1, n_classes: int = 2
) -> float:
    """How far one row's decision can move a count metric on these labels: its granularity.

    On a small split a score moves in steps: with 27 rows, one row is worth 1/27 = 0.037 of
    accuracy, and two models a step apart differ by a single row — no evidence either way. The
    step is taken at a perfect score (where near-ties on small splits happen), one row of
    class ``a`` predicted as ``b``, and the largest over the classes present:

    - accuracy: ``1 / n``;
    - F1 of the positive class: ``1 / (2 n_pos - 1)`` (a positive row missed);
    - macro-F1: ``(1 / (2 n_a - 1) + 1 / (2 n_b + 1)) / k`` (F1 of ``a`` and of ``b`` drop);
    - weighted F1: ``(n_a / (2 n_a - 1) + n_b / (2 n_b + 1)) / n`` (about ``1 / n``).

    Rank metrics (AUC, average precision) move in steps of one pair, ``1 / (n_pos n_neg)``,
    and regression metrics continuously: for them the step is taken as 0.
    """
    n = len(y)
    if n == 0 or metric.needs_proba or "regression" in metric.tasks:
        return 0.0
    if metric.name == "accuracy":
        return 1.0 / n
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(float)
    if metric.name == "f1":
        n_pos = counts[positive_index] if positive_index < len(counts) else 0.0
        return 1.0 / (2 * n_pos - 1) if n_pos >= 1 else 0.0
    present = counts[counts > 0]
    if len(present) < 2:
        return 1.0 / n
    a_terms = (
        (present / (2 * present - 1)) if metric.name == "weighted_f1" else 1.0 / (2 * present - 1)
    )
    b_terms = (
        (present / (2 * present + 1)) if metric.name == "weighted_f1" else 1.0 / (2 * present + 1)
    )
    pair = a_terms[:, None] + b_terms[None, :]
    np.fill_diagonal(pair, -np.inf)
    scale = 1.0 / n if metric.name == "weighted_f1" else 1.0 / len(present)
    return float(pair.max() * scale)


def choose_metric(
    ctx: Any, name: str | None, where: str, predictions: Sequence[Predictions]
) -> tuple[Metric, str]:
    """The primary metric for ``ctx``'s task and a note when it had to change.

    ``name`` is the metric the caller was given (a check passes its own ``params.metric``;
    the engine reads no check's config table); without it, the metric declared in
    ``[task] metric``; without that, the task's default (roc_auc, macro_f1, rmse). A metric that needs probabilities cannot score predictions
    without them: when named, that is a ModelError naming ``where``; when it was only the
    default (AUC), the caller falls back to F1 at the decision threshold and says so.
    """
    if name is None and ctx.config.task.metric:
        name, where = ctx.config.task.metric, "task.metric"
    metric = resolve_metric(ctx.task, name, where)
    lacking = [p for p in predictions if metric.needs_proba and p.proba is None]
    if not lacking:
        return metric, ""
    if name is not None:
        source = lacking[0].source or f"the {lacking[0].split} predictions"
        raise ModelError(
            f"{where}: {metric.name} needs probabilities (proba_<label> columns) and {source} "
            f"has none; add them or set a metric such as f1"
        )
    fallback = METRICS["f1"]
    return fallback, (
        f"the predictions carry no probabilities, so {metric.title} cannot be computed; "
        f"scored with {fallback.title} instead"
    )


def settings_of(params: Any) -> BootstrapSettings:
    """Bootstrap settings from a check's params (``n_bootstrap``, ``max_bootstrap_rows``, ...)."""
    return BootstrapSettings(
        n_resamples=params.n_bootstrap,
        max_rows=params.max_bootstrap_rows,
        confidence=params.confidence,
        decision_threshold=params.decision_threshold,
    )


def fmt(value: float | None, metric: Metric | None = None) -> str:
    """A metric value for a message: 3 decimals for scores, 4 significant digits for errors."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if metric is not None and not metric.higher_is_better:
        return f"{value:.4g}"
    return f"{value:.3f}"


def fmt_level(p: float) -> str:
    """A probability as a percentage with the digits it needs: 0.95 -> "95%", 0.998 -> "99.8%",
    0.00667 -> "0.67%" (``f"{p:.0%}"`` would print 0.998 as "100%")."""
    pct = 100 * p
    for digits in range(6):
        shown = round(pct, digits)
        if 0 < shown < 100 and abs(shown - pct) <= 0.05 * min(pct, 100 - pct):
            return f"{shown:.{digits}f}%"
    return f"{pct:.6g}%"


def practical_margin(metric: Metric, tolerance: float | None = None, step: float = 0.0) -> float:
    """The smallest lead that can fail a model: the larger of the metric's practical margin
    (:attr:`Metric.margin`), a check's ``tolerance`` and one row's worth (``step``)."""
    return max(metric.margin, tolerance or 0.0, step)


def fmt_ci(low: float | None, high: float | None, metric: Metric | None = None) -> str:
    if low is None or high is None:
        return "no interval"
    return f"[{fmt(low, metric)}, {fmt(high, metric)}]"


def _param(*args: Any, **kwargs: Any) -> Any:
    from qa.base import param

    return param(*args, **kwargs)


@dataclass(frozen=True)
class EvaluationParams:
    """Parameters shared by the model-evaluation checks (each check adds its own)."""

    metric: str | None = _param(
        None,
        "Primary metric of this check; default: roc_auc (binary), "
        "macro_f1 (multiclass), rmse (regression).",
        choices=tuple(METRICS),
    )
    decision_threshold: float = _param(
        0.5,
        "Positive-class probability at or above which a binary prediction counts as "
        "positive (for F1 and accuracy).",
        gt=0.0,
        lt=1.0,
    )
    n_bootstrap: int = _param(
        1000,
        "Bootstrap resamples for the confidence intervals (below 20: no intervals).",
        ge=0,
        le=100_000,
    )
    max_bootstrap_rows: int = _param(
        20_000,
        "Larger splits bootstrap a seeded subsample of this many rows and rescale the "
        "spread to the full size (the report says so).",
        ge=500,
    )
    confidence: float = _param(0.95, "Confidence level of the intervals.", ge=0.5, lt=1.0)
