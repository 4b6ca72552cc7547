"""``qa train`` writes files that ``qa check`` accepts as they are, for every trainer and task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from qa.api import run_gate
from qa.base import Check, CheckResult
from qa.cli import cli, main
from qa.config import load_config
from qa.registry import load_registry
from tests.conftest import make_classification_frame
from tests.trainers.helpers import make_regression_frame, split3

ARTIFACTS = {
    "majority": "model.skops",
    "linear": "model.skops",
    "xgboost": "model.json",
    "mlp": "model.pt",
}


class ReadsModelOutputs(Check):
    """Reads every prediction file, the history, and the artifact's own predictions."""

    id = "qa-test/reads-model-outputs"
    title = "Model outputs are readable"
    requires = ("predictions",)

    def run(self, ctx, params) -> CheckResult:
        metrics: dict[str, float] = {"splits": 0, "max_abs_diff": 0.0, "label_mismatches": 0}
        for split in ctx.splits:
            from_file = ctx.predictions(split)
            from_model = ctx.model_artifact().predict(ctx.split_input(split), ctx.task_spec)
            metrics["splits"] += 1
            if ctx.is_classification:
                diff = np.abs(from_file.proba - from_model.proba).max()
                metrics["label_mismatches"] += int((from_file.labels != from_model.labels).sum())
            else:
                diff = np.abs(from_file.values - from_model.values).max()
            metrics["max_abs_diff"] = max(metrics["max_abs_diff"], float(diff))
        if ctx.config.model.history:
            metrics["epochs"] = ctx.history().height
        return self.result("pass", "read", metrics=metrics)


def _write_data(tmp_path: Path, frame: pl.DataFrame, production: bool = True) -> list[str]:
    frames = split3(frame)
    if production:
        frames["production"] = frames["test"].drop("label")
    args = []
    for split, part in frames.items():
        path = tmp_path / "data" / f"{split}.parquet"
        path.parent.mkdir(exist_ok=True)
        part.write_parquet(path)
        args += [f"--{split}", str(path)]
    return args


def _train(tmp_path: Path, trainer: str, frame: pl.DataFrame, *extra: str) -> tuple[Path, str]:
    out = tmp_path / f"out_{trainer}"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--trainer",
            trainer,
            *_write_data(tmp_path, frame),
            "--target",
            "label",
            "--out",
            str(out),
            "--threads",
            "1",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.stdout


def _gate_with_probe(config_path: Path) -> CheckResult:
    config = load_config(config_path, {"run": {"only": [ReadsModelOutputs.id]}})
    report = run_gate(config, extra_checks=[ReadsModelOutputs])
    return report.checks[0]


def _labels(n_classes: int, names: list[str] | None = None, n: int = 600) -> pl.DataFrame:
    frame = make_classification_frame(n=n, n_classes=n_classes)
    if names:
        frame = frame.with_columns(
            pl.col("label").replace_strict(list(range(n_classes)), names, return_dtype=pl.String)
        )
    return frame


CASES = [
    ("majority", lambda: _labels(2)),
    ("linear", lambda: _labels(3, ["cat", "dog", "naïve ü 列"])),
    ("xgboost", lambda: _labels(3)),
    ("mlp", lambda: _labels(2)),
    ("majority", lambda: make_regression_frame(n=500)),
    ("linear", lambda: make_regression_frame(n=500)),
    ("xgboost", lambda: make_regression_frame(n=500)),
    ("mlp", lambda: make_regression_frame(n=500)),
]


@pytest.mark.parametrize(
    "trainer,make",
    CASES,
    ids=[f"{t}-{'reg' if i >= 4 else 'clf'}" for i, (t, _) in enumerate(CASES)],
)
def test_qa_train_outputs_are_accepted_by_the_gate_unchanged(tmp_path, trainer, make):
    if trainer == "mlp":
        pytest.importorskip("torch")
    frame = make()
    out, stdout = _train(tmp_path, trainer, frame)
    assert (out / ARTIFACTS[trainer]).is_file() and (out / "model.qa.json").is_file()
    for split in ("train", "validation", "test", "production"):
        preds = pl.read_parquet(out / f"predictions_{split}.parquet")
        assert preds.height == pl.read_parquet(tmp_path / "data" / f"{split}.parquet").height
        assert "prediction" in preds.columns
    assert (out / "history.csv").is_file() == (trainer in ("xgboost", "mlp"))
    assert "[model]" in stdout and "[model.predictions]" in stdout
    result = _gate_with_probe(out / "model.toml")
    assert result.status == "pass", result.message
    assert result.metrics["splits"] == 4
    assert result.metrics["max_abs_diff"] < 1e-6
    assert result.metrics.get("label_mismatches", 0) == 0
    if trainer in ("xgboost", "mlp"):
        assert result.metrics["epochs"] >= 1


def test_classifier_prediction_files_follow_the_contract(tmp_path):
    out, _ = _train(tmp_path, "linear", _labels(3, ["cat", "dog", "emu"]))
    preds = pl.read_parquet(out / "predictions_test.parquet")
    assert preds.columns == ["prediction", "proba_cat", "proba_dog", "proba_emu"]
    proba = preds.select(pl.exclude("prediction")).to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    best = np.array(["cat", "dog", "emu"])[proba.argmax(axis=1)]
    assert (preds["prediction"].to_numpy() == best).all()


def test_printed_snippet_pasted_into_qa_toml_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frames = split3(_labels(2))
    data = []
    for split, part in frames.items():
        part.write_csv(f"{split}.csv")
        data.append(f'{split} = "{split}.csv"')
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--trainer",
            "xgboost",
            "--train",
            "train.csv",
            "--validation",
            "validation.csv",
            "--test",
            "test.csv",
            "--target",
            "label",
            "--out",
            "models/xgb",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    Path("qa.toml").write_text(
        '[task]\ntarget = "label"\n\n[data]\n' + "\n".join(data) + "\n\n" + result.stdout
    )
    assert _gate_with_probe(Path("qa.toml")).status == "pass"


@pytest.mark.parametrize(
    "trainer,make", [("xgboost", lambda: _labels(2)), ("mlp", lambda: make_regression_frame(n=500))]
)
def test_qa_check_cli_runs_the_model_checks_on_trained_outputs(tmp_path, trainer, make):
    if trainer == "mlp":
        pytest.importorskip("torch")
    out, _ = _train(tmp_path, trainer, make())
    model_checks = [
        cid
        for cid, reg in load_registry([]).items()
        if {"predictions", "model", "history"} & set(reg.check.requires) or cid == "overfit-gap"
    ]
    if not model_checks:
        pytest.skip("no model checks registered yet")
    report_dir = tmp_path / "reports"
    try:
        code = main(
            [
                "check",
                "--config",
                str(out / "model.toml"),
                "--only",
                ",".join(model_checks),
                "--out",
                str(report_dir),
                "--format",
                "json",
                "-q",
            ]
        )
    except SystemExit as exc:
        code = exc.code
    report = json.loads((report_dir / "report.json").read_text())
    errors = {c["id"]: c["message"] for c in report["checks"] if c["status"] == "error"}
    assert not errors
    assert code in (0, 1)


def test_qa_train_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    try:
        code = main(
            [
                "train",
                "--trainer",
                "linear",
                "--train",
                str(tmp_path / "absent.csv"),
                "--target",
                "label",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "file not found" in capsys.readouterr().err
