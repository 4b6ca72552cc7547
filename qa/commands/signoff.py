"""``qa signoff``: run the gate like ``qa check`` and write the sign-off report beside the others.

It takes the same flags and config as ``qa check`` (it *is* ``qa check --signoff``) and writes
``signoff.html`` (prints cleanly to PDF) and ``signoff.json`` into the out folder.
"""

from __future__ import annotations

from typing import Any

import click

from qa.commands.check import check as _check


def _run(**kwargs: Any) -> int:
    return _check.callback(**kwargs, signoff=True)  # type: ignore[misc]


signoff = click.Command(
    "signoff",
    callback=_run,
    params=[p for p in _check.params if p.name != "signoff"],
    help="Run the gate and write signoff.html and signoff.json (plus the usual reports). "
    "Same flags as `qa check`. Exit 0 pass, 1 fail, 2 could not run.",
    short_help="Run the gate and write the sign-off report.",
)
