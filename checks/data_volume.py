"""Is there enough training data for the task?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.base import Check, CheckResult, param, table
from qa.context import Context


class DataVolume(Check):
    """Enough training rows for the task, overall and in every class.

    What it checks
    --------------
    The number of train rows. For a binary task, the total; for a multiclass task, the rows of
    every class; for regression, the total against its own bar. Validation and test sizes are
    reported beside it.

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
        n_train = ctx.frame("train").height
        metrics: dict[str, float] = {f"rows_{s}": ctx.frame(s).height for s in ctx.splits}
        if ctx.task == "multiclass":
            return self._per_class(ctx, params, n_train, metrics)
        bar = params.min_rows_binary if ctx.task == "binary" else params.min_rows_regression
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
                f"train has {n_train:,} rows; a {ctx.task} task wants at least {bar:,}",
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

    def _per_class(
        self, ctx: Context, params: Params, n_train: int, metrics: dict[str, float]
    ) -> CheckResult:
        counts = np.bincount(ctx.labels("train"), minlength=len(ctx.classes))
        names = ctx.class_names
        smallest = int(counts.min())
        metrics = {**metrics, "min_rows_per_class": smallest}
        thresholds = {
            "min_rows_per_class": params.min_rows_per_class,
            "min_rows_fail": params.min_rows_fail,
        }
        short = [
            (names[i], int(counts[i]))
            for i in np.argsort(counts, kind="stable")
            if counts[i] < params.min_rows_per_class
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
                f"{len(short)} of {len(names)} classes have fewer than "
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
