"""One validated Config from ``qa.toml``, ``[tool.qa]`` in pyproject.toml, or CLI flags.

Flags win over the file. Every unknown key, wrong type or impossible value is a ConfigError that
names the key path, e.g. ``checks.label-noise.max_issue_rate: expected a number, got 'high'``.
Check parameters are validated against each check's ``Params`` by the registry (see runner).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

TASK_TYPES = ("binary", "multiclass", "regression")
SPLITS = ("train", "validation", "test", "production")
FORMATS = ("json", "html", "junit", "md")


@dataclass(frozen=True)
class TaskConfig:
    type: str | None = None
    target: str | None = None
    id: str | None = None
    time: str | None = None
    group: str | None = None
    positive_label: Any = None
    #: The primary metric, declared once for every model check (a check's own ``metric``
    #: param overrides it); default: roc_auc (binary), macro_f1 (multiclass), rmse.
    metric: str | None = None
    #: Protected attributes (columns present in the splits, model inputs or not) that the
    #: ``fairness`` check compares groups of, e.g. ``["sex", "age_band"]``.
    sensitive: tuple[str, ...] = ()
    #: What a mistake costs, declared in advance (``decision-cost``): binary
    #: ``{false_positive = 1, false_negative = 5}``; multiclass a matrix
    #: ``{<true label> = {<predicted label> = cost}}`` (missing cells cost 0 on the diagonal, 1
    #: elsewhere). None: not declared.
    costs: Mapping[str, Any] | None = None
    #: The operating threshold on the positive class's probability (binary; default 0.5).
    threshold: float | None = None


@dataclass(frozen=True)
class DataConfig:
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    production: str | None = None

    def paths(self) -> dict[str, str]:
        return {s: p for s in SPLITS if (p := getattr(self, s)) is not None}


@dataclass(frozen=True)
class ModelConfig:
    artifact: str | None = None
    history: str | None = None
    #: Prediction files keyed by split name.
    predictions: Mapping[str, str] = field(default_factory=dict)
    #: Optional out-of-fold probability file for train (label-noise uses it instead of fitting).
    oof: str | None = None
    #: Allow pickle/joblib artifacts, which run code when loaded.
    trust: bool = False
    #: Serving bars (``serving``), each optional: single-row latency p95 in milliseconds, the
    #: artifact's size in MB, batch throughput in rows per second.
    latency_p95_ms: float | None = None
    max_size_mb: float | None = None
    min_rows_per_second: float | None = None


@dataclass(frozen=True)
class Waiver:
    check: str
    reason: str
    owner: str
    match: str | None = None
    expires: dt.date | None = None

    def active(self, today: dt.date) -> bool:
        return self.expires is None or today <= self.expires

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "match": self.match,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat() if self.expires else None,
        }


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    out: str = "qa-reports"
    formats: tuple[str, ...] = FORMATS
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    #: Threads for model fitting; None means the cores this process may use.
    threads: int | None = None
    #: Wrong-way move a metric may make against the baseline report before ``regression`` fails.
    baseline_tolerance: float = 0.01
    #: The gate's false-alarm budget: on clean data and a sound model at most this share of
    #: runs fail; split across the checks whose fail rules rest on a test (see qa.budget).
    false_alarm_rate: float = 0.02
    #: None: read every split whole into memory (the default). ``polars`` / ``spark``: the data
    #: checks judge profiles computed by that engine; the rest run on seeded samples.
    engine: str | None = None
    #: Rows of each split sampled for the parts of checks that need rows (profile runs only).
    sample_rows: int = 200_000
    #: Spark master URL for ``engine = "spark"`` (default ``local[2]``).
    spark_master: str | None = None
    #: A stored reference profile (``qa profile``) that stands in for the train split.
    reference: str | None = None


@dataclass(frozen=True)
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    #: Raw per-check tables: ``enabled``, ``severity`` and the check's parameters.
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    run: RunConfig = field(default_factory=RunConfig)
    #: Where the config came from (None when built from flags or Python only).
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The effective config, as it goes into the report."""
        return {
            "task": {**dataclasses.asdict(self.task), "sensitive": list(self.task.sensitive)},
            "data": dataclasses.asdict(self.data),
            "model": {
                **dataclasses.asdict(self.model),
                "predictions": dict(self.model.predictions),
            },
            "checks": {k: dict(v) for k, v in sorted(self.checks.items())},
            "waivers": [w.to_dict() for w in self.waivers],
            "run": {
                **dataclasses.asdict(self.run),
                "formats": list(self.run.formats),
                "only": list(self.run.only),
                "skip": list(self.run.skip),
            },
            "source": self.source,
        }

    def check_table(self, check_id: str) -> Mapping[str, Any]:
        return self.checks.get(check_id, {})


