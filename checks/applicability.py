"""Is the model asked about inputs unlike its training data? Production rows out of train's
range, with values train never had, or novel to a multivariate score calibrated on train."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from qa.base import Check, CheckResult, Evidence, param, table
from qa.budget import underpowered_note
from qa.context import Context
from qa.encoding import EncodedColumn, FeatureEncoder, is_calendar
from qa.errors import ConfigError
from qa.models import threads_for
from qa.stats import rate_lower_bound, widened_range
from qa.time_axis import MIN_CALENDAR_CYCLES, CalendarView, calendar_view, declare_hint

#: What `decide` can conclude; skips come from `run`, never from the evidence.
Verdict = Literal["pass", "warn", "fail"]
#: Fewest train rows from which half can be held out to calibrate on.
MIN_TRAIN_ROWS = 20
#: Production rows scored per batch (bounds the copy the isolation forest reads).
BATCH_ROWS = 131_072
#: At most this many novel rows (a seeded sample) are attributed to the feature that makes
#: each one most unusual; the shares are stated as of the sample.
ATTRIBUTION_ROWS = 50_000
#: A feature is named a subject when it explains at least this share of the novel rows.
SUBJECT_SHARE = 0.1
#: A value at most this share of train reaches (on its side) is listed as unusual.
UNUSUAL_SHARE = 0.05
#: Values shown in the evidence are cut to this many characters.
VALUE_CHARS = 40
#: Unusual values listed per novel row.
VALUES_PER_ROW = 3

RuleKind = Literal["range", "earliest", "categories", "none"]


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Extremes:
    """A column's two least and two greatest finite values and its infinities (as numbers, a
    date as epoch seconds): enough to say where train's widened range lies, and where it
    would lie without any one of its rows (leave one out)."""

    least: tuple[float, ...]
    greatest: tuple[float, ...]
    neg_inf: int = 0
    pos_inf: int = 0

    def bounds(self, tolerance: float) -> tuple[float, float]:
        """Train's allowed range: the schema check's rule (``widened_range``)."""
        return widened_range(
            self.least[0], self.greatest[0], tolerance, self.neg_inf > 0, self.pos_inf > 0
        )

    def bounds_without(self, value: float, tolerance: float) -> tuple[float, float] | None:
        """The allowed range of train less one row holding ``value``; None when no finite
        value would be left."""
        least, greatest = self.least[0], self.greatest[0]
        if value == least and (len(self.least) < 2 or self.least[1] > least):
            if len(self.least) < 2:
                return None
            least = self.least[1]
        if value == greatest and (len(self.greatest) < 2 or self.greatest[1] < greatest):
            if len(self.greatest) < 2:
                return None
            greatest = self.greatest[1]
        neg_inf = self.neg_inf - (value == -math.inf) > 0
        pos_inf = self.pos_inf - (value == math.inf) > 0
        return widened_range(least, greatest, tolerance, neg_inf, pos_inf)

    def breaks(
        self, values: np.ndarray, tolerance: float, held_out: bool, lower_only: bool = False
    ) -> np.ndarray:
        """Which values lie outside train's allowed range (below it only, with
        ``lower_only``); with ``held_out`` each value is a row of train, judged by the range
        of train without it. Missing values (NaN) break nothing."""
        low, high = self.bounds(tolerance)
        if lower_only:
            high = math.inf
        broken = (values < low) | (values > high)
        if not held_out:
            return broken
        # Only a row holding a lone extreme or a lone infinity moves train's range.
        lone_least = len(self.least) < 2 or self.least[1] > self.least[0]
        lone_greatest = len(self.greatest) < 2 or self.greatest[1] < self.greatest[0]
        special = (values == self.least[0]) & lone_least
        special |= (values == self.greatest[0]) & lone_greatest
        special |= (values == -math.inf) & (self.neg_inf == 1)
        special |= (values == math.inf) & (self.pos_inf == 1)
        for i in np.flatnonzero(special):
            value = float(values[i])
            without = self.bounds_without(value, tolerance)
            if without is None:
                broken[i] = False
            else:
                low_i, high_i = without
                broken[i] = value < low_i or (not lower_only and value > high_i)
        return broken


def extremes(frame: pl.DataFrame, names: Sequence[str], dates: bool = False) -> dict[str, Extremes]:
    """The :class:`Extremes` of each named column that has a finite value, in one pass."""
    exprs: list[pl.Expr] = []
    for i, name in enumerate(names):
        x = _as_number(pl.nth(frame.get_column_index(name)), dates)
        finite = x.filter(x.is_finite())
        exprs += [
            finite.bottom_k(2).sort().implode().alias(f"{i}:least"),
            finite.top_k(2).sort(descending=True).implode().alias(f"{i}:greatest"),
            (x == -math.inf).sum().alias(f"{i}:neg_inf"),
            (x == math.inf).sum().alias(f"{i}:pos_inf"),
        ]
    row = frame.select(exprs).row(0, named=True) if exprs else {}
    out = {}
    for i, name in enumerate(names):
        least = tuple(float(v) for v in row[f"{i}:least"] or ())
        if least:
            greatest = tuple(float(v) for v in row[f"{i}:greatest"])
            out[name] = Extremes(
                least, greatest, int(row[f"{i}:neg_inf"] or 0), int(row[f"{i}:pos_inf"] or 0)
            )
    return out


def _as_number(column: pl.Expr, date: bool) -> pl.Expr:
    """A numeric column as float64 (text that is no number is null), or a date or datetime
    as epoch seconds (as :func:`qa.encoding.epoch_seconds`)."""
    if date:
        return column.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    return column.cast(pl.Float64, strict=False)


@dataclass(frozen=True)
class FeatureRule:
    """How one feature is judged: its rule as train sets it (and, for train's own held-out
    rows, as train less each row sets it), and the columns of the shared encoder's matrix
    the multivariate score reads."""

    name: str
    kind: str
    #: ``range`` (numbers: train's range widened by the tolerance), ``earliest`` (dates: not
    #: before train's first date, widened), ``categories`` (categories and booleans: values
    #: train had) or ``none`` (score only, the time axis, or not in production).
    rule: RuleKind
    #: The feature's first column in the encoder's matrix.
    column: int
    #: The matrix columns the score reads (its value unless the time axis, comparable parts).
    outputs: tuple[int, ...] = ()
    extremes: Extremes | None = None
    low: float = -math.inf
    high: float = math.inf
    #: Codes (of the feature's matrix column) train had, and those it had at least twice
    #: (still there without any one row).
    known: tuple[float, ...] = ()
    known_twice: tuple[float, ...] = ()
    #: Why a feature has no rule (time axis, not in production, score only).
    note: str = ""
    calendar: CalendarView | None = None

    @property
    def train_min(self) -> float | None:
        return self.extremes.least[0] if self.extremes else None

    @property
    def train_max(self) -> float | None:
        return self.extremes.greatest[0] if self.extremes else None

    @property
    def allows(self) -> str:
        """What train allows, in words, for the per-feature table."""
        if self.rule == "range":
            span = f"train {_num(self.train_min)} … {_num(self.train_max)}"
            return f"[{_num(self.low)}, {_num(self.high)}] ({span})"
        if self.rule == "earliest":
            return f"from {_instant(self.low)} (train's first {_instant(self.train_min)})"
        if self.rule == "categories":
            return f"the {len(self.known)} value(s) train had"
        return self.note


def build_rules(
    ctx: Context, production: pl.DataFrame, tolerance: float, max_once: float
) -> list[FeatureRule]:
    """One rule per feature, as train sets it. A category whose train values are more than
    ``max_once`` seen once is not judged: new values are its nature (Good–Turing: about
    that share of new rows hold one), its rule alone would flag more rows like train's than
    the check may call novel, and its codes tell the score nothing."""
    train = ctx.frame("train")
    offsets = _output_offsets(ctx.encoder)
    present = [c for c in ctx.feature_columns if c in production.columns]
    numbers = extremes(train, [c for c in present if ctx.kind(c) == "numeric"])
    calendar = [
        c for c in present if is_calendar(train.schema[c]) and is_calendar(production.schema[c])
    ]
    dates = extremes(train, calendar, dates=True)
    rules = []
    for name in ctx.feature_columns:
        spec = ctx.encoder.column(name)
        column = offsets[name]
        outputs = tuple(range(column, column + len(spec.outputs)))
        if name not in production.columns:
            note = "not in production (the schema check fails it)"
            rules.append(FeatureRule(name, spec.kind, "none", column, note=note))
        elif name in numbers:
            low, high = numbers[name].bounds(tolerance)
            rules.append(
                FeatureRule(
                    name, spec.kind, "range", column, outputs, numbers[name], low=low, high=high
                )
            )
        elif spec.kind in ("categorical", "boolean"):
            known, twice, once = _known_codes(train.get_column(name), spec)
            if once > max_once:  # its codes say nothing either: every new row has a new one
                note = f"{once:.0%} of train's values are seen once (id-like): not judged"
                rules.append(FeatureRule(name, spec.kind, "none", column, note=note))
                continue
            rules.append(
                FeatureRule(
                    name, spec.kind, "categories", column, outputs, known=known, known_twice=twice
                )
            )
        elif name in calendar:
            rules.append(_calendar_rule(spec, column, train, production, dates, tolerance))
        else:
            note = "no rule (a duration, a time of day, or no values in train): score only"
            rules.append(FeatureRule(name, spec.kind, "none", column, outputs, note=note))
    return rules


def _output_offsets(encoder: FeatureEncoder) -> dict[str, int]:
    """The position of each feature's first column in the encoder's matrix."""
    offsets, j = {}, 0
    for column in encoder.columns:
        offsets[column.name] = j
        j += len(column.outputs)
    return offsets


def _known_codes(
    series: pl.Series, spec: EncodedColumn
) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """Codes train had, those it had at least twice (a value train had once is new to train
    less that row), and the share of its values seen once (Good–Turing's estimate of the
    share of new rows holding a value train never had)."""
    series = series.alias("value")  # see _calendar_rule
    if spec.kind == "boolean":
        ones = int(series.cast(pl.UInt8).sum() or 0)
        counts = {0.0: series.len() - series.null_count() - ones, 1.0: ones}
    else:
        values = series.cast(pl.String, strict=False).drop_nulls()
        frame = values.value_counts(name="n")
        by_value = dict(zip(frame.get_column("value"), frame.get_column("n"), strict=True))
        counts = {float(i): int(by_value.get(level, 0)) for i, level in enumerate(spec.levels)}
    known = tuple(sorted(code for code, n in counts.items() if n > 0))
    twice = tuple(code for code in known if counts[code] > 1)
    once = (len(known) - len(twice)) / max(sum(counts.values()), 1)
    return known, twice, once


def _calendar_rule(
    spec: EncodedColumn,
    column: int,
    train: pl.DataFrame,
    production: pl.DataFrame,
    dates: dict[str, Extremes],
    tolerance: float,
) -> FeatureRule:
    """A date or datetime. The time axis (production mostly outside train's dates) is not
    judged by its value; another may not lie before train's first date less the tolerance
    (a later date is time moving forward). The score reads the value unless it is the time
    axis, and the calendar parts that both windows span enough cycles of to compare."""
    # Renamed: polars runs some Series methods through pl.col(name), which reads "^…$" as a
    # pattern.
    ref = train.get_column(spec.name).alias("value")
    cur = production.get_column(spec.name).alias("value")
    view = calendar_view(spec.name, ref, cur, MIN_CALENDAR_CYCLES)
    parts = tuple(column + 1 + i for i, part in enumerate(spec.parts) if part in view.parts)
    found = dates.get(spec.name)
    if view.time_axis or found is None:
        note = "time axis: its value is not judged (time moves forward)"
        if found is None:
            note = "no dates in train: score only"
        return FeatureRule(spec.name, spec.kind, "none", column, parts, note=note, calendar=view)
    low = found.bounds(tolerance)[0]
    outputs = (column, *parts)
    return FeatureRule(
        spec.name, spec.kind, "earliest", column, outputs, found, low=low, calendar=view
    )


def rule_breaks(
    frame: pl.DataFrame,
    matrix: np.ndarray,
    rules: Sequence[FeatureRule],
    tolerance: float,
    held_out: bool = False,
) -> np.ndarray:
    """(rows, rules) booleans: the row breaks the feature's rule as train sets it or, with
    ``held_out`` (the rows are train's own), as train less that row sets it. Missing values
    break no rule."""
    out = np.zeros((frame.height, len(rules)), dtype=bool)
    ranged: list[int] = []
    exprs: list[pl.Expr] = []
    for j, rule in enumerate(rules):
        if rule.rule == "categories":
            codes = matrix[:, rule.column]
            known = np.asarray(rule.known_twice if held_out else rule.known, dtype=np.float32)
            out[:, j] = ~np.isnan(codes) & ~np.isin(codes, known)
        elif rule.extremes is not None and rule.rule in ("range", "earliest"):
            column = pl.nth(frame.get_column_index(rule.name))
            exprs.append(_as_number(column, rule.rule == "earliest").alias(str(j)))
            ranged.append(j)
    if not exprs:
        return out
    values = frame.select(exprs)  # one pass, columns in parallel
    for j, series in zip(ranged, values.iter_columns(), strict=True):
        rule = rules[j]
        assert rule.extremes is not None
        x = np.asarray(series.to_numpy(), dtype=np.float64)  # missing: NaN, breaks nothing
        earliest = rule.rule == "earliest"
        out[:, j] = rule.extremes.breaks(x, tolerance, held_out, lower_only=earliest)
    return out


# --------------------------------------------------------------------------- the score
@dataclass(frozen=True)
class Score:
    """An isolation forest on the judged columns of the shared encoder's matrix, and how a
    matrix becomes its input: a missing number takes the fit sample's median, a missing
    category a code of its own (-1)."""

    forest: Any
    columns: np.ndarray
    fill: np.ndarray
    threads: int

    def novelty(self, matrix: np.ndarray) -> np.ndarray:
        """Per row, the forest's anomaly score (about 0.5 for typical rows, towards 1 for
        rows isolated in few splits); zeros when there is no forest. Scored in batches."""
        from joblib import parallel_config

        out = np.zeros(matrix.shape[0], dtype=np.float64)
        if self.forest is None:
            return out
        threads = threads_for(matrix.shape[0], self.threads)
        with parallel_config(backend="threading", n_jobs=threads):
            for start in range(0, matrix.shape[0], BATCH_ROWS):
                x = np.take(matrix[start : start + BATCH_ROWS], self.columns, axis=1)
                np.copyto(x, self.fill, where=np.isnan(x))
                out[start : start + len(x)] = -self.forest.score_samples(x)
        return out


def fit_score(
    fit_matrix: np.ndarray,
    rules: Sequence[FeatureRule],
    encoder: FeatureEncoder,
    trees: int,
    seed: int,
    threads: int,
) -> Score:
    """Fit the isolation forest (``trees`` trees of at most 256 rows each) on the fit sample."""
    from sklearn.ensemble import IsolationForest

    columns = np.array(sorted({j for r in rules for j in r.outputs}), dtype=np.int64)
    kinds = encoder.output_kinds
    fill = np.zeros((1, len(columns)), dtype=np.float32)
    x = np.take(fit_matrix, columns, axis=1)
    for i, j in enumerate(columns):
        values = x[:, i][~np.isnan(x[:, i])]
        if kinds[j] == "categorical":
            fill[0, i] = -1.0
        elif values.size:
            fill[0, i] = np.median(values)
    if len(columns) == 0 or len(x) < 2:
        return Score(None, columns, fill, threads)
    np.copyto(x, fill, where=np.isnan(x))
    forest = IsolationForest(
        n_estimators=trees,
        max_samples=min(256, len(x)),
        random_state=seed,
        n_jobs=threads,  # trees are built on threads; the cost is per tree, not per row
    )
    forest.fit(x)
    return Score(forest, columns, fill, threads)


@dataclass(frozen=True)
class Calibration:
    """Held-out train rows scored as production will be: the threshold set on them and how
    many of them production's rule would call novel (breaking a rule as train less them sets
    it, or scoring above the threshold)."""

    rows: int
    fit_rows: int
    threshold: float
    flagged: int
    broken: int


def calibrate(
    novelty: np.ndarray, broken: np.ndarray, null_share: float, fit_rows: int
) -> Calibration:
    """The threshold: the held-out rows' conformal (1 - ``null_share``) quantile of the
    novelty, a row that breaks a rule counting as infinitely novel. A new row like train's
    then scores above it with probability at most ``null_share`` (infinite when there are
    too few held-out rows to resolve that quantile, or rules alone flag more of them)."""
    rows = len(novelty)
    combined = np.where(broken, np.inf, novelty)
    rank = math.ceil((rows + 1) * (1.0 - null_share) - 1e-9)
    threshold = float(np.sort(combined)[rank - 1]) if 0 < rank <= rows else math.inf
    flagged = int(np.count_nonzero(broken | (novelty > threshold)))
    return Calibration(rows, fit_rows, threshold, flagged, int(np.count_nonzero(broken)))


# --------------------------------------------------------------------------- attribution
@dataclass(frozen=True)
class Reference:
    """Train's sample per score column, to say how unusual a value is: sorted finite values
    (numbers, dates, calendar parts, booleans) or the share of each code (categories)."""

    sorted_values: dict[int, np.ndarray]
    shares: dict[int, np.ndarray]
    missing: dict[int, float]

    @classmethod
    def of(cls, sample: np.ndarray, columns: np.ndarray, encoder: FeatureEncoder) -> Reference:
        kinds = encoder.output_kinds
        sorted_values, shares, missing = {}, {}, {}
        n = max(len(sample), 1)
        for j in columns:
            x = sample[:, j]
            nan = np.isnan(x)
            missing[int(j)] = float(nan.sum()) / n
            if kinds[j] == "categorical":
                codes = x[~nan].astype(np.int64)
                shares[int(j)] = np.bincount(codes, minlength=int(codes.max(initial=0)) + 2) / n
            else:
                sorted_values[int(j)] = np.sort(x[~nan].astype(np.float64))
        return cls(sorted_values, shares, missing)

    def rarity(self, j: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per value of matrix column ``j``: the share of train as extreme on its side (a
        number) or holding it (a category), and the side (-1 low, +1 high, 0 a category). A
        missing number is not unusual here (1); a missing category as often as train has one."""
        nan = np.isnan(x)
        if j in self.shares:
            share = self.shares[j]
            codes = np.clip(np.where(nan, 0, x), 0, len(share) - 1).astype(np.int64)
            out = np.where(nan, self.missing[j], share[codes])
            return out, np.zeros(len(x), dtype=np.int8)
        ref = self.sorted_values[j]
        if ref.size == 0:
            return np.ones(len(x)), np.zeros(len(x), dtype=np.int8)
        values = np.where(nan, ref[0], x).astype(np.float64)
        below = np.searchsorted(ref, values, side="right") / ref.size
        above = 1.0 - np.searchsorted(ref, values, side="left") / ref.size
        out = np.where(nan, 1.0, np.minimum(below, above))
        side = np.where(below <= above, -1, 1).astype(np.int8)
        return out, side


