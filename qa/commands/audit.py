"""``qa audit``: the human label audit — a blind review sheet out, a verified error rate in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from qa.commands.options import data_options, data_overrides
from qa.errors import DataError


@click.group()
def audit() -> None:
    """Audit the labels by hand: `labels` writes a blind review sheet, `score` reads it back."""


@audit.command("labels")
@data_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="label-audit",
    show_default=True,
    help="Folder for label-audit.csv, label-audit.html and label-audit.meta.json.",
)
@click.option(
    "--random",
    "n_random",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Rows of the seeded random sample (estimates the error rate; capped at the split).",
)
@click.option(
    "--suspects",
    "n_suspects",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Top label-noise suspects added beside the random sample (measure the flags' precision).",
)
@click.option(
    "--split",
    type=click.Choice(("train", "validation", "test")),
    default="train",
    show_default=True,
    help="The labelled split to audit.",
)
@click.option("--seed", type=int, help="Seed of the sample and the shuffle (default [run] seed).")
def labels(
    config_path: str | None,
    train: str | None,
    validation: str | None,
    test: str | None,
    production: str | None,
    target: str | None,
    task: str | None,
    out_dir: str,
    n_random: int,
    n_suspects: int,
    split: str,
    seed: int | None,
) -> int:
    """Write a blind label-review sheet: a random sample plus the top suspects, shuffled."""
    from qa.api import label_audit
    from qa.config import load_config
    from qa.reports.audit_html import render

    overrides = {
        **data_overrides(train, validation, test, production, target, task),
        "run": {"seed": seed},
    }
    config = load_config(config_path, overrides)
    click.echo(
        f"qa audit labels: fitting out-of-fold models on train to rank suspects in {split} …",
        err=True,
    )
    sheet = label_audit(config, split=split, n_random=n_random, n_suspects=n_suspects)
    written = sheet.write(out_dir)
    html = Path(out_dir) / "label-audit.html"
    blind = {
        "columns": sheet.columns,
        "rows": sheet.rows,
        **{k: sheet.meta[k] for k in ("split", "target", "created_at", "split_sha256")},
    }
    try:
        html.write_text(render(blind), encoding="utf-8")
    except OSError as exc:
        raise DataError(f"--out: cannot write {html}: {exc.strerror or exc}") from None
    parts = sheet.meta["parts"]
    click.echo(
        f"{len(sheet.rows)} rows to review ({len(parts['random'])} random, "
        f"{len(parts['suspect'])} suspects, shuffled together; the sheet does not say which). "
        f"Fill in the verdict column (correct / wrong / unsure), then run "
        f"`qa audit score {written['sheet']}`."
    )
    for path in (written["sheet"], html, written["meta"]):
        click.echo(f"wrote {path}", err=True)
    return 0


@audit.command("score")
@click.argument("sheet", type=click.Path(dir_okay=False))
@click.option(
    "--meta",
    "meta_path",
    type=click.Path(dir_okay=False),
    help="The sidecar written with the sheet (default: label-audit.meta.json beside it).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Where to write the result (default: label-audit.json beside the sheet).",
)
@click.option(
    "--reviewer",
    help="Who reviewed the sheet (name or email), recorded in the result and the report.",
)
def score(sheet: str, meta_path: str | None, out_path: str | None, reviewer: str | None) -> int:
    """Score a filled sheet: verified error rate and the flags' precision, with 95 % intervals."""
    from qa.audit import RESULT_NAME, default_meta_path, read_meta, score_sheet, summary

    sheet_path = Path(sheet)
    meta = read_meta(meta_path or default_meta_path(sheet_path))
    result = score_sheet(sheet_path, meta, reviewer=reviewer)
    out = Path(out_path) if out_path else sheet_path.with_name(RESULT_NAME)
    try:
        out.write_text(
            json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise DataError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    click.echo(summary(result))
    click.echo(f"wrote {out}", err=True)
    sys.stdout.flush()
    return 0
