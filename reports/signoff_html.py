"""The sign-off page: ``render(document) -> str`` for the document :mod:`qa.signoff` builds.

A printable, self-contained HTML page (inline CSS, no script, no external resource) that prints
cleanly to PDF. Everything in the document is untrusted text (column names, class labels, paths),
so the jinja2 environment autoescapes. Like every renderer it only formats what it is given: it
reads the sign-off document, never the data or the model files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qa.reports.html import environment

TEMPLATE = "signoff.html.j2"


def render(document: Mapping[str, Any]) -> str:
    """The sign-off page for a document built by :func:`qa.signoff.build_signoff`."""
    return environment().get_template(TEMPLATE).render(doc=document)


def render_json(document: Mapping[str, Any]) -> str:
    """``signoff.json``: the document itself."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
