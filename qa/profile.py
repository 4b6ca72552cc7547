"""Profiles: what the data checks need to know about a split, in a form that merges exactly.

A :class:`Profile` summarises one split column by column — its type, row and missing counts,
min/max, mean and variance (as mergeable moments), a histogram on bin edges fixed by the
reference, category counts — plus the target's class counts and hashes of row contents (for
overlap and conflicting labels). Profiles of partitions merge exactly: counts add, moments merge
by Chan's formula, hash samples union (``merge(profile(a), profile(b)) == profile(a ∪ b)``, the
moments up to float rounding).

When the split has a prediction file (``model.predictions``), its profile also carries the
**prediction profiles** (``Profile.predictions``): every ``proba_<label>`` column as a score
histogram on the fixed edges ``SCORE_EDGES`` (0, 0.01, …, 1: scores need no reference to fix
their bins), and the ``prediction`` column — the predicted labels' counts (every value tracked)
for classification, a histogram on the target's edges for regression. They merge like columns,
so drift compares the model's scores on profiles and against a stored reference.

The **spec** (:class:`ProfileSpec`) fixes what every profile of one gate counts into: numeric
bin edges (equal-frequency edges from the reference's quantiles, framed by its exact min/max and
by the schema's tolerance-widened range) and the tracked categories (the reference's full domain
while it has at most ``MAX_CATEGORIES`` values, else its most frequent ones). Two profiles merge
or compare only under the same spec (same ``spec.fingerprint``).

An **engine** computes profiles (``qa.engines.polars_engine`` by default, streaming in batches;
``qa.engines.spark_engine`` on Spark): the engine fixes the spec from the reference, then counts
every split into it. Engines differ only in the row-hash function, which each profile names
(``hash_function``); overlap is compared only between profiles hashed alike.

The stored form is JSON (``to_dict`` / ``from_dict``; schema ``qa/schemas/profile.schema.json``,
format ``qa-profile`` version ``FORMAT_VERSION``); hashes are base64 of little-endian uint64.
Never a pickle.

Bins: with edges ``e_0 < … < e_k`` a histogram has ``k + 2`` counts (``len(edges) + 1``) — ``(-inf, e_0)``,
``[e_0, e_1)``, …, ``[e_{k-1}, e_k)``, ``[e_k, +inf]`` (numpy ``searchsorted(side="right")``,
Spark ``Bucketizer`` with ±inf splits). Infinite values fall in the outer bins; NaN counts as
missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.errors import DataError

FORMAT = "qa-profile"
FORMAT_VERSION = 1
#: Equal-frequency bins of a numeric column (so PSI, JS, chi-square and a binned KS are exact on
#: bins of at most 1/1000 of the reference each).
N_BINS = 1000
#: A categorical column's values are all tracked while the reference has at most this many.
MAX_CATEGORIES = 5000
#: Untracked values kept as examples (the lexicographically smallest, so merging is exact).
MAX_EXAMPLES = 20
#: Row hashes kept per profile: all while rows <= this, else those below a threshold that scales
#: as MAX_HASHES / rows (a uniform, mergeable sample of row contents).
MAX_HASHES = 1_000_000
#: Size of the distinct-value sketch (k minimum hashes): ~3 % relative error.
SKETCH_SIZE = 1024
HASH_SPACE = 2**64
#: Fixed edges of a predicted probability's histogram: 0, 0.01, …, 1.0 (100 score bins
#: between 0 and 1, plus the outer ones; a score of exactly 1 falls in the top bin).
SCORE_EDGES: tuple[float, ...] = tuple(i / 100 for i in range(101))


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class ColumnSpec:
    """How one column is counted: ``kind`` numeric (also dates, as epoch seconds) or
    categorical (strings, booleans); numeric ``edges``; categorical ``categories``."""

    name: str
    kind: str
    dtype: str
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    #: The tracked categories are the reference's whole domain (it had few enough values).
    complete: bool = True
    #: A calendar part (``hour``, ``weekday``, ``month``) of the Date/Datetime column ``source``,
    #: counted as a categorical column named ``<source>.<part>``.
    source: str | None = None
    part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype}
        if self.kind == "numeric":
            out["edges"] = [_json_float(e) for e in self.edges]
        else:
            out["categories"] = list(self.categories)
            out["complete"] = self.complete
        if self.part:
            out["source"], out["part"] = self.source, self.part
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            dtype=str(data["dtype"]),
            edges=tuple(float(e) for e in data.get("edges", ())),
            categories=tuple(str(c) for c in data.get("categories", ())),
            complete=bool(data.get("complete", True)),
            source=data.get("source"),
            part=data.get("part"),
        )


@dataclass(frozen=True)
class ProfileSpec:
    """The columns every profile of one gate is counted into, in the reference's order."""

    columns: tuple[ColumnSpec, ...]
    #: Target column (its class counts are a categorical column like any other) or None.
    target: str | None = None
    #: Columns whose contents form the row hash (the features; the target hashed separately).
    hash_columns: tuple[str, ...] = ()
    #: Numeric edges include train's range widened by this share of its width on each side
    #: (the schema check's ``range_tolerance``), so out-of-range counts are exact.
    range_tolerance: float = 0.1

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target,
            "hash_columns": list(self.hash_columns),
            "range_tolerance": self.range_tolerance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProfileSpec:
        return cls(
            columns=tuple(ColumnSpec.from_dict(c) for c in data["columns"]),
            target=data.get("target"),
            hash_columns=tuple(data.get("hash_columns", ())),
            range_tolerance=float(data.get("range_tolerance", 0.1)),
        )

    @property
    def fingerprint(self) -> str:
        return _sha256(self.to_dict())


