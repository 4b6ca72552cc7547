"""Does the model beat the trivial, linear and gradient-boosted baselines on the test split?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from qa.base import Chart, Check, CheckResult, Status, param, table
from qa.budget import more_rows_needed, per_test, underpowered_note
from qa.context import Context
from qa.metrics import (
    Bootstrap,
    EvaluationParams,
    Metric,
    choose_metric,
    evaluate,
    fmt,
    fmt_ci,
    fmt_level,
    one_row_step,
    practical_margin,
    settings_of,
)
from qa.predictions import Predictions

SPLIT = "test"
MODEL = "model"
#: The model against one baseline (see :func:`_judge`); "n/a" when the baseline is undefined.
Verdict = Literal["ok", "n/a", "warn", "fail"]
TRIVIAL_NAMES = ("majority", "mean")


@dataclass(frozen=True)
class Comparison:
    """The model against one baseline on the same test rows (paired bootstrap)."""

    name: str
    score: float | None
    ci: tuple[float | None, float | None]
    advantage: float | None
    advantage_ci: tuple[float | None, float | None]
    verdict: Verdict = "ok"
    note: str = ""
    #: One-sided upper bound of the advantage at ``1 - alpha`` (the check's share of the
    #: false-alarm budget split across the baselines); None: the interval's end decides.
    bound: float | None = None
    alpha: float | None = None
    #: The smallest shortfall these rows can establish at ``alpha`` (None without intervals).
    detectable: float | None = None
    n_rows: int = 0


class BaselineBeats(Check):
    """The model beats the baselines qa-gate fits on the same train split, on the same test rows.

    What it checks
    --------------
    The primary metric (``metric``) of the model on the test split beside three reference
    baselines fitted on train by qa-gate: the trivial one (the train class prior, or the train
    mean for regression), a linear model (logistic / ridge regression) and XGBoost. Each score
    carries a bootstrap interval, and the model's *advantage* over each baseline carries a
    paired bootstrap interval (the same resampled rows for both). The advantage is the
    difference of scores, or for errors (RMSE, MAE) the relative error reduction
    (0.10 = the model's error is 10 % lower).

    Why it matters
    --------------
    A score means little without a reference point. A model that cannot beat the class prior
    has learned nothing usable; one that a logistic regression or an out-of-the-box gradient
    boosting model matches or beats is complexity you pay for (latency, maintenance, opacity)
    without a return.

    How it decides
    --------------
    Strong baselines (linear, XGBoost): fails when one is better than the model by more than
    the practical margin, significantly. The margin is the largest of ``tolerance``, the
    metric's own margin (0.01 for AUC, accuracy and F1 scores; 2 % relative for RMSE and MAE)
    and one test row's worth of the metric (its granularity: the most one row's decision can
    move the score at a perfect score, 1/n for accuracy, about 1/n for macro- and weighted F1
    with balanced classes, 1/(2 n_pos − 1) for F1; 0 for AUC and regression metrics, which
    move in much finer steps): on a 27-row test set a baseline ahead by one row is no evidence
    either way. "Significantly" is this check's one fail rule resting on a test, so it draws on
    the gate's false-alarm budget: the check's share (``thresholds.false_alarm_share``; the
    whole ``[run] false_alarm_rate`` when run alone) is split across the strong baselines, and
    the one-sided upper bound of the model's paired advantage at that level (``1 − share / 2``,
    e.g. 99 % alone; a normal bound from the replicates' spread where the level is finer than
    the resamples resolve) must be below zero. A baseline ahead by more than the margin but not
    significantly at the share warns, with both numbers, and says when the test set is too
    small to establish a lead of the margin ("underpowered: with 200 test rows only a gap of
    0.08 is detectable ..."). A lead within the margin passes: matching XGBoost on tabular
    data is a good result.

    Trivial baseline (class prior or train mean): fails when the model is clearly no better
    than it by ``min_margin`` — even the optimistic end of its advantage, the one-sided upper
    bound at its part of the share, is below ``min_margin`` (a model that learned nothing, on a
    test set large enough to show it). When the test rows cannot show that the model beats it
    by ``min_margin`` (the two-sided ``confidence`` interval's lower end is below it) but
    cannot rule it out either, the check warns and says how many more test rows would tell
    ("underpowered"); a sound model on a small test set is not failed for the size of its test
    set. The share is split across the three baselines.

    How to fix
    ----------
    If the model cannot beat the trivial baseline, check that the features reach it as in
    training (column order, preprocessing), that predictions line up with the label rows, and
    that training converged. If a simpler baseline beats it, ship the simpler model, or find
    why yours falls short (features, tuning, regularisation): if XGBoost beats your network on
    tabular data, ship XGBoost.
    """

    id = "baseline-beats"
    title = "Model beats the baselines"
    requires = ("test", "predictions")
    severity = "error"
    fail_tests = 1

    @dataclass(frozen=True)
    class Params(EvaluationParams):
        min_margin: float = param(
            0.01,
            "How far the model must beat the trivial baseline: fail when even the upper "
            "bound of its advantage at the share is below it, warn when the interval's lower "
            "end is (score units; a fraction of the error for RMSE/MAE).",
            ge=0.0,
            le=1.0,
        )
        tolerance: float = param(
            0.02,
            "How far a linear or XGBoost baseline may lead before it counts against the "
            "model (score units; a fraction of the error for RMSE/MAE); never below the "
            "metric's own practical margin (0.01 for scores, 2 % for RMSE/MAE).",
            ge=0.0,
            le=1.0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        if not ctx.has_predictions(SPLIT):
            return self.skip("needs model predictions for the test split")
        preds = ctx.predictions(SPLIT)
        baselines = {
            name: b.predictions[SPLIT]
            for name, b in ctx.baselines().items()
            if SPLIT in b.predictions
        }
        notes = {name: b.note for name, b in ctx.baselines().items() if b.note}
        if not baselines:
            return self.skip("no baseline could predict the test split")
        metric, fallback = choose_metric(ctx, params.metric, f"checks.{self.id}.metric", [preds])
        models: dict[str, Predictions] = {MODEL: preds}
        models.update({f"baseline:{name}": p for name, p in baselines.items()})
        boot = evaluate(ctx, SPLIT, models, [metric], settings_of(params))
        if boot.point((MODEL, metric.name)) is None:
            reason = boot.reasons.get((MODEL, metric.name), "undefined")
            return self.skip(f"{metric.title} cannot be computed on the test split: {reason}")
        trivial = next((n for n in baselines if n in TRIVIAL_NAMES), next(iter(baselines)))
        step = _step(ctx, metric)
        # Each baseline is tested (the trivial one for "clearly no better", the strong ones for
        # "clearly better than the model"): split the share across them.
        alpha = per_test(ctx.false_alarm_share(self.id), len(baselines))
        comparisons = [
            _judge(
                _compare(boot, metric, name, alpha),
                name == trivial,
                metric,
                params,
                step,
            )
            for name in baselines
        ]
        return self._verdict(ctx, metric, boot, comparisons, trivial, notes, fallback, params, step)

    # ------------------------------------------------------------------ verdict
    def _verdict(
        self,
        ctx: Context,
        metric: Metric,
        boot: Bootstrap,
        comparisons: list[Comparison],
        trivial: str,
        notes: Mapping[str, str],
        fallback: str,
        params: Params,
        step: float,
    ) -> CheckResult:
        status = decide([c.verdict for c in comparisons])
        # name the baselines behind the worst verdict
        faults = [c for c in comparisons if c.verdict == status] if status != "pass" else []
        model_ci = boot.ci((MODEL, metric.name))
        unit = "relative error reduction" if metric.relative else f"{metric.name} difference"
        described = _describe_model(metric, boot, params.confidence)
        if faults:
            message = f"{described}; " + "; ".join(c.note for c in faults)
        else:
            message = _pass_message(described, metric, comparisons, trivial, params, unit)
        return self.result(
            status,
            message + (f" ({fallback})" if fallback else ""),
            subjects=[c.name for c in faults],
            remedy=_remedy(faults, trivial, metric),
            metrics={**_metrics(metric, boot, comparisons), "one_row_step": step},
            thresholds=_thresholds(params, metric, step, alpha_of(comparisons)),
            evidence=[_evidence(metric, boot, model_ci, comparisons, notes, fallback, unit)],
            charts=[_chart(metric, boot.point((MODEL, metric.name)), comparisons)],
        )


def _describe_model(metric: Metric, boot: Bootstrap, confidence: float) -> str:
    """The model's score and its interval, as the message opens."""
    return (
        f"the model's {metric.title} is {fmt(boot.point((MODEL, metric.name)), metric)} "
        f"({fmt_level(confidence)} CI {fmt_ci(*boot.ci((MODEL, metric.name)), metric)})"
    )


def _pass_message(
    described: str,
    metric: Metric,
    comparisons: list[Comparison],
    trivial: str,
    params: Any,
    unit: str,
) -> str:
    """A pass: the margin over the trivial baseline, and the advantage over the strongest other."""
    level = fmt_level(params.confidence)
    triv = next(c for c in comparisons if c.name == trivial)
    strong = [c for c in comparisons if c.name != trivial and c.score is not None]
    best = min(
        (c for c in strong if c.advantage is not None),
        key=lambda c: c.advantage or 0.0,
        default=None,
    )
    text = (
        f"{described}; it beats the {trivial} baseline by {fmt(triv.advantage)} "
        f"({level} CI {fmt_ci(*triv.advantage_ci)}, {unit})"
    )
    if best is not None:
        text += (
            f"; against the strongest other baseline, {best.name} "
            f"({fmt(best.score, metric)}), its advantage is {fmt(best.advantage)} "
            f"(CI {fmt_ci(*best.advantage_ci)})"
        )
    return text


def alpha_of(comparisons: Sequence[Comparison]) -> float | None:
    """The one-sided level the strong baselines were tested at (None without them)."""
    return next((c.alpha for c in comparisons if c.alpha is not None), None)


def _thresholds(
    params: Any, metric: Metric, step: float, alpha: float | None
) -> dict[str, float | None]:
    return {
        "min_margin": params.min_margin,
        "tolerance": params.tolerance,
        "confidence": params.confidence,
        "margin": practical_margin(metric, params.tolerance),
        "lead_that_counts": practical_margin(metric, params.tolerance, step),
        "alpha_per_baseline": alpha,
    }


def decide(verdicts: Sequence[Verdict]) -> Status:
    """The worst of the per-baseline verdicts (see :func:`_judge`): fail, warn, else pass."""
    if "fail" in verdicts:
        return "fail"
    return "warn" if "warn" in verdicts else "pass"


def _compare(boot: Bootstrap, metric: Metric, name: str, alpha: float | None = None) -> Comparison:
    """The model against one baseline; with ``alpha``, also the one-sided upper bound of the
    advantage at ``1 - alpha`` and the smallest shortfall the rows can establish there."""
    key, model = (f"baseline:{name}", metric.name), (MODEL, metric.name)
    advantage, low, high = boot.advantage(metric, model, key)
    tested = alpha is not None
    return Comparison(
        name=name,
        score=boot.point(key),
        ci=boot.ci(key),
        advantage=advantage,
        advantage_ci=(low, high),
        bound=boot.advantage_bound(metric, model, key, "upper", alpha) if tested else None,
        alpha=alpha,
        detectable=boot.detectable(metric, model, key, alpha) if tested else None,
        n_rows=boot.n_rows,
    )


def _step(ctx: Context, metric: Metric) -> float:
    """One test row's worth of the metric (its granularity on this split; 0 for AUC, RMSE)."""
    if ctx.task == "regression":
        return 0.0
    return one_row_step(
        metric,
        ctx.labels(SPLIT),
        n_classes=len(ctx.classes),
        positive_index=ctx.positive_index if ctx.task == "binary" else 1,
    )


def _underpowered(c: Comparison, metric: Metric, effect: str, target: float, shown: str) -> str:
    """ "; underpowered: ..." when these test rows can establish only more than ``target``
    (the smallest effect ``c.detectable`` is larger), else nothing."""
    if c.detectable is None or c.detectable <= target:
        return ""
    return "; " + underpowered_note(
        c.n_rows,
        "test rows",
        f"{effect} of {c.detectable:.3g} {metric.name}",
        more_rows_needed(c.n_rows, c.detectable, max(target, 1e-9)),
        shown,
    )


def _judge_trivial(c: Comparison, metric: Metric, min_margin: float, ci: str) -> Comparison:
    """The trivial baseline: fail when the model is clearly no better than it by
    ``min_margin`` (even the optimistic end of its advantage, the one-sided upper bound at the
    share, falls short); warn when the rows cannot show it is better (the interval's lower
    end falls short); pass otherwise. Without intervals the point estimate stands in."""
    assert c.advantage is not None
    low, high = c.advantage_ci
    upper = c.bound if c.bound is not None else (high if high is not None else c.advantage)
    lower = low if low is not None else c.advantage
    versus = f"the {c.name} baseline ({fmt(c.score, metric)}) by the margin {min_margin:g}"
    if upper < min_margin:
        bound = (
            f"one-sided {fmt_level(1 - c.alpha)} upper bound {fmt(c.bound)}, "
            if c.alpha is not None and c.bound is not None
            else ""
        )
        note = f"it does not beat {versus}: advantage {fmt(c.advantage)} ({bound}interval {ci})"
        return replace(c, verdict="fail", note=note)
    if lower < min_margin:
        note = (
            f"it cannot be shown to beat {versus} on these rows: advantage "
            f"{fmt(c.advantage)}, interval {ci}"
        )
        note += _underpowered(c, metric, "an advantage", min_margin, f"{min_margin:g}")
        return replace(c, verdict="warn", note=note)
    return c


def _judge(
    c: Comparison, is_trivial: bool, metric: Metric, params: Any, step: float = 0.0
) -> Comparison:
    """Attach the verdict for one baseline (see *How it decides*)."""
    if c.advantage is None:
        return replace(c, verdict="n/a", note=f"{c.name}: undefined")
    low, high = c.advantage_ci
    lead = f"{fmt(-c.advantage)}" if c.advantage < 0 else f"{fmt(c.advantage)}"
    ci = fmt_ci(low, high)
    if is_trivial:
        return _judge_trivial(c, metric, params.min_margin, ci)
    # A lead counts only beyond the practical margin and beyond one test row's worth of the
    # metric: on 27 rows one row is 0.037 of accuracy, and a lead of one row is no evidence.
    margin = practical_margin(metric, params.tolerance, step)
    behind = c.advantage < -margin
    # The one-sided bound at the check's share decides; without it, the interval's end.
    upper = c.bound if c.bound is not None else high
    significant = upper is not None and upper < 0
    at_share = (
        f"one-sided {fmt_level(1 - c.alpha)} upper bound {fmt(c.bound)} at the gate's share, "
        if c.alpha is not None and c.bound is not None
        else ""
    )
    if behind and significant:
        return replace(
            c,
            verdict="fail",
            note=(
                f"the {c.name} baseline ({fmt(c.score, metric)}) is significantly better, by "
                f"{lead}, beyond the practical margin {margin:.3g} ({at_share}"
                f"interval of the model's advantage {ci})"
            ),
        )
    if behind:
        note = (
            f"the {c.name} baseline ({fmt(c.score, metric)}) is ahead by {lead}, beyond the "
            f"practical margin {margin:.3g}, though not significantly ({at_share}"
            f"interval of the model's advantage {ci})"
        )
        note += _underpowered(c, metric, "a gap", margin, f"{margin:.3g}")
        return replace(c, verdict="warn", note=note)
    return c


def _remedy(faults: list[Comparison], trivial: str, metric: Metric) -> str:
    parts = []
    if any(c.name == trivial for c in faults):
        what = "the train mean" if trivial == "mean" else "the train class prior"
        parts.append(
            f"The model does no better than predicting {what} for every row. Check that the "
            "features reach it as they did in training (column order, preprocessing, "
            "scaling), that the prediction rows line up with the label rows (join on the id "
            "column), and that training converged."
        )
    strong = [c.name for c in faults if c.name != trivial]
    if strong:
        names = " and ".join(strong)
        parts.append(
            f"The {names} baseline{'s' if len(strong) > 1 else ''} fitted by qa-gate on the "
            f"same train split score{'' if len(strong) > 1 else 's'} better on {metric.title}. "
            "Ship the simpler model, or find why yours falls short (features, tuning, "
            "regularisation). If XGBoost beats your network on tabular data, ship XGBoost."
        )
    return " ".join(parts)


def _metrics(
    metric: Metric, boot: Bootstrap, comparisons: list[Comparison]
) -> dict[str, float | None]:
    low, high = boot.ci((MODEL, metric.name))
    out: dict[str, float | None] = {
        f"model_{metric.name}": boot.point((MODEL, metric.name)),
        f"model_{metric.name}_ci_low": low,
        f"model_{metric.name}_ci_high": high,
    }
    for c in comparisons:
        out[f"{c.name}_{metric.name}"] = c.score
        out[f"{c.name}_{metric.name}_ci_low"], out[f"{c.name}_{metric.name}_ci_high"] = c.ci
        out[f"advantage_vs_{c.name}"] = c.advantage
        out[f"advantage_vs_{c.name}_ci_low"] = c.advantage_ci[0]
        out[f"advantage_vs_{c.name}_ci_high"] = c.advantage_ci[1]
    out.update(
        {
            "rows_test": boot.n_rows,
            "bootstrap_resamples": boot.n_resamples,
            "bootstrap_rows": boot.sample_rows,
        }
    )
    return out


def _evidence(
    metric: Metric,
    boot: Bootstrap,
    model_ci: tuple,
    comparisons: list[Comparison],
    notes: Mapping[str, str],
    fallback: str,
    unit: str,
):
    rows: list[tuple[Any, ...]] = [
        ("model (under test)", boot.point((MODEL, metric.name)), *model_ci, None, None, None, "")
    ]
    for c in comparisons:
        rows.append((c.name, c.score, *c.ci, c.advantage, *c.advantage_ci, c.verdict))
    extra = [f"{name}: {note}" for name, note in notes.items()]
    note = "; ".join(
        filter(
            None,
            [
                fallback,
                boot.note(),
                f"advantage = {unit}; positive means the model is better",
                *extra,
            ],
        )
    )
    return table(
        f"Test {metric.title}: model and baselines",
        [
            "model",
            metric.name,
            "CI low",
            "CI high",
            "model's advantage",
            "advantage CI low",
            "advantage CI high",
            "verdict",
        ],
        rows,
        note=note,
    )


def _chart(metric: Metric, model_score: float | None, comparisons: list[Comparison]) -> Chart:
    labels = ["model", *(c.name for c in comparisons)]
    values = [model_score, *(c.score for c in comparisons)]
    return Chart(
        "bars",
        f"Test {metric.title}: model and baselines",
        {"labels": labels, "series": {metric.name: values}, "threshold": None},
    )
