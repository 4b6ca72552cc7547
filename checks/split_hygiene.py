"""Is the split itself sound, and is the test set the one that was locked?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from qa.base import Check, CheckResult, Evidence, param, table
from qa.context import Context
from qa.errors import ConfigError, DataError
from qa.lockfile import DEFAULT_LOCK_FILE, compare, fingerprint, read_lock

if TYPE_CHECKING:
    from qa.profile import NumericProfile, Profile
    from qa.profile_context import ProfileContext

#: Labelled splits in the order time should run through them.
ORDER = ("train", "validation", "test")
RANK = {"skip": -1, "pass": 0, "warn": 1, "fail": 2}
#: A sub-check's status; the check's is the worst of them. ``skip``: a part that could not be
#: judged on profiles (its message says why); it never decides the check's status.
SubStatus = Literal["pass", "warn", "fail", "skip"]
ONLY_TRAIN = "only the train split was given; there is no split to check"
#: Time ranges as the chronology evidence shows them: split -> (first, last).
TimeRanges = dict[str, tuple[str | None, str | None]]


@dataclass
class SubCheck:
    """The outcome of one of split-hygiene's sub-checks (proportions, chronology, test lock)."""

    name: str
    status: SubStatus
    message: str
    evidence: list[Evidence] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


class SplitHygiene(Check):
    """Split proportions, chronological order and a frozen test set.

    What it checks
    --------------
    Three things about how the data was split (production is left out: it is not part of the
    split). *Proportions*: when a ``plan`` is declared, the row shares of train / validation /
    test against it, renormalised over the splits present; without one (the default), only
    whether the split is sane: train holds most of the labelled rows and the test split is
    large enough to measure anything. *Chronology* (when ``[task] time`` is set):
    train should precede validation, which should precede test. *Frozen test set*: when a lock
    file exists (written by ``qa lock``), the test set must still match its fingerprint: row
    count, columns and contents. Row order does not matter to the fingerprint; every added,
    dropped or edited row does. *Test looks*: how often this test set has been evaluated with
    new predictions (the report's test_looks: carried from the baseline report by ``qa
    check --baseline`` and increased when the test predictions changed; a new test set starts
    again) — past ``max_test_looks`` it warns. Whether the splits are stratified (class shares of validation
    and test against train) is class-imbalance's question, not this check's; whether an
    entity (``[task] group``) or a row sits on both sides of a split is leakage's.

    On profiles (``--engine``, ``--reference``): proportions are exact (row counts). The
    chronology of a date or numeric time column is exact from its profile (first and last
    value, histogram on train's edges, and train's end is an edge); a share earlier than
    validation's end is read inside the one bin holding it, on the engine's sample (exact when
    the split was not sampled) or, against a stored reference, estimated from the bin
    (stated). A text time column is ordered on the sample, and not checked against a stored
    reference. The lock's rows and columns are compared exactly; its contents only when the
    sample holds the whole test split (``[run] sample_rows``), else that part is reported as
    not checked.

    Why it matters
    --------------
    A test set that drifts in size or time, or that is quietly edited between
    experiments, no longer measures what it claims: scores stop being comparable and tuning
    leaks into the estimate. A random split of time-ordered data lets the model see the future.

    How it decides
    --------------
    With a declared plan, proportions warn when any split's share is more than
    ``proportion_tolerance`` (absolute) from the plan and fail beyond ``proportion_fail``.
    Without a plan there is nothing to be off from (70/15/15, 60/20/20 and 80/10/10 are all
    sound), so proportions only warn when train holds less than ``min_train_share`` (50 %) of
    the labelled rows, or the test split has fewer than ``min_test_rows`` (30) rows: a
    score on fewer rows moves by several points with one row more or less. Chronology
    measures, for each later split, the share of its rows earlier than the last row of an
    earlier split: above zero it warns (ranges touch or overlap), above
    ``time_overlap_tolerance`` it fails (a time-reversed or shuffled split).
    The lock fails on any change and names the part that changed (columns, rows, contents);
    without a lock file the test set is reported as not locked, which passes. ``lock_file``
    (default qa.lock) is resolved beside the config file, or in the current folder. The check
    takes the worst status of its parts.

    How to fix
    ----------
    Re-split with the planned shares (scikit-learn train_test_split; stratify=y for
    classes). With a time column, split by time: train on the earliest rows, validate and test
    on later ones. Never edit the test set: if it really
    must change, say why in the pull request and run ``qa lock`` to record the new fingerprint.
    """

    id = "split-hygiene"
    title = "Sound split, untouched test set"
    requires = ("train",)
    severity = "error"
    profiles_supported = True

    @dataclass(frozen=True)
    class Params:
        plan: dict[str, float] = param(  # noqa: RUF009 - param() returns a field
            {},
            "Planned row shares of the labelled splits (renormalised over those present), "
            "e.g. {train = 0.8, validation = 0.1, test = 0.1}; empty = no plan declared.",
            gt=0,
        )
        min_train_share: float = param(
            0.5,
            "Without a plan: train's share of the labelled rows below which it warns.",
            ge=0,
            le=1,
        )
        min_test_rows: int = param(
            30, "Without a plan: rows of the test split below which it warns.", ge=0
        )
        proportion_tolerance: float = param(
            0.05, "Absolute share difference from the plan that warns.", ge=0, le=1
        )
        proportion_fail: float = param(
            0.25, "Absolute share difference from the plan that fails.", ge=0, le=1
        )
        time_overlap_tolerance: float = param(
            0.05,
            "Share of a later split's rows earlier than an earlier split's end that fails.",
            ge=0,
            le=1,
        )
        lock_file: str = param(
            DEFAULT_LOCK_FILE, "Lock file written by `qa lock`; relative to the config file."
        )
        max_test_looks: int = param(
            20,
            "Looks at the test set with new predictions (carried in the report from the "
            "baseline, see qa.looks) past which it warns.",
            ge=1,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        _validate_plan(params.plan)
        present = [s for s in ORDER if ctx.has_split(s)]
        if len(present) < 2:
            return self.skip(ONLY_TRAIN)
        rows = {s: ctx.frame(s).height for s in present}
        found = [
            _proportions(rows, params),
            _chronology(ctx, present, params),
            _lock(ctx, params),
            test_looks(ctx.test_looks, params),
        ]
        return self._verdict([p for p in found if p is not None], params)

    def run_profiles(self, pctx: ProfileContext, params: Params) -> CheckResult:
        _validate_plan(params.plan)
        present = [s for s in ORDER if pctx.has_split(s)]
        if len(present) < 2:
            return self.skip(_nothing_split(pctx.splits))
        rows = {s: pctx.rows(s) for s in present}
        found = [
            _proportions(rows, params),
            _profile_chronology(pctx, present, params),
            _profile_lock(pctx, params),
            test_looks(pctx.test_looks, params),
        ]
        return self._verdict([p for p in found if p is not None], params)

    def _verdict(self, parts: list[SubCheck], params: Params) -> CheckResult:
        """The worst status of the parts, with every part's finding and evidence."""
        status = max((p.status for p in parts), key=RANK.__getitem__)
        metrics: dict[str, Any] = {}
        for p in parts:
            metrics.update(p.metrics)
        overview = table(
            "Sub-checks",
            ["part", "status", "finding"],
            [(p.name, p.status, p.message) for p in parts],
        )
        return self.result(
            status,
            _verdict_message(parts, status),
            metrics=metrics,
            thresholds=_thresholds(params),
            evidence=[overview] + [e for p in parts for e in p.evidence],
            subjects=[p.name for p in parts if p.status in ("warn", "fail")],
        )


def test_looks(count: int, params: SplitHygiene.Params) -> SubCheck | None:
    """Warn past ``max_test_looks``: each look at test with new predictions leaks a little of
    it into the next decision, until the test score is tuned, not measured."""
    if count == 0:
        return None
    metrics = {"test_looks": count}
    if count <= params.max_test_looks:
        message = f"test set evaluated {count} time(s) with new predictions"
        return SubCheck("test looks", "pass", message, metrics=metrics)
    message = (
        f"test set evaluated {count} times with new predictions (bar {params.max_test_looks}): "
        "every look that steered a choice (a feature, a threshold, a model) leaked part of the "
        "test set into the model, so its score is now optimistic; draw a fresh test set "
        "(`qa lock --rotate` says how) and keep it for the final check"
    )
    return SubCheck("test looks", "warn", message, metrics=metrics)


def _thresholds(params: SplitHygiene.Params) -> dict[str, float]:
    if params.plan:
        shares = {
            "proportion_tolerance": params.proportion_tolerance,
            "proportion_fail": params.proportion_fail,
        }
    else:
        shares = {"min_train_share": params.min_train_share, "min_test_rows": params.min_test_rows}
    return {
        **shares,
        "time_overlap_tolerance": params.time_overlap_tolerance,
        "max_test_looks": params.max_test_looks,
    }


def _verdict_message(parts: list[SubCheck], status: SubStatus) -> str:
    """The parts at the check's status (all of them when it passes), then any not checked."""
    bad = [p for p in parts if p.status == status and status != "pass"]
    shown = bad or parts
    skipped = [p for p in parts if p.status == "skip" and p not in shown]
    return "; ".join(f"{p.name}: {p.message}" for p in shown + skipped)


def _nothing_split(splits: Sequence[str]) -> str:
    """Why there is no split to judge (production is not part of the split)."""
    if "production" in splits:
        return "no validation or test split was given; production is not part of the split"
    return ONLY_TRAIN


# --------------------------------------------------------------------------- parts
def _validate_plan(plan: dict[str, float]) -> None:
    for split in plan:
        if split not in ORDER:
            raise ConfigError(
                f"checks.split-hygiene.plan.{split}: unknown split "
                f"(expected {', '.join(ORDER)}; production is not part of the plan)"
            )


def _proportions(rows: dict[str, int], params: SplitHygiene.Params) -> SubCheck:
    """Row shares of the splits present, against the plan (or, without one, sanity bars)."""
    present = list(rows)
    total = sum(rows.values())
    if not params.plan:
        return _sanity(rows, total, params)
    planned = {s: params.plan.get(s, 0.0) for s in present}
    plan_total = sum(planned.values())
    if plan_total <= 0:
        raise ConfigError(
            f"checks.split-hygiene.plan: names none of the splits given ({', '.join(present)})"
        )
    table_rows, worst, worst_split = [], 0.0, present[0]
    for s in present:
        share, want = rows[s] / total, planned[s] / plan_total
        gap = abs(share - want)
        if gap > worst:
            worst, worst_split = gap, s
        table_rows.append((s, rows[s], share, want, share - want))
    metrics = {f"share_{s}": rows[s] / total for s in present}
    metrics["max_proportion_gap"] = worst
    shares = " / ".join(f"{s} {rows[s] / total:.0%}" for s in present)
    plan_text = " / ".join(f"{planned[s] / plan_total:.0%}" for s in present)
    status = decide_proportions(worst, params)
    message = f"{shares} (plan {plan_text})"
    if status != "pass":
        message += f"; {worst_split} is {worst:.0%} off the plan"
    evidence = (
        [table("Split proportions", ["split", "rows", "share", "plan", "difference"], table_rows)]
        if status != "pass"
        else []
    )
    return SubCheck("proportions", status, message, evidence, metrics)


def _sanity(rows: dict[str, int], total: int, params: SplitHygiene.Params) -> SubCheck:
    """No plan declared: is train most of the data and the test split big enough to score?"""
    metrics: dict[str, Any] = {f"share_{s}": n / total for s, n in rows.items()}
    shares = " / ".join(f"{s} {n / total:.0%}" for s, n in rows.items())
    problems = []
    if metrics["share_train"] < params.min_train_share:
        problems.append(
            f"train holds only {metrics['share_train']:.0%} of the labelled rows "
            f"(< {params.min_train_share:.0%})"
        )
    if "test" in rows and rows["test"] < params.min_test_rows:
        problems.append(
            f"the test split has {rows['test']} rows (< {params.min_test_rows}): "
            "too few to measure a score"
        )
    if not problems:
        return SubCheck("proportions", "pass", f"{shares} (no plan declared)", [], metrics)
    evidence = [
        table(
            "Split proportions",
            ["split", "rows", "share"],
            [(s, n, n / total) for s, n in rows.items()],
            note="No plan declared; set checks.split-hygiene.plan to judge shares.",
        )
    ]
    return SubCheck("proportions", "warn", f"{shares}: " + "; ".join(problems), evidence, metrics)


def _time_values(ctx: Context, split: str, column: str) -> pl.Series:
    frame = ctx.frame(split)
    if column not in frame.columns:
        raise DataError(f"task.time: column {column!r} not found in the {split} split")
    series = frame.get_column(column)
    if series.dtype == pl.String:
        parsed = series.str.to_datetime(strict=False)
        if parsed.null_count() > series.null_count():
            raise DataError(
                f"task.time: column {column!r} in {split} has values that are not dates or times"
            )
        series = parsed
    if series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime):
        return series.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)
    if series.dtype.is_numeric():
        return series.cast(pl.Float64)
    raise DataError(
        f"task.time: column {column!r} in {split} is {series.dtype}, not a date, time or number"
    )


