"""The Python API: one call from DataFrames or paths to a Report. The CLI is a thin layer on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qa._version import __version__
from qa.base import Check
from qa.config import Config, load_config, merge_tables, parse_config
from qa.context import Context
from qa.data import load_splits
from qa.gate import apply_severity, apply_waivers, verdict
from qa.registry import load_registry
from qa.regression import BaselineReport, compare_to_baseline, load_baseline
from qa.report import Report
from qa.runner import Progress, plan_checks, run_planned


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
    return Context(config, loaded, infos, prediction_sources=prediction_sources)


def run_gate(
    config: Config,
    *,
    frames: Mapping[str, Any] | None = None,
    predictions: Mapping[str, Any] | None = None,
    extra_checks: Sequence[type[Check]] = (),
    progress: Progress | None = None,
    today: dt.date | None = None,
    baseline: Report | BaselineReport | str | Path | None = None,
) -> Report:
    """Validate config, load data, run the checks, apply the gate; return the Report.

    ``baseline`` (a Report or the path of a saved report.json) adds the ``regression`` result
    and ``Report.diff``.
    """
    registry = load_registry(list(extra_checks))
    planned = plan_checks(config, registry)  # config errors surface before any data is read
    base = load_baseline(baseline) if baseline is not None else None
    ctx = build_context(config, frames, predictions)
    results = [apply_severity(r) for r in run_planned(ctx, planned, progress)]
    diff = None
    if base is not None:
        regression, diff = compare_to_baseline(base, results, config, today)
        results.append(regression)
    results, notes = apply_waivers(results, config.waivers, today)
    return Report(
        status=verdict(results),
        checks=tuple(results),
        inputs={split: info.to_dict() for split, info in ctx.inputs.items()},
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
        task={
            "type": ctx.task,
            "target": ctx.target,
            "classes": ctx.class_names,
            "positive_label": ctx.class_names[ctx.positive_index] if ctx.task == "binary" else None,
            "features": len(ctx.feature_columns),
        },
        waiver_notes=tuple(notes),
        diff=diff,
    )


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
) -> Report:
    """Run the gate from a notebook or script and return the Report.

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
    return run_gate(cfg, frames=in_memory, predictions=predictions, extra_checks=extra_checks)
