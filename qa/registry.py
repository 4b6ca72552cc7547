"""Finds checks through the ``qa.checks`` entry-point group, built-ins and plugins alike.

A plugin that fails to import, is not a valid Check, or reuses an id stops the run (exit 2)
naming its package: dropping it quietly would let a gate pass without running the check.
``QA_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the checks that ship with qa-gate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from qa.base import Check, validate_check_class
from qa.errors import PluginError

GROUP = "qa.checks"
BUILTIN_DISTRIBUTION = "qa-gate"


@dataclass(frozen=True)
class RegisteredCheck:
    check: type[Check]
    distribution: str
    version: str
    entry_point: str

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"], dist.version


def load_registry(extra: list[type[Check]] | None = None) -> dict[str, RegisteredCheck]:
    """All checks by id, in a stable order (built-ins first, then plugins, each by id)."""
    only_builtins = os.environ.get("QA_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0")
    found: dict[str, RegisteredCheck] = {}
    for ep in entry_points(group=GROUP):
        name, version = _distribution(ep)
        if only_builtins and name != BUILTIN_DISTRIBUTION:
            continue
        where = f"plugin {ep.name!r} from package {name} ({ep.value})"
        try:
            check_cls = ep.load()
        except Exception as exc:
            raise PluginError(f"{where}: failed to import: {type(exc).__name__}: {exc}") from None
        try:
            validate_check_class(check_cls, where)
        except ValueError as exc:
            raise PluginError(str(exc)) from None
        if ep.name != check_cls.id:
            raise PluginError(
                f"{where}: entry point name {ep.name!r} differs from the check's id {check_cls.id!r}"
            )
        _add(found, RegisteredCheck(check_cls, name, version, ep.value), where)
    for check_cls in extra or []:
        where = f"check {check_cls!r} passed in Python"
        try:
            validate_check_class(check_cls, where)
        except ValueError as exc:
            raise PluginError(str(exc)) from None
        _add(found, RegisteredCheck(check_cls, "python", "", check_cls.__module__), where)
    ordered = sorted(found.values(), key=lambda r: (not r.builtin, _builtin_rank(r), r.check.id))
    return {r.check.id: r for r in ordered}


def _add(found: dict[str, RegisteredCheck], reg: RegisteredCheck, where: str) -> None:
    other = found.get(reg.check.id)
    if other is not None and other.check is not reg.check:
        raise PluginError(
            f"{where}: check id {reg.check.id!r} is already registered by package "
            f"{other.distribution} ({other.entry_point})"
        )
    found[reg.check.id] = reg


#: Built-ins run in the order a careful reviewer reads them: data first, then the model.
#: The one place that states the order. Which built-ins exist is stated once, by the
#: ``[project.entry-points."qa.checks"]`` table in pyproject.toml; installed entry points come
#: back sorted by name (setuptools writes them so), so that table cannot carry the order.
#: tests/test_plugins.py checks that this tuple and the table name the same checks.
BUILTIN_ORDER = (
    "schema",
    "data-volume",
    "class-imbalance",
    "label-noise",
    "leakage",
    "split-hygiene",
    "drift",
    "metric-threshold",
    "baseline-beats",
    "overfit-gap",
    "per-class-recall",
    "confusion-clusters",
    "calibration",
    "training-health",
    "weak-segments",
    "fairness",
    "robustness",
    "applicability",
    "decision-cost",
    "serving",
    "performance-estimate",
)


def _builtin_rank(reg: RegisteredCheck) -> int:
    if reg.builtin and reg.check.id in BUILTIN_ORDER:
        return BUILTIN_ORDER.index(reg.check.id)
    return len(BUILTIN_ORDER)
