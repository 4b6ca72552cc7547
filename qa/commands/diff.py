"""``qa diff BASE.json HEAD.json``: what moved between two saved reports; exit 1 on a regression."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from qa.bars import format_bars_table, moved_bars, moved_bars_result
from qa.regression import DEFAULT_TOLERANCE, diff_reports, format_diff_table, regressed
from qa.report import Report


@click.command()
@click.argument("base_path", metavar="BASE.json", type=click.Path(dir_okay=False))
@click.argument("head_path", metavar="HEAD.json", type=click.Path(dir_okay=False))
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    help="Wrong-way move a metric may make (default: the head report's "
    f"run.baseline_tolerance, else {DEFAULT_TOLERANCE}).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A text table, or the diff as JSON (the Report.diff shape).",
)
@click.option("--changes-only", is_flag=True, help="Leave out metrics that did not move.")
def diff(
    base_path: str, head_path: str, tolerance: float | None, fmt: str, changes_only: bool
) -> int:
    """Compare HEAD.json with BASE.json, metric by metric.

    Exit 0 when nothing regressed, 1 when a metric moved the wrong way by more than the
    tolerance or a check that passed on BASE fails on HEAD, 2 when a report cannot be read.
    """
    base = Report.load(base_path)
    head = Report.load(head_path)
    if tolerance is None:
        run = head.config.get("run") if isinstance(head.config, dict) else None
        tolerance = float((run or {}).get("baseline_tolerance", DEFAULT_TOLERANCE))
    result = diff_reports(base.checks, head.checks, tolerance=tolerance, baseline_label=base_path)
    bars = moved_bars(base.config, head.config, _check_classes())
    result["moved_bars"] = bars
    loosened = _unwaived_loosened(bars, head.config)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo(format_diff_table(result, only_changes=changes_only), nl=False)
        click.echo(format_bars_table(bars), nl=False)
    bad = regressed(result) or bool(loosened)
    verdict = "REGRESSED" if regressed(result) else "no regression"
    if loosened:
        verdict += f"; {len(loosened)} bar(s) loosened: {', '.join(loosened[:5])}"
    click.echo(f"diff: {verdict}", err=True)
    return 1 if bad else 0


def _check_classes() -> dict[str, Any]:
    from qa.registry import load_registry

    return {check_id: reg.check for check_id, reg in load_registry([]).items()}


def _unwaived_loosened(bars: list[dict[str, Any]], head_config: Mapping[str, Any]) -> list[str]:
    """Loosened bars the head's config does not waive (``check = "moved-bars"``)."""
    from qa.config import parse_config
    from qa.gate import apply_waivers

    result = moved_bars_result(bars, "base")
    if result.status != "fail":
        return []
    waivers = parse_config({"waivers": list(head_config.get("waivers") or [])}).waivers
    waived, _ = apply_waivers([result], waivers)
    return [] if waived[0].status == "waived" else list(result.subjects)
