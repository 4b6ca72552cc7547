"""Is the split itself sound, and is the test set the one that was locked?"""

from __future__ import annotations

from dataclasses import dataclass

from qa.base import Check, CheckResult
from qa.context import Context


class SplitHygiene(Check):
    """Split proportions, stratification, chronological order and a frozen test set.

    What it checks
    --------------
    Work in progress.

    Why it matters
    --------------
    Work in progress.

    How it decides
    --------------
    Work in progress.

    How to fix
    ----------
    Work in progress.
    """

    id = "split-hygiene"
    title = "Sound split, untouched test set"
    requires = ("train",)
    severity = "error"

    @dataclass(frozen=True)
    class Params:
        pass

    def run(self, ctx: Context, params: Params) -> CheckResult:
        return self.skip("not implemented yet")
