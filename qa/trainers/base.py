"""The one trainer interface, scikit-learn style: ``Trainer.fit(data) -> FittedModel``.

Trainers know nothing of the Context. They receive a :class:`TrainingData`: the encoded
feature matrix per split (from the one :class:`~qa.encoding.FeatureEncoder`), the labels, the
:class:`~qa.task.TaskSpec`, a seed and a thread count. A ``FittedModel`` maps a feature matrix
to raw outputs (``predict(X)``: probabilities (n, k) in the task's class order, or values
(n,)), saves itself as a safe artifact with its sidecar (``save(dir) -> artifact path``), and
keeps its training ``history`` (one dict per epoch or boosting round; empty when not iterative).

Every trainer fits on train only (validation may steer early stopping; test is never read).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qa.encoding import FeatureEncoder
from qa.errors import ConfigError
from qa.models import threads_for
from qa.task import TaskSpec

if TYPE_CHECKING:
    from qa.models import ModelMeta

#: trainer name -> "module:class"; the modules load lazily (xgboost, torch are heavy).
TRAINERS: dict[str, str] = {
    "majority": "qa.trainers.majority:MajorityTrainer",
    "linear": "qa.trainers.linear:LinearTrainer",
    "xgboost": "qa.trainers.xgb:XGBoostTrainer",
    "mlp": "qa.trainers.mlp:MLPTrainer",
}


class LazySplits(Mapping[str, np.ndarray]):
    """A read-only ``split -> array`` mapping whose arrays are computed on first access."""

    def __init__(self, names: tuple[str, ...], compute: Callable[[str], np.ndarray]) -> None:
        self._names = names
        self._compute = compute

    def __getitem__(self, split: str) -> np.ndarray:
        if split not in self._names:
            raise KeyError(split)
        return self._compute(split)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass(frozen=True)
class TrainingData:
    """What a trainer may read: arrays per split, the task, the encoder, a seed and threads."""

    task: TaskSpec
    encoder: FeatureEncoder
    #: Encoded features per split, float32 (n, len(encoder.output_names)).
    X: Mapping[str, np.ndarray]
    #: Labels per labelled split: class indices into ``task.classes``, or float targets.
    y: Mapping[str, np.ndarray]
    seed: int = 0
    threads: int = 1

    @property
    def n_train(self) -> int:
        return int(self.X["train"].shape[0])

    def threads_for(self, n_rows: int) -> int:
        """Threads for fitting or predicting ``n_rows`` rows: ``threads``, or 1 on small data."""
        return threads_for(n_rows, self.threads)

    def train_rows(self, limit: int | None) -> tuple[np.ndarray | None, str]:
        """Row indices of train to fit on: all (None), or a seeded sample of ``limit`` rows
        (sorted), with a note saying what was sampled."""
        n = self.n_train
        if limit is None or n <= limit:
            return None, ""
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(n, size=limit, replace=False))
        return rows, f"fitted on a {limit:,}-row random sample of {n:,} train rows"

    def label_values(self, indices: np.ndarray) -> np.ndarray:
        """Class indices -> the original label values (ints, strings, booleans)."""
        return np.asarray(list(self.task.classes))[np.asarray(indices, dtype=np.int64)]


class FittedModel(ABC):
    """A model fitted by a trainer."""

    #: The trainer that made it (majority, mean, linear, xgboost, mlp).
    name: str = ""
    #: File name of the artifact ``save`` writes.
    artifact_name: ClassVar[str] = "model"

    def __init__(self, meta: ModelMeta) -> None:
        #: The sidecar: task, classes and the encoder the model's input is built with.
        self.meta = meta
        self.history: list[dict[str, float]] = []
        #: Anything the user should know about how it was fitted (sampling, holdout, ...).
        self.note: str = ""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw outputs for an encoded matrix: probabilities (n, k) in ``meta.classes`` order
        for a classifier, values (n,) for a regressor."""

    @abstractmethod
    def save(self, out_dir: Path) -> Path:
        """Write the artifact (and its ``.qa.json`` sidecar) into ``out_dir``; return its path."""

    @property
    def source(self) -> str:
        return f"trainer:{self.name}"


class Trainer(ABC):
    """Fits one kind of model on the train arrays of a :class:`TrainingData`."""

    name: ClassVar[str] = ""

    @abstractmethod
    def fit(self, data: TrainingData) -> FittedModel:
        """Fit on train (validation may steer early stopping); never look at test."""


def get_trainer(name: str, **options: Any) -> Trainer:
    """The trainer called ``name`` (majority, mean, linear, xgboost, mlp)."""
    if name == "mean":
        name = "majority"
    if name not in TRAINERS:
        raise ConfigError(f"trainer: unknown trainer {name!r} (expected {', '.join(TRAINERS)})")
    module_name, attr = TRAINERS[name].split(":")
    trainer: Trainer = getattr(importlib.import_module(module_name), attr)(**options)
    return trainer


def model_meta(data: TrainingData, trainer: str, input: str = "features") -> ModelMeta:
    """The sidecar for a model fitted on ``data`` by ``trainer``."""
    from qa.models import ModelMeta

    return ModelMeta(
        trainer=trainer,
        task=data.task.type,
        target=data.task.target,
        classes=data.task.class_names,
        encoder=data.encoder,
        input=input,
    )


class SklearnModel(FittedModel):
    """A fitted scikit-learn estimator, saved with skops as ``model.skops``."""

    artifact_name = "model.skops"

    def __init__(self, name: str, estimator: Any, meta: ModelMeta) -> None:
        super().__init__(meta)
        self.name = name
        self.estimator = estimator

    def predict(self, X: np.ndarray) -> np.ndarray:
        from qa.models import estimator_outputs

        return estimator_outputs(self.estimator, X, self.meta, f"trainer {self.name}")

    def save(self, out_dir: Path) -> Path:
        import skops.io as sio

        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.artifact_name
        sio.dump(self.estimator, str(path))
        self.meta.write(path)
        return path