#: Engines that compute profiles (``[run] engine``, ``--engine``).
ENGINES = ("polars", "spark")


# --------------------------------------------------------------------------- loading
def find_config_file(start: Path) -> Path | None:
    """``qa.toml`` in ``start``, else a pyproject.toml there with a ``[tool.qa]`` table."""
    candidate = start / "qa.toml"
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
        if "qa" in data.get("tool", {}):
            return pyproject
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read the raw table from ``qa.toml`` or ``[tool.qa]``; paths stay relative to the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    if path.name == "pyproject.toml":
        if "qa" not in data.get("tool", {}):
            raise ConfigError(f"{path}: has no [tool.qa] table")
        data = data["tool"]["qa"]
    return _resolve_paths(data, path.parent)


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make data, prediction and model paths relative to the config file's folder."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(base / value)
        return value

    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    if isinstance(raw.get("data"), dict):
        raw["data"] = {k: resolve(v) for k, v in raw["data"].items()}
    if isinstance(raw.get("model"), dict):
        model = dict(raw["model"])
        for key in ("artifact", "history", "oof"):
            if key in model:
                model[key] = resolve(model[key])
        if isinstance(model.get("predictions"), dict):
            model["predictions"] = {k: resolve(v) for k, v in model["predictions"].items()}
        raw["model"] = model
    if isinstance(raw.get("checks"), dict):
        checks = {}
        for cid, table_ in raw["checks"].items():
            if isinstance(table_, dict) and isinstance(table_.get("schema_file"), str):
                table_ = {**table_, "schema_file": resolve(table_["schema_file"])}
            if isinstance(table_, dict) and isinstance(table_.get("lock_file"), str):
                table_ = {**table_, "lock_file": resolve(table_["lock_file"])}
            checks[cid] = table_
        raw["checks"] = checks
    return raw


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    search_dir: Path | None = None,
    search: bool = True,
) -> Config:
    """Load and validate the config; ``overrides`` (from flags or Python) win over the file.

    ``overrides`` uses the same nested shape as the file, e.g. ``{"task": {"target": "y"}}``.
    """
    source: Path | None = None
    raw: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        raw = read_config_file(source)
    elif search:
        found = find_config_file(search_dir or Path.cwd())
        if found is not None:
            source, raw = found, read_config_file(found)
    merged = merge_tables(raw, dict(overrides or {}))
    return parse_config(merged, source=str(source) if source else None)


