from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import qa
from qa.api import build_context
from qa.checks.decision_cost import (
    DecisionCost,
    cost_curve,
    cost_matrix,
    decide,
    judge_regret,
    judge_trivial,
    optimal_threshold,
)
from qa.config import parse_config
from qa.errors import ConfigError
from qa.testing import check_contract
from tests.model_fixtures import (
    classification_splits,
    classifier_predictions,
    frames,
    proba_frame,
)

CHECK = [DecisionCost]
FN5 = {"false_positive": 1, "false_negative": 5}
#: Baselines off unless a test is about them: each test then fits one logistic regression.
FAST = {"baselines": False}


def _config(costs=None, threshold=None) -> dict:
    task: dict = {}
    if costs is not None:
        task["costs"] = costs
    if threshold is not None:
        task["threshold"] = threshold
    return {"task": task, "run": {"threads": 1}}


def _inputs(f, preds, costs=FN5, threshold=None, task=None, **params) -> dict:
    return dict(
        **f,
        target="label",
        task=task,
        predictions=preds,
        config=_config(costs, threshold),
        checks={"decision-cost": {**FAST, **params}},
    )


def _run(f, preds, costs=FN5, threshold=None, task=None, **params):
    report = qa.check(
        **_inputs(f, preds, costs, threshold, task, **params),
        only=["decision-cost"],
        extra_checks=CHECK,
    )
    return report.checks[0]


def _random_scores(data, seed: int = 0) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, (_x, y) in data.items():
        u = rng.random(len(y))
        out[split] = proba_frame(np.c_[1 - u, u], [0, 1])
    return out


@pytest.fixture(scope="module")
def binary():
    """Binary data with 20 % positives (750 validation and 750 test rows) and a logistic
    regression. With a false negative costing five false positives, flagging every row
    (0.8 per row) is the cheapest trivial policy; never flagging costs 1.0."""
    data = classification_splits(n=3000, flip=0.05, seed=2, weights=[0.8])
    model = LogisticRegression(max_iter=500).fit(*data["train"])
    return data, frames(data), classifier_predictions(model, data)


# --------------------------------------------------------------------------- verdicts
def test_decision_cost_contract_cheap_model_passes_and_random_scores_fail(binary):
    data, f, preds = binary
    clean, defective = check_contract(
        DecisionCost,
        clean=_inputs(f, preds, threshold=0.2),
        defective=_inputs(f, _random_scores(data)),
    )
    good, bad = clean.checks[0], defective.checks[0]
    # the logistic regression at 0.2 saves 42 % over flagging every row (0.463 vs 0.796)
    assert good.metrics["cost_model"] == pytest.approx(347 / 750, abs=1e-6)
    assert good.metrics["cost_best_trivial"] == pytest.approx(0.796, abs=1e-6)
    assert good.metrics["cost_always_negative"] == pytest.approx(1.02, abs=1e-6)
    assert good.metrics["saving_vs_trivial_lower_bound"] > 0
    assert "significantly" in good.message and good.remedy == ""
    # random scores at 0.5 cost more than flagging every row, and clearly so
    assert "trivial-policies" in bad.subjects
    assert bad.metrics["cost_model"] > 1.15 * bad.metrics["cost_best_trivial"]
    assert bad.metrics["saving_vs_trivial_upper_bound"] < bad.thresholds["min_saving_per_row"]
    assert "always '1' (positive" in bad.message


def test_decision_cost_fails_a_threshold_that_always_predicts_negative_with_fn_cost_5(binary):
    _data, f, preds = binary
    result = _run(f, preds, threshold=0.999)
    assert result.status == "fail"
    assert result.metrics["model_recall"] == 0  # no positive is ever flagged
    assert result.metrics["cost_model"] == result.metrics["cost_always_negative"] == 1.02
    assert "trivial-policies" in result.subjects
    assert "operating-threshold" in result.subjects  # 0.999 is far from the optimum too
    assert "Set [task] threshold = 0.1613" in result.remedy


def test_decision_cost_operating_threshold_far_from_validation_optimum_fails(binary):
    _data, f, preds = binary
    far = _run(f, preds, threshold=0.5)
    assert far.status == "fail"
    assert far.subjects == ("operating-threshold",)
    # near the break-even threshold 1/6 of calibrated probabilities
    assert far.metrics["validation_optimal_threshold"] == pytest.approx(0.1613, abs=1e-3)
    assert far.metrics["relative_regret"] == pytest.approx(0.30, abs=0.01)
    assert far.metrics["regret_lower_bound"] > 0
    assert "beyond the 10% allowed and significantly" in far.message
    assert "Set [task] threshold = 0.1613" in far.remedy


