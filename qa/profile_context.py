"""What a check sees when the gate runs on profiles (``--engine`` or ``--reference``).

The data checks that can answer from profiles implement ``run_profiles(pctx, params)``; they
read the split profiles here, never rows. The parts that need rows use ``pctx.sample`` — an
ordinary in-memory :class:`qa.context.Context` built on the engine's seeded samples — and say
how much was sampled (:meth:`ProfileContext.sample_note`). With a stored reference
(``--reference``) there are no train rows: ``pctx.sample`` is None and those parts skip with a
reason.

Checks without ``run_profiles`` (model checks, label-noise) run unchanged on ``pctx.sample``;
the runner records the sample in their result.

A split with a prediction file (``model.predictions``) carries its prediction profiles (score
histograms; :attr:`qa.profile.Profile.predictions`), whatever engine profiled the split; a
stored reference keeps those of its held-out splits (``qa profile --predictions test=PATH``), so
prediction drift runs against it too (:meth:`ProfileContext.prediction_profiles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qa.profile import CategoricalProfile, ColumnProfile, NumericProfile, Profile, ProfileSet

if TYPE_CHECKING:
    from qa.config import Config
    from qa.context import Context
    from qa.engines import ProfileTask


@dataclass
class ProfileContext:
    """Profiles of the splits (one spec), the task, and the seeded samples when there are rows."""

    config: Config
    profiles: ProfileSet
    #: ``binary`` | ``multiclass`` | ``regression``.
    task: str
    #: In-memory Context on the engine's seeded samples (None for a stored reference).
    sample: Context | None = None
    #: Rows sampled and rows in the split, per split that was sampled.
    sampled: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The stored reference's path and fingerprint when judging against one.
    reference_path: str | None = None
    reference_fingerprint: str | None = None
    engine: str = "polars"
    false_alarm_shares: dict[str, float] = field(default_factory=dict)
    #: Looks at the test set with new predictions, this run's included (see qa.looks).
    test_looks: int = 0
    #: Prediction profiles of the stored reference's splits not judged now (its held-out
    #: validation / test, profiled with ``qa profile --predictions``), by split.
    reference_predictions: dict[str, dict[str, ColumnProfile]] = field(default_factory=dict)

    # -- splits --------------------------------------------------------------------
    @property
    def splits(self) -> list[str]:
        return list(self.profiles.splits)

    def has_split(self, split: str) -> bool:
        return split in self.profiles.splits

    def profile(self, split: str) -> Profile:
        return self.profiles.splits[split]

    def rows(self, split: str) -> int:
        return self.profile(split).rows

    # -- task ----------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.config.run.seed

    @property
    def target(self) -> str | None:
        return self.profiles.spec.target

    @property
    def is_classification(self) -> bool:
        return self.task in ("binary", "multiclass")

    @property
    def feature_columns(self) -> list[str]:
        return list(self.profiles.spec.hash_columns)

    def kind(self, column: str) -> str:
        """``numeric`` (numbers, dates as epoch seconds) or ``categorical``."""
        return self.profiles.spec.column(column).kind

    def has_labels(self, split: str) -> bool:
        target = self.target
        return (
            target is not None and self.has_split(split) and target in self.profile(split).columns
        )

    @property
    def classes(self) -> list[str]:
        """Train's classes (as strings, sorted) for a classification task."""
        counts = self.class_counts("train")
        return sorted(counts) if counts else []

    def class_counts(self, split: str) -> dict[str, int] | None:
        """Rows per class of the target in ``split`` (None without labels or classes)."""
        if not self.is_classification or not self.has_labels(split):
            return None
        column = self.profile(split).columns[str(self.target)]
        if not isinstance(column, CategoricalProfile):
            return None
        counts = dict(column.counts)
        if column.other:  # rows of classes train never had: one name, or their total
            only = column.other_examples[0] if len(column.other_examples) == 1 else None
            counts[f"(not in train) {only}" if only else "(classes not in train)"] = column.other
        return counts

    @property
    def positive_label(self) -> str | None:
        """The positive class of a binary task, as the profiles name it: ``[task]
        positive_label``, else 1 / true / yes / positive, else the last class (as in memory)."""
        names = self.classes
        if self.task != "binary" or not names:
            return None
        wanted = self.config.task.positive_label
        if wanted is not None and str(wanted) in names:
            return str(wanted)
        for candidate in ("1", "True", "true", "yes", "positive"):
            if candidate in names:
                return candidate
        return names[-1]

    def prediction_profiles(self, split: str) -> dict[str, ColumnProfile]:
        """The profiles of ``split``'s prediction file: the split's own when it was profiled
        now, else the stored reference's (empty when there are none)."""
        if split in self.profiles.splits:
            return self.profiles.splits[split].predictions
        return self.reference_predictions.get(split, {})

    def numeric(self, split: str, column: str) -> NumericProfile | None:
        found = self.profile(split).columns.get(column)
        return found if isinstance(found, NumericProfile) else None

    def categorical(self, split: str, column: str) -> CategoricalProfile | None:
        found = self.profile(split).columns.get(column)
        return found if isinstance(found, CategoricalProfile) else None

    # -- budget and provenance ------------------------------------------------------
    def false_alarm_share(self, check_id: str) -> float:
        """The check's share of ``[run] false_alarm_rate`` (the whole rate when unassigned)."""
        return self.false_alarm_shares.get(check_id, self.config.run.false_alarm_rate)

    def sample_note(self, *splits: str) -> str:
        """E.g. "a seeded sample of 200,000 of 10,000,000 train rows" ('' when not sampled)."""
        parts = []
        for split in splits or tuple(self.sampled):
            taken, total = self.sampled.get(split, (0, 0))
            if total and taken < total:
                parts.append(f"{taken:,} of {total:,} {split} rows")
        return f"a seeded sample of {', '.join(parts)}" if parts else ""

    def provenance(self) -> dict[str, Any]:
        """What the report records of the profiles: engine, reference, fingerprints, samples."""
        return {
            "engine": self.engine,
            "reference": self.reference_path,
            "reference_fingerprint": self.reference_fingerprint,
            "spec_fingerprint": self.profiles.spec.fingerprint,
            "profiles": {s: p.fingerprint for s, p in self.profiles.splits.items()},
            "sampled": {s: {"rows": a, "of": b} for s, (a, b) in self.sampled.items()},
        }


