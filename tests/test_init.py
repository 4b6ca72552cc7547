"""``qa init``: a starter qa.toml (target and task detected, never asked) and a GitHub workflow."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from qa.config import load_config
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa

WORKFLOW = Path(".github") / "workflows" / "qa-gate.yml"


def init(root: Path, *args: str):
    return run_qa("init", "--dir", str(root), *args)


def written_config(root: Path) -> dict:
    return tomllib.loads((root / "qa.toml").read_text(encoding="utf-8"))


def test_init_writes_a_config_and_a_workflow_that_load(tmp_path: Path):
    run = init(tmp_path)
    assert run.code == 0, run.err
    config = load_config(tmp_path / "qa.toml")  # the starter is a valid config as written
    assert config.run.out == "qa-reports" and config.run.baseline_tolerance == 0.01
    assert config.task.target is None  # nothing to detect it from: left for the user
    assert '# target = "label"' in (tmp_path / "qa.toml").read_text()
    workflow = yaml.safe_load((tmp_path / WORKFLOW).read_text(encoding="utf-8"))
    steps = workflow["jobs"]["gate"]["steps"]
    gate = next(s for s in steps if s.get("id") == "qa")
    assert gate["uses"].endswith(tuple("0123456789")) and "@v" in gate["uses"]
    assert gate["with"]["config"] == "qa.toml"
    assert gate["with"]["baseline"] == "qa-baseline/report.json"


def test_init_workflow_fetches_the_baseline_without_failing_when_there_is_none(tmp_path: Path):
    init(tmp_path)
    workflow = yaml.safe_load((tmp_path / WORKFLOW).read_text(encoding="utf-8"))
    fetch = next(
        s for s in workflow["jobs"]["gate"]["steps"] if "baseline" in s.get("name", "").lower()
    )
    assert fetch["continue-on-error"] is True
    assert "gh run download" in fetch["run"] and "qa-report" in fetch["run"]
    assert workflow["permissions"]["actions"] == "read"


@pytest.mark.parametrize(
    "column, values, task",
    [
        ("label", [0, 1], "binary"),
        ("target", ["cat", "dog", "eel"], "multiclass"),
        ("y", None, "regression"),
        ("Class", ["no", "yes"], "binary"),
    ],
)
def test_init_detects_target_and_task_from_the_train_file(tmp_path: Path, column, values, task):
    rng = np.random.default_rng(0)
    n = 300
    y = rng.normal(size=n) if values is None else rng.choice(values, n)
    pl.DataFrame({"x": rng.normal(size=n), column: y}).write_csv(tmp_path / "train.csv")
    run = init(tmp_path, "--train", str(tmp_path / "train.csv"))
    assert run.code == 0, run.err
    raw = written_config(tmp_path)
    assert raw["task"] == {"target": column, "type": task}
    assert raw["data"] == {"train": "train.csv"}


def test_init_without_a_target_like_column_leaves_a_note(tmp_path: Path):
    pl.DataFrame({"a": [1, 2, 3], "b": [0, 1, 0]}).write_csv(tmp_path / "train.csv")
    run = init(tmp_path, "--train", str(tmp_path / "train.csv"))
    assert run.code == 0
    assert "target" not in written_config(tmp_path)["task"]
    assert "set [task] target" in run.err


def test_init_explicit_target_must_exist(tmp_path: Path):
    make_classification_frame(n=100).write_csv(tmp_path / "train.csv")
    run = init(tmp_path, "--train", str(tmp_path / "train.csv"), "--target", "nope")
    assert run.code == 2
    assert "nope" in run.err and not (tmp_path / "qa.toml").exists()


def test_init_never_overwrites_without_force(tmp_path: Path):
    (tmp_path / "qa.toml").write_text("# mine\n", encoding="utf-8")
    run = init(tmp_path)
    assert run.code == 2
    assert "qa.toml" in run.err and "--force" in run.err
    assert (tmp_path / "qa.toml").read_text() == "# mine\n"
    assert not (tmp_path / WORKFLOW).exists()  # nothing half-written
    assert init(tmp_path, "--force").code == 0
    assert (tmp_path / "qa.toml").read_text() != "# mine\n"


def test_init_never_overwrites_the_workflow_without_force(tmp_path: Path):
    (tmp_path / WORKFLOW).parent.mkdir(parents=True)
    (tmp_path / WORKFLOW).write_text("name: mine\n", encoding="utf-8")
    run = init(tmp_path)
    assert run.code == 2 and "qa-gate.yml" in run.err
    assert (tmp_path / WORKFLOW).read_text() == "name: mine\n"
    assert not (tmp_path / "qa.toml").exists()


def test_init_paths_are_relative_to_the_config_and_check_runs_from_it(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    make_classification_frame(n=6000).write_csv(data / "train.csv")
    make_classification_frame(n=1500, seed=1).write_csv(data / "test.csv")
    repo = tmp_path / "repo"
    run = init(repo, "--train", str(data / "train.csv"), "--test", str(data / "test.csv"))
    assert run.code == 0, run.err
    raw = written_config(repo)
    assert raw["data"] == {"train": "../data/train.csv", "test": "../data/test.csv"}
    check = run_qa(
        "check",
        "--config",
        str(repo / "qa.toml"),
        "--only",
        "data-volume",
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
        "--ci",
        "none",
        "-q",
    )
    assert check.code == 0, check.err


def test_init_escapes_a_hostile_target_name_in_toml(tmp_path: Path):
    name = 'we"ird \\ naïve ü 列'
    frame = make_classification_frame(n=100).rename({"label": name})
    frame.write_parquet(tmp_path / "train.parquet")  # polars' CSV header keeps "" doubled
    run = init(tmp_path, "--train", str(tmp_path / "train.parquet"), "--target", name)
    assert run.code == 0, run.err
    assert written_config(tmp_path)["task"]["target"] == name


def test_init_flags_win_and_no_workflow_writes_only_the_config(tmp_path: Path):
    run = init(tmp_path, "--target", "label", "--task", "multiclass", "--no-workflow")
    assert run.code == 0
    assert written_config(tmp_path)["task"] == {"target": "label", "type": "multiclass"}
    assert not (tmp_path / WORKFLOW).exists()


def test_init_action_reference_can_be_set(tmp_path: Path):
    init(tmp_path, "--action", "acme/qa-gate@v2")
    workflow = yaml.safe_load((tmp_path / WORKFLOW).read_text(encoding="utf-8"))
    assert any(s.get("uses") == "acme/qa-gate@v2" for s in workflow["jobs"]["gate"]["steps"])
