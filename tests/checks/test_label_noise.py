from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

import qa
from qa.checks.label_noise import LabelNoise
from qa.testing import check_contract


def flip_labels(y: np.ndarray, share: float, seed: int = 1) -> np.ndarray:
    """Move ``share`` of the labels to another class, chosen at random."""
    rng = np.random.default_rng(seed)
    y = y.copy()
    k = int(y.max()) + 1
    idx = rng.choice(len(y), int(share * len(y)), replace=False)
    y[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    return y


def frame_from(X: np.ndarray, y: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({**{f"f{i}": X[:, i] for i in range(X.shape[1])}, "label": y})


def run(frame: pl.DataFrame, **kw) -> qa.report.CheckResult:
    report = qa.check(train=frame, target="label", only=["label-noise"], **kw)
    return report.checks[0]


def test_label_noise_fails_on_ten_percent_flipped_labels_and_passes_clean():
    data = load_breast_cancer()
    clean_frame = frame_from(data.data, data.target)
    noisy_frame = frame_from(data.data, flip_labels(data.target, 0.10))
    clean, defective = check_contract(
        LabelNoise,
        clean=dict(train=clean_frame, target="label"),
        defective=dict(train=noisy_frame, target="label"),
    )
    clean_rate = clean.checks[0].metrics["issue_rate"]
    noisy = defective.checks[0]
    assert noisy.metrics["issue_rate"] >= clean_rate + 0.05
    assert noisy.metrics["oof_auc"] > 0.7
    titles = [e.title for e in noisy.evidence]
    assert "Most suspicious train labels" in titles


def test_label_noise_flags_the_flipped_rows_in_a_multiclass_set():
    data = load_digits()
    keep = data.target < 5  # five classes keep the test quick
    X, truth = data.data[keep], data.target[keep]
    y = flip_labels(truth, 0.10, seed=3)
    result = run(frame_from(X, y))
    assert result.status == "fail"
    rows = next(e for e in result.evidence if e.title == "Most suspicious train labels").rows
    flipped = set(np.flatnonzero(y != truth).tolist())
    hits = sum(1 for r in rows if r[0] in flipped)
    assert hits >= 0.8 * len(rows)


def test_label_noise_warns_not_fails_on_a_near_random_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6))
    latent = 0.15 * X[:, 0] + rng.normal(size=3000)
    y = np.digitize(latent, np.quantile(latent, [0.2, 0.4, 0.6, 0.8]))
    result = run(frame_from(X, y))
    assert result.status == "warn", result.message
    assert result.metrics["oof_auc"] < 0.7
    assert "too weak" in result.message


def test_label_noise_names_the_id_column_and_reports_test_issues():
    data = load_breast_cancer()
    frame = frame_from(data.data, data.target).with_columns(
        pl.Series("row_id", [f"id-{i}" for i in range(len(data.target))])
    )
    train, test = frame.head(400), frame.tail(169)
    bad_test = test.with_columns(pl.Series("label", flip_labels(test["label"].to_numpy(), 0.2)))
    report = qa.check(
        train=train,
        test=bad_test,
        config={"task": {"target": "label", "id": "row_id"}},
        only=["label-noise"],
    )
    result = report.checks[0]
    assert result.metrics["test_issue_rate"] > 0.1
    test_rows = next(e for e in result.evidence if e.title == "Most suspicious test labels")
    assert test_rows.columns[0] == "row_id"
    assert all(str(r[0]).startswith("id-") for r in test_rows.rows)
    # 169 test rows is under the 200-row floor: reported, not judged
    assert result.status == "pass"


def test_label_noise_survives_a_class_with_fewer_rows_than_folds():
    data = load_breast_cancer()
    frame = frame_from(data.data, data.target.astype(str))
    tiny = frame.head(3).with_columns(pl.lit("rare").alias("label"))
    result = run(pl.concat([frame, tiny]))
    assert result.status == "pass", result.message
    assert result.metrics["rows_excluded"] == 3
    assert any("too small" in e.title for e in result.evidence)


def test_label_noise_skips_when_only_one_class_is_big_enough():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"x": rng.normal(size=50), "label": ["a"] * 47 + ["b"] * 3})
    result = run(frame)
    assert result.status == "skip"


def test_label_noise_skips_regression():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"x": rng.normal(size=100), "label": rng.normal(size=100)})
    assert run(frame).status == "skip"


def test_label_noise_handles_hostile_columns_nan_inf_and_constants():
    data = load_breast_cancer()
    frame = frame_from(data.data[:, :6], data.target)
    n = frame.height
    rng = np.random.default_rng(0)
    noisy_num = data.data[:, 7].copy()
    noisy_num[::7] = np.nan
    noisy_num[::11] = np.inf
    frame = frame.with_columns(
        pl.Series("<script>alert(1)</script>", noisy_num),
        pl.Series("naïve ü 列", [None] * n, dtype=pl.Float64),
        pl.lit(1.0).alias("constant"),
        pl.Series("many", [f"v{i}" for i in rng.permutation(n)]),
    )
    result = run(frame)
    assert result.status == "pass", result.message


