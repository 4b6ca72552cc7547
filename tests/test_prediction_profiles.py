"""Prediction profiles: a split's prediction file as score histograms (fixed 0.01 bins), predicted
label counts or a regression histogram; exact merging, the stored form, and prediction drift from
them — on an engine run as on rows, and against a stored reference that keeps held-out scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from qa import profile as qp
from qa.api import build_context
from qa.checks.drift import Drift
from qa.config import parse_config
from qa.engines import ProfileTask
from qa.engines.polars_engine import (
    prediction_frame,
    profile_frame,
    profile_predictions,
    profile_splits,
)
from qa.errors import ModelError
from qa.profile import SCORE_EDGES, load_reference
from qa.profile_context import build_profile_context
from tests.inprocess import run_qa

UNIVARIATE = {"domain_classifier": False}
FEATURE, TEST, KS_JS = 0, 6, 10


def table(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = {f"x{i}": rng.normal(size=n) for i in range(4)}
    logit = x["x0"] + x["x1"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame({**x, "y": y})


def scores(frame: pl.DataFrame, shift: float = 0.0) -> pl.DataFrame:
    """A model's prediction file for the rows: P(y=1) = sigmoid(x0 + x1), moved by ``shift``."""
    p1 = 1 / (1 + np.exp(-(frame["x0"] + frame["x1"]).to_numpy()))
    p1 = np.clip(p1 + shift, 0.0, 1.0)
    return pl.DataFrame(
        {"prediction": (p1 >= 0.5).astype(np.int64), "proba_0": 1 - p1, "proba_1": p1}
    )


