"""Runs the selected checks one after another, each timed and isolated.

A check that raises becomes status ``error`` with the exception summarised; the others go on.
``KeyboardInterrupt`` still stops the run. Checks run sequentially on purpose: each may fit
models with every core, and nesting a parallel pool inside parallel checks oversubscribes a
2-core CI runner badly.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from qa.bars import MOVED_BARS_CHECK_ID
from qa.base import Check, CheckResult, Severity, build_params, json_number
from qa.budget import split_budget
from qa.config import Config
from qa.context import Context
from qa.errors import ConfigError, QAError
from qa.profile_context import ProfileContext
from qa.registry import RegisteredCheck
from qa.regression import REGRESSION_CHECK_ID

Progress = Callable[[int, int, str, CheckResult | None], None]
RESERVED_KEYS = ("enabled", "severity")
#: Results the gate adds itself with ``--baseline``; a waiver may name them.
SYNTHETIC_RESULTS = (REGRESSION_CHECK_ID, MOVED_BARS_CHECK_ID)


@dataclass(frozen=True)
class PlannedCheck:
    registered: RegisteredCheck
    params: Any
    severity: Severity
    enabled: bool


def plan_checks(config: Config, registry: Mapping[str, RegisteredCheck]) -> list[PlannedCheck]:
    """Validate every ``[checks.*]`` table and the --only/--skip ids; pick what runs.

    All config errors surface here, before any check runs.
    """
    known = ", ".join(registry)
    for cid in config.checks:
        if cid not in registry:
            raise ConfigError(f"checks.{cid}: unknown check (known: {known})")
    for key in ("only", "skip"):
        for cid in getattr(config.run, key):
            if cid not in registry:
                raise ConfigError(f"run.{key}: unknown check {cid!r} (known: {known})")
    for i, waiver in enumerate(config.waivers):
        if waiver.check not in registry and waiver.check not in SYNTHETIC_RESULTS:
            raise ConfigError(
                f"waivers[{i}].check: unknown check {waiver.check!r} (known: {known})"
            )
    planned = []
    for cid, reg in registry.items():
        if config.run.only and cid not in config.run.only:
            continue
        if cid in config.run.skip:
            continue
        table = dict(config.check_table(cid))
        raw_params = {k: v for k, v in table.items() if k not in RESERVED_KEYS}
        params = build_params(reg.check, raw_params, f"checks.{cid}")
        planned.append(
            PlannedCheck(
                registered=reg,
                params=params,
                severity=table.get("severity", reg.check.severity),
                enabled=table.get("enabled", True),
            )
        )
    return planned


def assign_budget(ctx: Context, planned: list[PlannedCheck]) -> dict[str, float]:
    """Split ``[run] false_alarm_rate`` across the checks that will run, fail the gate
    (severity error) and have fail rules resting on a test; stored on the Context."""
    weights = {
        item.registered.check.id: item.registered.check.fail_tests
        for item in planned
        if item.severity == "error" and will_run(ctx, item)
    }
    ctx.false_alarm_shares = split_budget(ctx.config.run.false_alarm_rate, weights)
    return ctx.false_alarm_shares


def run_planned(
    ctx: Context, planned: list[PlannedCheck], progress: Progress | None = None
) -> list[CheckResult]:
    assign_budget(ctx, planned)
    results = []
    total = len(planned)
    for index, item in enumerate(planned, start=1):
        if progress:
            progress(index, total, item.registered.check.id, None)
        result = run_one(ctx, item)
        results.append(result)
        if progress:
            progress(index, total, item.registered.check.id, result)
    return results


def will_run(ctx: Context, item: PlannedCheck) -> bool:
    """Whether ``run_one`` will call the check's ``run`` (enabled, applicable, inputs present)."""
    check_cls = item.registered.check
    return (
        item.enabled
        and ctx.task in check_cls.tasks
        and ctx.missing_requirement(check_cls.requires) is None
    )


def run_one(ctx: Context, item: PlannedCheck) -> CheckResult:
    """Run one check inside the wrapper that never lets a failure pass quietly."""
    check_cls: type[Check] = item.registered.check
    check = check_cls()
    if not item.enabled:
        result = check.skip("disabled in config (enabled = false)")
    elif ctx.task not in check_cls.tasks:
        result = check.skip(f"does not apply to {ctx.task} tasks")
    elif (reason := ctx.missing_requirement(check_cls.requires)) is not None:
        result = check.skip(reason)
    else:
        result = _guarded(check_cls, item, lambda: check.run(ctx, item.params), ctx)
    return replace(result, severity=item.severity)


