"""``qa list`` and ``qa explain``: what checks exist and what each one does."""

from __future__ import annotations

import click

from qa.base import explain
from qa.errors import QAError
from qa.registry import load_registry


@click.command("list")
def list_checks() -> None:
    """List every registered check with its package."""
    registry = load_registry()
    width = max((len(cid) for cid in registry), default=10)
    for cid, reg in registry.items():
        origin = "built-in" if reg.builtin else f"{reg.distribution} {reg.version}"
        click.echo(f"{cid:<{width}}  {reg.check.title}  [{origin}]")


@click.command("explain")
@click.argument("check_id")
def explain_check(check_id: str) -> None:
    """Print what a check does, how it decides, its parameters and the remedy."""
    registry = load_registry()
    if check_id not in registry:
        raise QAError(f"{check_id}: unknown check (known: {', '.join(registry)})")
    check_cls = registry[check_id].check
    click.echo(explain(check_cls))
