"""The Python API: one call from DataFrames or paths to a Report. The CLI is a thin layer on it.

Like the CLI this is the user-facing layer, so it may call the renderers in ``qa.reports``; the
engine below it (the rest of ``qa/``) never does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from qa._version import __version__
from qa.audit import LabelAuditSheet
from qa.bars import moved_bars, moved_bars_result
from qa.base import Check, CheckResult
from qa.config import Config, load_config, merge_tables, parse_config
from qa.context import Context
from qa.data import load_splits
from qa.errors import DataError
from qa.gate import apply_severity, apply_waivers, verdict
from qa.looks import TestLooks
from qa.registry import load_registry
from qa.regression import BaselineReport, compare_to_baseline, load_baseline
from qa.report import Report
from qa.runner import PlannedCheck, Progress, plan_checks, run_planned, run_profiled, will_run


@dataclass(frozen=True, eq=False)
class NotebookReport(Report):
    """The Report that :func:`check` returns: Jupyter shows it as the HTML report, inline.

    The engine's :class:`~qa.report.Report` renders nothing, so this thin subclass in the
    user-facing layer adds the one hook Jupyter looks for. It holds the same fields, serialises
    the same and compares equal to the plain Report with the same content. To show a saved
    report in a notebook: ``NotebookReport.load("report.json")``.
    """

    @classmethod
    def of(cls, report: Report) -> NotebookReport:
        """The same report, shown as HTML in Jupyter."""
        if isinstance(report, cls):
            return report
        return cls(**{f.name: getattr(report, f.name) for f in fields(Report)})

    def _repr_html_(self) -> str:
        from qa.reports.html import render

        return render(self)


def build_context(
    config: Config,
    frames: Mapping[str, Any] | None = None,
    predictions: Mapping[str, Any] | None = None,
) -> Context:
    """Load every split (paths from the config unless DataFrames are given) into a Context."""
    if config.model.artifact:  # refuse an unsafe or missing model up front, whatever checks run
        from qa.models import preflight_artifact

        preflight_artifact(config.model.artifact, config.model.trust)
    sources: dict[str, Any] = dict(config.data.paths())
    sources.update({k: v for k, v in (frames or {}).items() if v is not None})
    loaded, infos = load_splits(sources, config.task.target)
    prediction_sources: dict[str, Any] = dict(config.model.predictions)
    prediction_sources.update({k: v for k, v in (predictions or {}).items() if v is not None})
    ctx = Context(config, loaded, infos, prediction_sources=prediction_sources)
    _require_features(ctx)
    if config.task.metric:  # a typo stops the run here, not inside three model checks
        from qa.metrics import resolve_metric

        resolve_metric(ctx.task, config.task.metric, "task.metric")
    return ctx


def _require_features(ctx: Context) -> None:
    """A gate over a table with nothing but the target (and id/time/group) would judge nothing."""
    if ctx.feature_columns:
        return
    train = ctx.frame("train")
    where = ctx.inputs["train"].path or "the train DataFrame"
    others = sorted(c for c in ctx.reserved_columns - {ctx.target} if c in train.columns)
    besides = f"the target {ctx.target!r}" + (
        f" and the id/time/group column(s) {', '.join(repr(c) for c in others)}" if others else ""
    )
    unusable = [c for c in train.columns if c not in ctx.reserved_columns]
    raise DataError(
        f"data.train: {where} has no feature columns besides {besides}"
        + (
            f" (unusable column types: {', '.join(repr(c) for c in unusable[:5])})"
            if unusable
            else ""
        )
    )


def validate_predictions(ctx: Context, planned: Sequence[PlannedCheck]) -> None:
    """Read and validate every user-given prediction file before any check runs.

    A bad file stops the run once, naming the file and the column, instead of every check that
    reads predictions erroring with the same message. The Context caches what is read, so the
    checks pay nothing extra. Only when a check that will run requires predictions: a data-only
    run (``--only schema``) before ``qa train`` has written the files still works. A model
    artifact's own predictions are left to the checks (they cost a model load and a predict).
    """
    if not any(
        will_run(ctx, item) and "predictions" in item.registered.check.requires for item in planned
    ):
        return
    for split in ctx.prediction_sources:
        if ctx.has_split(split):
            ctx.predictions(split)


def run_gate(
    config: Config,
    *,
    frames: Mapping[str, Any] | None = None,
    predictions: Mapping[str, Any] | None = None,
    extra_checks: Sequence[type[Check]] = (),
    progress: Progress | None = None,
    today: dt.date | None = None,
    baseline: Report | BaselineReport | str | Path | None = None,
    spark: Any = None,
) -> Report:
    """Validate config, load data, run the checks, apply the gate; return the Report.

    With ``[run] engine`` / ``[run] reference`` (or a ``spark`` session) the data checks judge
    profiles and the rest run on seeded samples (see :mod:`qa.profile_context`).

    ``baseline`` (a Report or the path of a saved report.json) adds the ``regression`` result
    and ``Report.diff``.
    """
    registry = load_registry(list(extra_checks))
    planned = plan_checks(config, registry)  # config errors surface before any data is read
    base = load_baseline(baseline) if baseline is not None else None
    if config.run.engine or config.run.reference or spark is not None:
        results, facts = _run_on_profiles(config, planned, frames, spark, progress, base)
    else:
        ctx = build_context(config, frames, predictions)
        validate_predictions(ctx, planned)
        test_sha = ctx.inputs["test"].sha256 if ctx.has_split("test") else None
        looks = _test_looks(config, base, test_sha)
        ctx.test_looks = looks.count
        results = run_planned(ctx, planned, progress)
        facts = _RunFacts(
            {split: info.to_dict() for split, info in ctx.inputs.items()},
            _task_facts(ctx),
            test_looks=looks.to_dict(),
        )
    results = [apply_severity(r) for r in results]
    diff = None
    if base is not None:
        regression, diff = compare_to_baseline(base, results, config, today)
        bars = moved_bars(base.report.config, config.to_dict(), _check_classes(registry))
        diff = {**diff, "moved_bars": bars}
        results += [regression, moved_bars_result(bars, base.label)]
    results, notes = apply_waivers(results, config.waivers, today)
    return Report(
        status=verdict(results),
        checks=tuple(results),
        inputs=facts.inputs,
        config=config.to_dict(),
        created_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        tool={"name": "qa-gate", "version": __version__},
        plugins=tuple(
            {
                "id": p.registered.check.id,
                "package": p.registered.distribution,
                "version": p.registered.version,
            }
            for p in planned
        ),
        task=facts.task,
        waiver_notes=tuple(notes),
        diff=diff,
        profiles=facts.profiles,
        test_looks=facts.test_looks,
    )


def _check_classes(registry: Mapping[str, Any]) -> dict[str, type[Check]]:
    return {check_id: registered.check for check_id, registered in registry.items()}


@dataclass(frozen=True)
class _RunFacts:
    """What the report records of the inputs, whichever way they were read."""

    inputs: dict[str, Any]
    task: dict[str, Any]
    profiles: dict[str, Any] | None = None
    test_looks: dict[str, Any] | None = None


def _test_looks(config: Config, base: BaselineReport | None, test_sha: str | None) -> TestLooks:
    """This run's look count at the test set (carried from the baseline report, if any)."""
    from qa.looks import count_looks, predictions_fingerprint

    predictions = predictions_fingerprint(
        config.model.predictions.get("test"), config.model.artifact, test_sha
    )
    carried = base.report.test_looks if base is not None else None
    return count_looks(carried, test_sha, predictions)


