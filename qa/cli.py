"""The ``qa`` command line: a thin layer over :mod:`qa.api`.

Exit codes: 0 the gate passed (warnings allowed), 1 the gate failed, 2 the gate could not run
(bad config, unreadable data, refused model, a check that crashed). User mistakes print one line
naming the culprit, never a traceback (set QA_DEBUG=1 to see one).

Sub-commands live in their own modules and load lazily, so ``qa --help`` stays fast and a
command's heavy imports happen only when it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import click

from qa._version import __version__
from qa.errors import QAError

#: command name -> "module:attribute"; a command whose module is absent is not offered.
COMMANDS: dict[str, str] = {
    "check": "qa.commands.check:check",
    "list": "qa.commands.inspect:list_checks",
    "explain": "qa.commands.inspect:explain_check",
    "report": "qa.commands.report:report",
    "train": "qa.commands.train:train",
    "lock": "qa.commands.lock:lock",
    "init": "qa.commands.init:init",
    "diff": "qa.commands.diff:diff",
    "signoff": "qa.commands.signoff:signoff",
    "audit": "qa.commands.audit:audit",
    "profile": "qa.commands.profile:profile",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name].split(":")[0])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _module_exists(target.split(":")[0]):
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="qa-gate")
def cli() -> None:
    """qa-gate: a data-audit and model-evaluation quality gate for CI."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: turn QAError into one line on stderr and exit code 2."""
    # OpenMP threads that spin while idle made XGBoost and torch several times slower on a
    # busy 2-core runner; passive waiting costs nothing on a quiet one. Set before they load.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return cli.main(args=argv, prog_name="qa", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: click's own message, exit 2
        exc.show()
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except QAError as exc:
        click.echo(f"qa: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a bug of ours, or a native panic: still exit 2, never a pass
        if os.environ.get("QA_DEBUG"):
            raise
        click.echo(
            f"qa: internal error: {type(exc).__name__}: {exc} (set QA_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(2)
