"""Run the ``qa`` command line inside the test process: the same code path as the console
script (``qa.cli.main``), without paying for a fresh interpreter and imports on every call."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

from qa.cli import main
from tests.helpers import Run


@contextlib.contextmanager
def _environment(env: dict[str, str] | None, cwd: Path | str | None) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_qa(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None) -> Run:
    """``qa ARGS`` in-process; returns the exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with _environment(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return Run(int(code or 0), out.getvalue(), err.getvalue())