def _task_facts(ctx: Context) -> dict[str, Any]:
    return {
        "type": ctx.task,
        "target": ctx.target,
        "classes": ctx.class_names,
        "positive_label": ctx.class_names[ctx.positive_index] if ctx.task == "binary" else None,
        "features": len(ctx.feature_columns),
    }


def _run_on_profiles(
    config: Config,
    planned: list[PlannedCheck],
    frames: Mapping[str, Any] | None,
    spark: Any,
    progress: Progress | None,
    base: BaselineReport | None = None,
) -> tuple[list[CheckResult], _RunFacts]:
    """``--engine`` / ``--reference``: profiles for the data checks, samples for the rest."""
    from qa.profile_context import build_profile_context

    pctx = build_profile_context(config, frames, spark=spark)
    test_sha = pctx.profile("test").fingerprint if pctx.has_split("test") else None
    looks = _test_looks(config, base, test_sha)
    pctx.test_looks = looks.count
    if pctx.sample is not None:
        pctx.sample.test_looks = looks.count
        validate_predictions(pctx.sample, planned)
    results = run_profiled(pctx, planned, progress)
    inputs = {split: _profile_input(pctx, split) for split in pctx.splits}
    if pctx.sample is not None:
        task = _task_facts(pctx.sample)
    else:
        task = {"type": pctx.task, "target": pctx.target, "classes": pctx.classes}
        task["features"] = len(pctx.feature_columns)
    task["read as"] = f"profiles ({pctx.engine} engine)"
    if pctx.sample_note():
        task["sampled"] = pctx.sample_note()
    if pctx.reference_path:
        task["reference"] = f"{pctx.reference_path} (sha256 {pctx.reference_fingerprint})"
    return results, _RunFacts(inputs, task, pctx.provenance(), looks.to_dict())


