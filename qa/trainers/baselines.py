"""Reference baselines, fitted on train once per run: trivial, linear and XGBoost.

``Context.baselines()`` calls :func:`fit_baselines` lazily with the run's training arrays and
caches the result, so checks that compare a model with its baselines share one fit. Every
baseline predicts every split.

Speed: on large train sets the linear and XGBoost baselines are fitted on seeded random row
samples (``LINEAR_MAX_ROWS``, ``XGBOOST_MAX_ROWS``) and their ``note`` says so; a reference
model gains little from more rows, and this keeps 1,000,000 x 50 within about a minute and a
half on 2 cores. The predictions still cover every row of every split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qa.models import outputs_to_predictions
from qa.predictions import Predictions
from qa.trainers.base import FittedModel, TrainingData, get_trainer

#: Train rows above which the linear baseline is fitted on a sample of this size.
LINEAR_MAX_ROWS = 200_000
#: Train rows above which the XGBoost baseline is fitted on a sample of this size.
XGBOOST_MAX_ROWS = 250_000


@dataclass(frozen=True)
class Baseline:
    """One fitted baseline and its predictions."""

    #: "majority" (classification) | "mean" (regression) | "linear" | "xgboost"
    name: str
    #: One Predictions per split of the training data (source ``baseline:<name>``).
    predictions: Mapping[str, Predictions]
    #: How it was fitted when that matters to a reader, e.g. a row sample or early stopping.
    note: str = ""


def fit_baselines(data: TrainingData) -> dict[str, Baseline]:
    """Fit the trivial, linear and XGBoost baselines on train (seeded) and predict every split.

    Keys in order: ``"majority"`` (or ``"mean"`` for regression), ``"linear"``, ``"xgboost"``.
    """
    trivial = get_trainer("majority").fit(data)
    out = {trivial.name: _baseline(data, trivial.name, trivial)}
    for name, max_rows in (("linear", LINEAR_MAX_ROWS), ("xgboost", XGBOOST_MAX_ROWS)):
        if not data.encoder.feature_columns:  # nothing to learn from: the trivial model
            note = "no feature columns; predicts like the trivial baseline"
            out[name] = _baseline(data, name, trivial, note=note)
            continue
        out[name] = _baseline(data, name, get_trainer(name, max_rows=max_rows).fit(data))
    return out


def fitted_predictions(
    data: TrainingData, model: FittedModel, split: str, source: str | None = None
) -> Predictions:
    """A fitted model's predictions for one split of ``data``."""
    out = model.predict(data.X[split])
    return outputs_to_predictions(
        data.task, split, out, model.meta.classes, source or model.source, f"trainer {model.name}"
    )


def _baseline(
    data: TrainingData, name: str, model: FittedModel, note: str | None = None
) -> Baseline:
    source = f"baseline:{name}"
    predictions = {split: fitted_predictions(data, model, split, source) for split in data.X}
    return Baseline(name=name, predictions=predictions, note=model.note if note is None else note)