def rule_rarity(
    matrix: np.ndarray,
    broken: np.ndarray,
    rules: Sequence[FeatureRule],
    reference: Reference,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, rules): how unusual each feature's value is (the least share of its columns;
    -1 where it breaks its rule), which of its columns that is, and on which side."""
    rows = matrix.shape[0]
    rarity = np.ones((rows, len(rules)))
    which = np.zeros((rows, len(rules)), dtype=np.int64)
    side = np.zeros((rows, len(rules)), dtype=np.int8)
    for i, rule in enumerate(rules):
        for j in rule.outputs:
            share, where = reference.rarity(j, matrix[:, j])
            lower = share < rarity[:, i]
            rarity[lower, i] = share[lower]
            which[lower, i] = j
            side[lower, i] = where[lower]
    rarity[broken] = -1.0
    return rarity, which, side


# --------------------------------------------------------------------------- measure
@dataclass(frozen=True)
class Measured:
    """What the check observed: production's novel rows, per feature, and the evidence rows."""

    rows_train: int
    rows_production: int
    rules: list[FeatureRule]
    calibration: Calibration
    score_columns: int
    #: Per rule: production rows breaking it.
    broken: np.ndarray
    novel: int
    #: Rows breaking a range / earliest-date rule, a categories rule, and novel to the score
    #: alone.
    out_of_range: int
    unseen: int
    score_only: int
    #: Per rule: the share of the attributed novel rows it makes most unusual.
    leads: np.ndarray
    attributed: int
    #: The most novel rows: (row, id, novelty, why, unusual values).
    top: list[tuple[Any, ...]]
    id_column: str | None = None


