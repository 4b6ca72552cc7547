"""split-hygiene: proportions, time order and the frozen test set."""

from __future__ import annotations

import datetime as dt
import json
import os

import polars as pl
import pytest

import qa
from qa.checks.split_hygiene import SplitHygiene
from qa.errors import ConfigError
from qa.testing import check_contract
from tests.conftest import make_classification_frame, random_split


def timed_frame(n: int = 5000, seed: int = 0) -> pl.DataFrame:
    start = dt.datetime(2021, 1, 1)
    return make_classification_frame(n=n, seed=seed).with_columns(
        pl.Series("when", [start + dt.timedelta(hours=i) for i in range(n)])
    )


def chronological(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    n = frame.height
    return frame[: int(0.8 * n)], frame[int(0.8 * n) : int(0.9 * n)], frame[int(0.9 * n) :]


def hygiene(train, validation=None, test=None, config=None, checks=None):
    report = qa.check(
        train=train,
        validation=validation,
        test=test,
        target="label",
        only=["split-hygiene"],
        config=config,
        checks=checks,
    )
    return report.checks[0]


def test_split_hygiene_contract_time_reversed_split_fails():
    train, validation, test = chronological(timed_frame())
    time_cfg = {"task": {"time": "when"}}
    _clean, bad = check_contract(
        SplitHygiene,
        clean=dict(train=train, validation=validation, test=test, target="label", config=time_cfg),
        defective=dict(
            train=test.vstack(validation).vstack(train[:500]),
            validation=train[500:900],
            test=train[900:1400],
            target="label",
            config=time_cfg,
        ),
    )
    result = bad.checks[0]
    assert "chronology" in result.subjects
    assert result.metrics["max_time_overlap"] == 1.0


def test_split_hygiene_time_reversed_test_fails_with_the_split_named():
    train, validation, test = chronological(timed_frame(seed=1))
    result = hygiene(
        test,
        validation,
        train[:500],
        config={"task": {"time": "when"}},
        checks={"split-hygiene": {"plan": {"train": 1, "validation": 1, "test": 1}}},
    )
    assert result.status == "fail"
    assert result.subjects == ("chronology",)
    assert "validation" in result.message


def test_split_hygiene_touching_time_ranges_warn():
    train, validation, test = chronological(timed_frame(seed=2))
    # 2 % of the validation rows fall before the end of train: edges overlap, order holds
    moved = validation.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(pl.col("when") - dt.timedelta(days=30))
        .otherwise(pl.col("when"))
        .alias("when")
    )
    result = hygiene(train, moved, test, config={"task": {"time": "when"}})
    assert result.status == "warn", result.message
    assert result.metrics["time_overlap_validation"] == pytest.approx(0.02)


def test_split_hygiene_random_split_with_time_column_fails_chronology():
    train, validation, test = random_split(timed_frame(seed=3), (0.8, 0.1, 0.1))
    result = hygiene(train, validation, test, config={"task": {"time": "when"}})
    assert result.status == "fail"
    assert "chronology" in result.subjects


def test_split_hygiene_time_column_as_text_and_missing_time_column():
    train, validation, test = chronological(timed_frame(seed=4))
    as_text = [
        f.with_columns(pl.col("when").dt.strftime("%Y-%m-%d %H:%M:%S"))
        for f in (train, validation, test)
    ]
    assert hygiene(*as_text, config={"task": {"time": "when"}}).status == "pass"
    result = hygiene(train, validation, test.drop("when"), config={"task": {"time": "when"}})
    assert result.status == "error"
    assert "'when' not found in the test split" in result.message


PLAN_80_10_10 = {"split-hygiene": {"plan": {"train": 0.8, "validation": 0.1, "test": 0.1}}}


