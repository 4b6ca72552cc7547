from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

import qa
from qa.api import build_context
from qa.checks.performance_estimate import (
    Calibration,
    Drop,
    Isotonic,
    PerformanceEstimate,
    Problem,
    Rows,
    Scorers,
    decide,
    estimate,
    expected_confusion,
    score_all,
)
from qa.config import parse_config
from qa.metrics import METRICS
from qa.testing import check_contract
from tests.model_fixtures import sharpen

ID = PerformanceEstimate.id
#: True logistic weights of the binary world (the fourth feature is noise).
BETA = np.array([1.5, -1.0, 0.5, 0.0])
#: True softmax weights of the three-class world.
WEIGHTS3 = np.array([[1.5, -1.0, 0.0], [0.0, 1.2, -1.2], [-0.8, 0.0, 1.0], [0.0, 0.0, 0.0]])
#: Production rows drawn with the features scaled by this: they crowd the origin, where the
#: classes overlap. P(y | x) is unchanged (a covariate shift, no concept shift); accuracy
#: falls by about 10 points (binary: 0.77 -> 0.66; three classes: 0.74 -> 0.59).
SHIFT_SCALE = 0.5


@dataclass(frozen=True)
class World:
    """Splits drawn from a known P(y | x), and an overconfident model of it (its logistic
    regression's logits doubled), so the estimate only works after calibration."""

    weights: np.ndarray
    model: Any
    splits: dict[str, tuple[np.ndarray, np.ndarray]]

    def draw(self, n: int, seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, self.weights.shape[0])) * scale
        return x, _labels(rng, x, self.weights)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return sharpen(self.model.predict_proba(x), 2.0)

    def inputs(
        self, production: tuple[np.ndarray, np.ndarray], labelled: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """``qa.check`` keyword arguments; production's labels are held back unless
        ``labelled``."""
        splits = {**self.splits, "production": production}
        frames = {
            s: _frame(x, y if (s != "production" or labelled) else None)
            for s, (x, y) in splits.items()
        }
        predictions = {s: _predictions(self.proba(x)) for s, (x, _) in splits.items()}
        predictions.pop("train")
        return dict(
            **frames,
            target="label",
            predictions=predictions,
            only=[ID],
            extra_checks=[PerformanceEstimate],
            **extra,
        )


def _labels(rng: np.random.Generator, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    if weights.ndim == 1:
        return (rng.random(len(x)) < 1 / (1 + np.exp(-(x @ weights)))).astype(np.int64)
    z = x @ weights
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return (rng.random((len(x), 1)) > p.cumsum(axis=1)).sum(axis=1)


def _frame(x: np.ndarray, y: np.ndarray | None) -> pl.DataFrame:
    data: dict[str, Any] = {f"f{i}": x[:, i] for i in range(x.shape[1])}
    if y is not None:
        data["label"] = y
    return pl.DataFrame(data)


def _predictions(proba: np.ndarray) -> pl.DataFrame:
    data: dict[str, Any] = {"prediction": proba.argmax(axis=1)}
    for c in range(proba.shape[1]):
        data[f"proba_{c}"] = proba[:, c]
    return pl.DataFrame(data)


def _world(weights: np.ndarray) -> World:
    sizes = {"train": 3000, "validation": 3000, "test": 1500}
    blank = World(weights, None, {})
    splits = {s: blank.draw(n, seed) for seed, (s, n) in enumerate(sizes.items())}
    model = LogisticRegression(max_iter=1000).fit(*splits["train"])
    return World(weights, model, splits)


@pytest.fixture(scope="module")
def binary() -> World:
    return _world(BETA)


@pytest.fixture(scope="module")
def multiclass() -> World:
    return _world(WEIGHTS3)


def _run(inputs: dict[str, Any]) -> Any:
    return qa.check(**inputs).checks[0]


def _truth(world: World, production: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """The production metrics on the labels the check never saw."""
    x, y = production
    proba = world.proba(x)
    said = proba.argmax(axis=1)
    out = {"accuracy": accuracy_score(y, said), "macro_f1": f1_score(y, said, average="macro")}
    if proba.shape[1] == 2:
        out.update(
            roc_auc=roc_auc_score(y, proba[:, 1]),
            f1=f1_score(y, said),
            precision=precision_score(y, said),
            recall=recall_score(y, said),
        )
    return out


def _inside(result: Any, name: str, value: float) -> bool:
    low = result.metrics[f"{name}_estimated_ci_low"]
    high = result.metrics[f"{name}_estimated_ci_high"]
    return low <= value <= high


# --------------------------------------------------------------------------- verdicts
def test_contract_passes_on_production_like_test_and_fails_on_a_ten_point_covariate_shift(
    binary: World,
):
    clean = binary.inputs(binary.draw(2000, seed=10))
    defective = binary.inputs(binary.draw(2000, seed=11, scale=SHIFT_SCALE))
    for inputs in (clean, defective):  # check_contract adds the check itself
        inputs.pop("only"), inputs.pop("extra_checks")
    good, bad = check_contract(PerformanceEstimate, clean=clean, defective=defective)
    assert good.checks[0].metrics["estimated_drop"] < 0.05
    assert bad.checks[0].subjects == ("roc_auc",)


def test_estimate_lies_within_its_interval_of_the_true_production_metric(binary: World):
    production = binary.draw(2000, seed=20)
    result = _run(binary.inputs(production))
    truth = _truth(binary, production)
    assert result.status == "pass", result.message
    for name in ("roc_auc", "accuracy", "f1", "precision", "recall"):
        assert _inside(result, name, truth[name]), (name, truth[name], result.metrics)
    # Measured: AUC 0.858 estimated [0.834, 0.884] vs 0.854 true; accuracy 0.775 vs 0.769.
    assert result.metrics["roc_auc_estimated"] == pytest.approx(truth["roc_auc"], abs=0.02)
    assert result.metrics["accuracy_estimated"] == pytest.approx(truth["accuracy"], abs=0.02)
    # The raw (overconfident) probabilities alone would promise far more: the calibration on
    # validation is what makes the estimate right.
    naive = float(binary.proba(production[0]).max(axis=1).mean())
    assert naive - truth["accuracy"] > 0.07
    assert "production true" not in result.evidence[0].columns
    assert result.evidence[1].title.startswith("Expected confusion matrix")


def test_covariate_shift_costing_ten_points_of_accuracy_fails(binary: World):
    production = binary.draw(2000, seed=30, scale=SHIFT_SCALE)
    result = _run(binary.inputs(production))
    truth = _truth(binary, production)
    test_accuracy = result.metrics["accuracy_test"]
    assert 0.08 < test_accuracy - truth["accuracy"] < 0.14  # the planted defect's size
    assert result.status == "fail", result.message
    assert result.subjects == ("roc_auc",)
    assert result.metrics["estimated_drop"] > 0.05
    assert result.metrics["estimate_minus_test_bound_at_share"] < 0
    assert "significant at the false-alarm share 0.02" in result.message
    for name in ("roc_auc", "accuracy"):
        assert _inside(result, name, truth[name]), (name, truth[name], result.metrics)
    assert result.remedy.startswith("Find out what moved")


def test_multiclass_estimate_tracks_macro_f1_and_fails_on_a_shift(multiclass: World):
    production = multiclass.draw(2000, seed=44)
    clean = _run(multiclass.inputs(production))
    truth = _truth(multiclass, production)
    assert clean.status == "pass", clean.message
    assert [r[0] for r in clean.evidence[0].rows] == ["macro-F1 (judged)", "accuracy"]
    for name in ("macro_f1", "accuracy"):
        assert _inside(clean, name, truth[name]), (name, truth[name], clean.metrics)
        assert clean.metrics[f"{name}_estimated"] == pytest.approx(truth[name], abs=0.03)
    confusion = clean.evidence[1]
    assert len(confusion.rows) == 3
    assert sum(row[-1] for row in confusion.rows) == pytest.approx(2000)

    shifted = multiclass.draw(2000, seed=41, scale=SHIFT_SCALE)
    result = _run(multiclass.inputs(shifted))
    truth = _truth(multiclass, shifted)
    assert result.status == "fail", result.message
    assert result.subjects == ("macro_f1",)
    assert _inside(result, "macro_f1", truth["macro_f1"])


def test_production_labels_are_reported_beside_the_estimate_and_not_judged(binary: World):
    production = binary.draw(2000, seed=50, scale=SHIFT_SCALE)
    checks = {ID: {"n_bootstrap": 400}}  # verdict and table do not need more resamples
    result = _run(binary.inputs(production, labelled=True, checks=checks))
    truth = _truth(binary, production)
    assert result.status == "pass"  # the same shift fails without labels
    assert "does not judge an estimate when the measured metric is there" in result.message
    assert "within the estimate's interval" in result.message
    assert result.metrics["roc_auc_production"] == pytest.approx(truth["roc_auc"], abs=1e-6)
    assert result.metrics["accuracy_production"] == pytest.approx(truth["accuracy"], abs=1e-6)
    metrics_table = result.evidence[0]
    assert metrics_table.columns[-1] == "production true"
    judged = metrics_table.rows[0]
    assert judged[0] == "AUC-ROC (judged)"
    assert judged[-1] == pytest.approx(truth["roc_auc"], abs=1e-6)


def test_tiny_production_is_underpowered_and_does_not_fail(binary: World):
    production = binary.draw(30, seed=60, scale=SHIFT_SCALE)
    result = _run(binary.inputs(production))
    assert result.status == "warn", result.message
    assert result.metrics["estimated_drop"] > 0.05  # the point says "dropped"...
    assert result.metrics["estimate_minus_test_bound_at_share"] > 0  # ...30 rows cannot tell
    assert result.subjects == ("underpowered",)
    assert "underpowered: with 30 production rows" in result.message


def test_operating_threshold_comes_from_the_task_config(binary: World):
    production = binary.draw(2000, seed=70)
    inputs = binary.inputs(
        production, config={"task": {"threshold": 0.7}}, checks={ID: {"n_bootstrap": 400}}
    )
    result = _run(inputs)
    x, y = binary.splits["test"]
    said = binary.proba(x)[:, 1] >= 0.7
    assert result.thresholds["decision_threshold"] == 0.7
    assert result.metrics["precision_test"] == pytest.approx(precision_score(y, said), abs=1e-6)
    assert result.metrics["accuracy_test"] == pytest.approx(accuracy_score(y, said), abs=1e-6)
    truth = precision_score(production[1], binary.proba(production[0])[:, 1] >= 0.7)
    assert _inside(result, "precision", truth)


# --------------------------------------------------------------------------- skips
def test_missing_validation_skips_with_a_reason(binary: World):
    inputs = binary.inputs(binary.draw(500, seed=80))
    inputs.pop("validation")
    inputs["predictions"].pop("validation")
    result = _run(inputs)
    assert result.status == "skip"
    assert "validation" in result.message


def _context(world: World, missing: str | None = None, task: str | None = None) -> Any:
    """A Context built directly (no runner), lacking ``missing``; regression when asked."""
    inputs = world.inputs(world.draw(500, seed=90))
    frames = {s: inputs[s] for s in ("train", "validation", "test", "production")}
    predictions = dict(inputs["predictions"])
    if missing == "validation predictions":
        predictions.pop("validation")
    elif missing == "production predictions":
        predictions.pop("production")
    if task == "regression":
        for split, frame in frames.items():
            if "label" in frame.columns:
                frames[split] = frame.with_columns(pl.col("f0").alias("label"))
        predictions = {s: pl.DataFrame({"prediction": frames[s]["f1"]}) for s in predictions}
    config = parse_config({"task": {"target": "label", "type": task}})
    return build_context(config, frames, predictions)


@pytest.mark.parametrize(
    ("missing", "task", "reason"),
    [
        ("validation predictions", None, "nothing to calibrate the probabilities on"),
        ("production predictions", None, "no production predictions"),
        (None, "regression", "no class probabilities to calibrate"),
    ],
)
def test_the_check_body_names_what_it_lacks(binary: World, missing, task, reason):
    ctx = _context(binary, missing, task)
    result = PerformanceEstimate().run(ctx, PerformanceEstimate.Params())
    assert result.status == "skip"
    assert reason in result.message


def test_too_few_validation_rows_skip(binary: World):
    ctx = _context(binary)
    result = PerformanceEstimate().run(ctx, PerformanceEstimate.Params(min_validation_rows=5000))
    assert result.status == "skip"
    assert "only 3,000 labelled validation rows" in result.message


# --------------------------------------------------------------------------- measure and decide
def test_isotonic_calibration_equals_scikit_learns():
    rng = np.random.default_rng(0)
    scores = np.round(rng.beta(2, 2, 800), 2)  # many ties
    hits = rng.random(800) < scores**2
    new = np.concatenate([rng.random(500), [-0.5, 0.0, 1.0, 1.5]])
    ours = Isotonic.of(scores, hits).predict(new)
    sklearn = IsotonicRegression(out_of_bounds="clip").fit(scores, hits).predict(new)
    np.testing.assert_allclose(ours, sklearn, atol=1e-12)
    # Bootstrap counts are row weights: the same as repeating the rows.
    counts = rng.integers(0, 3, 800).astype(float)
    weighted = Isotonic.of(scores, hits).predict(new, counts)
    repeated = np.repeat(np.arange(800), counts.astype(int))
    expected = IsotonicRegression(out_of_bounds="clip").fit(scores[repeated], hits[repeated])
    np.testing.assert_allclose(weighted, expected.predict(new), atol=1e-12)


def test_multiclass_calibration_is_one_vs_rest_renormalised():
    rng = np.random.default_rng(1)
    raw = rng.dirichlet([1, 1, 1], 600)
    y = np.array([rng.choice(3, p=p) for p in raw])
    problem = Problem("multiclass", ("a", "b", "c"), 2, 0.5)
    q = Calibration.fit(problem, raw, y).proba(raw)
    separate = np.column_stack(
        [
            IsotonicRegression(out_of_bounds="clip").fit(raw[:, c], y == c).predict(raw[:, c])
            for c in range(3)
        ]
    )
    np.testing.assert_allclose(q, separate / separate.sum(axis=1, keepdims=True), atol=1e-12)


def test_expected_metrics_are_the_metrics_of_rows_weighted_by_their_expected_labels():
    rng = np.random.default_rng(2)
    n = 400
    raw = rng.beta(2, 2, n)
    proba = np.column_stack([1 - raw, raw])
    q1 = np.clip(raw + rng.normal(0, 0.1, n), 0, 1)
    q = np.column_stack([1 - q1, q1])
    problem = Problem("binary", ("0", "1"), 1, 0.5)
    rows = Rows(proba, problem.decisions(proba, None))
    metrics = [METRICS["roc_auc"], METRICS["accuracy"], METRICS["f1"]]
    scorers = Scorers(problem, metrics, rows)
    est = score_all(scorers.functions(), q.ravel())
    # AUC: each row a positive of weight q and a negative of weight 1 - q at its raw score.
    doubled = roc_auc_score(
        np.r_[np.ones(n), np.zeros(n)], np.r_[raw, raw], sample_weight=np.r_[q1, 1 - q1]
    )
    assert est["roc_auc"] == pytest.approx(doubled, abs=1e-12)
    said = rows.decisions == 1
    assert est["accuracy"] == pytest.approx(np.mean(np.where(said, q1, 1 - q1)), abs=1e-12)
    confusion = expected_confusion(q, rows.decisions, 2)
    tp, fp, fn = confusion[1, 1], confusion[0, 1], confusion[1, 0]
    assert est["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    # One-hot weights are real labels: the scorers then measure, as scikit-learn does.
    y = (rng.random(n) < raw).astype(int)
    onehot = np.eye(2)[y]
    measured = score_all(scorers.functions(), onehot.ravel())
    assert measured["roc_auc"] == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert measured["f1"] == pytest.approx(f1_score(y, said), abs=1e-12)


def test_subsampled_resamples_are_rescaled_to_the_full_size(binary: World):
    problem = Problem("binary", ("0", "1"), 1, 0.5)
    x_val, y_val = binary.splits["validation"]
    calibration = Calibration.fit(problem, binary.proba(x_val), y_val)
    x, _ = binary.draw(3000, seed=100)
    rows = Rows(binary.proba(x), problem.decisions(binary.proba(x), None))
    metrics = [METRICS["roc_auc"], METRICS["accuracy"]]

    def spread(max_rows: int) -> dict[str, float]:
        est = estimate(
            problem, metrics, calibration, rows, None, n_resamples=400, max_rows=max_rows, seed=0
        )
        return {m.name: float(np.std(est.replicates(m.name))) for m in metrics}

    full, sub = spread(20_000), spread(600)  # 600 of 3,000 production, of 1,500 validation
    for name in full:
        assert 0.8 < sub[name] / full[name] < 1.25, (name, full, sub)


def test_a_class_missing_from_validation_is_named():
    rng = np.random.default_rng(3)
    raw = rng.dirichlet([1, 1, 1], 300)
    y = rng.integers(0, 2, 300)  # class "c" never occurs in validation
    problem = Problem("multiclass", ("a", "b", "c"), 2, 0.5)
    calibration = Calibration.fit(problem, raw, y)
    assert calibration.absent() == ("c",)
    assert np.all(calibration.proba(raw)[:, 2] == 0)


def _drop(value: float | None, bound: float | None) -> Drop:
    return Drop(0.85, None if value is None else 0.85 - value, value, None, None, bound, None, None)


@pytest.mark.parametrize(
    ("value", "bound", "labelled", "expected"),
    [
        (0.049, -0.01, False, ("pass", "held")),
        (0.05, -0.01, False, ("pass", "held")),
        (0.051, -0.01, False, ("fail", "dropped")),
        (0.051, 0.0, False, ("warn", "unconfirmed")),
        (0.2, None, False, ("warn", "no-interval")),
        (0.2, -0.1, True, ("pass", "labelled")),
        (None, None, False, ("pass", "undefined")),
    ],
)
def test_decide_at_the_edges_of_max_drop_and_significance(value, bound, labelled, expected):
    assert decide(_drop(value, bound), 0.05, labelled) == expected
