"""The Report: one object that *is* the JSON document, and the single source of truth.

Every renderer (json, html, junit, md, terminal) lives in ``qa.reports``, reads a Report and
computes nothing, so any format can be rebuilt from a saved ``report.json`` with ``qa report``.
This module renders nothing and imports no renderer: Jupyter's inline HTML comes from
:class:`qa.api.NotebookReport`, the subclass that :func:`qa.check` returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from qa.base import STATUSES, CheckResult, json_safe
from qa.errors import QAError

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Report:
    status: str
    checks: tuple[CheckResult, ...]
    inputs: Mapping[str, Any]
    config: Mapping[str, Any]
    created_at: str
    tool: Mapping[str, str]
    schema_version: str = SCHEMA_VERSION
    #: Which checks ran, from which package and version.
    plugins: tuple[Mapping[str, str], ...] = ()
    #: Task facts the renderers show: type, target, classes.
    task: Mapping[str, Any] = field(default_factory=dict)
    #: Waivers that matched nothing or have expired (reported so they do not pile up).
    waiver_notes: tuple[str, ...] = ()
    #: Comparison with a baseline report (``qa check --baseline``), when one was given.
    diff: Mapping[str, Any] | None = None
    #: How the data was read on a profile run (``--engine`` / ``--reference``): the engine, the
    #: stored reference and its fingerprint, each split profile's fingerprint, the samples.
    profiles: Mapping[str, Any] | None = None
    #: How often this test set has been evaluated with new predictions (see qa.looks).
    test_looks: Mapping[str, Any] | None = None

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for result in self.checks:
            counts[result.status] += 1
        return counts

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1}.get(self.status, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool": dict(self.tool),
            "created_at": self.created_at,
            "status": self.status,
            "summary": self.summary,
            "task": json_safe(dict(self.task)),
            "inputs": json_safe(dict(self.inputs)),
            "config": json_safe(dict(self.config)),
            "plugins": [dict(p) for p in self.plugins],
            "waiver_notes": list(self.waiver_notes),
            "diff": json_safe(dict(self.diff)) if self.diff is not None else None,
            "profiles": json_safe(dict(self.profiles)) if self.profiles is not None else None,
            "test_looks": dict(self.test_looks) if self.test_looks is not None else None,
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            schema_version=data["schema_version"],
            tool=data["tool"],
            created_at=data["created_at"],
            status=data["status"],
            task=data.get("task", {}),
            inputs=data["inputs"],
            config=data["config"],
            plugins=tuple(data.get("plugins", [])),
            waiver_notes=tuple(data.get("waiver_notes", [])),
            diff=data.get("diff"),
            profiles=data.get("profiles"),
            test_looks=data.get("test_looks"),
            checks=tuple(CheckResult.from_dict(c) for c in data["checks"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> Report:
        """Read a saved report.json; errors name the file (exit 2)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise QAError(f"{path}: report file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise QAError(f"{path}: not a JSON report ({exc})") from None
        errors = schema_errors(data)
        if errors:
            raise QAError(f"{path}: not a valid qa-gate report: {errors[0]}")
        return cls.from_dict(data)

    def ordered_checks(self) -> list[CheckResult]:
        """Failing and erroring checks first, then warnings, waived, skipped, passed."""
        rank = {s: i for i, s in enumerate(STATUSES)}
        return sorted(self.checks, key=lambda c: rank[c.status])

    def __eq__(self, other: object) -> bool:
        # Field by field, like the generated one, but a presentation subclass (the api layer's
        # NotebookReport) equals the plain Report with the same content, so that
        # ``Report.from_json(report.to_json()) == report`` holds for what ``qa.check`` returns.
        if not isinstance(other, Report):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(Report))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema that ships with the package (``qa/schemas/<name>``)."""
    text = resources.files("qa").joinpath(f"schemas/{name}").read_text(encoding="utf-8")
    return json.loads(text)


def validation_errors(data: Mapping[str, Any], schema_name: str) -> list[str]:
    """Validation messages for a document against a shipped schema (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]


def schema_errors(data: Mapping[str, Any]) -> list[str]:
    """Validation messages for a report document (empty when valid)."""
    return validation_errors(data, "report.schema.json")
