"""The contract every check follows: metadata, validated parameters, and one frozen result.

A check is a small class::

    class DataVolume(Check):
        '''...docstring with the fixed sections...'''

        id = "data-volume"
        title = "Enough data for the task"
        requires = ("train",)
        severity = "error"

        @dataclass(frozen=True)
        class Params:
            min_rows_binary: int = param(5000, "Rows below which a binary task warns.", ge=1)

        def run(self, ctx, params) -> CheckResult: ...

Nothing registers on import: the registry finds checks through the ``qa.checks`` entry points.
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.context import Context
    from qa.profile_context import ProfileContext

Status = Literal["pass", "warn", "fail", "error", "skip", "waived"]
Severity = Literal["error", "warning"]
STATUSES: tuple[str, ...] = ("fail", "error", "warn", "waived", "skip", "pass")
SEVERITIES: tuple[str, ...] = ("error", "warning")

#: The closed vocabulary of inputs a check may require.
REQUIREMENTS: frozenset[str] = frozenset(
    {
        "train",
        "validation",
        "test",
        "production",
        "labels",
        "predictions",
        "model",
        "history",
        "classification",
    }
)

DOC_SECTIONS: tuple[str, ...] = (
    "What it checks",
    "Why it matters",
    "How it decides",
    "How to fix",
)

_ID_PATTERN = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*/)?[a-z0-9]+(-[a-z0-9]+)*$")


# --------------------------------------------------------------------------- parameters
def param(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A check parameter: a default, a one-line description, and optional bounds."""
    meta = {"doc": doc, "ge": ge, "le": le, "gt": gt, "lt": lt, "choices": choices}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: _copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass(frozen=True)
class ParamInfo:
    """What `qa explain` and the docs show for one parameter."""

    name: str
    type: str
    default: Any
    doc: str
    bounds: str


