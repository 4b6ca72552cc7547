"""The sign-off report: what a reviewer signs before a model ships.

``qa signoff`` (or ``qa check --signoff``) writes ``signoff.json`` and ``signoff.html`` beside the
other reports. This module builds the document, the sign-off data model, once from the Report
plus facts about the run (fingerprints of the model files, library versions, the git commit).
It renders nothing: :mod:`qa.reports.signoff_html` turns the document into the printable page
and :func:`qa.reports.write_signoff` writes both files. Both carry: the verdict; the success
criteria declared in advance (the ``[checks.*]`` bars) and the thresholds each check held;
every result; data and model fingerprints; the effective config; versions; git commit, branch
and dirty flag; the waivers; and a signature block to fill in. The JSON validates against ``qa/schemas/signoff.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from qa.base import json_safe
from qa.report import Report, validation_errors

SIGNOFF_SCHEMA_VERSION = "1"

#: Distributions whose versions the sign-off records (read from metadata; nothing is imported).
LIBRARIES: tuple[str, ...] = (
    "numpy",
    "polars",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "xgboost",
    "cleanlab",
    "pandera",
    "skops",
    "torch",
    "jinja2",
    "click",
    "jsonschema",
)

#: The people who sign, in order. Names, dates and decisions are filled in by hand.
SIGNATORIES: tuple[str, ...] = ("Model owner", "Independent reviewer", "Approver")


# --------------------------------------------------------------------------- facts about the run
def file_fingerprint(path: str | None, base: Path | None = None) -> dict[str, Any] | None:
    """``{"path", "sha256", "bytes"}`` of a file; sha256 is null when it cannot be read."""
    if not path:
        return None
    resolved = Path(path)
    if not resolved.is_absolute() and base is not None and not resolved.exists():
        resolved = base / resolved
    digest = hashlib.sha256()
    try:
        with resolved.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        size = resolved.stat().st_size
    except OSError:
        return {"path": str(path), "sha256": None, "bytes": None}
    return {"path": str(path), "sha256": digest.hexdigest(), "bytes": size}


def model_fingerprints(config: Mapping[str, Any]) -> dict[str, Any]:
    """Fingerprints of the model artifact, the prediction files and the training history."""
    model = config.get("model") or {}
    return {
        "artifact": file_fingerprint(model.get("artifact")),
        "predictions": {
            split: file_fingerprint(path)
            for split, path in sorted((model.get("predictions") or {}).items())
            if isinstance(path, str)
        },
        "history": file_fingerprint(model.get("history")),
    }


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment(tool: Mapping[str, str]) -> dict[str, Any]:
    return {
        "qa_gate": tool.get("version", ""),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "libraries": library_versions(),
    }


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_info(
    cwd: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the repository at ``cwd``; None outside a repository."""
    environ = os.environ if environ is None else environ
    where = Path(cwd or Path.cwd())
    if not where.is_dir():
        where = where.parent
    commit = _git(["rev-parse", "HEAD"], where)
    if not commit:
        return None
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], where)
    if branch in (None, "HEAD"):  # detached, as in CI checkouts: ask the CI
        branch = environ.get("GITHUB_HEAD_REF") or environ.get("GITHUB_REF_NAME") or branch
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    return {
        "commit": commit,
        "branch": branch,
        "dirty": bool(status) if status is not None else None,
    }


# --------------------------------------------------------------------------- the document
def _criteria(report: Report) -> list[dict[str, Any]]:
    declared_all = (report.config.get("checks") or {}) if isinstance(report.config, Mapping) else {}
    out = []
    for result in report.checks:
        declared = dict(declared_all.get(result.id, {}))
        if not declared and not result.thresholds:
            continue
        out.append(
            {
                "check": result.id,
                "title": result.title,
                "declared": json_safe(declared),
                "thresholds": json_safe(dict(result.thresholds)),
                "metrics": json_safe(dict(result.metrics)),
                "status": result.status,
            }
        )
    return out


