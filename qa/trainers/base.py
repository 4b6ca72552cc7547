"""The one trainer interface: ``Trainer.fit(ctx) -> FittedModel``.

A ``FittedModel`` predicts any split of the Context (``predict(ctx, split) -> Predictions``),
saves itself as a safe artifact with its sidecar (``save(dir) -> artifact path``), and keeps
its training ``history`` (one dict per epoch or boosting round; empty when not iterative).

Every trainer fits on train only, with ``ctx.seed`` and ``ctx.n_threads``. Classification
outputs are probabilities in ``ctx.classes`` order; regression outputs are values.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from qa.errors import ConfigError
from qa.predictions import Predictions

if TYPE_CHECKING:
    from qa.context import Context

#: trainer name -> "module:class"; the modules load lazily (xgboost, torch are heavy).
TRAINERS: dict[str, str] = {
    "majority": "qa.trainers.majority:MajorityTrainer",
    "linear": "qa.trainers.linear:LinearTrainer",
    "xgboost": "qa.trainers.xgb:XGBoostTrainer",
    "mlp": "qa.trainers.mlp:MLPTrainer",
}


class FittedModel(ABC):
    """A model fitted by a trainer."""

    #: The trainer that made it (majority, linear, xgboost, mlp).
    name: str = ""
    #: File name of the artifact ``save`` writes.
    artifact_name: ClassVar[str] = "model"

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        #: Anything the user should know about how it was fitted (sampling, holdout, ...).
        self.note: str = ""

    @abstractmethod
    def predict(self, ctx: Context, split: str) -> Predictions:
        """Predictions for every row of ``split`` (``source`` names the trainer)."""

    @abstractmethod
    def save(self, out_dir: Path) -> Path:
        """Write the artifact (and its ``.qa.json`` sidecar) into ``out_dir``; return its path."""

    @property
    def source(self) -> str:
        return f"trainer:{self.name}"


class Trainer(ABC):
    """Fits one kind of model on the train split of a Context."""

    name: ClassVar[str] = ""

    @abstractmethod
    def fit(self, ctx: Context) -> FittedModel:
        """Fit on train (validation may steer early stopping); never look at test."""


def get_trainer(name: str, **options: Any) -> Trainer:
    """The trainer called ``name`` (majority, mean, linear, xgboost, mlp)."""
    if name == "mean":
        name = "majority"
    if name not in TRAINERS:
        raise ConfigError(f"trainer: unknown trainer {name!r} (expected {', '.join(TRAINERS)})")
    module_name, attr = TRAINERS[name].split(":")
    return getattr(importlib.import_module(module_name), attr)(**options)


def train_rows(ctx: Context, limit: int | None) -> tuple[Any, str]:
    """Row indices of train to fit on: all, or a seeded sample of ``limit`` rows (sorted).

    Returns (indices or None for all rows, a note saying what was sampled).
    """
    import numpy as np

    n = ctx.frame("train").height
    if limit is None or n <= limit:
        return None, ""
    rng = np.random.default_rng(ctx.seed)
    rows = np.sort(rng.choice(n, size=limit, replace=False))
    return rows, f"fitted on a {limit:,}-row random sample of {n:,} train rows"


def label_values(ctx: Context, indices: Any) -> Any:
    """Class indices -> the original label values (ints, strings, booleans) as a numpy array."""
    import numpy as np

    return np.asarray(ctx.classes)[np.asarray(indices, dtype=np.int64)]


class SklearnModel(FittedModel):
    """A fitted scikit-learn estimator, saved with skops as ``model.skops``."""

    artifact_name = "model.skops"

    def __init__(self, name: str, estimator: Any, meta: Any) -> None:
        super().__init__()
        self.name = name
        self.estimator = estimator
        #: The sidecar (qa.models.ModelMeta) that says how to build the estimator's input.
        self.meta = meta

    def predict(self, ctx: Context, split: str) -> Predictions:
        from qa.models import estimator_predictions

        return estimator_predictions(
            ctx, split, self.estimator, self.meta, self.source, f"trainer {self.name}"
        )

    def save(self, out_dir: Path) -> Path:
        import skops.io as sio

        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.artifact_name
        sio.dump(self.estimator, str(path))
        self.meta.write(path)
        return path


#: Below this many rows a model fits on one thread: OpenMP start-up and synchronisation cost
#: more than the work (on a busy 2-core runner, 2 threads made a 400-row XGBoost fit 20x slower).
SMALL_DATA_ROWS = 20_000


def fit_threads(ctx: Context, n_rows: int) -> int:
    """Threads for fitting or predicting ``n_rows`` rows: ``ctx.n_threads``, or 1 on small data."""
    return 1 if n_rows < SMALL_DATA_ROWS else ctx.n_threads
