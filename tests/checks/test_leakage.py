from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.leakage import Leakage
from qa.testing import check_contract
from tests.conftest import make_classification_frame, random_split


def run(train: pl.DataFrame, test: pl.DataFrame | None = None, **config) -> qa.report.CheckResult:
    cfg = {"task": {"target": "label", **config}}
    report = qa.check(train=train, test=test, config=cfg, only=["leakage"])
    return report.checks[0]


def detector(result, name: str) -> tuple:
    table = next(e for e in result.evidence if e.title == "Leakage detectors")
    return next(r for r in table.rows if r[0] == name)


def test_leakage_fails_when_5_percent_of_test_rows_are_in_train_and_passes_a_clean_split():
    train, test = random_split(make_classification_frame(n=4000, seed=1))
    copied = test.sample(fraction=0.05, seed=2)
    clean, defective = check_contract(
        Leakage,
        clean=dict(train=train, test=test, target="label"),
        defective=dict(train=pl.concat([train, copied]), test=test, target="label"),
    )
    assert clean.checks[0].subjects == ()
    result = defective.checks[0]
    assert "overlap" in result.subjects
    assert result.metrics["overlap_share_test"] == copied.height / test.height
    assert detector(result, "overlap")[1] is True


def test_leakage_ignores_chance_matches_in_a_coarse_categorical_feature_space():
    rng = np.random.default_rng(0)
    n = 3000
    frame = pl.DataFrame(
        {
            "a": rng.choice(["x", "y"], n),
            "b": rng.choice(["p", "q", "r"], n),
            "label": rng.integers(0, 2, n),
        }
    )
    train, test = random_split(frame)
    result = run(train, test)
    assert result.metrics["overlap_share_test"] > 0.9  # every combination is everywhere
    assert result.status == "pass", result.message


def test_leakage_fails_on_a_feature_equal_to_the_target_plus_small_noise():
    frame = make_classification_frame(n=3000, seed=2)
    rng = np.random.default_rng(5)
    leaky = frame.with_columns(
        (pl.col("label").cast(pl.Float64) + pl.Series(rng.normal(0, 0.05, frame.height))).alias(
            "score_after_outcome"
        )
    )
    train, test = random_split(leaky)
    result = run(train, test)
    assert result.status == "fail"
    assert "target-proxy" in result.subjects and "score_after_outcome" in result.subjects
    assert result.metrics["proxy_sample_rows"] == train.height


def test_leakage_finds_a_non_monotone_proxy_and_a_regression_proxy():
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    frame = pl.DataFrame(
        {"x": x, "noise": rng.normal(size=n), "label": (np.abs(x) > 0.7).astype(int)}
    )
    assert "x" in run(frame).subjects
    reg = pl.DataFrame(
        {"x": x, "noise": rng.normal(size=n), "label": np.abs(x) + rng.normal(0, 0.01, n)}
    )
    result = run(reg)
    assert result.status == "fail" and "x" in result.subjects
    assert "noise" not in result.subjects


def test_leakage_does_not_flag_id_like_or_high_cardinality_columns():
    frame = make_classification_frame(n=3000, seed=4)
    n = frame.height
    rng = np.random.default_rng(0)
    frame = frame.with_columns(
        pl.Series("uuid", [f"u{i}" for i in rng.permutation(n)]),
        pl.Series("many", [f"v{i}" for i in rng.integers(0, 100_000, n)]),
        pl.Series("row_number", rng.permutation(n).astype(np.float64)),
    )
    train, test = random_split(frame)
    result = run(train, test)
    assert result.status == "pass", result.message