def time_overlaps(values: dict[str, pl.Series], present: list[str]) -> dict[str, tuple[float, str]]:
    """For each split after the first: the largest share of its rows earlier than the end of
    an earlier split, and that split ("" when none overlaps)."""

    def share_earlier(later: str, earlier: str) -> float | None:
        if values[earlier].len() == 0 or values[later].len() == 0:
            return None
        mean = (values[later] < values[earlier].max()).mean()
        assert isinstance(mean, int | float)  # a non-empty boolean series has a numeric mean
        return float(mean)

    return worst_overlaps(present, share_earlier)


def worst_overlaps(
    present: list[str], share_earlier: Callable[[str, str], float | None]
) -> dict[str, tuple[float, str]]:
    """For each split after the first: the largest ``share_earlier(split, earlier split)`` and
    that earlier split ("" when none overlaps; None: nothing to compare)."""
    out: dict[str, tuple[float, str]] = {}
    for j, later in enumerate(present[1:], start=1):
        overlap, against = 0.0, ""
        for earlier in present[:j]:
            share = share_earlier(later, earlier)
            if share is not None and share > overlap:
                overlap, against = share, earlier
        out[later] = (overlap, against)
    return out


def decide_proportions(worst_gap: float, params: SplitHygiene.Params) -> SubStatus:
    """Largest share difference from the plan: over ``proportion_fail`` fails, over
    ``proportion_tolerance`` warns."""
    if worst_gap > params.proportion_fail:
        return "fail"
    if worst_gap > params.proportion_tolerance:
        return "warn"
    return "pass"


