"""Third-party checks are first-class: found through the entry point, run, and fail closed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_classification_frame
from tests.helpers import run_qa
from tests.plugin_env import PLUGIN_SRC, write_distribution

GOOD = {
    "sample/row-count": "qa_sample_plugin:RowCount",
    "sample/crashes": "qa_sample_plugin:Crashes",
}


def plugin_env(tmp_path: Path, entry_points: dict[str, str]) -> dict[str, str]:
    site = write_distribution(tmp_path / "site", entry_points)
    path = os.pathsep.join([str(site), str(PLUGIN_SRC), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, "QA_DISABLE_PLUGIN_AUTOLOAD": "0"}


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    make_classification_frame(n=200).write_parquet(tmp_path / "train.parquet")
    return tmp_path


def test_plugin_check_shows_in_list_and_runs(train_file: Path):
    env = plugin_env(train_file, {"sample/row-count": GOOD["sample/row-count"]})
    listed = run_qa("list", env=env)
    assert listed.code == 0, listed.err
    assert "sample/row-count" in listed.out and "qa-sample-plugin 0.1" in listed.out
    run = run_qa(
        "check",
        "--train",
        "train.parquet",
        "--target",
        "label",
        "--only",
        "sample/row-count",
        "--format",
        "json",
        cwd=train_file,
        env=env,
    )
    assert run.code == 0, run.err
    report = json.loads((train_file / "qa-reports" / "report.json").read_text())
    assert report["checks"][0]["id"] == "sample/row-count"
    assert report["plugins"] == [
        {"id": "sample/row-count", "package": "qa-sample-plugin", "version": "0.1"}
    ]


def test_crashing_plugin_gives_error_exit_2_and_other_results(train_file: Path):
    env = plugin_env(train_file, GOOD)
    run = run_qa(
        "check",
        "--train",
        "train.parquet",
        "--target",
        "label",
        "--only",
        "sample/row-count,sample/crashes,data-volume",
        "--format",
        "json",
        cwd=train_file,
        env=env,
    )
    assert run.code == 2, run.err
    report = json.loads((train_file / "qa-reports" / "report.json").read_text())
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "data-volume": "warn",
        "sample/row-count": "pass",
        "sample/crashes": "error",
    }
    crashed = next(c for c in report["checks"] if c["id"] == "sample/crashes")
    assert "boom from the sample plugin" in crashed["message"]
    assert "RuntimeError" in crashed["traceback"]
    assert report["status"] == "error"


def test_broken_plugin_stops_the_run_naming_the_package(train_file: Path):
    env = plugin_env(train_file, {"sample/missing": "qa_sample_plugin:DoesNotExist"})
    run = run_qa("check", "--train", "train.parquet", "--target", "label", cwd=train_file, env=env)
    assert run.code == 2
    assert "qa-sample-plugin" in run.err and "Traceback" not in run.err


def test_plugin_reusing_a_builtin_id_is_refused(train_file: Path):
    env = plugin_env(train_file, {"data-volume": "qa_sample_plugin:ClaimsBuiltinId"})
    run = run_qa("list", env=env)
    assert run.code == 2
    assert "qa-sample-plugin" in run.err and "already registered" in run.err


def test_entry_point_name_must_match_the_check_id(train_file: Path):
    env = plugin_env(train_file, {"sample/other-name": "qa_sample_plugin:RowCount"})
    run = run_qa("list", env=env)
    assert run.code == 2
    assert "differs from the check's id" in run.err


def test_autoload_switch_keeps_only_builtins(train_file: Path):
    env = plugin_env(train_file, GOOD)
    env["QA_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    listed = run_qa("list", env=env)
    assert listed.code == 0 and "sample/row-count" not in listed.out


def test_builtin_order_names_exactly_the_builtin_entry_points():
    """The run order is stated once (qa.registry.BUILTIN_ORDER), the set of built-ins once
    (pyproject's entry-point table); they must name the same checks, installed or not."""
    import tomllib
    from importlib.metadata import entry_points

    from qa.registry import BUILTIN_DISTRIBUTION, BUILTIN_ORDER, GROUP

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = set(pyproject["project"]["entry-points"][GROUP])
    installed = {
        ep.name
        for ep in entry_points(group=GROUP)
        if ep.dist is not None and ep.dist.metadata["Name"] == BUILTIN_DISTRIBUTION
    }
    assert len(set(BUILTIN_ORDER)) == len(BUILTIN_ORDER)
    assert set(BUILTIN_ORDER) == declared == installed
