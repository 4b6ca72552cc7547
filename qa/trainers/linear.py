"""The linear baseline: logistic regression (classification) or ridge regression.

Input: ``Context.feature_matrix`` (float32; inf already NaN; categories as train codes, with
missing and unseen values NaN) -- the matrix the XGBoost baseline uses, computed once. We do
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
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import DataError
from qa.trainers.base import FittedModel, SklearnModel, Trainer, label_values, train_rows

if TYPE_CHECKING:
    from qa.context import Context

#: Iteration cap for the logistic regression solver (lbfgs).
MAX_ITER = 300
#: One-hot levels kept per categorical column (the rest pooled as "infrequent").
MAX_LEVELS = 30
#: A level seen in fewer train rows than this is pooled as "infrequent".
MIN_LEVEL_ROWS = 5


def build_pipeline(ctx: Context, columns: list[str], classification: bool) -> Any:
    """The unfitted pipeline (ColumnTransformer + LogisticRegression / Ridge) on the columns
    of ``Context.feature_matrix``, addressed by position."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [j for j, c in enumerate(columns) if ctx.kind(c) == "categorical"]
    numeric = [j for j, c in enumerate(columns) if ctx.kind(c) != "categorical"]
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
        model = LogisticRegression(max_iter=MAX_ITER, C=1.0, random_state=ctx.seed)
    else:
        model = Ridge(alpha=1.0)
    return Pipeline([("features", features), ("model", model)])


class LinearTrainer(Trainer):
    """Logistic regression or ridge on standardised numbers and one-hot categories."""

    name = "linear"

    def __init__(self, max_rows: int | None = None) -> None:
        #: Fit on a seeded sample of at most this many train rows (None: every row).
        self.max_rows = max_rows

    def fit(self, ctx: Context) -> FittedModel:
        from sklearn.exceptions import ConvergenceWarning

        from qa.models import ModelMeta

        if not ctx.feature_columns:
            raise DataError("data.train: no feature columns to fit a linear model on")
        meta = ModelMeta.from_context(ctx, self.name, "features")
        rows, note = train_rows(ctx, self.max_rows)
        X, y = ctx.feature_matrix("train"), ctx.labels("train")
        if rows is not None:
            X, y = X[rows], y[rows]
        if ctx.is_classification:
            y = label_values(ctx, y)
        pipeline = build_pipeline(ctx, meta.feature_columns, ctx.is_classification)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            pipeline.fit(X, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            note = "; ".join(filter(None, [note, f"solver stopped at {MAX_ITER} iterations"]))
        model = SklearnModel(self.name, pipeline, meta)
        model.note = note
        return model