def test_split_hygiene_proportions_far_from_a_declared_plan_warn_then_fail():
    frame = make_classification_frame(n=10_000, seed=5)
    warn = hygiene(*random_split(frame, (0.7, 0.15, 0.15)), checks=PLAN_80_10_10)
    assert warn.status == "warn" and warn.subjects == ("proportions",), warn.message
    fail = hygiene(*random_split(frame, (0.4, 0.1, 0.5)), checks=PLAN_80_10_10)
    assert fail.status == "fail" and fail.subjects == ("proportions",), fail.message
    assert fail.metrics["share_test"] == pytest.approx(0.5)
    # the plan renormalises over the splits present: 80/10 of train+test is 89/11
    ok = hygiene(*random_split(frame, (0.89, 0.11)), checks=PLAN_80_10_10)
    assert ok.status == "pass", ok.message


@pytest.mark.parametrize(
    "shares", [(0.6, 0.2, 0.2), (0.7, 0.15, 0.15), (0.8, 0.1, 0.1), (0.75, 0.25)]
)
def test_split_hygiene_without_a_plan_passes_any_sound_split(shares):
    frame = make_classification_frame(n=2000, seed=9)
    parts = random_split(frame, shares)
    train, test = parts[0], parts[-1]
    validation = parts[1] if len(parts) == 3 else None
    result = hygiene(train, validation, test)
    assert result.status == "pass", result.message
    assert "no plan declared" in result.message
    assert "proportion_tolerance" not in result.thresholds


def test_split_hygiene_without_a_plan_warns_on_small_train_or_tiny_test():
    frame = make_classification_frame(n=2000, seed=10)
    small_train = hygiene(*random_split(frame, (0.4, 0.3, 0.3)))
    assert small_train.status == "warn" and small_train.subjects == ("proportions",)
    assert "train holds only 40%" in small_train.message
    train, validation, test = random_split(frame, (0.9, 0.09, 0.01))
    tiny_test = hygiene(train, validation, test)
    assert tiny_test.status == "warn" and "the test split has 20 rows (< 30)" in tiny_test.message
    assert (
        hygiene(train, validation, test, checks={"split-hygiene": {"min_test_rows": 20}}).status
        == "pass"
    )


def test_split_hygiene_custom_plan_and_bad_plan():
    frame = make_classification_frame(n=4000, seed=6)
    train, test = random_split(frame, (0.7, 0.3))
    assert (
        hygiene(
            train, test=test, checks={"split-hygiene": {"plan": {"train": 0.7, "test": 0.3}}}
        ).status
        == "pass"
    )
    bad = hygiene(train, test=test, checks={"split-hygiene": {"plan": {"production": 0.1}}})
    assert bad.status == "error"
    assert "checks.split-hygiene.plan.production" in bad.message
    with pytest.raises(ConfigError, match="plan"):
        hygiene(train, test=test, checks={"split-hygiene": {"plan": {"train": -1}}})


def test_split_hygiene_leaves_an_unstratified_test_set_to_class_imbalance():
    """One defect, one check: the class-share warning is class-imbalance's (pinned there)."""
    frame = make_classification_frame(n=20_000, seed=7)
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    skewed = test.filter(pl.col("label") == 1).vstack(test.filter(pl.col("label") == 0)[:300])
    result = hygiene(train, validation, skewed)
    assert result.status == "pass", result.message
    assert "stratification" not in result.message
    assert "max_class_share_diff" not in result.metrics


def test_split_hygiene_skips_with_only_train():
    assert hygiene(make_classification_frame(n=500)).status == "skip"


@pytest.fixture
def locked_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = make_classification_frame(n=3000, seed=8)
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        part.write_parquet(tmp_path / f"{name}.parquet")
    (tmp_path / "qa.toml").write_text(
        '[task]\ntarget = "label"\n[data]\ntrain = "train.parquet"\n'
        'validation = "validation.parquet"\ntest = "test.parquet"\n'
    )
    return tmp_path


def run_cli(*args: str) -> int:
    from qa.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def hygiene_from(config_path) -> qa.base.CheckResult:
    report = qa.check(config=str(config_path), only=["split-hygiene"])
    return report.checks[0]


