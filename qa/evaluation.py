"""Engine helpers the model-evaluation checks share: a split's true and predicted classes and
its confusion matrix, computed once per run and cached in the Context.

per-class-recall and confusion-clusters both read the test split through these; neither
check imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qa.context import Context


def evaluation_inputs(ctx: Context, split: str = "test") -> tuple[np.ndarray, np.ndarray] | str:
    """The true and predicted class indices of a split, or the reason they cannot be had."""
    if not ctx.has_split(split):
        return f"needs the {split} split, which was not given"
    if not ctx.has_labels(split):
        return f"the {split} split has no target column {ctx.target!r}"
    if not ctx.has_predictions(split):
        return f"needs model predictions for the {split} split"
    y_true = ctx.labels(split)
    if len(y_true) == 0:
        return f"the {split} split is empty"
    preds = ctx.predictions(split)
    if preds.labels is None:  # pragma: no cover - classification predictions always carry labels
        return f"the {split} predictions carry no class labels"
    return y_true, preds.labels


def confusion_counts(ctx: Context, split: str = "test") -> np.ndarray:
    """The k x k confusion matrix of a split (rows = true class, columns = predicted), cached.

    Raises ValueError with the reason when :func:`evaluation_inputs` has none to give.
    """

    def compute() -> np.ndarray:
        inputs = evaluation_inputs(ctx, split)
        if isinstance(inputs, str):
            raise ValueError(inputs)
        y_true, y_pred = inputs
        return confusion_from_indices(y_true, y_pred, len(ctx.classes))

    return ctx.cached(("confusion_counts", split), compute)


def confusion_from_indices(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrix from class indices: one ``bincount`` over ``true * k + predicted``."""
    flat = y_true.astype(np.int64) * k + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=k * k).reshape(k, k)
