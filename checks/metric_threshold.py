"""Does the model meet the success bar declared in advance, on the test split?"""

from __future__ import annotations

from dataclasses import dataclass

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.context import Context
from qa.metrics import (
    Bootstrap,
    EvaluationParams,
    Metric,
    choose_metric,
    evaluate,
    fmt,
    fmt_ci,
    reported_metrics,
    settings_of,
)

SPLIT = "test"


class MetricThreshold(Check):
    """The primary metric on the test split against the bar you declared before training.

    What it checks
    --------------
    The primary metric of the model's test predictions (``metric``; by default AUC-ROC for a
    binary task, macro-F1 for a multiclass one, RMSE for regression) against its bar
    (``threshold``), with a bootstrap confidence interval. The usual companions are reported
    beside it: PR-AUC (average precision), F1 at the decision threshold and accuracy (binary);
    accuracy and weighted F1 (multiclass); MAE, RMSE and R² (regression).

    Why it matters
    --------------
    A success criterion fixed before looking at the test set is what keeps an evaluation
    honest: it turns "the number looks fine" into a yes or no that a reviewer can hold the
    model to. The interval shows whether the test set is large enough to tell.

    How it decides
    --------------
    The bar is ``threshold``: a minimum for scores (AUC, F1, accuracy, R²), a maximum for errors
    (RMSE, MAE). Without it, AUC-ROC is held to 0.7 and macro-F1 to 0.6; the other metrics have
    no bar that holds across problems (PR-AUC and F1 depend on the class balance, RMSE and MAE on
    the target's units), so the check warns "no bar declared" instead of passing silently.
    Fails when the point estimate is on the wrong side of the bar; warns when it clears the bar
    but the one-sided ``confidence`` bound on the bar's side does not (``warn_when_uncertain``;
    the lower bound for scores, the upper one for errors — the ends of the two-sided
    ``2 · confidence − 1`` interval, since "does it meet the bar?" is a one-directional
    question); passes otherwise.
    Skips when the metric is undefined on the test split (e.g. AUC with a single class).

    How to fix
    ----------
    Improve the model where the evidence says it is weak (see per-class-recall and
    confusion-clusters), gather more or cleaner training data, or revisit the bar with the
    people who set it; never tune on the test split to clear it. When the interval is too wide,
    a larger test set is the fix.
    """

    id = "metric-threshold"
    title = "Primary metric meets its bar"
    requires = ("test", "predictions")
    severity = "error"

    @dataclass(frozen=True)
    class Params(EvaluationParams):
        threshold: float | None = param(
            None,
            "The bar for the primary metric: a minimum for scores, a maximum for errors "
            "(default 0.7 for roc_auc, 0.6 for macro_f1, none for the others).",
        )
        warn_when_uncertain: bool = param(
            True,
            "Warn when the point estimate clears the bar but its interval reaches across.",
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        if not ctx.has_predictions(SPLIT):
            return self.skip("needs model predictions for the test split")
        preds = ctx.predictions(SPLIT)
        primary, note = choose_metric(ctx, params.metric, f"checks.{self.id}.metric", [preds])
        metrics = [
            m
            for m in reported_metrics(ctx.task, primary)
            if not (m.needs_proba and preds.proba is None)
        ]
        boot = evaluate(ctx, SPLIT, {"model": preds}, metrics, settings_of(params))
        point = boot.point(("model", primary.name))
        if point is None:
            reason = boot.reasons.get(("model", primary.name), "undefined")
            return self.skip(f"{primary.title} cannot be computed on the test split: {reason}")
        bar = params.threshold if params.threshold is not None else primary.default_bar
        # "Does it meet the bar?" is one-directional: the one-sided bound on the bar's side
        # (the end of the two-sided 2·confidence − 1 interval) decides, not the 95 % interval's
        # end, which would ask for 97.5 % confidence and warn on small splits needlessly.
        side = "upper" if primary.relative else "lower"
        crossing = boot.bound(("model", primary.name), side)
        status = decide(primary, point, bar, crossing, params.warn_when_uncertain)
        return self._explain(primary, metrics, boot, note, bar, side, crossing, status, params)

    def _explain(
        self,
        primary: Metric,
        metrics: list[Metric],
        boot: Bootstrap,
        note: str,
        bar: float | None,
        side: str,
        crossing: float | None,
        status: Status,
        params: Params,
    ) -> CheckResult:
        point = boot.point(("model", primary.name))
        low, high = boot.ci(("model", primary.name))
        estimates = _estimates(metrics, boot)
        described = (
            f"{primary.title} {fmt(point, primary)} ({params.confidence:.0%} CI "
            f"{fmt_ci(low, high, primary)})"
        )
        wording = self._wording(status, primary, described, bar, side, crossing, params, note)
        return self.result(
            status,
            wording.message,
            metrics=_metric_values(primary, estimates, boot, bar, side, crossing),
            thresholds=_thresholds(primary, bar, params.confidence),
            evidence=[_metrics_table(primary, estimates, boot, note, bar)],
            charts=[_chart(primary, point, low, high, bar)],  # type: ignore[arg-type]
            subjects=wording.subjects,
            remedy=wording.remedy,
        )

    def _wording(
        self,
        status: Status,
        primary: Metric,
        described: str,
        bar: float | None,
        side: str,
        crossing: float | None,
        params: Params,
        note: str,
    ) -> Wording:
        """The message, subjects and remedy: no bar declared, fail, warn or pass."""
        suffix = f"; {note}" if note else ""
        if bar is None:
            return Wording(
                f"{described} on the test split, but no bar is declared for {primary.name}: set "
                f"checks.{self.id}.threshold to the value agreed before training{suffix}",
                [primary.name],
                _declare_bar_remedy(self.id, primary),
            )
        if status == "fail":
            relation = "above the maximum" if primary.relative else "below the minimum"
            text = f"{described} is {relation} of {fmt(bar, primary)}{suffix}"
            return Wording(text, [primary.name])
        if status == "warn":
            return Wording(
                f"{described} clears the bar {fmt(bar, primary)}, but its one-sided "
                f"{params.confidence:.0%} {side} bound {fmt(crossing, primary)} does not: the "
                f"test split cannot confirm the model meets it{suffix}",
                [primary.name],
                UNCERTAIN_REMEDY,
            )
        at = "at most" if primary.relative else "at least"
        return Wording(f"{described} meets the bar ({at} {fmt(bar, primary)}){suffix}", [])


def decide(
    metric: Metric,
    point: float,
    bar: float | None,
    bound: float | None,
    warn_when_uncertain: bool,
) -> Status:
    """No bar: warn. Point on the wrong side: fail. The one-sided bound on the bar's side
    across it (``warn_when_uncertain``): warn. Else pass."""
    if bar is None:
        return "warn"
    if not _meets(metric, point, bar):
        return "fail"
    if warn_when_uncertain and bound is not None and not _meets(metric, bound, bar):
        return "warn"
    return "pass"


def _meets(metric: Metric, value: float, bar: float) -> bool:
    return value <= bar if metric.relative else value >= bar


def _bar_name(metric: Metric) -> str:
    return f"{'max' if metric.relative else 'min'}_{metric.name}"


# --------------------------------------------------------------------------- explain
UNCERTAIN_REMEDY = (
    "Evaluate on a larger test split to narrow the interval, or improve the "
    "model so it clears the bar with room to spare."
)

#: One reported metric on test: the metric, its point estimate and its interval.
Estimate = tuple[Metric, float | None, float | None, float | None]


@dataclass(frozen=True)
class Wording:
    """What the result says: the message, the metric at fault, and a remedy (None: the
    docstring's *How to fix*)."""

    message: str
    subjects: list[str]
    remedy: str | None = None


def _declare_bar_remedy(check_id: str, metric: Metric) -> str:
    return (
        f"Declare the success bar in qa.toml, e.g. [checks.{check_id}] "
        f"threshold = <the {'maximum' if metric.relative else 'minimum'} "
        f"acceptable {metric.name}>, agreed before looking at the test split."
    )


def _estimates(metrics: list[Metric], boot: Bootstrap) -> list[Estimate]:
    """Each reported metric's point estimate and interval on test."""
    estimates = []
    for m in metrics:
        value = boot.point(("model", m.name))
        low, high = boot.ci(("model", m.name))
        estimates.append((m, value, low, high))
    return estimates


def _metric_values(
    primary: Metric,
    estimates: list[Estimate],
    boot: Bootstrap,
    bar: float | None,
    side: str,
    crossing: float | None,
) -> dict[str, float | None]:
    """Every metric with its interval, the bootstrap's sizes, and the primary metric's bound
    on the bar's side when the point estimate meets the bar."""
    values: dict[str, float | None] = {}
    for m, value, low, high in estimates:
        values.update({m.name: value, f"{m.name}_ci_low": low, f"{m.name}_ci_high": high})
    values.update(
        {
            "rows_test": boot.n_rows,
            "bootstrap_resamples": boot.n_resamples,
            "bootstrap_rows": boot.sample_rows,
        }
    )
    point = boot.point(("model", primary.name))
    if bar is not None and _meets(primary, point, bar):  # type: ignore[arg-type]
        values[f"{primary.name}_{side}_bound"] = crossing
    return values


def _thresholds(primary: Metric, bar: float | None, confidence: float) -> dict[str, float | None]:
    thresholds: dict[str, float | None] = {"confidence": confidence}
    if bar is not None:
        thresholds[_bar_name(primary)] = bar
    return thresholds


def _metrics_table(
    primary: Metric, estimates: list[Estimate], boot: Bootstrap, note: str, bar: float | None
) -> Evidence:
    """Every metric with its interval (the bar beside the primary one), and how they were
    obtained."""
    rows = [
        (m.title, value, low, high, bar if m is primary else None)
        for m, value, low, high in estimates
    ]
    # evaluate() keys are (model name, metric name); name the metric alone.
    notes = [boot.note()] + [
        f"{k[1] if isinstance(k, tuple) else k}: {r}" for k, r in boot.reasons.items()
    ]
    if note:
        notes.insert(0, note)
    return table(
        f"Test metrics ({boot.n_rows:,} rows)",
        ["metric", "value", "CI low", "CI high", "bar"],
        rows,
        note="; ".join(notes),
    )


def _chart(
    metric: Metric, point: float, low: float | None, high: float | None, bar: float | None
) -> Chart:
    labels = ["CI low", "estimate", "CI high"] if low is not None else ["estimate"]
    values = [low, point, high] if low is not None else [point]
    return Chart(
        "bars",
        f"Test {metric.title} against its bar",
        {"labels": labels, "series": {metric.name: values}, "threshold": bar},
    )