def measure(ctx: Context, params: Applicability.Params) -> Measured:
    """Fit the rules and the score on train, calibrate them on held-out train rows, and count
    production's novel rows (scored in batches)."""
    train, production = ctx.frame("train"), ctx.frame("production")
    encoder = ctx.encoder
    rng = np.random.default_rng(ctx.seed)
    order = rng.permutation(train.height)
    n_held = min(params.calibration_sample, train.height // 2)
    held_idx = np.sort(order[:n_held])
    fit_idx = np.sort(order[n_held : n_held + params.fit_sample])
    held_frame, fit_frame = train[held_idx], train[fit_idx]
    held_matrix, fit_matrix = encoder.transform(held_frame), encoder.transform(fit_frame)
    tolerance = params.range_tolerance
    rules = build_rules(ctx, production, tolerance, params.max_novel_share)
    score = fit_score(fit_matrix, rules, encoder, params.trees, ctx.seed, ctx.n_threads)
    held_breaks = rule_breaks(held_frame, held_matrix, rules, tolerance, held_out=True)
    calibration = calibrate(
        score.novelty(held_matrix),
        np.asarray(held_breaks.any(axis=1)),
        params.null_share,
        len(fit_idx),
    )
    # production
    matrix = ctx.feature_matrix("production")
    breaks = rule_breaks(production, matrix, rules, tolerance)
    novelty = score.novelty(matrix)
    broken_any = breaks.any(axis=1)
    novel = broken_any | (novelty > calibration.threshold)
    ranged = [i for i, r in enumerate(rules) if r.rule in ("range", "earliest")]
    known = [i for i, r in enumerate(rules) if r.rule == "categories"]
    reference = Reference.of(np.vstack([fit_matrix, held_matrix]), score.columns, encoder)
    novel_idx = np.flatnonzero(novel)
    if len(novel_idx) > ATTRIBUTION_ROWS:
        novel_idx = np.sort(rng.choice(novel_idx, ATTRIBUTION_ROWS, replace=False))
    leads = np.zeros(len(rules))
    if len(novel_idx) and rules:
        rarity, _, _ = rule_rarity(matrix[novel_idx], breaks[novel_idx], rules, reference)
        leads = np.bincount(rarity.argmin(axis=1), minlength=len(rules)) / len(novel_idx)
    id_column = ctx.config.task.id if ctx.config.task.id in production.columns else None
    top = _top_rows(
        production, matrix, breaks, novelty, novel, rules, reference, encoder, params, id_column
    )
    return Measured(
        rows_train=train.height,
        rows_production=production.height,
        rules=rules,
        calibration=calibration,
        score_columns=len(score.columns),
        broken=breaks.sum(axis=0),
        novel=int(novel.sum()),
        out_of_range=int(breaks[:, ranged].any(axis=1).sum()) if ranged else 0,
        unseen=int(breaks[:, known].any(axis=1).sum()) if known else 0,
        score_only=int((novel & ~broken_any).sum()),
        leads=leads,
        attributed=len(novel_idx),
        top=top,
        id_column=id_column,
    )


def _top_rows(
    production: pl.DataFrame,
    matrix: np.ndarray,
    breaks: np.ndarray,
    novelty: np.ndarray,
    novel: np.ndarray,
    rules: Sequence[FeatureRule],
    reference: Reference,
    encoder: FeatureEncoder,
    params: Applicability.Params,
    id_column: str | None,
) -> list[tuple[Any, ...]]:
    """The most novel rows (most rules broken, then highest score) with their unusual values."""
    idx = np.flatnonzero(novel)
    if not idx.size or params.max_rows == 0:
        return []
    order = np.lexsort((idx, -novelty[idx], -breaks[idx].sum(axis=1)))
    rows = idx[order[: params.max_rows]]
    rarity, which, side = rule_rarity(matrix[rows], breaks[rows], rules, reference)
    out = []
    for r, row in enumerate(rows):
        row = int(row)
        broken = [rules[int(i)] for i in np.flatnonzero(breaks[row])]
        why = _why(broken, float(novelty[row]))
        shown: list[str] = []
        for i in np.argsort(rarity[r], kind="stable")[:VALUES_PER_ROW]:
            if shown and rarity[r, i] > UNUSUAL_SHARE:
                break
            rule = rules[int(i)]
            value = production.get_column(rule.name)[row] if rule.name in production else None
            reason = _unusual(rule, value, rarity[r, i], int(which[r, i]), side[r, i], encoder)
            shown.append(f"{_q(rule.name)} = {_value(value)} ({reason})")
        ident = [_value(production.get_column(id_column)[row])] if id_column else []
        out.append((row, *ident, float(novelty[row]), why, "; ".join(shown)))
    return out


def _why(broken: Sequence[FeatureRule], novelty: float) -> str:
    ranged = [_q(r.name) for r in broken if r.rule in ("range", "earliest")]
    unseen = [_q(r.name) for r in broken if r.rule == "categories"]
    parts = []
    if ranged:
        parts.append("out of train's range: " + _listed(ranged))
    if unseen:
        parts.append("a value train never had: " + _listed(unseen))
    return "; ".join(parts) or f"multivariate score {novelty:.3f} over the threshold"


def _unusual(
    rule: FeatureRule, value: Any, rarity: float, column: int, side: int, encoder: FeatureEncoder
) -> str:
    """Why one value is unusual, in words."""
    if rarity < 0:
        if rule.rule == "categories":
            return "never in train"
        if rule.rule == "earliest":
            return f"before train's first date {_instant(rule.train_min)}"
        number = _float(value)
        if number is not None and number > rule.high:
            return f"above train's range, max {_num(rule.train_max)}"
        if number is not None and number < rule.low:
            return f"below train's range, min {_num(rule.train_min)}"
        return "out of train's range"
    part = ""
    if column != rule.column:  # a calendar part
        part = encoder.output_names[column][len(rule.name) + 1 :] + ": "
    if side == 0:
        return f"{part}{rarity:.2%} of train has it"
    if rarity == 0:
        return f"{part}beyond every value of train's sample"
    return f"{part}{rarity:.2%} of train as {'low' if side < 0 else 'high'}"


# --------------------------------------------------------------------------- decide
@dataclass(frozen=True)
class Null:
    """The novel share of production drawn like train: Beta(flagged + 1, held - flagged), the
    share of new rows above a threshold set on held-out rows, ``flagged`` of which are
    novel by the same rule (exact for a conformal quantile of a continuous score)."""

    a: float
    b: float

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    @classmethod
    def of(cls, calibration: Calibration) -> Null:
        flagged = calibration.flagged
        return cls(flagged + 1.0, max(calibration.rows - flagged, 1.0))


def excess_pvalue(novel: int, rows: int, null: Null) -> float:
    """One-sided p-value of ``novel`` or more novel rows in ``rows`` under the null: a
    beta-binomial tail, so the threshold's own sampling error (it rests on the held-out
    rows) does not make a million rows like train's look novel."""
    from scipy.stats import betabinom

    if novel <= 0 or rows <= 0:
        return 1.0
    return float(betabinom.sf(novel - 1, rows, null.a, null.b))


def fails(novel: int, rows: int, null: Null, bar: float, fail_alpha: float) -> bool:
    """The fail rule: the novel share's one-sided (1 - ``fail_alpha``) Clopper–Pearson lower
    bound exceeds ``bar`` and the share exceeds the null at ``fail_alpha``."""
    if rows <= 0 or novel <= 0:
        return False
    if rate_lower_bound(novel, rows, 1.0 - fail_alpha) <= bar:
        return False
    return excess_pvalue(novel, rows, null) <= fail_alpha


def detectable_share(rows: int, null: Null, bar: float, fail_alpha: float) -> float:
    """The smallest novel share of ``rows`` rows that fails; infinite when none does."""
    if not fails(rows, rows, null, bar, fail_alpha):
        return math.inf
    lo, hi = 0, rows  # lo never fails, hi does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(mid, rows, null, bar, fail_alpha):
            hi = mid
        else:
            lo = mid
    return hi / rows


def rows_needed(rows: int, target: float, null: Null, bar: float, fail_alpha: float) -> int | None:
    """Rows to add so that a novel share of ``target`` fails; None when no number would."""
    from scipy.stats import beta

    # However many rows, the share's p-value stays above P(null share >= target).
    if target <= bar or beta.sf(target, null.a, null.b) > fail_alpha:
        return None

    def enough(n: int) -> bool:
        return fails(math.ceil(target * n - 1e-9), n, null, bar, fail_alpha)

    lo, hi = rows, max(rows, 1)
    while not enough(hi):
        lo, hi = hi, hi * 2
        if hi > 10**8:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid
    return hi - rows


@dataclass(frozen=True)
class Decision:
    """The verdict and the numbers it rests on."""

    status: Verdict
    reason: Literal["novel", "excess", "underpowered", "clean"]
    share: float
    #: The novel share's one-sided (1 - fail_alpha) lower confidence bound.
    lower: float
    expected: float
    p_excess: float
    fail_alpha: float
    warn_alpha: float
    detectable: float
    needed: int | None = None


def decide(
    novel: int, rows: int, null: Null, params: Applicability.Params, fail_alpha: float
) -> Decision:
    """Fail when the novel share is clearly over ``max_novel_share`` (its lower bound at the
    check's false-alarm share exceeds it, and it exceeds the null at that level); warn when
    it exceeds the null at ``alpha`` but not clearly the bar, or when production is too small
    to fail on a novel share of ``power_share``; else pass."""
    bar = params.max_novel_share
    share = novel / rows if rows else 0.0
    p = excess_pvalue(novel, rows, null)
    numbers: dict[str, Any] = {
        "share": share,
        "lower": rate_lower_bound(novel, rows, 1.0 - fail_alpha),
        "expected": null.mean,
        "p_excess": p,
        "fail_alpha": fail_alpha,
        "warn_alpha": max(params.alpha, fail_alpha),
        "detectable": detectable_share(rows, null, bar, fail_alpha),
    }
    if fails(novel, rows, null, bar, fail_alpha):
        return Decision("fail", "novel", **numbers)
    if p <= numbers["warn_alpha"] and share > null.mean:
        return Decision("warn", "excess", **numbers)
    if numbers["detectable"] > params.power_share:
        needed = rows_needed(rows, params.power_share, null, bar, fail_alpha)
        return Decision("warn", "underpowered", **numbers, needed=needed)
    return Decision("pass", "clean", **numbers)


# --------------------------------------------------------------------------- the check
class Applicability(Check):
    """Production rows lie where the model learned: within train's ranges, categories and
    combinations of values.

    What it checks
    --------------
    Each production row is compared with train, feature by feature and as a whole. A number
    outside train's range widened by ``range_tolerance`` of its width on each side (the schema
    check's range rule: an infinity is outside unless train had one), a category or boolean
    value train never had, or a date before train's first date (less the tolerance) breaks
    its feature's rule. A date later than train's is time moving forward, not novelty, and a
    date or datetime feature whose production values mostly lie outside train's dates is the
    time axis: its value is not judged at all (declare it ``[task] time``); its hour, weekday
    or month count only when both windows span three cycles of them, as in the drift check.
    A category more than ``max_novel_share`` of whose train values are seen once (an id-like
    column: about that share of new rows bring a new value, by Good–Turing) is not judged.
    Values inside the ranges can still combine into rows train never held: an isolation
    forest (``trees`` trees of at most 256 rows, seeded) fitted on a sample of train
    (``fit_sample`` rows, 10,000 by default; metric fit_rows) scores every production row on
    the shared encoder's matrix (numbers as they are, categories as codes, missing numbers at
    train's median), in batches. A row is novel when it breaks a rule or scores above the
    threshold. Missing values are never novel here (the schema and drift checks judge them).

    Why it matters
    --------------
    A model's error on rows unlike its training data is unknown, not merely larger: trees
    extend their edge leaves flat, linear models extrapolate without limit, and neither says
    so. This is not drift: a stable production stream can still hold rows the model has never
    seen the like of (a new product line, a sensor out of its range, a customer segment
    absent from the sample), and a drifted stream may stay within the known range.

    How it decides
    --------------
    The null: rows drawn like train's. The forest never sees the held-out train rows
    (``calibration_sample`` rows, at most half of train; metric calibration_rows) on which
    the threshold is set: their conformal (1 - ``null_share``) quantile of the score, where a
    held-out row counts as infinitely novel when it breaks a rule as the rest of train sets it
    (leave one out: a lone extreme, a lone infinity, a category train has once). So about
    ``null_share`` (1 %) of rows like train's are novel, and the expected share (metric
    expected_novel_share) is what the held-out rows show: more than 1 % only when the rules
    alone flag more of them (a small train with long tails or many rare categories).
    Production's novel rows are tested against it with a one-sided beta-binomial tail
    (metric excess_p), which carries the threshold's own sampling error: a binomial test
    against exactly 1 % would call a million clean rows novel whenever the threshold fell a
    little low.

    The check fails when the novel share is clearly over ``max_novel_share`` (5 %): its
    one-sided Clopper–Pearson lower bound at the check's false-alarm share (its part of [run]
    false_alarm_rate, the whole rate when it runs alone; threshold fail_alpha) exceeds the bar
    and the excess over the null is significant at that share. That is its one testing fail
    rule. It warns when the excess is significant at ``alpha`` but not clearly over the bar,
    and, when neither holds, when production is too small to fail on a novel share of
    ``power_share`` (10 %): the message then says which share it could detect and about how
    many more production rows it needs (waive the subject "underpowered" to accept that).

    Evidence: the most novel production rows (``max_rows``; most rules broken first, then
    highest score) with their most unusual values and why (above train's range, never in
    train, or the share of train's sample as extreme on its side), and a table per feature:
    the share of production out of its range or with values train never had, and the share
    of novel rows it leads (the feature whose value is most unusual in the row, counted on at
    most 50,000 novel rows).

    How to fix
    ----------
    Read the most novel rows first. A feature out of range for many rows is usually a
    pipeline fault (a unit change, a broken join, a sentinel such as -999): fix it where the
    data is produced. Values train never had (a new category, a new product) need a mapping
    to known ones or a retrain with them. Genuine new territory calls for collecting labelled
    examples of it and retraining, and meanwhile for routing such rows to a fallback (a rule,
    a human, a refusal) instead of trusting the model there. A datetime feature noted as the
    time axis needs no fix: declare it ``[task] time``.
    """

    id = "applicability"
    title = "Production rows lie where the model learned"
    requires = ("train", "production")
    severity = "error"
    #: The novel share clearly over the bar (lower bound and excess over the null).
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        max_novel_share: float = param(
            0.05,
            "Novel share of production past which the check fails (its lower confidence "
            "bound at the check's false-alarm share must exceed it).",
            gt=0.0,
            lt=1.0,
        )
        null_share: float = param(
            0.01,
            "Share of rows like train's that the score calls novel: its threshold is the "
            "held-out train rows' (1 - null_share) quantile.",
            gt=0.0,
            lt=0.5,
        )
        range_tolerance: float = param(
            0.1,
            "Train's range (and its first date) is widened by this fraction of its width on "
            "each side, as in the schema check.",
            ge=0.0,
        )
        alpha: float = param(
            0.01,
            "Significance level at which a novel share above the expected one warns; it "
            "fails at the check's false-alarm share.",
            gt=0.0,
            lt=1.0,
        )
        power_share: float = param(
            0.1,
            "Novel share the check must be able to fail on with production's rows, else it "
            "warns that it is underpowered; must exceed max_novel_share.",
            gt=0.0,
            le=1.0,
        )
        fit_sample: int = param(
            10_000, "Train rows (a seeded sample) the isolation forest is fitted on.", ge=10
        )
        calibration_sample: int = param(
            20_000,
            "Train rows held out from the fit (at most half of train) to set the score's "
            "threshold and the expected novel share.",
            ge=10,
        )
        trees: int = param(100, "Trees of the isolation forest.", ge=10, le=1000)
        max_rows: int = param(5, "Most novel production rows shown.", ge=0, le=100)

    def run(self, ctx: Context, params: Params) -> CheckResult:
        if not ctx.has_split("production"):
            return self.skip("needs a production split: the rows the model is asked about")
        if params.power_share <= params.max_novel_share:
            raise ConfigError(
                f"checks.{self.id}.power_share: {params.power_share} must exceed "
                f"max_novel_share ({params.max_novel_share}), or no production is ever enough"
            )
        rows_train = ctx.frame("train").height
        if rows_train < MIN_TRAIN_ROWS:
            return self.result(
                "warn",
                f"underpowered: train has {rows_train} rows; at least {MIN_TRAIN_ROWS} are "
                "needed to hold half out and learn what rows like train's look like",
                metrics={"rows_train": rows_train},
                subjects=["underpowered"],
            )
        measured = measure(ctx, params)
        null = Null.of(measured.calibration)
        share = ctx.false_alarm_share(self.id)
        decision = decide(measured.novel, measured.rows_production, null, params, share)
        return self._explain(measured, decision, params)

    def _explain(self, m: Measured, d: Decision, params: Params) -> CheckResult:
        evidence = []
        if m.top:
            evidence.append(_rows_table(m))
        evidence.append(_feature_table(m, params))
        return self.result(
            d.status,
            _message(m, d, params),
            metrics=_metrics(m, d),
            thresholds={
                "max_novel_share": params.max_novel_share,
                "null_share": params.null_share,
                "fail_alpha": d.fail_alpha,
                "alpha": params.alpha,
                "range_tolerance": params.range_tolerance,
                "power_share": params.power_share,
            },
            evidence=evidence,
            subjects=_subjects(m, d),
        )


# --------------------------------------------------------------------------- explain
def _metrics(m: Measured, d: Decision) -> dict[str, Any]:
    rows = m.rows_production
    judged = [r for r in m.rules if r.rule != "none"]
    ranged = [i for i, r in enumerate(m.rules) if r.rule in ("range", "earliest")]
    known = [i for i, r in enumerate(m.rules) if r.rule == "categories"]
    cal = m.calibration
    return {
        "rows_train": m.rows_train,
        "rows_production": rows,
        "features": len(m.rules),
        "features_with_rule": len(judged),
        "score_columns": m.score_columns,
        "novel_rows": m.novel,
        "novel_share": d.share,
        "novel_share_lower": d.lower,
        "expected_novel_share": d.expected,
        "excess_p": d.p_excess,
        "out_of_range_share": m.out_of_range / rows if rows else 0.0,
        "unseen_share": m.unseen / rows if rows else 0.0,
        "score_only_share": m.score_only / rows if rows else 0.0,
        "features_out_of_range": int(sum(1 for i in ranged if m.broken[i] > 0)),
        "features_unseen": int(sum(1 for i in known if m.broken[i] > 0)),
        "time_axis_features": sum(1 for r in m.rules if r.calendar and r.calendar.time_axis),
        "fit_rows": cal.fit_rows,
        "calibration_rows": cal.rows,
        "calibration_novel_rows": cal.flagged,
        "calibration_rule_rows": cal.broken,
        "score_threshold": cal.threshold,
        "attributed_rows": m.attributed,
        "detectable_share": d.detectable,
    }


def _message(m: Measured, d: Decision, params: Applicability.Params) -> str:
    conf = f"{100 * (1.0 - d.fail_alpha):.3g}% confidence"
    head = f"{d.share:.1%} of production rows are unlike train"
    expected = f"{d.expected:.1%} expected of rows like train's"
    if d.reason == "novel":
        text = (
            f"{head}: at least {d.lower:.1%} at {conf}, over max_novel_share "
            f"{params.max_novel_share:.0%} ({expected})"
        )
    elif d.reason == "excess":
        text = (
            f"{head}, more than the {expected} (p={_p(d.p_excess)} <= {d.warn_alpha:.2g}), "
            f"but not clearly over max_novel_share {params.max_novel_share:.0%} (at least "
            f"{d.lower:.1%} at {conf})"
        )
    elif d.reason == "underpowered":
        text = _underpowered(m, d, params) + f"; {head} ({expected})"
    else:
        text = f"{head}, as rows like train's are ({expected}; p={_p(d.p_excess)})"
    reasons = _reasons(m)
    if reasons and d.reason in ("novel", "excess"):
        text += " — " + reasons
    cal = m.calibration
    if cal.rows and cal.broken > params.null_share * cal.rows:
        text += (
            f"; the rules alone flag {cal.broken / cal.rows:.1%} of held-out train rows "
            "(values beyond the rest of train), so more than null_share is expected"
        )
    if not math.isfinite(cal.threshold) and cal.rows < 1.0 / params.null_share:
        text += (
            f"; the score flags nothing: {cal.rows} held-out train rows cannot resolve its "
            f"{1 - params.null_share:.0%} quantile (rules only)"
        )
    for rule in m.rules:
        if rule.calendar is not None and rule.calendar.time_axis:
            text += (
                f"; {_q(rule.name)} looks like the time axis ({rule.calendar.beyond_share:.0%} "
                f"of production outside train's dates): its value is not judged; "
                + declare_hint(rule.name)
            )
    base = f"train {m.rows_train:,} rows, production {m.rows_production:,} rows"
    return f"{text} ({base}, {len(m.rules)} features)"


def _underpowered(m: Measured, d: Decision, params: Applicability.Params) -> str:
    if math.isfinite(d.detectable):
        detectable = f"a novel share of {d.detectable:.0%} or more"
    else:
        detectable = "no novel share"
    return underpowered_note(
        m.rows_production,
        "production rows",
        detectable,
        d.needed,
        f"a novel share of {params.power_share:.0%}",
    )


def _reasons(m: Measured) -> str:
    """The features most production rows break, and the share novel to the score alone."""
    rows = max(m.rows_production, 1)
    parts = []
    for kinds, words in (
        (("range", "earliest"), "out of train's range in"),
        (("categories",), "values train never had in"),
    ):
        hit = [
            (m.broken[i], r.name)
            for i, r in enumerate(m.rules)
            if r.rule in kinds and m.broken[i] > 0
        ]
        hit.sort(key=lambda t: (-t[0], t[1]))
        if hit:
            shown = [f"{_q(name)} ({_share(int(count), rows)})" for count, name in hit[:5]]
            more = f" and {len(hit) - 5} more" if len(hit) > 5 else ""
            parts.append(f"{words} {', '.join(shown)}{more}")
    if m.score_only:
        parts.append(f"{m.score_only / rows:.1%} novel to the multivariate score alone")
    return "; ".join(parts)


def _subjects(m: Measured, d: Decision) -> list[str]:
    if d.reason == "underpowered":
        return ["underpowered"]
    if d.reason not in ("novel", "excess") or not m.novel:
        return []
    weight = {}
    for i, rule in enumerate(m.rules):
        explained = max(m.broken[i] / m.novel, float(m.leads[i]))
        if explained >= SUBJECT_SHARE:
            weight[rule.name] = explained
    subjects = sorted(weight, key=lambda name: (-weight[name], name))
    # The score alone flags about the expected share of any production; only its excess
    # names the combinations of values as a subject.
    if m.score_only - d.expected * m.rows_production >= SUBJECT_SHARE * m.novel:
        subjects.append("multivariate")
    return subjects


def _rows_table(m: Measured) -> Evidence:
    columns = ["row", *([m.id_column] if m.id_column else []), "novelty score", "why novel"]
    return table(
        "Most novel production rows",
        [*columns, "most unusual values"],
        m.top,
        note="row = position in the production split; most rules broken first, then the "
        f"highest isolation-forest score (threshold {_num(m.calibration.threshold)})",
    )


def _feature_table(m: Measured, params: Applicability.Params) -> Evidence:
    rows = max(m.rows_production, 1)
    listed = []
    for i, rule in enumerate(m.rules):
        ranged = rule.rule in ("range", "earliest")
        unseen = rule.rule == "categories"
        listed.append(
            (
                -int(m.broken[i]),
                -float(m.leads[i]),
                rule.name,
                (
                    rule.name,
                    rule.kind,
                    rule.rule,
                    rule.allows,
                    int(m.broken[i]) if ranged else None,
                    float(m.broken[i] / rows) if ranged else None,
                    int(m.broken[i]) if unseen else None,
                    float(m.broken[i] / rows) if unseen else None,
                    float(m.leads[i]) if m.attributed else None,
                ),
            )
        )
    listed.sort(key=lambda t: t[:3])
    cal = m.calibration
    sample = f", on a seeded sample of {m.attributed:,}" if m.attributed < m.novel else ""
    note = (
        "novel = breaks a rule, or scores over the threshold: an isolation forest of "
        f"{params.trees} trees fitted on {cal.fit_rows:,} train rows, its threshold the "
        f"{1 - params.null_share:.0%} quantile of {cal.rows:,} held-out train rows. "
        "leads = share of novel rows in which the feature's value is the most unusual (rules "
        f"broken first, then the least share of train as extreme){sample}"
    )
    return table(
        "Per-feature applicability",
        [
            "feature",
            "kind",
            "rule",
            "train allows",
            "rows out of range",
            "share out of range",
            "rows unseen",
            "share unseen",
            "share of novel rows it leads",
        ],
        [t[3] for t in listed],
        note=note,
        max_rows=60,
    )


# --------------------------------------------------------------------------- formatting
def _q(name: str) -> str:
    """A (possibly hostile) column name, quoted and cut short."""
    text = name if len(name) <= VALUE_CHARS else name[: VALUE_CHARS - 1] + "…"
    return repr(text)


def _listed(names: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _share(count: int, rows: int) -> str:
    """A share of rows, as a count where a percentage would read 0.0%."""
    if count / rows < 0.0005:
        return f"{count:,} row{'s' if count != 1 else ''}"
    return f"{count / rows:.1%}"


def _p(value: float) -> str:
    return "<1e-16" if value < 1e-16 else f"{value:.2g}"


def _num(value: float | None) -> str:
    if value is None:
        return "null"
    return f"{value:.6g}"


def _instant(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "null"
    instant = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    return instant.isoformat(sep=" ", timespec="seconds")


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _value(value: Any) -> str:
    """A production value as the evidence shows it: numbers in 6 digits, text quoted and cut."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        text = value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…"
        return repr(text)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"