def decide_chronology(worst_overlap: float, params: SplitHygiene.Params) -> SubStatus:
    """Over ``time_overlap_tolerance`` fails (not in time order); any overlap warns."""
    if worst_overlap > params.time_overlap_tolerance:
        return "fail"
    if worst_overlap > 0:
        return "warn"
    return "pass"


def _chronology(ctx: Context, present: list[str], params: SplitHygiene.Params) -> SubCheck | None:
    column = ctx.config.task.time
    if not column:
        return None
    values = {s: _time_values(ctx, s, column).drop_nulls().drop_nans() for s in present}
    overlaps = time_overlaps(values, present)
    return _chronology_verdict(
        column, present, overlaps, lambda: _frame_time_ranges(ctx, present, column), params
    )


def _frame_time_ranges(ctx: Context, present: list[str], column: str) -> TimeRanges:
    display = {s: ctx.frame(s).get_column(column).drop_nulls() for s in present}
    return {
        s: (str(v.min()), str(v.max())) if v.len() else (None, None) for s, v in display.items()
    }


def _chronology_verdict(
    column: str,
    present: list[str],
    overlaps: dict[str, tuple[float, str]],
    ranges: Callable[[], TimeRanges],
    params: SplitHygiene.Params,
    note: str = "",
) -> SubCheck:
    """Decide on the worst overlap and explain it (the time ranges only when it is not pass)."""
    worst = max((o for o, _ in overlaps.values()), default=0.0)
    status = decide_chronology(worst, params)
    metrics = {f"time_overlap_{s}": o for s, (o, _) in overlaps.items()}
    metrics["max_time_overlap"] = worst
    suffix = f" [{note}]" if note else ""
    if status == "pass":
        message = " < ".join(present) + f" in time order ({column})"
        return SubCheck("chronology", "pass", message + suffix, [], metrics)
    problems = [
        f"{o:.1%} of {s} rows are earlier than the end of {against}"
        for s, (o, against) in overlaps.items()
        if o > 0
    ]
    shown = ranges()
    rows = [(s, *shown[s], overlaps[s][0] if s in overlaps else None) for s in present]
    evidence = [
        table(
            f"Time ranges ({column})",
            ["split", "first", "last", "share earlier than a previous split's end"],
            rows,
            note=note,
        )
    ]
    lead = (
        "splits are not in time order: "
        if status == "fail"
        else "time ranges overlap at the edges: "
    )
    return SubCheck("chronology", status, lead + "; ".join(problems) + suffix, evidence, metrics)


