"""How does the model do in production before its labels arrive? Confidence-based performance
estimation (CBPE) from the model's probabilities, calibrated on validation."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import underpowered_note
from qa.context import Context
from qa.errors import ModelError
from qa.metrics import (
    CHUNK_ENTRIES,
    METRICS,
    Bootstrap,
    BootstrapSettings,
    Metric,
    choose_metric,
    evaluate,
    fmt,
    fmt_ci,
    fmt_level,
    make_scorer,
    practical_margin,
)
from qa.predictions import Predictions

CALIBRATION = "validation"
TEST = "test"
PRODUCTION = "production"
#: Mixed into the run's seed, so the production and validation resamples are independent of
#: the test split's (which ``qa.metrics.evaluate`` draws from the seed alone).
SEED_SALT = 0xCB9E
#: Fewest bootstrap resamples for an interval (as everywhere in qa.metrics).
MIN_RESAMPLES = 20

#: Metrics that are not in the catalogue (no test interval), estimated for binary tasks.
PRECISION = Metric("precision", "precision of the positive class", True, ("binary",))
RECALL = Metric("recall", "recall of the positive class", True, ("binary",))
#: What is reported per task, beside the judged metric.
REPORTED: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy", "precision", "recall", "f1"),
    "multiclass": ("macro_f1", "accuracy"),
}
LOCAL: dict[str, Metric] = {"precision": PRECISION, "recall": RECALL}

BatchFn = Callable[[np.ndarray], np.ndarray]


class PerformanceEstimate(Check):
    """The production metric estimated without production labels (CBPE), beside the test one.

    What it checks
    --------------
    Production predictions usually arrive long before production labels. This check estimates
    how well the model does on the production split from its predicted probabilities alone,
    by confidence-based performance estimation (CBPE, as NannyML does it):

    1. Calibrate. The model's probabilities are recalibrated on the validation split (its
       labels and predictions) with isotonic regression: on the positive class's probability
       for a binary task; one-vs-rest per class for a multiclass task, the calibrated
       probabilities of a row then renormalised to sum to 1. Fitted on validation only; test
       stays untouched, so the test metric beside the estimate is an honest reference.
    2. Estimate the confusion matrix. A production row predicted as class ``d`` with
       calibrated probabilities ``q`` adds ``q[c]`` to the expected count of (true ``c``,
       predicted ``d``); summed over the production rows this is the expected confusion
       matrix (shown in the evidence). The predicted class is the one the test metric uses:
       the positive class when its raw probability is at or above the operating threshold
       (``[task] threshold``, default 0.5) for a binary task, the ``prediction`` column for a
       multiclass one.
    3. Score it. Binary: accuracy, precision, recall and F1 at the operating threshold, and
       AUC-ROC, where each row counts as a positive with weight ``q`` and as a negative with
       weight ``1 - q`` at its raw score (the expected Mann–Whitney statistic, which is what
       CBPE's expected ROC curve integrates to). Multiclass: accuracy and macro-F1. Every
       metric is scored by the same scorer (``qa.metrics``) that scores the test split, on
       the production rows weighted by their expected labels, so estimate and test measure
       the same thing.

    The judged metric is the primary one (``metric``, else ``[task] metric``, else AUC-ROC
    for a binary task and macro-F1 for a multiclass one); accuracy when the primary metric is
    undefined on test (e.g. AUC with a single class there), and the message says so. When
    the production split has labels, the measured production metrics are reported beside the
    estimates. Regression is not estimated: its predictions carry no probabilities to
    calibrate (skipped with that reason).

    Why it matters
    --------------
    A model can lose much of its accuracy in production without any error being raised: the
    inputs move into a region where the classes overlap more, or where the model is less
    sure. Labels that would show it may take weeks to arrive. A calibrated model's own
    confidence says how often it should be right on the rows it now sees, so the expected
    drop can be read off before the labels come, and a release that the new data will
    degrade can be held back.

    How it decides
    --------------
    The estimated drop is the test metric (measured on test's labels) minus the estimated
    production metric. The check fails when that drop is larger than ``max_drop`` (0.05 on
    the metric's scale, absolute; never below the metric's practical margin) and
    significant: the one-sided upper bound of (estimate minus test) at the check's share of
    the gate's false-alarm budget ([run] false_alarm_rate, the whole rate when it runs
    alone; thresholds.false_alarm_share) is below 0. That is its one testing fail rule. A
    drop over ``max_drop`` that is not significant (a small production or validation split)
    warns, with the rows that would confirm it; a drop within ``max_drop`` passes.

    The interval of the estimate adds three sources of uncertainty, from ``n_bootstrap``
    seeded resamples: the calibration (validation rows resampled and the isotonic curves
    refitted on each resample); which production rows came (production rows resampled); and
    which labels those rows will turn out to have (each label drawn from the row's calibrated
    probabilities). It is therefore an interval for the metric that will be measured on
    these production rows once their labels arrive. The test metric's own bootstrap interval
    is computed as ``metric-threshold`` computes it (the same resamples, shared in the run
    when the settings agree), and the drop's interval combines the two (independent
    samples). The label-draw term makes the
    drop's test slightly conservative: it asks whether the drop is larger than the labels
    still to come could make it by chance. Splits over ``max_bootstrap_rows`` rows resample
    a seeded subsample of that many rows; the spread of each source is rescaled to the full
    size, and the evidence says so.

    With production labels present the check does not judge the estimate: the measured
    production metric is the evidence, and the estimate stands beside it to show how far
    CBPE is off for this model (the message says whether the truth lies within the
    estimate's interval). The check then passes.

    When the estimate cannot be trusted. CBPE assumes the calibration fitted on validation
    holds in production: that P(y | score) is the same there (no concept shift). It copes
    with covariate shift (P(x) changes, P(y | x) holds: the usual case it is for), but not
    with a changed relationship between inputs and labels (fraud patterns that adapt, a new
    labelling policy): then the estimate is confidently wrong and nothing without labels can
    tell. It is also weaker where production scores fall outside the range seen on
    validation (the isotonic curve is flat beyond its ends; the share of such rows is
    reported) and in regions of the input space the model never saw in training, where its
    scores mean little. A small validation split makes the calibration coarse: isotonic
    regression then overfits, its curve steeper than the truth, and the AUC estimate leans
    high (about +0.01 with 300 validation rows, +0.005 with 1,500, in our simulations), so
    the check errs towards passing; ``min_validation_rows`` sets the floor. One-vs-rest
    curves, renormalised, are not a joint calibration of the classes: multiclass estimates
    lean high as well (accuracy and macro-F1 about +0.01 even with 10,000 validation rows,
    in our simulations), again towards passing. A class that
    never occurs in validation gets a calibrated probability of 0 (the evidence names it). The ``drift`` check adds what this one cannot see: which input
    features moved (a covariate shift that explains an estimated drop, or one that puts
    rows where the model never learned), the prediction drift that moved the estimate, and,
    once labels come, label drift. A drop estimated here with no drift found there deserves
    a second look at the calibration; drift found there with no drop estimated here means
    the model copes with the shift, as far as its calibrated confidence can tell.

    How to fix
    ----------
    Find out what moved: the ``drift`` check names the features and the prediction shift.
    If production rows moved to where the classes overlap, the model is not broken but the
    problem got harder: revisit the threshold and the decision costs, or add features that
    separate the classes there. If they moved to where the model has little training data,
    collect and label production rows from that region and retrain (or reweight train
    towards production). Label a sample of production rows to confirm the estimate before
    acting on it, and keep the calibration split (validation) representative.
    """

    id = "performance-estimate"
    title = "Production performance estimated without labels"
    requires = ("validation", "test", "production", "predictions")
    severity = "error"
    tasks = ("binary", "multiclass")
    #: The estimated drop of the judged metric.
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        metric: str | None = param(
            None,
            "Metric judged; default: [task] metric, else roc_auc (binary) or macro_f1 "
            "(multiclass); accuracy when that one is undefined on test.",
            choices=tuple(m for m, spec in METRICS.items() if "regression" not in spec.tasks),
        )
        max_drop: float = param(
            0.05,
            "Drop of the judged metric (test measured minus production estimated, absolute) "
            "beyond which a significant drop fails.",
            ge=0.0,
            le=1.0,
        )
        min_validation_rows: int = param(
            100,
            "Fewest labelled validation rows to calibrate on; with fewer the check skips.",
            ge=10,
        )
        n_bootstrap: int = param(
            1000,
            "Bootstrap resamples for the intervals (below 20: no intervals, no fail).",
            ge=0,
            le=100_000,
        )
        max_bootstrap_rows: int = param(
            20_000,
            "Larger splits are resampled on a seeded subsample of this many rows, the spread "
            "rescaled to the full size.",
            ge=500,
        )
        confidence: float = param(0.95, "Confidence level of the intervals.", ge=0.5, lt=1.0)

    # ------------------------------------------------------------------ run
    def run(self, ctx: Context, params: Params) -> CheckResult:
        missing = self._missing(ctx, params)
        if missing:
            return self.skip(missing)
        problem = Problem.of(ctx, ctx.config.task.threshold or 0.5)
        names, judged, tested, note = self._metrics(ctx, params, problem)
        # measure
        truth = ctx.labels(PRODUCTION) if ctx.has_labels(PRODUCTION) else None
        est = estimate(
            problem,
            [_metric(n) for n in names],
            Calibration.fit(problem, _proba(ctx, CALIBRATION), ctx.labels(CALIBRATION)),
            problem.rows(ctx.predictions(PRODUCTION)),
            truth,
            n_resamples=params.n_bootstrap,
            max_rows=params.max_bootstrap_rows,
            seed=ctx.seed,
        )
        measured = _test_points(problem, names, tested, ctx.predictions(TEST), ctx.labels(TEST))
        boot = _combined(est, tested, measured, params.confidence)
        share = ctx.false_alarm_share(self.id)
        margin = practical_margin(judged, params.max_drop)
        drop = Drop.of(boot, judged, share, _variances(est, boot, judged.name))
        # decide
        status, reason = decide(drop, margin, labelled=truth is not None)
        # explain
        findings = Findings(
            problem, names, judged, est, measured, boot, drop, margin, share, note, params
        )
        return self._explain(findings, status, reason)

    def _metrics(
        self, ctx: Context, params: Params, problem: Problem
    ) -> tuple[list[str], Metric, Bootstrap, str]:
        """The reported metrics (the judged one first), the judged metric, the test split's
        bootstrap of the catalogued ones (shared with metric-threshold in the run), and a
        note when the judged metric had to change."""
        test_preds = ctx.predictions(TEST)
        judged, note = choose_metric(ctx, params.metric, f"checks.{self.id}.metric", [test_preds])
        names = [judged.name] + [m for m in REPORTED[ctx.task] if m != judged.name]
        settings = BootstrapSettings(
            n_resamples=params.n_bootstrap,
            max_rows=params.max_bootstrap_rows,
            confidence=params.confidence,
            decision_threshold=problem.threshold,
        )
        catalogued = [METRICS[n] for n in names if n in METRICS]
        tested = evaluate(ctx, TEST, {"model": test_preds}, catalogued, settings)
        if tested.point(("model", judged.name)) is None:
            reason = tested.reasons.get(("model", judged.name), "undefined")
            note = _join(
                note, f"{judged.title} is undefined on test ({reason}); judged on accuracy"
            )
            judged = METRICS["accuracy"]
            names = ["accuracy"] + [n for n in names if n != "accuracy"]
        return names, judged, tested, note

    def _missing(self, ctx: Context, params: Params) -> str:
        """Why the check cannot run here ("" when it can)."""
        if not ctx.is_classification:
            return (
                f"a {ctx.task} model's predictions carry no class probabilities to calibrate; "
                "confidence-based estimation applies to classifiers"
            )
        if not ctx.has_split(PRODUCTION) or not ctx.has_predictions(PRODUCTION):
            return (
                "no production predictions ([model.predictions] production, or a model "
                "artifact and a production split): nothing to estimate"
            )
        if not (ctx.has_split(CALIBRATION) and ctx.has_labels(CALIBRATION)):
            return (
                "no labelled validation split: nothing to calibrate the probabilities on "
                "(the estimate needs validation labels and predictions)"
            )
        if not ctx.has_predictions(CALIBRATION):
            return "no validation predictions: nothing to calibrate the probabilities on"
        if not (ctx.has_labels(TEST) and ctx.has_predictions(TEST)):
            return "needs the test split's labels and predictions for the measured metric"
        for split in (CALIBRATION, PRODUCTION, TEST):
            if ctx.predictions(split).proba is None:
                return (
                    f"the {split} predictions have no probability columns (proba_<label>); "
                    "the estimate is built from the model's probabilities"
                )
        rows = len(ctx.labels(CALIBRATION))
        if rows < params.min_validation_rows:
            return (
                f"only {rows:,} labelled validation rows to calibrate on "
                f"(min_validation_rows {params.min_validation_rows})"
            )
        if ctx.frame(PRODUCTION).height == 0:
            return "the production split is empty"
        return ""

    def _explain(self, f: Findings, status: Status, reason: Reason) -> CheckResult:
        message, subjects = _message(f, reason)
        return self.result(
            status,
            message,
            metrics=_metric_values(f),
            thresholds={
                "max_drop": f.params.max_drop,
                "practical_margin": f.margin,
                "false_alarm_share": f.share,
                "confidence": f.params.confidence,
                **({"decision_threshold": f.problem.threshold} if f.problem.binary else {}),
            },
            evidence=[_metrics_table(f), _confusion_table(f)],
            charts=[_chart(f)],
            subjects=subjects,
            remedy=_remedy(reason),
        )


# --------------------------------------------------------------------------- measure
@dataclass(frozen=True)
class Problem:
    """The classification task as the estimate needs it."""

    task: str
    classes: tuple[str, ...]
    positive: int
    threshold: float

    @classmethod
    def of(cls, ctx: Context, threshold: float) -> Problem:
        return cls(ctx.task, tuple(ctx.class_names), ctx.positive_index, threshold)

    @property
    def binary(self) -> bool:
        return self.task == "binary"

    @property
    def k(self) -> int:
        return len(self.classes)

    def decisions(self, proba: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """The predicted class as the test metric takes it: binary, the positive class when
        its probability reaches the threshold; multiclass, the ``prediction`` column."""
        if self.binary:
            positive = proba[:, self.positive] >= self.threshold
            return np.where(positive, self.positive, 1 - self.positive).astype(np.int64)
        if labels is None:  # pragma: no cover - parse_predictions always sets them
            return np.asarray(proba.argmax(axis=1), dtype=np.int64)
        return np.asarray(labels, dtype=np.int64)

    def rows(self, preds: Predictions) -> Rows:
        """A split's raw probabilities and predicted classes."""
        if preds.proba is None:  # pragma: no cover - run() skips such predictions first
            raise ModelError(f"model.predictions.{preds.split}: no probability columns")
        proba = np.asarray(preds.proba, dtype=np.float64)
        return Rows(proba, self.decisions(proba, preds.labels))


@dataclass(frozen=True)
class Rows:
    """Production rows: raw class probabilities (n, k) and the predicted class."""

    proba: np.ndarray
    decisions: np.ndarray

    def __len__(self) -> int:
        return len(self.decisions)

    def take(self, rows: np.ndarray | None) -> Rows:
        return self if rows is None else Rows(self.proba[rows], self.decisions[rows])


@dataclass(frozen=True)
class Isotonic:
    """Isotonic regression of one class's outcome (0/1) on its raw probability.

    scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``, written out so that a
    bootstrap can refit it a thousand times on reweighted validation rows: rows with equal
    scores are pooled (weighted mean outcome), the pool-adjacent-violators algorithm
    (``scipy.optimize.isotonic_regression``) fits a non-decreasing curve to the pools, and a
    new score is mapped by linear interpolation between the fitted points, clipped to the
    end values outside them. The tests pin it against scikit-learn.
    """

    x: np.ndarray  # sorted distinct validation scores
    index: np.ndarray  # each validation row's position in x
    hits: np.ndarray  # 1.0 where the validation row is of the class

    @classmethod
    def of(cls, scores: np.ndarray, hits: np.ndarray) -> Isotonic:
        x, index = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
        return cls(x, index.ravel(), np.asarray(hits, dtype=np.float64))

    def fitted(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The curve at every distinct validation score, fitted on the validation rows
        weighted by ``weights`` (how often each row was drawn in a resample; None: once
        each). A score no drawn row has takes the curve's value there (interpolated)."""
        from scipy.optimize import isotonic_regression

        w = np.ones(len(self.hits)) if weights is None else weights
        total = np.bincount(self.index, weights=w, minlength=len(self.x))
        hit = np.bincount(self.index, weights=w * self.hits, minlength=len(self.x))
        kept = total > 0
        fitted = np.clip(isotonic_regression(hit[kept] / total[kept], weights=total[kept]).x, 0, 1)
        return fitted if kept.all() else np.interp(self.x, self.x[kept], fitted)

    def lookup(self, scores: np.ndarray) -> Lookup:
        """Where new scores fall between the distinct validation scores (computed once, so a
        refitted curve maps them by a gather)."""
        last = len(self.x) - 1
        hi = np.clip(np.searchsorted(self.x, scores, side="left"), 0, last)
        lo = np.clip(hi - 1, 0, last)
        span = self.x[hi] - self.x[lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(span > 0, (scores - self.x[lo]) / np.where(span > 0, span, 1.0), 0.0)
        # Beyond the ends the curve is flat (clipped), at or below the first score too.
        frac = np.where(scores <= self.x[0], 0.0, np.where(scores >= self.x[-1], 1.0, frac))
        lo = np.where(scores <= self.x[0], 0, lo)
        return Lookup(lo, hi, np.clip(frac, 0.0, 1.0))

    def predict(self, scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return self.lookup(scores).at(self.fitted(weights))


@dataclass(frozen=True)
class Lookup:
    """New scores as positions between a curve's points: value = f[lo] + frac (f[hi] - f[lo])."""

    lo: np.ndarray
    hi: np.ndarray
    frac: np.ndarray

    def at(self, fitted: np.ndarray) -> np.ndarray:
        low = fitted[self.lo]
        return low + self.frac * (fitted[self.hi] - low)


@dataclass(frozen=True)
class Calibration:
    """Isotonic curves fitted on validation: the positive class's (binary), or one per class
    (multiclass, one-vs-rest, renormalised per row)."""

    problem: Problem
    curves: tuple[Isotonic, ...]

    @classmethod
    def fit(cls, problem: Problem, proba: np.ndarray, y: np.ndarray) -> Calibration:
        curves = tuple(Isotonic.of(proba[:, c], y == c) for c in cls._columns(problem))
        return cls(problem, curves)

    @staticmethod
    def _columns(problem: Problem) -> list[int]:
        return [problem.positive] if problem.binary else list(range(problem.k))

    def take(self, rows: np.ndarray | None) -> Calibration:
        """The same calibration data restricted to some validation rows (a subsample)."""
        if rows is None:
            return self
        return Calibration(
            self.problem,
            tuple(Isotonic.of(c.x[c.index[rows]], c.hits[rows]) for c in self.curves),
        )

    @property
    def n_rows(self) -> int:
        return len(self.curves[0].hits)

    def proba(self, raw: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Calibrated class probabilities (n, k) of raw ones, the curves fitted on the
        validation rows weighted by ``weights``."""
        return self.mapper(raw)(weights)

    def mapper(self, raw: np.ndarray) -> Callable[[np.ndarray | None], np.ndarray]:
        """Calibrated probabilities of ``raw`` as a function of the validation weights (the
        rows' positions on the curves found once, for a bootstrap's many refits)."""
        p = self.problem
        columns = self._columns(p)
        lookups = [c.lookup(raw[:, j]) for j, c in zip(columns, self.curves, strict=True)]

        def calibrated(weights: np.ndarray | None) -> np.ndarray:
            values = [lk.at(c.fitted(weights)) for lk, c in zip(lookups, self.curves, strict=True)]
            if p.binary:
                out = np.empty((len(raw), 2))
                out[:, p.positive], out[:, 1 - p.positive] = values[0], 1.0 - values[0]
                return out
            stacked = np.column_stack(values)
            sums = stacked.sum(axis=1, keepdims=True)
            # A row every curve puts at 0 keeps its raw probabilities (no better guess).
            return np.where(sums > 0, stacked / np.where(sums > 0, sums, 1.0), raw)

        return calibrated

    def absent(self) -> tuple[str, ...]:
        """Classes (one-vs-rest outcomes) with no validation row, or only such rows."""
        names = self.problem.classes
        columns = self._columns(self.problem)
        return tuple(
            names[c]
            for c, curve in zip(columns, self.curves, strict=True)
            if len(np.unique(curve.hits)) < 2
        )

    def outside(self, raw: np.ndarray) -> float:
        """Share of rows with a calibrated score outside the range seen on validation."""
        p = self.problem
        columns = [p.positive] if p.binary else list(range(p.k))
        out = np.zeros(len(raw), dtype=bool)
        for c, curve in zip(columns, self.curves, strict=True):
            out |= (raw[:, c] < curve.x[0]) | (raw[:, c] > curve.x[-1])
        return float(out.mean()) if len(raw) else 0.0


class Scorers:
    """Every reported metric as a function of expected labels on the production rows.

    Each production row is expanded into ``k`` copies, copy ``c`` carrying the true class
    ``c``, the row's raw probabilities and its predicted class. A weight matrix over the
    copies (one column per resample) says how much of each row is of each class: the
    calibrated probabilities for the estimate, a one-hot for measured labels, bootstrap
    counts times drawn labels for a resample. The catalogued metrics are scored by
    ``qa.metrics.make_scorer`` on the copies (the scorer the test metric uses); precision
    and recall, which the catalogue lacks, from the weighted confusion counts.
    """

    def __init__(self, problem: Problem, metrics: Sequence[Metric], rows: Rows) -> None:
        k = problem.k
        self.problem, self.metrics, self.k = problem, list(metrics), k
        self.y = np.tile(np.arange(k, dtype=np.int64), len(rows))
        self.decisions = np.repeat(rows.decisions, k)
        preds = Predictions(
            split=PRODUCTION, labels=self.decisions, proba=np.repeat(rows.proba, k, axis=0)
        )
        self._batch: dict[str, Callable[[np.ndarray | None], BatchFn]] = {}
        for m in metrics:
            if m.name in LOCAL:
                self._batch[m.name] = self._rate(m.name)
            else:
                scorer = make_scorer(
                    m,
                    problem.task,
                    self.y,
                    preds,
                    positive_index=problem.positive if problem.binary else 1,
                    n_classes=k,
                    decision_threshold=problem.threshold,
                    class_names=list(problem.classes),
                )
                self._batch[m.name] = scorer.batch

    def _rate(self, name: str) -> Callable[[np.ndarray | None], BatchFn]:
        pos = self.problem.positive

        def batch(rows: np.ndarray | None) -> BatchFn:
            y = self.y if rows is None else self.y[rows]
            d = self.decisions if rows is None else self.decisions[rows]
            tp = (y == pos) & (d == pos)
            other = (y != pos) & (d == pos) if name == "precision" else (y == pos) & (d != pos)
            columns = np.vstack([tp, other]).astype(np.float64)

            def rate(w: np.ndarray) -> np.ndarray:
                hit, miss = np.einsum("km,mb->kb", columns, w)
                denom = hit + miss
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(denom > 0, hit / np.where(denom > 0, denom, 1.0), np.nan)

            return rate

        return batch

    def functions(self, rows: np.ndarray | None = None) -> dict[str, BatchFn]:
        """Scoring functions on the copies of production rows ``rows`` (None: all)."""
        copies = None if rows is None else (rows[:, None] * self.k + np.arange(self.k)).ravel()
        return {name: batch(copies) for name, batch in self._batch.items()}


def score_all(fns: Mapping[str, BatchFn], weights: np.ndarray) -> dict[str, float | None]:
    """Each metric on one weight column (n * k,)."""
    w = weights.reshape(-1, 1)
    out: dict[str, float | None] = {}
    for name, fn in fns.items():
        value = float(fn(w)[0])
        out[name] = value if math.isfinite(value) else None
    return out


def expected_confusion(q: np.ndarray, decisions: np.ndarray, k: int) -> np.ndarray:
    """CBPE's expected confusion matrix: rows true class, columns predicted class."""
    said = np.zeros((len(decisions), k))
    said[np.arange(len(decisions)), decisions] = 1.0
    return q.T @ said


@dataclass(frozen=True)
class Estimate:
    """The CBPE estimate on production, its bootstrap deviations, and the truth if known."""

    points: dict[str, float | None]
    truth: dict[str, float | None] | None
    #: Deviations of the estimate from its point per resample (n_resamples,), on the full-data
    #: scale: from refitting the calibration, and from the production rows and their labels.
    calibration_dev: dict[str, np.ndarray]
    production_dev: dict[str, np.ndarray]
    confusion: np.ndarray
    rows_production: int
    rows_validation: int
    sample_production: int
    sample_validation: int
    outside_share: float
    n_resamples: int
    #: Classes the calibration never saw (no validation row of the class).
    absent: tuple[str, ...] = ()

    def replicates(self, name: str) -> np.ndarray | None:
        point = self.points.get(name)
        if point is None or name not in self.calibration_dev:
            return None
        # Every metric estimated here is a score in [0, 1]; the sum of two deviations may not be.
        return np.clip(point + self.calibration_dev[name] + self.production_dev[name], 0.0, 1.0)


def estimate(
    problem: Problem,
    metrics: Sequence[Metric],
    calibration: Calibration,
    production: Rows,
    truth: np.ndarray | None,
    *,
    n_resamples: int,
    max_rows: int,
    seed: int,
) -> Estimate:
    """CBPE of ``metrics`` on the production rows, with bootstrap deviations.

    The point: every metric on the production rows weighted by their calibrated
    probabilities. The deviations, from ``n_resamples`` resamples of seeded subsamples of at
    most ``max_rows`` rows per split: (a) validation rows resampled, the calibration refitted
    and the production rows rescored; (b) production rows resampled and each one's label
    drawn from its calibrated probabilities. Each is centred on its own subsample's value
    and rescaled by sqrt(subsample / rows) (the estimate is sqrt(n)-consistent in both), and
    the two are independent, so the replicate of the estimate is point + (a) + (b).
    """
    k = problem.k
    scorers = Scorers(problem, metrics, production)
    q = calibration.proba(production.proba)
    points = score_all(scorers.functions(), q.ravel())
    known = None
    if truth is not None:
        onehot = np.zeros((len(truth), k))
        onehot[np.arange(len(truth)), truth] = 1.0
        known = score_all(scorers.functions(), onehot.ravel())
    rng = np.random.default_rng([seed, SEED_SALT])
    n_prod, n_val = len(production), calibration.n_rows
    prod_rows = _subsample(rng, n_prod, max_rows)
    val_rows = _subsample(rng, n_val, max_rows)
    m_prod = n_prod if prod_rows is None else len(prod_rows)
    m_val = n_val if val_rows is None else len(val_rows)
    cal_dev: dict[str, np.ndarray] = {}
    prod_dev: dict[str, np.ndarray] = {}
    if n_resamples >= MIN_RESAMPLES:
        fns = scorers.functions(prod_rows)
        sample = production.take(prod_rows)
        q_sample = q if prod_rows is None else q[prod_rows]
        cal_sample = calibration.take(val_rows)
        cal_values = _calibration_resamples(fns, cal_sample, sample, n_resamples, rng, k)
        cal_centre = score_all(fns, cal_sample.proba(sample.proba).ravel())
        prod_values = _production_resamples(fns, q_sample, n_resamples, rng, k)
        prod_centre = score_all(fns, q_sample.ravel())
        for name in fns:
            if points[name] is None or cal_centre[name] is None or prod_centre[name] is None:
                continue
            cal_dev[name] = math.sqrt(m_val / n_val) * (cal_values[name] - cal_centre[name])
            prod_dev[name] = math.sqrt(m_prod / n_prod) * (prod_values[name] - prod_centre[name])
    return Estimate(
        points=points,
        truth=known,
        calibration_dev=cal_dev,
        production_dev=prod_dev,
        confusion=expected_confusion(q, production.decisions, k),
        rows_production=n_prod,
        rows_validation=n_val,
        sample_production=m_prod,
        sample_validation=m_val,
        outside_share=calibration.outside(production.proba),
        n_resamples=n_resamples if cal_dev else 0,
        absent=calibration.absent(),
    )


def _subsample(rng: np.random.Generator, n: int, max_rows: int) -> np.ndarray | None:
    if n <= max_rows:
        return None
    return np.sort(rng.choice(n, size=max_rows, replace=False))


def _chunks(n_resamples: int, rows: int) -> list[tuple[int, int]]:
    size = max(1, min(n_resamples, CHUNK_ENTRIES // max(1, rows)))
    return [(s, min(s + size, n_resamples)) for s in range(0, n_resamples, size)]


def _calibration_resamples(
    fns: Mapping[str, BatchFn],
    calibration: Calibration,
    sample: Rows,
    n_resamples: int,
    rng: np.random.Generator,
    k: int,
) -> dict[str, np.ndarray]:
    """The metrics on the production sample, the calibration refitted on each resample of
    the validation rows."""
    n_val = calibration.n_rows
    calibrated = calibration.mapper(sample.proba)
    out = {name: np.empty(n_resamples) for name in fns}
    for start, stop in _chunks(n_resamples, len(sample) * k):
        w = np.empty((len(sample) * k, stop - start))
        for i in range(stop - start):
            counts = np.bincount(rng.integers(0, n_val, n_val), minlength=n_val)
            w[:, i] = calibrated(counts.astype(np.float64)).ravel()
        for name, fn in fns.items():
            out[name][start:stop] = fn(w)
    return out


def _production_resamples(
    fns: Mapping[str, BatchFn],
    q: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
    k: int,
) -> dict[str, np.ndarray]:
    """The metrics on resamples of the production rows, each row's label drawn from its
    calibrated probabilities ``q`` (a parametric bootstrap of the labels to come)."""
    m = len(q)
    cumulative = np.cumsum(q, axis=1)[:, :-1]
    out = {name: np.empty(n_resamples) for name in fns}
    for start, stop in _chunks(n_resamples, m * k):
        b = stop - start
        draws = rng.integers(0, m, size=(b, m)) * b + np.arange(b)[:, None]
        counts = np.bincount(draws.ravel(), minlength=m * b).reshape(m, b).astype(np.float64)
        u = rng.random((m, b))
        labels = np.zeros((m, b), dtype=np.int64)
        for c in range(k - 1):
            labels += u >= cumulative[:, c : c + 1]
        cube = np.zeros((m, k, b))
        cube[np.arange(m)[:, None], labels, np.arange(b)[None, :]] = counts
        w = cube.reshape(m * k, b)
        for name, fn in fns.items():
            out[name][start:stop] = fn(w)
    return out


# --------------------------------------------------------------------------- compare and decide
def _proba(ctx: Context, split: str) -> np.ndarray:
    proba = ctx.predictions(split).proba
    if proba is None:  # pragma: no cover - run() skips such predictions first
        raise ModelError(f"model.predictions.{split}: no probability columns")
    return np.asarray(proba, dtype=np.float64)


def _metric(name: str) -> Metric:
    return LOCAL.get(name) or METRICS[name]


def _test_points(
    problem: Problem,
    names: Sequence[str],
    tested: Bootstrap,
    preds: Predictions,
    y: np.ndarray,
) -> dict[str, float | None]:
    """The measured test metrics: from the shared test bootstrap, and precision and recall
    (not catalogued) from the same expanded-row scorers on test's labels."""
    points: dict[str, float | None] = {}
    local = [LOCAL[n] for n in names if n in LOCAL]
    if local:
        rows = problem.rows(preds)
        onehot = np.zeros((len(y), problem.k))
        onehot[np.arange(len(y)), y] = 1.0
        points.update(score_all(Scorers(problem, local, rows).functions(), onehot.ravel()))
    for n in names:
        if n not in LOCAL:
            points[n] = tested.point(("model", n))
    return points


def _combined(
    est: Estimate, tested: Bootstrap, test_points: Mapping[str, float | None], confidence: float
) -> Bootstrap:
    """One Bootstrap over ("estimate", metric) and ("test", metric): independent samples,
    so the replicates of their difference are the differences of independent replicates."""
    points: dict[Hashable, float | None] = {}
    replicates: dict[Hashable, np.ndarray] = {}
    for name, value in est.points.items():
        points[("estimate", name)] = value
        reps = est.replicates(name)
        if reps is not None:
            replicates[("estimate", name)] = reps
        points[("test", name)] = test_points.get(name)
        test_reps = tested.replicates.get(("model", name))
        if test_reps is not None and reps is not None and len(test_reps) == len(reps):
            replicates[("test", name)] = test_reps
    return Bootstrap(
        points=points,
        reasons={},
        replicates=replicates,
        n_rows=est.rows_production,
        sample_rows=est.sample_production,
        n_resamples=est.n_resamples,
        confidence=confidence,
    )


@dataclass(frozen=True)
class Drop:
    """Test measured minus production estimated, for the judged metric."""

    test: float | None
    estimate: float | None
    value: float | None
    low: float | None
    high: float | None
    #: One-sided upper bound of (estimate - test) at the check's share: below 0 = significant.
    bound: float | None
    #: The smallest drop these rows can establish at the share.
    detectable: float | None
    #: Variances of the drop's three sources (test, calibration, production), for the
    #: rows that would make a drop of the margin detectable.
    variances: tuple[float, float, float] | None

    @classmethod
    def of(
        cls,
        boot: Bootstrap,
        metric: Metric,
        share: float,
        variances: tuple[float, float, float] | None,
    ) -> Drop:
        est, test = ("estimate", metric.name), ("test", metric.name)
        point, low, high = boot.advantage(metric, est, test)
        bound = boot.advantage_bound(metric, est, test, "upper", share)
        return cls(
            test=boot.point(test),
            estimate=boot.point(est),
            value=None if point is None else -point,
            low=None if high is None else -high,
            high=None if low is None else -low,
            bound=bound,
            detectable=boot.detectable(metric, est, test, share),
            variances=variances,
        )


def _variances(est: Estimate, boot: Bootstrap, name: str) -> tuple[float, float, float] | None:
    """Variances of the drop's sources: test, calibration, production rows and labels."""
    test = boot.replicates.get(("test", name))
    if test is None or name not in est.calibration_dev:
        return None
    return (
        float(np.nanvar(test)),
        float(np.nanvar(est.calibration_dev[name])),
        float(np.nanvar(est.production_dev[name])),
    )


#: Why the check got its status.
Reason = Literal["labelled", "undefined", "held", "dropped", "unconfirmed", "no-interval"]


def decide(drop: Drop, margin: float, labelled: bool) -> tuple[Status, Reason]:
    """Labels in production: pass (the truth is measured, the estimate is not judged). No
    estimate: pass. A drop within ``margin``: pass. Over it: fail when significant at the
    share (the upper bound of estimate - test below 0), warn when not or without interval."""
    if labelled:
        return "pass", "labelled"
    if drop.value is None:
        return "pass", "undefined"
    if drop.value <= margin:
        return "pass", "held"
    if drop.bound is None:
        return "warn", "no-interval"
    if drop.bound < 0:
        return "fail", "dropped"
    return "warn", "unconfirmed"


def production_rows_needed(drop: Drop, margin: float, n_prod: int) -> int | None:
    """More production rows that would make a drop of ``margin`` detectable, when only the
    production term of the drop's variance shrinks with them (test and calibration stay);
    None when no number of production rows would."""
    if drop.detectable is None or drop.variances is None or margin <= 0:
        return None
    v_test, v_cal, v_prod = drop.variances
    total = v_test + v_cal + v_prod
    if total <= 0 or drop.detectable <= 0:
        return None
    z = drop.detectable / math.sqrt(total)
    room = (margin / z) ** 2 - v_test - v_cal
    if room <= 0 or v_prod <= 0:
        return None
    return max(0, math.ceil(n_prod * v_prod / room) - n_prod)


# --------------------------------------------------------------------------- explain
@dataclass(frozen=True)
class Findings:
    """Everything the explanation needs."""

    problem: Problem
    names: list[str]
    judged: Metric
    est: Estimate
    test_points: dict[str, float | None]
    boot: Bootstrap
    drop: Drop
    margin: float
    share: float
    note: str
    params: PerformanceEstimate.Params

    @property
    def labelled(self) -> bool:
        return self.est.truth is not None


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _underpowered(f: Findings) -> str:
    drop = f.drop
    if drop.detectable is None or drop.detectable <= f.margin:
        return ""
    return underpowered_note(
        f.est.rows_production,
        "production rows",
        f"a drop of {drop.detectable:.3g} {f.judged.name}",
        production_rows_needed(drop, f.margin, f.est.rows_production),
        f"{f.margin:.3g}",
    )


def _message(f: Findings, reason: Reason) -> tuple[str, list[str]]:
    m, drop = f.judged, f.drop
    low, high = f.boot.ci(("estimate", m.name))
    level = fmt_level(f.params.confidence)
    described = (
        f"estimated production {m.title} {fmt(drop.estimate, m)} ({level} interval "
        f"{fmt_ci(low, high, m)}) against {fmt(drop.test, m)} measured on test"
    )
    basis = (
        f"CBPE on {f.est.rows_production:,} production rows from probabilities calibrated "
        f"on {f.est.rows_validation:,} validation rows (isotonic)"
    )
    if reason == "labelled":
        truth = (f.est.truth or {}).get(m.name)
        where = _truth_vs_interval(truth, low, high, level)
        text = (
            f"production has labels: {m.title} measured {fmt(truth, m)} on production, "
            f"{described}; the truth is {where}. The check does not judge an estimate when "
            f"the measured metric is there"
        )
        return _join(text, basis, f.note), []
    if reason == "undefined":
        return _join(f"{m.title} cannot be estimated on production", basis, f.note), []
    size = (
        f"estimated drop {fmt(drop.value, m)} (interval {fmt_ci(drop.low, drop.high, m)})"
        f" against max_drop {f.margin:.3g}"
    )
    if reason == "dropped":
        text = (
            f"{described}: {size}, significant at the false-alarm share {f.share:.3g} "
            f"(one-sided bound of the estimate minus test {fmt(drop.bound)} < 0)"
        )
        return _join(text, basis, f.note), [m.name]
    if reason == "unconfirmed":
        text = f"{described}: {size}, but not significant at the false-alarm share {f.share:.3g}"
        return _join(text, _underpowered(f), basis, f.note), ["underpowered"]
    if reason == "no-interval":
        text = f"{described}: {size}, and no interval to tell it from chance"
        return _join(text, basis, f.note), ["no-interval"]
    text = f"{described}: {size}, no drop beyond it"
    return _join(text, _underpowered(f), basis, f.note), []


def _truth_vs_interval(
    truth: float | None, low: float | None, high: float | None, level: str
) -> str:
    """Where the measured production metric lies against the estimate's interval."""
    if truth is None or low is None or high is None:
        return "not comparable with an interval (none was computed)"
    if low <= truth <= high:
        return "within the estimate's interval"
    return (
        f"outside the estimate's {level} interval: P(y | score) may differ between validation "
        "and production (concept shift), and estimates for unlabelled batches would be off too"
    )


def _remedy(reason: Reason) -> str | None:
    """The remedy for a warning; None (the docstring's *How to fix*) for a fail."""
    if reason == "dropped":
        return None
    if reason in ("unconfirmed", "no-interval"):
        return (
            "Gather more production rows (or a larger validation split to calibrate on) "
            "before trusting or dismissing the estimated drop, or label a sample of "
            "production rows and measure it."
        )
    return ""


def _metric_values(f: Findings) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for name in f.names:
        low, high = f.boot.ci(("estimate", name))
        values[f"{name}_test"] = f.test_points.get(name)
        values[f"{name}_estimated"] = f.est.points.get(name)
        values[f"{name}_estimated_ci_low"] = low
        values[f"{name}_estimated_ci_high"] = high
        if f.est.truth is not None:
            values[f"{name}_production"] = f.est.truth.get(name)
    drop = f.drop
    values.update(
        {
            "estimated_drop": drop.value,
            "estimated_drop_ci_low": drop.low,
            "estimated_drop_ci_high": drop.high,
            "estimate_minus_test_bound_at_share": drop.bound,
            "detectable_drop": drop.detectable,
            "rows_production": f.est.rows_production,
            "rows_validation": f.est.rows_validation,
            "production_outside_validation_scores": f.est.outside_share,
            "bootstrap_resamples": f.est.n_resamples,
        }
    )
    return values


def _metrics_table(f: Findings) -> Evidence:
    columns = [
        "metric",
        "test measured",
        "test CI low",
        "test CI high",
        "production estimated",
        "estimate CI low",
        "estimate CI high",
    ]
    if f.labelled:
        columns.append("production true")
    rows = []
    for name in f.names:
        test_low, test_high = f.boot.ci(("test", name))
        est_low, est_high = f.boot.ci(("estimate", name))
        title = _metric(name).title + (" (judged)" if name == f.judged.name else "")
        row = [
            title,
            f.test_points.get(name),
            test_low,
            test_high,
            f.est.points.get(name),
            est_low,
            est_high,
        ]
        if f.est.truth is not None:
            row.append(f.est.truth.get(name))
        rows.append(row)
    return table(
        "Test measured, production estimated"
        + (" and measured" if f.labelled else "")
        + f" ({f.est.rows_production:,} production rows)",
        columns,
        rows,
        note=_join(_interval_note(f), _threshold_note(f), f.note),
    )


def _interval_note(f: Findings) -> str:
    e = f.est
    if not e.n_resamples:
        return "no intervals (n_bootstrap below 20)"
    level = fmt_level(f.params.confidence)
    text = (
        f"{level} intervals from {e.n_resamples:,} resamples; the estimate's adds the "
        "calibration refitted on resampled validation rows, resampled production rows, and "
        "their labels drawn from the calibrated probabilities"
    )
    for split, n, m in (
        ("production", e.rows_production, e.sample_production),
        ("validation", e.rows_validation, e.sample_validation),
    ):
        if m < n:
            text += (
                f"; {split} resampled on a seeded {m:,}-row subsample of its {n:,} rows, "
                f"spread rescaled by sqrt({m:,}/{n:,})"
            )
    if e.absent:
        text += (
            f"; class(es) {', '.join(repr(c) for c in e.absent)} never (or always) occur in "
            "validation: the calibration cannot tell their probability"
        )
    if e.outside_share > 0:
        text += (
            f"; {e.outside_share:.1%} of production rows score outside the validation range "
            "(the calibration is extrapolated flat there)"
        )
    return text


def _threshold_note(f: Findings) -> str:
    if f.problem.binary:
        return (
            f"decisions at the operating threshold {f.problem.threshold:g} on "
            f"P({f.problem.classes[f.problem.positive]})"
        )
    return "decisions from the prediction column"


def _confusion_table(f: Findings) -> Evidence:
    classes = f.problem.classes
    matrix = f.est.confusion
    rows = [
        [name, *(float(v) for v in matrix[i]), float(matrix[i].sum())]
        for i, name in enumerate(classes)
    ]
    return table(
        "Expected confusion matrix on production (rows: true class, estimated)",
        ["true \\ predicted", *classes, "expected rows"],
        rows,
        note="expected counts: each production row spreads over the true classes by its "
        "calibrated probabilities",
        max_rows=100,
    )


def _chart(f: Findings) -> Chart:
    series: dict[str, list[float | None]] = {
        "test measured": [f.test_points.get(n) for n in f.names],
        "production estimated": [f.est.points.get(n) for n in f.names],
    }
    if f.est.truth is not None:
        series["production measured"] = [f.est.truth.get(n) for n in f.names]
    return Chart(
        "bars",
        "Test measured vs production estimated",
        {"labels": [_metric(n).title for n in f.names], "series": series, "threshold": None},
    )
