"""The CLI's promises: exit codes 0/1/2 and one clear line naming the culprit, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from qa.report import schema_errors
from tests.conftest import make_classification_frame, random_split
from tests.helpers import run_qa


@pytest.fixture
def split_files(tmp_path: Path) -> Path:
    train, test = random_split(make_classification_frame(n=6000), (0.8, 0.2))
    train.write_parquet(tmp_path / "train.parquet")
    test.write_parquet(tmp_path / "test.parquet")
    return tmp_path


def assert_one_line_error(run, *needles: str) -> None:
    assert run.code == 2, (run.code, run.err)
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in run.err, run.err


def test_check_runs_without_config_and_writes_every_format(split_files: Path):
    run = run_qa(
        "check",
        "--train",
        "train.parquet",
        "--test",
        "test.parquet",
        "--target",
        "label",
        "--only",
        "data-volume",
        cwd=split_files,
    )
    assert run.code == 0, run.err
    out = split_files / "qa-reports"
    assert {p.name for p in out.iterdir()} >= {
        "report.json",
        "report.html",
        "junit.xml",
        "summary.md",
    }
    data = json.loads((out / "report.json").read_text())
    assert schema_errors(data) == []
    assert data["status"] == "pass"
    assert "data-volume" in run.out


def test_check_exits_1_when_a_check_fails(tmp_path: Path):
    make_classification_frame(n=30).write_csv(tmp_path / "tiny.csv")
    run = run_qa(
        "check",
        "--train",
        "tiny.csv",
        "--target",
        "label",
        "--only",
        "data-volume",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert run.code == 1, run.err
    assert json.loads((tmp_path / "qa-reports" / "report.json").read_text())["status"] == "fail"


def test_missing_file_exits_2_naming_it(split_files: Path):
    run = run_qa("check", "--train", "nope.parquet", "--target", "label", cwd=split_files)
    assert_one_line_error(run, "data.train", "nope.parquet")


def test_missing_target_column_exits_2_naming_it(split_files: Path):
    run = run_qa("check", "--train", "train.parquet", "--target", "zzz", cwd=split_files)
    assert_one_line_error(run, "'zzz'", "train.parquet")


def test_unreadable_file_exits_2_naming_it(tmp_path: Path):
    (tmp_path / "broken.parquet").write_bytes(b"this is not parquet")
    run = run_qa("check", "--train", "broken.parquet", "--target", "y", cwd=tmp_path)
    assert_one_line_error(run, "cannot read", "broken.parquet")


def test_unknown_config_key_exits_2_naming_the_key_path(split_files: Path):
    (split_files / "qa.toml").write_text(
        '[task]\ntarget = "label"\n[data]\ntrain = "train.parquet"\n'
        '[checks.data-volume]\nmin_rows_binary = "high"\n'
    )
    run = run_qa("check", cwd=split_files)
    assert_one_line_error(run, "checks.data-volume.min_rows_binary", "expected an integer")
    (split_files / "qa.toml").write_text('[task]\ntarget = "label"\ncolour = "red"\n')
    run = run_qa("check", cwd=split_files)
    assert_one_line_error(run, "task.colour", "unknown key")


def test_unknown_check_id_in_config_exits_2(split_files: Path):
    (split_files / "qa.toml").write_text(
        '[task]\ntarget = "label"\n[data]\ntrain = "train.parquet"\n[checks.no-such-check]\n'
    )
    assert_one_line_error(run_qa("check", cwd=split_files), "checks.no-such-check", "unknown check")


def test_config_paths_are_relative_to_the_config_file(split_files: Path, tmp_path_factory):
    (split_files / "qa.toml").write_text(
        '[task]\ntarget = "label"\n[data]\ntrain = "train.parquet"\ntest = "test.parquet"\n'
        '[run]\nonly = ["data-volume"]\nformats = ["json"]\n'
    )
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    run = run_qa("check", "--config", str(split_files / "qa.toml"), "--out", "out", cwd=elsewhere)
    assert run.code == 0, run.err
    assert (elsewhere / "out" / "report.json").exists()


def test_pyproject_tool_qa_table_is_read(split_files: Path):
    (split_files / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.qa.task]\ntarget = "label"\n'
        '[tool.qa.data]\ntrain = "train.parquet"\n[tool.qa.run]\nonly = ["data-volume"]\n'
    )
    run = run_qa("check", "--format", "json", cwd=split_files)
    assert run.code == 0, run.err


def test_flags_win_over_the_config_file(split_files: Path):
    (split_files / "qa.toml").write_text(
        '[task]\ntarget = "wrong"\n[data]\ntrain = "train.parquet"\n'
    )
    run = run_qa(
        "check", "--target", "label", "--only", "data-volume", "--format", "json", cwd=split_files
    )
    assert run.code == 0, run.err


def test_empty_split_and_single_class_target_exit_2(tmp_path: Path):
    frame = make_classification_frame(n=100)
    frame.head(0).write_parquet(tmp_path / "empty.parquet")
    frame.with_columns(pl.lit(1).alias("label")).write_parquet(tmp_path / "one.parquet")
    assert_one_line_error(
        run_qa("check", "--train", "empty.parquet", "--target", "label", cwd=tmp_path),
        "has no rows",
    )
    assert_one_line_error(
        run_qa(
            "check", "--train", "one.parquet", "--target", "label", "--task", "binary", cwd=tmp_path
        ),
        "single class",
    )


def test_list_explain_version_and_report_rerender(split_files: Path):
    listed = run_qa("list")
    assert listed.code == 0 and "data-volume" in listed.out
    explained = run_qa("explain", "data-volume")
    assert explained.code == 0
    for section in (
        "What it checks",
        "Why it matters",
        "How it decides",
        "Parameters",
        "How to fix",
    ):
        assert section in explained.out
    assert_one_line_error(run_qa("explain", "no-such"), "unknown check")
    assert run_qa("--version").out.startswith("qa-gate")
    run = run_qa(
        "check",
        "--train",
        "train.parquet",
        "--target",
        "label",
        "--only",
        "data-volume",
        "--format",
        "json",
        cwd=split_files,
    )
    assert run.code == 0
    md = run_qa("report", "qa-reports/report.json", "--format", "md", cwd=split_files)
    assert md.code == 0 and "data-volume" in md.out
    assert_one_line_error(run_qa("report", "missing.json", cwd=split_files), "missing.json")