def lock_location(ctx: Context | ProfileContext, params: SplitHygiene.Params) -> Path:
    """The lock file: as configured, else ``qa.lock`` beside the config file or here."""
    configured = "lock_file" in ctx.config.check_table("split-hygiene")
    path = Path(params.lock_file)
    if path.is_absolute() or configured or not ctx.config.source:
        return path
    return Path(ctx.config.source).parent / path


def _lock(ctx: Context, params: SplitHygiene.Params) -> SubCheck:
    path = lock_location(ctx, params)
    entry = _locked_test(ctx.has_split("test"), path)
    if isinstance(entry, SubCheck):
        return entry
    now = ctx.cached(("fingerprint", "test"), lambda: fingerprint(ctx.frame("test")))
    return _lock_verdict(path, entry, now)


def _locked_test(has_test: bool, path: Path) -> SubCheck | dict[str, Any]:
    """The lock's test entry, or the passing part when there is nothing to compare."""
    if not has_test:
        return SubCheck("test-lock", "pass", "no test split given; nothing to compare with a lock")
    if not path.is_file():
        return SubCheck(
            "test-lock",
            "pass",
            f"test set not locked (no {path}); run `qa lock` to freeze it",
            metrics={"test_locked": 0},
        )
    entry = read_lock(path)["splits"].get("test")
    if entry is None:
        return SubCheck(
            "test-lock",
            "pass",
            f"test set not locked ({path} has no test entry)",
            metrics={"test_locked": 0},
        )
    return dict(entry)