def param_infos(params_cls: type) -> list[ParamInfo]:
    """Describe every field of a check's ``Params`` dataclass."""
    hints = typing.get_type_hints(params_cls)
    infos = []
    for f in dataclasses.fields(params_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:  # registration rejects such a Params; say so for an unregistered one too
            raise ValueError(f"{params_cls.__qualname__}.{f.name} has no default")
        infos.append(
            ParamInfo(
                name=f.name,
                type=_type_name(hints[f.name]),
                default=default,
                doc=f.metadata.get("doc", ""),
                bounds=_bounds_text(f.metadata),
            )
        )
    return infos


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _bounds_text(meta: Mapping[str, Any]) -> str:
    parts = []
    for key, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if meta.get(key) is not None:
            parts.append(f"{symbol} {meta[key]}")
    if meta.get("choices"):
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    return ", ".join(parts)


def build_params(check_cls: type[Check], raw: Mapping[str, Any], where: str) -> Any:
    """Validate a raw mapping (from TOML or Python) into the check's frozen ``Params``.

    Unknown keys, wrong types and out-of-range values raise ConfigError naming ``where.key``.
    """
    params_cls = check_cls.Params
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    hints = typing.get_type_hints(params_cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{where}.{key}: unknown parameter (known: {known})")
        path = f"{where}.{key}"
        coerced = coerce(value, hints[name], path)
        _check_bounds(coerced, fields[name].metadata, path)
        values[name] = coerced
    return params_cls(**values)


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Coerce ``value`` to the annotated type ``tp`` or raise ConfigError naming ``path``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{path}: expected one of {', '.join(map(repr, args))}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ConfigError(f"{path}: expected a finite number, got {value!r}")
            return float(value)
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        key_tp, val_tp = args if args else (Any, Any)
        return {coerce(k, key_tp, path): coerce(v, val_tp, f"{path}.{k}") for k, v in value.items()}
    raise ConfigError(f"{path}: unsupported parameter type {tp!r}")  # pragma: no cover


def _check_bounds(value: Any, meta: Mapping[str, Any], path: str) -> None:
    if value is None:
        return
    values = list(value.values()) if isinstance(value, dict) else [value]
    if isinstance(value, list | tuple):
        values = list(value)
    for v in values:
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise ConfigError(
                f"{path}: expected one of {', '.join(map(repr, meta['choices']))}, got {v!r}"
            )
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        ge, le, gt, lt = meta.get("ge"), meta.get("le"), meta.get("gt"), meta.get("lt")
        ok = (
            (ge is None or v >= ge)
            and (le is None or v <= le)
            and (gt is None or v > gt)
            and (lt is None or v < lt)
        )
        if not ok:
            raise ConfigError(f"{path}: expected a number {_bounds_text(meta)}, got {v!r}")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Evidence:
    """A small table that backs a verdict: the rows, columns or classes at fault."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(
            title=data["title"],
            columns=tuple(data["columns"]),
            rows=tuple(tuple(r) for r in data["rows"]),
            note=data.get("note", ""),
        )


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    note: str = "",
    max_rows: int = 50,
) -> Evidence:
    """Build an Evidence table with JSON-safe cells, keeping at most ``max_rows`` rows."""
    kept = [tuple(json_safe(c) for c in row) for row in list(rows)[:max_rows]]
    if len(rows) > max_rows:
        extra = f"showing {max_rows} of {len(rows)} rows"
        note = f"{note}; {extra}" if note else extra
    return Evidence(title=title, columns=tuple(columns), rows=tuple(kept), note=note)


@dataclass(frozen=True)
class Chart:
    """Data for one picture in the HTML report; the renderer draws it, computing nothing.

    kinds and their ``data``:
    - ``histogram``: {"edges": [...], "series": {name: [counts]}} — overlaid, normalised shares
    - ``heatmap``: {"labels": [...], "matrix": [[...]], "row_label": str, "col_label": str}
    - ``lines``: {"x": [...], "series": {name: [y]}, "x_label": str, "y_label": str, "marker": x}
    - ``bars``: {"labels": [...], "series": {name: [values]}, "threshold": number | None}
    """

    kind: Literal["histogram", "heatmap", "lines", "bars"]
    title: str
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "data": json_safe(dict(self.data))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chart:
        return cls(kind=data["kind"], title=data["title"], data=data["data"])


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome. Metrics are what was observed; thresholds what it was held to."""

    id: str
    title: str
    status: Status
    severity: Severity
    message: str
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    thresholds: Mapping[str, float | None] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    charts: tuple[Chart, ...] = ()
    remedy: str = ""
    #: The columns, classes or detectors at fault; waivers with ``match`` narrow to these.
    subjects: tuple[str, ...] = ()
    duration_s: float = 0.0
    #: Set by the gate when a waiver applied (reason, owner, expires).
    waiver: Mapping[str, str] | None = None
    #: Short traceback, for status ``error`` only.
    traceback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "severity": self.severity,
            "message": self.message,
            "metrics": {k: json_number(v) for k, v in self.metrics.items()},
            "thresholds": {k: json_number(v) for k, v in self.thresholds.items()},
            "evidence": [e.to_dict() for e in self.evidence],
            "charts": [c.to_dict() for c in self.charts],
            "remedy": self.remedy,
            "subjects": list(self.subjects),
            "duration_s": round(self.duration_s, 4),
            "waiver": dict(self.waiver) if self.waiver else None,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            id=data["id"],
            title=data["title"],
            status=data["status"],
            severity=data["severity"],
            message=data["message"],
            metrics=dict(data.get("metrics", {})),
            thresholds=dict(data.get("thresholds", {})),
            evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence", [])),
            charts=tuple(Chart.from_dict(c) for c in data.get("charts", [])),
            remedy=data.get("remedy", ""),
            subjects=tuple(data.get("subjects", [])),
            duration_s=float(data.get("duration_s", 0.0)),
            waiver=data.get("waiver"),
            traceback=data.get("traceback", ""),
        )


def finite_float(value: Any) -> float | None:
    """A finite float, or None for anything else (None, NaN, inf, strings, bools)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def json_number(value: Any) -> float | int | None:
    """A metric value as JSON allows it: NaN and infinities become null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 2**53 and type(value).__name__.startswith("int"):
        return int(number)
    return round(number, 6)


def json_safe(value: Any) -> Any:
    """Convert numpy scalars, NaN, dates and tuples into plain JSON values."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- checks
class Check:
    """Base class for every check, built-in or plugin.

    Subclasses set the class attributes, define a frozen dataclass ``Params`` (every field via
    :func:`param`, with a default and a description) and implement :meth:`run`.
    """

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = "error"
    #: Task types the check applies to; others are skipped with a reason.
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass", "regression")
    #: How many of its fail rules rest on a statistical test (0: every fail rule is a fixed
    #: rule). The gate's false-alarm budget is split across checks in proportion to it, and the
    #: check splits its share (``ctx.false_alarm_share(self.id)``) across those tests.
    fail_tests: ClassVar[int] = 0

    @dataclass(frozen=True)
    class Params:
        pass

    def run(self, ctx: Context, params: Any) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError

    #: True when the check can judge from profiles alone (``--engine``, ``--reference``): the
    #: runner then calls :meth:`run_profiles` instead of :meth:`run`. Other checks run on the
    #: engine's seeded sample (or skip against a stored reference, which holds no rows).
    profiles_supported: ClassVar[bool] = False

    def run_profiles(self, pctx: ProfileContext, params: Any) -> CheckResult:
        """The verdict from split profiles (see :mod:`qa.profile_context`)."""
        raise NotImplementedError(f"{self.id} cannot run on profiles")

    # -- helpers for building results -------------------------------------------------
    def result(
        self,
        status: Status,
        message: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        thresholds: Mapping[str, Any] | None = None,
        evidence: Sequence[Evidence] = (),
        charts: Sequence[Chart] = (),
        remedy: str | None = None,
        subjects: Sequence[str] = (),
    ) -> CheckResult:
        """A result for this check; the remedy defaults to the docstring's *How to fix*."""
        return CheckResult(
            id=self.id,
            title=self.title,
            status=status,
            severity=self.severity,
            message=message,
            metrics={k: json_number(v) for k, v in (metrics or {}).items()},
            thresholds={k: json_number(v) for k, v in (thresholds or {}).items()},
            evidence=tuple(evidence),
            charts=tuple(Chart(c.kind, c.title, json_safe(dict(c.data))) for c in charts),
            remedy=(
                remedy
                if remedy is not None
                else (
                    doc_sections(type(self)).get("How to fix", "")
                    if status in ("fail", "warn")
                    else ""
                )
            ),
            subjects=tuple(str(s) for s in subjects),
        )

    def skip(self, reason: str) -> CheckResult:
        return self.result("skip", reason)


def validate_check_class(check_cls: Any, source: str) -> None:
    """Raise ValueError when a check class breaks the contract (used by the registry)."""
    if not (isinstance(check_cls, type) and issubclass(check_cls, Check)):
        raise ValueError(f"{source}: {check_cls!r} is not a qa.Check subclass")
    if not _ID_PATTERN.match(check_cls.id or ""):
        raise ValueError(f"{source}: check id {check_cls.id!r} is not a kebab-case slug")
    if not check_cls.title:
        raise ValueError(f"{source}: check {check_cls.id} has no title")
    unknown = set(check_cls.requires) - REQUIREMENTS
    if unknown:
        raise ValueError(
            f"{source}: check {check_cls.id} requires unknown inputs {sorted(unknown)}"
        )
    if not isinstance(check_cls.fail_tests, int) or check_cls.fail_tests < 0:
        raise ValueError(
            f"{source}: check {check_cls.id} has fail_tests {check_cls.fail_tests!r}; "
            "expected a non-negative integer"
        )
    if check_cls.severity not in SEVERITIES:
        raise ValueError(f"{source}: check {check_cls.id} has severity {check_cls.severity!r}")
    if not dataclasses.is_dataclass(check_cls.Params):
        raise ValueError(f"{source}: {check_cls.id}.Params must be a dataclass")
    for f in dataclasses.fields(check_cls.Params):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{source}: {check_cls.id}.Params.{f.name} has no default")


def doc_sections(check_cls: type) -> dict[str, str]:
    """Split a check's docstring into its fixed sections (``Title\\n-----`` style)."""
    doc = textwrap.dedent(check_cls.__doc__ or "")
    # The first line of a class docstring is not indented; dedent the rest separately.
    lines = (check_cls.__doc__ or "").splitlines()
    if lines:
        doc = lines[0].strip() + "\n" + textwrap.dedent("\n".join(lines[1:]))
    sections: dict[str, str] = {}
    current = "Summary"
    buffer: list[str] = []
    doc_lines = doc.splitlines()
    i = 0
    while i < len(doc_lines):
        line = doc_lines[i]
        nxt = doc_lines[i + 1] if i + 1 < len(doc_lines) else ""
        if line.strip() and nxt.strip() and set(nxt.strip()) == {"-"}:
            sections[current] = "\n".join(buffer).strip()
            current, buffer = line.strip(), []
            i += 2
            continue
        buffer.append(line)
        i += 1
    sections[current] = "\n".join(buffer).strip()
    return sections


def budget_line(check_cls: type[Check]) -> str:
    """How the check draws on the gate's false-alarm budget, in one line for ``qa explain``."""
    n = check_cls.fail_tests
    if n == 0:
        return "none drawn: its fail rules are fixed rules, not statistical tests"
    rules = "fail rule rests" if n == 1 else "fail rules rest"
    return (
        f"{n} {rules} on a test; at severity error it gets a share of [run] false_alarm_rate "
        f"(default 0.02) in proportion to {n} among the checks that run, reported as "
        "thresholds.false_alarm_share"
    )


def explain(check_cls: type[Check]) -> str:
    """The full documentation of a check: its sections plus parameters generated from Params."""
    sections = doc_sections(check_cls)
    out = [f"{check_cls.id} — {check_cls.title}", ""]
    if sections.get("Summary"):
        out += [sections["Summary"], ""]
    out.append(f"Requires: {', '.join(check_cls.requires) or 'nothing'}")
    out.append(f"Default severity: {check_cls.severity}")
    out.append(f"False-alarm budget: {budget_line(check_cls)}")
    out.append("")
    for name in DOC_SECTIONS[:3]:
        out += [name, "-" * len(name), sections.get(name, "(missing)"), ""]
    out += ["Parameters", "----------"]
    infos = param_infos(check_cls.Params)
    if not infos:
        out.append("(none)")
    for info in infos:
        bounds = f"; {info.bounds}" if info.bounds else ""
        out.append(f"{info.name} ({info.type}, default {info.default!r}{bounds})")
        out.append(f"    {info.doc}")
    out.append("")
    name = DOC_SECTIONS[3]
    out += [name, "-" * len(name), sections.get(name, "(missing)")]
    return "\n".join(out)
