"""What a model is asked to do, as plain data: the task type, the target and its classes.

The Context resolves it from the data once (:attr:`qa.context.Context.task_spec`); trainers,
model artifacts and the out-of-fold models receive it instead of the Context, so nothing below
the Context needs to know the Context exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

#: An integer target with at most this many values is a classification target.
MAX_CLASSES_FOR_INFERENCE = 20


@dataclass(frozen=True)
class TaskSpec:
    """The task type (binary | multiclass | regression), the target, and the class labels in
    the fixed order every probability matrix uses (empty for regression)."""

    type: str
    target: str
    classes: tuple[Any, ...] = ()

    @property
    def is_classification(self) -> bool:
        return self.type in ("binary", "multiclass")

    @property
    def class_names(self) -> list[str]:
        """``str`` of each class label: the names of ``proba_<label>`` columns."""
        return [str(c) for c in self.classes]


def infer_task_type(target: pl.Series) -> str:
    """binary | multiclass | regression, from train's target values when none is declared."""
    from qa.encoding import column_kind

    series = target.drop_nulls()
    n_unique = series.n_unique()
    if series.dtype == pl.Boolean or column_kind(series.dtype) == "categorical":
        return "binary" if n_unique <= 2 else "multiclass"
    if series.dtype.is_integer() or (
        series.dtype.is_float() and bool((series == series.round(0)).all())
    ):
        if n_unique <= 2:
            return "binary"
        if n_unique <= MAX_CLASSES_FOR_INFERENCE:
            return "multiclass"
    return "regression"