# --------------------------------------------------------------------------- building
def profile_task(config: Config) -> ProfileTask:
    """What the engine needs of the config: target, structural columns, tolerance, sample."""
    from qa.engines import ProfileTask

    task = config.task
    tolerance = config.check_table("schema").get("range_tolerance", 0.1)
    return ProfileTask(
        target=task.target,
        structural=tuple(c for c in (task.id, task.time, task.group) if c),
        range_tolerance=float(tolerance),
        seed=config.run.seed,
        sample_rows=config.run.sample_rows,
        task_type=task.type,
    )


def build_profile_context(
    config: Config,
    frames: Mapping[str, Any] | None = None,
    *,
    engine: str | None = None,
    reference: str | None = None,
    spark: Any = None,
) -> ProfileContext:
    """Profile every split with ``engine`` (default ``[run] engine`` or polars), or judge the
    given splits against the stored ``reference`` (default ``[run] reference``)."""
    sources: dict[str, Any] = dict(config.data.paths())
    sources.update({k: v for k, v in (frames or {}).items() if v is not None})
    engine = engine or config.run.engine or ("spark" if spark is not None else "polars")
    reference = reference or config.run.reference
    if reference:
        return _against_reference(config, sources, engine, reference, spark)
    result = _engine_module(engine).profile_splits(
        sources, profile_task(config), **_spark(engine, config, spark)
    )
    sampled = {s: (result.rows[f"{s}.sample"], result.rows[s]) for s in result.profiles.splits}
    sample = _sample_context(config, result.samples, sampled, engine)
    _attach_predictions(config, result.profiles, sample.task, result.profiles.splits)
    return ProfileContext(config, result.profiles, sample.task, sample, sampled, engine=engine)


