"""robustness: prediction flips and metric drop under small noise, from real model artifacts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import qa
from qa.api import build_context
from qa.checks.robustness import (
    FlipRate,
    Grid,
    MetricDrop,
    Perturbed,
    Robustness,
    decide,
    draw,
    flip_rate,
    perturb_frame,
    perturb_matrix,
    plan_perturbation,
)
from qa.config import parse_config
from qa.context import Context
from qa.encoding import FeatureEncoder
from qa.metrics import METRICS
from qa.models import ModelMeta
from qa.report import schema_errors
from qa.testing import check_contract
from qa.trainers.base import get_trainer

CHECK = [Robustness]
#: Stripes of the knife-edge feature: 0.05 wide, as wide as the default noise (0.05 sd).
STRIPE = 0.05


# --------------------------------------------------------------------------- helpers
def _config(artifact: Path | None, task: str | None = None, **run: Any) -> Any:
    raw: dict[str, Any] = {"task": {"target": "label"}, "run": {"threads": 1, **run}}
    if task:
        raw["task"]["type"] = task
    if artifact is not None:
        raw["model"] = {"artifact": str(artifact)}
    return parse_config(raw)


def _context(frames: dict[str, pl.DataFrame], artifact: Path | None, task: str | None = None):
    return build_context(_config(artifact, task), frames=frames)


def _run(ctx: Context, **params: Any):
    return Robustness().run(ctx, Robustness.Params(**params))


def _split(x: np.ndarray, y: np.ndarray, names: list[str], train_share: float = 0.7, seed: int = 0):
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(train_share * len(y))

    def frame(rows: np.ndarray) -> pl.DataFrame:
        data: dict[str, Any] = {name: x[rows, i] for i, name in enumerate(names)}
        data["label"] = y[rows]
        return pl.DataFrame(data)

    return {"train": frame(order[:cut]), "test": frame(order[cut:])}


def _stripes(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian features; the label is the parity of x2's stripe of width STRIPE."""
    x = np.random.default_rng(seed).normal(size=(n, 4))
    return x, (np.floor(x[:, 2] / STRIPE) % 2).astype(np.int64)


def _save_skops(model: Any, path: Path) -> Path:
    import skops.io as sio

    sio.dump(model, str(path))
    return path


def _xgboost(frames: dict[str, pl.DataFrame], task: str, path: Path, **params: Any) -> Path:
    """An XGBoost booster fitted on the run's encoded train matrix, saved as XGBoost JSON."""
    import xgboost as xgb

    ctx = _context(frames, None, task)
    rounds = params.pop("rounds", 100)
    objective = {
        "binary": {"objective": "binary:logistic"},
        "multiclass": {"objective": "multi:softprob", "num_class": len(ctx.classes)},
        "regression": {"objective": "reg:squarederror"},
    }[task]
    booster = xgb.train(
        {**objective, "tree_method": "hist", "nthread": 1, "seed": 0, **params},
        xgb.DMatrix(ctx.feature_matrix("train"), label=ctx.labels("train")),
        num_boost_round=rounds,
    )
    booster.save_model(str(path))
    return path


@pytest.fixture(scope="module")
def knife_edge(tmp_path_factory) -> dict[str, Any]:
    """A deep decision tree on the stripes: it splits x2 every 0.05, so noise of 0.05 sd
    flips about half its predictions. Saved twice (skops): fitted on an array (the model
    reads the encoded matrix) and on a pandas frame (it reads the named columns)."""
    from sklearn.tree import DecisionTreeClassifier

    folder = tmp_path_factory.mktemp("knife_edge")
    x, y = _stripes()
    frames = _split(x, y, ["x0", "x1", "x2", "x3"])
    train = frames["train"]
    features = train.select("x0", "x1", "x2", "x3")
    on_array = DecisionTreeClassifier(random_state=0).fit(features.to_numpy(), train["label"])
    on_frame = DecisionTreeClassifier(random_state=0).fit(features.to_pandas(), train["label"])
    return {
        "frames": frames,
        "array": _save_skops(on_array, folder / "array.skops"),
        "frame": _save_skops(on_frame, folder / "frame.skops"),
    }


