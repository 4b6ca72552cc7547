"""Do the columns, types, ranges and categories of every split match train, or a given schema?"""

from __future__ import annotations

import datetime as dt
import json
import math
import runpy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from qa import stats
from qa.base import Check, CheckResult, Evidence, param, table
from qa.budget import per_test
from qa.context import Context
from qa.encoding import column_kind, column_values, is_calendar
from qa.errors import ConfigError
from qa.profile import MAX_EXAMPLES, CategoricalProfile, ColumnSpec, NumericProfile, Profile
from qa.stats import widened_range
from qa.time_axis import TIME_AXIS_SHARE, calendar_bounds_s, declare_hint

if TYPE_CHECKING:
    from qa.profile_context import ProfileContext

#: The testing families of share rules: each is its own Benjamini–Hochberg family and gets an
#: equal part of the check's false-alarm share. "has values" (a column entirely missing where
#: train had missing values too) is the missing-value test at its extreme, in that family.
RULE_FAMILY = {
    "not missing": "missing",
    "has values": "missing",
    "in range": "range",
    "known category": "category",
}

#: Dtype families: a change of family between train and another split is a hard failure.
#: Int64 -> Float64 (a column that gained missing values in pandas) stays in one family.
NULL_FAMILY = "null"
EXAMPLES = 5
EXAMPLE_CHARS = 40


def dtype_family(dtype: pl.DataType) -> str:
    """numeric | boolean | categorical | datetime | other | null (a column with no type)."""
    if dtype == pl.Null:
        return NULL_FAMILY
    return column_kind(dtype)


def dtype_from_text(text: str) -> Any:
    """The polars dtype a profile names (``str(dtype)``), rebuilt from its class name with its
    parameters dropped (``Datetime(time_unit='us', ...)`` -> ``Datetime()``); the bare class
    for nested types (List, Struct); None when the name is no polars dtype."""
    found = getattr(pl, text.split("(", 1)[0].strip(), None)
    if not (isinstance(found, type) and issubclass(found, pl.DataType)):
        return None
    if found is pl.Enum:
        return pl.Enum([])
    try:
        return found()
    except TypeError:  # List, Struct, Array: their inner types are not needed for the family
        return found


def family_of_text(text: str) -> str:
    """The type family of a dtype a profile names (see :func:`dtype_family`)."""
    dtype = dtype_from_text(text)
    return "other" if dtype is None else dtype_family(dtype)


@dataclass(frozen=True)
class ColumnRule:
    """What train says about one column; the other splits are held to it."""

    name: str
    family: str
    dtype: str
    rows: int
    #: Missing values in train (null, plus NaN in float columns).
    missing: int
    #: Non-missing values in train.
    values: int
    train_min: float | None = None
    train_max: float | None = None
    #: The allowed range: train's finite range widened by the tolerance (inf where train had inf).
    low: float | None = None
    high: float | None = None
    #: Allowed categories (low-cardinality string columns only), sorted.
    domain: tuple[str, ...] | None = None
    #: Categories seen exactly once in train (Good–Turing: how often a new one should appear).
    singletons: int = 0
    n_unique: int | None = None
    #: Identifier, time and group columns: presence and type only, no value rules.
    structural: bool = False
    #: A date/datetime feature: train's first and last instant (epoch seconds), shown and used
    #: to say when a split lies beyond them (the time axis), never a range rule.
    calendar: bool = False

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class RuleOutcome:
    """One rule applied to one split: how many rows break it and, for share rules, how
    unlikely that many breaks are by chance (p) after Benjamini–Hochberg (q)."""

    split: str
    column: str
    rule: str
    expected: str
    rows: int
    share: float
    #: "fail" for structural breaks, "warn" for extra columns, "share" for share-judged rules,
    #: "note" for what is reported but never judged (a datetime feature beyond train's dates).
    kind: str
    p_value: float = 1.0
    examples: str = ""
    q_value: float = 1.0


@dataclass(frozen=True)
class SplitCounts:
    """What one split holds of one column, in rows: what the share rules are judged on, counted
    from rows (:func:`evaluate_split`) or from a profile (:func:`evaluate_profile`). None: the
    rule does not apply to the column."""

    missing: int
    out_of_range: int | None = None
    unseen: int | None = None
    #: A date/datetime feature's values outside train's first..last instant.
    beyond: int | None = None


#: What `decide` can conclude on the inferred schema.
Verdict = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Decision:
    """The verdict on the inferred schema: status, the outcomes that fail and that warn."""

    status: Verdict
    failing: tuple[RuleOutcome, ...] = ()
    warnings: tuple[RuleOutcome, ...] = ()
    #: The q-value at or under which a share rule fails (the share split across its kinds).
    fail_level: float = 0.0


@dataclass(frozen=True)
class Explained:
    """What explaining a decision needs besides it: the splits judged, how to attach offending
    values to a finding (from rows or from a profile), the range tolerance the rules used and
    a caveat on the measuring ('' when none)."""

    others: Sequence[str]
    with_examples: Callable[[RuleOutcome], RuleOutcome]
    range_tolerance: float
    caveat: str = ""