def _lock_verdict(path: Path, entry: Mapping[str, Any], now: Mapping[str, Any]) -> SubCheck:
    """The test set's fingerprint now against its lock entry."""
    changes = compare(entry, now)
    if changes:
        return _lock_changed(path, entry, changes, now["sha256"])
    note = ""
    if entry.get("ordered_sha256") and entry["ordered_sha256"] != now["ordered_sha256"]:
        note = " (rows reordered, which does not matter)"
    return SubCheck(
        "test-lock",
        "pass",
        f"test set matches the lock in {path.name} ({now['rows']:,} rows, sha256 "
        f"{now['sha256'][:12]}){note}",
        metrics={"test_locked": 1, "test_matches_lock": 1},
    )


def _lock_changed(
    path: Path,
    entry: Mapping[str, Any],
    changes: list[tuple[str, str, str]],
    now_sha256: str | None,
) -> SubCheck:
    """Fail, naming the parts that changed (``now_sha256`` None: contents not fingerprinted)."""
    parts = sorted({c[0] for c in changes}, key=("columns", "dtype", "rows", "contents").index)
    summary = "; ".join(_describe(*change) for change in changes)
    now = f"now {now_sha256[:16]}…" if now_sha256 else "contents not fingerprinted on profiles"
    evidence = [
        table(
            f"Test set vs its lock ({path})",
            ["part", "locked", "now"],
            changes,
            note=f"locked sha256 {entry['sha256'][:16]}…, {now}",
        )
    ]
    return SubCheck(
        "test-lock",
        "fail",
        f"the test set changed since it was locked ({', '.join(parts)} changed): "
        f"{summary}. If the change is intended, run `qa lock` again",
        evidence,
        {"test_locked": 1, "test_matches_lock": 0},
    )


def _describe(part: str, old: str, new: str) -> str:
    if part == "columns":
        return "columns " + (old if old != "absent" else new)
    if part in ("rows", "dtype"):
        return f"{part} {old} -> {new}"
    return new