def test_decision_cost_operating_threshold_close_to_validation_optimum_passes(binary):
    _data, f, preds = binary
    close = _run(f, preds, threshold=0.3)
    assert close.status == "pass", close.message
    assert abs(close.metrics["relative_regret"]) < 0.10
    assert "within the 10% allowed" in close.message


def test_decision_cost_max_regret_decides_a_significant_regret(binary):
    _data, f, preds = binary
    assert _run(f, preds, threshold=0.5, max_regret=0.35).status == "pass"
    assert _run(f, preds, threshold=0.5, max_regret=0.25).status == "fail"


def test_decision_cost_threshold_is_searched_on_validation_never_on_test(binary):
    data, f, preds = binary
    result = _run(f, preds, threshold=0.5)
    _x_val, y_val = data["validation"]
    proba_val = preds["validation"]["proba_1"].to_numpy()
    expected, _ = optimal_threshold(proba_val, y_val, cost_matrix(FN5, "binary", ["0", "1"], 1), 1)
    assert result.metrics["validation_optimal_threshold"] == pytest.approx(expected, abs=1e-6)
    # scrambling the test labels changes the costs on test, not the threshold chosen
    shuffled = dict(f)
    rng = np.random.default_rng(3)
    shuffled["test"] = f["test"].with_columns(
        pl.Series("label", rng.permutation(f["test"]["label"].to_numpy()))
    )
    again = _run(shuffled, preds, threshold=0.5)
    assert again.metrics["validation_optimal_threshold"] == pytest.approx(expected, abs=1e-6)
    assert again.metrics["cost_model"] != result.metrics["cost_model"]


def test_decision_cost_without_validation_says_so_and_judges_the_trivial_rule_alone(binary):
    _data, f, preds = binary
    no_val = {s: v for s, v in f.items() if s != "validation"}
    result = _run(no_val, {s: p for s, p in preds.items() if s != "validation"}, threshold=0.5)
    assert "no validation split was given" in result.message
    assert "validation_optimal_threshold" not in result.metrics
    assert "relative_regret" not in result.metrics
    # one test instead of two: the whole share (0.02, the check runs alone) goes to it
    assert result.thresholds["alpha_per_test"] == pytest.approx(0.02)
    # 0.5 fails against the validation optimum above; without one only the trivial rule runs
    assert result.status == "pass", result.message


def test_decision_cost_tiny_test_warns_underpowered_and_does_not_fail(binary):
    data, _f, _preds = binary
    model = LogisticRegression(max_iter=500).fit(*data["train"])
    tiny = dict(data)
    x, y = data["test"]
    tiny["test"] = (x[:30], y[:30])
    result = _run(frames(tiny), classifier_predictions(model, tiny), threshold=0.2)
    assert result.status == "warn", result.message
    assert "trivial-policies" in result.subjects
    assert "underpowered: with 30 test rows only a saving of" in result.message
    assert result.metrics["saving_vs_trivial"] > 0  # cheaper on these rows, not provably
    # the same model on the 750 test rows passes (the contract test)


def test_decision_cost_binary_labels_without_probabilities_are_judged_as_emitted(binary):
    _data, f, preds = binary
    labels_only = {s: p.select("prediction") for s, p in preds.items()}
    result = _run(f, labels_only, threshold=0.2)  # no probabilities: the threshold cannot apply
    emitted = preds["test"]["prediction"].to_numpy()
    y = f["test"]["label"].to_numpy()
    by_hand = np.where((emitted == 1) & (y == 0), 1.0, 0.0) + np.where(
        (emitted == 0) & (y == 1), 5.0, 0.0
    )
    assert result.metrics["cost_model"] == pytest.approx(by_hand.mean())
    assert result.thresholds["operating_threshold"] is None
    assert "have no probabilities" in result.message
    assert [c.kind for c in result.charts] == ["bars"]


# --------------------------------------------------------------------------- skips and errors
def test_decision_cost_skips_without_declared_costs(binary):
    _data, f, preds = binary
    result = _run(f, preds, costs=None)
    assert result.status == "skip"
    assert "no costs declared" in result.message and "[task] costs" in result.message


def test_decision_cost_skips_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    df = pl.DataFrame({"x": x, "label": x * 2.0 + rng.normal(size=200)})
    preds = {"test": pl.DataFrame({"prediction": df["x"].to_numpy() * 2.0})}
    result = _run({"train": df, "test": df}, preds, task="regression")
    assert result.status == "skip"
    assert "regression" in result.message


def _ctx(f, preds, costs, threshold=None):
    """A Context as the runner builds it, for calling the check directly."""
    raw = _config(costs, threshold)
    raw["task"]["target"] = "label"
    return build_context(parse_config(raw), f, preds)


