"""The Python API: DataFrames or paths in, a Report out, identical to what the CLI writes."""

from __future__ import annotations

import json

import polars as pl
import pytest

import qa
from qa.report import Report, schema_errors
from qa.testing import comparable
from tests.conftest import make_classification_frame, random_split


def test_public_api_exports_what_we_mean():
    assert sorted(qa.__all__) == sorted(
        [
            "__version__",
            "check",
            "Chart",
            "Check",
            "CheckResult",
            "Config",
            "ConfigError",
            "Context",
            "DataError",
            "Evidence",
            "ModelError",
            "PluginError",
            "QAError",
            "Report",
            "load_config",
            "param",
            "table",
        ]
    )
    for name in qa.__all__:
        assert getattr(qa, name) is not None


def test_import_qa_does_not_import_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys, qa, qa.cli\n"
        "heavy = [m for m in ('polars', 'numpy', 'sklearn', 'xgboost', 'torch', 'cleanlab', 'pandera')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_check_accepts_pandas_and_polars_and_gives_the_same_report():
    train, test = random_split(make_classification_frame(n=1000))
    from_polars = qa.check(train=train, test=test, target="label", only=["data-volume"])
    from_pandas = qa.check(
        train=train.to_pandas(), test=test.to_pandas(), target="label", only=["data-volume"]
    )
    assert comparable(from_polars) == comparable(from_pandas)
    assert from_polars.inputs["train"]["sha256"] == from_pandas.inputs["train"]["sha256"]


def test_report_round_trips_and_validates():
    report = qa.check(train=make_classification_frame(n=300), target="label")
    data = json.loads(report.to_json())
    assert schema_errors(data) == []
    assert Report.from_json(report.to_json()) == report


def test_two_runs_give_the_same_report_apart_from_times():
    frame = make_classification_frame(n=800)
    first = qa.check(train=frame, target="label")
    second = qa.check(train=frame, target="label")
    assert comparable(first) == comparable(second)


def test_bad_params_in_python_raise_config_error_naming_the_key():
    with pytest.raises(qa.ConfigError, match=r"checks\.data-volume\.min_rows_binary"):
        qa.check(
            train=make_classification_frame(n=100),
            target="label",
            checks={"data-volume": {"min_rows_binary": -3}},
        )
    with pytest.raises(qa.ConfigError, match=r"checks\.data-volume\.colour: unknown parameter"):
        qa.check(
            train=make_classification_frame(n=100),
            target="label",
            checks={"data-volume": {"colour": 1}},
        )


def test_severity_warning_turns_a_fail_into_a_warn():
    tiny = make_classification_frame(n=30)
    strict = qa.check(train=tiny, target="label", only=["data-volume"])
    lenient = qa.check(
        train=tiny,
        target="label",
        only=["data-volume"],
        checks={"data-volume": {"severity": "warning"}},
    )
    assert strict.status == "fail" and lenient.status == "pass"
    assert lenient.checks[0].status == "warn"


def test_disabled_check_is_reported_as_skip():
    report = qa.check(
        train=make_classification_frame(n=100),
        target="label",
        only=["data-volume"],
        checks={"data-volume": {"enabled": False}},
    )
    assert report.checks[0].status == "skip" and "disabled" in report.checks[0].message


def test_hostile_and_unicode_column_names_survive():
    frame = make_classification_frame(n=300).rename(
        {"num_0": "<script>alert(1)</script>", "cat": "naïve ü 列", "label": 'ta"rget'}
    )
    report = qa.check(train=frame, target='ta"rget')
    assert report.task["features"] == 5
    assert schema_errors(json.loads(report.to_json())) == []


def test_missing_target_and_one_class_are_data_errors():
    frame = make_classification_frame(n=100)
    with pytest.raises(qa.DataError, match="target column 'nope'"):
        qa.check(train=frame, target="nope")
    with pytest.raises(qa.DataError, match="single class"):
        qa.check(train=frame.with_columns(pl.lit("a").alias("label")), target="label")
    with pytest.raises(qa.DataError, match="no rows"):
        qa.check(train=frame.head(0), target="label")


@pytest.mark.parametrize(
    "bad, message", [(float("nan"), "1 missing value"), (float("inf"), "1 infinite value")]
)
def test_a_nan_or_infinite_regression_target_is_a_data_error_naming_split_and_column(bad, message):
    train = pl.DataFrame(
        {"x": [float(i) for i in range(50)], "y": [float(i) * 2 for i in range(50)]}
    )
    test = train.with_columns(
        pl.when(pl.int_range(50) == 3).then(bad).otherwise(pl.col("y")).alias("y")
    )
    with pytest.raises(qa.DataError, match=f"data.test: target column 'y' has {message}"):
        qa.check(train=train, test=test, target="y", only=["schema"])


def test_a_test_class_unseen_in_a_two_class_train_names_the_split_not_a_config_key():
    frame = pl.DataFrame({"x": [float(i) for i in range(40)], "label": ["a", "b"] * 20})
    test = pl.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "c"]})
    with pytest.raises(
        qa.DataError,
        match=r"data\.test: target 'label' has class\(es\) never "
        r"seen in train: \['c'\]",
    ):
        qa.check(train=frame, test=test, target="label", only=["schema"])
    with pytest.raises(qa.DataError, match=r"task\.type: binary"):  # declared: the key is at fault
        qa.check(train=frame, test=test, target="label", task="binary", only=["schema"])


def test_check_returns_a_report_that_jupyter_shows_as_the_html_report():
    from qa.api import NotebookReport
    from qa.reports.html import render

    report = qa.check(train=make_classification_frame(n=300), target="label", only=["data-volume"])
    assert isinstance(report, NotebookReport) and isinstance(report, Report)
    assert report._repr_html_() == render(report)
    plain = Report.from_json(report.to_json())
    assert report == plain and plain == report  # equal to the plain Report, both ways
    assert not hasattr(plain, "_repr_html_")  # the engine's Report renders nothing
    assert NotebookReport.of(plain) == report