class Schema(Check):
    """Every split has train's columns, types, value ranges and categories.

    What it checks
    --------------
    By default a schema is inferred from train and applied to every other split present
    (validation, test, production): each column's type family (numeric, string, boolean, date),
    whether it may be missing, the range of its numbers and, for low-cardinality string
    columns, the set of its categories. A date or datetime feature gets its type and missing
    values checked, and its first and last date recorded, but no range rule: a split whose
    values lie mostly outside train's dates (half of them or more) is reported as looking like
    the time axis, with the suggestion to declare it ``[task] time``. Production may lack the
    target column. When
    ``schema_file`` names a pandera schema (a ``.py`` file defining ``schema``, or pandera's
    ``.json`` / ``.yaml`` serialisation), that schema is applied strictly to every split
    instead.

    On profiles (``--engine``, ``--reference``) train's rules come from its profile and each
    split is judged on its own, with the same tests. Exact: presence and type of every column,
    row, missing and unseen-category counts (categories are ruled when train's profile tracked
    its whole domain), infinities, and out-of-range counts, which are the histogram bins beyond
    the widened range (the engine cuts bins at it; a value exactly on the upper bound counts as
    beyond it, and a profile cut for another ``range_tolerance`` is judged by its own, as the
    message says). Binned: a datetime's share beyond train's dates, a lower bound (values on
    train's last instant are not counted beyond); a numeric class target's out-of-range rows
    are its classes train never had (all of them, at most, when over 20 are new). Offending
    values shown are the smallest unseen categories and the split's extremes. Not available:
    missing values of list and struct columns (presence and type only). A ``schema_file`` is row checks: it runs on the
    engine's seeded sample (stated when not every row), and is skipped against a stored
    reference, which holds no rows.

    Why it matters
    --------------
    A model silently turns a column recorded in new units, a renamed category or a broken join
    into confident nonsense. Type and range checks catch most pipeline bugs before the model
    sees them: a feature in millimetres instead of centimetres, a numeric column that now
    arrives as text, a category the model never saw, a column that went missing. A later date
    is not such a bug: a February test of a January train has dates beyond train's by
    construction, because time moves forward.

    How it decides
    --------------
    Fails outright, whatever the share, on a missing column, a changed type family (numeric
    now text, and so on; integer to float is the same family) and a column entirely missing in
    a split where train had values. An extra column only warns. The inferred value rules are
    judged by the share of rows that break them, because a random split puts rare categories
    and extreme values in test by chance: the numeric range is train's range widened by
    ``range_tolerance`` times its width on each side (infinities count as out of range unless
    train had them), categories are checked only for string columns with at most
    ``max_categories`` distinct values in train (an id-like column gets no category rule), and
    missing values are counted beyond train's own missing share. A rule fails when the share of
    rows breaking it exceeds ``max_violation_share`` *and* that many breaks would be unlikely
    if the split were drawn from the same data as train (a beta-binomial tail: the chance of
    landing outside the range of train's values, of an unseen category given how many
    categories train saw once, or of a missing value given train's missing share), with
    Benjamini–Hochberg control within each kind of rule (range, category, missing) across
    columns and splits. The three kinds are the check's three testing fail rules: its share of
    the gate's false-alarm budget ([run] false_alarm_rate, the whole rate when it runs alone)
    is split evenly across the kinds present in the run, and a rule fails when its q-value is
    at most that part (share / 3 with all three kinds; metric fail_level). Kept apart, because
    pooling ~200 range and missing rules with a few category rules would make an unseen
    category on 5 % of rows unreachable. A rule broken past ``max_violation_share`` with a
    q-value above that level but at most ``alpha`` (0.05, the warning level) warns. A column
    entirely missing in a split where train had none missing fails outright; where train had
    missing values too, it is the missing-value test at its extreme ("has values", judged in
    the missing family). Identifier, time and
    group columns are checked for presence and type only. A date/datetime feature beyond
    train's dates is a note, never a failure; it still fails on a missing column, a changed
    type family or a split where it is entirely empty. With ``schema_file`` any violation
    fails.

    How to fix
    ----------
    Look at the failing columns in the evidence: restore the missing column or its type in the
    pipeline that wrote the split, convert units back to those of train, map new categories to
    known ones (or retrain with them), and fix the join or export that left a column empty. If
    the new values are genuine, retrain on data that contains them, or widen the rule with
    ``range_tolerance`` / ``max_violation_share`` or a schema file. A datetime feature noted
    as the time axis needs no fix here: declare it ``[task] time`` so that leakage and
    split-hygiene judge the split's order.
    """

    id = "schema"
    title = "Columns, types, ranges and categories match"
    requires = ("train",)
    severity = "error"
    #: The missing, range and category share rules: one Benjamini–Hochberg family each.
    fail_tests = 3

    @dataclass(frozen=True)
    class Params:
        max_violation_share: float = param(
            0.01, "Share of a split's rows that may break an inferred rule.", ge=0.0, le=1.0
        )
        range_tolerance: float = param(
            0.1,
            "Numeric ranges are widened by this fraction of train's range on each side.",
            ge=0.0,
        )
        max_categories: int = param(
            50, "String columns with more distinct train values get no category rule.", ge=1
        )
        alpha: float = param(
            0.05,
            "False-discovery rate at which a share rule broken past max_violation_share "
            "warns; it fails at the check's false-alarm share (split across rule kinds).",
            gt=0.0,
            lt=1.0,
        )
        schema_file: str = param(
            "",
            "A pandera schema (.py defining `schema`, .json or .yaml) applied strictly "
            "instead of the inferred one; empty to infer from train.",
        )

    profiles_supported = True

    def run(self, ctx: Context, params: Params) -> CheckResult:
        if params.schema_file:
            return self._run_user_schema(ctx, params)
        return self._run_inferred(ctx, params)

    def run_profiles(self, pctx: ProfileContext, params: Params) -> CheckResult:
        if params.schema_file:
            return self._run_user_schema_on_sample(pctx, params)
        rules, outcomes = measure_profiles(pctx, params)
        decision = decide(outcomes, params, pctx.false_alarm_share(self.id))
        tolerance = pctx.profiles.spec.range_tolerance

        def examples(finding: RuleOutcome) -> RuleOutcome:
            return _profile_examples(finding, pctx.profile(finding.split), rules)

        explained = Explained(
            others=[s for s in pctx.splits if s != "train"],
            with_examples=examples,
            range_tolerance=tolerance,
            caveat=_tolerance_caveat(tolerance, params.range_tolerance),
        )
        return self._explain_inferred(params, rules, outcomes, decision, explained)

    # ------------------------------------------------------------------ inferred schema
    def _run_inferred(self, ctx: Context, params: Params) -> CheckResult:
        rules, outcomes = measure_inferred(ctx, params)
        decision = decide(outcomes, params, ctx.false_alarm_share(self.id))

        def examples(finding: RuleOutcome) -> RuleOutcome:
            return _with_examples(finding, ctx.frame(finding.split), rules)

        explained = Explained(
            others=[s for s in ctx.splits if s != "train"],
            with_examples=examples,
            range_tolerance=params.range_tolerance,
        )
        return self._explain_inferred(params, rules, outcomes, decision, explained)

    def _explain_inferred(
        self,
        params: Params,
        rules: Sequence[ColumnRule],
        outcomes: Sequence[RuleOutcome],
        decision: Decision,
        explained: Explained,
    ) -> CheckResult:
        failing = [explained.with_examples(f) for f in decision.failing]
        warnings = [explained.with_examples(f) for f in decision.warnings]
        notes = [f for f in outcomes if f.kind == "note"]
        shared = [f for f in outcomes if f.kind == "share"]
        fail_columns = list(dict.fromkeys(f.column for f in failing))
        worst = max((f.share for f in failing + shared), default=0.0)
        others = explained.others
        metrics = _inferred_metrics(rules, others, shared, fail_columns, warnings, notes, worst)
        thresholds = {
            "max_violation_share": params.max_violation_share,
            "range_tolerance": explained.range_tolerance,
            "max_categories": params.max_categories,
            "alpha": params.alpha,
            "fail_level": decision.fail_level,
        }
        listed = [(f, "fail") for f in failing] + [(f, "warn") for f in warnings]
        listed += [(f, "note") for f in notes]
        evidence = [_findings_table(listed)] if listed else []
        evidence.append(_rules_table(rules))
        message = _inferred_message(decision, failing, warnings, others, len(rules), worst)
        message += "".join(f"; {_time_axis_note(f)}" for f in _first_per_column(notes))
        message += f"; {explained.caveat}" if explained.caveat else ""
        warned = list(dict.fromkeys(f.column for f in warnings))
        subjects = fail_columns if decision.status == "fail" else warned
        return self.result(
            decision.status,
            message,
            metrics=metrics,
            thresholds=thresholds,
            evidence=evidence,
            subjects=subjects,
        )

    # ------------------------------------------------------------------ user schema
    def _run_user_schema_on_sample(self, pctx: ProfileContext, params: Params) -> CheckResult:
        """A pandera schema checks rows: on profiles it runs on the engine's seeded sample."""
        load_user_schema(params.schema_file)  # a broken file is a config error everywhere
        if pctx.sample is None:
            return self.skip(
                f"schema_file {params.schema_file}: a pandera schema checks rows and a stored "
                "reference holds none; run without --reference to apply it"
            )
        result = self._run_user_schema(pctx.sample, params)
        note = pctx.sample_note()
        return replace(result, message=f"{result.message} (on {note})") if note else result

    def _run_user_schema(self, ctx: Context, params: Params) -> CheckResult:
        schema = load_user_schema(params.schema_file)
        rows: list[tuple[Any, ...]] = []
        worst = 0.0
        failing: list[str] = []
        for split in ctx.splits:
            frame = ctx.frame(split)
            for column, check, count, examples in validate_with_pandera(schema, frame, ctx, split):
                share = min(1.0, count / frame.height)
                worst = max(worst, share)
                rows.append((split, column, check, count, share, examples))
                failing.append(column)
        columns = list(dict.fromkeys(failing))
        metrics = {
            "columns_checked": len(getattr(schema, "columns", {}) or {}),
            "splits_checked": len(ctx.splits),
            "columns_failing": len(columns),
            "worst_violation_share": worst,
        }
        evidence = [
            table(
                f"Violations of {Path(params.schema_file).name}",
                ["split", "column", "check", "rows", "share", "examples"],
                rows,
                note="a user-supplied schema is applied strictly: any violation fails",
            )
        ]
        if rows:
            return self.result(
                "fail",
                f"{len(columns)} column(s) break the schema in {params.schema_file}: "
                f"{_names(columns)}",
                metrics=metrics,
                thresholds={"max_violation_share": 0.0},
                evidence=evidence,
                subjects=columns,
            )
        return self.result(
            "pass",
            f"every split satisfies the schema in {params.schema_file}",
            metrics=metrics,
            thresholds={"max_violation_share": 0.0},
        )


