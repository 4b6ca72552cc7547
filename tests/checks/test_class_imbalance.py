from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.class_imbalance import (
    MAX_CLASS_METRICS,
    ClassImbalance,
    decide,
    is_unstratified,
    minority_verdict,
)
from qa.errors import DataError
from qa.testing import check_contract
from tests.conftest import make_classification_frame, random_split


def labelled(counts: dict, seed: int = 0) -> pl.DataFrame:
    """A frame with exactly ``counts[label]`` rows per label, shuffled, with one feature."""
    labels = np.concatenate([np.full(n, label, dtype=object) for label, n in counts.items()])
    rng = np.random.default_rng(seed)
    labels = labels[rng.permutation(len(labels))]
    values = labels.tolist()
    return pl.DataFrame({"x": rng.normal(size=len(values)), "label": values})


def run_ci(**inputs):
    report = qa.check(target="label", only=["class-imbalance"], **inputs)
    return report.checks[0]


def test_class_imbalance_contract_fails_below_the_hard_floor():
    clean = labelled({0: 6000, 1: 4000})
    rare = labelled({0: 9950, 1: 50})  # 0.5 % minority
    _ok, defective = check_contract(
        ClassImbalance,
        clean=dict(train=clean, target="label"),
        defective=dict(train=rare, target="label"),
    )
    result = defective.checks[0]
    assert result.subjects == ("1",)
    assert result.metrics["minority_share"] == pytest.approx(0.005)
    assert result.metrics["imbalance_ratio"] == pytest.approx(199)
    assert result.charts[0].kind == "bars"


@pytest.mark.parametrize(
    ("minority", "status"),
    [
        (1200, "pass"),
        (800, "warn"),
        (150, "warn"),
        (50, "fail"),
    ],
)
def test_class_imbalance_minority_share_either_side_of_the_bars(minority, status):
    result = run_ci(train=labelled({"neg": 10_000 - minority, "pos": minority}))
    assert result.status == status, result.message
    if status != "pass":
        assert result.subjects == ("pos",)


def test_class_imbalance_scales_the_bar_with_the_number_of_classes():
    from sklearn.datasets import load_digits

    digits = pl.from_pandas(load_digits(as_frame=True).frame).rename({"target": "label"})
    train, test = random_split(digits, seed=0)
    result = run_ci(train=train, test=test)
    assert result.status == "pass", result.message  # ten classes of ~10 % each are balanced
    assert result.thresholds["min_minority_share"] == pytest.approx(0.02)
    three = labelled({"a": 4800, "b": 4800, "c": 400})  # 4 % < 10 % x 2/3
    assert run_ci(train=three).status == "warn"


def test_class_imbalance_fails_on_a_class_missing_from_train():
    train = labelled({"a": 500, "b": 500})
    test = labelled({"a": 100, "b": 100, "c": 5}, seed=1)
    result = run_ci(train=train, test=test, task="multiclass")
    assert result.status == "fail"
    assert "c" in result.subjects
    assert "never seen in train" in result.message


def test_class_imbalance_warns_on_unstratified_splits():
    train = labelled({0: 1000, 1: 1000})
    test = labelled({0: 300, 1: 700}, seed=1)
    result = run_ci(train=train, test=test)
    assert result.status == "warn"
    assert "not stratified" in result.message
    assert result.metrics["max_share_difference"] == pytest.approx(0.2)
    assert result.metrics["chi2_p_value"] < 1e-6


def test_class_imbalance_warns_on_a_test_set_skewed_after_a_random_split():
    """Moved from split-hygiene: the unstratified-split warning lives in class-imbalance only."""
    frame = make_classification_frame(n=20_000, seed=7)
    train, validation, test = random_split(frame, (0.8, 0.1, 0.1))
    skewed = test.filter(pl.col("label") == 1).vstack(test.filter(pl.col("label") == 0)[:300])
    result = run_ci(train=train, validation=validation, test=skewed)
    assert result.status == "warn", result.message
    assert "not stratified" in result.message and "between train and test" in result.message
    clean = run_ci(train=train, validation=validation, test=test)
    assert clean.status == "pass", clean.message


def test_class_imbalance_ignores_a_significant_but_negligible_share_difference():
    train = labelled({0: 100_000, 1: 100_000})
    test = labelled({0: 98_000, 1: 102_000}, seed=1)  # 1 point apart, p far below alpha
    result = run_ci(train=train, test=test)
    assert result.status == "pass", result.message
    assert result.metrics["chi2_p_value"] < 0.01


