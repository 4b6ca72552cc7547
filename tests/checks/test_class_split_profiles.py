"""class-imbalance and split-hygiene on profiles give the verdicts they give on rows.

Each case builds the same splits twice: an in-memory Context (``run``) and profiles from the
polars engine (``run_profiles``), and compares statuses and the numbers behind them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from qa.api import build_context
from qa.base import Check, CheckResult
from qa.checks.class_imbalance import UNSEEN_CLASSES, ClassImbalance
from qa.checks.split_hygiene import SplitHygiene, profile_share_earlier, rows_before
from qa.config import Config, parse_config
from qa.errors import DataError
from qa.lockfile import fingerprint, write_lock
from qa.profile import NumericProfile
from qa.profile_context import ProfileContext, build_profile_context
from qa.registry import load_registry
from qa.runner import plan_checks, run_one, run_profiled
from tests.checks.test_class_imbalance import labelled
from tests.checks.test_split_hygiene import chronological, timed_frame
from tests.conftest import make_classification_frame, random_split

Frames = dict[str, pl.DataFrame]


def gate_config(run: dict[str, Any] | None = None, **task: Any) -> Config:
    return parse_config({"task": {"target": "label", **task}, "run": run or {}})


def on_both(
    check: type[Check], frames: Frames, config: Config | None = None, **params: Any
) -> tuple[CheckResult, CheckResult]:
    """(in-memory result, profile result) of one check on the same splits."""
    config = config or gate_config()
    chosen = check.Params(**params)
    memory = check().run(build_context(config, frames), chosen)
    profiles = check().run_profiles(build_profile_context(config, frames), chosen)
    return memory, profiles


def assert_same(memory: CheckResult, profiles: CheckResult, exact: bool = True) -> None:
    """Same status, subjects and metrics (to float rounding; ``exact``: message too)."""
    assert profiles.status == memory.status, (memory.message, profiles.message)
    assert profiles.subjects == memory.subjects
    assert set(profiles.metrics) == set(memory.metrics)
    for name, value in memory.metrics.items():
        expected = value if value is None else pytest.approx(value, rel=1e-9, abs=1e-12)
        assert profiles.metrics[name] == expected, name
    if exact:
        assert profiles.message == memory.message


def stored_reference(config: Config, train: pl.DataFrame, folder: Path) -> str:
    path = folder / "train.profile.json"
    build_profile_context(config, {"train": train}).profiles.save(path)
    return str(path)


def against_reference(config: Config, reference: str, frames: Frames) -> ProfileContext:
    pctx = build_profile_context(config, frames, reference=reference)
    assert pctx.sample is None
    return pctx


# --------------------------------------------------------------------------- class-imbalance
def test_class_imbalance_random_split_of_20k_rows_passes_on_rows_and_profiles():
    frame = make_classification_frame(n=20_000, seed=7)
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    memory, profiles = on_both(
        ClassImbalance, {"train": train, "validation": validation, "test": test}
    )
    assert memory.status == "pass", memory.message
    assert_same(memory, profiles)
    assert profiles.evidence == memory.evidence and profiles.charts == memory.charts


def test_class_imbalance_test_with_twice_train_positive_rate_is_unstratified_on_both():
    """25 % positives in train and validation, 50 % in test (2x): the unstratified warning."""
    frames = {
        "train": labelled({0: 12_000, 1: 4_000}),
        "validation": labelled({0: 1_500, 1: 500}, seed=1),
        "test": labelled({0: 1_000, 1: 1_000}, seed=2),
    }
    memory, profiles = on_both(ClassImbalance, frames)
    assert memory.status == "warn" and "not stratified" in memory.message
    assert_same(memory, profiles)
    assert profiles.metrics["max_share_difference"] == pytest.approx(0.25)
    assert profiles.metrics["chi2_p_value"] < 1e-12


def test_class_imbalance_a_half_percent_minority_fails_on_both():
    memory, profiles = on_both(ClassImbalance, {"train": labelled({0: 19_900, 1: 100})})
    assert memory.status == "fail" and memory.subjects == ("1",)
    assert_same(memory, profiles)
    assert profiles.metrics["minority_share"] == pytest.approx(0.005)
    assert profiles.metrics["imbalance_ratio"] == pytest.approx(199)


@pytest.mark.parametrize(
    ("test_counts", "status"),
    [
        ({0: 2_000}, "warn"),  # one class in the test split: 50 points off train's share
        ({0: 12, 1: 8}, "pass"),  # a 20-row split: a large difference that is chance
    ],
)
def test_class_imbalance_one_class_split_and_small_split_agree(test_counts, status):
    frames = {"train": labelled({0: 9_000, 1: 9_000}), "test": labelled(test_counts, seed=1)}
    memory, profiles = on_both(ClassImbalance, frames)
    assert memory.status == status, memory.message
    assert_same(memory, profiles)


def test_class_imbalance_multiclass_rare_class_and_numeric_class_order():
    counts = {i: 1_800 for i in range(11)} | {11: 20}  # 0.1 % < the 0.17 % floor
    train, test = labelled(counts), labelled({i: 150 for i in range(12)}, seed=1)
    memory, profiles = on_both(ClassImbalance, {"train": train, "test": test})
    assert memory.status == "fail" and memory.subjects == ("11",)
    assert_same(memory, profiles)
    names = [row[0] for row in profiles.evidence[0].rows]
    assert names == [str(i) for i in range(12)]  # 10 after 9, as in memory


def test_class_imbalance_unicode_and_hostile_labels_keep_their_names():
    names = ["naïve ü 列", "<script>alert(1)</script>", "ñandú", "Ωmega"]
    frames = {"train": labelled(dict.fromkeys(names, 5_000) | {"ρ": 300})}
    memory, profiles = on_both(ClassImbalance, frames, gate_config(type="multiclass"))
    assert memory.status == "warn" and memory.subjects == ("ρ",)
    assert_same(memory, profiles)
    assert profiles.evidence == memory.evidence


@pytest.mark.parametrize(
    "labels",
    [("neg", "pos"), (0, 1), (0.0, 1.0), (False, True)],
    ids=["string", "integer", "float", "boolean"],
)
def test_class_imbalance_names_classes_alike_whatever_the_label_type(labels):
    negative, positive = labels
    frames = {
        "train": labelled({negative: 15_000, positive: 1_000}),
        "test": labelled({negative: 1_800, positive: 200}, seed=1),
    }
    memory, profiles = on_both(ClassImbalance, frames)
    assert memory.status == "warn", memory.message  # 6.25 % minority
    assert_same(memory, profiles)
    assert profiles.evidence == memory.evidence


def test_class_imbalance_string_labels_in_test_against_integer_train_stop_both_paths():
    frames = {"train": labelled({0: 800, 1: 200}), "test": labelled({"0": 80, "1": 20}, seed=1)}
    with pytest.raises(DataError, match="never seen in train"):
        build_context(gate_config(), frames)
    with pytest.raises(DataError, match="never seen in train"):
        build_profile_context(gate_config(), frames)


def test_class_imbalance_classes_missing_from_train_fail_on_both():
    config = gate_config(type="multiclass")
    train = labelled({"a": 6_000, "b": 6_000, "c": 6_000})
    one = labelled({"a": 600, "b": 600, "c": 600, "z": 40}, seed=1)
    memory, profiles = on_both(ClassImbalance, {"train": train, "test": one}, config)
    assert memory.status == "fail" and "z" in memory.subjects
    assert_same(memory, profiles)
    two = labelled({"a": 600, "b": 600, "c": 600, "y": 30, "z": 40}, seed=2)
    memory, profiles = on_both(ClassImbalance, {"train": train, "test": two}, config)
    assert memory.status == profiles.status == "fail"
    assert set(profiles.subjects) == set(memory.subjects) == {"y", "z"}
    assert "2 class(es) never seen in train" in profiles.message
    # the profile counts the 70 rows of y and z together (it tracks train's classes only)
    assert profiles.metrics[f"share_test_{UNSEEN_CLASSES}"] == pytest.approx(70 / 1870, abs=1e-6)
    assert UNSEEN_CLASSES in profiles.evidence[0].note


def test_class_imbalance_against_a_stored_reference(tmp_path):
    config = gate_config(type="multiclass")
    train = labelled({0: 7_000, 1: 7_000, 2: 6_000})
    reference = stored_reference(config, train, tmp_path)
    shifted = labelled({0: 500, 1: 1_000, 2: 500}, seed=1)  # label shift: drift's business
    unseen = labelled({0: 500, 1: 500, 2: 500, 3: 60}, seed=2)
    for production, status in ((shifted, "pass"), (unseen, "fail")):
        memory = ClassImbalance().run(
            build_context(config, {"train": train, "production": production}),
            ClassImbalance.Params(),
        )
        pctx = against_reference(config, reference, {"production": production})
        profiles = ClassImbalance().run_profiles(pctx, ClassImbalance.Params())
        assert memory.status == status, memory.message
        assert_same(memory, profiles)


def test_class_imbalance_a_single_class_reference_is_a_data_error(tmp_path):
    path = tmp_path / "one.profile.json"
    pctx = build_profile_context(gate_config(), {"train": labelled({0: 500, 1: 500})})
    column = pctx.profiles.splits["train"].columns["label"]
    column.counts = {"0": 1_000}  # as a profile of a one-class train would hold
    pctx.profiles.save(path)
    production = labelled({0: 100}, seed=1)
    with pytest.raises(DataError, match="single class"):
        ClassImbalance().run_profiles(
            against_reference(gate_config(), str(path), {"production": production}),
            ClassImbalance.Params(),
        )


def test_both_checks_on_a_regression_task_skip_or_pass_alike():
    frame = make_classification_frame(n=20_000, seed=3).with_columns(pl.col("num_0").alias("label"))
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    frames = {"train": train, "validation": validation, "test": test}
    config = parse_config(
        {
            "task": {"target": "label", "type": "regression"},
            "run": {"only": ["class-imbalance", "split-hygiene"]},
        }
    )
    planned = plan_checks(config, load_registry())
    ctx = build_context(config, frames)
    memory = [run_one(ctx, item) for item in planned]
    profiles = run_profiled(build_profile_context(config, frames), planned)
    assert [r.status for r in memory] == [r.status for r in profiles] == ["skip", "pass"]
    assert profiles[0].message == memory[0].message == "does not apply to regression tasks"
    direct = ClassImbalance().run_profiles(
        build_profile_context(config, frames), ClassImbalance.Params()
    )
    assert direct.status == "skip"


# --------------------------------------------------------------------------- split-hygiene
TIMED = gate_config(time="when")


def timed_splits(seed: int = 0) -> Frames:
    train, validation, test = chronological(timed_frame(n=20_000, seed=seed))
    return {"train": train, "validation": validation, "test": test}


def test_split_hygiene_chronological_20k_rows_pass_on_both():
    memory, profiles = on_both(SplitHygiene, timed_splits(), TIMED)
    assert memory.status == "pass", memory.message
    assert_same(memory, profiles)
    assert profiles.metrics["max_time_overlap"] == 0.0


def test_split_hygiene_time_reversed_split_fails_on_both():
    train, validation, test = timed_splits(seed=1).values()
    frames = {"train": test.vstack(validation), "validation": train[:2_000], "test": train[2_000:]}
    memory, profiles = on_both(SplitHygiene, frames, TIMED)
    assert memory.status == "fail" and "chronology" in memory.subjects
    assert memory.metrics["max_time_overlap"] == 1.0
    assert_same(memory, profiles)
    assert profiles.evidence == memory.evidence  # first/last shown as the rows show them


def test_split_hygiene_random_split_of_a_time_column_fails_with_equal_overlaps():
    frame = timed_frame(n=20_000, seed=3)
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    frames = {"train": train, "validation": validation, "test": test}
    memory, profiles = on_both(SplitHygiene, frames, TIMED)
    assert memory.status == "fail"
    assert_same(memory, profiles)  # test vs validation: read in one bin on the whole sample


def test_split_hygiene_touching_time_ranges_warn_on_both():
    frames = timed_splits(seed=2)
    frames["validation"] = frames["validation"].with_columns(
        pl.when(pl.int_range(pl.len()) < 40)
        .then(pl.col("when") - dt.timedelta(days=30))
        .otherwise(pl.col("when"))
        .alias("when")
    )
    memory, profiles = on_both(SplitHygiene, frames, TIMED)
    assert memory.status == "warn", memory.message
    assert_same(memory, profiles)
    assert profiles.metrics["time_overlap_validation"] == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("shares", "status"),
    [((0.8, 0.1, 0.1), "pass"), ((0.7, 0.15, 0.15), "warn"), ((0.4, 0.1, 0.5), "fail")],
)
def test_split_hygiene_proportions_against_a_plan_agree(shares, status):
    frame = make_classification_frame(n=20_000, seed=5)
    frames = dict(zip(("train", "validation", "test"), random_split(frame, shares), strict=True))
    plan = {"train": 0.8, "validation": 0.1, "test": 0.1}
    memory, profiles = on_both(SplitHygiene, frames, plan=plan)
    assert memory.status == status, memory.message
    assert_same(memory, profiles)


def test_split_hygiene_a_tiny_test_split_warns_on_both():
    frame = make_classification_frame(n=20_000, seed=10)
    train, validation, test = random_split(frame, (0.9, 0.099, 0.001))
    frames = {"train": train, "validation": validation, "test": test}
    memory, profiles = on_both(SplitHygiene, frames)
    assert memory.status == "warn" and "the test split has 20 rows" in memory.message
    assert_same(memory, profiles)


def test_split_hygiene_time_as_text_is_ordered_on_the_sample_or_not_checked(tmp_path):
    frames = {
        name: part.with_columns(pl.col("when").dt.strftime("%Y-%m-%d %H:%M:%S"))
        for name, part in timed_splits(seed=4).items()
    }
    memory, profiles = on_both(SplitHygiene, frames, TIMED)
    assert memory.status == "pass"
    assert_same(memory, profiles)  # the whole splits fit the sample: nothing to state
    reference = stored_reference(TIMED, frames["train"], tmp_path)
    pctx = against_reference(TIMED, reference, {"test": frames["test"]})
    result = SplitHygiene().run_profiles(pctx, SplitHygiene.Params())
    assert result.status == "pass"
    assert "chronology: not checked" in result.message
    assert ("chronology", "skip") in [row[:2] for row in result.evidence[0].rows]


def test_split_hygiene_missing_time_column_is_a_data_error_on_both():
    frames = timed_splits(seed=5)
    frames["test"] = frames["test"].drop("when")
    with pytest.raises(DataError, match="'when' not found in the test split"):
        SplitHygiene().run(build_context(TIMED, frames), SplitHygiene.Params())
    with pytest.raises(DataError, match="'when' not found in the test split"):
        SplitHygiene().run_profiles(build_profile_context(TIMED, frames), SplitHygiene.Params())


def test_split_hygiene_against_a_stored_reference(tmp_path):
    frames = timed_splits(seed=6)
    reference = stored_reference(TIMED, frames["train"], tmp_path)
    late, early = frames["test"], frames["train"][:2_000]
    for test, status in ((late, "pass"), (early, "fail")):
        memory = SplitHygiene().run(
            build_context(TIMED, {"train": frames["train"], "test": test}), SplitHygiene.Params()
        )
        pctx = against_reference(TIMED, reference, {"test": test})
        profiles = SplitHygiene().run_profiles(pctx, SplitHygiene.Params())
        assert memory.status == status, memory.message
        assert_same(memory, profiles)  # train's last value is a bin edge: exact
    production_only = against_reference(TIMED, reference, {"production": late})
    skipped = SplitHygiene().run_profiles(production_only, SplitHygiene.Params())
    assert skipped.status == "skip" and "production is not part of the split" in skipped.message


@pytest.fixture
def locked(tmp_path) -> tuple[Frames, str]:
    frame = make_classification_frame(n=20_000, seed=8)
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    lock = tmp_path / "qa.lock"
    write_lock(lock, {"test": fingerprint(test)})
    return {"train": train, "validation": validation, "test": test}, str(lock)


def test_split_hygiene_lock_matches_then_an_edit_fails_on_both(locked):
    frames, lock = locked
    memory, profiles = on_both(SplitHygiene, frames, lock_file=lock)
    assert memory.status == "pass" and memory.metrics["test_matches_lock"] == 1
    assert_same(memory, profiles)
    edited = frames["test"].with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.col("num_2") + 1e-9)
        .otherwise(pl.col("num_2"))
        .alias("num_2")
    )
    memory, profiles = on_both(SplitHygiene, {**frames, "test": edited}, lock_file=lock)
    assert memory.status == "fail" and memory.subjects == ("test-lock",)
    assert_same(memory, profiles)  # the whole test split is in the engine's sample


def test_split_hygiene_lock_on_a_sampled_or_stored_test_compares_rows_and_columns(locked, tmp_path):
    frames, lock = locked
    sampled = gate_config(run={"sample_rows": 1_000})  # test has 2,000 rows
    pctx = build_profile_context(sampled, frames)
    result = SplitHygiene().run_profiles(pctx, SplitHygiene.Params(lock_file=lock))
    assert result.status == "pass"
    assert "contents not checked" in result.message and "sample_rows" in result.message
    assert "test_matches_lock" not in result.metrics
    dropped = {**frames, "test": frames["test"][1:].drop("num_0")}
    memory = SplitHygiene().run(
        build_context(sampled, dropped), SplitHygiene.Params(lock_file=lock)
    )
    pctx = build_profile_context(sampled, dropped)
    profiles = SplitHygiene().run_profiles(pctx, SplitHygiene.Params(lock_file=lock))
    assert memory.status == profiles.status == "fail"
    for text in ("columns removed: 'num_0'", "rows 2,000 -> 1,999"):
        assert text in memory.message and text in profiles.message
    reference = stored_reference(gate_config(), frames["train"], tmp_path)
    stored = against_reference(gate_config(), reference, {"test": frames["test"]})
    result = SplitHygiene().run_profiles(stored, SplitHygiene.Params(lock_file=lock))
    assert result.status == "pass" and "reads no rows to fingerprint" in result.message


# --------------------------------------------------------------------------- the measure
def test_rows_before_is_exact_on_an_edge_and_bounded_inside_a_bin():
    edges = [0.0, 10.0, 20.0]
    profile = NumericProfile(rows=6, count=6, min=-1.0, max=25.0, hist=[1, 2, 2, 1])
    assert rows_before(profile, 10.0, edges) == (3, 3, (-float("inf"), float("inf")))
    assert rows_before(profile, 15.0, edges) == (3, 5, (10.0, 20.0))
    assert rows_before(profile, 30.0, edges)[:2] == (6, 6)  # beyond the last value
    assert rows_before(profile, -5.0, edges)[:2] == (0, 0)  # before the first
    earlier = NumericProfile(rows=1, count=1, min=15.0, max=15.0, hist=[0, 0, 1, 0])
    share, how = profile_share_earlier(profile, earlier, edges, lambda: None)
    assert how == "histogram" and 3 / 6 < share < 5 / 6
    share, how = profile_share_earlier(profile, earlier, edges, lambda: _values(12, 18))
    assert how == "sample" and share == pytest.approx(4 / 6)


def _values(*values: float) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.float64)


def test_split_hygiene_leaves_stratification_to_class_imbalance_on_profiles_too():
    """One defect, one check: test's positive rate twice train's warns in class-imbalance."""
    frame = make_classification_frame(n=20_000, seed=7).with_columns(
        pl.Series("label", [int(i % 4 == 0) for i in range(20_000)])
    )
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    doubled = test.filter(pl.col("label") == 1).vstack(test.filter(pl.col("label") == 0)[:500])
    frames = {"train": train, "validation": validation, "test": doubled}
    imbalance = on_both(ClassImbalance, frames)
    hygiene = on_both(SplitHygiene, frames)
    assert [r.status for r in imbalance] == ["warn", "warn"]
    assert_same(*imbalance)
    assert [r.status for r in hygiene] == ["pass", "pass"]
    assert_same(*hygiene)


def test_split_hygiene_overlap_after_train_is_estimated_against_a_stored_reference(tmp_path):
    """No rows at all: test vs validation is read inside one bin of train's histogram."""
    train, validation, test = random_split(timed_frame(n=20_000, seed=9), (0.8, 0.1, 0.1))
    reference = stored_reference(TIMED, train, tmp_path)
    memory = SplitHygiene().run(
        build_context(TIMED, {"train": train, "validation": validation, "test": test}),
        SplitHygiene.Params(),
    )
    pctx = against_reference(TIMED, reference, {"validation": validation, "test": test})
    profiles = SplitHygiene().run_profiles(pctx, SplitHygiene.Params())
    assert memory.status == profiles.status == "fail"
    for name in ("time_overlap_validation", "time_overlap_test"):
        assert profiles.metrics[name] == pytest.approx(memory.metrics[name], abs=0.002)


