"""``qa lock``: fingerprint the test set so that ``split-hygiene`` notices any later edit."""

from __future__ import annotations

from typing import Any

import click

from qa.errors import ConfigError

#: What ``qa lock --rotate`` prints: a fresh test set, drawn once and locked.
ROTATE_STEPS = """\
Rotating the test set (split-hygiene warns past max_test_looks looks at it):

1. Draw a fresh test set from data no model, feature or threshold has seen: rows held back
   for this purpose, or rows collected after the last one. Draw it once, with a fixed seed,
   the same way as before (stratified / by time / by group, as [task] declares), and keep
   the old test set out of it.
2. Point [data] test (or --test) at the new file, and keep the old one as extra validation
   data if you like: it has been looked at and is no longer a clean test.
3. Run `qa lock` to record the new fingerprint; commit qa.lock with the new file's path.
4. The look count restarts by itself: the report's test_looks starts again at 1 when the
   test set's fingerprint changes. Look at the new test set as rarely as you can — once per
   candidate worth shipping, not once per experiment.
"""


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="qa.toml or pyproject.toml with [tool.qa] (default: found in the current folder).",
)
@click.option("--test", type=click.Path(), help="Test split to lock (default: [data] test).")
@click.option("--target", help="Target column (accepted for symmetry with `qa check`).")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Lock file to write (default: checks.split-hygiene.lock_file, else qa.lock "
    "beside the config file, else in the current folder).",
)
@click.option(
    "--rotate",
    is_flag=True,
    help="Print how to retire a test set that has been looked at too often and lock a fresh "
    "one (writes nothing).",
)
def lock(
    config_path: str | None,
    test: str | None,
    target: str | None,
    out_path: str | None,
    rotate: bool = False,
) -> int:
    """Fingerprint the test split (rows, columns, contents; row order ignored) into qa.lock."""
    if rotate:
        click.echo(ROTATE_STEPS)
        return 0
    from qa.config import load_config
    from qa.data import read_table
    from qa.lockfile import fingerprint, lock_path, write_lock

    overrides: dict[str, Any] = {"task": {"target": target}, "data": {"test": test}}
    config = load_config(config_path, overrides)
    path_in = config.data.test
    if not path_in:
        raise ConfigError("data.test: no test split to lock (give --test PATH or [data] test)")
    frame = read_table(path_in, "data.test")
    entry = fingerprint(frame, path=str(path_in))
    out = lock_path(config, out_path)
    try:
        write_lock(out, {"test": entry})
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    click.echo(
        f"locked the test set: {entry['rows']:,} rows, {len(entry['columns'])} columns, "
        f"sha256 {entry['sha256'][:16]}… -> {out}"
    )
    return 0
