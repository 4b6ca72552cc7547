"""Running the real ``qa`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_qa(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None) -> Run:
    full_env = {**os.environ, "QA_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "qa", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
