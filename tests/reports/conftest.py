"""Hand-built reports for the renderer tests: every status, every chart kind, hostile text."""

from __future__ import annotations

import pytest

from qa.base import Chart, CheckResult, Evidence
from qa.report import Report

HOSTILE = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
UNICODE = "naïve ü 列"


def every_status_report(status: str = "error") -> Report:
    """Six checks, one per status, with metrics, evidence, all four chart kinds and a waiver."""
    checks = (
        CheckResult(
            "drift",
            "Production looks like training",
            "fail",
            "error",
            f"column {HOSTILE} shifted (PSI 0.41); {IMG}",
            metrics={"max_psi": 0.41234, "n_shifted": 3},
            thresholds={"max_psi": 0.2},
            evidence=(
                Evidence(
                    "Shifted features",
                    (HOSTILE, "psi"),
                    tuple((f"{HOSTILE}{i}", 0.4 - i / 100) for i in range(5)),
                    note=f"BH-adjusted {HOSTILE}",
                ),
            ),
            charts=(
                Chart(
                    "histogram",
                    f"{HOSTILE} reference vs current",
                    {
                        "edges": [0, 1, 2, 3, 4],
                        "series": {"reference": [5, 10, 20, 5], HOSTILE: [1, 5, 10, 24]},
                    },
                ),
            ),
            remedy="Retrain on recent data.",
            subjects=(HOSTILE,),
            duration_s=0.42,
        ),
        CheckResult(
            "overfit-gap",
            "Does it overfit",
            "error",
            "error",
            "ValueError: boom",
            traceback=f'Traceback (most recent call last):\n  File "x.py"\nValueError: {IMG}',
            duration_s=0.01,
        ),
        CheckResult(
            "per-class-recall",
            "No class left behind",
            "warn",
            "warning",
            f"class {HOSTILE} has recall 0.61",
            metrics={"min_recall": 0.61},
            thresholds={"min_recall": 0.7},
            charts=(
                Chart(
                    "bars",
                    "Recall per class",
                    {
                        "labels": ["0", UNICODE, HOSTILE],
                        "series": {"recall": [0.9, 0.8, 0.61]},
                        "threshold": 0.7,
                    },
                ),
                Chart(
                    "heatmap",
                    "Confusion matrix",
                    {
                        "labels": ["cat", UNICODE, HOSTILE],
                        "matrix": [[50, 3, 1], [4, 40, 9], [0, 12, 30]],
                        "row_label": "true",
                        "col_label": "predicted",
                    },
                ),
            ),
        ),
        CheckResult(
            "leakage",
            "Nothing leaks between splits",
            "waived",
            "error",
            "12 rows overlap",
            waiver={
                "reason": "known duplicates",
                "owner": "ana@example.com",
                "expires": "2099-01-01",
            },
        ),
        CheckResult("schema", "Schema", "skip", "error", "no schema given"),
        CheckResult(
            "data-volume",
            "Enough data",
            "pass",
            "error",
            "train has 2,000 rows",
            metrics={"rows_train": 2000},
            thresholds={"min_rows": 5000},
            charts=(
                Chart(
                    "lines",
                    "Loss per epoch",
                    {
                        "x": [1, 2, 3, 4, 5],
                        "series": {
                            "train": [1, 0.6, None, 0.3, 0.2],
                            "validation": [1.1, 0.8, 0.7, 0.75, 0.9],
                        },
                        "x_label": "epoch",
                        "y_label": "loss",
                        "marker": 3,
                    },
                ),
            ),
        ),
    )
    return Report(
        status=status,
        checks=checks,
        inputs={
            "train": {
                "path": f"data/{HOSTILE}.parquet",
                "rows": 2000,
                "columns": 6,
                "sha256": "ab" * 32,
            }
        },
        config={"task": {"target": HOSTILE}},
        created_at="2024-01-01T00:00:00+00:00",
        tool={"name": "qa-gate", "version": "0.1.0"},
        task={"type": "multiclass", "target": HOSTILE, "classes": ["cat", UNICODE, HOSTILE]},
        waiver_notes=(f"waiver for drift (owner {HOSTILE}) matched nothing; remove it",),
        diff={
            "rows": [
                {
                    "metric": "auc",
                    "check": "metric-threshold",
                    "base": 0.9,
                    "head": 0.85,
                    "delta": -0.05,
                    "verdict": "worse",
                }
            ],
            "newly_failing": ["drift"],
        },
    )


@pytest.fixture
def hostile_report() -> Report:
    return every_status_report()