def test_leakage_group_detector_fires_when_an_entity_is_on_both_sides():
    frame = make_classification_frame(n=2000, seed=5).with_columns(
        (pl.int_range(pl.len()) // 4).alias("customer")
    )
    by_group_train = frame.filter(pl.col("customer") < 400)
    by_group_test = frame.filter(pl.col("customer") >= 400)
    clean = run(by_group_train, by_group_test, group="customer")
    assert clean.status == "pass", clean.message
    mixed_train, mixed_test = random_split(frame)
    result = run(mixed_train, mixed_test, group="customer")
    assert result.status == "fail"
    assert "group" in result.subjects
    assert result.metrics["shared_groups_test"] > 0


def test_leakage_time_detector_reports_how_many_and_by_how_much():
    frame = make_classification_frame(n=2000, seed=6)
    start = dt.datetime(2024, 1, 1)
    frame = frame.with_columns(
        pl.Series("when", [start + dt.timedelta(hours=i) for i in range(frame.height)])
    )
    train, test = frame.head(1600), frame.tail(400)
    assert run(train, test, time="when").status == "pass"
    late_train = pl.concat([train, test.head(40)])  # train now reaches 40 hours into test
    result = run(late_train, test, time="when")
    assert result.status == "fail" and "time" in result.subjects
    assert result.metrics["early_rows_test"] == 39
    assert result.metrics["max_lag_test"] == 39 * 3600


def test_leakage_conflicting_duplicate_labels_fire():
    train, test = random_split(make_classification_frame(n=3000, seed=7))
    dup = train.head(90).with_columns((1 - pl.col("label")).alias("label"))
    result = run(pl.concat([train, dup]), test)
    assert result.status == "fail"
    assert "conflicts" in result.subjects
    assert result.metrics["conflict_share"] == pytest.approx(180 / (train.height + 90), abs=1e-6)


def test_leakage_handles_nulls_constants_nan_inf_and_hostile_names():
    frame = make_classification_frame(n=1500, seed=8)
    vals = np.random.default_rng(1).normal(size=frame.height)
    vals[::5] = np.nan
    vals[::7] = np.inf
    frame = frame.with_columns(
        pl.Series("<script>alert(1)</script>", vals),
        pl.Series("naïve ü 列", [None] * frame.height, dtype=pl.Float64),
        pl.lit(3).alias("constant"),
    )
    train, test = random_split(frame)
    result = run(train, test.drop("constant"))
    assert result.status == "pass", result.message


def test_leakage_runs_without_other_splits_or_features():
    # A table with no feature column at all now stops the run (exit 2) before any check.
    frame = pl.DataFrame({"label": [0, 1] * 50, "noise": np.random.default_rng(0).normal(size=100)})
    result = run(frame)
    assert result.status == "pass"
    assert "not run" in detector(result, "overlap")[4]


def _sklearn_frame(loader) -> pl.DataFrame:
    data = loader()
    return pl.DataFrame(
        {**{f"f{i}": data.data[:, i] for i in range(data.data.shape[1])}, "label": data.target}
    )


def test_leakage_fails_when_2_of_40_test_rows_are_copied_into_train():
    # Continuous features, no duplicates in train: two exact copies cannot be chance. The old
    # normal approximation needed at least four matches whatever the chance rate was.
    rng = np.random.default_rng(0)
    train = pl.DataFrame(
        {"a": rng.normal(size=1000), "b": rng.normal(size=1000), "label": rng.integers(0, 2, 1000)}
    )
    test = pl.DataFrame(
        {"a": rng.normal(size=40), "b": rng.normal(size=40), "label": rng.integers(0, 2, 40)}
    )
    assert run(train, test).status == "pass"
    result = run(pl.concat([train, test.head(2)]), test)
    assert result.status == "fail", result.message
    assert "overlap" in result.subjects
    assert result.metrics["overlap_p_test"] < 0.01


def test_leakage_says_the_overlap_test_is_underpowered_when_a_split_is_tiny():
    from sklearn.datasets import load_iris

    frame = _sklearn_frame(load_iris)  # measured to 0.1 cm: train repeats some of its own rows
    train, test = random_split(frame, (0.85, 0.15), seed=1)
    assert run(train, test).metrics["train_duplicate_share"] > 0
    test = test.filter(
        ~pl.struct(pl.exclude("label")).is_in(
            train.select(pl.struct(pl.exclude("label"))).to_series().implode()
        )
    )
    result = run(pl.concat([train, test.head(2)]), test)
    # 2 of ~20 rows in train: too few to tell from chance at this size, and the report says so
    assert result.metrics["overlap_rows_test"] == 2
    assert result.status == "pass"
    assert "underpowered" in result.message
    assert result.metrics["overlap_min_detectable_rows_test"] >= 3


def test_leakage_ignores_a_class_cut_to_one_train_row_for_the_proxy_detector():
    # With one positive row, any feature where that row is extreme has a rank AUC of 1.0.
    from sklearn.datasets import load_breast_cancer

    frame = _sklearn_frame(load_breast_cancer)
    one = frame.filter(pl.col("label") == 0).sort("f22", descending=True).head(1)  # most extreme
    train = pl.concat([frame.filter(pl.col("label") == 1), one])
    result = run(train)
    assert result.status == "pass", result.message
    assert "left out: 0 (1)" in detector(result, "target-proxy")[4]
    assert result.metrics["proxy_classes_left_out"] == 1


def test_leakage_lists_a_class_too_small_for_the_proxy_detector_and_judges_the_rest():
    from sklearn.datasets import load_digits

    frame = _sklearn_frame(load_digits).filter(pl.col("label") < 4)
    one = frame.filter(pl.col("label") == 3).head(2)
    train = pl.concat([frame.filter(pl.col("label") < 3), one])
    result = run(train)
    assert result.status == "pass", result.message
    note = next(e for e in result.evidence if e.title == "Strongest single features").note
    assert "left out: 3 (2)" in note


def test_leakage_rank_auc_needs_significance_not_only_a_perfect_score():
    # Five rows of a class, all extreme in a feature, among 17: AUC 1.0 but exact p ~ 3.2e-4 is
    # not below the detector's whole-budget share (0.02 / 2 tests) / 40 features = 2.5e-4
    # (Bonferroni), so no single feature is called a proxy.
    rng = np.random.default_rng(2)
    n = 17
    y = np.array([1] * 5 + [0] * (n - 5))
    cols = {f"f{i}": rng.normal(size=n) for i in range(40)}
    cols["f0"] = np.where(y == 1, 5.0, 0.0) + rng.normal(size=n) * 0.1
    result = run(pl.DataFrame({**cols, "label": y}))
    row = next(
        r
        for r in next(e for e in result.evidence if e.title == "Strongest single features").rows
        if r[0] == "f0"
    )
    assert row[2] == 1.0  # rank AUC
    assert row[-1] is False and "f0" not in result.subjects


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 0, 2), (2, 0, 1)])
def test_leakage_finds_a_target_plus_noise_proxy_on_100_rows_of_3_classes(order):
    # The middle of three ordered classes is invisible to a one-vs-rest rank AUC, and under 128
    # rows every value got its own lookup code (AUC 0.5). Any class order must be caught.
    from sklearn.datasets import load_wine

    frame = _sklearn_frame(load_wine)
    train, _test = random_split(frame, (0.6, 0.4), seed=3)
    rng = np.random.default_rng(4)
    code = np.array(order)[train["label"].to_numpy()]
    leaky = train.with_columns(pl.Series("proxy", code + rng.normal(0, 0.1, train.height)))
    result = run(leaky)
    assert result.status == "fail", result.message
    assert "proxy" in result.subjects
    assert result.metrics["proxy_sample_rows"] < 128