def _profile_input(pctx: Any, split: str) -> dict[str, Any]:
    """A split's input record on a profile run: its sha256 is the profile's fingerprint; a
    stored reference's train names the reference file."""
    profile = pctx.profile(split)
    path = profile.source or None
    if split == "train" and pctx.reference_path:
        path = f"{pctx.reference_path} (stored profile of {profile.source or 'train'})"
    return {
        "path": path,
        "rows": profile.rows,
        "columns": len(profile.dtypes) + len(profile.extra_columns),
        "sha256": profile.fingerprint,
    }


def check(
    train: Any = None,
    validation: Any = None,
    test: Any = None,
    production: Any = None,
    *,
    target: str | None = None,
    task: str | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    predictions: Mapping[str, Any] | None = None,
    checks: Mapping[str, Mapping[str, Any]] | None = None,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    extra_checks: Sequence[type[Check]] = (),
    seed: int | None = None,
) -> NotebookReport:
    """Run the gate from a notebook or script and return the Report (a :class:`NotebookReport`).

    Splits may be paths, pandas or polars DataFrames. ``config`` may be a path to ``qa.toml``
    or a mapping shaped like it; keyword arguments win over it. Example::

        report = qa.check(train=train_df, test=test_df, target="label")
        report.status       # "pass" | "fail" | "error"
        report              # in Jupyter: the HTML report inline
    """
    overrides: dict[str, Any] = {
        "task": {"target": target, "type": task},
        "checks": dict(checks or {}),
        "run": {"only": list(only) or None, "skip": list(skip) or None, "seed": seed},
    }
    frames = {"train": train, "validation": validation, "test": test, "production": production}
    data_paths = {s: str(v) for s, v in frames.items() if isinstance(v, str | Path)}
    overrides["data"] = data_paths
    overrides["run"] = {k: v for k, v in overrides["run"].items() if v is not None}
    if isinstance(config, Mapping):
        cfg = parse_config(merge_tables(dict(config), overrides))
    else:
        cfg = load_config(config, overrides, search=False)
    in_memory = {s: v for s, v in frames.items() if v is not None and s not in data_paths}
    report = run_gate(cfg, frames=in_memory, predictions=predictions, extra_checks=extra_checks)
    return NotebookReport.of(report)


def label_audit(
    config: Config,
    *,
    split: str = "train",
    n_random: int = 200,
    n_suspects: int = 50,
    frames: Mapping[str, Any] | None = None,
) -> LabelAuditSheet:
    """The blind label-review sheet of a labelled split (see :mod:`qa.audit`).

    Suspects come from the out-of-fold probabilities the ``label-noise`` check uses (train), or
    from the fold models' held-out probabilities for another split.
    """
    from qa.audit import build_sheet

    ctx = build_context(config, frames)
    if not ctx.is_classification:
        raise DataError(f"task.type: a label audit needs classification; this task is {ctx.task}")
    if not ctx.has_split(split):
        raise DataError(f"--split: no {split} split was given")
    if not ctx.has_labels(split):
        raise DataError(f"data.{split}: has no target column {ctx.target!r} to audit")
    proba = ctx.oof_proba() if split == "train" else ctx.holdout_proba(split)
    return build_sheet(
        ctx.frame(split),
        split=split,
        fingerprint=ctx.inputs[split].sha256,
        target=ctx.target,
        id_column=config.task.id,
        feature_columns=ctx.feature_columns,
        labels=ctx.labels(split),
        proba=proba,
        class_names=ctx.class_names,
        n_random=n_random,
        n_suspects=n_suspects,
        seed=ctx.seed,
    )
