"""Input defects stop the run once with exit code 2 and one line naming the file and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import qa
from qa.api import run_gate
from qa.config import parse_config
from qa.errors import DataError, ModelError
from tests.conftest import make_classification_frame, random_split
from tests.inprocess import run_qa


def assert_one_line_error(run, *needles: str) -> None:
    assert run.code == 2, (run.code, run.err)
    assert "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    for needle in needles:
        assert needle in run.err, run.err


def test_csv_with_a_duplicated_header_exits_2_naming_file_and_column(tmp_path: Path):
    (tmp_path / "train.csv").write_text("a,a,label\n" + "1,2,0\n3,4,1\n" * 20)
    run = run_qa("check", "--train", "train.csv", "--target", "label", "--quiet", cwd=tmp_path)
    assert_one_line_error(run, "data.train", "train.csv", "'a'", "twice")
    assert not (tmp_path / "qa-reports").exists()


def test_tsv_and_feather_with_a_repeated_name_are_refused_but_a_real_duplicated_name_is_not(
    tmp_path: Path,
):
    import pyarrow as pa
    import pyarrow.feather

    from qa.data import read_table

    (tmp_path / "train.tsv").write_text("x\tlabel\tx\n1\t0\t2\n")
    with pytest.raises(DataError, match=r"train\.tsv has the column 'x' twice"):
        read_table(tmp_path / "train.tsv", "data.train")
    table = pa.table([pa.array([1, 2]), pa.array([0, 1]), pa.array([3, 4])], ["x", "label", "x"])
    pyarrow.feather.write_feather(table, tmp_path / "train.feather")  # polars itself panics
    with pytest.raises(DataError, match=r"train\.feather has the column 'x' twice"):
        read_table(tmp_path / "train.feather", "data.train")
    # A column really called like polars' rename of a duplicate is no duplicate.
    (tmp_path / "ok.csv").write_text("a,a_duplicated_0,label\n1,2,0\n")
    assert read_table(tmp_path / "ok.csv", "data.train").columns == [
        "a",
        "a_duplicated_0",
        "label",
    ]


def test_pandas_frame_with_duplicated_column_names_is_a_data_error():
    frame = pd.DataFrame(np.zeros((10, 3)), columns=["a", "a", "label"])
    with pytest.raises(DataError, match=r"data\.train: .*'a' twice"):
        qa.check(train=frame, target="label", only=["data-volume"])


@pytest.mark.parametrize("extra", [(), ("row_id",)])
def test_no_feature_columns_besides_the_target_exits_2(tmp_path: Path, extra: tuple[str, ...]):
    frame = make_classification_frame(n=200).select("label").with_row_index("row_id")
    frame = frame.select(*extra, "label")
    train, test = random_split(frame)
    train.write_csv(tmp_path / "train.csv")
    test.write_csv(tmp_path / "test.csv")
    args = ["check", "--train", "train.csv", "--test", "test.csv", "--target", "label"]
    if extra:
        (tmp_path / "qa.toml").write_text('[task]\nid = "row_id"\n')
        args += ["--config", "qa.toml"]
    run = run_qa(*args, "--quiet", cwd=tmp_path)
    assert_one_line_error(run, "data.train", "train.csv", "no feature columns besides the target")
    if extra:
        assert "'row_id'" in run.err


def test_no_feature_columns_in_memory_names_the_train_frame():
    frame = make_classification_frame(n=200).select("label")
    with pytest.raises(DataError, match="the train DataFrame has no feature columns"):
        qa.check(train=frame, test=frame, target="label")


@pytest.fixture
def predicted(tmp_path: Path) -> Path:
    """train/test files and a test prediction file whose ``proba_1`` has 34 NaN."""
    train, test = random_split(make_classification_frame(n=1000), (0.8, 0.2))
    train.write_parquet(tmp_path / "train.parquet")
    test.write_parquet(tmp_path / "test.parquet")
    p1 = np.linspace(0.05, 0.95, test.height)
    p0 = 1 - p1
    p1[:34] = np.nan
    preds = pl.DataFrame({"prediction": (p0 < 0.5).astype(int), "proba_0": p0, "proba_1": p1})
    preds.write_csv(tmp_path / "preds.csv")
    return tmp_path


def test_bad_prediction_file_stops_the_run_once_naming_file_and_column(predicted: Path):
    run = run_qa(
        "check",
        "--train",
        "train.parquet",
        "--test",
        "test.parquet",
        "--target",
        "label",
        "--predictions",
        "test=preds.csv",
        cwd=predicted,
    )
    assert run.code == 2, run.err
    assert "Traceback" not in run.err
    errors = [line for line in run.err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, run.err  # once, not once per check that reads predictions
    for needle in ("model.predictions.test", "preds.csv", "'proba_1'", "34 missing or infinite"):
        assert needle in errors[0], run.err
    assert "'prediction'" not in run.err
    assert not (predicted / "qa-reports").exists()  # stopped before any check ran


def test_bad_prediction_frame_is_a_model_error_before_any_check_runs():
    train, test = random_split(make_classification_frame(n=400), (0.8, 0.2))
    preds = pl.DataFrame({"prediction": np.full(test.height, np.nan)})
    seen: list[str] = []
    raw = {
        "task": {"target": "label", "type": "regression"},
        "run": {"only": ["data-volume", "metric-threshold"]},
    }
    with pytest.raises(ModelError, match=r"column 'prediction' has \d+ missing or infinite"):
        run_gate(
            parse_config(raw),
            frames={"train": train, "test": test},
            predictions={"test": preds},
            progress=lambda i, n, cid, result: seen.append(cid),
        )
    assert seen == []


def test_a_data_only_run_does_not_read_prediction_files(predicted: Path):
    """``qa check --only schema`` before ``qa train`` has written the files still runs."""
    args = ["--train", "train.parquet", "--test", "test.parquet", "--target", "label"]
    run = run_qa(
        "check",
        *args,
        "--predictions",
        "test=not-yet.csv",
        "--only",
        "data-volume,schema",
        "--format",
        "json",
        cwd=predicted,
    )
    assert run.code == 0, run.err
    run = run_qa(
        "check",
        *args,
        "--predictions",
        "test=not-yet.csv",
        "--only",
        "metric-threshold",
        "--format",
        "json",
        cwd=predicted,
    )
    assert_one_line_error(run, "model.predictions.test", "not-yet.csv")


@pytest.mark.parametrize("engine", [None, "polars"])
def test_columns_named_like_a_pattern_run_every_check(engine):
    """polars reads a name like ``^x.*$`` as a regular expression in pl.col and in some
    Series methods: no check may crash on one, in memory or on profiles."""
    import numpy as np
    import polars as pl

    from qa.api import run_gate
    from qa.config import parse_config

    def split(seed: int, n: int = 1500) -> pl.DataFrame:
        rng = np.random.default_rng(seed)
        return pl.DataFrame(
            {
                "^x.*$": rng.normal(size=n),
                "^c.*$": rng.choice(["a", "b"], n),
                "label": rng.integers(0, 2, n),
            }
        )

    run = {"engine": engine} if engine else {}
    config = parse_config({"task": {"target": "label"}, "run": run})
    frames = {"train": split(0), "test": split(1), "production": split(2).drop("label")}
    report = run_gate(config, frames=frames)
    errors = {c.id: c.message for c in report.checks if c.status == "error"}
    assert errors == {}
