"""``qa profile``: store a reference profile of the training data (never the data itself)."""

from __future__ import annotations

from pathlib import Path

import click

from qa.commands.options import (
    data_options,
    data_overrides,
    engine_options,
    parse_predictions,
    predictions_option,
)


@click.command()
@data_options
@engine_options
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    default="reference.qaprofile",
    show_default=True,
    help="The reference profile to write (JSON, format qa-profile; schema in qa/schemas).",
)
@predictions_option(
    "A split's prediction file, stored as score histograms (give validation or test too, "
    "so a check against the reference can judge prediction drift); repeatable."
)
def profile(
    config_path: str | None,
    train: str | None,
    validation: str | None,
    test: str | None,
    production: str | None,
    target: str | None,
    task: str | None,
    engine: str | None,
    spark_master: str | None,
    sample_rows: int | None,
    out_path: str,
    predictions: tuple[str, ...] = (),
) -> int:
    """Profile train (and any other split given) and store it as a reference.

    `qa check --reference FILE --production PATH` then judges production against it
    without the training data. With `--predictions test=PATH` (or validation) the reference
    keeps those predictions' score histograms, and `qa check --reference FILE --production
    PATH --predictions production=PRED` judges prediction drift against them.
    """
    from qa import __version__
    from qa.config import load_config
    from qa.profile_context import build_profile_context

    overrides = {
        **data_overrides(train, validation, test, production, target, task),
        "model": {"predictions": parse_predictions(predictions) or None},
        "run": {"engine": engine, "spark_master": spark_master, "sample_rows": sample_rows},
    }
    config = load_config(config_path, overrides)
    click.echo(f"qa profile: profiling with {config.run.engine or 'polars'} …", err=True)
    pctx = build_profile_context(config)
    stored = pctx.profiles
    stored.task = {**stored.task, "type": pctx.task, "classes": pctx.classes}
    stored.created_by = f"qa-gate {__version__}"
    fingerprint = stored.save(out_path)
    rows = ", ".join(
        f"{s} {p.rows:,} rows" + (" with predictions" if p.predictions else "")
        for s, p in stored.splits.items()
    )
    size = Path(out_path).stat().st_size / 1e6
    click.echo(f"wrote {out_path} ({size:.1f} MB; {rows}; fingerprint {fingerprint[:12]})")
    return 0
