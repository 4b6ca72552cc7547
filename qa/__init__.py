"""qa-gate: a data-audit and model-evaluation quality gate for CI.

The public API is small on purpose; everything else is private and may change. Names load
lazily so that ``qa --help`` and plugin discovery do not import polars, numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from qa._version import __version__

_EXPORTS: dict[str, str] = {
    "check": "qa.api",
    "Chart": "qa.base",
    "Check": "qa.base",
    "CheckResult": "qa.base",
    "Evidence": "qa.base",
    "param": "qa.base",
    "table": "qa.base",
    "Config": "qa.config",
    "load_config": "qa.config",
    "Context": "qa.context",
    "ConfigError": "qa.errors",
    "DataError": "qa.errors",
    "ModelError": "qa.errors",
    "PluginError": "qa.errors",
    "QAError": "qa.errors",
    "Report": "qa.report",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