@pytest.mark.parametrize(
    ("costs", "named"),
    [
        ({"0": {"1": 1.0}, "yes": {"0": 5.0}}, "task.costs.yes"),
        ({"0": {"1": 1.0}, "1": {"maybe": 5.0}}, "task.costs.1.maybe"),
    ],
)
def test_decision_cost_unknown_label_in_matrix_is_a_config_error_naming_it(binary, costs, named):
    _data, f, preds = binary
    ctx = _ctx(f, preds, costs)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")) as info:
        DecisionCost().run(ctx, DecisionCost.Params())
    assert "classes: '0', '1'" in str(info.value)
    # through the gate the same message is an error result, never a pass
    result = _run(f, preds, costs=costs)
    assert result.status == "error" and named in result.message


def test_decision_cost_multiclass_needs_a_matrix_not_false_positive_costs():
    data = classification_splits(n=600, n_classes=3, seed=2)
    model = LogisticRegression(max_iter=500).fit(*data["train"])
    ctx = _ctx(frames(data), classifier_predictions(model, data), FN5)
    with pytest.raises(ConfigError, match="multiclass task needs a cost matrix"):
        DecisionCost().run(ctx, DecisionCost.Params())


# --------------------------------------------------------------------------- multiclass
@pytest.fixture(scope="module")
def multiclass():
    """Three classes with unicode labels, 750 test rows, a logistic regression."""
    data = classification_splits(n=3000, n_classes=3, flip=0.05, seed=5)
    labels = ["chat 🐱", "chien", "oiseau"]
    model = LogisticRegression(max_iter=500).fit(*data["train"])
    return data, labels, frames(data, labels=labels), classifier_predictions(model, data, labels)


def test_decision_cost_multiclass_applies_the_matrix_to_the_emitted_labels(multiclass):
    data, labels, f, preds = multiclass
    heavy = {"oiseau": {"chat 🐱": 10, "chien": 10}}  # a missed bird costs ten
    result = _run(f, preds, costs=heavy)
    # the cost by hand: missing cells cost 0 on the diagonal and 1 elsewhere
    matrix = np.ones((3, 3)) - np.eye(3)
    matrix[2, :2] = 10
    y = data["test"][1]
    emitted = np.array([labels.index(v) for v in preds["test"]["prediction"].to_list()])
    assert result.metrics["cost_model"] == pytest.approx(matrix[y, emitted].mean(), abs=1e-6)
    # argmax ignores the costs; the cost-minimising decisions flag birds far more readily
    assert result.metrics["cost_cost_minimising"] < 0.7 * result.metrics["cost_argmax"]
    assert result.status == "fail"
    assert "decision-rule" in result.subjects
    assert "Decide by the lowest expected cost" in result.remedy
    where = result.evidence[2]
    assert where.rows[0][:2] == ("oiseau", "chien")  # the dearest mistake comes first
    assert result.evidence[0].rows[0][0] == "model (the labels it emits)"


def test_decision_cost_multiclass_uniform_costs_pass_with_no_regret(multiclass):
    _data, _labels, f, preds = multiclass
    result = _run(f, preds, costs={"chat 🐱": {"chien": 1}})  # every mistake costs 1
    assert result.status == "pass", result.message
    assert result.metrics["regret"] == 0  # argmax is the cost-minimising rule here
    assert result.metrics["cost_model"] == pytest.approx(
        1 - (preds["test"]["prediction"].to_numpy() == f["test"]["label"].to_numpy()).mean()
    )


def test_decision_cost_unicode_binary_labels_give_the_same_costs(binary):
    data, f, preds = binary
    names = ["non ✗", "oui ✓"]  # sorted: "oui ✓" is the last class, so the positive one
    f_u = frames(data, labels=names)
    preds_u = {
        s: p.rename({"proba_0": "proba_non ✗", "proba_1": "proba_oui ✓"}).with_columns(
            pl.Series("prediction", [names[int(v)] for v in p["prediction"].to_list()])
        )
        for s, p in preds.items()
    }
    matrix = {"non ✗": {"oui ✓": 1}, "oui ✓": {"non ✗": 5}}
    plain, unicode = _run(f, preds, threshold=0.2), _run(f_u, preds_u, matrix, threshold=0.2)
    assert unicode.status == plain.status == "pass"
    for key in ("cost_model", "cost_validation_optimal", "model_f1", "cost_always_negative"):
        assert unicode.metrics[key] == pytest.approx(plain.metrics[key])
    policies = [row[0] for row in unicode.evidence[0].rows]
    assert any(p.startswith("always 'oui ✓' (positive") for p in policies), policies
    assert any(p.startswith("always 'non ✗' (negative") for p in policies), policies


