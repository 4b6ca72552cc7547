"""Does the model overfit? The train-validation gap, judged by what it costs, and the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, param, table
from qa.budget import more_rows_needed, per_test, underpowered_note
from qa.context import Context
from qa.metrics import (
    EvaluationParams,
    Metric,
    choose_metric,
    evaluate,
    evaluate_pooled,
    fmt,
    fmt_level,
    one_row_step,
    practical_margin,
    scorer_for,
    settings_of,
)

MODEL = "model"
TRIVIAL_NAMES = ("majority", "mean")
_RANK = {"pass": 0, "warn": 1, "fail": 2}
#: One half's status; the check's is the worse of the two.
PartStatus = Literal["pass", "warn", "fail"]


@dataclass
class Judgement:
    """The verdict of one half of the check (the gap, or the history)."""

    status: PartStatus
    message: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    thresholds: dict[str, float | None] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    remedy: str = ""


class OverfitGap(Check):
    """The train–validation gap, judged by what it costs; and validation loss rising in training.

    What it checks
    --------------
    Two signs of overfitting, each used when its input is there:

    1. The gap between the model's primary metric on train and on validation (on test when
       there is no validation split; the report says which), from the prediction files or the
       model artifact. For errors (RMSE, MAE) the gap is relative: (validation − train) /
       validation.
    2. The training history (``[model] history``): validation loss rising for epochs after its
       best while training loss keeps falling.

    Why it matters
    --------------
    A model that memorises its training rows does worse on new ones than its training score
    promises. But a gap alone is a weak signal: a well-regularised boosted model often fits
    train almost perfectly and still generalises best. So the gap counts only when the model
    also generalises worse than the reference baselines fitted by qa-gate — then the
    memorisation has a price.

    How it decides
    --------------
    Gap: over the bar (``max_gap`` for scores, ``max_relative_gap`` for errors) *and* the
    model's held-out score below the best baseline's, significantly and by more than the
    practical margin → fail; over the bar otherwise → warn; within the bar → pass.

    "Significantly below" is the gap's one fail rule resting on a test, so it draws on the
    gate's false-alarm budget: the check's share (``thresholds.false_alarm_share``; the whole
    ``[run] false_alarm_rate`` when run alone) is split across the baselines considered (up to
    three, since the best of them is chosen), and the paired bootstrap's one-sided upper bound
    of the model's advantage over the best baseline at that level (e.g. 99.3 % for a share of
    0.02 and three baselines; a normal bound from the replicates' spread where the level is
    finer than the resamples resolve) must be below zero. The model must also trail by more
    than the practical margin: the largest of ``tolerance``, the metric's own margin (0.01 for
    AUC, accuracy and F1 scores; 2 % relative for RMSE and MAE) and one row's worth of the
    metric (on a small split a single row moves accuracy by 1/n; see
    qa.metrics.one_row_step). Where the two disagree — a significant lead within the margin,
    or a lead beyond the margin that is not significant at the share — the gap warns and says
    both numbers; when the rows cannot establish a gap of the margin at the share, it says so
    ("underpowered: with 200 held-out rows only a gap of 0.08 is detectable ..."). The
    one-sided ``confidence`` bound (90 % interval's end for 95 %) is reported beside it. The
    comparison uses every held-out row: validation and test pooled when both have labelled
    predictions (the evidence note says which rows), else the split the gap is measured on.
    History: validation loss at least ``patience`` epochs past its best epoch, risen by
    more than ``min_rise`` (relative) above its best, while training loss fell over the same
    epochs → fail, naming the best epoch where it began (warn instead when
    ``restored_best`` says training kept the best epoch's weights). The worse of the two
    decides. Skips only when neither input is available.

    How to fix
    ----------
    Add dropout (for trees: stronger regularisation — shallower trees, larger leaves, row and
    column subsampling), reduce the model size, or gather more data — in that order. Stop
    training at the best validation epoch (early stopping that restores the best weights).
    """

    id = "overfit-gap"
    title = "Model does not overfit"
    requires = ()
    severity = "error"
    fail_tests = 1

    @dataclass(frozen=True)
    class Params(EvaluationParams):
        max_gap: float = param(
            0.05,
            "Largest train − validation gap for scores (AUC, F1, accuracy, R²).",
            ge=0.0,
            le=1.0,
        )
        max_relative_gap: float = param(
            0.25,
            "Largest (validation − train) / validation gap for errors (RMSE, MAE).",
            ge=0.0,
            le=1.0,
        )
        tolerance: float = param(
            0.02,
            "How far the validation score may trail the best baseline before the gap "
            "counts as costly (score units; a fraction of the error for RMSE/MAE); never "
            "below the metric's own practical margin (0.01 for scores, 2 % for RMSE/MAE).",
            ge=0.0,
            le=1.0,
        )
        patience: int = param(
            5,
            "Epochs of validation loss above its best (training loss falling) that fail.",
            ge=1,
        )
        min_rise: float = param(
            0.01,
            "Relative rise of the last validation loss above its best that counts as "
            "rising (below it, a plateau).",
            ge=0.0,
        )
        restored_best: bool = param(
            False,
            "Training restored the best epoch's weights (early stopping with restore): "
            "a rise in the history then warns instead of failing.",
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        eval_split = _eval_split(ctx)
        can_gap = _has_labelled_predictions(ctx, "train") and eval_split is not None
        has_history = bool(ctx.config.model.history)
        if not can_gap and not has_history:
            return self.skip(
                "needs train and validation (or test) predictions for the gap, or a training "
                "history ([model] history) for the loss curves"
            )
        parts: list[Judgement] = []
        if can_gap:
            assert eval_split is not None
            parts.append(_gap_part(ctx, params, eval_split, self.id))
        if has_history:
            parts.append(_history_part(ctx, params))
        status = max((p.status for p in parts), key=_RANK.__getitem__)
        message = "; ".join(p.message for p in parts)
        if not can_gap:
            message += " (no train-vs-validation gap: no train predictions)"
        bad = [p for p in parts if p.status != "pass"]
        remedy = " ".join(p.remedy for p in bad if p.remedy) or None
        return self.result(
            status,
            message,
            metrics={k: v for p in parts for k, v in p.metrics.items()},
            thresholds={k: v for p in parts for k, v in p.thresholds.items()},
            evidence=[e for p in parts for e in p.evidence],
            charts=[c for p in parts for c in p.charts],
            subjects=[s for p in bad for s in p.subjects],
            remedy=(remedy + " " + _ORDER) if remedy else None,
        )


_ORDER = (
    "In order: add dropout (for trees, stronger regularisation), reduce the model size, "
    "or gather more data."
)


def _has_labelled_predictions(ctx: Context, split: str) -> bool:
    return ctx.has_split(split) and ctx.has_labels(split) and ctx.has_predictions(split)


def _eval_split(ctx: Context) -> str | None:
    """Validation when it has labelled predictions, else test (documented), else None."""
    for split in ("validation", "test"):
        if _has_labelled_predictions(ctx, split):
            return split
    return None


# --------------------------------------------------------------------------- the gap
@dataclass(frozen=True)
class GapScores:
    """The model's primary metric on train and on the held-out split: the gap's two ends."""

    metric: Metric
    #: Why the configured metric was replaced ("" when it was not).
    fallback: str
    train_score: float | None
    eval_score: float | None
    eval_ci: tuple[float | None, float | None]
    #: Why a score is missing (meaningful only when one is None).
    undefined_reason: str


def _gap_part(ctx: Context, params: Any, split: str, check_id: str) -> Judgement:
    scores = _measure_gap_scores(ctx, params, split, check_id)
    metric, train_score, eval_score = scores.metric, scores.train_score, scores.eval_score
    if train_score is None or eval_score is None:
        return Judgement(
            "pass",
            f"no train–{split} gap: {metric.title} cannot be computed ({scores.undefined_reason})",
        )
    gap = _gap(metric, train_score, eval_score)
    bar = params.max_relative_gap if metric.relative else params.max_gap
    versus: Versus | str | None = None
    baseline_notes: list[str] = []
    margin = practical_margin(metric, params.tolerance)
    if decide_gap(gap, bar, None, margin) != "pass":
        baseline_notes = [f"{n}: {b.note}" for n, b in ctx.baselines().items() if b.note]
        share = ctx.false_alarm_share(check_id)
        versus = _versus_baselines(ctx, split, metric, settings_of(params), params, share)
    compared = versus if isinstance(versus, Versus) else None
    status = decide_gap(gap, bar, compared, margin)
    return _gap_judgement(status, scores, split, gap, bar, versus, baseline_notes, params)


def _measure_gap_scores(ctx: Context, params: Any, split: str, check_id: str) -> GapScores:
    """Score the model on train and (with its bootstrap interval) on ``split``."""
    train_preds, eval_preds = ctx.predictions("train"), ctx.predictions(split)
    metric, fallback = choose_metric(
        ctx, params.metric, f"checks.{check_id}.metric", [train_preds, eval_preds]
    )
    settings = settings_of(params)
    train_score = scorer_for(ctx, "train", train_preds, metric, settings.decision_threshold).point
    model_boot = evaluate(ctx, split, {MODEL: eval_preds}, [metric], settings)
    key = (MODEL, metric.name)
    return GapScores(
        metric,
        fallback,
        train_score,
        model_boot.point(key),
        model_boot.ci(key),
        model_boot.reasons.get(key) or "undefined on train",
    )


def _gap_judgement(
    status: PartStatus,
    scores: GapScores,
    split: str,
    gap: float,
    bar: float,
    versus: Versus | str | None,
    baseline_notes: list[str],
    params: Any,
) -> Judgement:
    """Word the gap's verdict: message, metrics, thresholds, the train-vs-held-out table."""
    metric = scores.metric
    bar_name = "max_relative_gap" if metric.relative else "max_gap"
    metrics: dict[str, float | None] = {
        f"train_{metric.name}": scores.train_score,
        f"{split}_{metric.name}": scores.eval_score,
        "gap": gap,
    }
    thresholds: dict[str, float | None] = {
        bar_name: bar,
        "tolerance": params.tolerance,
        "margin": practical_margin(metric, params.tolerance),
    }
    rows: list[tuple[Any, ...]] = [
        ("model", "train", scores.train_score, None, None),
        ("model", split, scores.eval_score, *scores.eval_ci),
    ]
    notes = _gap_notes(scores.fallback, split) + baseline_notes
    if isinstance(versus, Versus):
        rows += versus.rows
        notes += versus.notes
        metrics.update(versus.metrics)
        thresholds["confidence"] = params.confidence
        thresholds["margin"] = versus.margin
        thresholds["alpha_per_baseline"] = versus.alpha
    evidence = table(
        f"{metric.title}: train against {split}",
        ["model", "split", metric.name, "CI low", "CI high"],
        rows,
        note="; ".join(filter(None, notes)),
    )
    message, remedy = _gap_wording(status, _describe_gap(scores, split, gap), bar, versus)
    return Judgement(
        status, message, metrics, thresholds, [evidence], [], ["train-validation gap"], remedy
    )


def _gap_notes(fallback: str, split: str) -> list[str]:
    notes = [fallback] if fallback else []
    if split == "test":
        notes.append("no validation split with predictions: the gap is measured on test")
    return notes


def _describe_gap(scores: GapScores, split: str, gap: float) -> str:
    metric = scores.metric
    gap_text = f"{gap:.1%} of the {split} error" if metric.relative else f"{gap:.3f}"
    return (
        f"{metric.title} is {fmt(scores.train_score, metric)} on train and "
        f"{fmt(scores.eval_score, metric)} on {split}: a gap of {gap_text}"
    )


def _gap_wording(
    status: PartStatus, described: str, bar: float, versus: Versus | str | None
) -> tuple[str, str]:
    """The gap's message and remedy for its status."""
    if status == "pass":
        return f"{described}, within the bar {bar:g}", ""
    over = f"{described}, over the bar {bar:g}"
    if not isinstance(versus, Versus):  # no baseline could tell whether it costs
        return f"{over}; {versus}", _GAP_REMEDY
    if status == "fail":
        return (
            f"{over}, and it generalises worse than the baselines: {versus.text}",
            _GAP_REMEDY,
        )
    return f"{over}, but {_why_not_costly(versus)}: {versus.text}", _WATCH


_WATCH = "The gap costs nothing measurable yet; watch it."


def _why_not_costly(versus: Versus) -> str:
    """Why a gap over the bar only warns: the test and the margin disagree, or neither holds."""
    adv, upper, margin = versus.advantage, versus.upper, max(versus.margin, versus.step)
    shortfall = fmt(-adv if adv is not None else None)
    level = f"one-sided {fmt_level(1 - versus.alpha)} upper bound {fmt(upper)} of its advantage"
    if upper is not None and upper < 0:
        return (
            f"its shortfall of {shortfall} is significant at the gate's share ({level}) but "
            f"within the practical margin {margin:.3g}"
        )
    if adv is not None and adv < -margin:
        text = (
            f"its shortfall of {shortfall}, beyond the practical margin {margin:.3g}, is not "
            f"significant at the gate's share ({level})"
        )
    else:
        text = "it generalises as well as the baselines"
    return text + (f" ({versus.underpowered})" if versus.underpowered else "")


@dataclass(frozen=True)
class Versus:
    """The model against the best baseline on the held-out rows (the gap's cost).

    ``upper`` is the one-sided upper bound of the model's advantage at the check's level
    ``1 - alpha`` (its share of the false-alarm budget split across the baselines).
    """

    advantage: float | None
    upper: float | None
    step: float
    text: str
    rows: list[tuple[Any, ...]]
    notes: list[str]
    metrics: dict[str, float | None]
    #: The one-sided level each baseline comparison is tested at.
    alpha: float = 0.05
    #: The metric's practical margin (tolerance or the metric's own, the larger).
    margin: float = 0.0
    #: The underpowered note ("" when a gap of the margin is detectable at ``alpha``).
    underpowered: str = ""


def decide_gap(gap: float, bar: float, versus: Versus | None, tolerance: float) -> PartStatus:
    """Within the bar: pass. Over it: fail when it costs generalisation (the model trails the
    best baseline by more than ``tolerance`` — the practical margin — and one row's worth, and
    the one-sided upper bound of its advantage at the check's share is below 0; without
    intervals the point decides), else warn."""
    if gap <= bar:
        return "pass"
    if versus is None or versus.advantage is None:
        return "warn"
    costly = versus.advantage < -max(tolerance, versus.step) and (
        versus.upper is None or versus.upper < 0
    )
    return "fail" if costly else "warn"


def _versus_baselines(
    ctx: Context, split: str, metric: Metric, settings: Any, params: Any, share: float
) -> Versus | str:
    """Measure the model against the baselines on the held-out rows, or say why it cannot."""
    comparison, baselines = _comparison_rows(ctx, split)
    notes: list[str] = []
    if not baselines:
        return "no baseline to tell whether it costs generalisation"
    models = {
        MODEL: {s: ctx.predictions(s) for s in comparison},
        **{f"baseline:{n}": p for n, p in baselines.items()},
    }
    boot = evaluate_pooled(ctx, comparison, models, [metric], settings)
    where = " + ".join(comparison)
    scored = {n: boot.point((f"baseline:{n}", metric.name)) for n in baselines}
    defined = {n: s for n, s in scored.items() if s is not None}
    if not defined:
        return f"no baseline could be scored on {where}"
    best = max(defined, key=lambda n: defined[n] if metric.higher_is_better else -defined[n])
    model_key, best_key = (MODEL, metric.name), (f"baseline:{best}", metric.name)
    advantage, low, high = boot.advantage(metric, model_key, best_key)
    upper = boot.advantage_bound(metric, model_key, best_key, "upper")
    # The best of the baselines is chosen after the fact: split the share across them.
    alpha = per_test(share, len(defined))
    upper_at_share = boot.advantage_bound(metric, model_key, best_key, "upper", alpha)
    detectable = boot.detectable(metric, model_key, best_key, alpha)
    step = (
        one_row_step(
            metric,
            np.concatenate([ctx.labels(s) for s in comparison]),
            positive_index=ctx.positive_index if ctx.task == "binary" else 1,
            n_classes=len(ctx.classes),
        )
        if ctx.task != "regression"
        else 0.0
    )
    rows: list[tuple[Any, ...]] = []
    if len(comparison) > 1:
        rows.append(("model", where, boot.point(model_key), *boot.ci(model_key)))
    for name, score in scored.items():
        rows.append((f"baseline {name}", where, score, *boot.ci((f"baseline:{name}", metric.name))))
    notes.append(_rows_note(ctx, comparison, boot.n_rows))
    notes.append(
        boot.note() + f"; one-sided {fmt_level(params.confidence)} upper bound of the "
        "model's advantage = the upper end of the two-sided "
        f"{fmt_level(2 * params.confidence - 1)} interval"
    )
    margin = practical_margin(metric, params.tolerance)
    level = fmt_level(1 - alpha)
    notes.append(
        f"fail rule at the gate's share {share:.3g} split across {len(defined)} baseline(s): "
        f"one-sided {level} upper bound of the advantage; practical margin {margin:.3g}"
    )
    text = (
        f"the best baseline, {best}, scores {fmt(defined[best], metric)} on {where} "
        f"({boot.n_rows:,} held-out rows; model's advantage {fmt(advantage)}, one-sided "
        f"{fmt_level(params.confidence)} upper bound {fmt(upper)}, at the gate's share "
        f"one-sided {level} {fmt(upper_at_share)})"
    )
    underpowered = ""
    if detectable is not None and detectable > max(margin, step):
        underpowered = underpowered_note(
            boot.n_rows,
            "held-out rows",
            f"a gap of {detectable:.3g} {metric.name}",
            more_rows_needed(boot.n_rows, detectable, max(margin, step)),
            f"{max(margin, step):.3g}",
        )
    metrics: dict[str, float | None] = {
        f"best_baseline_{metric.name}": defined[best],
        "advantage_vs_best_baseline": advantage,
        "advantage_vs_best_baseline_ci_low": low,
        "advantage_vs_best_baseline_ci_high": high,
        "advantage_vs_best_baseline_upper_bound": upper,
        "advantage_vs_best_baseline_bound_at_share": upper_at_share,
        "detectable_gap": detectable,
        "comparison_rows": boot.n_rows,
        "one_row_step": step,
    }
    return Versus(
        advantage, upper_at_share, step, text, rows, notes, metrics, alpha, margin, underpowered
    )


def _comparison_rows(ctx: Context, split: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The held-out splits the model and the baselines are compared on, and the baselines.

    Validation and test together when both have labelled predictions and the baselines
    predict both (the comparison then rests on every held-out row); else ``split`` alone.
    """
    held_out = [s for s in ("validation", "test") if _has_labelled_predictions(ctx, s)]
    for splits in ([*held_out], [split]):
        if split not in splits:
            continue
        baselines = {
            name: {s: b.predictions[s] for s in splits}
            for name, b in ctx.baselines().items()
            if all(s in b.predictions for s in splits)
        }
        if baselines or splits == [split]:
            return splits, baselines
    return [split], {}  # pragma: no cover - the loop always returns


def _rows_note(ctx: Context, splits: list[str], n_rows: int) -> str:
    if len(splits) == 1:
        return f"model and baselines compared on the {n_rows:,} {splits[0]} rows"
    sizes = ", ".join(f"{s} {len(ctx.labels(s)):,}" for s in splits)
    return (
        f"model and baselines compared on the {n_rows:,} held-out rows of "
        f"{' and '.join(splits)} pooled ({sizes}); the gap itself is measured on "
        f"{splits[0]}"
    )


_GAP_REMEDY = (
    "The model fits train far better than new rows and a baseline fitted on the "
    "same train split generalises better."
)


def _gap(metric: Metric, train: float, held_out: float) -> float:
    if not metric.relative:
        return train - held_out
    if held_out <= 0:
        return 0.0
    return (held_out - train) / held_out


# --------------------------------------------------------------------------- the history
@dataclass(frozen=True)
class LossCurve:
    """Training and validation loss per epoch, as read (NaN where an epoch lacks one)."""

    epochs: np.ndarray
    train: np.ndarray
    val: np.ndarray


@dataclass(frozen=True)
class HistoryShape:
    """Where validation loss is lowest (over epochs with both losses) and what both did after."""

    best_epoch: int
    last_epoch: int
    epochs_after_best: int
    val_best: float
    val_last: float
    #: Rise of the last validation loss above its best, relative to the best (absolute at 0).
    rise: float
    train_at_best: float
    train_last: float
    train_fell: bool
    #: (epoch, train loss, validation loss) from the best epoch to the last.
    tail: list[tuple[int, float, float]]


def _history_part(ctx: Context, params: Any) -> Judgement:
    curve = _read_loss_curve(ctx)
    where = ctx.config.model.history
    shape = measure_history(curve.epochs, curve.train, curve.val)
    if shape is None:
        return Judgement(
            "pass",
            f"the history ({where}) has fewer than two epochs with both losses",
            charts=[_loss_chart(curve)],
        )
    status = decide_history(shape.epochs_after_best, shape.rise, shape.train_fell, params)
    return _history_judgement(status, shape, curve, where, params)


def _read_loss_curve(ctx: Context) -> LossCurve:
    frame = ctx.history()
    return LossCurve(
        frame["epoch"].to_numpy(),
        frame["train_loss"].cast(float).to_numpy(),
        frame["val_loss"].cast(float).to_numpy(),
    )


def measure_history(epochs: np.ndarray, train: np.ndarray, val: np.ndarray) -> HistoryShape | None:
    """The shape of the loss curves over the epochs with both losses finite; None below two."""
    usable = np.isfinite(val) & np.isfinite(train)
    if usable.sum() < 2:
        return None
    ep, tr, va = epochs[usable], train[usable], val[usable]
    best = int(np.argmin(va))
    rise = (va[-1] - va[best]) / abs(va[best]) if va[best] != 0 else float(va[-1] - va[best])
    return HistoryShape(
        best_epoch=int(ep[best]),
        last_epoch=int(ep[-1]),
        epochs_after_best=len(va) - 1 - best,
        val_best=float(va[best]),
        val_last=float(va[-1]),
        rise=float(rise),
        train_at_best=float(tr[best]),
        train_last=float(tr[-1]),
        train_fell=bool(tr[-1] < tr[best]),
        tail=[
            (int(e), float(t), float(v))
            for e, t, v in zip(ep[best:], tr[best:], va[best:], strict=True)
        ],
    )


def _history_judgement(
    status: PartStatus, shape: HistoryShape, curve: LossCurve, where: str | None, params: Any
) -> Judgement:
    """Word the history's verdict: message, metrics, the epochs from the best, the chart."""
    metrics: dict[str, float | None] = {
        "best_epoch": shape.best_epoch,
        "epochs_after_best": shape.epochs_after_best,
        "val_loss_best": shape.val_best,
        "val_loss_last": shape.val_last,
        "val_loss_rise": shape.rise,
        "train_loss_at_best": shape.train_at_best,
        "train_loss_last": shape.train_last,
    }
    thresholds: dict[str, float | None] = {"patience": params.patience, "min_rise": params.min_rise}
    evidence = table(
        f"Epochs from the best validation loss (epoch {shape.best_epoch})",
        ["epoch", "train_loss", "val_loss"],
        shape.tail,
        note=f"history: {where}",
    )
    message, remedy = _history_wording(status, shape, params.patience)
    subjects = [] if status == "pass" else ["history"]
    chart = _loss_chart(curve, marker=shape.best_epoch)
    return Judgement(status, message, metrics, thresholds, [evidence], [chart], subjects, remedy)


def _history_wording(status: PartStatus, shape: HistoryShape, patience: int) -> tuple[str, str]:
    """The history's message and remedy for its status."""
    best = shape.best_epoch
    if status == "pass":
        return (
            f"validation loss is lowest at epoch {best} of {shape.last_epoch}; it does not "
            f"rise for {patience}+ epochs while training loss falls",
            "",
        )
    story = (
        f"validation loss rose for {shape.epochs_after_best} epochs after its best at epoch "
        f"{best} ({shape.val_best:.4g} → {shape.val_last:.4g}, {shape.rise:+.1%}) while "
        f"training loss kept falling ({shape.train_at_best:.4g} → {shape.train_last:.4g})"
    )
    if status == "warn":
        return (
            f"{story}; the best epoch's weights were restored, so the shipped model is "
            f"epoch {best}'s",
            "Training ran well past its best epoch; stop earlier to save time.",
        )
    return (
        f"overfitting began at epoch {best}: {story}",
        f"Stop training at epoch {best} (early stopping that restores the best weights).",
    )


def _loss_chart(curve: LossCurve, marker: int | None = None) -> Chart:
    data: dict[str, Any] = {
        "x": curve.epochs.tolist(),
        "series": {"train_loss": _nan_to_none(curve.train), "val_loss": _nan_to_none(curve.val)},
        "x_label": "epoch",
        "y_label": "loss",
    }
    if marker is not None:
        data["marker"] = marker
    return Chart("lines", "Training history: loss per epoch", data)


def decide_history(
    epochs_after_best: int, rise: float, train_fell: bool, params: Any
) -> PartStatus:
    """Validation loss above its best for ``patience`` epochs or more, by more than
    ``min_rise``, while training loss fell: fail (warn when the best weights were restored)."""
    rising = epochs_after_best >= params.patience and rise > params.min_rise and train_fell
    if not rising:
        return "pass"
    return "warn" if params.restored_best else "fail"


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]