@pytest.mark.parametrize("loader", ["load_iris", "load_wine", "load_breast_cancer", "load_digits"])
def test_leakage_proxy_detector_stays_quiet_on_clean_splits_of_real_data(loader):
    import sklearn.datasets as skd

    frame = _sklearn_frame(getattr(skd, loader))
    for seed in range(3):
        train, test = random_split(frame, (0.6, 0.4), seed=seed)
        result = run(train, test)
        assert result.status == "pass", (loader, seed, result.message)
        assert result.metrics["proxy_max_score"] < 1.0


def test_separability_is_one_for_a_perfect_proxy_in_any_order_and_zero_for_noise():
    from qa.checks.leakage import _separability

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 2000)
    tie = rng.permutation(2000)
    for perm in ([0, 1, 2, 3], [2, 0, 3, 1]):
        score, p = _separability(np.array(perm)[y] + rng.normal(0, 0.01, 2000), y, tie)
        assert score == pytest.approx(1.0) and p < 1e-12
    score, p = _separability(rng.normal(size=2000), y, tie)
    assert abs(score) < 0.1 and p > 0.001
    # ties are broken in a seeded order, never by the label: a constant column separates nothing
    score, _ = _separability(np.zeros(2000), y, tie)
    assert score < 0.1


def test_lookup_bins_treat_a_small_continuous_column_as_binned_not_one_code_per_value():
    from qa.checks.leakage import _bins

    x = np.random.default_rng(0).normal(size=100)
    codes, id_like = _bins(x, categorical=False)
    assert len(np.unique(codes)) <= 10 and not id_like
    discrete = np.repeat(np.arange(5.0), 20)
    codes, _ = _bins(discrete, categorical=False)
    assert len(np.unique(codes)) == 5