# --------------------------------------------------------------------------- measure, decide
def measure_inferred(
    ctx: Context, params: Schema.Params
) -> tuple[list[ColumnRule], list[RuleOutcome]]:
    """Train's rules and every outcome on the other splits, share rules with their q-values
    (Benjamini–Hochberg within each rule kind across columns and splits)."""
    train = ctx.frame("train")
    structural = ctx.reserved_columns - {ctx.target}
    rules = infer_rules(train, params.range_tolerance, params.max_categories, structural)
    outcomes: list[RuleOutcome] = []
    for split in (s for s in ctx.splits if s != "train"):
        outcomes += evaluate_split(ctx.frame(split), split, rules, ctx.target)
    return rules, with_q_values(outcomes)


def decide(outcomes: Sequence[RuleOutcome], params: Schema.Params, share: float) -> Decision:
    """Fail on any structural break, and on a share rule broken by more than
    ``max_violation_share`` of a split's rows with q at most the fail level: ``share`` (the
    check's part of the false-alarm budget) split evenly across the rule kinds present. Warn
    on such a rule with q above the fail level but at most ``alpha``, and on extra columns;
    notes (a datetime beyond train's dates) are never judged."""
    families = {RULE_FAMILY.get(f.rule, f.rule) for f in outcomes if f.kind == "share"}
    level = per_test(share, len(families))
    broken = [f for f in outcomes if f.kind == "share" and f.share > params.max_violation_share]
    failing = [f for f in outcomes if f.kind == "fail"] + [f for f in broken if f.q_value <= level]
    failing.sort(key=lambda f: (_severe(f), -f.share, f.split, f.column, f.rule))
    warn_level = max(params.alpha, level)
    warnings = [f for f in broken if level < f.q_value <= warn_level]
    warnings.sort(key=lambda f: (-f.share, f.split, f.column, f.rule))
    warnings += [f for f in outcomes if f.kind == "warn"]
    status: Verdict = "fail" if failing else "warn" if warnings else "pass"
    return Decision(status, tuple(failing), tuple(warnings), level)


def _severe(f: RuleOutcome) -> bool:
    """False (sorted first) for a structural break or a column left entirely empty."""
    return not (f.kind == "fail" or f.rule == "has values")


def with_q_values(outcomes: Sequence[RuleOutcome]) -> list[RuleOutcome]:
    """Benjamini–Hochberg q-values within each rule kind (range, category, missing with
    "has values") across columns and splits, on the share rules.

    Each kind asks its own question with its own remedy, so each is its own testing family:
    pooling ~200 range and missing-value rules with 3 category rules would make an unseen
    category on 5 % of rows unreachable.
    """
    out = list(outcomes)
    family = {i: RULE_FAMILY.get(f.rule, f.rule) for i, f in enumerate(out) if f.kind == "share"}
    for name in sorted(set(family.values())):
        members = [i for i, f in family.items() if f == name]
        q = stats.benjamini_hochberg(np.array([out[i].p_value for i in members]))
        for i, qv in zip(members, q, strict=True):
            out[i] = replace(out[i], q_value=float(qv))
    return out


