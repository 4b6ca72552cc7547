"""Is there enough training data for the task?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.base import Check, CheckResult, param, table
from qa.context import Context

if TYPE_CHECKING:
    from qa.profile_context import ProfileContext


@dataclass(frozen=True)
class Volume:
    """What the check measures: rows per split and, for a multiclass task, train rows per class
    (every class of every labelled split, in the Context's class order)."""

    rows: Mapping[str, int]
    task: str
    class_rows: tuple[tuple[str, int], ...] = ()

    @property
    def train(self) -> int:
        return self.rows["train"]


class DataVolume(Check):
    """Enough training rows for the task, overall and in every class.

    What it checks
    --------------
    The number of train rows. For a binary task, the total; for a multiclass task, the rows of
    every class; for regression, the total against its own bar. Validation and test sizes are
    reported beside it.

    On profiles (``--engine``, ``--reference``) the rows of every split and of every train
    class are the profiles' counts: exact, nothing is sampled. A class that only another split
    has (no train rows) is named from that split's examples of values train never had (up to
    20 per split).

    Why it matters
    --------------
    With too few rows a model memorises noise, its test score swings from one split to the next,
    and a per-class metric on a class with a handful of rows means little. Rules of thumb from
    practice: a few thousand rows for a binary task, about a thousand per class for a
    multiclass one.

    How it decides
    --------------
    Warns when train has fewer rows than the bar (binary, regression) or when some class has
    fewer train rows than the per-class bar (multiclass). Fails only below the hard floor
    ``min_rows_fail`` (default 50 rows), where no evaluation is meaningful.

    How to fix
    ----------
    Gather more labelled data (for the classes named in the evidence first), merge rare classes
    into a broader one, or use a simpler model and cross-validation instead of a single split.
    """

    id = "data-volume"
    title = "Enough data for the task"
    requires = ("train",)
    severity = "error"
    profiles_supported = True

    @dataclass(frozen=True)
    class Params:
        min_rows_binary: int = param(5000, "Train rows below which a binary task warns.", ge=1)
        min_rows_per_class: int = param(
            1000, "Train rows per class below which a multiclass task warns.", ge=1
        )
        min_rows_regression: int = param(
            5000, "Train rows below which a regression task warns.", ge=1
        )
        min_rows_fail: int = param(50, "Train rows below which the check fails outright.", ge=0)

    def run(self, ctx: Context, params: Params) -> CheckResult:
        return self._judge(measure_rows(ctx), params)

    def run_profiles(self, pctx: ProfileContext, params: Params) -> CheckResult:
        return self._judge(measure_profile_rows(pctx), params)

    def _judge(self, volume: Volume, params: Params) -> CheckResult:
        n_train = volume.train
        metrics: dict[str, float] = {f"rows_{s}": n for s, n in volume.rows.items()}
        if volume.task == "multiclass":
            return self._per_class(volume, params, metrics)
        bar = params.min_rows_binary if volume.task == "binary" else params.min_rows_regression
        thresholds = {"min_rows": bar, "min_rows_fail": params.min_rows_fail}
        if n_train < params.min_rows_fail:
            return self.result(
                "fail",
                f"train has only {n_train} rows (floor {params.min_rows_fail})",
                metrics=metrics,
                thresholds=thresholds,
                subjects=["train"],
            )
        if n_train < bar:
            return self.result(
                "warn",
                f"train has {n_train:,} rows; a {volume.task} task wants at least {bar:,}",
                metrics=metrics,
                thresholds=thresholds,
                subjects=["train"],
            )
        return self.result(
            "pass",
            f"train has {n_train:,} rows (bar {bar:,})",
            metrics=metrics,
            thresholds=thresholds,
        )

    def _per_class(self, volume: Volume, params: Params, metrics: dict[str, float]) -> CheckResult:
        n_train = volume.train
        smallest = min((n for _, n in volume.class_rows), default=0)
        metrics = {**metrics, "min_rows_per_class": smallest}
        thresholds = {
            "min_rows_per_class": params.min_rows_per_class,
            "min_rows_fail": params.min_rows_fail,
        }
        short = [
            (name, n)
            for name, n in sorted(volume.class_rows, key=lambda item: item[1])  # stable
            if n < params.min_rows_per_class
        ]
        evidence = [table("Classes under the per-class bar", ["class", "train rows"], short)]
        if n_train < params.min_rows_fail:
            return self.result(
                "fail",
                f"train has only {n_train} rows (floor {params.min_rows_fail})",
                metrics=metrics,
                thresholds=thresholds,
                evidence=evidence,
                subjects=["train"],
            )
        if short:
            listed = ", ".join(f"{c!r} ({n})" for c, n in short[:5])
            return self.result(
                "warn",
                f"{len(short)} of {len(volume.class_rows)} classes have fewer than "
                f"{params.min_rows_per_class:,} train rows: {listed}",
                metrics=metrics,
                thresholds=thresholds,
                evidence=evidence,
                subjects=[c for c, _ in short],
            )
        return self.result(
            "pass",
            f"every class has at least {smallest:,} train rows",
            metrics=metrics,
            thresholds=thresholds,
        )


# --------------------------------------------------------------------------- measure
def measure_rows(ctx: Context) -> Volume:
    """Rows per split, and train rows per class (multiclass) from the labels."""
    rows = {s: ctx.frame(s).height for s in ctx.splits}
    if ctx.task != "multiclass":
        return Volume(rows, ctx.task)
    counts = np.bincount(ctx.labels("train"), minlength=len(ctx.classes))
    class_rows = tuple((name, int(n)) for name, n in zip(ctx.class_names, counts, strict=True))
    return Volume(rows, ctx.task, class_rows)


def measure_profile_rows(pctx: ProfileContext) -> Volume:
    """Rows per split and train rows per class from the profiles' counts (exact)."""
    rows = {s: pctx.rows(s) for s in pctx.splits}
    if pctx.task != "multiclass" or pctx.target is None:
        return Volume(rows, pctx.task)
    train = pctx.categorical("train", pctx.target)
    train_counts = dict(train.counts) if train is not None else {}
    seen: set[str] = set()
    for split in pctx.splits:
        column = pctx.categorical(split, pctx.target) if pctx.has_labels(split) else None
        if column is not None:
            seen |= set(column.counts) | set(column.other_examples)
    dtype = pctx.profiles.spec.column(pctx.target).dtype
    classes = _as_classes(seen, dtype)
    class_rows = tuple((str(c), sum(train_counts.get(t, 0) for t in classes[c])) for c in classes)
    return Volume(rows, pctx.task, class_rows)


def _as_classes(texts: Iterable[str], dtype: str) -> dict[Any, list[str]]:
    """The profile's class values (as strings) as the Context's classes, in its order: numbers
    for a numeric target (1.0 is the class 1), True/False for a boolean one; each with the
    strings that name it."""
    classes: dict[Any, list[str]] = {}
    for text in texts:
        classes.setdefault(_class_value(text, dtype), []).append(text)
    return {c: classes[c] for c in sorted(classes, key=lambda v: (str(type(v)), v))}


def _class_value(text: str, dtype: str) -> Any:
    if dtype == "Boolean" and text in ("true", "false"):
        return text == "true"
    if dtype.startswith(("Int", "UInt", "Float", "Decimal")):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() else number
    return text
