"""The linear baseline: logistic regression (classification) or ridge regression.

Input: the run's encoded feature matrix (float32; inf already NaN; categories as train codes,
missing NaN and unseen values one code of their own) -- the matrix the XGBoost baseline uses,
computed once. We do
not go through pandas strings: one-hot encoding string columns made prediction on 1,000,000
rows take over 30 s, integer codes take a second or two.

A scikit-learn ``Pipeline``: a ``ColumnTransformer`` imputes (median, with missing-value
indicators) and standardises numeric, boolean and date columns, and one-hot encodes categorical
codes (missing/unseen is a level of its own; rare levels are pooled and at most ``MAX_LEVELS``
levels per column are kept, so a 100,000-level column stays small).
Every transformer is fitted on train only. With ``max_rows`` set (the baselines set it) and more
train rows than that, the model is fitted on a seeded random sample of that many rows, and its
``note`` says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.errors import DataError
from qa.trainers.base import FittedModel, SklearnModel, Trainer, TrainingData, model_meta

#: Iteration cap for the logistic regression solver (lbfgs).
MAX_ITER = 300
#: One-hot levels kept per categorical column (the rest pooled as "infrequent").
MAX_LEVELS = 30
#: A level seen in fewer train rows than this is pooled as "infrequent".
MIN_LEVEL_ROWS = 5


def build_pipeline(kinds: Sequence[str], classification: bool, seed: int) -> Any:
    """The unfitted pipeline (ColumnTransformer + LogisticRegression / Ridge) on the columns
    of the encoded matrix, addressed by position; ``kinds`` has one kind per matrix column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [j for j, kind in enumerate(kinds) if kind == "categorical"]
    numeric = [j for j, kind in enumerate(kinds) if kind != "categorical"]
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                OneHotEncoder(
                    handle_unknown="ignore",
                    min_frequency=MIN_LEVEL_ROWS,
                    max_categories=MAX_LEVELS,
                    sparse_output=False,
                    dtype=np.float32,
                ),
                categorical,
            )
        )
    features = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    if classification:
        model = LogisticRegression(max_iter=MAX_ITER, C=1.0, random_state=seed)
    else:
        model = Ridge(alpha=1.0)
    return Pipeline([("features", features), ("model", model)])


class LinearTrainer(Trainer):
    """Logistic regression or ridge on standardised numbers and one-hot categories."""

    name = "linear"

    def __init__(self, max_rows: int | None = None) -> None:
        #: Fit on a seeded sample of at most this many train rows (None: every row).
        self.max_rows = max_rows

    def fit(self, data: TrainingData) -> FittedModel:
        from sklearn.exceptions import ConvergenceWarning

        if not data.encoder.feature_columns:
            raise DataError("data.train: no feature columns to fit a linear model on")
        rows, note = data.train_rows(self.max_rows)
        X, y = data.X["train"], data.y["train"]
        if rows is not None:
            X, y = X[rows], y[rows]
        classify = data.task.is_classification
        target = data.label_values(y) if classify else y
        pipeline = build_pipeline(data.encoder.output_kinds, classify, data.seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            pipeline.fit(X, target)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            note = "; ".join(filter(None, [note, f"solver stopped at {MAX_ITER} iterations"]))
        model = SklearnModel(self.name, pipeline, model_meta(data, self.name))
        model.note = note
        return model
