"""Bars that were moved: did this change loosen what the gate holds the model and data to?

A model that misses its bar can be let through by lowering the bar in the same pull request.
``qa check --baseline`` and ``qa diff`` compare the effective bars of the two runs — every
check's parameters (declared in the config, else the check's default), whether it is enabled,
its severity, whether it runs at all (``[run] only`` / ``skip``), the gate's
``[run] false_alarm_rate`` and ``baseline_tolerance``, the serving bars of ``[model]``, and the waivers — and classify each
change:

- **loosened**: a lower minimum (``min_*``; a metric bar ``threshold`` of a score such as
  roc_auc), a higher maximum (``max_*``, a ``*tolerance``, the ``threshold`` of an error), a
  check disabled or no longer run, a severity lowered from error to warning, a higher
  false-alarm rate, a new waiver. It fails the synthetic ``moved-bars`` result unless a waiver
  names it: ``[[waivers]] check = "moved-bars"``, ``match = "metric-threshold.min_score"``
  (waivers for ``moved-bars`` itself are not counted as loosening, or none could ever pass);
- **tightened**: the opposite moves; listed, never failed;
- **changed**: a parameter whose direction cannot be told from its name (``metric``, ``alpha``);
  listed, never failed.

The gate's own derived numbers (``false_alarm_share``, which depends on which checks run) are
not bars and are not compared: only what a person can set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from qa.base import Check, CheckResult, Status, table

MOVED_BARS_CHECK_ID = "moved-bars"

Change = Literal["loosened", "tightened", "changed"]
#: Run-level bars: (key, default, which way is looser).
RUN_BARS: tuple[tuple[str, float, str], ...] = (
    ("false_alarm_rate", 0.02, "higher"),
    ("baseline_tolerance", 0.01, "higher"),
)
#: Serving bars in ``[model]`` (None = not declared; dropping one loosens it).
MODEL_BARS: tuple[tuple[str, str], ...] = (
    ("latency_p95_ms", "higher"),
    ("max_size_mb", "higher"),
    ("min_rows_per_second", "lower"),
)
SEVERITY_RANK = {"warning": 0, "error": 1}


def looser_when(name: str) -> str | None:
    """``lower`` when a smaller value lets more through (a minimum), ``higher`` for a maximum
    or a tolerance, None when the name does not say."""
    tokens = name.lower().split("_")
    if tokens[0] == "min" or tokens[-1] == "min":
        return "lower"
    if tokens[0] == "max" or tokens[-1] == "max" or "tolerance" in tokens:
        return "higher"
    return None


def classify(name: str, base: Any, head: Any, way: str | None = None) -> Change:
    """loosened / tightened / changed; ``way`` overrides what the name says."""
    way = way or looser_when(name)
    if way is None or not _numbers(base, head):
        return "changed"
    went_up = float(head) > float(base)
    return "loosened" if went_up == (way == "higher") else "tightened"


def moved_bars(
    base_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
    checks: Mapping[str, type[Check]],
    task_type: str | None = None,
) -> list[dict[str, Any]]:
    """Every bar that differs between two effective configs (``Report.config`` documents).

    ``checks`` maps each check id to its class (its ``Params`` defaults and default severity
    fill what a config does not declare). Rows: ``{"bar", "base", "head", "change"}``,
    loosened first.
    """
    from qa.metrics import DEFAULT_METRIC

    rows: list[dict[str, Any]] = []
    base_checks, head_checks = _tables(base_config), _tables(head_config)
    declared = (head_config.get("task") or {}).get("metric")
    metric = declared or DEFAULT_METRIC.get(task_type or "")
    for check_id, check_cls in checks.items():
        base_t, head_t = base_checks.get(check_id, {}), head_checks.get(check_id, {})
        rows += _param_rows(check_id, check_cls.Params, base_t, head_t, metric)
        rows += _switch_rows(check_id, check_cls.severity, base_config, head_config, base_t, head_t)
    rows += _run_rows(base_config, head_config)
    rows += _model_rows(base_config, head_config)
    rows += _waiver_rows(base_config, head_config)
    order = {"loosened": 0, "tightened": 1, "changed": 2}
    return sorted(rows, key=lambda r: (order[r["change"]], r["bar"]))


def moved_bars_result(rows: Sequence[Mapping[str, Any]], baseline: str) -> CheckResult:
    """The synthetic ``moved-bars`` result: fail on any loosened bar."""
    loosened = [r for r in rows if r["change"] == "loosened"]
    status: Status = "fail" if loosened else "pass"
    if loosened:
        listed = ", ".join(f"{r['bar']} {r['base']} → {r['head']}" for r in loosened[:5])
        message = (
            f"{len(loosened)} bar(s) loosened against the baseline ({baseline}): {listed}; "
            'a waiver with check = "moved-bars" and match = the bar lets an intended change through'
        )
    else:
        tightened = sum(r["change"] == "tightened" for r in rows)
        message = f"no bar loosened against the baseline ({tightened} tightened)"
    evidence = (
        (
            table(
                "Bars that moved (old → new)",
                ["bar", "base", "head", "change"],
                [[r["bar"], str(r["base"]), str(r["head"]), r["change"]] for r in rows],
            ),
        )
        if rows
        else ()
    )
    return CheckResult(
        id=MOVED_BARS_CHECK_ID,
        title="No bar was loosened in this change",
        status=status,
        severity="error",
        message=message,
        metrics={
            "bars_loosened": len(loosened),
            "bars_tightened": sum(r["change"] == "tightened" for r in rows),
            "bars_changed": sum(r["change"] == "changed" for r in rows),
        },
        evidence=evidence,
        remedy=(
            'Restore the bar, or say why it moves: add a waiver with check = "moved-bars", '
            "match = the bar, a reason, an owner and an expiry date."
        )
        if loosened
        else "",
        subjects=tuple(r["bar"] for r in loosened),
    )


# --------------------------------------------------------------------------- rows
def _param_rows(
    check_id: str,
    params_cls: type,
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    metric: str | None,
) -> list[dict[str, Any]]:
    rows = []
    for f in dataclasses.fields(params_cls):
        default = _default(f)
        old, new = base.get(f.name, default), head.get(f.name, default)
        if old == new:
            continue
        way = _metric_bar_way(head.get("metric") or metric) if f.name == "threshold" else None
        change = classify(f.name, old, new, way)
        rows.append({"bar": f"{check_id}.{f.name}", "base": old, "head": new, "change": change})
    return rows


def _metric_bar_way(metric: str | None) -> str | None:
    """A metric's bar (``threshold``) is a minimum for scores, a maximum for errors."""
    from qa.regression import metric_direction

    direction = metric_direction(metric) if metric else "unknown"
    return {"up": "lower", "down": "higher"}.get(direction)


