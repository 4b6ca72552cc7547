"""Does the model meet the success bar declared in advance, on the test split?"""

from __future__ import annotations

from dataclasses import dataclass

from qa.base import Chart, Check, CheckResult, Status, param, table
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
        values: dict[str, float | None] = {}
        rows = []
        for m in metrics:
            value = boot.point(("model", m.name))
            m_low, m_high = boot.ci(("model", m.name))
            values.update({m.name: value, f"{m.name}_ci_low": m_low, f"{m.name}_ci_high": m_high})
            rows.append((m.title, value, m_low, m_high, bar if m is primary else None))
        values.update(
            {
                "rows_test": boot.n_rows,
                "bootstrap_resamples": boot.n_resamples,
                "bootstrap_rows": boot.sample_rows,
            }
        )
        if bar is not None and _meets(primary, point, bar):  # type: ignore[arg-type]
            values[f"{primary.name}_{side}_bound"] = crossing
        # evaluate() keys are (model name, metric name); name the metric alone.
        notes = [boot.note()] + [
            f"{k[1] if isinstance(k, tuple) else k}: {r}" for k, r in boot.reasons.items()
        ]
        if note:
            notes.insert(0, note)
        evidence = [
            table(
                f"Test metrics ({boot.n_rows:,} rows)",
                ["metric", "value", "CI low", "CI high", "bar"],
                rows,
                note="; ".join(notes),
            )
        ]
        thresholds: dict[str, float | None] = {"confidence": params.confidence}
        if bar is not None:
            thresholds[_bar_name(primary)] = bar
        charts = [_chart(primary, point, low, high, bar)]  # type: ignore[arg-type]
        described = (
            f"{primary.title} {fmt(point, primary)} ({params.confidence:.0%} CI "
            f"{fmt_ci(low, high, primary)})"
        )
        suffix = f"; {note}" if note else ""
        if bar is None:
            return self.result(
                status,
                f"{described} on the test split, but no bar is declared for {primary.name}: set "
                f"checks.{self.id}.threshold to the value agreed before training{suffix}",
                metrics=values,
                thresholds=thresholds,
                evidence=evidence,
                charts=charts,
                subjects=[primary.name],
                remedy=f"Declare the success bar in qa.toml, e.g. [checks.{self.id}] "
                f"threshold = <the {'maximum' if primary.relative else 'minimum'} "
                f"acceptable {primary.name}>, agreed before looking at the test split.",
            )
        if status == "fail":
            relation = "above the maximum" if primary.relative else "below the minimum"
            return self.result(
                status,
                f"{described} is {relation} of {fmt(bar, primary)}{suffix}",
                metrics=values,
                thresholds=thresholds,
                evidence=evidence,
                charts=charts,
                subjects=[primary.name],
            )
        if status == "warn":
            return self.result(
                status,
                f"{described} clears the bar {fmt(bar, primary)}, but its one-sided "
                f"{params.confidence:.0%} {side} bound {fmt(crossing, primary)} does not: the "
                f"test split cannot confirm the model meets it{suffix}",
                metrics=values,
                thresholds=thresholds,
                evidence=evidence,
                charts=charts,
                subjects=[primary.name],
                remedy="Evaluate on a larger test split to narrow the interval, or improve the "
                "model so it clears the bar with room to spare.",
            )
        at = "at most" if primary.relative else "at least"
        return self.result(
            "pass",
            f"{described} meets the bar ({at} {fmt(bar, primary)}){suffix}",
            metrics=values,
            thresholds=thresholds,
            evidence=evidence,
            charts=charts,
        )


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
