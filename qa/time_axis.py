"""How drift, schema and leakage judge a calendar feature that may be the time axis itself.

A Date or Datetime feature (``created_at``) that is not declared ``[task] time`` still moves
forward between a train and a later split: its raw value, and every calendar part whose cycle
is longer than the windows compared (January vs February always differ in month), differ by
when the data was cut, not by who is in it. These helpers say which parts can honestly be
compared and whether a split lies outside train's dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from qa.encoding import DATE_PARTS, DATETIME_PARTS, calendar_part, epoch_seconds, is_calendar

#: Length of one cycle of each calendar part, in seconds.
CALENDAR_CYCLE_S = {"hour": 86_400.0, "weekday": 7 * 86_400.0, "month": 365.25 * 86_400.0}
#: A calendar part is compared only between windows spanning this many of its cycles: a window
#: of 1.5 cycles counts half of the cycle twice (a KS of up to 0.17 from that alone), windows of
#: 3 or more cycles at most 0.07.
MIN_CALENDAR_CYCLES = 3
#: Share of a split's values outside train's first..last instant from which a calendar feature
#: looks like the time axis: most of them (a random split puts about 2 / train rows there; a
#: birth date ten years younger on a fifty-year span about a fifth, and stays a real shift).
TIME_AXIS_SHARE = 0.5


def is_calendar_feature(series: pl.Series) -> bool:
    """A Date or Datetime column (not a Duration or a time of day)."""
    return is_calendar(series.dtype)


def calendar_bounds_s(series: pl.Series) -> tuple[float, float] | None:
    """The first and last value as epoch seconds; None when empty."""
    values = epoch_seconds(series).drop_nulls()
    if values.len() == 0:
        return None
    return _number(values.min()), _number(values.max())


def calendar_span_s(series: pl.Series) -> float:
    """Seconds from the first to the last value (a Date covers its last day); 0 when empty."""
    bounds = calendar_bounds_s(series)
    if bounds is None:
        return 0.0
    first, last = bounds
    return last - first + (86_400.0 if series.dtype == pl.Date else 0.0)


def has_time_of_day(series: pl.Series) -> bool:
    """True for a Datetime with at least one value off midnight (a Date never has one)."""
    if not isinstance(series.dtype, pl.Datetime) or series.null_count() == len(series):
        return False
    return bool((calendar_part(series, "hour") != 0).any() or (series.dt.minute() != 0).any())


def candidate_parts(*series: pl.Series) -> tuple[str, ...]:
    """The encoder's calendar parts of the first series' dtype; ``hour`` only when some series
    has a time of day (a datetime that always says midnight is a date)."""
    first = series[0]
    parts: tuple[str, ...] = DATE_PARTS if first.dtype == pl.Date else DATETIME_PARTS
    if not any(has_time_of_day(s) for s in series):
        parts = tuple(p for p in parts if p != "hour")
    return parts


def comparable_parts(
    parts: Sequence[str], spans_s: Sequence[float], min_cycles: float = MIN_CALENDAR_CYCLES
) -> tuple[str, ...]:
    """The parts whose cycle every window (given by its span in seconds) covers ``min_cycles``
    times; the others differ between two windows by where the windows fall, not by the data."""
    return tuple(p for p in parts if all(s >= min_cycles * CALENDAR_CYCLE_S[p] for s in spans_s))


def beyond_range_share(reference: pl.Series, current: pl.Series) -> float:
    """Share of ``current``'s non-missing values outside ``reference``'s [first, last] (as epoch
    seconds); 0 when either has no values."""
    ref, cur = epoch_seconds(reference).drop_nulls(), epoch_seconds(current).drop_nulls()
    if ref.len() == 0 or cur.len() == 0:
        return 0.0
    low, high = ref.min(), ref.max()
    return _number(((cur < low) | (cur > high)).mean())


def _number(value: object) -> float:
    """A polars scalar known to be a number (the max of a float series, the mean of a boolean
    one) as a float; the stubs type every scalar as any kind of value."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def looks_like_time_axis(beyond_share: float) -> bool:
    """A split whose values mostly lie outside train's dates: the column is the time axis."""
    return beyond_share >= TIME_AXIS_SHARE


def time_range(series: pl.Series) -> tuple[str, str] | None:
    """First and last value as text, None when empty."""
    values = series.drop_nulls()
    if values.len() == 0:
        return None
    return str(values.min()), str(values.max())


def declare_hint(column: str) -> str:
    """The suggestion shown with a time-axis feature."""
    return f'declare [task] time = "{column}" if it orders the rows'


@dataclass(frozen=True)
class CalendarView:
    """How one Date/Datetime feature is judged: is it the time axis, which parts compare."""

    name: str
    #: Share of current values outside train's first..last instant.
    beyond_share: float
    #: Most current values lie outside train's dates: the raw value is not judged.
    time_axis: bool
    #: Calendar parts compared (each window spans enough of their cycles).
    parts: tuple[str, ...]
    #: Calendar parts left out, because a window is shorter than ``calendar_cycles`` cycles.
    skipped: tuple[str, ...]
    reference_range: tuple[str, str] | None = None
    current_range: tuple[str, str] | None = None


def calendar_view(name: str, ref: pl.Series, cur: pl.Series, cycles: float) -> CalendarView:
    """Measure a datetime feature: share beyond train's dates, parts each window can compare."""
    return calendar_view_of(
        name,
        beyond_range_share(ref, cur),
        candidate_parts(ref, cur),
        (calendar_span_s(ref), calendar_span_s(cur)),
        (time_range(ref), time_range(cur)),
        cycles,
    )


def calendar_view_of(
    name: str,
    beyond: float,
    candidates: tuple[str, ...],
    spans_s: tuple[float, float],
    ranges: tuple[tuple[str, str] | None, tuple[str, str] | None],
    cycles: float,
) -> CalendarView:
    """The view from its measures (rows or profiles): the time-axis rule and the parts."""
    parts = comparable_parts(candidates, spans_s, cycles)
    return CalendarView(
        name=name,
        beyond_share=beyond,
        time_axis=looks_like_time_axis(beyond),
        parts=parts,
        skipped=tuple(p for p in candidates if p not in parts),
        reference_range=ranges[0],
        current_range=ranges[1],
    )
