"""``qa check``: run the gate and write the reports."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from qa.base import CheckResult
from qa.commands.options import (
    data_options,
    data_overrides,
    engine_options,
    parse_predictions,
    predictions_option,
)
from qa.config import FORMATS, load_config


def split_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


class StderrProgress:
    """One line per check on stderr: what is running, then its status and time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()

    def __call__(self, index: int, total: int, check_id: str, result: CheckResult | None) -> None:
        if not self.enabled:
            return
        if result is None:
            click.echo(f"[{index}/{total}] {check_id} …", err=True, nl=False)
            return
        click.echo(f" {result.status} ({result.duration_s:.1f}s)", err=True)


@click.command()
@data_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder for the reports (default qa-reports/).",
)
@click.option("--format", "formats", help=f"Comma-separated subset of {','.join(FORMATS)}.")
@click.option("--only", help="Comma-separated check ids to run (the others are not run).")
@click.option("--skip", help="Comma-separated check ids not to run.")
@predictions_option("A prediction file for a split; repeatable.")
@click.option("--model", "artifact", type=click.Path(), help="Model artifact to predict with.")
@click.option("--history", type=click.Path(), help="Training history file (CSV or JSON).")
@click.option(
    "--trust-model",
    is_flag=True,
    help="Allow pickle/joblib models, which run code when loaded. Only for files you trust.",
)
@click.option("--seed", type=int, help="Seed for every random step (default 0).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary table.")
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    help="A saved report.json to compare with: adds the `regression` result and a diff.",
)
@click.option(
    "--baseline-tolerance",
    type=click.FloatRange(min=0),
    help="Wrong-way move a metric may make against the baseline (default 0.01).",
)
@click.option(
    "--ci",
    "ci",
    type=click.Choice(["auto", "github", "none"]),
    default="auto",
    show_default=True,
    help="CI integration: github writes the step summary, annotations and outputs; "
    "auto means github when GITHUB_ACTIONS=true.",
)
@click.option("--signoff", is_flag=True, help="Also write signoff.html and signoff.json.")
@engine_options
@click.option(
    "--reference",
    type=click.Path(dir_okay=False),
    help="A stored reference profile (qa profile) standing in for train: judge --production "
    "(or --test) against it without the training data.",
)
def check(
    config_path: str | None,
    out_dir: str | None,
    formats: str | None,
    only: str | None,
    skip: str | None,
    train: str | None,
    validation: str | None,
    test: str | None,
    production: str | None,
    target: str | None,
    task: str | None,
    predictions: tuple[str, ...],
    artifact: str | None,
    history: str | None,
    trust_model: bool,
    seed: int | None,
    quiet: bool,
    baseline: str | None = None,
    baseline_tolerance: float | None = None,
    ci: str = "auto",
    signoff: bool = False,
    engine: str | None = None,
    spark_master: str | None = None,
    sample_rows: int | None = None,
    reference: str | None = None,
) -> int:
    """Run the gate. Exit 0 pass, 1 fail, 2 could not run."""
    from qa.api import run_gate
    from qa.reports import write_reports
    from qa.reports.terminal import render as render_terminal

    overrides: dict[str, Any] = {
        **data_overrides(train, validation, test, production, target, task),
        "model": {
            "artifact": artifact,
            "history": history,
            "trust": trust_model or None,
            "predictions": parse_predictions(predictions) or None,
        },
        "run": {
            "seed": seed,
            "out": out_dir,
            "formats": split_list(formats),
            "only": split_list(only),
            "skip": split_list(skip),
            "baseline_tolerance": baseline_tolerance,
            "engine": engine,
            "spark_master": spark_master,
            "sample_rows": sample_rows,
            "reference": reference,
        },
    }
    config = load_config(config_path, overrides)
    if not quiet and (config.run.engine or config.run.reference):
        against = f" against {config.run.reference}" if config.run.reference else ""
        click.echo(
            f"qa check: profiling the splits with the {config.run.engine or 'polars'} engine"
            f"{against} (streamed; row-needing parts on seeded samples of "
            f"{config.run.sample_rows:,} rows) …",
            err=True,
        )
    report = run_gate(config, progress=StderrProgress(not quiet), baseline=baseline)
    written = write_reports(report, config.run.out, config.run.formats)
    if signoff:
        from qa.reports import write_signoff
        from qa.signoff import build_signoff

        written.update(write_signoff(build_signoff(report), config.run.out))
    from qa.ci import SUMMARY_MAX_CHARS, report_github, resolve_mode

    if resolve_mode(ci) == "github":
        from qa.reports.markdown import render as render_markdown

        summary = render_markdown(report, max_chars=SUMMARY_MAX_CHARS)
        report_github(report, config.run.out, written, summary=summary)
    if not quiet:
        click.echo(render_terminal(report))
        for path in written.values():
            click.echo(f"wrote {path}", err=True)
    sys.stdout.flush()
    return report.exit_code
