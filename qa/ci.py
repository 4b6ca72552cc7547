"""GitHub Actions integration for ``qa check --ci github`` (automatic when ``GITHUB_ACTIONS=true``).

What it does, after the reports are written:

- appends the step summary (the Markdown report, rendered by the caller) to
  ``$GITHUB_STEP_SUMMARY``, capped well under GitHub's 1 MiB;
- prints one ``::error`` / ``::warning`` workflow command per failing / warning check, most severe
  first, at most :data:`MAX_ANNOTATIONS` per type (GitHub shows only 10 of each per step), then
  one ``::notice`` line that counts the rest and points to the full report;
- writes ``status`` and ``report-path`` (and ``report-json``) to ``$GITHUB_OUTPUT``.

Workflow-command data is escaped as the runner expects: ``%`` ``\\r`` ``\\n`` in the message, and
also ``:`` ``,`` in properties, so a hostile column name cannot inject a command.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from qa.base import CheckResult
from qa.report import Report

#: GitHub shows at most 10 annotations of each type per step.
MAX_ANNOTATIONS = 10
#: Characters of Markdown written to the step summary. GitHub caps a step's summary at 1 MiB;
#: 60,000 characters stay under a quarter of that even if every character took 4 bytes.
SUMMARY_MAX_CHARS = 60_000
SUMMARY_MAX_BYTES = 1024 * 1024
#: Characters of a check's message (plus remedy) in one annotation.
ANNOTATION_MAX_CHARS = 1_000


def resolve_mode(mode: str, environ: Mapping[str, str] | None = None) -> str:
    """``github`` or ``none``: ``auto`` means github when ``GITHUB_ACTIONS`` is ``true``."""
    environ = os.environ if environ is None else environ
    if mode == "auto":
        return "github" if environ.get("GITHUB_ACTIONS") == "true" else "none"
    return mode


# --------------------------------------------------------------------------- escaping
def escape_data(value: str) -> str:
    """Escape the message part of a workflow command."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value (``title=...``) of a workflow command."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    """One line such as ``::error title=qa-gate%3A leakage::message``."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v)
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


# --------------------------------------------------------------------------- annotations
#: Order within one annotation type: failures, then crashes, then warnings.
_RANK = {"fail": 0, "error": 1, "warn": 2}
_TYPE = {"fail": "error", "error": "error", "warn": "warning"}


def _annotation_text(result: CheckResult) -> str:
    text = " ".join(result.message.split())
    if result.status == "error":
        text = f"could not run: {text}"
    if result.remedy and result.status in ("fail", "warn"):
        text += "\nHow to fix: " + " ".join(result.remedy.split())
    if len(text) > ANNOTATION_MAX_CHARS:
        text = text[: ANNOTATION_MAX_CHARS - 1] + "…"
    return text


def annotation_lines(report: Report, where: str, limit: int = MAX_ANNOTATIONS) -> list[str]:
    """Workflow commands for the failing and warning checks, most severe first.

    ``where`` names the full report (a path or a URL) in the closing line that counts what was
    left out.
    """
    ranked = sorted(
        (c for c in report.checks if c.status in _RANK),
        key=lambda c: (_RANK[c.status], c.severity != "error"),
    )
    lines: list[str] = []
    shown = dict.fromkeys(("error", "warning"), 0)
    hidden = dict.fromkeys(("error", "warning"), 0)
    for result in ranked:
        kind = _TYPE[result.status]
        if shown[kind] >= limit:
            hidden[kind] += 1
            continue
        shown[kind] += 1
        lines.append(
            workflow_command(
                kind, _annotation_text(result), title=f"qa-gate: {result.id} ({result.status})"
            )
        )
    if any(hidden.values()):
        parts = []
        if hidden["error"]:
            parts.append(f"{hidden['error']} more failing check(s)")
        if hidden["warning"]:
            parts.append(f"{hidden['warning']} more warning(s)")
        lines.append(
            workflow_command(
                "notice",
                f"{' and '.join(parts)} not shown as annotations (GitHub shows {limit} of each "
                f"type); see the full report: {where}",
                title="qa-gate: more results",
            )
        )
    return lines


# --------------------------------------------------------------------------- step summary
def truncate_summary(text: str, max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """Cut a step summary to ``max_chars`` at a line end, with a note that it was cut.

    The Markdown renderer already keeps its output under the cap (dropping evidence before the
    verdict); this is the last guard for whatever text a caller hands over.
    """
    if len(text) <= max_chars:
        return text
    note = "\n\n*… summary truncated; the full report is in the qa-report artifact.*\n"
    cut = text[: max(0, max_chars - len(note))]
    if "\n" in cut:
        cut = cut[: cut.rfind("\n")]
    return cut + note


def append_step_summary(path: str | Path, markdown: str) -> None:
    """Append to the step summary file without pushing it past GitHub's 1 MiB cap."""
    path = Path(path)
    used = path.stat().st_size if path.exists() else 0
    budget = SUMMARY_MAX_BYTES - used - 4096
    data = markdown.encode("utf-8")
    if len(data) > budget:
        note = "\n*qa-gate: the step summary is full; see the report artifact.*\n"
        data = note.encode("utf-8") if budget > len(note) else b""
    with path.open("ab") as handle:
        if used:
            handle.write(b"\n")
        handle.write(data)


# --------------------------------------------------------------------------- outputs
def append_outputs(path: str | Path, outputs: Mapping[str, str]) -> None:
    """Write ``name=value`` lines (a delimited block for multi-line values) to ``$GITHUB_OUTPUT``."""
    with Path(path).open("a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{name}={value}\n")


def run_url(environ: Mapping[str, str]) -> str | None:
    """The URL of this workflow run, where the report artifact is, when GitHub tells us."""
    parts = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if all(parts):
        server, repo, run_id = parts
        return f"{server}/{repo}/actions/runs/{run_id}"
    return None


def report_github(
    report: Report,
    out_dir: str | Path,
    written: Mapping[str, Path] | None = None,
    *,
    summary: str,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Do everything ``--ci github`` promises for one finished run.

    ``summary`` is the step summary, already rendered by the caller (``qa check`` passes the
    Markdown report rendered with ``max_chars=SUMMARY_MAX_CHARS``): this module renders nothing.
    """
    environ = os.environ if environ is None else environ
    stream = stream or sys.stdout
    written = dict(written or {})
    out = Path(out_dir).resolve()
    main_report = written.get("html") or written.get("json")
    where = str(Path(main_report).resolve()) if main_report else str(out)
    url = run_url(environ)
    if url:
        where = f"{where} (artifact of {url})"
    for line in annotation_lines(report, where):
        print(line, file=stream)
    stream.flush()
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        append_step_summary(summary_path, truncate_summary(summary))
    output_path = environ.get("GITHUB_OUTPUT")
    if output_path:
        outputs: dict[str, Any] = {"status": report.status, "report-path": str(out)}
        if "json" in written:
            outputs["report-json"] = str(Path(written["json"]).resolve())
        append_outputs(output_path, outputs)
