"""The trivial baseline: the train class prior (classification) or the train mean (regression).

Any model worth shipping must beat it. Saved as a scikit-learn ``DummyClassifier`` /
``DummyRegressor`` in skops format; it ignores its input.
"""

from __future__ import annotations

import numpy as np

from qa.trainers.base import FittedModel, SklearnModel, Trainer, TrainingData, model_meta


class MajorityTrainer(Trainer):
    """Class prior probabilities with the most frequent class as the label; or the mean."""

    name = "majority"

    def fit(self, data: TrainingData) -> FittedModel:
        from sklearn.dummy import DummyClassifier, DummyRegressor

        y = data.y["train"]
        X = np.zeros((len(y), 1), dtype=np.float32)
        estimator: DummyClassifier | DummyRegressor
        if data.task.is_classification:
            estimator = DummyClassifier(strategy="prior")
            estimator.fit(X, data.label_values(y))
            name = "majority"
        else:
            estimator = DummyRegressor(strategy="mean")
            estimator.fit(X, y)
            name = "mean"
        return SklearnModel(name, estimator, model_meta(data, name, "none"))
