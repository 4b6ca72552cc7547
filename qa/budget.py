"""The gate's false-alarm budget: one rate for the whole gate, split across the checks that test.

The promise: on clean data and a sound model, the gate fails at most ``[run] false_alarm_rate``
(default 0.02) of runs. Every fail rule that rests on a statistical test draws on that budget.
A check declares how many such fail rules it has (``Check.fail_tests``); each check that will
run with severity ``error`` gets a share in proportion to it, and splits its share across its
own tests (Bonferroni, or Benjamini–Hochberg within a family of related tests). By the union
bound the chance that any fail rule fires by luck on a clean run is at most the sum of the
shares, the budget. Warn rules keep their own levels: a warning never fails the gate.

A fail also needs a difference large enough to matter (effect sizes, practical margins per
metric): the budget bounds luck, the margins keep a large sample from failing a trivial gap.
"""

from __future__ import annotations

from collections.abc import Mapping

#: The gate's default false-alarm rate: at most one clean run in fifty fails.
DEFAULT_FALSE_ALARM_RATE = 0.02


def split_budget(rate: float, weights: Mapping[str, int]) -> dict[str, float]:
    """Each check's share of ``rate``, in proportion to its number of testing fail rules.

    Checks with weight 0 (deterministic fail rules only) get no share and are left out.
    """
    total = sum(w for w in weights.values() if w > 0)
    if total == 0:
        return {}
    return {cid: rate * w / total for cid, w in weights.items() if w > 0}


def per_test(share: float, n_tests: int) -> float:
    """A check's share split evenly across ``n_tests`` tests (Bonferroni); the whole share
    when there is at most one."""
    return share / max(1, n_tests)


def more_rows_needed(n: int, detectable: float, target: float) -> int | None:
    """Rows to add so an effect of ``target`` becomes detectable where ``n`` rows detect only
    ``detectable``: standard errors shrink as 1/sqrt(n), so n * (detectable / target)^2 rows
    are needed. None when nothing is detectable (``detectable`` is infinite or not positive)."""
    if not (0 < detectable < float("inf")) or target <= 0:
        return None
    return max(0, int(-(-n * (detectable / target) ** 2 // 1)) - n)


def underpowered_note(n: int, unit: str, detectable: str, needed: int | None, target: str) -> str:
    """The one wording every check uses when the data cannot reach a verdict at its share:
    ``underpowered: with 180 test rows only a gap of 0.08 or more is detectable at the gate's
    false-alarm budget; about 1,260 more test rows would detect 0.01``."""
    head = f"underpowered: with {n:,} {unit} only {detectable} is detectable at the gate's "
    head += "false-alarm budget"
    if needed is None:
        return f"{head}; no number of {unit} would detect {target}"
    return f"{head}; about {needed:,} more {unit} would detect {target}"
