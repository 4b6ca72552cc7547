"""A test-only third-party plugin package: one well-behaved check and one that crashes."""

from __future__ import annotations

from dataclasses import dataclass

from qa import Check, CheckResult, param


class RowCount(Check):
    """Counts train rows; passes when there are at least ``min_rows``.

    What it checks
    --------------
    The number of train rows.

    Why it matters
    --------------
    It shows that third-party checks run beside the built-ins.

    How it decides
    --------------
    Pass at or above ``min_rows``, fail below.

    How to fix
    ----------
    Add rows.
    """

    id = "sample/row-count"
    title = "Sample plugin: row count"
    requires = ("train",)

    @dataclass(frozen=True)
    class Params:
        min_rows: int = param(10, "Rows needed to pass.", ge=0)

    def run(self, ctx, params) -> CheckResult:
        rows = ctx.frame("train").height
        status = "pass" if rows >= params.min_rows else "fail"
        return self.result(
            status,
            f"{rows} train rows",
            metrics={"rows": rows},
            thresholds={"min_rows": params.min_rows},
        )


class Crashes(Check):
    """Always raises, to prove a crashing check becomes ``error``.

    What it checks
    --------------
    Nothing.

    Why it matters
    --------------
    A crash must never read as a pass.

    How it decides
    --------------
    It raises.

    How to fix
    ----------
    Nothing to fix.
    """

    id = "sample/crashes"
    title = "Sample plugin: crashes"
    requires = ("train",)

    def run(self, ctx, params) -> CheckResult:
        raise RuntimeError("boom from the sample plugin")


class ClaimsBuiltinId(RowCount):
    """Reuses a built-in id, which the registry must refuse.

    What it checks
    --------------
    Nothing.

    Why it matters
    --------------
    Two checks with one id would make reports ambiguous.

    How it decides
    --------------
    It never runs.

    How to fix
    ----------
    Rename it.
    """

    id = "data-volume"
