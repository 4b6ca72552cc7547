"""The linear baseline: logistic regression (classification) or ridge regression.

A scikit-learn ``Pipeline``: a ``ColumnTransformer`` imputes (median, with missing-value
indicators) and standardises numeric, boolean and date columns, and one-hot encodes categorical
columns (missing is a level of its own; unseen levels are ignored; rare levels are pooled and
at most ``MAX_LEVELS`` levels per column are kept, so a 100,000-level column stays small).
Every transformer is fitted on train only. With ``max_rows`` set (the baselines set it) and more
train rows than that, the model is fitted on a seeded random sample of that many rows, and its
``note`` says so.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

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
    """The unfitted pipeline: ColumnTransformer + LogisticRegression / Ridge."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in columns if ctx.kind(c) == "categorical"]
    numeric = [c for c in columns if c not in categorical]
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]), numeric))
    if categorical:
        transformers.append(("categorical", OneHotEncoder(
            handle_unknown="ignore", min_frequency=MIN_LEVEL_ROWS, max_categories=MAX_LEVELS,
            sparse_output=True,
        ), categorical))
    features = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.3)
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

        from qa.models import ModelMeta, model_frame

        meta = ModelMeta.from_context(ctx, self.name, "frame")
        rows, note = train_rows(ctx, self.max_rows)
        train = ctx.frame("train")
        y = ctx.labels("train")
        if rows is not None:
            train, y = train[rows], y[rows]
        X = model_frame(train, meta.feature_columns, meta.kinds)
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