@pytest.fixture(scope="module")
def cancer(tmp_path_factory) -> dict[str, Any]:
    """load_breast_cancer with an XGBoost booster (XGBoost JSON): a good, stable model."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    frames = _split(data.data, data.target, names)
    path = _xgboost(frames, "binary", tmp_path_factory.mktemp("cancer") / "model.json")
    return {"frames": frames, "artifact": path}


def _inputs(frames: dict[str, pl.DataFrame], artifact: Path, **params: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"model": {"artifact": str(artifact)}, "run": {"threads": 1}}
    if params:
        config["checks"] = {"robustness": params}
    return dict(**frames, target="label", config=config)


# --------------------------------------------------------------------------- the promises
def test_robustness_contract_stable_xgboost_passes_and_knife_edge_tree_fails(cancer, knife_edge):
    _, bad = check_contract(
        Robustness,
        clean=_inputs(cancer["frames"], cancer["artifact"]),
        defective=_inputs(knife_edge["frames"], knife_edge["array"]),
    )
    result = bad.checks[0]
    assert result.subjects == ("x2",)
    assert result.thresholds["false_alarm_share"] == pytest.approx(0.02)
    assert result.thresholds["alpha_flip"] == pytest.approx(0.01)  # two fail rules share it


@pytest.mark.parametrize("reads", ["array", "frame"])
def test_robustness_fails_on_a_feature_split_finer_than_the_noise_and_names_it(knife_edge, reads):
    result = _run(_context(knife_edge["frames"], knife_edge[reads]))
    assert result.status == "fail", result.message
    assert result.subjects == ("x2",)
    assert "most sensitive: x2" in result.message
    assert result.metrics["flip_rate"] > 0.3
    assert result.metrics["flip_rate_lower_bound"] > 0.05
    # ...and the metric falls with it: the drop is significant beyond its bar
    assert result.metrics["metric_drop_lower_bound"] > result.thresholds["max_drop"]
    ranking = result.evidence[0]
    assert ranking.rows[0][0] == "x2" and ranking.rows[0][4] > 0.3
    assert all(row[4] < 0.05 for row in ranking.rows[1:])  # the others barely matter
    repetitions = result.evidence[1]
    assert [row[0] for row in repetitions.rows] == [1, 2, 3, "clean", "mean"]


def test_robustness_perturbs_raw_columns_and_the_matrix_alike(knife_edge):
    """The same tree read through the encoded matrix and through named columns sees the same
    perturbation, so every number agrees: no model can dodge the noise by its input route."""
    on_array = _run(_context(knife_edge["frames"], knife_edge["array"]))
    on_frame = _run(_context(knife_edge["frames"], knife_edge["frame"]))
    assert on_array.metrics == on_frame.metrics
    assert on_array.evidence == on_frame.evidence


def test_robustness_stays_quiet_just_under_the_bar_and_fails_just_over_it(knife_edge):
    ctx = _context(knife_edge["frames"], knife_edge["array"])
    measured = _run(ctx)
    low, high = measured.metrics["flip_rate_lower_bound"], measured.metrics["flip_rate"]
    bar_under = _run(ctx, max_flip_rate=low - 0.01, max_drop=1.0)
    bar_over = _run(ctx, max_flip_rate=high + 0.01, max_drop=1.0)
    bar_between = _run(ctx, max_flip_rate=(low + high) / 2, max_drop=1.0)
    assert bar_under.status == "fail"
    assert bar_over.status == "pass", bar_over.message
    assert bar_between.status == "warn"  # over the bar, not significantly


def test_robustness_perturbs_in_the_models_own_encoding(knife_edge, tmp_path):
    """A model with a sidecar whose encoder differs from the run's (its train had a category
    this run's train lacks) is perturbed in its own encoding, among its own categories."""
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    frames = {
        split: frame.with_columns(pl.Series("cat", rng.choice(["a", "b", "c"], frame.height)))
        for split, frame in knife_edge["frames"].items()
    }
    encoder = FeatureEncoder.fit(frames["train"], ["x0", "x1", "x2", "x3", "cat"])
    tree = DecisionTreeClassifier(random_state=0).fit(
        encoder.transform(frames["train"]), frames["train"]["label"].to_numpy()
    )
    path = _save_skops(tree, tmp_path / "tree.skops")
    ModelMeta("tree", "binary", "label", ["0", "1"], encoder).write(path)
    frames["train"] = frames["train"].filter(pl.col("cat") != "a")
    ctx = _context(frames, path)
    assert ctx.encoder != encoder
    result = _run(ctx)
    assert result.status == "fail" and result.subjects == ("x2",)
    ranked = {row[0]: row for row in result.evidence[0].rows}
    assert ranked["cat"][2] == "moved among 3 categories"


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine", "diabetes"])
def test_robustness_passes_good_xgboost_models_on_real_datasets(tmp_path, dataset):
    from sklearn import datasets

    loader = getattr(datasets, f"load_{dataset}")
    data = loader()
    task = {"breast_cancer": "binary", "wine": "multiclass", "diabetes": "regression"}[dataset]
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    frames = _split(np.asarray(data.data, dtype=float), data.target, names)
    # diabetes has 309 train rows: shallow, slow trees, as one would fit them there
    params = {"eta": 0.05, "max_depth": 3} if task == "regression" else {}
    artifact = _xgboost(frames, task, tmp_path / "model.json", **params)
    result = _run(_context(frames, artifact, task))
    assert result.status == "pass", result.message
    assert result.metrics["flip_rate"] < 0.05
    assert result.subjects == ()


