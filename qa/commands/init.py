"""``qa init``: write a starter ``qa.toml`` and a GitHub workflow that runs the gate.

It never asks anything (it runs in CI too): what it can detect from ``--train`` (the target, by
a column named target/label/y/class, and the task type, by the same inference as the Context)
goes in; the rest stays as commented examples. It never overwrites a file without ``--force``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from qa._version import __version__
from qa.config import SPLITS
from qa.errors import ConfigError, DataError, QAError

#: Where the GitHub Action lives; the workflow `qa init` writes uses it. Override with --action.
ACTION_REF = f"qa-gate/qa-gate@v{__version__}"

#: Column names taken as the target, in order of preference (compared case-insensitively).
TARGET_NAMES = ("target", "label", "y", "class", "labels", "outcome")

CONFIG_FILE = "qa.toml"
WORKFLOW_FILE = Path(".github") / "workflows" / "qa-gate.yml"


class FileExistsQAError(QAError):
    """A file ``qa init`` would write exists already (exit 2)."""


@dataclass(frozen=True)
class Detected:
    target: str | None
    task: str | None
    note: str = ""


def _template(name: str) -> str:
    return resources.files("qa").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def detect(train: str | None, target: str | None, task: str | None) -> Detected:
    """The target and task from the train file, as far as they can be told without asking."""
    if train is None:
        return Detected(target, task)
    from qa.data import read_table

    frame = read_table(train, "--train")
    if target is not None and target not in frame.columns:
        raise ConfigError(f"--target: column {target!r} not found in {train}")
    if target is None:
        by_lower = {c.lower(): c for c in reversed(frame.columns)}
        target = next((by_lower[n] for n in TARGET_NAMES if n in by_lower), None)
        if target is None:
            return Detected(
                None,
                task,
                f"no column named {'/'.join(TARGET_NAMES[:4])} in {train}: "
                "set [task] target in qa.toml",
            )
    if task is not None:
        return Detected(target, task)
    from qa.config import Config, TaskConfig
    from qa.context import Context

    try:  # the very inference `qa check` makes, so init and check agree
        ctx = Context(Config(task=TaskConfig(target=target)), {"train": frame}, {})
    except DataError as exc:
        return Detected(target, None, f"task type not inferred ({exc}): set [task] type")
    return Detected(target, ctx.task)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _relative(path: str, base: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).resolve().as_posix()


def render_config(detected: Detected, splits: dict[str, str], base: Path) -> str:
    """The starter qa.toml text."""
    if detected.target is not None:
        task = [f"target = {_toml_string(detected.target)}"]
    else:
        task = ['# target = "label"          # required: the column to predict']
    if detected.task is not None:
        task.append(
            f"{f'type = {_toml_string(detected.task)}':<28}# binary | multiclass | regression"
        )
    else:
        task.append(
            '# type = "binary"           # binary | multiclass | regression; '
            "inferred from the target when omitted"
        )
    task += [
        '# id = "row_id"             # optional: an id column (never used as a feature)',
        '# time = "event_time"       # optional: a time column (chronological split checks)',
        '# group = "customer_id"     # optional: an entity column (group leakage across splits)',
    ]
    if detected.task == "binary":
        task.append('# positive_label = 1        # which class is "positive" for AUC, F1')
    data = [f"{split} = {_toml_string(_relative(path, base))}" for split, path in splits.items()]
    for split in SPLITS:
        if split not in splits:
            data.append(f'# {split} = "data/{split}.parquet"')
    text = (
        _template("qa.toml").replace("@TASK@", "\n".join(task)).replace("@DATA@", "\n".join(data))
    )
    return text


def render_workflow(action_ref: str, config: str = CONFIG_FILE) -> str:
    """The GitHub workflow text for the user's repository."""
    return _template("qa-gate.yml").replace("@ACTION_REF@", action_ref).replace("@CONFIG@", config)


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Repository root to write into.",
)
@click.option("--force", is_flag=True, help="Overwrite qa.toml and the workflow if they exist.")
@click.option(
    "--train", type=click.Path(dir_okay=False), help="Train split: detects target and task."
)
@click.option("--validation", type=click.Path(dir_okay=False), help="Validation split path.")
@click.option("--test", type=click.Path(dir_okay=False), help="Test split path.")
@click.option("--production", type=click.Path(dir_okay=False), help="Production data path.")
@click.option("--target", help="Target column (detected from --train when omitted).")
@click.option(
    "--task",
    type=click.Choice(["binary", "multiclass", "regression"]),
    help="Task type (inferred from the target when omitted).",
)
@click.option(
    "--action",
    "action_ref",
    default=ACTION_REF,
    show_default=True,
    help="The qa-gate GitHub Action the workflow uses (owner/repo@ref).",
)
@click.option("--no-workflow", is_flag=True, help="Write qa.toml only.")
def init(
    directory: str,
    force: bool,
    train: str | None,
    validation: str | None,
    test: str | None,
    production: str | None,
    target: str | None,
    task: str | None,
    action_ref: str,
    no_workflow: bool,
) -> int:
    """Write a starter qa.toml and .github/workflows/qa-gate.yml. Never prompts."""
    root = Path(directory)
    targets = [root / CONFIG_FILE] + ([] if no_workflow else [root / WORKFLOW_FILE])
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise FileExistsQAError(
            f"{existing[0]} already exists; not overwriting it (use --force to replace it)"
        )
    splits = {
        s: p
        for s, p in (
            ("train", train),
            ("validation", validation),
            ("test", test),
            ("production", production),
        )
        if p
    }
    detected = detect(train, target, task)
    root.mkdir(parents=True, exist_ok=True)
    config_text = render_config(detected, splits, root)
    targets[0].write_text(config_text, encoding="utf-8")
    click.echo(f"wrote {targets[0]}")
    if not no_workflow:
        targets[1].parent.mkdir(parents=True, exist_ok=True)
        targets[1].write_text(render_workflow(action_ref), encoding="utf-8")
        click.echo(f"wrote {targets[1]}")
    if detected.target:
        click.echo(f"target: {detected.target}; task: {detected.task or 'inferred at run time'}")
    if detected.note:
        click.echo(f"note: {detected.note}", err=True)
    click.echo(
        "next: edit qa.toml (model predictions, bars in [checks.*]), then run `qa check`", err=True
    )
    sys.stdout.flush()
    return 0