def test_split_hygiene_test_overlapping_validation_is_read_in_one_bin_and_stated(tmp_path):
    """Test starts 200 hours before validation ends (199 of its rows strictly earlier), both after train: the cut (validation's
    end) falls in train's outer bin, read on the sample (exact when whole), or estimated from
    the bin against a stored reference."""
    frame = timed_frame(n=20_000, seed=11)
    frames = {"train": frame[:16_000], "validation": frame[16_000:18_000], "test": frame[17_800:]}
    memory, profiles = on_both(SplitHygiene, frames, TIMED)
    assert memory.status == "fail"
    assert memory.metrics["time_overlap_test"] == pytest.approx(199 / 2_200, abs=1e-6)
    assert_same(memory, profiles)
    sampled = gate_config(run={"sample_rows": 1_000}, time="when")
    pctx = build_profile_context(sampled, frames)
    result = SplitHygiene().run_profiles(pctx, SplitHygiene.Params())
    assert result.status == "fail" and "read inside one bin on a seeded sample" in result.message
    assert result.metrics["time_overlap_test"] == pytest.approx(199 / 2_200, abs=0.03)
    reference = stored_reference(TIMED, frames["train"], tmp_path)
    stored = against_reference(
        TIMED, reference, {"validation": frames["validation"], "test": frames["test"]}
    )
    result = SplitHygiene().run_profiles(stored, SplitHygiene.Params())
    assert result.status == "fail" and "estimated inside one histogram bin" in result.message
    assert result.metrics["time_overlap_test"] == pytest.approx(199 / 2_200, abs=0.001)
