"""Does anything leak between the splits or from the target? (work in progress)"""

from __future__ import annotations

from dataclasses import dataclass

from qa.base import Check, CheckResult
from qa.context import Context


class Leakage(Check):
    """Leakage between splits and from the target.

    What it checks
    --------------
    Placeholder while the detectors are written.

    Why it matters
    --------------
    Leakage makes test scores lie.

    How it decides
    --------------
    Skips for now.

    How to fix
    ----------
    Nothing yet.
    """

    id = "leakage"
    title = "No leakage between splits or from the target"
    requires = ("train",)

    @dataclass(frozen=True)
    class Params:
        pass

    def run(self, ctx: Context, params: Params) -> CheckResult:
        return self.skip("not implemented yet")
