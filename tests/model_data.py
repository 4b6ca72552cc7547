"""Seeded data and fitted models for the model-evaluation check tests.

Predictions are written in the contract format (``prediction`` plus ``proba_<label>``) and handed
to ``qa.check(..., predictions={...})`` as DataFrames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

SPLITS = ("train", "validation", "test")


def classification_splits(
    n: int = 3000,
    n_classes: int = 2,
    flip: float = 0.1,
    seed: int = 0,
    n_features: int = 8,
    fractions: Sequence[float] = (0.5, 0.25, 0.25),
    weights: Sequence[float] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A learnable classification problem with ``flip`` of labels randomised (label noise)."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=max(2, n_features // 2),
        n_redundant=1,
        n_classes=n_classes,
        flip_y=flip,
        class_sep=1.0,
        weights=weights,
        random_state=seed,
    )
    return _cut(x.astype(np.float32), y, fractions, seed)


def regression_splits(
    n: int = 3000,
    noise: float = 20.0,
    seed: int = 0,
    n_features: int = 8,
    fractions: Sequence[float] = (0.5, 0.25, 0.25),
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import make_regression

    x, y = make_regression(
        n_samples=n, n_features=n_features, n_informative=5, noise=noise, random_state=seed
    )
    y = y + 0.002 * y**2  # a little curvature so trees and lines differ
    return _cut(x.astype(np.float32), y, fractions, seed)


def _cut(x: np.ndarray, y: np.ndarray, fractions: Sequence[float], seed: int):
    order = np.random.default_rng(seed).permutation(len(y))
    out, start = {}, 0
    for split, frac in zip(SPLITS, fractions, strict=False):
        stop = len(y) if split == SPLITS[len(fractions) - 1] else start + int(frac * len(y))
        idx = order[start:stop]
        out[split] = (x[idx], y[idx])
        start = stop
    return out


def frames(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    target: str = "label",
    labels: Sequence[Any] | None = None,
) -> dict[str, pl.DataFrame]:
    """The splits as polars frames with columns f0..fk and the target (optionally relabelled)."""
    out = {}
    for split, (x, y) in data.items():
        cols = {f"f{i}": x[:, i] for i in range(x.shape[1])}
        cols[target] = [labels[int(v)] for v in y] if labels is not None else y
        out[split] = pl.DataFrame(cols)
    return out


def classifier_predictions(
    model: Any, data: dict[str, tuple[np.ndarray, np.ndarray]], labels: Sequence[Any] | None = None
) -> dict[str, pl.DataFrame]:
    """Prediction frames in the contract format for a fitted scikit-learn style classifier."""
    out = {}
    for split, (x, _y) in data.items():
        proba = model.predict_proba(x)
        out[split] = proba_frame(proba, labels or list(range(proba.shape[1])))
    return out


def proba_frame(proba: np.ndarray, labels: Sequence[Any]) -> pl.DataFrame:
    cols: dict[str, Any] = {"prediction": [labels[i] for i in np.argmax(proba, axis=1)]}
    for i, label in enumerate(labels):
        cols[f"proba_{label}"] = proba[:, i]
    return pl.DataFrame(cols)


def regressor_predictions(
    model: Any, data: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, pl.DataFrame]:
    return {split: pl.DataFrame({"prediction": model.predict(x)}) for split, (x, _) in data.items()}


def prior_predictions(
    data: dict[str, tuple[np.ndarray, np.ndarray]], n_classes: int = 2
) -> dict[str, pl.DataFrame]:
    """A model that ignores the features and predicts the train class prior for every row."""
    prior = np.bincount(data["train"][1], minlength=n_classes) / len(data["train"][1])
    return {
        split: proba_frame(np.tile(prior, (len(y), 1)), list(range(n_classes)))
        for split, (_x, y) in data.items()
    }


def xgb_classifier(n_estimators: int = 200, seed: int = 0) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=n_estimators, tree_method="hist", n_jobs=1, random_state=seed, verbosity=0
    )


def checks_config(check_id: str, **params: Any) -> dict[str, dict[str, Any]]:
    return {check_id: params}