# --------------------------------------------------------------------------- on profiles
def _profile_chronology(
    pctx: ProfileContext, present: list[str], params: SplitHygiene.Params
) -> SubCheck | None:
    """Time order from the time column's profiles (numbers and dates), else from the sample."""
    column = pctx.config.task.time
    if not column:
        return None
    profiles = {s: _time_profile(pctx, s, column) for s in present}
    numeric = {s: p for s, p in profiles.items() if p is not None}
    if len(numeric) == len(present):
        return _numeric_chronology(pctx, numeric, present, column, params)
    if pctx.sample is None:
        return SubCheck(
            "chronology",
            "skip",
            f"not checked: the time column {column!r} is not a date or a number in every "
            "split; ordering its values needs rows, and a stored reference holds none",
        )
    part = _chronology(pctx.sample, present, params)
    note = pctx.sample_note(*present)
    if part is not None and note:
        part.message += f" [on {note}]"
    return part


def _time_profile(pctx: ProfileContext, split: str, column: str) -> NumericProfile | None:
    """The time column's numeric profile in ``split``; None when it is text (ordered on rows).
    A missing column or a duration / time of day is refused as the in-memory path does."""
    profile = pctx.profile(split)
    if column not in profile.columns:
        raise DataError(f"task.time: column {column!r} not found in the {split} split")
    dtype = profile.dtypes.get(column, "")
    if dtype.startswith(("Duration", "Time")):
        raise DataError(
            f"task.time: column {column!r} in {split} is {dtype}, not a date, time or number"
        )
    return pctx.numeric(split, column)


def _numeric_chronology(
    pctx: ProfileContext,
    profiles: dict[str, NumericProfile],
    present: list[str],
    column: str,
    params: SplitHygiene.Params,
) -> SubCheck:
    """Overlap shares from each split's range and histogram on train's edges."""
    edges = np.asarray(pctx.profiles.spec.column(column).edges, dtype=np.float64)
    methods: dict[str, set[str]] = {}  # how the shares were found -> the later splits

    def share(later: str, earlier: str) -> float | None:
        found, method = profile_share_earlier(
            profiles[later], profiles[earlier], edges, lambda: _sample_times(pctx, later, column)
        )
        methods.setdefault(method, set()).add(later)
        return found

    overlaps = worst_overlaps(present, share)
    dtypes = {s: pctx.profile(s).dtypes.get(column, "") for s in present}

    def ranges() -> TimeRanges:
        return {
            s: (_shown_time(p.min, dtypes[s]), _shown_time(p.max, dtypes[s]))
            for s, p in profiles.items()
        }

    note = _overlap_note(methods, pctx.sample_note(*sorted(methods.get("sample", ()))))
    return _chronology_verdict(column, present, overlaps, ranges, params, note)


def profile_share_earlier(
    later: NumericProfile,
    earlier: NumericProfile,
    edges: np.ndarray,
    sample: Callable[[], np.ndarray | None],
) -> tuple[float | None, str]:
    """Share of ``later``'s values below ``earlier``'s last value, and how it was found:
    ``exact`` (ranges, or a bin edge at the cut), ``sample`` (inside the one bin holding the
    cut, from the later split's sampled values) or ``histogram`` (that bin read as uniform)."""
    total = later.count + later.pos_inf + later.neg_inf
    cut = _last_value(earlier)
    if total == 0 or cut is None:
        return None, "exact"
    low, high, (bin_low, bin_high) = rows_before(later, cut, edges)
    if low == high:
        return low / total, "exact"
    values = sample()
    if values is not None:
        inside = values[(values >= bin_low) & (values < bin_high)]
        if len(inside):
            return (low + (high - low) * float(np.mean(inside < cut))) / total, "sample"
    start = max(bin_low, later.min if later.min is not None else bin_low)
    stop = min(bin_high, later.max if later.max is not None else bin_high)
    fraction = min(max((cut - start) / (stop - start), 0.0), 1.0) if stop > start else 0.5
    return (low + (high - low) * fraction) / total, "histogram"