def test_robustness_regression_flips_are_moves_beyond_the_tolerance(tmp_path):
    """A tree that jumps a full step between stripes fails; a linear model passes at the
    default tolerance and flips everywhere when a flip is any move at all."""
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeRegressor

    x, parity = _stripes()
    y = 3.0 * parity + 0.1 * x[:, 0]
    frames = _split(x, y, ["x0", "x1", "x2", "x3"])
    features = frames["train"].select("x0", "x1", "x2", "x3").to_numpy()
    tree = DecisionTreeRegressor(random_state=0).fit(features, frames["train"]["label"])
    jumpy = _run(_context(frames, _save_skops(tree, tmp_path / "tree.skops"), "regression"))
    assert jumpy.status == "fail", jumpy.message
    assert jumpy.subjects == ("x2",)
    assert jumpy.thresholds["regression_tolerance"] == 0.3
    assert jumpy.evidence[-1].title == "Repetitions"  # nothing left alone here

    smooth_y = x @ np.array([1.0, -2.0, 0.5, 0.0])
    frames = _split(x, smooth_y, ["x0", "x1", "x2", "x3"])
    features = frames["train"].select("x0", "x1", "x2", "x3").to_numpy()
    line = LinearRegression().fit(features, frames["train"]["label"])
    ctx = _context(frames, _save_skops(line, tmp_path / "line.skops"), "regression")
    calm = _run(ctx)
    assert calm.status == "pass", calm.message
    assert calm.metrics["flip_rate"] == 0.0
    # a near-perfect model's RMSE rises by about epsilon sd: within the error bar's floor
    assert 0.0 < calm.metrics["metric_drop"] < calm.thresholds["max_drop"] == 0.05
    assert _run(ctx, regression_tolerance=0.001).status == "fail"


def test_robustness_handles_hostile_and_degenerate_features(tmp_path):
    """Constant, NaN/inf, one-level and unseen categories, booleans, datetimes, an id and
    hostile names: the check runs, leaves alone what it must and says why."""
    rng = np.random.default_rng(3)
    n = 1200
    signal = rng.normal(size=n)
    with_gaps = rng.normal(size=n)
    with_gaps[::7] = np.nan
    with_gaps[3::11] = np.inf
    hostile_cat = rng.choice(["a", "b", "c"], n).astype(object)
    hostile_cat[900:] = rng.choice(["never-seen", "a"], n - 900)  # test rows only
    frame = pl.DataFrame(
        {
            "row_id": np.arange(n),
            "<script>alert(1)</script>": signal,
            "^x.*$": rng.normal(size=n),
            "naïve 列": hostile_cat.tolist(),
            "constant": np.full(n, 4.2),
            "gappy": with_gaps,
            "one_level": ["only"] * n,
            "flag": rng.random(n) < 0.5,
            "count": rng.poisson(3, n),
            "when": [dt.datetime(2024, 1, 1) + dt.timedelta(hours=int(h)) for h in range(n)],
            "label": (signal + 0.5 * rng.normal(size=n) > 0).astype(np.int64),
        }
    )
    frames = {"train": frame.head(900), "test": frame.tail(n - 900)}
    raw = {"task": {"target": "label", "id": "row_id"}, "run": {"threads": 1, "seed": 0}}
    ctx = build_context(parse_config(raw), frames=frames)
    artifact = get_trainer("xgboost").fit(ctx.training_data()).save(tmp_path)
    report = qa.check(
        **frames,
        target="label",
        config={**raw, "model": {"artifact": str(artifact)}},
        only=["robustness"],
        extra_checks=CHECK,
    )
    result = report.checks[0]
    assert result.status in ("pass", "warn"), result.message
    assert not schema_errors(json.loads(report.to_json()))
    left_alone = dict(result.evidence[2].rows)
    assert left_alone == {
        "constant": "constant on train (standard deviation 0)",
        "one_level": "one category on train",
        "when": "datetime feature: left alone",
    }
    ranked = {row[0]: row for row in result.evidence[0].rows}
    assert set(ranked) == {
        "<script>alert(1)</script>",
        "^x.*$",
        "naïve 列",
        "gappy",
        "flag",
        "count",
    }
    assert "in steps of train's" in ranked["count"][2]  # a small count stays on its grid
    assert "steps" not in ranked["gappy"][2]
    assert ranked["flag"][2] == "value flipped"