def _against_reference(
    config: Config, sources: dict[str, Any], engine: str, path: str, spark: Any
) -> ProfileContext:
    from qa.errors import DataError
    from qa.profile import load_reference

    stored = load_reference(path)
    if "train" in sources:
        raise DataError(
            "--reference: the stored profile stands in for train; do not pass a train split too"
        )
    if not sources:
        raise DataError("--reference: nothing to judge; pass --production (or --test)")
    target = config.task.target
    if target and stored.spec.target and target != stored.spec.target:
        raise DataError(
            f"--reference {path}: profiled with target {stored.spec.target!r}, not {target!r}"
        )
    module = _engine_module(engine)
    splits = {"train": stored.splits["train"]}
    for name, source in sources.items():
        splits[name] = module.profile_source(source, stored.spec, **_spark(engine, config, spark))
        _require_columns(stored.spec, splits[name], name, path)
    profiles = ProfileSet(stored.spec, splits, stored.task, stored.created_by)
    task = str(stored.task.get("type") or config.task.type or "binary")
    _attach_predictions(config, profiles, task, sources)
    held_out = {
        name: p.predictions
        for name, p in stored.splits.items()
        if name not in splits and p.predictions
    }
    return ProfileContext(
        config,
        profiles,
        task,
        reference_path=path,
        reference_fingerprint=stored.fingerprint,
        engine=engine,
        reference_predictions=held_out,
    )


def _attach_predictions(
    config: Config, profiles: ProfileSet, task: str, splits: Mapping[str, Any]
) -> None:
    """Profile the prediction file of every split in ``splits`` that has one (polars streams
    it, whatever engine profiled the split: a prediction file is a file)."""
    from qa.engines.polars_engine import profile_predictions

    for split, source in config.model.predictions.items():
        if split in splits and split in profiles.splits:
            profiles.splits[split].predictions = profile_predictions(
                source, profiles.spec, task, f"model.predictions.{split}"
            )


def _require_columns(spec: Any, profile: Profile, split: str, path: str) -> None:
    """A split sharing no feature with the reference is a profile of other data: exit 2."""
    from qa.errors import DataError

    features = set(spec.hash_columns)
    if features and not features & set(profile.columns):
        raise DataError(
            f"--reference {path}: data.{split} has none of the profile's "
            f"{len(features)} feature columns (a profile of other data?)"
        )


def _engine_module(engine: str) -> Any:
    """``qa.engines.polars_engine`` or ``qa.engines.spark_engine`` (imported only when used)."""
    import importlib

    return importlib.import_module(f"qa.engines.{engine}_engine")


def _spark(engine: str, config: Config, spark: Any) -> dict[str, Any]:
    if engine != "spark":
        return {}
    return {"spark": spark, "master": config.run.spark_master}


def _sample_context(
    config: Config, samples: Mapping[str, Any], sampled: Mapping[str, tuple[int, int]], engine: str
) -> Context:
    """The ordinary in-memory Context, on the engine's seeded samples.

    A row-aligned prediction file of a sampled split is sampled with the same rows (the polars
    engine picks rows by a seeded hash of their index, so a file with the split's row count
    gives the same picks); a file joined on the id column is read whole.
    """
    from qa.api import build_context

    predictions: dict[str, Any] = {}
    for split, path in config.model.predictions.items():
        taken, total = sampled.get(split, (0, 0))
        if taken >= total or config.task.id:
            continue
        if engine != "polars":
            from qa.errors import DataError

            raise DataError(
                f"model.predictions.{split}: with --engine {engine} and a sampled split, a "
                "prediction file must carry the id column ([task] id) to align with the sample"
            )
        from qa.engines.polars_engine import sample_source

        predictions[split] = sample_source(path, profile_task(config), total)
    return build_context(config, frames=samples, predictions=predictions)