def same_columns(a: dict[str, qp.ColumnProfile], b: dict[str, qp.ColumnProfile]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        da, db = a[name].to_dict(), b[name].to_dict()
        for key, value in da.items():
            if key in ("mean", "m2"):
                assert value == pytest.approx(db[key], rel=1e-9, abs=1e-9), (name, key)
            else:
                assert value == db[key], (name, key)


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    return {
        "train": table(6_000, 1),
        "test": table(2_000, 2),
        "production": table(2_000, 3),
    }


@pytest.fixture(scope="module")
def spec(data) -> qp.ProfileSpec:
    return profile_splits({"train": data["train"]}, ProfileTask("y")).profiles.spec


# --------------------------------------------------------------------------- profiles
def test_score_edges_are_the_hundred_fixed_bins_of_a_probability():
    assert len(SCORE_EDGES) == 101 and SCORE_EDGES[0] == 0.0 and SCORE_EDGES[-1] == 1.0
    assert SCORE_EDGES[7] == 0.07 and bool(np.all(np.diff(SCORE_EDGES) > 0))


def test_prediction_profiles_merge_exactly_and_stream_like_the_whole_file(data, spec, tmp_path):
    preds = scores(data["train"])
    whole = prediction_frame(preds, spec, "binary")
    parts = qp.merge_columns(
        prediction_frame(preds[:2500], spec, "binary"),
        prediction_frame(preds[2500:], spec, "binary"),
    )
    same_columns(parts, whole)
    path = tmp_path / "preds.csv"
    preds.write_csv(path)
    same_columns(profile_predictions(path, spec, "binary", batch_rows=700), whole)
    score = whole["proba_1"]
    assert isinstance(score, qp.NumericProfile) and len(score.hist) == 102
    assert sum(score.hist) == 6_000 and score.hist[0] == 0  # nothing below 0
    labels = whole["prediction"]
    assert isinstance(labels, qp.CategoricalProfile) and labels.other == 0
    assert sum(labels.counts.values()) == 6_000 and set(labels.counts) == {"0", "1"}
    # profiles of partitions merge their prediction profiles like their columns
    first, second = (
        profile_frame(data["train"][:2500], spec),
        profile_frame(data["train"][2500:], spec),
    )
    first.predictions = prediction_frame(preds[:2500], spec, "binary")
    second.predictions = prediction_frame(preds[2500:], spec, "binary")
    same_columns(first.merge(second).predictions, whole)


def test_multiclass_labels_are_all_tracked_and_regression_uses_the_targets_bins(spec):
    labels = pl.DataFrame(
        {"prediction": ["cat", "dog", "emu", "dog", None], "proba_cat": [0.5] * 5}
    )
    found = prediction_frame(labels, spec, "multiclass")
    counted = found["prediction"]
    assert isinstance(counted, qp.CategoricalProfile)
    assert counted.counts == {"cat": 1, "dog": 2, "emu": 1} and counted.nulls == 1
    floats = prediction_frame(pl.DataFrame({"prediction": [1.0, 0.0, 2.0]}), spec, "multiclass")
    assert floats["prediction"].to_dict()["counts"] == {"0": 1, "1": 1, "2": 1}  # as the class
    train = pl.DataFrame({"x": np.arange(1000.0), "y": np.linspace(0, 10, 1000)})
    reg = profile_splits({"train": train}, ProfileTask("y", task_type="regression")).profiles
    values = prediction_frame(
        pl.DataFrame({"prediction": [0.5, 5.0, 50.0]}), reg.spec, "regression"
    )
    hist = values["prediction"]
    assert isinstance(hist, qp.NumericProfile)
    assert len(hist.hist) == len(reg.spec.column("y").edges) + 1 and hist.hist[-1] == 1


def test_a_prediction_file_without_a_prediction_column_is_an_error(spec, tmp_path):
    pl.DataFrame({"proba_1": [0.2]}).write_parquet(tmp_path / "p.parquet")
    with pytest.raises(ModelError, match="no 'prediction' column"):
        profile_predictions(tmp_path / "p.parquet", spec, "binary", "model.predictions.test")


def test_prediction_profiles_are_stored_optional_and_fingerprinted(data, tmp_path):
    result = profile_splits({"train": data["train"][:1000]}, ProfileTask("y"))
    plain = result.profiles.splits["train"]
    assert "predictions" not in plain.to_dict()  # a profile without them reads as before
    before = plain.fingerprint
    plain.predictions = prediction_frame(
        scores(data["train"][:1000]), result.profiles.spec, "binary"
    )
    assert plain.fingerprint != before
    path = tmp_path / "ref.qaprofile"
    result.profiles.save(path)
    assert "predictions" in json.loads(path.read_text())["splits"]["train"]
    same_columns(load_reference(path).splits["train"].predictions, plain.predictions)


# --------------------------------------------------------------------------- drift
def write(data: dict[str, pl.DataFrame], folder: Path, shift: float) -> dict[str, str]:
    paths = {}
    for split, frame in data.items():
        frame.write_parquet(folder / f"{split}.parquet")
        moved = shift if split == "production" else 0.0
        scores(frame, moved).write_parquet(folder / f"{split}.preds.parquet")
        paths[split] = str(folder / f"{split}.parquet")
        paths[f"{split}.preds"] = str(folder / f"{split}.preds.parquet")
    return paths


def gate_config(paths: dict[str, str], splits: tuple[str, ...], **run: Any) -> Any:
    return parse_config(
        {
            "task": {"target": "y"},
            "data": {s: paths[s] for s in splits},
            "model": {"predictions": {s: paths[f"{s}.preds"] for s in splits if s != "train"}},
            "run": run,
        }
    )


def predictions_row(result) -> tuple[Any, ...]:
    return next(r for r in result.evidence[0].rows if r[FEATURE] == "predictions")


@pytest.mark.parametrize("shift", [0.2, 0.0])
def test_an_engine_run_judges_prediction_drift_from_score_histograms_as_on_rows(
    data, tmp_path, shift
):
    paths = write(data, tmp_path, shift)
    config = gate_config(paths, ("train", "test", "production"))
    params = Drift.Params(**UNIVARIATE)
    on_rows = Drift().run(build_context(config), params)
    pctx = build_profile_context(config)
    assert pctx.profile("production").predictions and not pctx.profile("train").predictions
    on_profiles = Drift().run_profiles(pctx, params)
    assert on_rows.status == on_profiles.status, (on_rows.message, on_profiles.message)
    assert on_rows.subjects == on_profiles.subjects
    exact, binned = predictions_row(on_rows), predictions_row(on_profiles)
    assert binned[TEST] == "KS on 100 score bins"
    assert binned[KS_JS] <= exact[KS_JS] + 1e-9 and exact[KS_JS] - binned[KS_JS] < 0.02
    if shift:
        assert on_profiles.status == "warn" and "predictions" in on_profiles.subjects
    else:
        assert "predictions" not in on_profiles.subjects


@pytest.fixture(scope="module")
def stored(data, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("stored")
    paths = write(data, folder, 0.0)
    out = folder / "ref.qaprofile"
    run = run_qa(
        "profile", "--train", paths["train"], "--test", paths["test"], "--target", "y",
        "--predictions", f"test={paths['test.preds']}", "--out", str(out),
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "test 2,000 rows with predictions" in run.out
    return out, paths


@pytest.mark.parametrize("shift", [0.2, 0.0])
def test_qa_check_against_a_stored_reference_judges_prediction_drift_on_held_out_scores(
    data, stored, tmp_path, shift
):
    reference, paths = stored
    assert "proba_1" in load_reference(reference).splits["test"].predictions
    scores(data["production"], shift).write_parquet(tmp_path / "pp.parquet")
    out = tmp_path / "reports"
    run = run_qa(
        "check", "--reference", str(reference), "--production", paths["production"],
        "--target", "y", "--predictions", f"production={tmp_path / 'pp.parquet'}",
        "--only", "drift", "--out", str(out), "--ci", "none", "-q",
    )  # fmt: skip
    assert run.code in (0, 1), run.err
    result = json.loads((out / "report.json").read_text())["checks"][0]
    assert "prediction drift not available" not in result["message"]
    # the same data in memory: test's predictions are the reference there too
    (tmp_path / "pp.parquet").replace(tmp_path / "production.preds.parquet")
    in_memory = {**paths, "production.preds": str(tmp_path / "production.preds.parquet")}
    config = gate_config(in_memory, ("train", "test", "production"))
    on_rows = Drift().run(build_context(config), Drift.Params())
    if shift:
        assert result["status"] == on_rows.status == "warn", (result["message"], on_rows.message)
        assert "predictions" in result["subjects"] and "predictions" in on_rows.subjects
        assert "predictions drifted (PSI" in result["message"], result["message"]
        assert "predictions drifted (PSI" in on_rows.message, on_rows.message
    else:
        assert result["status"] == on_rows.status == "pass", (result["message"], on_rows.message)
        assert "predictions" not in result["subjects"]


def test_a_reference_without_held_out_predictions_says_how_to_store_them(data, tmp_path):
    paths = write(data, tmp_path, 0.2)
    reference = tmp_path / "train.qaprofile"
    build_profile_context(gate_config(paths, ("train",))).profiles.save(reference)
    config = gate_config(paths, ("production",), reference=str(reference))
    result = Drift().run_profiles(build_profile_context(config), Drift.Params())
    assert "prediction drift not available: the stored reference holds no predictions" in (
        result.message
    )
    assert "qa profile --predictions test=PATH" in result.message


def test_multiclass_compares_predicted_label_counts_and_regression_the_target_bins(tmp_path):
    rng = np.random.default_rng(7)

    def split(n: int, task: str, moved: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
        x = rng.normal(size=n)
        if task == "regression":
            frame = pl.DataFrame({"x": x, "z": rng.normal(size=n), "y": 2 * x + rng.normal(size=n)})
            return frame, pl.DataFrame({"prediction": 2 * x + (0.8 if moved else 0.0)})
        classes = np.array(["cat", "dog", "emu"])
        y = classes[np.digitize(x + rng.normal(size=n), [-0.5, 0.5])]
        guess = classes[np.digitize(x + (0.8 if moved else 0.0), [-0.5, 0.5])]
        return pl.DataFrame({"x": x, "z": rng.normal(size=n), "y": y}), pl.DataFrame(
            {"prediction": guess}
        )

    for task in ("multiclass", "regression"):
        paths: dict[str, str] = {}
        for name, n, moved in (
            ("train", 3000, False),
            ("test", 1500, False),
            ("production", 1500, True),
        ):
            frame, preds = split(n, task, moved)
            frame.drop("y" if name == "production" else []).write_parquet(tmp_path / f"{name}.pq")
            preds.write_parquet(tmp_path / f"{name}.p.pq")
            paths[name], paths[f"{name}.preds"] = (
                str(tmp_path / f"{name}.pq"),
                str(tmp_path / f"{name}.p.pq"),
            )
        config = parse_config(
            {
                "task": {"target": "y", "type": task},
                "data": {s: paths[s] for s in ("train", "test", "production")},
                "model": {"predictions": {s: paths[f"{s}.preds"] for s in ("test", "production")}},
            }
        )
        params = Drift.Params(**UNIVARIATE)
        on_rows = Drift().run(build_context(config), params)
        on_profiles = Drift().run_profiles(build_profile_context(config), params)
        assert on_rows.status == on_profiles.status == "warn", (task, on_profiles.message)
        assert on_rows.subjects == on_profiles.subjects == ("predictions",)
        exact, binned = predictions_row(on_rows), predictions_row(on_profiles)
        if task == "multiclass":  # exact counts: the same chi-square and JS
            assert binned[TEST] == exact[TEST] == "chi-square"
            assert binned[KS_JS] == pytest.approx(exact[KS_JS], abs=1e-9)
        else:
            assert binned[TEST].startswith("KS on ") and binned[TEST].endswith(" bins")
            assert binned[KS_JS] <= exact[KS_JS] + 1e-9 and exact[KS_JS] - binned[KS_JS] < 0.02
