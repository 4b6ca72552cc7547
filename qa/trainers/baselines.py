"""Reference baselines, fitted on train once per run: trivial, linear and XGBoost.

``Context.baselines()`` calls :func:`fit_baselines` lazily and caches the result, so checks
that compare a model with its baselines share one fit. Every baseline predicts every split.

Speed: on large train sets the linear and XGBoost baselines are fitted on seeded random row
samples (``LINEAR_MAX_ROWS``, ``XGBOOST_MAX_ROWS``) and their ``note`` says so; a reference
model gains little from more rows, and this keeps 1,000,000 x 50 within about a minute and a
half on 2 cores. The predictions still cover every row of every split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.predictions import Predictions
from qa.trainers.base import FittedModel, get_trainer

if TYPE_CHECKING:
    from qa.context import Context


#: Train rows above which the linear baseline is fitted on a sample of this size.
LINEAR_MAX_ROWS = 200_000
#: Train rows above which the XGBoost baseline is fitted on a sample of this size.
XGBOOST_MAX_ROWS = 250_000


@dataclass(frozen=True)
class Baseline:
    """One fitted baseline and its predictions."""

    #: "majority" (classification) | "mean" (regression) | "linear" | "xgboost"
    name: str
    #: One Predictions per split in ``ctx.splits`` (source ``baseline:<name>``).
    predictions: Mapping[str, Predictions]
    #: How it was fitted when that matters to a reader, e.g. a row sample or early stopping.
    note: str = ""


def fit_baselines(ctx: Context) -> dict[str, Baseline]:
    """Fit the trivial, linear and XGBoost baselines on train (seeded) and predict every split.

    Keys in order: ``"majority"`` (or ``"mean"`` for regression), ``"linear"``, ``"xgboost"``.
    """
    trivial = get_trainer("majority").fit(ctx)
    out = {trivial.name: _baseline(ctx, trivial.name, trivial)}
    for name, max_rows in (("linear", LINEAR_MAX_ROWS), ("xgboost", XGBOOST_MAX_ROWS)):
        if not ctx.feature_columns:  # nothing to learn from: they reduce to the trivial model
            out[name] = _baseline(
                ctx, name, trivial, note="no feature columns; predicts like the trivial baseline"
            )
            continue
        out[name] = _baseline(ctx, name, get_trainer(name, max_rows=max_rows).fit(ctx))
    return out


def _baseline(ctx: Context, name: str, model: FittedModel, note: str | None = None) -> Baseline:
    source = f"baseline:{name}"
    predictions = {
        split: dataclasses.replace(model.predict(ctx, split), source=source) for split in ctx.splits
    }
    return Baseline(name=name, predictions=predictions, note=model.note if note is None else note)
