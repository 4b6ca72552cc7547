"""The trivial baseline: the train class prior (classification) or the train mean (regression).

Any model worth shipping must beat it. Saved as a scikit-learn ``DummyClassifier`` /
``DummyRegressor`` in skops format; it ignores its input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qa.trainers.base import FittedModel, SklearnModel, Trainer, label_values

if TYPE_CHECKING:
    from qa.context import Context


class MajorityTrainer(Trainer):
    """Class prior probabilities with the most frequent class as the label; or the mean."""

    name = "majority"

    def fit(self, ctx: Context) -> FittedModel:
        from sklearn.dummy import DummyClassifier, DummyRegressor

        from qa.models import ModelMeta

        n = ctx.frame("train").height
        X = np.zeros((n, 1), dtype=np.float32)
        if ctx.is_classification:
            estimator = DummyClassifier(strategy="prior")
            estimator.fit(X, label_values(ctx, ctx.labels("train")))
            name = "majority"
        else:
            estimator = DummyRegressor(strategy="mean")
            estimator.fit(X, ctx.labels("train"))
            name = "mean"
        return SklearnModel(name, estimator, ModelMeta.from_context(ctx, name, "none"))
