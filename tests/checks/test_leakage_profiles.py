"""The leakage check on profiles (``run_profiles``) against the in-memory check (``run``).

Both splits stay under ``qa.profile.MAX_HASHES`` here, so the overlap and conflict counts on
the row hashes are exact and must equal the in-memory ones; one test shrinks ``MAX_HASHES`` to
make the hash sample bind and checks the estimate against the truth.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from qa.api import build_context
from qa.base import CheckResult
from qa.checks.leakage import Leakage, hash_overlap
from qa.config import parse_config
from qa.profile import RowHashes, hash_threshold, keep_below
from qa.profile_context import ProfileContext, build_profile_context
from tests.checks.test_leakage import dated, detector, flipped_copies, group_split, school_exam
from tests.conftest import make_classification_frame, random_split

ROWS = 20_000
COPIED = 0.05


def records(n: int = ROWS, seed: int = 1) -> pl.DataFrame:
    """The shared classification table plus an id-like, fine-grained column (one value per row)."""
    frame = make_classification_frame(n=n, seed=seed)
    serial = [f"s{i:06d}" for i in np.random.default_rng(seed).permutation(n)]
    return frame.with_columns(pl.Series("serial", serial))


def config(**task: Any) -> Any:
    return parse_config({"task": {"target": "label", **task}})


def in_memory(frames: dict[str, pl.DataFrame], **task: Any) -> CheckResult:
    return Leakage().run(build_context(config(**task), frames), Leakage.Params())


def on_profiles(frames: dict[str, pl.DataFrame], **task: Any) -> CheckResult:
    return Leakage().run_profiles(build_profile_context(config(**task), frames), Leakage.Params())


def both(frames: dict[str, pl.DataFrame], **task: Any) -> tuple[CheckResult, CheckResult]:
    return in_memory(frames, **task), on_profiles(frames, **task)


def with_copies(train: pl.DataFrame, split: pl.DataFrame, share: float) -> pl.DataFrame:
    """``split`` with ``share`` of its rows replaced by whole train records."""
    copied = int(share * split.height)
    return pl.concat([split.head(split.height - copied), train.sample(copied, seed=3)])


def hashed_table(result: CheckResult) -> dict[str, tuple[Any, ...]]:
    table = next(e for e in result.evidence if e.title == "Rows found in train, on the row hashes")
    return {row[0]: row for row in table.rows}


@pytest.fixture(scope="module")
def split() -> tuple[pl.DataFrame, pl.DataFrame]:
    train, test = random_split(records())
    return train, test


# --------------------------------------------------------------------------- both paths agree
def test_leakage_profiles_stay_quiet_on_clean_data_like_in_memory(split):
    assert Leakage.profiles_supported  # the runner calls run_profiles, not run on the sample
    train, test = split
    memory, profiles = both({"train": train, "test": test})
    assert memory.status == profiles.status == "pass", (memory.message, profiles.message)
    for name in ("overlap_share_test", "train_duplicate_share", "conflict_share"):
        assert profiles.metrics[name] == memory.metrics[name] == 0.0
    assert profiles.metrics["proxy_max_score"] == memory.metrics["proxy_max_score"]
    assert hashed_table(profiles)["test"][-1] == "exact"


def test_leakage_profiles_fail_on_5_percent_of_test_rows_copied_from_train(split):
    train, test = split
    leaky = with_copies(train, test, COPIED)
    memory, profiles = both({"train": train, "test": leaky})
    assert memory.status == profiles.status == "fail", (memory.message, profiles.message)
    assert "overlap" in memory.subjects and "overlap" in profiles.subjects
    # exact under 1,000,000 rows: the same share, count and copies of train's records
    for name in ("overlap_share_test", "overlap_rows_test", "overlap_record_copies_test"):
        assert profiles.metrics[name] == memory.metrics[name], name
    assert profiles.metrics["overlap_share_test"] == pytest.approx(COPIED)
    assert profiles.metrics["overlap_record_copies_test"] == int(COPIED * test.height)
    low, high = (profiles.metrics[f"overlap_share_{b}_test"] for b in ("low", "high"))
    assert low == high == profiles.metrics["overlap_share_test"]  # exact: a point, no interval
    assert profiles.metrics["overlap_hashed_rows_test"] == test.height


def test_leakage_profiles_report_copied_records_with_flipped_labels(split):
    train, test = split
    copies = int(0.025 * train.height)  # originals and copies: about 5 % of train rows
    memory, profiles = both({"train": flipped_copies(train, copies), "test": test})
    for result in (memory, profiles):
        assert result.status == "fail", result.message
        assert "conflicts" in result.subjects and detector(result, "conflicts")[1] is True
    share = 2 * copies / (train.height + copies)
    assert memory.metrics["conflict_share"] == pytest.approx(share, abs=1e-6)
    for name in ("conflict_share", "conflict_groups", "coarse_conflict_share"):
        assert profiles.metrics[name] == memory.metrics[name], name
    assert profiles.metrics["hash_conflict_share"] == memory.metrics["conflict_share"]
    rows = next(e for e in profiles.evidence if e.title.startswith("Identical train rows")).rows
    assert rows[0][2].startswith("copies of one record")


def test_leakage_profiles_note_test_rows_found_in_train_with_another_label(split):
    train, test = split
    flipped = train.head(200).with_columns((1 - pl.col("label")).alias("label"))
    profiles = on_profiles({"train": train, "test": pl.concat([test, flipped])})
    assert profiles.status == "fail" and "overlap" in profiles.subjects
    share = profiles.metrics["cross_conflict_share_test"]
    assert share == pytest.approx(200 / (test.height + 200))
    finding = detector(profiles, "conflicts")[4]  # a note: the overlap detector judges them
    assert "200 of 4,200 test rows judged match train rows' features with another label" in finding


def test_leakage_profiles_keep_coarse_conflicts_a_note_like_in_memory():
    frame = school_exam(4000, 0)
    train, test = group_split(frame, "school", 0)
    memory, profiles = both({"train": train, "test": test}, group="school")
    assert memory.status == profiles.status == "pass", (memory.message, profiles.message)
    for name in ("conflict_share", "coarse_conflict_share", "coarse_conflict_groups"):
        assert profiles.metrics[name] == memory.metrics[name], name
    assert profiles.metrics["coarse_conflict_share"] > 0.04
    assert profiles.metrics["group_overlap_share_test"] == 0.0


def test_leakage_profiles_time_detector_counts_early_rows_exactly():
    frame = dated(2000, dt.datetime(2024, 1, 1), 60, seed=4)
    train, test = frame.head(1600), frame.tail(400)
    late_train = pl.concat([train, test.head(40)])  # train now reaches 40 rows into test
    memory, profiles = both({"train": late_train, "test": test}, time="created_at")
    assert memory.status == profiles.status == "fail"
    assert "time" in profiles.subjects
    for name in ("early_rows_test", "early_share_test", "max_lag_test"):
        assert profiles.metrics[name] == memory.metrics[name], name
    assert profiles.metrics["early_rows_test"] == 39

    def early(result: CheckResult) -> tuple[Any, ...]:
        return next(e for e in result.evidence if e.title.startswith("Rows earlier")).rows

    assert early(profiles) == early(memory)  # earliest, latest and lag shown alike


def test_leakage_profiles_judge_record_copies_on_a_partial_sample_and_say_so(split):
    """Rows are needed to tell which matches copy a record: a seeded sample of about a quarter
    of train shows the share, which the exact counts on the row hashes carry."""
    train, test = split
    copies = int(0.025 * train.height)
    cfg = parse_config({"task": {"target": "label"}, "run": {"sample_rows": 4_000}})
    for frames in (
        {"train": train, "test": with_copies(train, test, COPIED)},
        {"train": flipped_copies(train, copies), "test": test},
    ):
        pctx = build_profile_context(cfg, frames)
        assert pctx.sampled["train"][0] < frames["train"].height / 3
        result = Leakage().run_profiles(pctx, Leakage.Params())
        assert result.status == "fail", result.message
        assert "on a seeded sample of" in result.message
    share = 2 * copies / (train.height + copies)
    assert result.metrics["conflict_share"] == pytest.approx(share, abs=1e-6)
    assert result.metrics["conflict_groups"] == copies


# --------------------------------------------------------------------------- a stored reference
def stored_reference(train: pl.DataFrame, path: Path, **task: Any) -> str:
    build_profile_context(config(**task), {"train": train}).profiles.save(path)
    return str(path)


def against(reference: str, frames: dict[str, pl.DataFrame], **task: Any) -> ProfileContext:
    return build_profile_context(config(**task), frames, reference=reference)


def test_leakage_finds_production_rows_copied_from_train_through_a_stored_reference(
    split, tmp_path
):
    train, _test = split
    reference = stored_reference(train, tmp_path / "reference.json")
    fresh = records(4000, seed=9).drop("label")
    production = with_copies(train.drop("label"), fresh, COPIED)
    pctx = against(reference, {"production": production})
    assert pctx.sample is None  # no train rows: only the stored profile
    result = Leakage().run_profiles(pctx, Leakage.Params())
    assert result.status == "fail", result.message
    assert result.subjects[:2] == ("overlap", "production")
    assert result.metrics["overlap_share_production"] == pytest.approx(COPIED)
    assert result.metrics["overlap_record_copies_production"] is None  # needs train rows
    assert "record-copy rule was not judged" in result.message
    assert detector(result, "target-proxy")[4].startswith("not run: it needs train rows")
    clean = Leakage().run_profiles(against(reference, {"production": fresh}), Leakage.Params())
    assert clean.status == "pass", clean.message
    assert "target-proxy not run" in clean.message  # what could not be judged is said


def test_a_stored_reference_judges_record_copies_by_a_value_every_record_holds(tmp_path):
    """3 of 66 test rows copied into a 265-row train, at a budget too strict for the chance
    test: in memory the record-copy rule fails them; from a stored reference too, since
    'serial' has as many distinct values (an exact count) as train has distinct rows."""
    frame = records(331, seed=3)
    train, test = frame.head(265), frame.tail(66)
    leaky = pl.concat([train, test.head(3)])
    strict = {"run": {"false_alarm_rate": 0.0001}, "task": {"target": "label"}}
    cfg = parse_config(strict)
    memory = Leakage().run(build_context(cfg, {"train": leaky, "test": test}), Leakage.Params())
    assert memory.status == "fail" and memory.metrics["overlap_record_copies_test"] == 3
    for kept, status in ((leaky, "fail"), (leaky.drop("serial"), "warn")):
        build_profile_context(cfg, {"train": kept}).profiles.save(tmp_path / "r.json")
        split = test.select(kept.columns)
        pctx = build_profile_context(cfg, {"test": split}, reference=str(tmp_path / "r.json"))
        result = Leakage().run_profiles(pctx, Leakage.Params())
        assert result.status == status, result.message
        copies = result.metrics["overlap_record_copies_test"]
        assert copies == (3 if status == "fail" else None)


def test_leakage_profiles_do_not_compare_rows_hashed_by_another_function(split, tmp_path):
    train, test = split
    reference = stored_reference(train, tmp_path / "reference.json")
    pctx = against(reference, {"production": with_copies(train, test, COPIED).drop("label")})
    production = pctx.profiles.splits["production"]
    pctx.profiles.splits["production"] = dataclasses.replace(
        production, hash_function="spark-xxhash64"
    )
    result = Leakage().run_profiles(pctx, Leakage.Params())
    assert result.status == "skip"  # nothing else to judge against a stored reference
    assert "hashes of different functions do not compare" in result.message
    assert "overlap_share_production" not in result.metrics


# --------------------------------------------------------------------------- the hash sample
def test_the_overlap_is_estimated_within_its_interval_when_the_hash_sample_binds(
    split, monkeypatch
):
    import qa.profile

    train, test = split
    leaky = with_copies(train, test, COPIED)
    monkeypatch.setattr(qa.profile, "MAX_HASHES", 2_000)
    result = on_profiles({"train": train, "test": leaky})
    judged = result.metrics["overlap_hashed_rows_test"]
    assert 300 < judged < 800  # about 2,000 * 4,000 / 16,000 test rows below train's threshold
    share = result.metrics["overlap_share_test"]
    low, high = result.metrics["overlap_share_low_test"], result.metrics["overlap_share_high_test"]
    assert low < COPIED < high and low < share < high
    assert result.status == "fail", result.message
    assert hashed_table(result)["test"][-1] == "estimated"
    assert f"estimated on the {judged:,} of {test.height:,} rows" in result.message


def _hashes(values: np.ndarray) -> RowHashes:
    return RowHashes(len(values), *keep_below(values, values.copy(), hash_threshold(len(values))))


def test_hash_overlap_estimate_is_unbiased_and_its_interval_covers_copied_rows(monkeypatch):
    """Copies of one row are kept or dropped together: the interval widens for them."""
    import qa.profile

    monkeypatch.setattr(qa.profile, "MAX_HASHES", 2_000)
    rng = np.random.default_rng(0)
    estimates, covered = [], 0
    for _ in range(200):
        train = rng.integers(0, 2**63, 16_000, dtype=np.uint64) * np.uint64(2)  # even
        split = rng.integers(0, 2**63, 4_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        split[:200] = train[:200]  # copied from train
        split[3_000:3_200] = np.repeat(train[300:400], 2)  # copied twice
        split[1_000:1_400] = np.repeat(split[1_000:1_200], 2)  # the split's own duplicates
        truth = float(np.isin(split, train).mean())
        found = hash_overlap(_hashes(train), _hashes(split))
        assert found.judged < len(split) and not found.exact
        estimates.append(found.share)
        covered += found.low <= truth <= found.high
    assert np.mean(estimates) == pytest.approx(truth, abs=0.005)
    assert 0.9 <= covered / 200 <= 0.99