def _switch_rows(
    check_id: str,
    default_severity: str,
    base_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
    base: Mapping[str, Any],
    head: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """A check switched off (or no longer run), or its severity lowered."""
    rows = []
    old_on, new_on = _runs(base_config, check_id, base), _runs(head_config, check_id, head)
    if old_on != new_on:
        change: Change = "loosened" if old_on else "tightened"
        rows.append({"bar": f"{check_id}.runs", "base": old_on, "head": new_on, "change": change})
    old_sev = str(base.get("severity", default_severity))
    new_sev = str(head.get("severity", default_severity))
    old_rank, new_rank = SEVERITY_RANK.get(old_sev, 1), SEVERITY_RANK.get(new_sev, 1)
    if old_rank != new_rank:
        change = "loosened" if new_rank < old_rank else "tightened"
        rows.append(
            {"bar": f"{check_id}.severity", "base": old_sev, "head": new_sev, "change": change}
        )
    return rows


def _runs(config: Mapping[str, Any], check_id: str, table_: Mapping[str, Any]) -> bool:
    run = config.get("run") or {}
    only, skip = list(run.get("only") or []), list(run.get("skip") or [])
    return (
        bool(table_.get("enabled", True))
        and (not only or check_id in only)
        and (check_id not in skip)
    )


def _model_rows(base_config: Mapping[str, Any], head_config: Mapping[str, Any]) -> list[dict]:
    """Serving bars: a bar declared on main and dropped now is loosened too."""
    rows = []
    base_model, head_model = base_config.get("model") or {}, head_config.get("model") or {}
    for key, way in MODEL_BARS:
        old, new = base_model.get(key), head_model.get(key)
        if old == new:
            continue
        if old is None or new is None:
            change: Change = "tightened" if old is None else "loosened"
        else:
            change = "loosened" if (float(new) > float(old)) == (way == "higher") else "tightened"
        rows.append({"bar": f"model.{key}", "base": old, "head": new, "change": change})
    return rows


def _run_rows(base_config: Mapping[str, Any], head_config: Mapping[str, Any]) -> list[dict]:
    rows = []
    base_run, head_run = base_config.get("run") or {}, head_config.get("run") or {}
    for key, default, way in RUN_BARS:
        old, new = base_run.get(key, default), head_run.get(key, default)
        if old != new and _numbers(old, new):
            looser = (float(new) > float(old)) == (way == "higher")
            change: Change = "loosened" if looser else "tightened"
            rows.append({"bar": f"run.{key}", "base": old, "head": new, "change": change})
    return rows


def _waiver_rows(base_config: Mapping[str, Any], head_config: Mapping[str, Any]) -> list[dict]:
    """Waivers new in head (a waiver lets a failure through); not those for moved-bars itself."""
    old = {_waiver_key(w) for w in base_config.get("waivers") or []}
    rows = []
    for waiver in head_config.get("waivers") or []:
        key = _waiver_key(waiver)
        if key in old or waiver.get("check") == MOVED_BARS_CHECK_ID:
            continue
        rows.append({"bar": f"waiver:{key}", "base": None, "head": "new", "change": "loosened"})
    return rows


def _waiver_key(waiver: Mapping[str, Any]) -> str:
    match = waiver.get("match")
    return f"{waiver.get('check')}" + (f"[{match}]" if match else "")


def _tables(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    checks = config.get("checks") or {}
    return {str(k): v for k, v in checks.items() if isinstance(v, Mapping)}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def format_bars_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The moved bars as plain text (``qa diff``); empty when nothing moved."""
    if not rows:
        return ""
    lines = ["", "bars that moved (old → new):"]
    for r in rows:
        lines.append(f"  {r['change']:9s}  {r['bar']}: {r['base']} → {r['head']}")
    return "\n".join(lines) + "\n"