# --------------------------------------------------------------------------- inference
def infer_rules(
    train: pl.DataFrame,
    range_tolerance: float = 0.1,
    max_categories: int = 50,
    structural: set[str] | frozenset[str] = frozenset(),
) -> list[ColumnRule]:
    """Infer one rule set per train column with a single pass of polars expressions."""
    exprs: list[pl.Expr] = []
    families = [dtype_family(dt) for dt in train.dtypes]
    for i, (dtype, family) in enumerate(zip(train.dtypes, families, strict=True)):
        col = pl.nth(i)
        exprs.append(_missing_expr(col, dtype).alias(f"{i}:missing"))
        if family == "numeric":  # min and max skip NaN; infinities get a second pass
            exprs += [col.min().alias(f"{i}:min"), col.max().alias(f"{i}:max")]
        elif family == "categorical":
            exprs.append(col.drop_nulls().n_unique().alias(f"{i}:nunique"))
    stats = train.select(exprs).row(0, named=True) if exprs else {}
    stats = _finite_extremes(train, stats, families)
    domains = _domains(train, stats, families, max_categories)
    rules = []
    for i, name in enumerate(train.columns):
        missing = int(stats[f"{i}:missing"])
        rule = ColumnRule(
            name=name,
            family=families[i],
            dtype=str(train.dtypes[i]),
            rows=train.height,
            missing=missing,
            values=train.height - missing,
            structural=name in structural,
        )
        if families[i] == "numeric" and stats[f"{i}:min"] is not None and not rule.structural:
            train_min, train_max, low, high = _widened_range(stats, i, range_tolerance)
            rule = replace(rule, train_min=train_min, train_max=train_max, low=low, high=high)
        elif families[i] == "categorical":
            n_unique = int(stats[f"{i}:nunique"])
            rule = replace(rule, n_unique=n_unique)
            if n_unique <= max_categories and not rule.structural:
                domain, singletons = domains[i]
                rule = replace(rule, domain=domain, singletons=singletons)
        elif is_calendar(train.dtypes[i]) and not rule.structural:
            bounds = calendar_bounds_s(column_values(train, name))
            first, last = bounds if bounds is not None else (None, None)
            rule = replace(rule, calendar=True, train_min=first, train_max=last)
        rules.append(rule)
    return rules


def _domains(
    train: pl.DataFrame, stats: dict[str, Any], families: list[str], max_categories: int
) -> dict[int, tuple[tuple[str, ...], int]]:
    """Sorted categories and the number seen once, for every low-cardinality string column."""
    wanted = [
        i
        for i, fam in enumerate(families)
        if fam == "categorical" and int(stats[f"{i}:nunique"]) <= max_categories
    ]
    if not wanted:
        return {}
    exprs = [
        pl.nth(i)
        .drop_nulls()
        .cast(pl.String)
        .alias("value")
        .value_counts(name="n")
        .implode()
        .alias(str(i))
        for i in wanted
    ]
    row = train.select(exprs).row(0)
    out = {}
    for i, counts in zip(wanted, row, strict=True):
        pairs = [tuple(c.values()) for c in counts]  # struct fields: (value, count)
        out[i] = (tuple(sorted(v for v, _ in pairs)), sum(1 for _, n in pairs if n == 1))
    return out


def _finite_extremes(
    train: pl.DataFrame, stats: dict[str, Any], families: list[str]
) -> dict[str, Any]:
    """Replace infinite minima/maxima by the finite ones and note which infinities train had."""
    stats = dict(stats)
    redo = []
    for i, family in enumerate(families):
        if family != "numeric":
            continue
        low, high = stats[f"{i}:min"], stats[f"{i}:max"]
        low = None if low is None or math.isnan(float(low)) else float(low)
        high = None if high is None or math.isnan(float(high)) else float(high)
        stats[f"{i}:neginf"] = low == -math.inf
        stats[f"{i}:posinf"] = high == math.inf
        stats[f"{i}:min"], stats[f"{i}:max"] = low, high
        if stats[f"{i}:neginf"] or stats[f"{i}:posinf"]:
            redo.append(i)
    if redo:
        exprs = []
        for i in redo:
            x = pl.nth(i).cast(pl.Float64)
            finite = x.filter(x.is_finite())
            exprs += [finite.min().alias(f"{i}:min"), finite.max().alias(f"{i}:max")]
        stats.update(train.select(exprs).row(0, named=True))
    return stats


