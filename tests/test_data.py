"""Reading splits: every supported format, and a clear DataError for everything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from qa.config import parse_config
from qa.context import Context
from qa.data import frame_sha256, load_splits, read_table
from qa.errors import DataError
from tests.conftest import make_classification_frame


@pytest.fixture
def frame() -> pl.DataFrame:
    return make_classification_frame(n=50)


@pytest.mark.parametrize(
    "suffix", [".csv", ".tsv", ".parquet", ".feather", ".arrow", ".jsonl", ".json"]
)
def test_every_supported_format_reads_back_the_same_values(tmp_path: Path, frame, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix == ".tsv":
        frame.write_csv(path, separator="\t")
    elif suffix == ".parquet":
        frame.write_parquet(path)
    elif suffix in (".feather", ".arrow"):
        frame.write_ipc(path)
    elif suffix == ".jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_json(path)
    back = read_table(path, "data.train")
    assert back.columns == frame.columns
    assert np.allclose(back["num_0"].to_numpy(), frame["num_0"].to_numpy())


def test_unknown_extension_and_folder_are_clear_errors(tmp_path: Path):
    (tmp_path / "data.xlsx").write_bytes(b"x")
    with pytest.raises(
        DataError, match=r"data\.train: cannot read .*data\.xlsx: unknown file type"
    ):
        read_table(tmp_path / "data.xlsx", "data.train")
    with pytest.raises(DataError, match="is a folder"):
        read_table(tmp_path, "data.train")


def test_corrupt_csv_names_the_file(tmp_path: Path):
    path = tmp_path / "bad.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"bad\.parquet"):
        read_table(path, "data.test")


def test_production_may_lack_the_target_but_test_may_not(frame):
    features = frame.drop("label")
    frames, _ = load_splits({"train": frame, "production": features}, "label")
    assert set(frames) == {"train", "production"}
    with pytest.raises(DataError, match=r"data\.test: target column 'label' not found"):
        load_splits({"train": frame, "test": features}, "label")


def test_frame_fingerprint_ignores_column_order_but_not_values(frame):
    assert frame_sha256(frame) == frame_sha256(frame.select(reversed(frame.columns)))
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(99.0).otherwise(pl.col("num_0")).alias("num_0")
    )
    assert frame_sha256(frame) != frame_sha256(changed)


def _context(train: pl.DataFrame, **task) -> Context:
    frames, infos = load_splits({"train": train}, task.get("target", "label"))
    return Context(parse_config({"task": {"target": "label", **task}}), frames, infos)


def test_task_type_is_inferred_from_the_target(frame):
    assert _context(frame).task == "binary"
    assert _context(make_classification_frame(n=60, n_classes=4)).task == "multiclass"
    regression = frame.with_columns(pl.Series("label", np.linspace(0, 1, frame.height)))
    assert _context(regression).task == "regression"
    text_labels = frame.with_columns(pl.col("label").replace_strict({0: "no", 1: "yes"}))
    ctx = _context(text_labels)
    assert ctx.task == "binary" and ctx.class_names == ["no", "yes"]
    assert ctx.class_names[ctx.positive_index] == "yes"


def test_feature_matrix_encodes_categories_from_train_and_cleans_inf(frame):
    train = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(float("inf"))
        .otherwise(pl.col("num_1"))
        .alias("num_1")
    )
    ctx = _context(train)
    matrix = ctx.feature_matrix("train")
    assert matrix.dtype == np.float32 and matrix.shape == (frame.height, 5)
    assert np.isnan(matrix[0, 1])
    cat = matrix[:, ctx.feature_columns.index("cat")]
    assert set(np.unique(cat)) == {0.0, 1.0, 2.0}


def test_positive_label_must_be_a_class(frame):
    with pytest.raises(DataError, match="positive_label"):
        _ = _context(frame, positive_label="maybe").positive_index


def test_boolean_and_whole_float_targets_are_classes(frame):
    as_bool = frame.with_columns(pl.col("label").cast(pl.Boolean))
    ctx = _context(as_bool)
    assert ctx.class_names == ["False", "True"] and ctx.class_names[ctx.positive_index] == "True"
    assert ctx.labels("train").tolist() == frame["label"].to_list()
    as_float = frame.with_columns(pl.col("label").cast(pl.Float64))
    ctx = _context(as_float)
    assert ctx.class_names == ["0", "1"]
    assert ctx.labels("train").tolist() == frame["label"].to_list()
