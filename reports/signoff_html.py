"""The sign-off page: ``render(document) -> str`` for the document :mod:`qa.signoff` builds.

A printable, self-contained HTML page (inline CSS, no script, no external resource) that prints
cleanly to PDF. Everything in the document is untrusted text (column names, class labels, paths),
so the jinja2 environment autoescapes. Like every renderer it only formats what it is given: it
reads the sign-off document, never the data or the model files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

TEMPLATE = "signoff.html.j2"


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@cache
def environment() -> jinja2.Environment:
    """Templates from the ``qa.reports`` package, autoescaping on, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qa.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    env.filters["pretty_json"] = _pretty_json
    return env


def render(document: Mapping[str, Any]) -> str:
    """The sign-off page for a document built by :func:`qa.signoff.build_signoff`."""
    return environment().get_template(TEMPLATE).render(doc=document)


def render_json(document: Mapping[str, Any]) -> str:
    """``signoff.json``: the document itself."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
