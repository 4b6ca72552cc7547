"""What a model is asked to do, as plain data: the task type, the target and its classes.

The Context resolves it from the data once (:attr:`qa.context.Context.task_spec`); trainers,
model artifacts and the out-of-fold models receive it instead of the Context, so nothing below
the Context needs to know the Context exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