# --------------------------------------------------------------------------- report
def test_decision_cost_chart_marks_operating_and_validation_optimal_thresholds(binary):
    _data, f, preds = binary
    result = _run(f, preds, threshold=0.5)
    curve = result.charts[0]
    assert curve.kind == "lines"
    assert curve.data["marker"] == 0.5
    assert "operating threshold 0.5" in curve.data["marker_label"]
    x = curve.data["x"]
    optimum = curve.data["series"]["validation-optimal threshold (on test)"]
    marked = [i for i, v in enumerate(optimum) if v is not None]
    assert len(marked) == 1
    assert x[marked[0]] == pytest.approx(result.metrics["validation_optimal_threshold"], abs=1e-6)
    assert optimum[marked[0]] == pytest.approx(result.metrics["cost_validation_optimal"])
    at_op = curve.data["series"]["test"][x.index(0.5)]
    assert at_op == pytest.approx(result.metrics["cost_model"])
    from qa.reports.svg import chart_svg

    svg = chart_svg(curve)
    assert "operating threshold 0.5" in svg and "<circle" in svg


def test_decision_cost_reference_baselines_at_their_own_validation_thresholds(binary):
    _data, f, preds = binary
    result = _run(f, preds, threshold=0.3, baselines=True)
    for name in ("majority", "linear", "xgboost"):
        assert result.metrics[f"cost_baseline_{name}"] is not None
        assert 0 < result.metrics[f"threshold_baseline_{name}"] < 1
    rows = [r[0] for r in result.evidence[0].rows]
    assert "xgboost baseline at threshold" in rows
    # the linear baseline is the same model family as the model under test
    assert result.metrics["cost_baseline_linear"] == pytest.approx(
        result.metrics["cost_validation_optimal"], abs=0.03
    )


# --------------------------------------------------------------------------- measure and decide
def test_cost_curve_matches_a_row_by_row_count():
    rng = np.random.default_rng(0)
    score = np.round(rng.random(400), 2)  # ties on purpose
    y = rng.integers(0, 2, 400)
    matrix = np.array([[0.5, 2.0], [7.0, 0.0]])
    thresholds = np.array([0.0, 0.13, 0.5, 0.505, 1.0])
    got = cost_curve(score, y, matrix, 1, thresholds)
    for t, value in zip(thresholds, got, strict=True):
        d = (score >= t).astype(int)
        assert value == pytest.approx(matrix[y, d].mean())
    t_best, c_best = optimal_threshold(score, y, matrix, 1)
    grid = np.linspace(0.001, 0.999, 999)
    assert c_best == pytest.approx(cost_curve(score, y, matrix, 1, grid).min())
    assert c_best == pytest.approx(matrix[y, (score >= t_best).astype(int)].mean())


def test_cost_matrix_fills_missing_cells_and_reads_binary_costs():
    m = cost_matrix({"b": {"a": 3.0}}, "multiclass", ["a", "b", "c"], None)
    assert m.tolist() == [[0, 1, 1], [3, 0, 1], [1, 1, 0]]
    binary = cost_matrix({"false_negative": 5.0}, "binary", ["no", "yes"], 1)
    assert binary.tolist() == [[0, 1], [5, 0]]  # a missing false_positive costs 1
    flipped = cost_matrix({"false_positive": 2.0}, "binary", ["pos", "neg"], 0)
    assert flipped.tolist() == [[0, 1], [2, 0]]  # rows are true labels, positive first


def test_judge_trivial_and_regret_at_their_edges():
    # difference = model − trivial; bounds one-sided at the share
    assert judge_trivial(-0.1, -0.2, -0.001, margin=0.05) == "pass"
    assert judge_trivial(-0.1, -0.2, 0.0, margin=0.05) == "warn"  # not significant, can't tell
    assert judge_trivial(0.0, -0.049, 0.05, margin=0.05) == "fail"  # optimistic saving < margin
    assert judge_trivial(0.0, -0.05, 0.05, margin=0.05) == "warn"  # exactly at the margin
    assert judge_trivial(-0.1, None, None, margin=0.05) == "pass"  # points only
    # difference = operating − alternative
    assert judge_regret(0.2, 0.01, 0.11, max_regret=0.10) == "fail"
    assert judge_regret(0.2, 0.0, 0.11, max_regret=0.10) == "warn"
    assert judge_regret(0.2, 0.01, 0.10, max_regret=0.10) == "pass"
    assert judge_regret(0.2, 0.01, None, max_regret=0.10) == "pass"
    assert decide(["pass", "warn"]) == "warn" and decide(["warn", "fail"]) == "fail"
    assert decide(["pass"]) == "pass"