def test_robustness_skips_with_prediction_files_only(cancer):
    frames = cancer["frames"]
    preds = {"test": pl.DataFrame({"prediction": np.zeros(frames["test"].height, dtype=int)})}
    report = qa.check(
        **frames, target="label", predictions=preds, only=["robustness"], extra_checks=CHECK
    )
    result = report.checks[0]
    assert result.status == "skip"
    assert "needs a model artifact" in result.message


def test_robustness_compares_with_the_artifacts_own_predictions_not_a_file(cancer):
    """A prediction file for test (here: nonsense) is not the baseline a flip is counted
    against: the artifact's own clean predictions are."""
    frames = cancer["frames"]
    nonsense = pl.DataFrame({"prediction": np.zeros(frames["test"].height, dtype=int)})
    alone = _run(_context(frames, cancer["artifact"]))
    beside = build_context(
        _config(cancer["artifact"]), frames=frames, predictions={"test": nonsense}
    )
    assert _run(beside).metrics == alone.metrics


# --------------------------------------------------------------------------- the pieces
def _mixed_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "num": [0.5, np.nan, np.inf, -1.0, 2.0, 3.5] * 50,
            "int": [1, 2, 3, None, 5, 6] * 50,
            "flag": [True, False, None, True, False, True] * 50,
            "cat": ["a", "b", "c", None, "zz-unseen", "a"] * 50,
            "day": [dt.date(2024, 1, d) for d in range(1, 7)] * 50,
        }
    )


def _plan(frame: pl.DataFrame, swap_rate: float = 0.5):
    train = frame.filter(pl.col("cat").ne_missing("zz-unseen"))
    encoder = FeatureEncoder.fit(train, ["num", "int", "flag", "cat", "day"])
    labels = pl.Series("label", np.arange(train.height) % 2)
    ctx = build_context(_config(None), frames={"train": train.with_columns(labels)})
    return encoder, plan_perturbation(ctx, encoder, Robustness.Params(swap_rate=swap_rate))


def test_perturbing_raw_columns_and_the_matrix_give_the_same_matrix():
    frame = _mixed_frame()
    encoder, plan = _plan(frame)
    X = encoder.transform(frame)
    width = len(encoder.output_names)
    codes = {f.name: X[:, f.column] for f in plan.features}
    draws = draw(
        plan.features, frame.height, width, np.random.default_rng(1), lambda f: codes[f.name], 0.5
    )
    via_matrix = perturb_matrix(X, plan.features, draws)
    via_frame = encoder.transform(perturb_frame(frame, plan.features, draws))
    np.testing.assert_allclose(via_frame, via_matrix, rtol=1e-6, equal_nan=True)
    assert not np.array_equal(via_matrix, X, equal_nan=True)


