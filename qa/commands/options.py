"""Options shared by the commands that read the splits (``qa check``, ``qa train``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from qa.config import SPLITS
from qa.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

TASKS = ("binary", "multiclass", "regression")


def data_options(func: F) -> F:
    """``--config`` plus one flag per split, ``--target`` and ``--task``; flags win over the file."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            help="qa.toml or pyproject.toml with [tool.qa] (default: found in the current folder).",
        ),
        click.option(
            "--train", type=click.Path(), help="Train split (csv, parquet, feather, jsonl)."
        ),
        click.option("--validation", type=click.Path(), help="Validation split."),
        click.option("--test", type=click.Path(), help="Test split."),
        click.option("--production", type=click.Path(), help="Production (serving) data."),
        click.option("--target", help="Target column."),
        click.option(
            "--task",
            type=click.Choice(TASKS),
            help="Task type (inferred from the target when omitted).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def data_overrides(
    train: str | None,
    validation: str | None,
    test: str | None,
    production: str | None,
    target: str | None,
    task: str | None,
) -> dict[str, Any]:
    """The config overrides those flags stand for (None = not given, the file decides)."""
    return {
        "task": {"target": target, "type": task},
        "data": {"train": train, "validation": validation, "test": test, "production": production},
    }


def engine_options(func: F) -> F:
    """``--engine``, ``--spark-master`` and ``--sample-rows``: how large data is read."""
    decorators = [
        click.option(
            "--engine",
            type=click.Choice(("polars", "spark")),
            help="Judge profiles computed by this engine instead of reading every split into "
            "memory: polars streams files in batches; spark runs on a Spark cluster "
            "(pip install 'qa-gate[spark]'). Row-needing parts use seeded samples.",
        ),
        click.option(
            "--spark-master",
            help="Spark master URL for --engine spark (default local[2]).",
        ),
        click.option(
            "--sample-rows",
            type=click.IntRange(min=1000),
            help="Rows sampled per split for the parts that need rows (default 200,000).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def predictions_option(help_text: str) -> Callable[[F], F]:
    """``--predictions SPLIT=PATH``, repeatable (read with :func:`parse_predictions`)."""
    return click.option(
        "--predictions", "predictions", multiple=True, metavar="SPLIT=PATH", help=help_text
    )


def parse_predictions(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        split, sep, path = item.partition("=")
        if not sep or split not in SPLITS or not path:
            raise ConfigError(
                f"--predictions {item!r}: expected SPLIT=PATH with SPLIT one of {', '.join(SPLITS)}"
            )
        out[split] = path
    return out
