"""Profiles: exact merging, the streaming engine, the stored format and its defects, and the
profile run end to end (``qa profile`` then ``qa check --reference``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from qa import profile as qp
from qa.config import parse_config
from qa.engines import ProfileTask
from qa.engines.polars_engine import profile_frame, profile_source, profile_splits
from qa.errors import DataError
from qa.profile import ProfileSet, load_reference
from qa.profile_context import build_profile_context
from tests.inprocess import run_qa


def mixed_frame(n: int, seed: int = 0, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) + shift
    x[rng.random(n) < 0.02] = np.nan
    big = rng.lognormal(size=n)
    big[:3] = [np.inf, -np.inf, 0.0]
    start = dt.datetime(2024, 1, 1)
    return pl.DataFrame(
        {
            "x": x,
            "big": big,
            "k": rng.integers(0, 7, n),
            "städte ✓": rng.choice(["Köln", "Zürich", "東京", "<b>x</b>"], n),
            "flag": rng.random(n) < 0.3,
            "when": [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 9000, n)],
            "y": rng.integers(0, 2, n),
        }
    ).with_columns(pl.when(pl.col("k") == 3).then(None).otherwise(pl.col("k")).alias("k"))


def same_counts(a: qp.Profile, b: qp.Profile) -> None:
    """Every count equal; moments equal up to float rounding; hashes identical."""
    da, db = a.to_dict(), b.to_dict()
    assert da["rows"] == db["rows"] and da["hashes"] == db["hashes"]
    assert da["columns"].keys() == db["columns"].keys()
    for name, column in da["columns"].items():
        for key, value in column.items():
            if key in ("mean", "m2"):
                assert value == pytest.approx(db["columns"][name][key], rel=1e-9, abs=1e-9)
            else:
                assert value == db["columns"][name][key], (name, key)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return mixed_frame(12_000)


@pytest.fixture(scope="module")
def spec(frame: pl.DataFrame) -> qp.ProfileSpec:
    return profile_splits({"train": frame}, ProfileTask("y")).profiles.spec


def test_merge_of_partitions_equals_the_profile_of_their_union(frame, spec):
    whole = profile_frame(frame, spec)
    parts = qp.merge_all(profile_frame(frame[a:b], spec) for a, b in [(0, 5000), (5000, 12000)])
    same_counts(parts, whole)
    assert whole.columns["x"].missing == int(frame["x"].is_nan().sum())
    assert sum(whole.columns["x"].hist) == whole.rows - whole.columns["x"].missing
    assert whole.columns["big"].pos_inf == 1 and whole.columns["big"].neg_inf == 1


def test_streaming_a_file_in_batches_gives_the_in_memory_profile(frame, spec, tmp_path):
    path = tmp_path / "train.parquet"
    frame.write_parquet(path)
    streamed = profile_source(path, spec, batch_rows=1_700)
    same_counts(streamed, profile_frame(frame, spec))


def test_merge_stays_exact_when_the_row_hash_sample_binds(frame, spec, monkeypatch):
    monkeypatch.setattr(qp, "MAX_HASHES", 3_000)
    whole = profile_frame(frame, spec)
    parts = profile_frame(frame[:4000], spec).merge(profile_frame(frame[4000:], spec))
    assert 2_000 < len(whole.hashes.features) < 4_000  # about 3,000 of 12,000 kept
    assert np.array_equal(parts.hashes.features, whole.hashes.features)
    assert np.array_equal(parts.hashes.rows, whole.hashes.rows)


def test_the_spec_frames_bins_by_the_exact_and_the_widened_range(frame, spec):
    edges = spec.column("x").edges
    finite = frame["x"].drop_nans()
    low, high = float(finite.min()), float(finite.max())
    margin = 0.1 * (high - low)
    assert edges[0] == pytest.approx(low - margin) and edges[-1] == pytest.approx(high + margin)
    assert low in edges and high in edges and 900 < len(edges) <= 1005
    assert spec.column("städte ✓").categories == ("<b>x</b>", "Köln", "Zürich", "東京")
    assert spec.column("when.hour").part == "hour" and spec.column("y").kind == "categorical"
    assert "y" not in spec.hash_columns and "x" in spec.hash_columns


def test_distinct_count_is_exact_when_small_and_estimated_when_large(spec):
    ids = pl.DataFrame({"city": [f"c{i}" for i in range(50_000)]})
    column = qp.ColumnSpec("city", "categorical", "String", complete=False)
    from qa.engines.polars_engine import categorical_profile

    estimated = categorical_profile(ids["city"], column)
    assert not estimated.distinct_exact
    assert estimated.distinct == pytest.approx(50_000, rel=0.1)
    assert categorical_profile(ids["city"][:100], column).distinct == 100


def test_a_stored_reference_round_trips_and_validates(frame, tmp_path):
    result = profile_splits({"train": frame, "test": frame[:500]}, ProfileTask("y"))
    path = tmp_path / "ref.qaprofile"
    fingerprint = result.profiles.save(path)
    loaded = load_reference(path)
    assert loaded.fingerprint == fingerprint
    same_counts(loaded.splits["train"], result.profiles.splits["train"])
    assert loaded.spec == result.profiles.spec


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda d: d.update(version=99), "format version 99"),
        (lambda d: d.update(format="something"), "not a qa profile"),
        (lambda d: d["splits"]["train"].update(rows=-1), "not a valid profile"),
        (lambda d: d["splits"]["train"].update(rows=7), "fingerprint does not match"),
    ],
)
def test_a_bad_profile_is_an_error_naming_the_file(frame, tmp_path, damage, named):
    result = profile_splits({"train": frame[:2000]}, ProfileTask("y"))
    document = result.profiles.to_dict()
    damage(document)
    path = tmp_path / "bad.qaprofile"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=named) as caught:
        load_reference(path)
    assert "bad.qaprofile" in str(caught.value)


def test_a_profile_is_never_a_pickle(frame, tmp_path):
    path = tmp_path / "ref.qaprofile"
    profile_splits({"train": frame[:1000]}, ProfileTask("y")).profiles.save(path)
    assert json.loads(path.read_text())["format"] == "qa-profile"
    (tmp_path / "pickled.qaprofile").write_bytes(b"\x80\x04\x95")
    with pytest.raises(DataError, match="not JSON"):
        load_reference(tmp_path / "pickled.qaprofile")


def test_profiles_of_different_specs_or_hashes_do_not_merge(frame, spec):
    other = profile_splits({"train": frame[:3000]}, ProfileTask("y")).profiles.spec
    with pytest.raises(DataError, match="different specs"):
        profile_frame(frame[:10], spec).merge(profile_frame(frame[:10], other))
    renamed = profile_frame(frame[:10], spec)
    renamed.hash_function = "spark-xxhash64"
    with pytest.raises(DataError, match="hashed by"):
        profile_frame(frame[:10], spec).merge(renamed)


def test_samples_are_seeded_uniform_and_stated():
    config = parse_config({"task": {"target": "y"}, "run": {"sample_rows": 2_000}})
    train = mixed_frame(20_000)
    pctx = build_profile_context(config, {"train": train, "test": mixed_frame(1_000, seed=1)})
    taken, total = pctx.sampled["train"]
    assert total == 20_000 and 1_700 < taken < 2_300
    assert pctx.sampled["test"] == (1_000, 1_000)  # small splits are not sampled
    assert pctx.sample is not None and pctx.sample.frame("train").height == taken
    assert pctx.sample_note() == f"a seeded sample of {taken:,} of 20,000 train rows"
    again = build_profile_context(config, {"train": train, "test": mixed_frame(1_000, seed=1)})
    assert again.sample is not None
    assert again.sample.frame("train").equals(pctx.sample.frame("train"))
    sampled_mean = pctx.sample.frame("train")["x"].fill_nan(None).mean()
    assert sampled_mean == pytest.approx(train["x"].fill_nan(None).mean(), abs=0.1)


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    mixed_frame(20_000).write_parquet(folder / "train.parquet")
    code = run_qa(
        "profile",
        "--train",
        str(folder / "train.parquet"),
        "--target",
        "y",
        "--out",
        str(folder / "ref.qaprofile"),
    ).code
    assert code == 0
    return folder / "ref.qaprofile"


def test_qa_check_against_a_reference_needs_no_training_data(stored, tmp_path):
    mixed_frame(4_000, seed=5).drop("y").write_parquet(tmp_path / "prod.parquet")
    out = tmp_path / "reports"
    run = run_qa(
        "check",
        "--reference",
        str(stored),
        "--production",
        str(tmp_path / "prod.parquet"),
        "--target",
        "y",
        "--out",
        str(out),
        "--ci",
        "none",
        "-q",
    )
    assert run.code in (0, 1), run.err
    report = json.loads((out / "report.json").read_text())
    assert report["profiles"]["reference_fingerprint"] == load_reference(stored).fingerprint
    assert report["inputs"]["train"]["rows"] == 20_000
    skipped = {c["id"]: c["message"] for c in report["checks"] if c["status"] == "skip"}
    assert "stored reference holds profiles only" in skipped["label-noise"]


@pytest.mark.parametrize(
    "write, named",
    [
        (lambda p: p.write_text("not json"), "not a qa profile"),
        (lambda p: None, "does not exist"),
    ],
)
def test_qa_check_with_a_bad_reference_exits_2_naming_it(tmp_path, write, named):
    path = tmp_path / "ref.qaprofile"
    write(path)
    mixed_frame(100).write_parquet(tmp_path / "prod.parquet")
    run = run_qa(
        "check", "--reference", str(path), "--production", str(tmp_path / "prod.parquet"),
        "--target", "y", "--ci", "none", "-q", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert run.code == 2 and named in run.err and "ref.qaprofile" in run.err


def test_a_production_file_of_other_columns_exits_2(stored, tmp_path):
    pl.DataFrame({"a": [1, 2], "b": ["u", "v"]}).write_parquet(tmp_path / "other.parquet")
    run = run_qa(
        "check", "--reference", str(stored), "--production", str(tmp_path / "other.parquet"),
        "--target", "y", "--ci", "none", "-q", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert run.code == 2 and "none of the profile's" in run.err


def test_a_reference_and_a_train_split_together_exit_2(stored, tmp_path):
    mixed_frame(100).write_parquet(tmp_path / "t.parquet")
    run = run_qa(
        "check", "--reference", str(stored), "--train", str(tmp_path / "t.parquet"),
        "--target", "y", "--ci", "none", "-q", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert run.code == 2 and "stands in for train" in run.err


def test_a_profile_set_keeps_its_task(stored):
    loaded: ProfileSet = load_reference(stored)
    assert loaded.task["type"] == "binary" and loaded.task["classes"] == ["0", "1"]
    assert loaded.created_by.startswith("qa-gate ")


def test_a_shifted_production_fails_drift_against_the_stored_reference(stored, tmp_path):
    (stored.parent / "train.parquet").unlink(missing_ok=True)  # no training data anywhere
    shifted = mixed_frame(4_000, seed=6, shift=0.6).drop("y")
    shifted.write_parquet(tmp_path / "prod.parquet")
    out = tmp_path / "reports"
    run = run_qa(
        "check", "--reference", str(stored), "--production", str(tmp_path / "prod.parquet"),
        "--target", "y", "--only", "drift,schema", "--out", str(out), "--ci", "none", "-q",
    )  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    drift = next(c for c in report["checks"] if c["id"] == "drift")
    assert run.code == 1 and drift["status"] == "fail" and "x" in drift["subjects"]


def test_every_check_with_a_profile_path_declares_it():
    from qa.base import Check
    from qa.registry import load_registry

    for check_id, registered in load_registry([]).items():
        cls = registered.check
        has_path = cls.run_profiles is not Check.run_profiles
        assert has_path == cls.profiles_supported, check_id
    data_checks = ("schema", "data-volume", "class-imbalance", "drift", "split-hygiene")
    assert all(load_registry([])[c].check.profiles_supported for c in (*data_checks, "leakage"))
