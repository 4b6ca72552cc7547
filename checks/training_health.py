"""Was training itself healthy? Non-finite losses, exploding gradients, no early stopping."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from qa.base import STATUSES, Chart, Check, CheckResult, Evidence, param, table
from qa.checks.overfit_gap import PartStatus
from qa.context import Context

GRAD = "grad_norm"
LR = "lr"
#: Epochs named in a message before the rest are counted (the evidence table lists them all).
MAX_NAMED = 8


class TrainingHealth(Check):
    """Finite losses, gradient norms that do not explode, and training that stopped on its own.

    What it checks
    --------------
    The training history (``[model] history``; see ``qa.history`` for the formats), row by
    epoch:

    1. Every loss column (train_loss, val_loss and any other column whose name ends in
       "loss") for NaN or infinite values.
    2. The grad_norm column — the global L2 norm of the gradients — for an explosion: a
       value many times the smallest of the few epochs before it, or above a declared bar.
       A history without the column (older files, other frameworks) is judged on the rest and
       the message says grad_norm is not available.
    3. Whether training stopped on its own: validation loss still improving over the last
       ``patience`` epochs means the run ended while it was still learning.

    The lr column (learning rate), when present, is reported beside the epochs at fault (and
    "not available" otherwise); it does not decide anything. ``qa train --trainer mlp`` writes
    both grad_norm (averaged over the epoch's batches) and lr.

    Why it matters
    --------------
    A NaN loss means the weights are garbage from that epoch on; a checkpoint saved around it
    may load and predict without an error, so nothing downstream notices. Exploding gradients
    come before the NaN — or leave a model that jumped to a worse region and never recovered.
    A run that was still improving when it stopped ships a model worse than the same recipe
    gives with a little more training; the held-out scores understate what is reachable and
    comparisons against other models are unfair. (The opposite fault, training long past the
    best epoch while validation loss rises, is the ``overfit-gap`` check's.)

    How it decides
    --------------
    These are fixed rules, not statistical tests: the check draws nothing from the gate's
    false-alarm budget.

    - A NaN or infinite value in a loss column → fail, naming the column and the epochs.
      An empty cell is missing, not NaN (pandas writes NaN as an empty cell: use
      na_rep="nan"); missing values are counted in the message and decide nothing.
    - grad_norm at some epoch at least ``explode_factor`` times the smallest finite positive
      grad_norm within the ``explode_window`` epochs before it (by epoch number) → fail.
      grad_norm above ``max_grad_norm`` (when declared) → fail.
    - NaN or infinite grad_norm while every loss stayed finite → warn: such steps did not
      reach the weights, which is what a mixed-precision loss scaler does when it skips them.
    - Over the epochs with a finite validation loss: the best of the last ``patience`` of them
      lower than the best before them by more than ``min_improvement`` (relative) → warn,
      "set epochs high and use early stopping". An early-stopped run has spent its last
      ``patience`` or more epochs without improving, so it passes (keep ``patience`` at most
      the early-stopping patience you train with). With fewer epochs than ``patience`` + 1,
      the last of them are compared with the first. Not judged when a loss is not finite
      (the run diverged; that fails above).

    The worst of the three decides. The evidence lists the epochs at fault; the chart shows
    grad_norm per epoch (on a linear axis) when the history has it.

    How to fix
    ----------
    Non-finite losses or exploding gradients: lower the learning rate (or warm it up), clip
    the gradient norm (``torch.nn.utils.clip_grad_norm_``, Keras ``clipnorm``), normalise the
    inputs and add normalisation layers, look for NaN or infinite inputs, and guard the loss
    against log(0) or division by zero. Log the gradient norm before clipping, or the
    history hides the explosion. Non-finite gradient norms with finite losses under mixed
    precision are the loss scaler's skipped steps: log the norm of the steps taken. Still
    improving at the end: set epochs high and use early stopping (several epochs of patience,
    restoring the best weights).
    """

    id = "training-health"
    title = "Training was healthy"
    requires = ("history",)
    severity = "error"
    fail_tests = 0

    @dataclass(frozen=True)
    class Params:
        explode_factor: float = param(
            10.0,
            "grad_norm this many times the smallest of the explode_window epochs before it "
            "fails (an explosion).",
            gt=1.0,
        )
        explode_window: int = param(
            3,
            "How many epochs back (by epoch number) an explosion is measured from.",
            ge=1,
        )
        max_grad_norm: float | None = param(
            None,
            "A declared bar: grad_norm above it at any epoch fails (none by default).",
            gt=0.0,
        )
        patience: int = param(
            3,
            "The last epochs (with a validation loss) in which validation loss must have "
            "stopped improving; keep it at most your early-stopping patience.",
            ge=1,
        )
        min_improvement: float = param(
            0.005,
            "Relative improvement of the best validation loss within the last patience "
            "epochs, over the best before them, above which training was still improving "
            "(warn).",
            ge=0.0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        frame = ctx.history()
        where = ctx.config.model.history
        epochs = frame["epoch"].to_numpy().astype(np.int64)
        losses = _loss_part(frame, epochs)
        parts = [losses, _grad_part(frame, epochs, params, losses.status != "pass")]
        parts.append(_lr_part(frame))
        diverged = losses.status == "fail"
        parts.append(_improvement_part(epochs, _column(frame, "val_loss"), params, diverged))
        status = min((p.status for p in parts), key=STATUSES.index)
        ordered = sorted(parts, key=lambda p: STATUSES.index(p.status))  # worst first
        bad = [p for p in ordered if p.status != "pass"]
        faults = [row for p in parts for row in p.faults]
        evidence = [_fault_table(faults, frame, where)] if faults else []
        thresholds: dict[str, float | None] = {
            "explode_factor": params.explode_factor,
            "explode_window": params.explode_window,
            "max_grad_norm": params.max_grad_norm,
            "patience": params.patience,
            "min_improvement": params.min_improvement,
        }
        return self.result(
            status,
            "; ".join(p.message for p in ordered if p.message),
            metrics={"epochs": frame.height, **{k: v for p in parts for k, v in p.metrics.items()}},
            thresholds=thresholds,
            evidence=evidence,
            charts=[c for p in parts for c in p.charts],
            subjects=[s for p in bad for s in p.subjects],
            remedy=" ".join(p.remedy for p in bad if p.remedy) or None,
        )


# --------------------------------------------------------------------------- measure
@dataclass(frozen=True)
class NonFinite:
    """The NaN or infinite values of one column: epochs and values, in epoch order."""

    column: str
    epochs: tuple[int, ...]
    values: tuple[float, ...]


def measure_nonfinite(
    epochs: np.ndarray, values: np.ndarray, present: np.ndarray, column: str
) -> NonFinite:
    """Epochs whose value is NaN or ±inf among those where one was written (``present``:
    False where the file left the cell empty, which is missing rather than NaN)."""
    bad = present & ~np.isfinite(values)
    return NonFinite(
        column, tuple(int(e) for e in epochs[bad]), tuple(float(v) for v in values[bad])
    )


@dataclass(frozen=True)
class Growth:
    """``grad_norm`` at ``epoch`` against the smallest within the window before it."""

    epoch: int
    value: float
    from_epoch: int
    from_value: float
    ratio: float


def measure_growth(epochs: np.ndarray, grad: np.ndarray, window: int) -> list[Growth]:
    """For each epoch with a finite positive ``grad_norm``: its ratio to the smallest finite
    positive ``grad_norm`` of the epochs ``epoch - window`` to ``epoch - 1`` (none when that
    window has no such value)."""
    usable = np.isfinite(grad) & (grad > 0)
    ep, g = epochs[usable], grad[usable]
    growth = []
    for j in range(len(g)):
        prior = np.flatnonzero((ep >= ep[j] - window) & (ep < ep[j]))
        if prior.size == 0:
            continue
        i = int(prior[np.argmin(g[prior])])
        growth.append(Growth(int(ep[j]), float(g[j]), int(ep[i]), float(g[i]), float(g[j] / g[i])))
    return growth


@dataclass(frozen=True)
class Improvement:
    """The best validation loss of the last ``patience`` epochs against the best before."""

    #: Epochs of the window (the last ``patience`` epochs with a finite validation loss).
    window: tuple[int, ...]
    best_before: float
    best_before_epoch: int
    best_recent: float
    best_recent_epoch: int
    #: (best_before - best_recent) / |best_before|; positive when the window improved.
    improvement: float
    #: (epoch, validation loss) over the window.
    tail: tuple[tuple[int, float], ...]


def measure_improvement(epochs: np.ndarray, val: np.ndarray, patience: int) -> Improvement | None:
    """Over the epochs with a finite validation loss (None below two): the best of the last
    ``patience`` of them (all but the first when there are fewer) against the best before."""
    usable = np.isfinite(val)
    ep, va = epochs[usable], val[usable]
    if len(va) < 2:
        return None
    w = min(patience, len(va) - 1)
    before, recent = va[:-w], va[-w:]
    i, j = int(np.argmin(before)), int(np.argmin(recent))
    base = float(before[i])
    gain = (base - float(recent[j])) / abs(base) if base != 0 else base - float(recent[j])
    return Improvement(
        window=tuple(int(e) for e in ep[-w:]),
        best_before=base,
        best_before_epoch=int(ep[i]),
        best_recent=float(recent[j]),
        best_recent_epoch=int(ep[-w:][j]),
        improvement=float(gain),
        tail=tuple((int(e), float(v)) for e, v in zip(ep[-w:], recent, strict=True)),
    )


# --------------------------------------------------------------------------- decide
def decide_losses(bad_loss_epochs: int, bad_grad_epochs: int) -> PartStatus:
    """Any NaN or infinite loss fails; a non-finite grad_norm with finite losses warns."""
    if bad_loss_epochs:
        return "fail"
    return "warn" if bad_grad_epochs else "pass"


def decide_grad(largest_ratio: float | None, largest: float | None, params: Any) -> PartStatus:
    """grad_norm grown ``explode_factor``-fold within the window, or above ``max_grad_norm``:
    fail."""
    if largest_ratio is not None and largest_ratio >= params.explode_factor:
        return "fail"
    bar = params.max_grad_norm
    if bar is not None and largest is not None and largest > bar:
        return "fail"
    return "pass"


def decide_improvement(improvement: float | None, params: Any) -> PartStatus:
    """The last ``patience`` epochs improved the best validation loss by more than
    ``min_improvement`` (relative): warn (training stopped while still improving)."""
    if improvement is None or improvement <= params.min_improvement:
        return "pass"
    return "warn"


# --------------------------------------------------------------------------- the parts
#: One epoch at fault: (epoch, finding, column, value, detail); ``lr`` is added by the table.
Fault = tuple[int, str, str, Any, str]


@dataclass
class Part:
    """The verdict of one rule family (losses, grad_norm, lr, early stopping)."""

    status: PartStatus
    message: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    remedy: str = ""


def _column(frame: pl.DataFrame, name: str) -> np.ndarray:
    """A history column as floats, missing values (empty cells) as NaN."""
    return frame[name].cast(pl.Float64).to_numpy().astype(np.float64)


def _nonfinite(frame: pl.DataFrame, epochs: np.ndarray, name: str) -> NonFinite:
    present = frame[name].is_not_null().to_numpy()
    return measure_nonfinite(epochs, _column(frame, name), present, name)


def _loss_part(frame: pl.DataFrame, epochs: np.ndarray) -> Part:
    columns = [c for c in frame.columns if c != "epoch" and c.endswith("loss")]
    bad = [b for b in (_nonfinite(frame, epochs, c) for c in columns) if b.epochs]
    grad_bad = _nonfinite(frame, epochs, GRAD) if GRAD in frame.columns else None
    bad_epochs = sorted({e for b in bad for e in b.epochs})
    n_grad = len(grad_bad.epochs) if grad_bad else 0
    status = decide_losses(len(bad_epochs), n_grad)
    missing = {c: frame[c].null_count() for c in columns if frame[c].null_count()}
    faults: list[Fault] = [
        (e, "non-finite loss", b.column, _cell(v), "")
        for b in bad
        for e, v in zip(b.epochs, b.values, strict=True)
    ]
    metrics: dict[str, float | None] = {
        "nonfinite_loss_epochs": len(bad_epochs),
        "first_nonfinite_loss_epoch": bad_epochs[0] if bad_epochs else None,
        "missing_loss_values": sum(missing.values()),
    }
    if grad_bad is not None:
        metrics["nonfinite_grad_norm_epochs"] = n_grad
        detail = "losses finite: a skipped step?" if status == "warn" else ""
        faults += [
            (e, "non-finite gradient", GRAD, _cell(v), detail)
            for e, v in zip(grad_bad.epochs, grad_bad.values, strict=True)
        ]
    if bad:
        found = " and ".join(
            f"{b.column} is {_kinds(b.values)} at {_epochs_text(b.epochs)}" for b in bad
        )
        message = (
            f"training diverged: {found} (first at epoch {bad_epochs[0]} of {int(epochs.max())})"
        )
    else:
        message = f"losses are finite at all {len(epochs)} epochs"
    if status == "warn" and grad_bad is not None:
        message += (
            f"; but {GRAD} is {_kinds(grad_bad.values)} at {_epochs_text(grad_bad.epochs)} "
            "while the losses stayed finite (steps a mixed-precision loss scaler skipped?)"
        )
    if missing:
        listed = ", ".join(f"{c} {n}" for c, n in missing.items())
        message += f" ({listed} epochs have no value: empty cells, read as missing, not NaN)"
    remedy = {"fail": _DIVERGED, "warn": _SKIPPED}.get(status, "")
    subjects = [b.column for b in bad] + ([GRAD] if status == "warn" else [])
    return Part(status, message, metrics, faults, [], subjects, remedy)


def _grad_part(frame: pl.DataFrame, epochs: np.ndarray, params: Any, diverged: bool) -> Part:
    if GRAD not in frame.columns:
        return Part(
            "pass",
            f"{GRAD}: not available (the history has no {GRAD} column; log the global L2 "
            "norm of the gradients per epoch to have explosions checked)",
        )
    grad = _column(frame, GRAD)
    finite = grad[np.isfinite(grad)]
    if finite.size == 0:
        return Part("pass", f"{GRAD}: not available (the column has no finite values)")
    growth = measure_growth(epochs, grad, params.explode_window)
    top = max(growth, key=lambda g: g.ratio, default=None)
    largest = float(finite.max())
    largest_epoch = int(epochs[np.isfinite(grad)][int(np.argmax(finite))])
    status = decide_grad(top.ratio if top else None, largest, params)
    exploded = [g for g in growth if g.ratio >= params.explode_factor]
    bar = params.max_grad_norm
    over = [
        (int(e), float(v))
        for e, v in zip(epochs, grad, strict=True)
        if bar is not None and np.isfinite(v) and v > bar
    ]
    faults: list[Fault] = [
        (
            g.epoch,
            "gradient explosion",
            GRAD,
            g.value,
            f"{g.ratio:.3g}x the {g.from_value:.4g} at epoch {g.from_epoch}",
        )
        for g in exploded
    ]
    faults += [
        (e, "above max_grad_norm", GRAD, v, f"bar {params.max_grad_norm:g}") for e, v in over
    ]
    metrics: dict[str, float | None] = {
        "grad_norm_max": largest,
        "grad_norm_max_epoch": largest_epoch,
        "grad_norm_last": float(finite[-1]),
        "grad_norm_growth": top.ratio if top else None,
        "grad_norm_growth_epoch": top.epoch if top else None,
    }
    parts = []
    if exploded:
        g = exploded[0]
        parts.append(
            f"{GRAD} exploded: {g.from_value:.4g} at epoch {g.from_epoch} → {g.value:.4g} at "
            f"epoch {g.epoch} ({g.ratio:.3g}x, explode_factor {params.explode_factor:g} within "
            f"{params.explode_window} epochs; {len(exploded)} epoch(s) at fault)"
        )
    if over:
        parts.append(
            f"{GRAD} is above max_grad_norm {params.max_grad_norm:g} at "
            f"{_epochs_text([e for e, _ in over])} (largest {largest:.4g} at epoch {largest_epoch})"
        )
    if not parts:
        grew = (
            f"grew at most {top.ratio:.3g}x within {params.explode_window} epochs"
            if top
            else "has too few epochs to measure growth"
        )
        bar = (
            f", under max_grad_norm {params.max_grad_norm:g}"
            if params.max_grad_norm is not None
            else ""
        )
        parts.append(f"{GRAD} {grew} (largest {largest:.4g} at epoch {largest_epoch}{bar})")
    marker = (exploded[0].epoch if exploded else over[0][0]) if status == "fail" else None
    remedy = _EXPLODED if status == "fail" and not diverged else ""
    return Part(
        status,
        "; ".join(parts),
        metrics,
        faults,
        [_grad_chart(epochs, grad, marker)],
        [GRAD] if status == "fail" else [],
        remedy,
    )


def _lr_part(frame: pl.DataFrame) -> Part:
    if LR not in frame.columns or not np.isfinite(_column(frame, LR)).any():
        return Part("pass", f"{LR}: not available")
    lr = _column(frame, LR)
    finite = lr[np.isfinite(lr)]
    first, last = float(finite[0]), float(finite[-1])
    if np.allclose(finite, first, rtol=1e-9, atol=0.0):
        text = f"{LR} {first:.3g} throughout"
    else:
        low, high = float(finite.min()), float(finite.max())
        text = f"{LR} {first:.3g} → {last:.3g} (range {low:.3g} to {high:.3g})"
    return Part("pass", text, {"lr_first": first, "lr_last": last, "lr_max": float(finite.max())})


def _improvement_part(epochs: np.ndarray, val: np.ndarray, params: Any, diverged: bool) -> Part:
    if diverged:
        return Part("pass", "early stopping not judged: the losses are not finite")
    found = measure_improvement(epochs, val, params.patience)
    if found is None:
        return Part(
            "pass", "fewer than two epochs with a finite validation loss: early stopping not judged"
        )
    status = decide_improvement(found.improvement, params)
    first, last = found.window[0], found.window[-1]
    span = f"epoch {last}" if first == last else f"epochs {first}–{last}"
    if last != int(epochs.max()):
        span += ", the last with a finite validation loss"
    metrics: dict[str, float | None] = {
        "val_loss_improvement": found.improvement,
        "val_loss_best_epoch": found.best_recent_epoch
        if found.best_recent < found.best_before
        else found.best_before_epoch,
    }
    if status == "pass":
        if found.improvement <= 0:
            message = (
                f"training stopped improving: validation loss is lowest at epoch "
                f"{found.best_before_epoch}, no lower in the last {len(found.window)} epochs "
                f"({span})"
            )
        else:
            message = (
                f"validation loss improved {found.improvement:.2%} in the last "
                f"{len(found.window)} epochs ({span}), within min_improvement "
                f"{params.min_improvement:g}: converged"
            )
        return Part("pass", message, metrics)
    message = (
        f"validation loss was still falling when training stopped: {found.best_before:.4g} "
        f"(best up to epoch {found.best_before_epoch}) → {found.best_recent:.4g} at epoch "
        f"{found.best_recent_epoch}, {found.improvement:.2%} better within the last "
        f"{len(found.window)} epochs ({span}; min_improvement {params.min_improvement:g}) — "
        "set epochs high and use early stopping"
    )
    best = found.best_recent_epoch
    faults: list[Fault] = [
        (e, "still improving", "val_loss", v, "best" if e == best else "") for e, v in found.tail
    ]
    return Part(status, message, metrics, faults, [], ["early-stopping"], _STILL)


# --------------------------------------------------------------------------- explain
_DIVERGED = (
    "Training diverged: lower the learning rate (or warm it up), clip the gradient norm, "
    "normalise the inputs, look for NaN or infinite inputs, and guard the loss against log(0) "
    "or division by zero."
)
_EXPLODED = (
    "Gradients grew too large: clip the gradient norm (log it before clipping), lower the learning "
    "rate or warm it up, and normalise the inputs (batch or layer normalisation)."
)
_SKIPPED = (
    "Non-finite gradient norms with finite losses are usually steps a mixed-precision loss "
    "scaler skipped (log the norm of the steps taken); without mixed precision, clip gradients "
    "and lower the learning rate."
)
_STILL = (
    "Validation loss was still falling when training stopped: set epochs high and use early "
    "stopping (several epochs of patience, restoring the best weights)."
)


def _fault_table(faults: Sequence[Any], frame: pl.DataFrame, where: str | None) -> Evidence:
    """The epochs at fault, in epoch order, with the learning rate when the history has it."""
    rows = sorted(faults, key=lambda r: (r[0], r[1], r[2]))
    columns = ["epoch", "finding", "column", "value", "detail"]
    if LR in frame.columns:
        lr = dict(zip(frame["epoch"].to_list(), frame[LR].to_list(), strict=True))
        rows = [(*r, lr.get(r[0])) for r in rows]
        columns.append(LR)
    return table("Epochs at fault", columns, rows, note=f"history: {where}")


def _grad_chart(epochs: np.ndarray, grad: np.ndarray, marker: int | None) -> Chart:
    data: dict[str, Any] = {
        "x": epochs.tolist(),
        "series": {GRAD: grad.tolist()},  # NaN and inf become gaps (json_safe)
        "x_label": "epoch",
        "y_label": "gradient L2 norm (log scale)",
        "log_y": True,  # an explosion spans orders of magnitude; a linear axis flattens the rest
    }
    if marker is not None:
        data["marker"] = marker
        data["marker_label"] = f"at fault from epoch {marker}"
    return Chart("lines", f"Training history: {GRAD} per epoch", data)


def _cell(value: float) -> float | str:
    """A value for the evidence table: NaN and infinities as text (JSON has neither)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _kinds(values: Sequence[float]) -> str:
    """'NaN', 'inf', 'NaN or inf' ... for the values at fault."""
    kinds = sorted({str(_cell(v)) for v in values}, key=["NaN", "inf", "-inf"].index)
    return " or ".join(kinds)


def _epochs_text(epochs: Sequence[int]) -> str:
    """'epoch 7', 'epochs 7–9, 12' (runs collapsed; the first MAX_NAMED runs, then a count)."""
    runs: list[list[int]] = []
    for e in sorted(set(epochs)):
        if runs and e == runs[-1][-1] + 1:
            runs[-1].append(e)
        else:
            runs.append([e])
    named = [str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs[:MAX_NAMED]]
    text = ", ".join(named)
    if len(runs) > MAX_NAMED:
        text += f" and {sum(len(r) for r in runs[MAX_NAMED:])} more"
    return ("epoch " if len(set(epochs)) == 1 else "epochs ") + text
