"""Regression against a baseline report: did any metric move the wrong way, did a check break?

``qa check --baseline BASE.json`` and ``qa diff BASE.json HEAD.json`` compare every metric the two
reports share, check by check. Each metric has a direction (up is good for AUC, down is good for
RMSE) looked up by name in :data:`DIRECTIONS`; a metric whose direction is unknown is listed but
never fails. A metric *regressed* when it moved the wrong way by more than the tolerance
(0.01 absolute by default; relative to the baseline value for scale-dependent errors such as
MAE and RMSE, whose units are the target's). A check *newly fails* when it passed (or warned)
on the baseline and fails or errors now.

The comparison becomes the synthetic ``regression`` result and the ``Report.diff`` mapping::

    {"baseline": "base/report.json", "tolerance": 0.01,
     "rows": [{"check", "metric", "base", "head", "delta", "direction", "tolerance", "verdict"}],
     "newly_failing": ["leakage"], "threshold_changes": [{"check", "threshold", "base", "head"}],
     "summary": {"compared": n, "regressed": n, "improved": n, "unknown": n}}
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qa.bars import MOVED_BARS_CHECK_ID
from qa.base import CheckResult, Evidence, Status, finite_float, table
from qa.config import Config
from qa.gate import WAIVERS_CHECK_ID, apply_waivers
from qa.report import Report

REGRESSION_CHECK_ID = "regression"
DEFAULT_TOLERANCE = 0.01

Direction = Literal["up", "down", "unknown"]

#: Metric-name tokens and their good direction, first match wins. Names are lower-cased and cut
#: into tokens at every non-alphanumeric character, so ``auc_gap`` is a gap (down is good) and
#: ``macro-F1`` is an F1 (up is good). Order matters: "gap", "loss" and error words come first.
DIRECTIONS: tuple[tuple[str, Direction], ...] = (
    ("gap", "down"),
    ("loss", "down"),
    ("logloss", "down"),
    ("ece", "down"),
    ("calibration_error", "down"),
    ("brier", "down"),
    ("psi", "down"),
    ("issue_rate", "down"),
    ("error_rate", "down"),
    ("noise_rate", "down"),
    ("mae", "down"),
    ("mse", "down"),
    ("rmse", "down"),
    ("mape", "down"),
    ("medae", "down"),
    ("auc", "up"),
    ("roc_auc", "up"),
    ("auroc", "up"),
    ("f1", "up"),
    ("accuracy", "up"),
    ("acc", "up"),
    ("recall", "up"),
    ("precision", "up"),
    ("average_precision", "up"),
    ("r2", "up"),
    ("r_squared", "up"),
    ("kappa", "up"),
    ("mcc", "up"),
)

#: Error metrics in the target's own units: their tolerance is relative to the baseline value.
SCALE_DEPENDENT: frozenset[str] = frozenset({"mae", "mse", "rmse", "medae"})

#: Checks that are not compared: the comparison itself.
NOT_COMPARED: frozenset[str] = frozenset({REGRESSION_CHECK_ID, MOVED_BARS_CHECK_ID})

_PASSING = ("pass", "warn")
_FAILING = ("fail", "error")


def _tokens(name: str) -> str:
    return "_" + "_".join(t for t in re.split(r"[^a-z0-9]+", name.lower()) if t) + "_"


#: Chance levels reported beside a metric (``ece_noise_q95``): a property of the test set, not
#: of the model's quality, so they have no good direction.
NO_DIRECTION: tuple[str, ...] = ("noise_mean", "noise_q95")

#: Scores of the reference baselines and of the model on its own train rows: the first depend
#: on the data alone, and a lower train score often means less overfitting, not a regression.
NO_DIRECTION_PREFIXES: tuple[str, ...] = (
    "majority",
    "mean",
    "linear",
    "xgboost",
    "best_baseline",
    "train",
)


def metric_direction(name: str) -> Direction:
    """``up`` when a larger value is better, ``down`` when smaller is, else ``unknown``.

    Baseline models' scores (``linear_roc_auc``) and train scores (``train_macro_f1``) have no
    direction. The optimistic end of a confidence interval (``auc_ci_high``, ``rmse_ci_low``) has no
    direction: it moves the "wrong" way whenever the interval narrows (a larger test set), which
    is good news, not a regression. The pessimistic end keeps the metric's direction.
    """
    tokens = _tokens(name)
    if any(f"_{t}_" in tokens for t in NO_DIRECTION):
        return "unknown"
    if "_gap_" not in tokens and any(
        tokens.startswith(f"_{prefix}_") for prefix in NO_DIRECTION_PREFIXES
    ):
        return "unknown"
    for pattern, direction in DIRECTIONS:
        if f"_{pattern}_" in tokens:
            optimistic = "_ci_high_" if direction == "up" else "_ci_low_"
            return "unknown" if optimistic in tokens else direction
    return "unknown"


def metric_tolerance(name: str, base: float, tolerance: float) -> float:
    """The allowed wrong-way move for this metric: absolute, or relative for MAE/RMSE-like ones."""
    tokens = _tokens(name)
    if any(f"_{t}_" in tokens for t in SCALE_DEPENDENT) and "_gap_" not in tokens:
        return tolerance * max(abs(base), 1e-12)
    return tolerance


@dataclass(frozen=True)
class BaselineReport:
    """The report a run is compared with, and how to name it in the diff (its path, usually).

    Not to be confused with the baseline *models* of :mod:`qa.trainers.baselines`: this is an
    earlier run's Report (``qa check --baseline BASE.json``).
    """

    report: Report
    label: str


def load_baseline(baseline: Report | BaselineReport | str | Path) -> BaselineReport:
    """Accept a Report, a BaselineReport, or the path of a saved report.json (errors exit 2)."""
    if isinstance(baseline, BaselineReport):
        return baseline
    if isinstance(baseline, Report):
        return BaselineReport(baseline, f"report created {baseline.created_at}")
    return BaselineReport(Report.load(baseline), str(baseline))


def _compare_metric(
    check_id: str, metric: str, base: Any, head: Any, tolerance: float
) -> dict[str, Any]:
    direction = metric_direction(metric)
    b, h = finite_float(base), finite_float(head)
    row: dict[str, Any] = {
        "check": check_id,
        "metric": metric,
        "base": b,
        "head": h,
        "delta": None,
        "direction": direction,
        "tolerance": None,
        "verdict": "",
    }
    if b is None and h is None:
        row["verdict"] = "no value"
        return row
    if b is None:
        row["verdict"] = "new"
        return row
    if h is None:
        row["verdict"] = "gone"
        return row
    delta = h - b
    row["delta"] = round(delta, 6)
    if direction == "unknown":
        row["verdict"] = "no direction" if delta else "unchanged"
        return row
    allowed = metric_tolerance(metric, b, tolerance)
    row["tolerance"] = round(allowed, 6)
    worse = -delta if direction == "up" else delta
    # A tiny epsilon so that a move of exactly the tolerance (0.01 in floats) is still allowed.
    if worse > allowed + 1e-9:
        row["verdict"] = "regressed"
    elif -worse > allowed + 1e-9:
        row["verdict"] = "improved"
    else:
        row["verdict"] = "within tolerance" if delta else "unchanged"
    return row


def diff_reports(
    base_checks: Sequence[CheckResult],
    head_checks: Sequence[CheckResult],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    baseline_label: str = "",
) -> dict[str, Any]:
    """Compare two lists of check results; return the ``Report.diff`` mapping."""
    base_by_id = {c.id: c for c in base_checks if c.id not in NOT_COMPARED}
    head_by_id = {c.id: c for c in head_checks if c.id not in NOT_COMPARED}
    rows: list[dict[str, Any]] = []
    thresholds: list[dict[str, Any]] = []
    newly_failing: list[str] = []
    for cid, head in head_by_id.items():
        base = base_by_id.get(cid)
        if base is None:
            continue
        if base.status in _PASSING and head.status in _FAILING:
            newly_failing.append(cid)
        for metric in sorted(set(base.metrics) | set(head.metrics)):
            rows.append(
                _compare_metric(
                    cid, metric, base.metrics.get(metric), head.metrics.get(metric), tolerance
                )
            )
        for name in sorted(set(base.thresholds) | set(head.thresholds)):
            b, h = finite_float(base.thresholds.get(name)), finite_float(head.thresholds.get(name))
            if b != h:
                thresholds.append({"check": cid, "threshold": name, "base": b, "head": h})
    verdicts = [r["verdict"] for r in rows]
    return {
        "baseline": baseline_label,
        "tolerance": tolerance,
        "rows": rows,
        "newly_failing": newly_failing,
        "threshold_changes": thresholds,
        "summary": {
            "compared": sum(r["delta"] is not None for r in rows),
            "regressed": verdicts.count("regressed"),
            "improved": verdicts.count("improved"),
            "unknown": sum(r["direction"] == "unknown" for r in rows),
            "newly_failing": len(newly_failing),
        },
    }


def regressed(diff: Mapping[str, Any]) -> bool:
    """True when the diff fails the gate: a metric regressed or a check newly fails."""
    return bool(diff["newly_failing"]) or any(r["verdict"] == "regressed" for r in diff["rows"])


def regressed_rows(diff: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The diff's rows whose metric moved the wrong way beyond its tolerance, in diff order."""
    return [r for r in diff["rows"] if r["verdict"] == "regressed"]