def test_perturbation_keeps_missing_missing_and_moves_categories_within_train():
    frame = _mixed_frame()
    encoder, plan = _plan(frame)
    assert {f.name: f.kind for f in plan.features} == {
        "num": "numeric",
        "int": "numeric",
        "flag": "boolean",
        "cat": "categorical",
    }
    X = encoder.transform(frame)
    codes = {f.name: X[:, f.column].copy() for f in plan.features}
    draws = draw(
        plan.features, len(X), X.shape[1], np.random.default_rng(2), lambda f: codes[f.name], 0.5
    )
    Y = perturb_matrix(X, plan.features, draws)
    np.testing.assert_array_equal(np.isnan(Y), np.isnan(X))  # NaN and inf (NaN) stay missing
    day = encoder.output_names.index("day")
    np.testing.assert_array_equal(Y[:, day:], X[:, day:])  # the date and its parts, untouched
    cat = next(f for f in plan.features if f.name == "cat")
    rows, new = draws.swaps["cat"]
    assert len(rows) > 20
    assert np.all(new != X[rows, cat.column]) and np.all((new >= 0) & (new < 3))
    unseen = X[rows, cat.column] == 3
    assert unseen.any()  # the value train never had moved to a train category too
    flag = next(f for f in plan.features if f.name == "flag")
    rows, new = draws.swaps["flag"]
    np.testing.assert_array_equal(Y[rows, flag.column], 1 - X[rows, flag.column])


def test_swap_rate_is_per_row_however_many_categorical_features():
    n = 20_000
    for k in (1, 10):
        features = [Perturbed(f"c{j}", "categorical", j, levels=("a", "b", "c")) for j in range(k)]
        draws = draw(features, n, k, np.random.default_rng(0), lambda f: np.zeros(n), 0.02)
        swapped = np.unique(np.concatenate([rows for rows, _ in draws.swaps.values()]))
        assert len(swapped) / n == pytest.approx(0.02, abs=0.003)


def test_discrete_numeric_features_move_in_whole_steps_of_their_grid():
    flag = Grid.of(pl.Series([0.0, 1.0] * 100))
    assert flag is not None and flag.values == (0.0, 1.0)
    values = np.array([0.0, 1.0, 1.0, np.nan, 0.5])
    np.testing.assert_array_equal(
        flag.move(values, np.array([0.2, -0.2, -0.7, 0.1, 0.0])),
        [0.0, 1.0, 0.0, np.nan, 0.5],
    )
    counts = Grid.of(pl.Series(np.arange(1000, dtype=float)))
    assert counts == Grid()  # integers: whole steps of 1
    np.testing.assert_array_equal(
        counts.move(np.array([7.0, 7.25]), np.array([0.6, 0.1])), [8.0, 7.25]
    )
    assert Grid.of(pl.Series(np.random.default_rng(0).normal(size=1000))) is None


def test_flip_rate_effective_rows_follow_how_alike_the_repetitions_are():
    rng = np.random.default_rng(0)
    same_rows = np.tile(rng.random(5000) < 0.1, (3, 1))
    independent = rng.random((3, 5000)) < 0.1
    alike = flip_rate(same_rows, 0.01, 0.95)
    apart = flip_rate(independent, 0.01, 0.95)
    assert alike.effective_rows == pytest.approx(5000)
    assert apart.effective_rows == pytest.approx(15000, rel=0.1)
    # rows that flip together count once: a wider interval than independent repetitions
    assert alike.rate - alike.lower_bound > 1.5 * (apart.rate - apart.lower_bound) > 0
    assert alike.low < alike.rate < alike.high


def _flip(rate: float, lower: float) -> FlipRate:
    return FlipRate(rate, (0,), 1000, lower, rate, lower, 0.01, 1000.0)


def _drop(point: float | None, lower: float | None, bar: float = 0.02) -> MetricDrop:
    return MetricDrop(
        METRICS["roc_auc"], 0.9, (0.9,), point, None, None, lower, bar, 0.01, "points", ""
    )


def test_decide_fails_only_on_significant_excess_and_warns_on_a_point_over_the_bar():
    calm = _drop(0.0, -0.01)
    assert decide(_flip(0.08, 0.051), calm, 0.05) == "fail"
    assert decide(_flip(0.08, 0.049), calm, 0.05) == "warn"
    assert decide(_flip(0.049, 0.03), calm, 0.05) == "pass"
    assert decide(_flip(0.01, 0.0), _drop(0.03, 0.021), 0.05) == "fail"
    assert decide(_flip(0.01, 0.0), _drop(0.03, 0.019), 0.05) == "warn"
    assert decide(_flip(0.01, 0.0), _drop(0.019, 0.01), 0.05) == "pass"
    assert decide(_flip(0.01, 0.0), _drop(0.03, None), 0.05) == "fail"  # no interval: point
    assert decide(_flip(0.01, 0.0), _drop(None, None), 0.05) == "pass"  # undefined metric
