from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

import qa
from qa.config import load_config

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "make_example.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_example_writes_the_splits_the_config_and_plants_the_defects(tmp_path, capsys):
    example = load_script()
    assert example.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "planted defects" in printed and "mean radius" in printed and "copied into" in printed

    data = {
        s: pl.read_parquet(tmp_path / "data" / f"{s}.parquet")
        for s in ("train", "validation", "test", "production")
    }
    n_leaked = round(0.05 * data["test"].height)
    assert sum(f.height for f in data.values()) == 569 + n_leaked
    assert "diagnosis" not in data["production"].columns
    leaked = data["train"].join(data["test"], on=data["test"].columns, how="semi")
    assert leaked.height == n_leaked
    for split in ("validation", "test"):  # stratified: class shares agree within a point
        share = (data[split]["diagnosis"] == "malignant").mean()
        assert abs(share - 212 / 569) < 0.02
    ratio = data["production"]["mean radius"].median() / data["train"]["mean radius"].median()
    assert 7 < ratio < 14

    config = load_config(tmp_path / "qa.toml", search=False)
    assert config.task.target == "diagnosis"
    assert Path(config.data.train).is_file()

    report = qa.check(config=tmp_path / "qa.toml", only=["schema", "class-imbalance"])
    statuses = {c.id: c for c in report.checks}
    assert statuses["schema"].status == "fail"
    assert set(statuses["schema"].subjects) == {"mean radius", "mean perimeter"}
    assert statuses["class-imbalance"].status == "pass"


def test_make_example_is_idempotent(tmp_path):
    example = load_script()
    example.build_example(tmp_path)
    first = {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()}
    example.build_example(tmp_path)
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()}