def test_label_noise_reads_a_user_oof_file(tmp_path):
    data = load_breast_cancer()
    y = flip_labels(data.target, 0.1)
    frame = frame_from(data.data, y)
    onehot = np.eye(2)[data.target] * 0.9 + 0.05  # a confident model that knows the truth
    path = tmp_path / "oof.parquet"
    pl.DataFrame({"proba_0": onehot[:, 0], "proba_1": onehot[:, 1]}).write_parquet(path)
    report = qa.check(
        train=frame,
        config={"task": {"target": "label"}, "model": {"oof": str(path)}},
        only=["label-noise"],
    )
    result = report.checks[0]
    assert result.status == "fail"
    assert result.metrics["n_folds"] == 0
    assert result.metrics["issue_rate"] == pytest.approx(0.1, abs=0.02)


def test_label_noise_rejects_an_oof_file_without_every_class(tmp_path):
    data = load_breast_cancer()
    path = tmp_path / "oof.csv"
    pl.DataFrame({"proba_0": np.full(len(data.target), 0.5)}).write_csv(path)
    report = qa.check(
        train=frame_from(data.data, data.target),
        config={"task": {"target": "label"}, "model": {"oof": str(path)}},
        only=["label-noise"],
    )
    assert report.checks[0].status == "error"
    assert "proba_1" in report.checks[0].message


def test_label_noise_does_not_fail_clean_labels_of_overlapping_classes():
    # Two Gaussian classes one standard deviation apart in 5 dimensions: ~13 % Bayes error,
    # no label is wrong, yet cleanlab flags more than 5 % of rows as it would for real noise.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    X = rng.normal(size=(4000, 5)) + y[:, None]
    result = run(frame_from(X, y))
    assert result.metrics["issue_rate"] > 0.05
    assert result.metrics["expected_issue_rate"] > 0.04
    assert result.status == "warn", result.message
    assert "uncertainty explains" in result.message


def _confident_oof_case(tmp_path, n: int, n_wrong: int) -> qa.report.CheckResult:
    """n rows of 3 classes, a confident OOF file that knows the truth, n_wrong labels moved."""
    rng = np.random.default_rng(0)
    truth = np.arange(n) % 3
    y = truth.copy()
    wrong = rng.choice(n, n_wrong, replace=False)
    y[wrong] = (y[wrong] + 1) % 3
    proba = np.eye(3)[truth] * 0.994 + 0.002
    path = tmp_path / f"oof_{n}.parquet"
    pl.DataFrame({f"proba_{c}": proba[:, c] for c in range(3)}).write_parquet(path)
    frame = pl.DataFrame({"x": rng.normal(size=n), "label": y})
    report = qa.check(
        train=frame,
        config={"task": {"target": "label"}, "model": {"oof": str(path)}},
        only=["label-noise"],
    )
    return report.checks[0]


def test_label_noise_warns_not_fails_when_a_small_sample_puts_the_rate_just_over_the_bar(tmp_path):
    # 6 of 90 rows (6.7 %) is over the 5 % bar, but its 95 % lower bound (~3 %) is not: at this
    # size one row moves the rate by 1.1 points, so the check must not fail on it.
    small = _confident_oof_case(tmp_path, 90, 6)
    assert small.metrics["issue_rate"] == pytest.approx(6 / 90, abs=1e-5)
    assert small.metrics["issue_rate_lower"] < 0.05
    assert small.status == "warn", small.message
    assert "could be chance" in small.message
    # The same rate on ten times the rows is significant and fails.
    large = _confident_oof_case(tmp_path, 900, 60)
    assert large.metrics["issue_rate_lower"] > 0.05
    assert large.status == "fail", large.message


def test_rate_lower_bound_is_clopper_pearson():
    from qa.stats import rate_lower_bound

    assert rate_lower_bound(0, 50) == 0.0
    assert rate_lower_bound(6, 89) == pytest.approx(0.0297, abs=5e-4)
    assert rate_lower_bound(5000, 50_000) == pytest.approx(0.0978, abs=1e-3)


