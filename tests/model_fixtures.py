"""Seeded data, fitted models and planted defects for the model-evaluation check tests.

Two kinds of helper, one module:

- split generators (``classification_splits``, ``regression_splits``) with ``frames`` and the
  prediction-frame builders (``classifier_predictions``, ``proba_frame``, ...): predictions in
  the contract format (``prediction`` plus ``proba_<label>``) handed to
  ``qa.check(..., predictions={...})`` as DataFrames;
- ``ModelCase`` cases (``digits_case``, ``blobs_case``, ``label_inputs``): the splits carry the
  label and a single feature, the predictions come from a real fitted model (logistic
  regression), and defects are planted in them with a known size (``fold_class``, ``sharpen``,
  ``planted_confusion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
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


# ------------------------------------------------------------------ model cases


@dataclass(frozen=True)
class ModelCase:
    """Train and test splits, the class labels, and the model's test probabilities."""

    train: pl.DataFrame
    test: pl.DataFrame
    classes: tuple[Any, ...]
    proba: np.ndarray  # (n_test, k), columns in ``classes`` order

    @property
    def y_test(self) -> np.ndarray:
        """Test labels as indices into ``classes``."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup[v] for v in self.test["label"].to_list()])

    def predictions(
        self,
        pred_index: np.ndarray | None = None,
        proba: np.ndarray | None = None,
        with_proba: bool = True,
    ) -> pl.DataFrame:
        """A prediction frame: ``prediction`` (argmax unless given) and ``proba_<label>``."""
        proba = self.proba if proba is None else proba
        index = proba.argmax(axis=1) if pred_index is None else pred_index
        data: dict[str, Any] = {"prediction": [self.classes[i] for i in index]}
        if with_proba:
            for j, c in enumerate(self.classes):
                data[f"proba_{c}"] = proba[:, j]
        return pl.DataFrame(data)

    def inputs(self, **kwargs: Any) -> dict[str, Any]:
        """Keyword arguments for ``qa.check`` with these predictions as the test predictions."""
        return dict(
            train=self.train,
            test=self.test,
            target="label",
            predictions={"test": self.predictions(**kwargs)},
        )

    def rename(self, names: dict[Any, Any]) -> ModelCase:
        """The same case with class labels renamed (e.g. to hostile strings)."""
        classes = tuple(names.get(c, c) for c in self.classes)
        # Keep the column order the checks will see: classes sorted like Context.classes.
        order = sorted(range(len(classes)), key=lambda i: (str(type(classes[i])), classes[i]))

        def relabel(frame: pl.DataFrame) -> pl.DataFrame:
            values = [names.get(v, v) for v in frame["label"].to_list()]
            return frame.with_columns(pl.Series("label", values))

        return replace(
            self,
            train=relabel(self.train),
            test=relabel(self.test),
            classes=tuple(classes[i] for i in order),
            proba=self.proba[:, order],
        )


def fold_class(y_true: np.ndarray, y_pred: np.ndarray, source: int, target: int) -> np.ndarray:
    """Predictions where every true-``source`` row is predicted as ``target``."""
    out = y_pred.copy()
    out[y_true == source] = target
    return out


def sharpen(proba: np.ndarray, factor: float) -> np.ndarray:
    """Multiply the logits by ``factor`` (> 1: overconfident) and renormalise."""
    logits = np.log(np.clip(proba, 1e-300, 1.0)) * factor
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def _frames(
    y_train: np.ndarray, y_test: np.ndarray, x_train: np.ndarray, x_test: np.ndarray
) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        pl.DataFrame({"x0": x_train[:, 0], "label": y_train}),
        pl.DataFrame({"x0": x_test[:, 0], "label": y_test}),
    )


def _fit(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> ModelCase:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    train, test = _frames(y_train, y_test, x_train, x_test)
    return ModelCase(
        train=train,
        test=test,
        classes=tuple(int(c) for c in model.classes_),
        proba=model.predict_proba(x_test),
    )


@cache
def digits_case(seed: int = 0) -> ModelCase:
    """load_digits (10 classes, ~54 test rows each) with a scaled logistic regression."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=seed
    )
    return _fit(x_train, y_train, x_test, y_test)


@cache
def blobs_case(
    n_classes: int = 5, n: int = 6000, seed: int = 0, spread: float = 1.6, n_features: int = 4
) -> ModelCase:
    """Gaussian classes with a shared covariance: logistic regression is the true model,
    so its probabilities are calibrated. Half the rows train, half test."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, n)
    x = centres[y] + rng.normal(size=(n, n_features))
    half = n // 2
    return _fit(x[:half], y[:half], x[half:], y[half:])


def label_inputs(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Any = None,
    proba: np.ndarray | None = None,
    train_per_class: int = 20,
    task: str | None = None,
) -> dict[str, Any]:
    """``qa.check`` inputs from index arrays: every class appears in train, test holds
    ``y_true`` and the predictions ``y_pred`` (and ``proba`` when given)."""
    k = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    classes = list(range(k)) if classes is None else list(classes)
    train_y = np.repeat(np.arange(len(classes)), train_per_class)
    train = pl.DataFrame({"x0": np.zeros(len(train_y)), "label": [classes[i] for i in train_y]})
    test = pl.DataFrame(
        {"x0": np.zeros(len(y_true)), "label": [classes[i] for i in y_true]},
        schema_overrides={"label": train.schema["label"]},
    )
    data: dict[str, Any] = {
        "prediction": pl.Series([classes[i] for i in y_pred], dtype=train.schema["label"])
    }
    if proba is not None:
        for j, c in enumerate(classes):
            data[f"proba_{c}"] = proba[:, j]
    out = dict(train=train, test=test, target="label", predictions={"test": pl.DataFrame(data)})
    if task:
        out["task"] = task
    return out


def planted_confusion(
    support: dict[int, int], confused: dict[tuple[int, int], int], seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and predictions with an exact confusion: ``support[c]`` rows of class c,
    ``confused[(a, b)]`` of class a's rows predicted as b, the rest predicted right."""
    y_true, y_pred = [], []
    for c, n in support.items():
        preds = [c] * n
        at = 0
        for (a, b), m in confused.items():
            if a == c:
                preds[at : at + m] = [b] * m
                at += m
        y_true += [c] * n
        y_pred += preds
    order = np.random.default_rng(seed).permutation(len(y_true))
    return np.asarray(y_true)[order], np.asarray(y_pred)[order]
