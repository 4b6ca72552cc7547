"""``qa report``: re-render any format from a saved report.json."""

from __future__ import annotations

from pathlib import Path

import click

from qa.config import FORMATS
from qa.errors import ConfigError
from qa.report import Report


@click.command()
@click.argument("report_path", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    default="html",
    show_default=True,
    help=f"One of {', '.join(FORMATS)} or terminal.",
)
@click.option(
    "--output",
    "-o",
    "--out",
    "output",
    type=click.Path(dir_okay=False),
    help="Write here instead of standard output.",
)
def report(report_path: str, fmt: str, output: str | None) -> int:
    """Render REPORT_PATH (a report.json) as another format."""
    from qa.reports import render

    if fmt not in (*FORMATS, "terminal"):
        raise ConfigError(
            f"--format: unknown format {fmt!r} (expected {', '.join(FORMATS)}, terminal)"
        )
    loaded = Report.load(report_path)
    if fmt == "terminal":
        from qa.reports.terminal import render as render_terminal

        text = render_terminal(loaded)
    else:
        text = render(loaded, fmt)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    return 0