def _waivers(report: Report, today: dt.date) -> list[dict[str, Any]]:
    waived_by: dict[tuple[Any, ...], list[str]] = {}
    for result in report.checks:
        if result.waiver:
            key = (
                result.waiver.get("check"),
                result.waiver.get("match"),
                result.waiver.get("owner"),
                result.waiver.get("expires"),
            )
            waived_by.setdefault(key, []).append(result.id)
    out = []
    for waiver in report.config.get("waivers") or []:
        expires = waiver.get("expires")
        active = expires is None or dt.date.fromisoformat(str(expires)) >= today
        key = (waiver.get("check"), waiver.get("match"), waiver.get("owner"), expires)
        out.append(
            {
                "check": waiver.get("check"),
                "match": waiver.get("match"),
                "reason": waiver.get("reason"),
                "owner": waiver.get("owner"),
                "expires": expires,
                "state": "active" if active else "expired",
                "waived": waived_by.get(key, []),
            }
        )
    return out


#: The checks a reviewer of a high-risk use reads together: where the model fails (segments),
#: whom it fails (groups), how easily it flips, and which live inputs it was never trained for.
MODEL_RISK = {
    "weak-segments": "Segments where the model's errors cluster",
    "fairness": "Protected groups treated differently",
    "robustness": "Predictions that flip under small perturbations",
    "applicability": "Production inputs unlike anything in training",
}


def _model_risk(report: Report) -> list[dict[str, Any]]:
    """One row per model-risk question: the check's verdict and finding, or why it did not run."""
    found = {c.id: c for c in report.checks}
    rows = []
    for check_id, question in MODEL_RISK.items():
        result = found.get(check_id)
        rows.append(
            {
                "check": check_id,
                "question": question,
                "status": result.status if result else "not run",
                "finding": result.message if result else "not part of this run",
                "subjects": list(result.subjects[:10]) if result else [],
            }
        )
    return rows


def build_signoff(
    report: Report,
    *,
    cwd: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The sign-off document (JSON-ready) for a finished run."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = dict(report.config)
    source = config.get("source")
    where = Path(source).resolve().parent if source else Path(cwd or Path.cwd())
    diff = report.diff
    return {
        "schema_version": SIGNOFF_SCHEMA_VERSION,
        "document": "qa-gate sign-off",
        "created_at": now.isoformat(),
        "report_created_at": report.created_at,
        "verdict": report.status,
        "summary": report.summary,
        "task": json_safe(dict(report.task)),
        "success_criteria": _criteria(report),
        "model_risk": _model_risk(report),
        "checks": [
            {
                "id": c.id,
                "title": c.title,
                "status": c.status,
                "severity": c.severity,
                "message": c.message,
                "metrics": json_safe(dict(c.metrics)),
                "thresholds": json_safe(dict(c.thresholds)),
                "remedy": c.remedy,
                "subjects": list(c.subjects),
                "waiver": json_safe(dict(c.waiver)) if c.waiver else None,
            }
            for c in report.ordered_checks()
        ],
        "data": json_safe(dict(report.inputs)),
        "model": model_fingerprints(config),
        "config": json_safe(config),
        "environment": environment(report.tool),
        "git": git_info(where, environ),
        "waivers": _waivers(report, now.date()),
        "waiver_notes": list(report.waiver_notes),
        "baseline": (
            {
                k: json_safe(diff.get(k))
                for k in ("baseline", "tolerance", "summary", "newly_failing")
            }
            if diff
            else None
        ),
        "signatures": [
            {"role": role, "name": "", "date": "", "decision": ""} for role in SIGNATORIES
        ],
    }


# --------------------------------------------------------------------------- validation
def signoff_schema_errors(document: Mapping[str, Any]) -> list[str]:
    """Validation messages for a sign-off document (empty when valid)."""
    return validation_errors(document, "signoff.schema.json")