def rows_before(
    profile: NumericProfile, cut: float, edges: np.ndarray
) -> tuple[int, int, tuple[float, float]]:
    """Bounds on the count of values below ``cut`` (equal when exact) and the bin that holds
    ``cut`` when they differ. Bins: ``(-inf, e0)``, ``[e0, e1)``, …, ``[ek, +inf]``."""
    everything = (-np.inf, np.inf)
    if cut == np.inf:
        below = profile.count + profile.neg_inf
        return below, below, everything
    if cut == -np.inf:
        return 0, 0, everything
    if profile.count == 0 or (profile.min is not None and profile.min >= cut):
        return profile.neg_inf, profile.neg_inf, everything
    if profile.max is not None and profile.max < cut:
        below = profile.count + profile.neg_inf
        return below, below, everything
    if not len(edges) or not profile.hist:
        return profile.neg_inf, profile.neg_inf + profile.count, everything
    finite = np.asarray(profile.hist, dtype=np.int64)
    finite[0] -= profile.neg_inf
    finite[-1] -= profile.pos_inf
    j = int(np.searchsorted(edges, cut, side="right"))
    sure = profile.neg_inf + int(finite[:j].sum())
    if j > 0 and edges[j - 1] == cut:
        return sure, sure, everything
    bin_low = float(edges[j - 1]) if j > 0 else -np.inf
    bin_high = float(edges[j]) if j < len(edges) else np.inf
    return sure, sure + int(finite[j]), (bin_low, bin_high)


def _last_value(profile: NumericProfile) -> float | None:
    """A split's last time value (infinities included, as the in-memory maximum has them)."""
    if profile.pos_inf:
        return float(np.inf)
    if profile.max is not None:
        return profile.max
    return float(-np.inf) if profile.neg_inf else None


def _sample_times(pctx: ProfileContext, split: str, column: str) -> np.ndarray | None:
    """The split's sampled time values on the profile's scale (epoch seconds), if sampled."""
    from qa.engines import as_numbers

    sample = pctx.sample
    if sample is None or not sample.has_split(split) or column not in sample.frame(split).columns:
        return None
    values = as_numbers(sample.frame(split).get_column(column))
    return values[np.isfinite(values)]


def _overlap_note(methods: Mapping[str, set[str]], sample_note: str) -> str:
    """How the overlap shares were found, when not all exactly (a whole split's sample is)."""
    if "histogram" in methods:
        return (
            "an overlap between splits after train is estimated inside one histogram bin "
            "(no rows of the splits)"
        )
    if "sample" in methods and sample_note:
        return f"an overlap between splits after train is read inside one bin on {sample_note}"
    return ""


def _shown_time(seconds: float | None, dtype: str) -> str | None:
    """A profile's time value (epoch seconds for dates) as the in-memory evidence shows it."""
    if seconds is None:
        return None
    if dtype.startswith(("Date", "Datetime")):
        instant = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=round(seconds * 1e6))
        return str(instant.date()) if dtype == "Date" else str(instant)
    if dtype.startswith(("Int", "UInt")):
        return str(int(seconds))
    return str(seconds)


def _profile_lock(pctx: ProfileContext, params: SplitHygiene.Params) -> SubCheck:
    """Rows and columns against the lock exactly; contents when the sample is the whole split."""
    path = lock_location(pctx, params)
    entry = _locked_test(pctx.has_split("test"), path)
    if isinstance(entry, SubCheck):
        return entry
    changes = _shape_changes(entry, pctx.profile("test"), pctx.engine)
    if changes:
        return _lock_changed(path, entry, changes, None)
    taken, total = pctx.sampled.get("test", (0, pctx.rows("test")))
    if pctx.sample is not None and taken == total:
        return _lock_verdict(path, entry, fingerprint(pctx.sample.frame("test")))
    if pctx.sample is None:
        why = "a run against a stored reference reads no rows to fingerprint"
    else:
        why = (
            f"the engine sampled {taken:,} of {total:,} test rows and the fingerprint needs "
            f"every row (set [run] sample_rows to at least {total:,} to compare them)"
        )
    return SubCheck(
        "test-lock",
        "skip",
        f"rows ({total:,}) and columns match the lock in {path.name}; contents not checked: " + why,
        metrics={"test_locked": 1},
    )


def _shape_changes(
    entry: Mapping[str, Any], profile: Profile, engine: str
) -> list[tuple[str, str, str]]:
    """Row count, columns and (polars engine) dtypes of the test profile against the lock."""
    locked = dict(entry["columns"])
    columns = {**profile.dtypes, **profile.extra_columns}
    if engine != "polars":  # other engines name types their own way: compare names only
        columns = {n: locked.get(n, d) for n, d in columns.items()}
    now = {
        "rows": profile.rows,
        "columns": sorted([n, d] for n, d in columns.items()),
        "sha256": "",
        "column_sha256": entry.get("column_sha256") or {},
    }
    return [c for c in compare(entry, now) if c[0] != "contents"]
