"""The gradient-boosted baseline: XGBoost ``hist`` on the run's encoded feature matrix.

Categories are the encoder's train codes (missing is NaN, which the trees route on their own;
an unseen value has a code of its own). With a labelled validation split, boosting stops early when the validation loss
has not improved for ``EARLY_STOPPING_ROUNDS`` rounds (at most ``MAX_ROUNDS``) and the model
keeps the best round; its per-round train/validation loss is the training history. Without one
it boosts a fixed ``FIXED_ROUNDS`` rounds. With ``max_rows`` set (the baselines set it) and more
train rows than that, it fits on a seeded sample of that many rows, and its ``note`` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import DataError
from qa.models import ModelMeta, threads_for
from qa.task import TaskSpec
from qa.trainers.base import FittedModel, Trainer, TrainingData, model_meta

MAX_ROUNDS = 300
FIXED_ROUNDS = 100
EARLY_STOPPING_ROUNDS = 20
LEARNING_RATE = 0.1
MAX_DEPTH = 6


def objective(task: TaskSpec) -> tuple[dict[str, Any], str]:
    """XGBoost objective parameters and the name of its loss metric for this task."""
    if task.type == "binary":
        return {"objective": "binary:logistic", "eval_metric": "logloss"}, "logloss"
    if task.is_classification:
        return (
            {
                "objective": "multi:softprob",
                "num_class": len(task.classes),
                "eval_metric": "mlogloss",
            },
            "mlogloss",
        )
    return {"objective": "reg:squarederror", "eval_metric": "rmse"}, "rmse"


def xgb_labels(task: TaskSpec, y: np.ndarray) -> np.ndarray:
    """Labels as XGBoost wants them: 0/1 for binary (1 = second class), class index, value."""
    return y.astype(np.float32) if task.is_classification else y


class XGBoostModel(FittedModel):
    artifact_name = "model.json"

    def __init__(self, booster: Any, meta: ModelMeta) -> None:
        super().__init__(meta)
        self.name = "xgboost"
        self.booster = booster
        #: Threads for prediction on large inputs (small ones use one).
        self.threads = 1

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.booster.set_param({"nthread": threads_for(X.shape[0], self.threads)})
        out = np.asarray(self.booster.inplace_predict(X), dtype=np.float64)
        if self.meta.task == "binary":
            return np.column_stack([1.0 - out, out])
        return out

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

    def fit(self, data: TrainingData) -> FittedModel:
        import xgboost as xgb

        if not data.encoder.feature_columns:
            raise DataError("data.train: no feature columns to fit XGBoost on")
        rows, note = data.train_rows(self.max_rows)
        X, y = data.X["train"], xgb_labels(data.task, data.y["train"])
        if rows is not None:
            X, y = X[rows], y[rows]
        obj, metric = objective(data.task)
        threads = data.threads_for(X.shape[0])
        params = {
            **obj,
            "tree_method": "hist",
            "eta": LEARNING_RATE,
            "max_depth": MAX_DEPTH,
            "seed": data.seed,
            "nthread": threads,
            "verbosity": 0,
        }
        dtrain = xgb.QuantileDMatrix(X, label=y, nthread=threads)
        evals = [(dtrain, "train")]
        early = "validation" in data.y
        if early:
            dvalid = xgb.QuantileDMatrix(
                data.X["validation"],
                label=xgb_labels(data.task, data.y["validation"]),
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
            kept = (
                f"early stopping on validation kept {best + 1} of at most {self.max_rounds} rounds"
            )
            note = "; ".join(filter(None, [note, kept]))
        model = XGBoostModel(booster, model_meta(data, self.name))
        model.threads = data.threads
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
