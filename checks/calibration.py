"""Do the model's probabilities mean what they say? Expected calibration error on test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.context import Context

#: Fewest draws of the perfectly-calibrated reference used to size the ECE's sampling noise.
NULL_DRAWS = 1000
#: Draws expected beyond the decision quantile: about this many / level draws in all, so the
#: (1 - level) quantile rests on some 20 draws of the tail, not on the largest one.
NULL_TAIL_DRAWS = 20
#: At most this many draws (a tiny share would otherwise ask for millions; 100,000 draws of
#: 15 bins take a few milliseconds and resolve a level of 0.0002).
MAX_NULL_DRAWS = 100_000
#: The reported noise percentile (metric ece_noise_q95), a report contract: the decision uses
#: the (1 - share) quantile instead (metric ece_noise_bar).
NULL_QUANTILE = 0.95


def null_draws(level: float) -> int:
    """Draws of the calibrated reference that resolve its (1 - ``level``) quantile."""
    return int(min(MAX_NULL_DRAWS, max(NULL_DRAWS, math.ceil(NULL_TAIL_DRAWS / level))))


@dataclass(frozen=True)
class Reliability:
    """Per-bin sums of a reliability diagram (empty bins dropped)."""

    rows: np.ndarray  # rows per bin
    mean_score: np.ndarray  # mean predicted probability (confidence) per bin
    observed: np.ndarray  # observed frequency (accuracy) per bin
    low: np.ndarray  # lower bin edge
    high: np.ndarray  # upper bin edge

    @property
    def ece(self) -> float:
        n = self.rows.sum()
        return float(np.sum(self.rows * np.abs(self.observed - self.mean_score)) / n)


def reliability(score: np.ndarray, outcome: np.ndarray, n_bins: int, binning: str) -> Reliability:
    """Bin rows by ``score`` (equal width on [0, 1] or equal mass) and sum each bin.

    Linear in rows: ``bincount`` sums, and quantile edges for equal-mass bins.
    """
    if binning == "mass":
        # Quantile edges (a linear-time partition, no full sort); equal scores share a bin,
        # so ties (e.g. many rows at exactly 1.0) may leave some bins empty.
        edges = np.quantile(score, np.linspace(0.0, 1.0, n_bins + 1))
        bins = np.searchsorted(edges[1:-1], score, side="right")
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        bins = np.minimum((score * n_bins).astype(np.int64), n_bins - 1)
    low_all, high_all = edges[:-1], edges[1:]
    rows = np.bincount(bins, minlength=n_bins)
    sum_score = np.bincount(bins, weights=score, minlength=n_bins)
    sum_outcome = np.bincount(bins, weights=outcome.astype(float), minlength=n_bins)
    keep = rows > 0
    return Reliability(
        rows=rows[keep],
        mean_score=sum_score[keep] / rows[keep],
        observed=sum_outcome[keep] / rows[keep],
        low=low_all[keep],
        high=high_all[keep],
    )


def null_ece(rel: Reliability, rng: np.random.Generator, draws: int = NULL_DRAWS) -> np.ndarray:
    """ECE of a perfectly calibrated model with the same bins, ``draws`` times.

    Each bin's outcomes are drawn as Binomial(rows, mean score). The exact reference is a
    Poisson-binomial with a smaller variance, so this slightly overstates the noise: the check
    errs towards staying quiet.
    """
    n = rel.rows.sum()
    hits = rng.binomial(rel.rows, rel.mean_score, size=(draws, len(rel.rows)))
    return np.abs(hits - rel.rows * rel.mean_score).sum(axis=1) / n


#: Why the ECE got its status: over the bar and the noise, over the bar only, or under the bar.
Reason = Literal["miscalibrated", "within-noise", "calibrated"]


def decide(ece: float, noise_bar: float, max_ece: float) -> tuple[Status, Reason]:
    """Status and reason: flagged only when the ECE is over the bar *and* over ``noise_bar``,
    the (1 - share) quantile of a perfectly calibrated model's ECE on the same bins."""
    if ece > max_ece and ece > noise_bar:
        return "fail", "miscalibrated"
    if ece > max_ece:
        return "pass", "within-noise"
    return "pass", "calibrated"