def moved_rows(diff: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The diff's rows that changed or could not be compared, worst verdict first."""
    moved = [r for r in diff["rows"] if r["verdict"] not in ("unchanged", "no value")]
    return sorted(moved, key=_row_rank)


def regression_result(diff: Mapping[str, Any]) -> CheckResult:
    """The synthetic ``regression`` CheckResult for a diff."""
    bad_rows = regressed_rows(diff)
    newly = list(diff["newly_failing"])
    status: Status = "fail" if regressed(diff) else "pass"
    return CheckResult(
        id=REGRESSION_CHECK_ID,
        title="No regression against the baseline",
        status=status,
        severity="error",
        message=_regression_message(status, diff, bad_rows, newly),
        metrics={
            "metrics_compared": diff["summary"]["compared"],
            "metrics_regressed": len(bad_rows),
            "metrics_improved": diff["summary"]["improved"],
            "checks_newly_failing": len(newly),
        },
        thresholds={"tolerance": diff["tolerance"]},
        evidence=tuple(_regression_evidence(diff, bad_rows, newly)),
        remedy=_REGRESSION_REMEDY if status == "fail" else "",
        subjects=tuple([f"{r['check']}/{r['metric']}" for r in bad_rows] + newly),
    )


_REGRESSION_REMEDY = (
    "Find what changed since the baseline (data, features, model, parameters) for the "
    "metrics and checks named and fix it. If the change is intended, say why in the "
    "pull request; once merged, the default branch's next report is the new baseline."
)


def _regression_message(
    status: Status, diff: Mapping[str, Any], bad_rows: list[Mapping[str, Any]], newly: list[str]
) -> str:
    if status == "pass":
        where = f" ({diff['baseline']})" if diff.get("baseline") else ""
        return (
            f"no worse than the baseline{where}: {diff['summary']['compared']} metric(s) "
            f"compared, {diff['summary']['improved']} improved"
        )
    parts = []
    if bad_rows:
        listed = ", ".join(
            f"{r['check']}.{r['metric']} {r['base']:.4g} → {r['head']:.4g}" for r in bad_rows[:5]
        )
        more = f" and {len(bad_rows) - 5} more" if len(bad_rows) > 5 else ""
        parts.append(f"{len(bad_rows)} metric(s) regressed beyond tolerance: {listed}{more}")
    if newly:
        parts.append(f"newly failing: {', '.join(newly)}")
    return "; ".join(parts) + f" (compared with {diff['baseline'] or 'the baseline'})"


def _regression_evidence(
    diff: Mapping[str, Any], bad_rows: list[Mapping[str, Any]], newly: list[str]
) -> list[Evidence]:
    """The regressed metrics, the newly failing checks, the diff itself, the changed bars."""
    evidence = []
    if bad_rows:
        evidence.append(
            table(
                "Metrics that moved the wrong way",
                ["check", "metric", "base", "head", "delta", "allowed"],
                [
                    _cells(r, "check", "metric", "base", "head", "delta", "tolerance")
                    for r in bad_rows
                ],
            )
        )
    if newly:
        evidence.append(
            table(
                "Checks that passed on the baseline and fail now", ["check"], [(c,) for c in newly]
            )
        )
    moved = moved_rows(diff)
    if moved:  # the diff table itself, so that every format (JUnit included) carries it
        columns = ["check", "metric", "base", "head", "delta", "direction", "verdict"]
        rows = [_cells(r, *columns) for r in moved]
        evidence.append(table("Metrics against the baseline", columns, rows))
    if diff.get("threshold_changes"):
        columns = ["check", "threshold", "base", "head"]
        rows = [_cells(t, *columns) for t in diff["threshold_changes"]]
        evidence.append(table("Bars that changed since the baseline (review them)", columns, rows))
    return evidence


def _cells(row: Mapping[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


_VERDICT_RANK = {
    "regressed": 0,
    "gone": 1,
    "new": 2,
    "no direction": 3,
    "within tolerance": 4,
    "improved": 5,
}


def _row_rank(row: Mapping[str, Any]) -> tuple[int, str, str]:
    return (_VERDICT_RANK.get(row["verdict"], 9), row["check"], row["metric"])


def compare_to_baseline(
    baseline: BaselineReport,
    results: Sequence[CheckResult],
    config: Config,
    today: dt.date | None = None,
) -> tuple[CheckResult, dict[str, Any]]:
    """The regression result and the diff for a run's results (before waivers are applied).

    A head check counts as failing only if no active waiver covers it, the same rule the gate
    applies; the synthetic waivers result is left out of that view.
    """
    effective, _ = apply_waivers(results, config.waivers, today)
    effective = [r for r in effective if r.id != WAIVERS_CHECK_ID]
    diff = diff_reports(
        baseline.report.checks,
        effective,
        tolerance=config.run.baseline_tolerance,
        baseline_label=baseline.label,
    )
    return regression_result(diff), diff


def format_diff_table(diff: Mapping[str, Any], only_changes: bool = False) -> str:
    """The diff as a plain-text table (``qa diff``)."""
    header = ("check", "metric", "base", "head", "Δ", "direction", "verdict")
    rows = [r for r in diff["rows"] if not only_changes or r["verdict"] not in ("unchanged",)]
    body = [
        (
            r["check"],
            r["metric"],
            _fmt(r["base"]),
            _fmt(r["head"]),
            _fmt(r["delta"], signed=True),
            r["direction"],
            r["verdict"],
        )
        for r in rows
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in body)) if body else len(h)
        for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    if diff["newly_failing"]:
        lines.append("")
        lines.append("newly failing: " + ", ".join(diff["newly_failing"]))
    for t in diff.get("threshold_changes", []):
        lines.append(
            f"bar changed: {t['check']}.{t['threshold']} {_fmt(t['base'])} → {_fmt(t['head'])}"
        )
    s = diff["summary"]
    lines.append("")
    lines.append(
        f"{s['compared']} compared, {s['regressed']} regressed, {s['improved']} improved, "
        f"{s['unknown']} without a known direction (tolerance {diff['tolerance']})"
    )
    return "\n".join(lines) + "\n"


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4g}" if signed else f"{value:.4g}"
