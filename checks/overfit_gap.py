"""Does the model overfit? The train-validation gap, judged by what it costs, and the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, param, table
from qa.context import Context
from qa.metrics import (
    EvaluationParams,
    Metric,
    choose_metric,
    evaluate,
    evaluate_pooled,
    fmt,
    one_row_step,
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
    model's held-out score significantly below the best baseline's → fail; over the bar but
    generalising as well as the baselines → warn; within the bar → pass. "Significantly
    below" is one-directional, so it uses a one-sided bound: the paired bootstrap's one-sided
    ``confidence`` upper bound of the model's advantage (the upper end of the two-sided
    ``2 · confidence − 1`` interval, i.e. 90 % for 95 %) is below zero, and the model trails
    by more than ``tolerance`` and by more than one row's worth of the metric (on a small
    split a single row moves accuracy by 1/n; see qa.metrics.one_row_step). The
    comparison uses every held-out row: validation and test pooled when both have labelled
    predictions (the evidence note says which rows), else the split the gap is measured on. History: validation loss at least ``patience`` epochs past its best epoch, risen by
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
            "counts as costly (score units; a fraction of the error for RMSE/MAE).",
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
def _gap_part(ctx: Context, params: Any, split: str, check_id: str) -> Judgement:
    train_preds, eval_preds = ctx.predictions("train"), ctx.predictions(split)
    metric, fallback = choose_metric(
        ctx, params.metric, f"checks.{check_id}.metric", [train_preds, eval_preds]
    )
    settings = settings_of(params)
    train_score = scorer_for(ctx, "train", train_preds, metric, settings.decision_threshold).point
    model_boot = evaluate(ctx, split, {MODEL: eval_preds}, [metric], settings)
    eval_score = model_boot.point((MODEL, metric.name))
    if train_score is None or eval_score is None:
        reason = model_boot.reasons.get((MODEL, metric.name)) or "undefined on train"
        return Judgement(
            "pass", f"no train–{split} gap: {metric.title} cannot be computed ({reason})"
        )
    gap = _gap(metric, train_score, eval_score)
    bar = params.max_relative_gap if metric.relative else params.max_gap
    bar_name = "max_relative_gap" if metric.relative else "max_gap"
    gap_text = f"{gap:.1%} of the {split} error" if metric.relative else f"{gap:.3f}"
    described = (
        f"{metric.title} is {fmt(train_score, metric)} on train and "
        f"{fmt(eval_score, metric)} on {split}: a gap of {gap_text}"
    )
    metrics: dict[str, float | None] = {
        f"train_{metric.name}": train_score,
        f"{split}_{metric.name}": eval_score,
        "gap": gap,
    }
    thresholds: dict[str, float | None] = {bar_name: bar, "tolerance": params.tolerance}
    rows: list[tuple[Any, ...]] = [
        ("model", "train", train_score, None, None),
        ("model", split, eval_score, *model_boot.ci((MODEL, metric.name))),
    ]
    notes = [fallback] if fallback else []
    if split == "test":
        notes.append("no validation split with predictions: the gap is measured on test")

    def part(status: PartStatus, message: str, remedy: str = "") -> Judgement:
        evidence = table(
            f"{metric.title}: train against {split}",
            ["model", "split", metric.name, "CI low", "CI high"],
            rows,
            note="; ".join(filter(None, notes)),
        )
        return Judgement(
            status, message, metrics, thresholds, [evidence], [], ["train-validation gap"], remedy
        )

    if decide_gap(gap, bar, None, params.tolerance) == "pass":
        return part("pass", f"{described}, within the bar {bar:g}")

    notes += [f"{name}: {b.note}" for name, b in ctx.baselines().items() if b.note]
    versus = _versus_baselines(ctx, split, metric, settings, params)
    if isinstance(versus, str):
        return part("warn", f"{described}, over the bar {bar:g}; {versus}", _GAP_REMEDY)
    rows += versus.rows
    notes += versus.notes
    metrics.update(versus.metrics)
    thresholds["confidence"] = params.confidence
    status = decide_gap(gap, bar, versus, params.tolerance)
    if status == "fail":
        return part(
            "fail",
            f"{described}, over the bar {bar:g}, and it generalises worse than "
            f"the baselines: {versus.text}",
            _GAP_REMEDY,
        )
    return part(
        "warn",
        f"{described}, over the bar {bar:g}, but it generalises as well as the baselines: "
        f"{versus.text}",
        "The gap costs nothing measurable yet; watch it.",
    )


@dataclass(frozen=True)
class Versus:
    """The model against the best baseline on the held-out rows (the gap's cost)."""

    advantage: float | None
    upper: float | None
    step: float
    text: str
    rows: list[tuple[Any, ...]]
    notes: list[str]
    metrics: dict[str, float | None]


def decide_gap(gap: float, bar: float, versus: Versus | None, tolerance: float) -> PartStatus:
    """Within the bar: pass. Over it: fail when it costs generalisation (the model trails the
    best baseline by more than ``tolerance`` and one row's worth, and the one-sided upper
    bound of its advantage is below 0; without intervals the point decides), else warn."""
    if gap <= bar:
        return "pass"
    if versus is None or versus.advantage is None:
        return "warn"
    costly = versus.advantage < -max(tolerance, versus.step) and (
        versus.upper is None or versus.upper < 0
    )
    return "fail" if costly else "warn"


def _versus_baselines(
    ctx: Context, split: str, metric: Metric, settings: Any, params: Any
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
        boot.note() + f"; one-sided {params.confidence:.0%} upper bound of the "
        "model's advantage = the upper end of the two-sided "
        f"{2 * params.confidence - 1:.0%} interval"
    )
    text = (
        f"the best baseline, {best}, scores {fmt(defined[best], metric)} on {where} "
        f"({boot.n_rows:,} held-out rows; model's advantage {fmt(advantage)}, one-sided "
        f"{params.confidence:.0%} upper bound {fmt(upper)})"
    )
    metrics: dict[str, float | None] = {
        f"best_baseline_{metric.name}": defined[best],
        "advantage_vs_best_baseline": advantage,
        "advantage_vs_best_baseline_ci_low": low,
        "advantage_vs_best_baseline_ci_high": high,
        "advantage_vs_best_baseline_upper_bound": upper,
        "comparison_rows": boot.n_rows,
        "one_row_step": step,
    }
    return Versus(advantage, upper, step, text, rows, notes, metrics)


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
def _history_part(ctx: Context, params: Any) -> Judgement:
    frame = ctx.history()
    where = ctx.config.model.history
    epochs = frame["epoch"].to_numpy()
    train = frame["train_loss"].cast(float).to_numpy()
    val = frame["val_loss"].cast(float).to_numpy()
    chart = Chart(
        "lines",
        "Training history: loss per epoch",
        {
            "x": epochs.tolist(),
            "series": {"train_loss": _nan_to_none(train), "val_loss": _nan_to_none(val)},
            "x_label": "epoch",
            "y_label": "loss",
        },
    )
    usable = np.isfinite(val) & np.isfinite(train)
    if usable.sum() < 2:
        return Judgement(
            "pass",
            f"the history ({where}) has fewer than two epochs with both losses",
            charts=[chart],
        )
    ep, tr, va = epochs[usable], train[usable], val[usable]
    best = int(np.argmin(va))
    best_epoch = int(ep[best])
    after = len(va) - 1 - best
    rise = (va[-1] - va[best]) / abs(va[best]) if va[best] != 0 else float(va[-1] - va[best])
    train_fell = bool(tr[-1] < tr[best])
    chart = Chart(chart.kind, chart.title, {**chart.data, "marker": best_epoch})
    metrics: dict[str, float | None] = {
        "best_epoch": best_epoch,
        "epochs_after_best": after,
        "val_loss_best": float(va[best]),
        "val_loss_last": float(va[-1]),
        "val_loss_rise": float(rise),
        "train_loss_at_best": float(tr[best]),
        "train_loss_last": float(tr[-1]),
    }
    thresholds: dict[str, float | None] = {"patience": params.patience, "min_rise": params.min_rise}
    tail = [
        (int(e), float(t), float(v))
        for e, t, v in zip(ep[best:], tr[best:], va[best:], strict=True)
    ]
    evidence = table(
        f"Epochs from the best validation loss (epoch {best_epoch})",
        ["epoch", "train_loss", "val_loss"],
        tail,
        note=f"history: {where}",
    )
    status = decide_history(after, rise, train_fell, params)
    story = (
        f"validation loss rose for {after} epochs after its best at epoch {best_epoch} "
        f"({va[best]:.4g} → {va[-1]:.4g}, {rise:+.1%}) while training loss kept falling "
        f"({tr[best]:.4g} → {tr[-1]:.4g})"
    )
    if status == "pass":
        text = (
            f"validation loss is lowest at epoch {best_epoch} of {int(ep[-1])}; it does not "
            f"rise for {params.patience}+ epochs while training loss falls"
        )
        return Judgement("pass", text, metrics, thresholds, [evidence], [chart])
    if status == "warn":
        return Judgement(
            "warn",
            f"{story}; the best epoch's weights were restored, so the shipped model is "
            f"epoch {best_epoch}'s",
            metrics,
            thresholds,
            [evidence],
            [chart],
            ["history"],
            "Training ran well past its best epoch; stop earlier to save time.",
        )
    return Judgement(
        "fail",
        f"overfitting began at epoch {best_epoch}: {story}",
        metrics,
        thresholds,
        [evidence],
        [chart],
        ["history"],
        f"Stop training at epoch {best_epoch} (early stopping that restores the best weights).",
    )


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