def test_changed_test_set_fails_after_qa_lock(locked_dir):
    assert hygiene_from(locked_dir / "qa.toml").metrics["test_locked"] == 0
    assert run_cli("lock", "--config", str(locked_dir / "qa.toml")) == 0
    lock = json.loads((locked_dir / "qa.lock").read_text())
    assert lock["splits"]["test"]["rows"] == 300
    result = hygiene_from(locked_dir / "qa.toml")
    assert result.status == "pass" and result.metrics["test_matches_lock"] == 1

    # shuffled rows are the same test set
    test = pl.read_parquet(locked_dir / "test.parquet")
    test.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(locked_dir / "test.parquet")
    assert hygiene_from(locked_dir / "qa.toml").status == "pass"

    # one value changed and one row dropped
    edited = test.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.col("num_2") + 1e-9)
        .otherwise(pl.col("num_2"))
        .alias("num_2")
    )[1:]
    edited.write_parquet(locked_dir / "test.parquet")
    result = hygiene_from(locked_dir / "qa.toml")
    assert result.status == "fail"
    assert result.subjects == ("test-lock",)
    assert "rows 300 -> 299" in result.message
    assert "qa lock" in result.message


def test_lock_names_an_edited_value_and_a_dropped_column(locked_dir):
    assert run_cli("lock", "--config", str(locked_dir / "qa.toml")) == 0
    test = pl.read_parquet(locked_dir / "test.parquet")
    edited = test.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("zz"))
        .otherwise(pl.col("cat"))
        .alias("cat")
    )
    edited.write_parquet(locked_dir / "test.parquet")
    result = hygiene_from(locked_dir / "qa.toml")
    assert result.status == "fail"
    assert "values differ in 1 of 6 column(s): 'cat'" in result.message
    test.drop("num_0").write_parquet(locked_dir / "test.parquet")
    result = hygiene_from(locked_dir / "qa.toml")
    assert result.status == "fail" and "columns removed: 'num_0'" in result.message


def test_lock_file_resolves_beside_the_config_file(locked_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chdir(elsewhere)
    assert run_cli("lock", "--config", str(locked_dir / "qa.toml")) == 0
    assert (locked_dir / "qa.lock").is_file() and not (elsewhere / "qa.lock").exists()
    assert hygiene_from(locked_dir / "qa.toml").metrics["test_locked"] == 1


def test_lock_file_set_in_config_is_used(locked_dir):
    config = locked_dir / "qa.toml"
    config.write_text(config.read_text() + '[checks.split-hygiene]\nlock_file = "locks/t.lock"\n')
    assert run_cli("lock", "--config", str(config)) == 0
    assert (locked_dir / "locks" / "t.lock").is_file()
    assert hygiene_from(config).metrics["test_locked"] == 1


def test_corrupt_lock_file_is_an_error_not_a_pass(locked_dir):
    (locked_dir / "qa.lock").write_text("{not json")
    result = hygiene_from(locked_dir / "qa.toml")
    assert result.status == "error"
    assert "qa.lock" in result.message


def test_split_hygiene_decide_functions_at_their_edges():
    from qa.checks.split_hygiene import decide_chronology, decide_proportions, time_overlaps

    params = SplitHygiene.Params()  # tolerance 0.05 / fail 0.25; time overlap 0.05
    assert [decide_proportions(g, params) for g in (0.05, 0.0501, 0.25, 0.2501)] == [
        "pass",
        "warn",
        "warn",
        "fail",
    ]
    assert [decide_chronology(o, params) for o in (0.0, 0.01, 0.05, 0.0501)] == [
        "pass",
        "warn",
        "warn",
        "fail",
    ]
    values = {
        "train": pl.Series([1.0, 2.0, 3.0]),
        "validation": pl.Series([3.0, 4.0]),
        "test": pl.Series([2.5, 5.0, 6.0, 7.0]),
    }
    overlaps = time_overlaps(values, ["train", "validation", "test"])
    assert overlaps == {"validation": (0.0, ""), "test": (0.25, "train")}  # first of equals
