"""Seeded data and Context builders shared by the trainer, model and train-command tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from qa.api import build_context
from qa.config import parse_config
from qa.context import Context
from tests.conftest import make_classification_frame, random_split


def make_regression_frame(n: int = 1000, seed: int = 0, noise: float = 0.5) -> pl.DataFrame:
    """y = 2*num_0 - num_1 + (cat effect) + noise: learnable by every non-trivial trainer."""
    rng = np.random.default_rng(seed)
    x0, x1, x2 = rng.normal(size=(3, n))
    cat = rng.choice(["a", "b", "c"], n)
    effect = np.select([cat == "a", cat == "b"], [1.0, -1.0], 0.0)
    y = 2 * x0 - x1 + effect + noise * rng.normal(size=n)
    return pl.DataFrame({"num_0": x0, "num_1": x1, "num_2": x2, "cat": cat, "label": y})


def split3(frame: pl.DataFrame, seed: int = 0) -> dict[str, pl.DataFrame]:
    train, validation, test = random_split(frame, (0.6, 0.2, 0.2), seed=seed)
    return {"train": train, "validation": validation, "test": test}


def context(
    frames: dict[str, Any],
    target: str = "label",
    task: str | None = None,
    seed: int = 0,
    **model: Any,
) -> Context:
    raw: dict[str, Any] = {"task": {"target": target}, "run": {"seed": seed, "threads": 1}}
    if task:
        raw["task"]["type"] = task
    if model:
        raw["model"] = model
    return build_context(parse_config(raw), frames=frames)


def classification_context(n: int = 1000, n_classes: int = 2, seed: int = 0, **kw: Any) -> Context:
    return context(split3(make_classification_frame(n=n, n_classes=n_classes, seed=seed)), **kw)


def accuracy(ctx: Context, preds: Any, split: str = "test") -> float:
    return float(np.mean(preds.labels == ctx.labels(split)))


def mae(ctx: Context, preds: Any, split: str = "test") -> float:
    return float(np.mean(np.abs(preds.values - ctx.labels(split))))
