"""The verdict: statuses + severities + waivers -> pass / fail / error.

- A ``fail`` from a check whose severity is ``warning`` counts as ``warn``.
- An active waiver turns a ``fail`` into ``waived`` (with its reason and owner). A waiver with
  ``match`` waives only when every subject at fault (column, class, detector) matches it.
- An expired waiver waives nothing and is reported as a failure; a waiver that matched nothing
  is reported as a warning, so stale waivers do not pile up.
- Verdict: any ``error`` -> error (exit 2); else any ``fail`` -> fail (exit 1); else pass.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import replace

from qa.base import CheckResult, table
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


def apply_waivers(
    results: Sequence[CheckResult], waivers: Sequence[Waiver], today: dt.date | None = None
) -> tuple[list[CheckResult], list[str]]:
    """Return the results with waivers applied, plus notes about expired or unused waivers."""
    today = today or dt.date.today()
    used: set[int] = set()
    expired_hits: list[tuple[Waiver, CheckResult]] = []
    out = []
    for result in results:
        if result.status == "fail":
            for i, waiver in enumerate(waivers):
                if not _matches(waiver, result):
                    continue
                used.add(i)
                if waiver.active(today):
                    result = replace(result, status="waived", waiver=waiver.to_dict())
                    break
                expired_hits.append((waiver, result))
        out.append(result)
    notes = []
    rows = []
    for waiver, result in expired_hits:
        notes.append(
            f"waiver for {waiver.check} (owner {waiver.owner}) expired on {waiver.expires}; "
            f"it no longer waives: {result.message}"
        )
        rows.append((waiver.check, waiver.match or "", waiver.owner, str(waiver.expires), "expired"))
    for i, waiver in enumerate(waivers):
        if i in used:
            continue
        state = "expired" if not waiver.active(today) else "matched nothing"
        notes.append(f"waiver for {waiver.check} (owner {waiver.owner}) {state}; remove it")
        rows.append((waiver.check, waiver.match or "", waiver.owner,
                     str(waiver.expires or ""), state))
    if waivers:
        out.append(_waivers_result(waivers, expired_hits, rows))
    return out, notes


def _waivers_result(
    waivers: Sequence[Waiver], expired_hits: list[tuple[Waiver, CheckResult]], rows: list[tuple]
) -> CheckResult:
    if expired_hits:
        status, message = "fail", (
            f"{len(expired_hits)} failing check(s) were covered only by an expired waiver"
        )
    elif rows:
        status, message = "warn", f"{len(rows)} waiver(s) are stale (expired or matched nothing)"
    else:
        status, message = "pass", f"all {len(waivers)} waiver(s) are active and in use"
    evidence = (
        (table("Waivers needing attention", ["check", "match", "owner", "expires", "state"], rows),)
        if rows else ()
    )
    return CheckResult(
        id=WAIVERS_CHECK_ID,
        title="Waivers are current",
        status=status,
        severity="error",
        message=message,
        metrics={"waivers": len(waivers), "expired_in_use": len(expired_hits),
                 "stale": len(rows) - len(expired_hits)},
        evidence=evidence,
        remedy=("Fix the waived problem or renew the waiver with a new expiry date and reason; "
                "delete waivers that match nothing.") if status != "pass" else "",
        subjects=tuple(sorted({w.check for w, _ in expired_hits})),
    )


def verdict(results: Sequence[CheckResult]) -> str:
    statuses = {r.status for r in results}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "fail"
    return "pass"