class Calibration(Check):
    """Predicted probabilities match observed frequencies on the test split.

    What it checks
    --------------
    The expected calibration error (ECE) of the test predictions: rows are binned by predicted
    probability (``n_bins`` bins, equal width or equal mass per ``binning``), and the ECE is
    the row-weighted mean gap between each bin's mean probability and the observed frequency in
    it. Binary tasks use the probability of the positive class against the positive rate;
    multiclass tasks the top-label confidence (largest probability) against the accuracy of
    the top-label (argmax) prediction. The Brier score and a reliability diagram are reported.

    Why it matters
    --------------
    A score used as a probability (for a risk threshold, an expected cost, a ranking mixed with
    other signals) must mean what it says: among rows given 0.9, about nine in ten should be
    right. Overconfident models (common for boosted trees and deep nets) make every decision
    built on the probability wrong, even with a good accuracy.

    How it decides
    --------------
    Flags the model when the ECE exceeds ``max_ece`` (default 0.1) and also exceeds what a
    perfectly calibrated model would show by chance on this many rows: the ECE is biased up on
    small test sets (about 0.05 on 200 rows from noise alone), so the check draws perfectly
    calibrated outcome sets for the same bins (seeded) and requires the measured ECE to be
    above their (1 - share) quantile, where the share is the check's part of the gate's
    false-alarm budget ([run] false_alarm_rate; the whole rate when it runs alone or at
    severity warning, e.g. the 98th percentile at the default 0.02). That is its one testing
    fail rule. It draws about 20 / share outcome sets (at least 1,000, at most 100,000) so
    the quantile rests on some 20 draws beyond it. The raw ECE, the noise mean, its 95th
    percentile (metric ece_noise_q95) and the quantile used (ece_noise_bar) are reported.
    The default severity is ``warning``: a miscalibrated model is reported, and does not
    block the gate (nor draw on its budget), unless the check's severity is set to ``error``
    in the config. Predictions without probability columns are skipped.

    How to fix
    ----------
    Recalibrate on held-out data (validation, never test): temperature scaling for neural nets,
    Platt scaling (sigmoid) or isotonic regression otherwise (scikit-learn's
    CalibratedClassifierCV). If the model is overconfident because it overfits, regularise it.
    Do not use the raw scores as probabilities until the ECE is under the bar.
    """

    id = "calibration"
    title = "Probabilities are calibrated"
    requires = ("test", "labels", "predictions")
    severity = "warning"
    tasks = ("binary", "multiclass")
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        max_ece: float = param(
            0.1, "Expected calibration error above which the check flags.", ge=0.0, le=1.0
        )
        n_bins: int = param(15, "Number of probability bins.", ge=2, le=1000)
        binning: Literal["width", "mass"] = param(
            "width", "Bins of equal width on [0, 1], or of equal row count (equal mass)."
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        if not ctx.has_labels("test"):
            return self.skip(f"the test split has no target column {ctx.target!r}")
        if not ctx.has_predictions("test"):
            return self.skip("needs model predictions for the test split")
        y = ctx.labels("test")
        if len(y) == 0:
            return self.skip("the test split is empty")
        proba = ctx.predictions("test").proba
        if proba is None:
            return self.skip(
                "the test predictions have no probability columns (proba_<label>); "
                "calibration needs probabilities"
            )
        binary = ctx.task == "binary"
        # measure
        score, outcome, overconfidence = self._scores(ctx, proba, y, binary)
        rel = reliability(score, outcome, params.n_bins, params.binning)
        level = ctx.false_alarm_share(self.id)
        draws = null_draws(level)
        noise = null_ece(rel, np.random.default_rng(ctx.seed), draws)
        noise_mean, noise_q = float(noise.mean()), float(np.quantile(noise, NULL_QUANTILE))
        noise_bar = float(np.quantile(noise, 1.0 - level))
        metrics = {
            "ece": rel.ece,
            "ece_noise_mean": noise_mean,
            f"ece_noise_q{round(NULL_QUANTILE * 100)}": noise_q,
            "ece_noise_bar": noise_bar,
            "null_draws": draws,
            "excess_ece": rel.ece - noise_mean,
            "brier": self._brier(proba, y, ctx.positive_index if binary else None),
            "overconfidence": overconfidence,
            "test_rows": len(y),
        }
        # decide
        status, reason = decide(rel.ece, noise_bar, params.max_ece)
        # explain
        return self._explain(ctx, params, rel, metrics, status, reason)

    def _explain(
        self,
        ctx: Context,
        params: Params,
        rel: Reliability,
        metrics: dict[str, float],
        status: Status,
        reason: Reason,
    ) -> CheckResult:
        axes = _axes(ctx)
        quantile = 1.0 - ctx.false_alarm_share(self.id)
        summary = _summary(rel, axes, metrics, params.max_ece, quantile)
        message, subjects = _message(reason, summary, metrics)
        return self.result(
            status,
            message,
            metrics=metrics,
            thresholds={
                "max_ece": params.max_ece,
                "n_bins": params.n_bins,
                "null_quantile": quantile,
            },
            evidence=[_bins_table(rel, axes)],
            charts=[_reliability_chart(rel, axes, params.binning)],
            subjects=subjects,
        )

    @staticmethod
    def _scores(
        ctx: Context, proba: np.ndarray, y: np.ndarray, binary: bool
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The score to bin, the outcome it predicts, and the mean overconfidence."""
        if binary:
            p = proba[:, ctx.positive_index]
            hit = y == ctx.positive_index
            # (p - y) signed towards the side p leans to: > 0 when predictions are too extreme.
            over = float(np.mean((p - hit) * np.sign(p - 0.5)))
            return p, hit, over
        top = proba.argmax(axis=1)
        conf = proba.max(axis=1)
        hit = top == y
        return conf, hit, float(np.mean(conf - hit))

    @staticmethod
    def _brier(proba: np.ndarray, y: np.ndarray, positive: int | None) -> float:
        if positive is not None:
            return float(np.mean((proba[:, positive] - (y == positive)) ** 2))
        truth = proba[np.arange(len(y)), y]
        return float(np.mean(np.einsum("ij,ij->i", proba, proba) - 2 * truth + 1))


# --------------------------------------------------------------------------- explain
@dataclass(frozen=True)
class Axes:
    """What is binned and how the reliability diagram and the bins table name it."""

    what: str
    x_label: str
    y_label: str
    series: str


def _axes(ctx: Context) -> Axes:
    """Binary: the positive class's probability against its frequency; multiclass: the
    top-label confidence against its accuracy."""
    if ctx.task == "binary":
        return Axes(
            "positive-class probability",
            f"predicted P({ctx.class_names[ctx.positive_index]})",
            "observed frequency",
            "observed frequency",
        )
    return Axes("top-label confidence", "confidence", "accuracy", "observed accuracy")


def _reliability_chart(rel: Reliability, axes: Axes, binning: str) -> Chart:
    return Chart(
        "lines",
        f"Reliability diagram ({axes.what}, {binning} bins)",
        {
            "x": rel.mean_score.tolist(),
            "series": {axes.series: rel.observed.tolist(), "perfect": rel.mean_score.tolist()},
            "x_label": axes.x_label,
            "y_label": axes.y_label,
        },
    )


def _bins_table(rel: Reliability, axes: Axes) -> Evidence:
    """Each non-empty bin: its edges, rows, mean prediction, observed value and gap."""
    rows = [
        (
            i + 1,
            float(rel.low[i]),
            float(rel.high[i]),
            int(rel.rows[i]),
            float(rel.mean_score[i]),
            float(rel.observed[i]),
            float(rel.mean_score[i] - rel.observed[i]),
        )
        for i in range(len(rel.rows))
    ]
    return table(
        f"Reliability bins ({axes.what})",
        ["bin", "from", "to", "rows", "mean predicted", axes.y_label, "gap"],
        rows,
        note="gap = mean predicted - observed; positive means overconfident",
        max_rows=1000,
    )


def _percentile(quantile: float) -> str:
    """0.98 -> "98th", 0.999 -> "99.9th", 0.5 -> "50th"."""
    return f"{round(quantile * 100, 4):g}th"


def _summary(
    rel: Reliability, axes: Axes, metrics: dict[str, float], max_ece: float, quantile: float
) -> str:
    """The ECE beside its bar, the noise a calibrated model would show, and the Brier score."""
    return (
        f"ECE {rel.ece:.3f} of the {axes.what} (bar {max_ece:.2f}; a perfectly "
        f"calibrated model would show {metrics['ece_noise_mean']:.3f}, "
        f"{_percentile(quantile)} percentile {metrics['ece_noise_bar']:.3f} at the "
        f"false-alarm share {1 - quantile:.2g}, on {metrics['test_rows']:,} rows); "
        f"Brier {metrics['brier']:.3f}"
    )


def _message(reason: Reason, summary: str, metrics: dict[str, float]) -> tuple[str, list[str]]:
    """The message for the reason, and the direction of a miscalibration as its subject."""
    if reason == "miscalibrated":
        direction = "overconfident" if metrics["overconfidence"] > 0 else "underconfident"
        return f"probabilities are miscalibrated ({direction}): {summary}", [direction]
    if reason == "within-noise":
        return f"ECE over the bar but within sampling noise for this test size: {summary}", []
    return f"probabilities are calibrated: {summary}", []
