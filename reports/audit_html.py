"""The label-audit sheet as a printable page: ``render(sheet) -> str``.

The same blind sheet as ``label-audit.csv`` (no part, no suggested label), self-contained (inline
CSS, no script, no external resource) so a reviewer can print it and mark the verdicts by hand.
Column names and values are untrusted text, so the jinja2 environment autoescapes. Like every
renderer it formats what it is given: a plain mapping the user-facing layer builds from the
sheet (``columns``, ``rows``, ``split``, ``target``, ``created_at``, ``split_sha256``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qa.reports.html import environment

TEMPLATE = "label-audit.html.j2"
#: The sheet's columns the reviewer fills in (shown as empty boxes).
FILL_IN = ("verdict", "correct_label", "note")


def render(sheet: Mapping[str, Any]) -> str:
    """The printable, blind review sheet."""
    columns = list(sheet["columns"])
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            columns=columns,
            rows=[list(row) for row in sheet["rows"]],
            fill_in=[name in FILL_IN for name in columns],
            split=str(sheet.get("split", "")),
            target=str(sheet.get("target", "")),
            created_at=str(sheet.get("created_at", "")),
            split_sha256=str(sheet.get("split_sha256", "")),
        )
    )