def _missing_expr(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Null count, plus NaN for float columns (pandas writes missing floats as NaN)."""
    if dtype.is_float():
        return col.null_count() + col.is_nan().sum()
    return col.null_count()


def _widened_range(
    stats: dict[str, Any], i: int, tolerance: float
) -> tuple[float, float, float, float]:
    """Train's finite min and max, and the allowed low and high (widened by the tolerance)."""
    low, high = float(stats[f"{i}:min"]), float(stats[f"{i}:max"])
    allowed = widened_range(low, high, tolerance, stats[f"{i}:neginf"], stats[f"{i}:posinf"])
    return (low, high, *allowed)


# --------------------------------------------------------------------------- evaluation
def evaluate_split(
    frame: pl.DataFrame, split: str, rules: Sequence[ColumnRule], target: str | None
) -> list[RuleOutcome]:
    """Every finding on one split: structural breaks, extra columns and share-judged rules."""
    types = {name: (dtype_family(dtype), str(dtype)) for name, dtype in frame.schema.items()}
    findings, testable = structural_outcomes(split, frame.height, types, rules, target)
    exprs: list[pl.Expr] = []
    for rule in testable:
        index = frame.get_column_index(rule.name)
        exprs += _split_exprs(rule, index, frame.dtypes[index])
    stats = frame.select(exprs).row(0, named=True) if exprs else {}
    for rule in testable:
        counts = _counts_of_stats(frame.get_column_index(rule.name), stats, frame.height)
        findings += _judge(rule, counts, split, frame.height)
    return findings


def structural_outcomes(
    split: str,
    n: int,
    types: Mapping[str, tuple[str, str]],
    rules: Sequence[ColumnRule],
    target: str | None,
) -> tuple[list[RuleOutcome], list[ColumnRule]]:
    """Extra columns (warn), missing columns and changed type families (fail) of a split whose
    columns are ``types`` (name -> (family, dtype), in the split's order), and the rules left
    to judge by share."""
    known = {r.name for r in rules}
    findings = [
        RuleOutcome(split, name, "extra column", "not in train", n, 1.0, "warn")
        for name in types
        if name not in known
    ]
    testable: list[ColumnRule] = []
    for rule in rules:
        if rule.name not in types:
            if not (split == "production" and rule.name == target):
                expected = "present in train"
                absent = RuleOutcome(split, rule.name, "column present", expected, n, 1.0, "fail")
                findings.append(absent)
        elif _changed_family(rule, types[rule.name][0]):
            family, dtype = types[rule.name]
            expected = f"{rule.family} ({rule.dtype})"
            changed = RuleOutcome(split, rule.name, "type family", expected, n, 1.0, "fail")
            findings.append(replace(changed, examples=f"{family} ({dtype})"))
        else:
            testable.append(rule)
    return findings, testable


def _changed_family(rule: ColumnRule, family: str) -> bool:
    """A split's type family differs from train's (a column of dtype Null fits any family)."""
    return family not in (rule.family, NULL_FAMILY) and rule.family != NULL_FAMILY


def _split_exprs(rule: ColumnRule, index: int, dtype: pl.DataType) -> list[pl.Expr]:
    col = pl.nth(index)
    if dtype == pl.Null:
        return [pl.lit(0, dtype=pl.UInt32).alias(f"{index}:missing_extra")]
    exprs = [_missing_expr(col, dtype).alias(f"{index}:missing")]
    if rule.low is not None and rule.high is not None:
        x = col.cast(pl.Float64)
        outside = x.is_not_nan() & ((x < rule.low) | (x > rule.high))
        exprs.append(outside.sum().alias(f"{index}:range"))
    if rule.domain is not None:
        unseen = col.is_not_null() & ~col.cast(pl.String).is_in(list(rule.domain))
        exprs.append(unseen.sum().alias(f"{index}:domain"))
    if rule.calendar and rule.train_min is not None and is_calendar(dtype):
        t = col.cast(pl.Datetime("us")).dt.epoch("us") / 1e6  # as qa.encoding.epoch_seconds
        beyond = (t < rule.train_min) | (t > rule.train_max)
        exprs.append(beyond.sum().alias(f"{index}:beyond"))
    return exprs


def _counts_of_stats(index: int, stats: Mapping[str, Any], n: int) -> SplitCounts:
    """One column's counts from the split's one-row statistics (see :func:`_split_exprs`)."""
    if f"{index}:missing_extra" in stats:  # a column of dtype Null: every value is missing
        return SplitCounts(missing=n)

    def count(key: str) -> int | None:
        return int(stats[key] or 0) if key in stats else None

    return SplitCounts(
        missing=int(stats[f"{index}:missing"] or 0),
        out_of_range=count(f"{index}:range"),
        unseen=count(f"{index}:domain"),
        beyond=count(f"{index}:beyond"),
    )


def _judge(rule: ColumnRule, counts: SplitCounts, split: str, n: int) -> list[RuleOutcome]:
    """The outcomes of one column's rules on one split, from the split's counts."""
    if rule.family == NULL_FAMILY or n == 0:  # an empty split: nothing to judge by share
        return []
    missing = counts.missing
    empty = missing == n and rule.values > 0
    if empty and rule.missing == 0:  # train was always filled: a fixed rule, not a test
        return [
            RuleOutcome(split, rule.name, "has values", "100.0% filled in train", n, 1.0, "fail")
        ]
    outcomes = []
    if empty:  # train had missing values too: the missing-value test at its extreme
        judged = _judge_missing(rule, missing, split, n)
        expected = f"{1 - rule.missing_share:.1%} filled in train"
        return [replace(judged, rule="has values", expected=expected)]
    if not rule.structural:
        outcomes.append(_judge_missing(rule, missing, split, n))
    if counts.out_of_range is not None:
        outcomes.append(_judge_range(rule, counts.out_of_range, split, n))
    if counts.unseen is not None:
        outcomes.append(_judge_domain(rule, counts.unseen, split, n))
    if counts.beyond is not None:
        filled = n - missing
        if filled and counts.beyond / filled >= TIME_AXIS_SHARE:
            outcomes.append(_time_axis_outcome(rule, counts.beyond, filled, split))
    return outcomes


def _judge_missing(rule: ColumnRule, missing: int, split: str, n: int) -> RuleOutcome:
    """Missing values beyond train's share; the chance model is train's missing rate."""
    from scipy.stats import betabinom

    excess = missing / n - rule.missing_share
    p = _tail(betabinom, missing, n, rule.missing + 1, rule.values + 1) if excess > 0 else 1.0
    expected = (
        "no missing values"
        if rule.missing == 0
        else f"missing share ≤ {rule.missing_share:.2%} (train)"
    )
    return RuleOutcome(
        split, rule.name, "not missing", expected, missing, max(excess, 0.0), "share", p
    )


def _judge_range(rule: ColumnRule, k: int, split: str, n: int) -> RuleOutcome:
    """Under exchangeability the mass outside train's range is Beta(2, m - 1)."""
    from scipy.stats import betabinom

    p = _tail(betabinom, k, n, 2, max(rule.values - 1, 1))
    expected = f"[{_fmt(rule.low)}, {_fmt(rule.high)}]"
    return RuleOutcome(split, rule.name, "in range", expected, k, k / n, "share", p)


def _judge_domain(rule: ColumnRule, k: int, split: str, n: int) -> RuleOutcome:
    """Good–Turing: unseen categories turn up about as often as train's singletons."""
    from scipy.stats import betabinom

    p = _tail(betabinom, k, n, rule.singletons + 1, max(rule.values - rule.singletons, 1))
    expected = f"one of {len(rule.domain or ())} train categories"
    return RuleOutcome(split, rule.name, "known category", expected, k, k / n, "share", p)


def _time_axis_outcome(rule: ColumnRule, beyond: int, filled: int, split: str) -> RuleOutcome:
    """A note, never a violation: most of the split's dates lie outside train's."""
    expected = f"train {_fmt_instant(rule.train_min)} … {_fmt_instant(rule.train_max)}"
    return RuleOutcome(
        split,
        rule.name,
        "time axis",
        expected,
        beyond,
        beyond / filled,
        "note",
        examples="not judged: time moves forward",
    )


def _tail(dist: Any, k: int, n: int, a: float, b: float) -> float:
    """P(count >= k) for a beta-binomial(n, a, b); 1 when nothing was observed."""
    if k <= 0:
        return 1.0
    return float(dist.sf(k - 1, n, a, b))


def _with_examples(
    finding: RuleOutcome, frame: pl.DataFrame, rules: Sequence[ColumnRule]
) -> RuleOutcome:
    """Attach a few offending values (first seen, distinct) to a failing finding."""
    if finding.examples or finding.column not in frame.columns:
        return finding
    rule = next((r for r in rules if r.name == finding.column), None)
    # Renamed: polars runs some Series methods through pl.col(name), which reads "^…$" as a regex.
    series = frame.get_column(finding.column).alias("value")
    if rule is None:
        return finding
    if finding.rule == "in range" and rule.low is not None and rule.high is not None:
        x = series.cast(pl.Float64)
        bad = x.filter(x.is_not_nan() & ((x < rule.low) | (x > rule.high)))
    elif finding.rule == "known category" and rule.domain is not None:
        s = series.cast(pl.String)
        bad = s.filter(s.is_not_null() & ~s.is_in(list(rule.domain)))
    elif finding.rule == "not missing":
        return replace(finding, examples="null / NaN")
    else:
        return finding
    values = bad.unique(maintain_order=True).head(EXAMPLES).to_list()
    return replace(finding, examples=", ".join(_fmt(v) for v in values))


# --------------------------------------------------------------------------- on profiles
def measure_profiles(
    pctx: ProfileContext, params: Schema.Params
) -> tuple[list[ColumnRule], list[RuleOutcome]]:
    """Train's rules from its profile and every outcome on the other splits' profiles, share
    rules with their q-values (as :func:`measure_inferred`, with the profile's tolerance)."""
    task = pctx.config.task
    declared = {c for c in (task.id, task.time, task.group) if c}
    structural = (declared | set(pctx.profiles.task.get("structural") or ())) - {pctx.target}
    rules = rules_from_profile(pctx.profile("train"), params.max_categories, structural)
    outcomes: list[RuleOutcome] = []
    for split in (s for s in pctx.splits if s != "train"):
        outcomes += evaluate_profile(pctx.profile(split), split, rules, pctx.target)
    return rules, with_q_values(outcomes)


def rules_from_profile(
    train: Profile, max_categories: int = 50, structural: set[str] | frozenset[str] = frozenset()
) -> list[ColumnRule]:
    """:func:`infer_rules` from train's profile: ranges widened by the spec's tolerance (the
    bins are cut at them); columns a profile does not count (lists, structs, dtype Null) get
    presence and type only."""
    rules = [
        _profile_rule(spec, train, max_categories, structural)
        for spec in train.spec.columns
        if spec.part is None
    ]
    for name, dtype in train.extra_columns.items():
        family = family_of_text(dtype)
        missing = train.rows if family == NULL_FAMILY else 0
        values = train.rows - missing
        rules.append(
            ColumnRule(
                name, family, dtype, train.rows, missing, values, structural=name in structural
            )
        )
    return rules


def _profile_rule(
    spec: ColumnSpec, train: Profile, max_categories: int, structural: set[str] | frozenset[str]
) -> ColumnRule:
    column = train.columns.get(spec.name)
    missing = column.missing if column is not None else 0
    rule = ColumnRule(
        name=spec.name,
        family=family_of_text(spec.dtype),
        dtype=spec.dtype,
        rows=train.rows,
        missing=missing,
        values=train.rows - missing,
        structural=spec.name in structural,
    )
    tolerance = train.spec.range_tolerance
    if isinstance(column, NumericProfile):
        return _numeric_rule(rule, column, tolerance)
    if isinstance(column, CategoricalProfile):
        return _categorical_rule(rule, column, spec.complete, max_categories, tolerance)
    return rule


def _numeric_rule(rule: ColumnRule, column: NumericProfile, tolerance: float) -> ColumnRule:
    """A number's widened range, or a date's first and last instant (epoch seconds)."""
    if rule.structural:
        return rule
    if is_calendar(dtype_from_text(rule.dtype)):
        return replace(rule, calendar=True, train_min=column.min, train_max=column.max)
    if rule.family != "numeric" or column.min is None or column.max is None:
        return rule
    low, high = widened_range(
        column.min, column.max, tolerance, column.neg_inf > 0, column.pos_inf > 0
    )
    return replace(rule, train_min=column.min, train_max=column.max, low=low, high=high)


def _categorical_rule(
    rule: ColumnRule,
    column: CategoricalProfile,
    complete: bool,
    max_categories: int,
    tolerance: float,
) -> ColumnRule:
    """Categories when train's profile holds its whole domain; a numeric classification
    target (counted as its classes) gets the range of its class values."""
    if rule.family == "numeric" and complete and not rule.structural:
        return _class_range_rule(rule, column, tolerance)
    if rule.family != "categorical":
        return rule
    rule = replace(rule, n_unique=len(column.counts) if complete else column.distinct)
    if complete and len(column.counts) <= max_categories and not rule.structural:
        singletons = sum(1 for n in column.counts.values() if n == 1)
        rule = replace(rule, domain=tuple(sorted(column.counts)), singletons=singletons)
    return rule


def _class_range_rule(rule: ColumnRule, column: CategoricalProfile, tolerance: float) -> ColumnRule:
    """The widened range of a numeric target's class values (all of train's, as counted)."""
    numbers = [_number(v) for v in column.counts]
    finite = [x for x in numbers if x is not None and math.isfinite(x)]
    if not finite or None in numbers:
        return rule
    low, high = widened_range(
        min(finite), max(finite), tolerance, -math.inf in numbers, math.inf in numbers
    )
    return replace(rule, train_min=min(finite), train_max=max(finite), low=low, high=high)


def evaluate_profile(
    profile: Profile, split: str, rules: Sequence[ColumnRule], target: str | None
) -> list[RuleOutcome]:
    """:func:`evaluate_split` on a split's profile: the same findings, counted from it."""
    dtypes = {**profile.dtypes, **profile.extra_columns}
    types = {name: (family_of_text(dtype), dtype) for name, dtype in dtypes.items()}
    findings, testable = structural_outcomes(split, profile.rows, types, rules, target)
    for rule in testable:
        counts = _counts_of_profile(rule, profile, types[rule.name][0])
        if counts is not None:
            findings += _judge(rule, counts, split, profile.rows)
    return findings


def _counts_of_profile(rule: ColumnRule, profile: Profile, family: str) -> SplitCounts | None:
    """One column's counts from a split's profile; None for a column it does not count."""
    column = profile.columns.get(rule.name)
    if family == NULL_FAMILY:  # a column of dtype Null: every value is missing
        return SplitCounts(missing=profile.rows)
    if isinstance(column, NumericProfile):
        edges = np.asarray(profile.spec.column(rule.name).edges, dtype=np.float64)
        out_of_range = beyond = None
        if rule.low is not None and rule.high is not None:
            out_of_range = values_below(column, edges, rule.low)
            out_of_range += values_above(column, edges, rule.high)
        if rule.calendar and rule.train_min is not None and rule.train_max is not None:
            beyond = values_below(column, edges, rule.train_min)
            beyond += values_above(column, edges, rule.train_max, ties=False)
        return SplitCounts(column.missing, out_of_range, beyond=beyond)
    if isinstance(column, CategoricalProfile):
        unseen = column.other if rule.domain is not None else None
        out_of_range = _untracked_out_of_range(rule, column) if rule.low is not None else None
        return SplitCounts(column.missing, out_of_range, unseen)
    return None


def values_below(column: NumericProfile, edges: np.ndarray, bound: float) -> int:
    """Values (infinities included) below ``bound``: exact where ``bound`` is a bin edge, as the
    rules' bounds are (bins are closed below)."""
    if bound == -math.inf:
        return 0
    if column.min is None or column.min >= bound:
        return column.neg_inf
    return int(sum(column.hist[: int(np.searchsorted(edges, bound, side="right"))]))


def values_above(column: NumericProfile, edges: np.ndarray, bound: float, ties: bool = True) -> int:
    """Values (infinities included) above the bin edge ``bound``. The bin starting at it also
    holds values equal to it: counted with ``ties`` (at most), left out without (at least),
    exact when the split's extremes show no value can equal it."""
    if bound == math.inf:
        return 0
    if column.max is None or column.max <= bound:
        return column.pos_inf
    start = int(np.searchsorted(edges, bound, side="left")) + 1
    if not ties and column.min is not None and column.min <= bound:
        start += 1
    return int(sum(column.hist[start:]))


def _untracked_out_of_range(rule: ColumnRule, column: CategoricalProfile) -> int:
    """Rows of a numeric target outside its range: only values train never had can be. All
    of them when they are not all listed as examples and inside the range (at most)."""
    listed_all = len(column.other_examples) < MAX_EXAMPLES
    return column.other if _listed_beyond(rule, column) or not listed_all else 0


def _listed_beyond(rule: ColumnRule, column: CategoricalProfile) -> list[str]:
    """The listed values train never had that lie outside a numeric target's range."""
    return [v for v in column.other_examples if not _within(rule, _number(v))]


def _within(rule: ColumnRule, x: float | None) -> bool:
    """``x`` lies in the rule's allowed range (no number never does)."""
    low = -math.inf if rule.low is None else rule.low
    high = math.inf if rule.high is None else rule.high
    return x is not None and low <= x <= high


def _number(text: str) -> float | None:
    """A category value read as a number (a numeric target counted as its classes)."""
    try:
        return float(text)
    except ValueError:
        return None


def _profile_examples(
    finding: RuleOutcome, profile: Profile, rules: Sequence[ColumnRule]
) -> RuleOutcome:
    """Offending values of a failing finding from a profile: the smallest unseen categories,
    the split's extremes beyond the range (as :func:`_with_examples` does from rows)."""
    rule = next((r for r in rules if r.name == finding.column), None)
    column = profile.columns.get(finding.column)
    if finding.examples or rule is None or column is None:
        return finding
    if finding.rule == "not missing":
        return replace(finding, examples="null / NaN")
    if finding.rule == "known category" and isinstance(column, CategoricalProfile):
        values: list[Any] = list(column.other_examples)
    elif finding.rule == "in range" and isinstance(column, CategoricalProfile):
        values = _listed_beyond(rule, column)
    elif finding.rule == "in range" and isinstance(column, NumericProfile):
        values = _extremes_beyond(column, rule)
    else:
        return finding
    return replace(finding, examples=", ".join(_fmt(v) for v in values[:EXAMPLES]))


def _extremes_beyond(column: NumericProfile, rule: ColumnRule) -> list[float]:
    """The split's infinities and finite extremes that lie outside the rule's range."""
    candidates = (
        -math.inf if column.neg_inf else None,
        column.min,
        column.max,
        math.inf if column.pos_inf else None,
    )
    beyond = [x for x in candidates if x is not None and not _within(rule, x)]
    return list(dict.fromkeys(beyond))


def _tolerance_caveat(used: float, wanted: float) -> str:
    """Said when the profile's bins were cut for another range tolerance than the param's."""
    if math.isclose(used, wanted):
        return ""
    return (
        f"ranges widened by the profile's range_tolerance {used:g}, not {wanted:g}: its bins "
        "are cut at the former (profile again with the new tolerance to use it)"
    )


# --------------------------------------------------------------------------- user schemas
def load_user_schema(path: str) -> Any:
    """A pandera DataFrameSchema from a .py (defining ``schema``), .json or .yaml file."""
    where = f"checks.schema.schema_file: {path}"
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{where}: file not found")
    suffix = file.suffix.lower()
    try:
        if suffix == ".py":
            namespace = runpy.run_path(str(file))
            schema = namespace.get("schema")
            if schema is None:
                raise ConfigError(f"{where}: defines no variable named 'schema'")
        elif suffix == ".json":
            text = file.read_text(encoding="utf-8")
            schema = _schema_class(json.loads(text).get("api")).from_json(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml  # noqa: F401
            except ImportError:
                raise ConfigError(
                    f"{where}: reading YAML schemas needs pyyaml (pip install 'pandera[io]'); "
                    "or give the schema as .json or .py"
                ) from None
            import pandera.pandas as pa

            schema = pa.DataFrameSchema.from_yaml(file)
        else:
            raise ConfigError(f"{where}: expected a .py, .json or .yaml pandera schema")
    except ConfigError:
        raise
    except Exception as exc:
        summary = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ConfigError(
            f"{where}: not a readable pandera schema ({type(exc).__name__}: {summary})"
        ) from None
    if not (hasattr(schema, "validate") and hasattr(schema, "columns")):
        raise ConfigError(
            f"{where}: 'schema' is a {type(schema).__name__}, not a pandera DataFrameSchema"
        )
    return schema


def _schema_class(api: Any) -> Any:
    if api == "polars":
        import pandera.polars as pap

        return pap.DataFrameSchema
    import pandera.pandas as pa

    return pa.DataFrameSchema


def validate_with_pandera(
    schema: Any, frame: pl.DataFrame, ctx: Context, split: str
) -> list[tuple[str, str, int, str]]:
    """(column, check, failing rows, examples) for each pandera check that fails on a split."""
    from pandera.errors import SchemaError, SchemaErrors

    target = ctx.target
    if target in schema.columns and target not in frame.columns and split == "production":
        schema = schema.remove_columns([target])
    is_polars = type(schema).__module__.startswith("pandera.api.polars")
    data = frame if is_polars else ctx.pandas(split)
    try:
        schema.validate(data, lazy=True)
        return []
    except SchemaErrors as exc:
        cases = exc.failure_cases
    except SchemaError as exc:
        return [
            (
                str(getattr(exc.schema, "name", "") or "(frame)"),
                str(exc.check or exc)[:200],
                frame.height,
                "",
            )
        ]
    if not isinstance(cases, pl.DataFrame):
        cases = pl.from_pandas(cases.astype(str))
    cases = cases.with_columns(
        pl.col("failure_case").cast(pl.String),
        pl.col("column").cast(pl.String),
        pl.col("check").cast(pl.String),
    )
    out = []
    grouped = cases.group_by(["column", "check"], maintain_order=True).agg(
        pl.len().alias("n"), pl.col("failure_case").unique(maintain_order=True).head(EXAMPLES)
    )
    for column, check, n, examples in grouped.iter_rows():
        name = column if column not in (None, "None") else (examples[0] if examples else "")
        out.append((str(name), str(check), int(n), ", ".join(_fmt(v) for v in examples)))
    return out


def inferred_pandera_schema(
    train: pl.DataFrame, range_tolerance: float = 0.1, max_categories: int = 50
) -> Any:
    """The inferred rules as a ``pandera.polars.DataFrameSchema``, to save and edit.

    Pandera applies it strictly (any row out of range fails), unlike the share-based check;
    hand the edited result back through ``schema_file``.
    """
    import pandera.polars as pa

    columns = {}
    for rule in infer_rules(train, range_tolerance, max_categories):
        checks = []
        if rule.low is not None and rule.high is not None:
            checks.append(_range_check(pa, rule, train.schema[rule.name]))
        if rule.domain is not None:
            checks.append(pa.Check.isin(list(rule.domain)))
        dtype = train.schema[rule.name] if rule.family != NULL_FAMILY else None
        columns[rule.name] = pa.Column(dtype, checks=checks, nullable=rule.missing > 0)
    return pa.DataFrameSchema(columns)


def _range_check(pa: Any, rule: ColumnRule, dtype: pl.DataType) -> Any:
    """pandera's in_range, letting NaN through in float columns (NaN is a missing value here)."""
    low, high = rule.low, rule.high
    if not dtype.is_float():
        return pa.Check.in_range(low, high)

    def in_range_or_nan(data: Any) -> Any:
        x = pl.col(data.key)
        return data.lazyframe.select(x.is_nan() | x.is_between(low, high))

    return pa.Check(in_range_or_nan, name=f"in_range({_fmt(low)}, {_fmt(high)}) or NaN")


# --------------------------------------------------------------------------- reporting
def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _names(columns: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(_fmt(c)) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def _inferred_message(
    decision: Decision,
    failing: Sequence[RuleOutcome],
    warnings: Sequence[RuleOutcome],
    others: Sequence[str],
    n_rules: int,
    worst: float,
) -> str:
    if not others:
        return "only train was given: the inferred schema is reported, nothing to check"
    if decision.status == "fail":
        return _message(
            failing, f"{len({f.column for f in failing})} column(s) break train's schema"
        )
    if decision.status == "warn":
        parts = []
        chance = [f for f in warnings if f.kind == "share"]
        if chance:
            head = f"{len({f.column for f in chance})} column(s) may break train's schema"
            parts.append(
                _message(chance, head)
                + f" (significant at q <= alpha but not at q <= {decision.fail_level:.2g}, "
                "its part of the gate's false-alarm budget: it may be chance)"
            )
        extra = list(dict.fromkeys(f.column for f in warnings if f.kind == "warn"))
        if extra:
            parts.append(
                f"{len(extra)} column(s) not in train: {_names(extra)}; the model ignores them"
            )
        return "; ".join(parts)
    return (
        f"{n_rules} columns match train's schema in {', '.join(others)} "
        f"(worst share breaking a rule {worst:.2%})"
    )


def _inferred_metrics(
    rules: Sequence[ColumnRule],
    others: Sequence[str],
    shared: Sequence[RuleOutcome],
    fail_columns: Sequence[str],
    warnings: Sequence[RuleOutcome],
    notes: Sequence[RuleOutcome],
    worst: float,
) -> dict[str, float]:
    metrics = {
        "columns_checked": len(rules),
        "splits_checked": len(others),
        "rules_checked": len(shared),
        "columns_failing": len(fail_columns),
        "extra_columns": len({f.column for f in warnings}),
        "worst_violation_share": worst,
    }
    if notes:
        metrics["time_axis_columns"] = len({f.column for f in notes})
    return metrics


def _fmt_instant(seconds: float | None) -> str:
    if seconds is None:
        return "null"
    instant = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).replace(tzinfo=None)
    return instant.isoformat(sep=" ", timespec="seconds")


def _first_per_column(outcomes: Sequence[RuleOutcome]) -> list[RuleOutcome]:
    seen: dict[str, RuleOutcome] = {}
    for f in outcomes:
        seen.setdefault(f.column, f)
    return list(seen.values())


def _time_axis_note(note: RuleOutcome) -> str:
    return (
        f"{_fmt(note.column)!r} in {note.split} lies outside train's dates "
        f"({note.share:.0%} of its values): looks like the time axis, not a schema "
        f"violation; {declare_hint(note.column)}"
    )


def _message(failing: Sequence[RuleOutcome], head: str) -> str:
    parts = []
    for f in failing[:3]:
        what = {
            "column present": "missing",
            "type family": f"type {f.examples}",
            "has values": "entirely empty",
            "in range": f"{f.share:.1%} out of range",
            "known category": f"{f.share:.1%} unseen categories",
            "not missing": f"{f.share:.1%} more missing values",
        }.get(f.rule, f.rule)
        parts.append(f"{_fmt(f.column)!r} in {f.split}: {what}")
    more = f"; and {len(failing) - 3} more" if len(failing) > 3 else ""
    return f"{head} — " + "; ".join(parts) + more


def _findings_table(findings: Sequence[tuple[RuleOutcome, str]]) -> Evidence:
    """Each listed outcome with its verdict (fail, warn or note)."""
    rows = [
        (f.split, f.column, f.rule, f.expected, f.rows, f.share, f.examples, verdict)
        for f, verdict in findings
    ]
    return table(
        "Schema violations",
        ["split", "column", "rule", "expected", "rows", "share", "examples", "verdict"],
        rows,
        note="share = share of the split's rows breaking the rule (for missing values: beyond "
        "train's own missing share)",
    )


def _rules_table(rules: Sequence[ColumnRule]) -> Evidence:
    rows = []
    for r in rules:
        if r.structural:
            values = "type only (id / time / group column)"
        elif r.domain is not None:
            values = (
                f"{len(r.domain)} categories: "
                + ", ".join(_fmt(v) for v in r.domain[:8])
                + (" …" if len(r.domain) > 8 else "")
            )
        elif r.calendar and r.train_min is not None:
            values = f"dates {_fmt_instant(r.train_min)} … {_fmt_instant(r.train_max)} (no range "
            values += "rule: time moves forward)"
        elif r.low is not None:
            values = f"[{_fmt(r.low)}, {_fmt(r.high)}] (train {_fmt(r.train_min)} … "
            values += f"{_fmt(r.train_max)})"
        elif r.n_unique is not None:
            values = f"{r.n_unique} distinct values: no category rule"
        else:
            values = ""
        rows.append((r.name, r.dtype, r.missing_share, values))
    return table(
        "Schema inferred from train",
        ["column", "dtype", "missing share (train)", "allowed values"],
        rows,
    )