def test_class_imbalance_ignores_a_large_difference_on_a_tiny_split():
    train = labelled({0: 500, 1: 500})
    test = labelled({0: 12, 1: 8}, seed=1)  # 10 points apart on 20 rows: chance
    assert run_ci(train=train, test=test).status == "pass"


def test_class_imbalance_leaves_production_label_shift_to_drift_but_flags_unseen_classes():
    train, test = labelled({0: 1000, 1: 1000}), labelled({0: 500, 1: 500}, seed=1)
    shifted = labelled({0: 200, 1: 800}, seed=2)
    result = run_ci(train=train, test=test, production=shifted)
    assert result.status == "pass", result.message
    assert result.metrics["share_production_1"] == pytest.approx(0.8)
    unseen = labelled({0: 200, 1: 700, 2: 100}, seed=3)
    assert run_ci(train=train, test=test, production=unseen, task="multiclass").status == "fail"


def test_class_imbalance_random_splits_of_breast_cancer_pass():
    from sklearn.datasets import load_breast_cancer

    frame = pl.from_pandas(load_breast_cancer(as_frame=True).frame).rename({"target": "label"})
    for seed in range(5):
        train, validation, test = random_split(frame, (0.6, 0.2, 0.2), seed=seed)
        result = run_ci(train=train, validation=validation, test=test)
        assert result.status == "pass", (seed, result.message)


def test_class_imbalance_bounds_per_class_metrics_and_keeps_hostile_names():
    names = ["<script>alert(1)</script>", "naïve ü 列"] + [f"class_{i:02d}" for i in range(58)]
    train = labelled({name: 40 for name in names})
    result = run_ci(train=train)
    assert result.status == "pass", result.message
    shares = [k for k in result.metrics if k.startswith("share_")]
    assert len(shares) == MAX_CLASS_METRICS
    assert "share_train_<script>alert(1)</script>" in result.metrics
    assert len(result.evidence[0].rows) == 50 and "60" in result.evidence[0].note


def test_class_imbalance_one_class_train_is_a_data_error():
    with pytest.raises(DataError, match="single class"):
        run_ci(train=labelled({"only": 100}), task="binary")


def test_class_imbalance_skips_regression():
    frame = pl.DataFrame({"x": np.arange(200.0), "label": np.linspace(0, 1, 200)})
    assert run_ci(train=frame, task="regression").status == "skip"


def test_class_imbalance_fails_a_class_with_fewer_than_ten_train_rows_under_the_warn_bar():
    """Three classes, the minority cut to 6 rows (1.5 %, above the 0.67 % share floor): fail."""
    frame = make_classification_frame(n=600, n_classes=3, seed=3)
    kept = frame.filter(pl.col("label") != 2).vstack(frame.filter(pl.col("label") == 2).head(6))
    result = qa.check(train=kept, target="label", only=["class-imbalance"]).checks[0]
    assert result.status == "fail", result.message
    assert result.subjects == ("2",)
    lenient = qa.check(
        train=kept,
        target="label",
        only=["class-imbalance"],
        checks={"class-imbalance": {"fail_min_rows": 5}},
    ).checks[0]
    assert lenient.status == "warn", lenient.message


def test_minority_verdict_at_the_bars_without_data():
    params = ClassImbalance.Params()  # binary bars: warn 10 %, fail 1 %, fail_min_rows 10
    assert minority_verdict(0.10, 1000, 2, params) == "ok"  # at the bar is enough
    assert minority_verdict(0.0999, 1000, 2, params) == "warn"
    assert minority_verdict(0.0099, 1000, 2, params) == "fail"
    assert minority_verdict(0.05, 9, 2, params) == "fail"  # too few rows to learn
    assert minority_verdict(0.05, 10, 2, params) == "warn"
    assert minority_verdict(0.0667, 500, 3, params) == "ok"  # K = 3: bar 10 % x 2/3


def test_unstratified_needs_significance_and_size_and_decide_ranks_the_findings():
    params = ClassImbalance.Params()  # alpha 0.001, max_share_difference 0.05
    assert is_unstratified(1e-6, 0.051, params)
    assert not is_unstratified(1e-6, 0.05, params)  # large sample, negligible difference
    assert not is_unstratified(0.001, 0.2, params)  # large difference, could be chance
    assert not is_unstratified(None, 0.2, params)  # nothing compared
    assert decide(0, ["ok", "ok"], False) == "pass"
    assert decide(0, ["ok", "ok"], True) == "warn"
    assert decide(0, ["warn", "ok"], False) == "warn"
    assert decide(1, ["ok", "ok"], False) == "fail"
    assert decide(0, ["fail", "ok"], True) == "fail"
