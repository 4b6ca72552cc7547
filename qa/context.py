"""The shared Context: inputs plus every expensive artefact, computed once and on demand.

Checks never load data or fit models themselves; they ask the Context, which caches:
the encoded feature matrix per split, labels, model predictions, out-of-fold probabilities,
fitted reference baselines, the training history.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import polars as pl

from qa.config import Config
from qa.data import InputInfo
from qa.encoding import ColumnKind, FeatureEncoder, column_kind
from qa.errors import DataError
from qa.predictions import Predictions, encode_labels, parse_predictions
from qa.task import TaskSpec, infer_task_type

if TYPE_CHECKING:
    from qa.models import SplitInput
    from qa.oof import OOFFit
    from qa.trainers.base import FittedModel, TrainingData
    from qa.trainers.baselines import Baseline

T = TypeVar("T")

#: An integer or integral-float target with at most this many values is a class label.


def available_cores() -> int:
    """Cores this process may really use (cgroup/affinity aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class Context:
    """Everything a check may read. Built by :func:`qa.api.build_context`."""

    def __init__(
        self,
        config: Config,
        frames: Mapping[str, pl.DataFrame],
        inputs: Mapping[str, InputInfo],
        *,
        prediction_sources: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.frames: dict[str, pl.DataFrame] = dict(frames)
        self.inputs: dict[str, InputInfo] = dict(inputs)
        #: Prediction files (paths) or in-memory prediction frames, keyed by split.
        self.prediction_sources: dict[str, Any] = dict(
            prediction_sources if prediction_sources is not None else config.model.predictions
        )
        self._cache: dict[Any, Any] = {}
        #: Each testing check's share of the false-alarm budget, set by the runner for the
        #: checks that will run (see qa.budget).
        self.false_alarm_shares: dict[str, float] = {}
        #: Looks at the test set with new predictions, this run's included (see qa.looks).
        self.test_looks = 0
        if config.task.target is None:
            raise DataError("task.target: no target column given (use --target or [task] target)")
        self.target: str = config.task.target
        self.task: str = self._resolve_task()
        self._validate_target()

    # ------------------------------------------------------------------ basics
    @property
    def seed(self) -> int:
        return self.config.run.seed

    @cached_property
    def n_threads(self) -> int:
        """Threads for one model fit: the configured number, else every core we may use."""
        return self.config.run.threads or available_cores()

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.frames)

    def has_split(self, split: str) -> bool:
        return split in self.frames

    def frame(self, split: str) -> pl.DataFrame:
        return self.frames[split]

    @property
    def is_classification(self) -> bool:
        return self.task in ("binary", "multiclass")

    def false_alarm_share(self, check_id: str) -> float:
        """The significance level a check's fail rules share: its part of ``[run]
        false_alarm_rate`` in this run, or the whole rate when it runs alone (not planned)."""
        return self.false_alarm_shares.get(check_id, self.config.run.false_alarm_rate)

    def cached(self, key: Any, compute: Callable[[], T]) -> T:
        """Compute ``compute()`` once per key for the life of this Context."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def missing_requirement(self, requires: Sequence[str]) -> str | None:
        """The reason a check cannot run here, or None when all it needs is present."""
        for need in requires:
            if need in ("train", "validation", "test", "production") and need not in self.frames:
                return f"needs the {need} split, which was not given"
            if need == "labels" and not any(
                self.has_labels(s) for s in self.frames if s != "train"
            ):
                return "needs labels outside train, and no other split has the target column"
            if need == "classification" and not self.is_classification:
                return f"applies to classification tasks; this task is {self.task}"
            if need == "predictions" and not self.has_predictions():
                return "needs model predictions ([model.predictions] files or a model artifact)"
            if need == "model" and not self.config.model.artifact:
                return "needs a model artifact ([model] artifact)"
            if need == "history" and not self.config.model.history:
                return "needs a training history file ([model] history)"
        return None

    # ------------------------------------------------------------------ target and task
    def _resolve_task(self) -> str:
        if self.config.task.type:
            return self.config.task.type
        return infer_task_type(self.frames["train"][self.target])

    def _validate_target(self) -> None:
        train = self.frames["train"][self.target]
        for split, frame in self.frames.items():
            if self.target not in frame.columns:
                continue
            column = frame[self.target]
            nulls = column.null_count()
            if column.dtype.is_float():  # NaN read from a file is a missing target too
                nulls += int(column.is_nan().sum())
                infinite = int(column.is_infinite().sum())
                if infinite:
                    raise DataError(
                        f"data.{split}: target column {self.target!r} has "
                        f"{infinite} infinite value(s)"
                    )
            if nulls:
                raise DataError(
                    f"data.{split}: target column {self.target!r} has {nulls} missing value(s)"
                )
        if self.is_classification:
            n_classes = train.n_unique()
            if n_classes < 2:
                raise DataError(
                    f"data.train: target column {self.target!r} has a single class "
                    f"({train[0]!r}); a classifier needs at least two"
                )
            if self.task == "binary" and len(self.classes) > 2:
                if not self.config.task.type:  # inferred from train: blame the split, not a key
                    self._raise_unseen_classes(train)
                raise DataError(
                    f"task.type: binary, but target {self.target!r} has {len(self.classes)} "
                    f"classes across the splits: {self.classes[:10]}"
                )
        else:
            if not train.dtype.is_numeric():
                raise DataError(
                    f"task.type: regression needs a numeric target; {self.target!r} is {train.dtype}"
                )

    def _raise_unseen_classes(self, train: pl.Series) -> None:
        """Name the split whose target has classes train lacks (the task was inferred as binary)."""
        seen = set(train.unique().to_list())
        for split, frame in self.frames.items():
            if split == "train" or self.target not in frame.columns:
                continue
            unseen = sorted(set(frame[self.target].unique().to_list()) - seen, key=str)
            if unseen:
                raise DataError(
                    f"data.{split}: target {self.target!r} has class(es) never seen in train: "
                    f"{unseen[:10]} (train has 2 classes, so the task was inferred as binary; "
                    'set task.type = "multiclass" if that is intended)'
                )

    @cached_property
    def classes(self) -> list[Any]:
        """Class labels in a fixed order: the sorted union over every labelled split."""
        if not self.is_classification:
            return []
        values: set[Any] = set()
        for frame in self.frames.values():
            if self.target in frame.columns:
                values.update(frame[self.target].unique().to_list())
        # 0.0 / 1.0 read from a CSV are the classes 0 / 1 (and name proba_0, proba_1).
        values = {int(v) if isinstance(v, float) and v.is_integer() else v for v in values}
        return sorted(values, key=lambda v: (str(type(v)), v))

    @cached_property
    def class_names(self) -> list[str]:
        return [str(c) for c in self.classes]

    @cached_property
    def positive_index(self) -> int:
        """Index of the positive class for binary tasks (config, else 1/True, else the last)."""
        wanted = self.config.task.positive_label
        names = self.class_names
        if wanted is not None:
            if str(wanted) not in names:
                raise DataError(
                    f"task.positive_label: {wanted!r} is not one of the classes {names}"
                )
            return names.index(str(wanted))
        for candidate in ("1", "True", "true", "yes", "positive"):
            if candidate in names:
                return names.index(candidate)
        return len(names) - 1

    def has_labels(self, split: str) -> bool:
        return split in self.frames and self.target in self.frames[split].columns

    def labels(self, split: str) -> np.ndarray:
        """Class indices (classification) or float targets (regression) for a labelled split."""

        def compute() -> np.ndarray:
            series = self.frames[split][self.target]
            if self.is_classification:
                return encode_labels(series, self.classes, f"data.{split} target {self.target!r}")
            return series.cast(pl.Float64).to_numpy()

        if not self.has_labels(split):
            raise DataError(f"data.{split}: has no target column {self.target!r}")
        return self.cached(("labels", split), compute)

    # ------------------------------------------------------------------ features
    @cached_property
    def reserved_columns(self) -> set[str]:
        task = self.config.task
        return {c for c in (task.target, task.id, task.time, task.group) if c}

    @cached_property
    def feature_columns(self) -> list[str]:
        """Columns the model may use: all train columns except target, id, time and group."""
        train = self.frames["train"]
        return [
            c
            for c in train.columns
            if c not in self.reserved_columns and column_kind(train.schema[c]) != "other"
        ]

    def kind(self, column: str) -> ColumnKind:
        """A feature column's kind (numeric, boolean, datetime, categorical), as encoded."""
        return self.encoder.kind(column)

    @cached_property
    def encoder(self) -> FeatureEncoder:
        """The one feature encoder, fitted on train's feature columns."""
        return FeatureEncoder.fit(self.frames["train"], self.feature_columns)

    def feature_matrix(self, split: str) -> np.ndarray:
        """The split's features as float32 (n, len(encoder.output_names)); see qa.encoding.

        Numbers as they are (inf becomes NaN); booleans 0/1; datetimes as epoch seconds plus
        calendar parts; categories as codes fitted on train (unseen values one code of their
        own, missing NaN).
        """
        return self.cached(("features", split), lambda: self.encoder.transform(self.frames[split]))

    def split_input(self, split: str) -> SplitInput:
        """The split as a model artifact reads it (frame, encoder, cached matrix)."""
        from qa.models import SplitInput

        return SplitInput(
            split, self.frames[split], self.encoder, lambda: self.feature_matrix(split)
        )

    @cached_property
    def task_spec(self) -> TaskSpec:
        return TaskSpec(self.task, str(self.target), tuple(self.classes))

    def training_data(self) -> TrainingData:
        """Arrays for a trainer: features per split and labels per labelled split, computed
        on first use and cached here."""
        from qa.trainers.base import LazySplits, TrainingData

        labelled = tuple(s for s in self.splits if self.has_labels(s))
        return TrainingData(
            task=self.task_spec,
            encoder=self.encoder,
            X=LazySplits(self.splits, self.feature_matrix),
            y=LazySplits(labelled, self.labels),
            seed=self.seed,
            threads=self.n_threads,
        )

    def fitted_predictions(self, model: FittedModel, split: str) -> Predictions:
        """A model fitted by a trainer (``qa train``, tests) predicting one split."""
        from qa.trainers.baselines import fitted_predictions

        return fitted_predictions(self.training_data(), model, split)

    def pandas(self, split: str) -> Any:
        """The split as a pandas DataFrame (for libraries that want one), cached."""
        return self.cached(("pandas", split), lambda: self.frames[split].to_pandas())

    # ------------------------------------------------------------------ model outputs
    def has_predictions(self, split: str | None = None) -> bool:
        if self.config.model.artifact:
            return split is None or split in self.frames
        if split is None:
            return any(s in self.frames for s in self.prediction_sources)
        return split in self.prediction_sources and split in self.frames

    def predictions(self, split: str) -> Predictions:
        """The model's predictions for a split: from its prediction file, else the artifact."""

        def compute() -> Predictions:
            source = self.prediction_sources.get(split)
            if source is not None:
                return self._read_predictions(split, source)
            if self.config.model.artifact:
                return self.artifact_predictions(split)
            raise DataError(f"model.predictions.{split}: no predictions for the {split} split")

        return self.cached(("predictions", split), compute)

    def artifact_predictions(self, split: str) -> Predictions:
        """The model artifact's own predictions for a split, even where a prediction file is
        given (robustness perturbs around them, serving compares them with the file); once."""

        def compute() -> Predictions:
            loaded = self.model_artifact()
            return loaded.predict(self.split_input(split), self.task_spec, self.n_threads)

        return self.cached(("artifact_predictions", split), compute)

    def model_artifact(self) -> Any:
        """``[model] artifact`` loaded once (``qa.models.LoadedModel``)."""
        from qa.models import load_artifact

        path = self.config.model.artifact
        if not path:
            raise DataError("model.artifact: no model artifact given")
        return self.cached(
            ("model_artifact", path), lambda: load_artifact(path, self.config.model.trust)
        )

    def _read_predictions(self, split: str, source: Any) -> Predictions:
        from qa.data import as_frame

        frame, path = as_frame(source, f"model.predictions.{split}")
        return parse_predictions(
            frame,
            path or f"the {split} predictions DataFrame",
            split,
            self.frames[split],
            self.task,
            self.classes,
            self.config.task.id,
        )

    def oof_fit(self, n_folds: int = 5) -> OOFFit:
        """Out-of-fold fit of train with ``n_folds`` folds (or the user's ``[model] oof``
        file), computed once per fold count; see ``qa.oof``."""
        from qa import oof

        def compute() -> OOFFit:
            if not self.is_classification:
                raise DataError(
                    f"task.type: out-of-fold probabilities need classification; this is {self.task}"
                )
            labels = self.labels("train")
            path = self.config.model.oof
            if path:
                proba = oof.read_oof_file(
                    path, self.frame("train"), self.classes, self.config.task.id
                )
                return oof.file_fit(proba, labels, str(path))
            return oof.fit_out_of_fold(
                self.feature_matrix("train"),
                labels,
                len(self.classes),
                n_folds,
                self.seed,
                self.n_threads,
            )

        return self.cached(("oof_fit", n_folds), compute)

    def oof_proba(self, n_folds: int = 5) -> np.ndarray:
        """Out-of-fold class probabilities for train, (n_train, n_classes), computed once."""
        return self.oof_fit(n_folds).proba

    def holdout_proba(self, split: str, n_folds: int = 5) -> np.ndarray:
        """Class probabilities for a held-out split from the fold models fit on train."""
        from qa import oof

        def full_model() -> Any:
            fit = self.oof_fit(n_folds)
            return self.cached(
                "oof_full_model",
                lambda: oof.fit_full_model(
                    self.feature_matrix("train"),
                    self.labels("train"),
                    fit.model_classes,
                    self.seed,
                    self.n_threads,
                ),
            )

        def compute() -> np.ndarray:
            counts = np.bincount(self.labels("train"), minlength=len(self.classes))
            return oof.holdout_proba(
                self.oof_fit(n_folds),
                self.feature_matrix(split),
                counts / counts.sum(),
                full_model,
                self.seed,
            )

        return self.cached(("oof_holdout", split, n_folds), compute)

    def baselines(self) -> Mapping[str, Baseline]:
        """Reference baselines fitted on train once; see ``qa.trainers.baselines``."""
        from qa.trainers.baselines import fit_baselines

        return self.cached("baselines", lambda: fit_baselines(self.training_data()))

    def history(self) -> pl.DataFrame:
        """The training history (epoch, train_loss, val_loss, ...), read once."""
        from qa.history import read_history

        path = self.config.model.history
        if not path:
            raise DataError("model.history: no history file given")
        return self.cached("history", lambda: read_history(path))