# --------------------------------------------------------------------------- datetime features
def dated(n: int, start: dt.datetime, days: int, seed: int, label=None) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, days * 86_400, n))
    frame = make_classification_frame(n=n, seed=seed)
    created = [start + dt.timedelta(seconds=int(s)) for s in seconds]
    frame = frame.with_columns(pl.Series("created_at", created))
    return frame if label is None else frame.with_columns(pl.Series("label", label))


def test_leakage_judges_a_created_at_by_its_calendar_parts_and_suggests_task_time():
    # The label rate changes over January: the raw timestamp "predicts" it in train, because
    # the rows are in time order, not because the label leaks into it.
    n = 3000
    label = (np.arange(n) >= n // 2).astype(int)
    train = dated(n, dt.datetime(2024, 1, 1), 31, seed=1, label=label)
    test = dated(800, dt.datetime(2024, 2, 1), 29, seed=2)
    result = run(train, test)
    assert result.status == "pass", result.message
    assert "'created_at' judged on hour, weekday, not its raw value" in result.message
    assert 'declare [task] time = "created_at"' in result.message
    rows = next(e for e in result.evidence if e.title == "Strongest single features").rows
    names = {r[0] for r in rows}
    assert {"created_at.hour", "created_at.weekday"} <= names
    assert not {"created_at", "created_at.month"} & names


def test_leakage_still_catches_a_datetime_filled_only_for_one_class():
    # resolved_at exists only when the label is 1: the missing pattern is the label.
    frame = dated(3000, dt.datetime(2024, 1, 1), 31, seed=3)
    resolved = frame.with_columns(
        pl.when(pl.col("label") == 1).then(pl.col("created_at")).otherwise(None).alias("resolved")
    ).drop("created_at")
    result = run(resolved)
    assert result.status == "fail", result.message
    assert "resolved.hour" in result.subjects


def test_leakage_time_detector_for_a_declared_time_column_is_unchanged():
    frame = dated(2000, dt.datetime(2024, 1, 1), 60, seed=4)
    train, test = frame.head(1600), frame.tail(400)
    assert run(train, test, time="created_at").status == "pass"
    late_train = pl.concat([train, test.head(40)])
    result = run(late_train, test, time="created_at")
    assert result.status == "fail" and "time" in result.subjects
    assert result.metrics["early_rows_test"] == 39


# --------------------------------------------------------------------------- decide, at its edges
def test_overlap_verdict_edges():
    from qa.checks.leakage import overlap_verdict

    bar, alpha = Leakage.Params().max_overlap_share, 0.05  # 0.01; alpha: the budget's share
    assert overlap_verdict(0.0101, 5, 0.05, bar, alpha) == "fired"
    assert overlap_verdict(0.01, 5, 0.0, bar, alpha) == "ok"  # not above the share
    assert overlap_verdict(0.02, 5, 0.0501, bar, alpha) == "underpowered"
    assert overlap_verdict(0.02, 0, 0.5, bar, alpha) == "ok"


def test_is_proxy_edges():
    from qa.checks.leakage import decide, is_proxy

    bar, alpha = 0.99, 0.001
    assert is_proxy((0.5, 0.5, 0.99, None, None), True, bar, alpha)  # held-out AUC at the bar
    assert is_proxy((0.5, 0.5, 0.5, 0.99, None), True, bar, alpha)  # held-out NMI at the bar
    assert not is_proxy((1.0, 1.0, 0.98, 0.98, 0.001), True, bar, alpha)  # p not below alpha
    assert is_proxy((1.0, 1.0, 0.98, 0.98, 0.00099), True, bar, alpha)
    assert is_proxy((0.99, 0.2), False, bar, alpha) and not is_proxy(
        (0.989, 0.2), False, bar, alpha
    )
    from qa.checks.leakage import DetectorOutcome

    quiet = DetectorOutcome("overlap", False, 0.0, 0.01, "")
    assert decide([quiet]) == "pass"
    assert decide([quiet, DetectorOutcome("time", True, 0.1, 0.0, "")]) == "fail"


# --------------------------------------------------------------------------- budget
def test_leakage_tests_draw_on_the_false_alarm_budget():
    assert Leakage.fail_tests == 2  # overlap's chance test, target-proxy's rank tests
    train, test = random_split(make_classification_frame(n=1000, seed=1))
    alone = run(train, test)
    assert alone.thresholds["false_alarm_share"] == pytest.approx(0.02)
    assert alone.thresholds["alpha_per_test"] == pytest.approx(0.01)
    strict = qa.check(
        train=train,
        test=test,
        config={"task": {"target": "label"}, "run": {"false_alarm_rate": 0.01}},
        only=["leakage"],
    ).checks[0]
    assert strict.thresholds["alpha_per_test"] == pytest.approx(0.005)


# --------------------------------------------------------------------------- conflicts
# Twins of three clean, correctly split real datasets whose coarse features repeat naturally:
# identical rows with different labels there are the target's ambiguity, not copied records.
def coarse_rating(n: int, seed: int) -> pl.DataFrame:
    """A teaching-evaluation twin: four answers of 3-6 levels, a 5-point rating, instructors."""
    rng = np.random.default_rng(seed)
    instructor = rng.integers(0, 40, n)
    latent = rng.normal(size=n) + rng.normal(size=40)[instructor] * 0.5
    answers = {}
    for j, levels in enumerate((3, 4, 5, 6)):
        z = latent + rng.normal(0, 1.0, n)
        cuts = np.quantile(z, np.linspace(0, 1, levels + 1)[1:-1])
        answers[f"q{j}"] = np.digitize(z, cuts) + 1
    r = latent + rng.normal(0, 0.8, n)
    rating = np.digitize(r, np.quantile(r, [0.2, 0.4, 0.6, 0.8])) + 1
    return pl.DataFrame({**answers, "instructor": instructor, "label": rating})


def school_exam(n: int, seed: int) -> pl.DataFrame:
    """A school exam twin: five coarse categoricals, a 0-100 reading score, schools, pass/fail."""
    rng = np.random.default_rng(seed)
    school = rng.integers(0, 30, n)
    lunch, prep = rng.integers(0, 2, n), rng.integers(0, 2, n)
    ability = rng.normal(size=n) + 0.4 * lunch + 0.3 * prep
    reading = np.clip(np.round(68 + 14 * ability + rng.normal(0, 6, n)), 0, 100).astype(int)
    z = 1.5 * ability + rng.normal(size=30)[school] * 0.3 + rng.logistic(size=n) * 0.8
    return pl.DataFrame(
        {
            "gender": rng.choice(["f", "m"], n),
            "ethnicity": rng.choice(list("ABCDE"), n),
            "parent_edu": rng.integers(0, 6, n),
            "lunch": np.array(["standard", "free"])[lunch],
            "prep": prep,
            "reading": reading,
            "school": school,
            "label": (z > 0.5).astype(int),
        }
    )


def police_stops(n: int, seed: int) -> pl.DataFrame:
    """A police-stop twin: coarse features in time order, arrest or not."""
    rng = np.random.default_rng(seed)
    hours = np.sort(rng.integers(0, 24 * 700, n))
    age, reason, searched = rng.integers(16, 70, n), rng.integers(0, 6, n), rng.random(n) < 0.15
    z = 2.5 * searched + 0.3 * reason - 0.02 * age + rng.logistic(size=n)
    return pl.DataFrame(
        {
            "stop_time": [dt.datetime(2020, 1, 1) + dt.timedelta(hours=int(h)) for h in hours],
            "sex": rng.integers(0, 2, n),
            "race": rng.choice(list("ABCDE"), n),
            "age": age,
            "reason": reason,
            "searched": searched,
            "label": (z > 1.0).astype(int),
        }
    )


def group_split(frame: pl.DataFrame, column: str, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    groups = frame[column].unique().sort().to_numpy().copy()
    np.random.default_rng(seed).shuffle(groups)
    in_train = frame[column].is_in(groups[: int(0.8 * len(groups))].tolist())
    return frame.filter(in_train), frame.filter(~in_train)


def assert_coarse_conflicts_only_noted(result, low: float, high: float) -> None:
    assert result.status == "pass", result.message
    assert detector(result, "conflicts")[1] is False
    assert result.metrics["conflict_share"] == 0.0  # no copied record
    assert low <= result.metrics["coarse_conflict_share"] <= high
    assert "the target is ambiguous there" in result.message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leakage_passes_a_5_point_rating_on_coarse_answers_split_by_instructor(seed):
    train, test = group_split(coarse_rating(2000, seed), "instructor", seed)
    result = run(train, test, group="instructor")
    assert_coarse_conflicts_only_noted(result, 0.2, 1.0)  # the old rule failed all of these


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leakage_passes_a_school_exam_set_split_by_school_with_8_percent_conflicts(seed):
    train, test = group_split(school_exam(4000, seed), "school", seed)
    result = run(train, test, group="school")
    assert_coarse_conflicts_only_noted(result, 0.04, 0.15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leakage_passes_a_time_ordered_stop_set_with_6_percent_conflicts(seed):
    frame = police_stops(1000, seed)
    result = run(frame.head(800), frame.tail(200), time="stop_time")
    assert_coarse_conflicts_only_noted(result, 0.03, 0.12)


def test_leakage_a_single_feature_with_natural_ties_is_not_a_record():
    # One rounded amount: its ties cannot be told from copies, so conflicts stay a note.
    rng = np.random.default_rng(0)
    amount = np.round(rng.lognormal(8, 1, 3000))
    frame = pl.DataFrame({"amount": amount, "label": (rng.random(3000) < 0.4).astype(int)})
    result = run(frame)
    assert result.status == "pass", result.message
    assert result.metrics["conflict_share"] == 0.0 and result.metrics["coarse_conflict_share"] > 0


def flipped_copies(train: pl.DataFrame, rows: int) -> pl.DataFrame:
    return pl.concat([train, train.head(rows).with_columns((1 - pl.col("label")).alias("label"))])


def test_leakage_fails_on_copied_records_with_flipped_labels_among_coarse_conflicts():
    # The school twin plus a continuous column: its copies are records, the rest stays a note.
    frame = school_exam(4000, 0)
    frame = frame.with_columns(
        pl.Series("income", np.random.default_rng(1).lognormal(10, 0.5, frame.height))
    )
    train, test = group_split(frame, "school", 0)
    clean = run(train, test, group="school")
    assert clean.status == "pass", clean.message
    copies = int(0.025 * train.height)  # originals and copies: 5 % of train rows
    result = run(flipped_copies(train, copies), test, group="school")
    assert result.status == "fail", result.message
    assert "conflicts" in result.subjects and "income" in result.subjects
    share = result.metrics["conflict_share"]
    assert share == pytest.approx(2 * copies / (train.height + copies), abs=1e-6)
    rows = next(e for e in result.evidence if e.title.startswith("Identical train rows")).rows
    assert rows[0][2] == "copies of one record ('income')"


def test_leakage_reports_a_few_copied_records_under_the_bar_without_failing():
    train, test = random_split(make_classification_frame(n=3000, seed=7))
    result = run(flipped_copies(train, 6), test)  # 12 of 2,406 rows: 0.5 %
    assert result.status == "pass", result.message
    assert result.metrics["conflict_groups"] == 6
    assert "copies of one record" in result.message and "labelling problem" in result.message


def test_leakage_reports_rows_of_one_declared_id_with_different_labels():
    frame = make_classification_frame(n=2000, seed=9).with_columns(
        pl.int_range(pl.len()).alias("row_id")
    )
    train, test = random_split(frame)
    assert run(train, test, id="row_id").status == "pass"
    # 40 rows take the id of another row with the other label (their features differ)
    ones = train.filter(pl.col("label") == 1).head(40)
    zeros = train.filter(pl.col("label") == 0).head(40)
    relabelled = pl.concat(
        [train.join(ones, on="row_id", how="anti"), ones.with_columns(zeros["row_id"])]
    )
    result = run(relabelled, test, id="row_id")
    assert result.metrics["id_conflict_rows"] == 80
    assert result.status == "fail" and "conflicts" in result.subjects
    rows = next(e for e in result.evidence if e.title.startswith("Identical train rows")).rows
    assert rows[0][2] == "same row_id (the declared id)"


def test_conflict_verdict_edges():
    from qa.checks.leakage import conflict_verdict

    assert conflict_verdict(0.0101, 0.01) == "fired"
    assert conflict_verdict(0.01, 0.01) == "ok"
    assert conflict_verdict(0.0, 0.0) == "ok"


def _at(train: pl.DataFrame, test: pl.DataFrame, rate: float) -> qa.report.CheckResult:
    config = {"task": {"target": "label"}, "run": {"false_alarm_rate": rate}}
    return qa.check(train=train, test=test, config=config, only=["leakage"]).checks[0]


def test_copies_of_train_records_fail_without_a_chance_test():
    """3 of 66 test rows copied into a 265-row train of continuous features: an exact copy of
    a row holding a value no other record holds is no chance match, whatever the budget."""
    frame = make_classification_frame(n=331, seed=3)
    train, test = frame.head(265), frame.tail(66)
    strict = _at(pl.concat([train, test.head(3)]), test, 0.0001)
    assert strict.status == "fail", strict.message
    assert strict.metrics["overlap_record_copies_test"] == 3
    assert run(train, test).status == "pass"


def test_a_few_matches_on_coarse_rows_warn_when_the_budget_cannot_confirm_them():
    """Two integer features of 40 values: train repeats its own rows (10 % duplicates), so
    13 of 66 test rows found in train (3 of them copied) can be chance: p about 0.03, not
    significant at a full gate's share but at 5 %: warn; at a lax budget it fails."""
    rng = np.random.default_rng(2)
    frame = pl.DataFrame(
        {
            "a": rng.integers(0, 40, 331),
            "b": rng.integers(0, 40, 331),
            "label": rng.integers(0, 2, 331),
        }
    )
    train, test = frame.head(265), frame.tail(66)
    copied = pl.concat([train, test.head(3)])
    strict = _at(copied, test, 0.004)  # 0.002 per test, about a full gate's share
    assert strict.status == "warn", strict.message
    assert strict.subjects == ("overlap",)
    assert "underpowered" in strict.message
    assert strict.metrics["overlap_record_copies_test"] == 0  # no column tells records apart
    assert _at(copied, test, 0.5).status == "fail"  # the same rows: the share decides


def test_copies_of_rounded_measurements_fail_like_the_demo():
    """Measurements rounded to three significant digits tie column by column (every column
    repeats a value for several % of rows) but not as whole rows: 4 of 85 test rows copied
    into train are copies of records, at a full gate's share too."""
    rng = np.random.default_rng(5)
    n = 430
    x = rng.lognormal(mean=2.0, sigma=0.15, size=(n, 8))  # each column ties for 4-11 % of rows
    frame = pl.DataFrame({f"m{j}": np.round(x[:, j], 3) for j in range(8)}).with_columns(
        label=pl.Series(rng.integers(0, 2, n))
    )
    train, test = frame.head(345), frame.tail(85)
    assert run(train, test).status == "pass"
    result = _at(pl.concat([train, test.head(4)]), test, 0.004)
    assert result.status == "fail", result.message
    assert result.metrics["overlap_record_copies_test"] == 4
