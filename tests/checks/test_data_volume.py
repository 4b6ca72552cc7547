from __future__ import annotations

import polars as pl

import qa
from qa.checks.data_volume import DataVolume
from qa.testing import check_contract
from tests.conftest import make_classification_frame


def test_data_volume_contract_binary_warns_below_5000_rows():
    big = make_classification_frame(n=6000)
    small = make_classification_frame(n=4999)
    _clean, defective = check_contract(
        DataVolume,
        clean=dict(train=big, target="label"),
        defective=dict(train=small, target="label"),
        defective_statuses=("warn",),
    )
    assert defective.checks[0].metrics["rows_train"] == 4999


def test_data_volume_multiclass_names_the_short_class():
    frame = make_classification_frame(n=9000, n_classes=3)
    rare = frame.filter(pl.col("label") != 2).vstack(frame.filter(pl.col("label") == 2).head(400))
    report = qa.check(train=rare, target="label", only=["data-volume"])
    result = report.checks[0]
    assert result.status == "warn"
    assert result.subjects == ("2",)
    assert result.metrics["min_rows_per_class"] == 400


def test_data_volume_fails_below_the_hard_floor():
    report = qa.check(train=make_classification_frame(n=40), target="label", only=["data-volume"])
    assert report.checks[0].status == "fail"
    assert report.status == "fail"