def _latent_threshold_frame(n: int, seed: int, noise: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (x[:, 0] + noise * rng.normal(size=n) > 0).astype(int)
    return pl.DataFrame({f"x{i}": x[:, i] for i in range(5)}).with_columns(y=pl.Series(y))


def test_label_noise_warns_on_a_hard_target_when_held_out_rows_flag_as_many():
    """Clean but hard (about 25 % Bayes error, 1,200 rows): held-out rows flag as many -> warn."""
    train, test = _latent_threshold_frame(1200, 0, 1.0), _latent_threshold_frame(400, 100, 1.0)
    result = qa.check(
        train=train, test=test, target="y", only=["label-noise"], config={"run": {"threads": 1}}
    ).checks[0]
    assert result.status == "warn", result.message
    assert result.metrics["issue_rate"] > 0.15 and result.metrics["test_rows_judged"] == 400
    assert "held-out rows" in result.message


def test_label_noise_fails_ten_percent_flips_in_train_against_clean_held_out_rows():
    frame = _latent_threshold_frame(1600, 0, 0.1)
    train, test = frame.head(1200), frame.tail(400)
    flip = np.random.default_rng(1).random(train.height) < 0.10
    flipped = np.where(flip, 1 - train["y"].to_numpy(), train["y"].to_numpy())
    train = train.with_columns(y=pl.Series(flipped))
    result = qa.check(
        train=train, test=test, target="y", only=["label-noise"], config={"run": {"threads": 1}}
    ).checks[0]
    assert result.status == "fail", result.message


def test_label_noise_decide_at_its_edges_without_data():
    from qa.checks.label_noise import decide, holdout_flagged

    params = LabelNoise.Params()  # bar 5 %, min_excess 2.5 %, min_oof_auc 0.7
    bar = params.max_issue_rate
    assert decide(0.69, 500, 1000, 0.0, None, False, params) == ("warn", "weak-model")
    assert decide(None, 50, 1000, 0.0, None, False, params) == ("pass", "clean")  # at the bar
    assert decide(0.9, 50, 1000, 0.0, None, True, params) == ("warn", "holdout")
    fail_holdout = LabelNoise.Params(holdout="fail")
    assert decide(0.9, 10, 1000, 0.0, None, True, fail_holdout) == ("fail", "holdout")
    assert decide(0.9, 1, 9, 0.0, None, False, params) == ("warn", "chance")  # 11 %, 9 rows
    many = 20_000
    assert decide(0.9, int(0.10 * many), many, 0.0, None, False, params) == ("fail", "noisy")
    explained = decide(0.9, int(0.10 * many), many, 0.095, None, False, params)
    assert explained == ("warn", "explained")
    same_as_holdout = (int(0.10 * 2000), 2000)
    assert decide(0.9, int(0.10 * many), many, 0.0, same_as_holdout, False, params) == (
        "warn",
        "hard-target",
    )
    assert holdout_flagged(1000, bar + 0.05, 0.0, params)
    assert not holdout_flagged(199, bar + 0.05, 0.0, params)  # too few held-out rows
    assert not holdout_flagged(1000, bar, 0.0, params)  # lower bound at the bar
    assert not holdout_flagged(1000, bar + 0.05, 0.0, LabelNoise.Params(holdout="report"))


def test_label_noise_fail_rule_follows_the_checks_share_of_the_budget():
    from qa.checks.label_noise import decide

    assert LabelNoise.fail_tests == 1
    params = LabelNoise.Params()
    # 60 of 900 flagged (6.7 %): the one-sided 98 % lower bound (5.06 %) clears the 5 % bar;
    # at a share of 0.005 the 99.5 % bound (4.6 %) does not, and the rate could be chance.
    assert decide(0.9, 60, 900, 0.0, None, False, params, alpha=0.02) == ("fail", "noisy")
    assert decide(0.9, 60, 900, 0.0, None, False, params, alpha=0.005) == ("warn", "chance")
    # The control comparison runs at the share too: 12 % of train vs 9 % of 1,000 held-out
    # rows is significant at 2 % (one-sided p ~ 0.002) but not at 0.1 %.
    control = (90, 1000)
    assert decide(0.9, 2400, 20_000, 0.0, control, False, params, alpha=0.02)[0] == "fail"
    tight = decide(0.9, 2400, 20_000, 0.0, control, False, params, alpha=0.001)
    assert tight == ("warn", "hard-target")


def _overlapping_binary(n: int, seed: int, flip_train: float = 0.0) -> dict:
    """Two overlapping Gaussian classes (about 18 % Bayes error); train labels flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 6)) + np.outer(y, np.full(6, 0.75))
    frame = pl.DataFrame({f"x{j}": x[:, j] for j in range(6)}).with_columns(label=y)
    train, validation, test = frame[: n // 2], frame[n // 2 : 3 * n // 4], frame[3 * n // 4 :]
    if flip_train:
        flip = rng.random(train.height) < flip_train
        train = train.with_columns(label=pl.Series(np.where(flip, 1 - y[: n // 2], y[: n // 2])))
    return dict(train=train, validation=validation, test=test, target="label")


def test_label_noise_uses_the_held_out_control_to_fail_noise_the_model_learned():
    """12 % of train labels flipped on a hard target: the model's own uncertainty absorbs the
    noise (the expected rate explains the flags), but held-out rows scored the same way flag
    far fewer: fail, naming both rates."""
    noisy = qa.check(**_overlapping_binary(4000, 1, flip_train=0.12), only=["label-noise"])
    result = noisy.checks[0]
    assert result.status == "fail", result.message
    assert "held-out rows, scored the same way, flag only" in result.message
    assert result.metrics["control_issue_rate"] < result.metrics["issue_rate"] - 0.05
    clean = qa.check(**_overlapping_binary(4000, 1), only=["label-noise"]).checks[0]
    assert clean.status != "fail", clean.message