def merge_tables(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay ``over`` on ``base``; None values in ``over`` (unset flags) are ignored."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            current = out.get(key)
            out[key] = merge_tables(current if isinstance(current, dict) else {}, value)
        else:
            out[key] = value
    return out


def parse_config(raw: Mapping[str, Any], source: str | None = None) -> Config:
    """Validate a raw nested mapping into a Config."""
    _only_keys(raw, {"task", "data", "model", "checks", "waivers", "run"}, "")
    task = _parse_task(_table(raw, "task"))
    data = _parse_simple(DataConfig, _table(raw, "data"), "data")
    model = _parse_model(_table(raw, "model"))
    checks = _table(raw, "checks")
    for cid, tbl in checks.items():
        if not isinstance(tbl, Mapping):
            raise ConfigError(f"checks.{cid}: expected a table, got {tbl!r}")
        if "enabled" in tbl and not isinstance(tbl["enabled"], bool):
            raise ConfigError(
                f"checks.{cid}.enabled: expected true or false, got {tbl['enabled']!r}"
            )
        if "severity" in tbl and tbl["severity"] not in ("error", "warning"):
            raise ConfigError(
                f"checks.{cid}.severity: expected 'error' or 'warning', got {tbl['severity']!r}"
            )
    waivers_raw = raw.get("waivers", [])
    if not isinstance(waivers_raw, list):
        raise ConfigError(
            f"waivers: expected an array of tables ([[waivers]]), got {waivers_raw!r}"
        )
    waivers = tuple(_parse_waiver(w, i) for i, w in enumerate(waivers_raw))
    run = _parse_run(_table(raw, "run"))
    return Config(
        task=task,
        data=data,
        model=model,
        checks={k: dict(v) for k, v in checks.items()},
        waivers=waivers,
        run=run,
        source=source,
    )


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a table, got {value!r}")
    return value


def _only_keys(table_: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table_:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise ConfigError(f"{path}: unknown key (expected one of {', '.join(sorted(allowed))})")


def _string(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: expected a non-empty string, got {value!r}")
    return value


def _costs(value: Any) -> dict[str, Any]:
    """``{false_positive, false_negative}`` or a matrix ``{true: {predicted: cost}}``; every
    cost a finite number >= 0."""
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"task.costs: expected a table of costs, got {value!r}")
    out: dict[str, Any] = {}
    for key, cell in value.items():
        if isinstance(cell, Mapping):
            out[str(key)] = {str(k): _cost(v, f"task.costs.{key}.{k}") for k, v in cell.items()}
        else:
            out[str(key)] = _cost(cell, f"task.costs.{key}")
    flat = [k for k, v in out.items() if not isinstance(v, dict)]
    if flat and len(flat) != len(out):
        raise ConfigError("task.costs: use either false_positive/false_negative or a matrix")
    if flat and set(flat) - {"false_positive", "false_negative"}:
        unknown = sorted(set(flat) - {"false_positive", "false_negative"})[0]
        raise ConfigError(
            f"task.costs.{unknown}: unknown key (binary costs are false_positive and "
            "false_negative; a multiclass matrix is {true_label = {predicted_label = cost}})"
        )
    return out


def _cost(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise ConfigError(f"{path}: expected a cost >= 0, got {value!r}")
    return float(value)


def _string_list(value: Any, path: str) -> tuple[str, ...]:
    """A list of distinct non-empty strings (a single string is a list of one)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{path}: expected a list of column names, got {value!r}")
    if len(set(items)) != len(items):
        raise ConfigError(f"{path}: a column is named twice in {list(items)!r}")
    return tuple(items)


def _parse_simple(cls: type, table_: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    _only_keys(table_, names, where)
    return cls(**{k: _string(v, f"{where}.{k}") for k, v in table_.items()})


def _parse_task(table_: Mapping[str, Any]) -> TaskConfig:
    _only_keys(table_, {f.name for f in dataclasses.fields(TaskConfig)}, "task")
    values: dict[str, Any] = {}
    for key, value in table_.items():
        if key == "positive_label":
            if not isinstance(value, str | int | bool):
                raise ConfigError(
                    f"task.positive_label: expected a string or integer, got {value!r}"
                )
            values[key] = value
            continue
        if key == "sensitive":
            values[key] = _string_list(value, "task.sensitive")
            continue
        if key == "costs":
            values[key] = _costs(value)
            continue
        if key == "threshold":
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1:
                raise ConfigError(f"task.threshold: expected a number in (0, 1), got {value!r}")
            values[key] = float(value)
            continue
        values[key] = _string(value, f"task.{key}")
    if values.get("type") is not None and values["type"] not in TASK_TYPES:
        raise ConfigError(
            f"task.type: expected one of {', '.join(TASK_TYPES)}, got {values['type']!r}"
        )
    return TaskConfig(**values)


#: ``[model]`` keys holding serving bars (positive numbers).
SERVING_BARS = ("latency_p95_ms", "max_size_mb", "min_rows_per_second")


def _parse_model(table_: Mapping[str, Any]) -> ModelConfig:
    _only_keys(table_, {f.name for f in dataclasses.fields(ModelConfig)}, "model")
    values: dict[str, Any] = {}
    for key, value in table_.items():
        if key == "predictions":
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"model.predictions: expected a table of split = path, got {value!r}"
                )
            _only_keys(value, set(SPLITS), "model.predictions")
            values[key] = {s: _string(p, f"model.predictions.{s}") for s, p in value.items()}
        elif key == "trust":
            if not isinstance(value, bool):
                raise ConfigError(f"model.trust: expected true or false, got {value!r}")
            values[key] = value
        elif key in SERVING_BARS:
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"model.{key}: expected a positive number, got {value!r}")
            values[key] = float(value)
        else:
            values[key] = _string(value, f"model.{key}")
    return ModelConfig(**values)


def _parse_waiver(raw: Any, index: int) -> Waiver:
    where = f"waivers[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {raw!r}")
    _only_keys(raw, {"check", "match", "reason", "owner", "expires"}, where)
    for required in ("check", "reason", "owner"):
        if not isinstance(raw.get(required), str) or not raw[required].strip():
            raise ConfigError(f"{where}.{required}: a waiver needs a non-empty {required}")
    expires = raw.get("expires")
    if expires is not None:
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        elif isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise ConfigError(
                    f"{where}.expires: expected a date YYYY-MM-DD, got {expires!r}"
                ) from None
        elif not isinstance(expires, dt.date):
            raise ConfigError(f"{where}.expires: expected a date YYYY-MM-DD, got {expires!r}")
    match = _string(raw.get("match"), f"{where}.match")
    return Waiver(
        check=raw["check"], reason=raw["reason"], owner=raw["owner"], match=match, expires=expires
    )


def _parse_run(table_: Mapping[str, Any]) -> RunConfig:
    _only_keys(table_, {f.name for f in dataclasses.fields(RunConfig)}, "run")
    values: dict[str, Any] = {}
    for key, value in table_.items():
        path = f"run.{key}"
        if key == "seed":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{path}: expected a non-negative integer, got {value!r}")
            values[key] = value
        elif key == "threads":
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ConfigError(f"{path}: expected a positive integer, got {value!r}")
            values[key] = value
        elif key in ("out", "spark_master", "reference"):
            values[key] = _string(value, path)
        elif key == "engine":
            if value not in ENGINES:
                raise ConfigError(f"{path}: expected one of {', '.join(ENGINES)}, got {value!r}")
            values[key] = value
        elif key == "sample_rows":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1000:
                raise ConfigError(f"{path}: expected an integer >= 1000, got {value!r}")
            values[key] = value
        elif key == "false_alarm_rate":
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not 0 < value <= 0.5
            ):
                raise ConfigError(f"{path}: expected a number in (0, 0.5], got {value!r}")
            values[key] = float(value)
        elif key == "baseline_tolerance":
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not 0 <= value < 1e12
            ):
                raise ConfigError(f"{path}: expected a non-negative number, got {value!r}")
            values[key] = float(value)
        else:  # formats, only, skip: lists of strings
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: expected a list of strings, got {value!r}")
            if key == "formats":
                bad = [v for v in value if v not in FORMATS]
                if bad:
                    raise ConfigError(
                        f"{path}: unknown format {bad[0]!r} (expected {', '.join(FORMATS)})"
                    )
            values[key] = tuple(value)
    return RunConfig(**values)
