"""``qa train``: fit a reference model on train and write what ``qa check`` reads.

Writes into ``--out DIR``:

- the model artifact in a safe format (``model.json`` XGBoost, ``model.skops`` scikit-learn,
  ``model.pt`` TorchScript) and its sidecar ``model.qa.json`` (classes, feature columns,
  category codes);
- ``predictions_<split>.parquet`` for every split given, row-aligned with it: ``prediction``
  and, for classifiers, ``proba_<label>`` for every class;
- ``history.csv`` (epoch, train_loss, val_loss, metrics) when the trainer has one per epoch
  or round against a validation set (xgboost with a validation split, mlp);
- ``model.toml``: a config that ``qa check --config DIR/model.toml`` runs as is ([task], [data]
  and [model] with paths relative to DIR). The ``[model]`` part is printed on stdout with paths
  relative to the current folder, ready to paste into qa.toml.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
import polars as pl

from qa.commands.options import data_options, data_overrides
from qa.config import Config, load_config

if TYPE_CHECKING:
    from qa.context import Context
    from qa.predictions import Predictions
    from qa.trainers.base import FittedModel

TRAINER_CHOICES = ("majority", "linear", "xgboost", "mlp")


@click.command()
@data_options
@click.option(
    "--trainer",
    type=click.Choice(TRAINER_CHOICES),
    required=True,
    help="Which reference model to fit (majority also means 'mean' for regression).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for the model, prediction files, history and model.toml.",
)
@click.option("--seed", type=int, help="Seed for every random step (default 0).")
@click.option(
    "--threads", type=click.IntRange(min=1), help="Threads for fitting (default: all cores)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def train(
    trainer: str,
    out_dir: str,
    config_path: str | None,
    train: str | None,
    validation: str | None,
    test: str | None,
    production: str | None,
    target: str | None,
    task: str | None,
    seed: int | None,
    threads: int | None,
    quiet: bool,
) -> int:
    """Fit a reference model on train; write model, predictions, history and model.toml."""
    from qa.api import build_context
    from qa.trainers.base import get_trainer

    overrides: dict[str, Any] = {
        **data_overrides(train, validation, test, production, target, task),
        "run": {"seed": seed, "threads": threads},
    }
    config = load_config(config_path, overrides)
    ctx = build_context(config)
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    started = time.perf_counter()
    say(f"qa train: fitting {trainer} on {ctx.frame('train').height:,} train rows ({ctx.task})")
    model = get_trainer(trainer).fit(ctx.training_data())
    say(
        f"qa train: fitted in {time.perf_counter() - started:.1f}s"
        + (f" ({model.note})" if model.note else "")
    )
    written = write_outputs(ctx, model, Path(out_dir))
    for path in written.values():
        say(f"wrote {path}")
    if not quiet:
        click.echo(model_snippet(written, Path.cwd()), nl=False)
    sys.stdout.flush()
    return 0


def write_outputs(ctx: Context, model: FittedModel, out: Path) -> dict[str, Path]:
    """Artifact, prediction files, history and model.toml; returns what was written by role."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {"artifact": model.save(out)}
    for split in ctx.splits:
        path = out / f"predictions_{split}.parquet"
        prediction_frame(ctx, ctx.fitted_predictions(model, split)).write_parquet(path)
        written[f"predictions.{split}"] = path
    if model.history and all("val_loss" in row for row in model.history):
        path = out / "history.csv"
        pl.DataFrame(model.history).write_csv(path)
        written["history"] = path
    toml_path = out / "model.toml"
    toml_path.write_text(config_toml(ctx.config, ctx.task, written, out), encoding="utf-8")
    written["config"] = toml_path
    return written


def prediction_frame(ctx: Context, preds: Predictions) -> pl.DataFrame:
    """The contract's prediction file for one split: ``prediction`` (+ ``proba_<label>``)."""
    if not ctx.is_classification:
        return pl.DataFrame({"prediction": np.asarray(preds.values, dtype=np.float64)})
    if preds.labels is None:
        raise ValueError("classifier predictions without labels")
    labels = label_column(ctx, preds.labels)
    columns: dict[str, Any] = {"prediction": labels}
    if preds.proba is not None:
        for j, name in enumerate(ctx.class_names):
            columns[f"proba_{name}"] = preds.proba[:, j]
    return pl.DataFrame(columns)


def label_column(ctx: Context, indices: np.ndarray) -> pl.Series:
    """Predicted labels as the target's values; as text when that is the only lossless form
    (booleans, floats), since prediction files are matched on ``str(label)``."""
    values = [ctx.classes[i] for i in indices]
    if all(isinstance(c, int | str) and not isinstance(c, bool) for c in ctx.classes):
        return pl.Series("prediction", values)
    names = ctx.class_names
    return pl.Series("prediction", [names[i] for i in indices], dtype=pl.String)


# --------------------------------------------------------------------------- TOML
def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _toml_key(key: str) -> str:
    return (
        key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else _toml_str(key)
    )


def _rel(path: str | Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def _model_tables(written: Mapping[str, Path], base: Path) -> list[str]:
    lines = ["[model]", f"artifact = {_toml_str(_rel(written['artifact'], base))}"]
    if "history" in written:
        lines.append(f"history = {_toml_str(_rel(written['history'], base))}")
    lines += ["", "[model.predictions]"]
    for role, path in written.items():
        if role.startswith("predictions."):
            lines.append(f"{role.split('.', 1)[1]} = {_toml_str(_rel(path, base))}")
    return lines


def model_snippet(written: Mapping[str, Path], base: Path) -> str:
    """The [model] tables with paths relative to ``base``, to paste into qa.toml there.

    Use either ``artifact`` or the prediction files: with prediction files given, qa check
    reads them and the artifact is kept for reference.
    """
    return "\n".join(_model_tables(written, base)) + "\n"


def config_toml(config: Config, task: str, written: Mapping[str, Path], out: Path) -> str:
    """A complete config for ``qa check --config out/model.toml`` (paths relative to ``out``)."""
    lines = [
        "# Written by `qa train`; run `qa check --config "
        + _rel(out / "model.toml", Path.cwd())
        + "` or paste the [model] tables into qa.toml.",
        "",
        "[task]",
        f"type = {_toml_str(task)}",
    ]
    for key in ("target", "id", "time", "group"):
        value = getattr(config.task, key)
        if value:
            lines.append(f"{key} = {_toml_str(value)}")
    positive = config.task.positive_label
    if positive is not None:
        lines.append(
            "positive_label = "
            + (
                ("true" if positive else "false")
                if isinstance(positive, bool)
                else str(positive)
                if isinstance(positive, int)
                else _toml_str(str(positive))
            )
        )
    paths = config.data.paths()
    if paths and all(not _is_memory(p) for p in paths.values()):
        lines += ["", "[data]"] + [
            f"{_toml_key(s)} = {_toml_str(_rel(p, out))}" for s, p in paths.items()
        ]
    lines += ["", *_model_tables(written, out)]
    return "\n".join(lines) + "\n"


def _is_memory(path: Any) -> bool:
    return not isinstance(path, str | Path)
