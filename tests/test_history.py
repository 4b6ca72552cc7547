from __future__ import annotations

import json

import polars as pl
import pytest

from qa.errors import DataError
from qa.history import read_history


def test_read_history_csv_sorts_by_epoch_and_keeps_metrics(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(
        "epoch,train_loss,val_loss,val_accuracy,note\n"
        "2,0.5,0.6,0.8,x\n1,0.9,0.95,0.6,y\n3,0.4,0.65,0.81,z\n"
    )
    frame = read_history(path)
    assert frame.columns == ["epoch", "train_loss", "val_loss", "val_accuracy"]
    assert frame["epoch"].to_list() == [1, 2, 3]
    assert frame["val_loss"].to_list() == [0.95, 0.6, 0.65]


def test_read_history_names_the_file_and_the_missing_val_loss(tmp_path):
    path = tmp_path / "hist.csv"
    path.write_text("epoch,train_loss\n1,0.9\n2,0.8\n")
    with pytest.raises(DataError, match=r"hist\.csv has no 'val_loss' column"):
        read_history(path)


def test_read_history_json_records_columns_and_keras_style(tmp_path):
    records = tmp_path / "records.json"
    records.write_text(
        json.dumps(
            [
                {"epoch": 1, "train_loss": 1.0, "val_loss": 1.1},
                {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7},
            ]
        )
    )
    assert read_history(records)["val_loss"].to_list() == [1.1, 0.7]
    keras = tmp_path / "keras.json"
    keras.write_text(
        json.dumps(
            {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.8, 0.9], "accuracy": [0.5, 0.7, 0.8]}
        )
    )
    frame = read_history(keras)
    assert frame["epoch"].to_list() == [1, 2, 3]
    assert frame["train_loss"].to_list() == [1.0, 0.5, 0.3]
    assert "accuracy" in frame.columns


def test_read_history_merges_train_and_validation_rows_of_one_epoch(tmp_path):
    path = tmp_path / "lightning.csv"
    path.write_text("epoch,train_loss,val_loss\n0,0.9,\n0,,1.0\n1,0.7,\n1,,0.8\n")
    frame = read_history(path)
    assert frame.to_dicts() == [
        {"epoch": 0, "train_loss": 0.9, "val_loss": 1.0},
        {"epoch": 1, "train_loss": 0.7, "val_loss": 0.8},
    ]


@pytest.mark.parametrize(
    "content,message",
    [
        ("epoch,train_loss,val_loss\n", "has no rows"),
        ("epoch,train_loss,val_loss\none,0.5,0.6\n", "'epoch' is not numeric"),
        ("epoch,train_loss,val_loss\n1.5,0.5,0.6\n", "whole numbers"),
        ("epoch,train_loss,val_loss\n1,0.5,\n2,0.4,\n", "'val_loss' has no values"),
    ],
)
def test_read_history_rejects_unusable_files(tmp_path, content, message):
    path = tmp_path / "h.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_history(path)


def test_read_history_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_history(tmp_path / "nope.csv")
    odd = tmp_path / "h.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        read_history(odd)


def test_context_history_reads_the_configured_file(tmp_path):
    from tests.trainers.helpers import classification_context

    path = tmp_path / "history.csv"
    pl.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.0, 0.9]}).write_csv(
        path
    )
    ctx = classification_context(n=200, history=str(path))
    assert ctx.history().height == 2