def _guarded(
    check_cls: type[Check],
    item: PlannedCheck,
    call: Callable[[], CheckResult],
    shares_from: Context | ProfileContext,
) -> CheckResult:
    """Run ``call`` timed, turning any exception into an ``error`` result; record the share."""
    start = time.perf_counter()
    try:
        result = call()
        if not isinstance(result, CheckResult):
            raise TypeError(f"run() returned {type(result).__name__}, not a CheckResult")
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except QAError as exc:  # bad input found while running: name it, no traceback needed
        result = _error(check_cls, str(exc), "")
    except BaseException as exc:  # a native library's panic (pyo3) is no Exception subclass
        summary = f"{type(exc).__name__}: {exc}".strip()
        result = _error(check_cls, f"the check crashed: {summary[:500]}", _short_traceback())
    result = replace(result, duration_s=round(time.perf_counter() - start, 4))
    share = shares_from.false_alarm_shares.get(check_cls.id)
    if share is not None and result.status != "error":
        shares = {**result.thresholds, "false_alarm_share": json_number(share)}
        result = replace(result, thresholds=shares)
    return replace(result, severity=item.severity)


def _error(check_cls: type[Check], message: str, tb: str) -> CheckResult:
    return CheckResult(
        id=check_cls.id,
        title=check_cls.title,
        status="error",
        severity=check_cls.severity,
        message=message,
        remedy="Fix the input named above, or report the crash with this traceback.",
        traceback=tb,
    )


def _short_traceback(limit: int = 6) -> str:
    lines = traceback.format_exc(limit=-limit).strip().splitlines()
    return "\n".join(lines[-3 * limit :])


# --------------------------------------------------------------------------- profile runs
def run_profiled(
    pctx: ProfileContext, planned: list[PlannedCheck], progress: Progress | None = None
) -> list[CheckResult]:
    """A profile run (``--engine`` / ``--reference``): checks that judge from profiles read
    them; the others run on the engine's seeded samples and say so; against a stored
    reference (no rows of train) those skip with the reason."""
    pctx.false_alarm_shares = _profile_budget(pctx, planned)
    if pctx.sample is not None:
        pctx.sample.false_alarm_shares = pctx.false_alarm_shares
    results = []
    for index, item in enumerate(planned, start=1):
        check_id = item.registered.check.id
        if progress:
            progress(index, len(planned), check_id, None)
        result = _run_one_profiled(pctx, item)
        results.append(result)
        if progress:
            progress(index, len(planned), check_id, result)
    return results


def _profile_budget(pctx: ProfileContext, planned: list[PlannedCheck]) -> dict[str, float]:
    weights = {
        item.registered.check.id: item.registered.check.fail_tests
        for item in planned
        if item.severity == "error" and _will_run_profiled(pctx, item)
    }
    return split_budget(pctx.config.run.false_alarm_rate, weights)


def _will_run_profiled(pctx: ProfileContext, item: PlannedCheck) -> bool:
    check_cls = item.registered.check
    if not item.enabled or pctx.task not in check_cls.tasks:
        return False
    if check_cls.profiles_supported:
        return True
    return pctx.sample is not None and will_run(pctx.sample, item)


def _run_one_profiled(pctx: ProfileContext, item: PlannedCheck) -> CheckResult:
    check_cls: type[Check] = item.registered.check
    if not check_cls.profiles_supported:
        if pctx.sample is None:
            skipped = check_cls().skip(
                "needs rows of train; a stored reference holds profiles only (run it with "
                "the training data, e.g. --engine polars, to judge it)"
            )
            return replace(skipped, severity=item.severity)
        return _on_sample(pctx, run_one(pctx.sample, item))
    check = check_cls()
    if not item.enabled:
        return replace(check.skip("disabled in config (enabled = false)"), severity=item.severity)
    if pctx.task not in check_cls.tasks:
        return replace(check.skip(f"does not apply to {pctx.task} tasks"), severity=item.severity)
    return _guarded(check_cls, item, lambda: check.run_profiles(pctx, item.params), pctx)


def _on_sample(pctx: ProfileContext, result: CheckResult) -> CheckResult:
    """A check that ran on the seeded samples says so in its message."""
    note = pctx.sample_note()
    if not note or result.status in ("skip", "error"):
        return result
    return replace(result, message=f"{result.message} [on {note}]")