# --------------------------------------------------------------------------- column profiles
@dataclass
class NumericProfile:
    """One numeric column of one split."""

    rows: int = 0
    #: Null values, and NaN (together: missing, as the schema check counts them).
    nulls: int = 0
    nans: int = 0
    #: Finite values: their count, range and moments (mean, sum of squared deviations).
    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    pos_inf: int = 0
    neg_inf: int = 0
    #: Counts on the spec's edges (len(edges) + 1 bins; infinities in the outer ones).
    hist: list[int] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.nulls + self.nans

    @property
    def variance(self) -> float:
        return self.m2 / self.count if self.count else 0.0

    def merge(self, other: NumericProfile) -> NumericProfile:
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n if n else 0.0
        m2 = self.m2 + other.m2 + (delta**2 * self.count * other.count / n if n else 0.0)
        return NumericProfile(
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            nans=self.nans + other.nans,
            count=n,
            min=_extreme(min, self.min, other.min),
            max=_extreme(max, self.max, other.max),
            mean=mean,
            m2=m2,
            pos_inf=self.pos_inf + other.pos_inf,
            neg_inf=self.neg_inf + other.neg_inf,
            hist=_add(self.hist, other.hist),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "nulls": self.nulls,
            "nans": self.nans,
            "count": self.count,
            "min": _json_float(self.min),
            "max": _json_float(self.max),
            "mean": self.mean,
            "m2": self.m2,
            "pos_inf": self.pos_inf,
            "neg_inf": self.neg_inf,
            "hist": list(self.hist),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        return cls(
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            nans=int(data["nans"]),
            count=int(data["count"]),
            min=_opt_float(data.get("min")),
            max=_opt_float(data.get("max")),
            mean=float(data["mean"]),
            m2=float(data["m2"]),
            pos_inf=int(data["pos_inf"]),
            neg_inf=int(data["neg_inf"]),
            hist=[int(c) for c in data["hist"]],
        )


@dataclass
class CategoricalProfile:
    """One categorical column of one split: exact counts of the tracked categories."""

    rows: int = 0
    nulls: int = 0
    #: Count of every tracked category seen (values of the spec's ``categories``).
    counts: dict[str, int] = field(default_factory=dict)
    #: Rows holding a value the spec does not track, and the smallest few such values.
    other: int = 0
    other_examples: list[str] = field(default_factory=list)
    #: k-minimum-values sketch of the distinct non-null values (sorted unsigned 64-bit hashes).
    sketch: list[int] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.nulls

    @property
    def distinct(self) -> int:
        """Distinct non-null values: exact below SKETCH_SIZE, else the sketch's estimate."""
        if len(self.sketch) < SKETCH_SIZE:
            return len(self.sketch)
        return int((SKETCH_SIZE - 1) * HASH_SPACE / (self.sketch[-1] + 1))

    @property
    def distinct_exact(self) -> bool:
        return len(self.sketch) < SKETCH_SIZE

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        counts = dict(self.counts)
        for value, n in other.counts.items():
            counts[value] = counts.get(value, 0) + n
        return CategoricalProfile(
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            counts=dict(sorted(counts.items())),
            other=self.other + other.other,
            other_examples=sorted(set(self.other_examples) | set(other.other_examples))[
                :MAX_EXAMPLES
            ],
            sketch=merge_sketches(self.sketch, other.sketch),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "nulls": self.nulls,
            "counts": dict(self.counts),
            "other": self.other,
            "other_examples": list(self.other_examples),
            "sketch": [str(h) for h in self.sketch],  # JSON numbers lose 64-bit precision
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls(
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            counts={str(k): int(v) for k, v in data["counts"].items()},
            other=int(data["other"]),
            other_examples=[str(v) for v in data.get("other_examples", ())],
            sketch=[int(h) for h in data.get("sketch", ())],
        )


ColumnProfile = NumericProfile | CategoricalProfile


# --------------------------------------------------------------------------- row hashes
@dataclass
class RowHashes:
    """A uniform, mergeable sample of row-content hashes.

    ``features[i]`` hashes row i's feature values; ``rows[i]`` its feature values and target
    (equal feature hashes with different row hashes: the same record with another label).
    Kept: every row whose feature hash is below ``threshold(total rows)``.
    """

    total: int = 0
    features: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    @property
    def threshold(self) -> int:
        return hash_threshold(self.total)

    def merge(self, other: RowHashes) -> RowHashes:
        total = self.total + other.total
        features = np.concatenate([self.features, other.features])
        rows = np.concatenate([self.rows, other.rows])
        return RowHashes(total, *keep_below(features, rows, hash_threshold(total)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "threshold": str(self.threshold),
            "features": _b64(self.features),
            "rows": _b64(self.rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowHashes:
        features, rows = _unb64(data["features"]), _unb64(data["rows"])
        if len(features) != len(rows):
            raise ValueError("row hashes: features and rows differ in length")
        return cls(int(data["total"]), features, rows)


def hash_threshold(total: int) -> int:
    """Keep hashes below this: all of them up to MAX_HASHES rows, then a shrinking share."""
    if total <= MAX_HASHES:
        return HASH_SPACE
    return int(HASH_SPACE * (MAX_HASHES / total))


def keep_below(
    features: np.ndarray, rows: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (feature, row) hash pairs whose feature hash is below ``threshold``, sorted."""
    if threshold < HASH_SPACE:
        keep = features < np.uint64(threshold)
        features, rows = features[keep], rows[keep]
    order = np.lexsort((rows, features))
    return features[order].astype(np.uint64), rows[order].astype(np.uint64)


# --------------------------------------------------------------------------- the profile
@dataclass
class Profile:
    """One split (or partition of one) counted into a spec."""

    spec: ProfileSpec
    rows: int
    columns: dict[str, ColumnProfile]
    hashes: RowHashes
    #: Names the row-hash function (e.g. ``polars-2.1.0`` or ``spark-xxhash64``).
    hash_function: str
    #: Where the rows came from (paths or a table name) and which engine counted them.
    source: str = ""
    engine: str = ""
    #: Columns the split has beyond the spec (name -> dtype), and spec columns it lacks.
    extra_columns: dict[str, str] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)
    #: The split's own dtype of every spec column it has (a type change is the schema's).
    dtypes: dict[str, str] = field(default_factory=dict)
    #: The profile of the split's prediction file (empty without one): ``proba_<label>``
    #: columns on ``SCORE_EDGES``; ``prediction`` as categories (classification) or on the
    #: target's edges (regression).
    predictions: dict[str, ColumnProfile] = field(default_factory=dict)

    def merge(self, other: Profile) -> Profile:
        """The profile of both partitions together (same spec, same hash function)."""
        if self.spec.fingerprint != other.spec.fingerprint:
            raise DataError("profiles: cannot merge profiles counted into different specs")
        if self.hash_function != other.hash_function:
            raise DataError(
                f"profiles: cannot merge rows hashed by {self.hash_function} and "
                f"{other.hash_function}"
            )
        columns: dict[str, ColumnProfile] = {}
        for name in self.columns.keys() | other.columns.keys():
            mine, theirs = self.columns.get(name), other.columns.get(name)
            columns[name] = _merge_column(mine, theirs)
        return Profile(
            spec=self.spec,
            rows=self.rows + other.rows,
            columns={n: columns[n] for n in self.spec.names if n in columns},
            hashes=self.hashes.merge(other.hashes),
            hash_function=self.hash_function,
            source=" + ".join(s for s in (self.source, other.source) if s),
            engine=self.engine or other.engine,
            extra_columns={**self.extra_columns, **other.extra_columns},
            missing_columns=sorted(set(self.missing_columns) & set(other.missing_columns)),
            dtypes={**other.dtypes, **self.dtypes},
            predictions=merge_columns(self.predictions, other.predictions),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "source": self.source,
            "engine": self.engine,
            "hash_function": self.hash_function,
            "columns": {name: _column_dict(col) for name, col in self.columns.items()},
            "dtypes": dict(self.dtypes),
            "extra_columns": dict(self.extra_columns),
            "missing_columns": list(self.missing_columns),
            "hashes": self.hashes.to_dict(),
        }
        if self.predictions:  # optional: a profile without predictions reads (and hashes) as before
            out["predictions"] = {n: _column_dict(c) for n, c in self.predictions.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], spec: ProfileSpec) -> Profile:
        columns = {name: _column_from_dict(col) for name, col in data["columns"].items()}
        predictions = {n: _column_from_dict(c) for n, c in data.get("predictions", {}).items()}
        return cls(
            spec=spec,
            rows=int(data["rows"]),
            columns=columns,
            hashes=RowHashes.from_dict(data["hashes"]),
            hash_function=str(data["hash_function"]),
            source=str(data.get("source", "")),
            engine=str(data.get("engine", "")),
            extra_columns={str(k): str(v) for k, v in data.get("extra_columns", {}).items()},
            missing_columns=[str(c) for c in data.get("missing_columns", ())],
            dtypes={str(k): str(v) for k, v in data.get("dtypes", {}).items()},
            predictions=predictions,
        )

    @property
    def fingerprint(self) -> str:
        return _sha256(self.to_dict())


def merge_columns(
    a: Mapping[str, ColumnProfile], b: Mapping[str, ColumnProfile]
) -> dict[str, ColumnProfile]:
    """Column profiles of two partitions merged by name (sorted by name; one side's alone kept)."""
    return {name: _merge_column(a.get(name), b.get(name)) for name in sorted(a.keys() | b.keys())}


def merge_all(profiles: Iterable[Profile]) -> Profile:
    """Merge partition profiles into one (at least one)."""
    merged: Profile | None = None
    for profile in profiles:
        merged = profile if merged is None else merged.merge(profile)
    if merged is None:
        raise DataError("profiles: nothing to merge")
    return merged


# --------------------------------------------------------------------------- sketches
def merge_sketches(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """k-minimum-values union: the SKETCH_SIZE smallest distinct hashes of both."""
    return sorted(set(a) | set(b))[:SKETCH_SIZE]


def sketch_of(hashes: np.ndarray) -> list[int]:
    """The sketch of a set of unsigned 64-bit value hashes."""
    unique = np.unique(np.asarray(hashes, dtype=np.uint64))
    return [int(h) for h in unique[:SKETCH_SIZE]]


# --------------------------------------------------------------------------- helpers
def _merge_column(a: ColumnProfile | None, b: ColumnProfile | None) -> ColumnProfile:
    if a is None or b is None:
        found = a if a is not None else b
        assert found is not None
        return found
    if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
        return a.merge(b)
    if isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile):
        return a.merge(b)
    raise DataError("profiles: a column is numeric in one partition and categorical in another")


def _column_from_dict(data: Mapping[str, Any]) -> ColumnProfile:
    if data["kind"] == "numeric":
        return NumericProfile.from_dict(data)
    return CategoricalProfile.from_dict(data)


def _column_dict(column: ColumnProfile) -> dict[str, Any]:
    kind = "numeric" if isinstance(column, NumericProfile) else "categorical"
    return {"kind": kind, **column.to_dict()}


def _extreme(pick: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(pick(a, b))


def _add(a: list[int], b: list[int]) -> list[int]:
    if not a:
        return list(b)
    if not b:
        return list(a)
    if len(a) != len(b):
        raise DataError("profiles: histograms on different bin edges cannot merge")
    return [x + y for x, y in zip(a, b, strict=True)]


def _json_float(value: float | None) -> float | str | None:
    """JSON has no infinities: ±inf are written as the strings "inf" / "-inf"."""
    if value is None:
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _b64(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<u8").tobytes()).decode("ascii")


def _unb64(text: str) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 8:
        raise ValueError("row hashes: not a whole number of 64-bit values")
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def _sha256(document: Any) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- stored reference
@dataclass
class ProfileSet:
    """Profiles of a gate's splits under one spec: what ``qa profile`` stores as the reference.

    ``task`` records what the profiles were made for (target, type, classes in order, the id /
    time / group columns), so a check against it needs no training data.
    """

    spec: ProfileSpec
    splits: dict[str, Profile]
    task: dict[str, Any] = field(default_factory=dict)
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        body = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_by": self.created_by,
            "task": dict(self.task),
            "spec": self.spec.to_dict(),
            "splits": {name: p.to_dict() for name, p in self.splits.items()},
        }
        return {**body, "fingerprint": _sha256(body)}

    @property
    def fingerprint(self) -> str:
        return str(self.to_dict()["fingerprint"])

    def save(self, path: str | Any) -> str:
        """Write the JSON document; returns its fingerprint."""
        from pathlib import Path

        document = self.to_dict()
        Path(path).write_text(json.dumps(document, allow_nan=False), encoding="utf-8")
        return str(document["fingerprint"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], what: str = "reference") -> ProfileSet:
        _check_document(data, what)
        spec = ProfileSpec.from_dict(data["spec"])
        try:
            splits = {name: Profile.from_dict(p, spec) for name, p in data["splits"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{what}: a damaged profile ({exc})") from None
        return cls(spec, splits, dict(data.get("task", {})), str(data.get("created_by", "")))


def load_reference(path: str | Any, what: str = "--reference") -> ProfileSet:
    """Read a stored reference profile; any defect is a DataError naming the file (exit 2)."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise DataError(f"{what}: {file} does not exist")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what}: {file} is not a qa profile (not JSON: {exc})") from None
    return ProfileSet.from_dict(data, f"{what} {file}")


def _check_document(data: Any, what: str) -> None:
    from qa.report import validation_errors

    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise DataError(f'{what}: not a qa profile (no "format": "{FORMAT}")')
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise DataError(
            f"{what}: profile format version {version!r}; this qa-gate reads version "
            f"{FORMAT_VERSION} — write it again with `qa profile`"
        )
    errors = validation_errors(data, "profile.schema.json")
    if errors:
        raise DataError(f"{what}: not a valid profile: {errors[0]}")
    body = {k: v for k, v in data.items() if k != "fingerprint"}
    if data.get("fingerprint") != _sha256(body):
        raise DataError(f"{what}: its fingerprint does not match its contents (edited or damaged)")
