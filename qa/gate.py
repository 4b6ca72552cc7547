"""The verdict: statuses + severities + waivers -> pass / fail / error.

- A ``fail`` from a check whose severity is ``warning`` counts as ``warn``.
- An active waiver turns a ``fail`` (or ``warn``) into ``waived`` (with its reason and owner).
  A waiver with ``match`` waives only when every subject at fault (column, class, detector)
  matches it (fnmatch pattern); an ``error`` is never waived.
- An expired waiver waives nothing and is reported as a failure; a waiver that matched nothing
  is reported as a warning, so stale waivers do not pile up.
- Verdict: any ``error`` -> error (exit 2); else any ``fail`` -> fail (exit 1); else pass.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import replace

from qa.base import CheckResult, Status, table
from qa.config import Waiver

WAIVERS_CHECK_ID = "waivers"


def apply_severity(result: CheckResult) -> CheckResult:
    if result.status == "fail" and result.severity == "warning":
        return replace(result, status="warn", message=f"{result.message} (severity: warning)")
    return result


def _matches(waiver: Waiver, result: CheckResult) -> bool:
    if waiver.check != result.id:
        return False
    if waiver.match is None:
        return True
    if not result.subjects:
        return False
    return all(fnmatch.fnmatchcase(s, waiver.match) for s in result.subjects)


#: Statuses a waiver can cover. An ``error`` (the check could not run) is never waived.
WAIVABLE = ("fail", "warn")


def apply_waivers(
    results: Sequence[CheckResult], waivers: Sequence[Waiver], today: dt.date | None = None
) -> tuple[list[CheckResult], list[str]]:
    """Return the results with waivers applied, plus notes about expired or unused waivers.

    The first active waiver that matches a failing (or warning) result turns it into ``waived``.
    Every expired waiver is reported as a failure of the synthetic ``waivers`` result, whether or
    not its check still fails; an active waiver whose check ran and that covered nothing is a
    warning. Waivers for checks that did not run (``--only``, skipped) are left alone.
    """
    today = today or dt.date.today()
    used: set[int] = set()
    expired_hits: list[tuple[Waiver, CheckResult]] = []
    ran = {r.id for r in results if r.status != "skip"}
    out = []
    for result in results:
        if result.status in WAIVABLE:
            matching = [(i, w) for i, w in enumerate(waivers) if _matches(w, result)]
            used.update(i for i, _ in matching)
            active = next((w for _, w in matching if w.active(today)), None)
            if active is not None:
                result = replace(result, status="waived", waiver=active.to_dict())
            else:
                expired_hits.extend((w, result) for _, w in matching)
        out.append(result)
    notes = []
    rows = []
    for waiver, result in expired_hits:
        notes.append(
            f"waiver for {waiver.check} (owner {waiver.owner}) expired on {waiver.expires}; "
            f"it no longer waives: {result.message}"
        )
        rows.append(
            (
                waiver.check,
                waiver.match or "",
                waiver.owner,
                str(waiver.expires),
                "expired; the check still fails",
            )
        )
    for i, waiver in enumerate(waivers):
        if i in used:
            continue
        if not waiver.active(today):
            state = "expired"
        elif waiver.check in ran:
            state = "matched nothing"
        else:
            continue
        notes.append(f"waiver for {waiver.check} (owner {waiver.owner}) {state}; remove it")
        rows.append(
            (waiver.check, waiver.match or "", waiver.owner, str(waiver.expires or ""), state)
        )
    if waivers:
        out.append(_waivers_result(waivers, today, expired_hits, rows))
    return out, notes


def _waivers_result(
    waivers: Sequence[Waiver],
    today: dt.date,
    expired_hits: list[tuple[Waiver, CheckResult]],
    rows: list[tuple],
) -> CheckResult:
    expired = [w for w in waivers if not w.active(today)]
    stale = len(rows) - len(expired_hits)
    status: Status
    if expired:
        status = "fail"
        message = f"{len(expired)} waiver(s) have expired and waive nothing: " + ", ".join(
            f"{w.check} (owner {w.owner}, expired {w.expires})" for w in expired[:5]
        )
        if expired_hits:
            message += f"; {len(expired_hits)} failing check(s) were covered only by them"
    elif rows:
        status, message = "warn", f"{len(rows)} waiver(s) matched nothing; remove them"
    else:
        status, message = "pass", f"all {len(waivers)} waiver(s) are active"
    evidence = (
        (table("Waivers needing attention", ["check", "match", "owner", "expires", "state"], rows),)
        if rows
        else ()
    )
    return CheckResult(
        id=WAIVERS_CHECK_ID,
        title="Waivers are current",
        status=status,
        severity="error",
        message=message,
        metrics={
            "waivers": len(waivers),
            "expired": len(expired),
            "expired_in_use": len(expired_hits),
            "stale": stale,
        },
        evidence=evidence,
        remedy=(
            "Fix the waived problem, or renew the waiver with a new expiry date and reason; "
            "delete waivers that have expired or match nothing."
        )
        if status != "pass"
        else "",
        subjects=tuple(sorted({w.check for w in expired})),
    )


def verdict(results: Sequence[CheckResult]) -> str:
    statuses = {r.status for r in results}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "fail"
    return "pass"
