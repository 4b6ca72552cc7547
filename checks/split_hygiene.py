"""Is the split itself sound, and is the test set the one that was locked?"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from qa.base import Check, CheckResult, Evidence, param, table
from qa.context import Context
from qa.errors import ConfigError, DataError
from qa.lockfile import DEFAULT_LOCK_FILE, compare, fingerprint, read_lock

#: Labelled splits in the order time should run through them.
ORDER = ("train", "validation", "test")
RANK = {"pass": 0, "warn": 1, "fail": 2}
#: A sub-check's status; the check's is the worst of them.
SubStatus = Literal["pass", "warn", "fail"]


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
    dropped or edited row does. Whether the splits are stratified (class shares of validation
    and test against train) is class-imbalance's question, not this check's.

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

    def run(self, ctx: Context, params: Params) -> CheckResult:
        _validate_plan(params.plan)
        present = [s for s in ORDER if ctx.has_split(s)]
        if len(present) < 2:
            return self.skip("only the train split was given; there is no split to check")
        found = [
            _proportions(ctx, present, params),
            _chronology(ctx, present, params),
            _lock(ctx, params),
        ]
        parts = [p for p in found if p is not None]
        status = max((p.status for p in parts), key=RANK.__getitem__)
        metrics: dict[str, Any] = {}
        for p in parts:
            metrics.update(p.metrics)
        thresholds = {
            **(
                {
                    "proportion_tolerance": params.proportion_tolerance,
                    "proportion_fail": params.proportion_fail,
                }
                if params.plan
                else {
                    "min_train_share": params.min_train_share,
                    "min_test_rows": params.min_test_rows,
                }
            ),
            "time_overlap_tolerance": params.time_overlap_tolerance,
        }
        overview = table(
            "Sub-checks",
            ["part", "status", "finding"],
            [(p.name, p.status, p.message) for p in parts],
        )
        evidence = [overview] + [e for p in parts for e in p.evidence]
        bad = [p for p in parts if p.status == status and status != "pass"]
        if bad:
            message = "; ".join(f"{p.name}: {p.message}" for p in bad)
        else:
            message = "; ".join(f"{p.name}: {p.message}" for p in parts)
        return self.result(
            status,
            message,
            metrics=metrics,
            thresholds=thresholds,
            evidence=evidence,
            subjects=[p.name for p in parts if p.status != "pass"],
        )


# --------------------------------------------------------------------------- parts
def _validate_plan(plan: dict[str, float]) -> None:
    for split in plan:
        if split not in ORDER:
            raise ConfigError(
                f"checks.split-hygiene.plan.{split}: unknown split "
                f"(expected {', '.join(ORDER)}; production is not part of the plan)"
            )


def _proportions(ctx: Context, present: list[str], params: SplitHygiene.Params) -> SubCheck:
    rows = {s: ctx.frame(s).height for s in present}
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
    out: dict[str, tuple[float, str]] = {}
    for j, later in enumerate(present[1:], start=1):
        overlap, against = 0.0, ""
        for earlier in present[:j]:
            if values[earlier].len() == 0 or values[later].len() == 0:
                continue
            mean = (values[later] < values[earlier].max()).mean()
            assert isinstance(mean, int | float)  # a non-empty boolean series has a numeric mean
            share = float(mean)
            if share > overlap:
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
    worst = max((o for o, _ in overlaps.values()), default=0.0)
    status = decide_chronology(worst, params)
    metrics = {f"time_overlap_{s}": o for s, (o, _) in overlaps.items()}
    metrics["max_time_overlap"] = worst
    if status == "pass":
        return SubCheck(
            "chronology", "pass", " < ".join(present) + f" in time order ({column})", [], metrics
        )
    problems = [
        f"{o:.1%} of {s} rows are earlier than the end of {against}"
        for s, (o, against) in overlaps.items()
        if o > 0
    ]
    display = {s: ctx.frame(s).get_column(column).drop_nulls() for s in present}
    rows = [
        (
            s,
            str(display[s].min()) if display[s].len() else None,
            str(display[s].max()) if display[s].len() else None,
            overlaps[s][0] if s in overlaps else None,
        )
        for s in present
    ]
    evidence = [
        table(
            f"Time ranges ({column})",
            ["split", "first", "last", "share earlier than a previous split's end"],
            rows,
        )
    ]
    lead = (
        "splits are not in time order: "
        if status == "fail"
        else "time ranges overlap at the edges: "
    )
    return SubCheck("chronology", status, lead + "; ".join(problems), evidence, metrics)


def lock_location(ctx: Context, params: SplitHygiene.Params) -> Path:
    """The lock file: as configured, else ``qa.lock`` beside the config file or here."""
    configured = "lock_file" in ctx.config.check_table("split-hygiene")
    path = Path(params.lock_file)
    if path.is_absolute() or configured or not ctx.config.source:
        return path
    return Path(ctx.config.source).parent / path


def _lock(ctx: Context, params: SplitHygiene.Params) -> SubCheck:
    path = lock_location(ctx, params)
    if not ctx.has_split("test"):
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
    now = ctx.cached(("fingerprint", "test"), lambda: fingerprint(ctx.frame("test")))
    changes = compare(entry, now)
    metrics = {"test_locked": 1, "test_matches_lock": 0 if changes else 1}
    if not changes:
        note = ""
        if entry.get("ordered_sha256") and entry["ordered_sha256"] != now["ordered_sha256"]:
            note = " (rows reordered, which does not matter)"
        return SubCheck(
            "test-lock",
            "pass",
            f"test set matches the lock in {path.name} ({now['rows']:,} rows, sha256 "
            f"{now['sha256'][:12]}){note}",
            metrics=metrics,
        )
    parts = sorted({c[0] for c in changes}, key=("columns", "dtype", "rows", "contents").index)
    summary = "; ".join(_describe(*change) for change in changes)
    evidence = [
        table(
            f"Test set vs its lock ({path})",
            ["part", "locked", "now"],
            changes,
            note=f"locked sha256 {entry['sha256'][:16]}…, now {now['sha256'][:16]}…",
        )
    ]
    return SubCheck(
        "test-lock",
        "fail",
        f"the test set changed since it was locked ({', '.join(parts)} changed): "
        f"{summary}. If the change is intended, run `qa lock` again",
        evidence,
        metrics,
    )


def _describe(part: str, old: str, new: str) -> str:
    if part == "columns":
        return "columns " + (old if old != "absent" else new)
    if part in ("rows", "dtype"):
        return f"{part} {old} -> {new}"
    return new
