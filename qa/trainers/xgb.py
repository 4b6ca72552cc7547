"""The gradient-boosted baseline: XGBoost ``hist`` on ``Context.feature_matrix``.

Categories are the Context's train codes (unseen and missing are NaN, which the trees route
on their own). With a labelled validation split, boosting stops early when the validation loss
has not improved for ``EARLY_STOPPING_ROUNDS`` rounds (at most ``MAX_ROUNDS``) and the model
keeps the best round; its per-round train/validation loss is the training history. Without one
it boosts a fixed ``FIXED_ROUNDS`` rounds. With ``max_rows`` set (the baselines set it) and more
train rows than that, it fits on a seeded sample of that many rows, and its ``note`` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import DataError
from qa.predictions import Predictions
from qa.trainers.base import FittedModel, Trainer, fit_threads, train_rows

if TYPE_CHECKING:
    from qa.context import Context

MAX_ROUNDS = 300
FIXED_ROUNDS = 100
EARLY_STOPPING_ROUNDS = 20
LEARNING_RATE = 0.1
MAX_DEPTH = 6


def objective(ctx: Context) -> tuple[dict[str, Any], str]:
    """XGBoost objective parameters and the name of its loss metric for this task."""
    if ctx.task == "binary":
        return {"objective": "binary:logistic", "eval_metric": "logloss"}, "logloss"
    if ctx.is_classification:
        return (
            {
                "objective": "multi:softprob",
                "num_class": len(ctx.classes),
                "eval_metric": "mlogloss",
            },
            "mlogloss",
        )
    return {"objective": "reg:squarederror", "eval_metric": "rmse"}, "rmse"


def encoded_labels(ctx: Context, split: str) -> np.ndarray:
    """Labels as XGBoost wants them: 0/1 for binary (1 = second class), class index, value."""
    y = ctx.labels(split)
    return y.astype(np.float32) if ctx.is_classification else y


class XGBoostModel(FittedModel):
    artifact_name = "model.json"

    def __init__(self, booster: Any, meta: Any) -> None:
        super().__init__()
        self.name = "xgboost"
        self.booster = booster
        self.meta = meta

    def predict(self, ctx: Context, split: str) -> Predictions:
        from qa.models import features_for, outputs_to_predictions

        X = features_for(ctx, split, self.meta)
        self.booster.set_param({"nthread": fit_threads(ctx, X.shape[0])})
        out = self.booster.inplace_predict(X)
        return outputs_to_predictions(
            ctx, split, out, self.meta.classes, self.source, "trainer xgboost"
        )

    def save(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.artifact_name
        self.booster.save_model(str(path))
        self.meta.write(path)
        return path


class XGBoostTrainer(Trainer):
    name = "xgboost"

    def __init__(self, max_rows: int | None = None, max_rounds: int = MAX_ROUNDS) -> None:
        self.max_rows = max_rows
        self.max_rounds = max_rounds

    def fit(self, ctx: Context) -> FittedModel:
        import xgboost as xgb

        from qa.models import ModelMeta

        if not ctx.feature_columns:
            raise DataError("data.train: no feature columns to fit XGBoost on")
        meta = ModelMeta.from_context(ctx, self.name, "features")
        rows, note = train_rows(ctx, self.max_rows)
        X, y = ctx.feature_matrix("train"), encoded_labels(ctx, "train")
        if rows is not None:
            X, y = X[rows], y[rows]
        obj, metric = objective(ctx)
        threads = fit_threads(ctx, X.shape[0])
        params = {
            **obj,
            "tree_method": "hist",
            "eta": LEARNING_RATE,
            "max_depth": MAX_DEPTH,
            "seed": ctx.seed,
            "nthread": threads,
            "verbosity": 0,
        }
        dtrain = xgb.QuantileDMatrix(X, label=y, nthread=threads)
        evals = [(dtrain, "train")]
        early = ctx.has_labels("validation")
        if early:
            dvalid = xgb.QuantileDMatrix(
                ctx.feature_matrix("validation"),
                label=encoded_labels(ctx, "validation"),
                ref=dtrain,
                nthread=threads,
            )
            evals.append((dvalid, "validation"))
        log: dict[str, dict[str, list[float]]] = {}
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=self.max_rounds if early else FIXED_ROUNDS,
            evals=evals,
            evals_result=log,
            verbose_eval=False,
            early_stopping_rounds=EARLY_STOPPING_ROUNDS if early else None,
        )
        if early:
            best = int(booster.best_iteration)
            booster = booster[: best + 1]
            note = "; ".join(
                filter(
                    None,
                    [
                        note,
                        f"early stopping on validation kept "
                        f"{best + 1} of at most {self.max_rounds} rounds",
                    ],
                )
            )
        model = XGBoostModel(booster, meta)
        model.note = note
        model.history = _history(log, metric)
        return model


def _history(log: dict[str, dict[str, list[float]]], metric: str) -> list[dict[str, float]]:
    train = log.get("train", {}).get(metric, [])
    valid = log.get("validation", {}).get(metric)
    rows = []
    for i, loss in enumerate(train):
        row = {"epoch": i + 1, "train_loss": float(loss)}
        if valid is not None:
            row["val_loss"] = float(valid[i])
        rows.append(row)
    return rows
