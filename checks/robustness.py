"""Does a tiny perturbation of the inputs change the model's answers?"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import per_test
from qa.context import Context
from qa.encoding import FeatureEncoder
from qa.metrics import (
    Bootstrap,
    EvaluationParams,
    Metric,
    Scorer,
    bootstrap_replicates,
    choose_metric,
    evaluate,
    fmt,
    fmt_level,
    one_row_step,
    practical_margin,
    scorer_for,
    settings_of,
)
from qa.models import PREDICT_BATCH, SplitInput
from qa.predictions import Predictions
from qa.stats import wilson_interval

SPLIT = "test"
#: Rows of the test split the route probe asks the model about.
PROBE_ROWS = 8
#: Features named in the subjects (and message) of a failing result, at most.
MAX_NAMED = 5


class Robustness(Check):
    """Prediction flips and metric drop under small noise, from the model artifact.

    What it checks
    --------------
    The model artifact (any supported format) predicts the test split twice: as it is, and
    with every feature slightly perturbed, ``repetitions`` times with different seeds.

    - Numeric features get Gaussian noise of ``epsilon`` times the feature's standard
      deviation on train (finite values). A discrete one moves by whole steps of its grid:
      a feature with at most 64 distinct train values among those values, an integer-valued
      one by whole integers (the value moves to the grid point nearest value + noise; a
      value train never had keeps its offset). So a 0/1 flag or a small count stays on
      values that occur; XGBoost splits *at* an observed value, and an off-grid nudge would
      flip that branch for every row holding it, a flip no real input could cause. Missing
      values stay missing (NaN and ±inf are missing to the model, as the encoder reads
      them); a constant feature (standard deviation 0) is left alone.
    - Categorical and boolean features: each row, with probability ``swap_rate``, has one of
      its categorical features (chosen at random) moved to another category of train's (a
      boolean to its other value). A value train never had moves to any train category;
      missing stays missing; a feature with a single train category is left alone. The rate
      is per row, not per cell, so the share of rows with a swapped category stays
      ``swap_rate`` however many categorical features there are.
    - Left alone: the target, the declared id / time / group columns, and datetime features
      (a shift of ``epsilon`` standard deviations of a date spanning years is weeks, which
      changes its weekday and month parts wholesale: not a small change; drift and
      split-hygiene judge the model's dependence on time).

    A prediction *flips* when its label changes (binary: the side of ``decision_threshold``
    of the positive-class probability; multiclass: the most probable class). For regression
    it flips when it moves by more than ``regression_tolerance`` standard deviations of the
    train target: 0.3 by default, six times the noise (a smooth model that follows its
    inputs moves by about ``epsilon`` standard deviations times its sensitivity), below half
    a standard deviation, where a prediction becomes a different answer. Tree ensembles
    move in steps: a regularised one stays under it (XGBoost on make_friedman1 with
    R² 0.93 moves more than 0.3 on 2 % of rows), one fitted to a few hundred rows with deep
    trees does not.

    Evidence: the features whose perturbation *alone* flips the most predictions (each
    perturbed on its own, one seeded draw, on a seeded sample of ``attribution_rows`` test
    rows, at the full ``swap_rate`` for a categorical one), the table of repetitions, and the
    features left alone with the reason.

    Why it matters
    --------------
    Measurements carry noise and categories get mistyped. A model whose answers change when
    an input moves by a twentieth of its usual spread has learned a knife-edge: its decisions
    in production will be less stable than its test score suggests, and the few features it
    is so sensitive to are where it overfits or where the data has a spurious pattern.

    How it decides
    --------------
    Two fail rules rest on a test, so the check's share of the gate's false-alarm budget
    (``thresholds.false_alarm_share``; the whole ``[run] false_alarm_rate`` when run alone)
    is split evenly between them.

    - Flip rate: the share of test predictions that flip, averaged over the repetitions.
      Fails when its one-sided lower bound at the rule's level exceeds ``max_flip_rate``.
      The bound is a Wilson bound on an effective number of rows: the rows times the
      repetitions, shrunk by the design effect of the repetitions sharing their rows (a row
      near the decision boundary flips in most of them).
    - Metric drop: the primary metric (``metric``; AUC-ROC, macro-F1 or RMSE by default) on
      the clean predictions minus its mean over the perturbed ones, with a paired bootstrap
      over rows. For scores (AUC, F1, accuracy, R²) the drop is in points; for errors (RMSE,
      MAE) it is the rise of the error in standard deviations of the train target (not
      relative to the model's own error, which would fail any near-perfect regression: a
      model that follows its inputs faithfully rises by up to ``epsilon`` standard
      deviations). Fails when the one-sided lower bound of the drop at the rule's level
      exceeds the bar: ``max_drop``, never below the metric's practical margin and one row's
      worth of it for scores, never below ``epsilon`` for errors.

    A point estimate over its bar that is not significant warns; otherwise the check passes.
    Skips when no artifact is given (prediction files cannot be perturbed), when the test
    split is empty, or when no feature can be perturbed.

    How to fix
    ----------
    Look at the features at the top of the evidence: a model that flips on a tiny change of
    one feature has split it into intervals finer than its noise. Regularise (for trees:
    fewer, shallower trees, larger leaves, a minimum child weight; for networks: weight
    decay, dropout, noise augmentation), bin or smooth that feature, or check it for a
    spurious, high-frequency pattern (an id or a timestamp in disguise). Retrain on data
    augmented with the same noise if the inputs really are that noisy.
    """

    id = "robustness"
    title = "Predictions are stable under small perturbations"
    requires = ("test", "model")
    severity = "error"
    fail_tests = 2

    @dataclass(frozen=True)
    class Params(EvaluationParams):
        epsilon: float = param(
            0.05,
            "Noise added to numeric features, in standard deviations of the feature on train.",
            gt=0.0,
            le=10.0,
        )
        swap_rate: float = param(
            0.02,
            "Share of rows with one categorical (or boolean) feature moved to another train "
            "category.",
            ge=0.0,
            le=1.0,
        )
        repetitions: int = param(3, "Seeded repetitions of the perturbation.", ge=1, le=100)
        max_flip_rate: float = param(
            0.05,
            "Largest share of test predictions that may flip under the perturbation.",
            ge=0.0,
            le=1.0,
        )
        max_drop: float = param(
            0.02,
            "Largest drop of the primary metric under the perturbation: points for scores; "
            "for RMSE/MAE the rise in train-target standard deviations (never below epsilon).",
            ge=0.0,
        )
        regression_tolerance: float = param(
            0.3,
            "Regression: a prediction flips when it moves by more than this many train-target "
            "standard deviations.",
            gt=0.0,
        )
        attribution_rows: int = param(
            2000,
            "Seeded sample of test rows on which each feature is perturbed alone to rank the "
            "features by the flips they cause (0: no ranking).",
            ge=0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        n = ctx.frame(SPLIT).height
        if n == 0:
            return self.skip("the test split has no rows")
        loaded = ctx.model_artifact()
        encoder: FeatureEncoder = loaded.meta.encoder if loaded.meta else ctx.encoder
        plan = plan_perturbation(ctx, encoder, params)
        if not plan.features:
            reasons = "; ".join(f"{name}: {why}" for name, why in plan.left_alone[:10])
            return self.skip(f"no feature can be perturbed ({reasons})")
        # measure
        model = PerturbedModel.build(ctx, loaded, encoder)
        clean = ctx.artifact_predictions(SPLIT)
        flips = _Flips.of(ctx, clean, params)
        runs = [
            model.predict_split(plan.features, params.swap_rate, (ctx.seed, r))
            for r in range(params.repetitions)
        ]
        flipped = np.stack([flips.flipped(p) for p in runs])
        alpha = per_test(ctx.false_alarm_share(self.id), self.fail_tests)
        flip = flip_rate(flipped, alpha, params.confidence)
        drop = _metric_drop(ctx, clean, runs, params, alpha)
        ranking = attribution(model, plan.features, flips, params, ctx.seed, n)
        # decide
        status = decide(flip, drop, params.max_flip_rate)
        return self._explain(status, flip, drop, ranking, plan, params, n)

    # ------------------------------------------------------------------ explain
    def _explain(
        self,
        status: Status,
        flip: FlipRate,
        drop: MetricDrop,
        ranking: Ranking,
        plan: Plan,
        params: Params,
        n: int,
    ) -> CheckResult:
        level = fmt_level(1 - flip.alpha)
        how = _perturbation_text(params, plan)
        flip_text = (
            f"{flip.rate:.2%} of {n:,} test predictions flip under {how} "
            f"(one-sided {level} lower bound {flip.lower_bound:.2%}, bar {params.max_flip_rate:.0%})"
        )
        parts = [flip_text, _drop_text(drop)]
        named = ranking.named()
        if status != "pass" and named:
            parts.append("most sensitive: " + ", ".join(ranking.describe(name) for name in named))
        metrics: dict[str, Any] = {
            "flip_rate": flip.rate,
            "flip_rate_ci_low": flip.low,
            "flip_rate_ci_high": flip.high,
            "flip_rate_lower_bound": flip.lower_bound,
            "rows_test": n,
            "repetitions": len(flip.per_repetition),
            "features_perturbed": len(plan.features),
            "features_left_alone": len(plan.left_alone),
            "attribution_rows": ranking.rows,
        }
        thresholds: dict[str, Any] = {
            "max_flip_rate": params.max_flip_rate,
            "epsilon": params.epsilon,
            "swap_rate": params.swap_rate,
            "confidence": params.confidence,
            "alpha_flip": flip.alpha,
        }
        if plan.task == "regression":
            thresholds["regression_tolerance"] = params.regression_tolerance
        metrics.update(drop.metrics())
        thresholds["max_drop"] = drop.bar
        thresholds["alpha_drop"] = drop.alpha
        evidence = [ranking.table(params), _repetitions_table(flip, drop, params)]
        if plan.left_alone:
            evidence.append(
                table(
                    "Features not perturbed",
                    ["feature", "reason"],
                    plan.left_alone,
                )
            )
        charts = [ranking.chart()] if ranking.rows else []
        subjects = (named or ["prediction flips"]) if status != "pass" else []
        return self.result(
            status,
            "; ".join(parts),
            metrics=metrics,
            thresholds=thresholds,
            evidence=evidence,
            charts=charts,
            subjects=subjects,
        )


# =========================================================================== measure
@dataclass(frozen=True)
class Perturbed:
    """One feature the check perturbs, and how."""

    name: str
    kind: str  # "numeric" | "categorical" | "boolean"
    #: Position of the feature's (first) column in the model encoder's matrix.
    column: int
    #: Numeric: the noise's standard deviation (epsilon times train's standard deviation).
    scale: float = 0.0
    #: Categorical: train's categories (a category's position is its code).
    levels: tuple[str, ...] = ()
    #: Numeric, discrete: the values it moves among ("integers", or train's few values).
    grid: Grid | None = None

    @property
    def describe(self) -> str:
        if self.kind == "numeric":
            on = f", in steps of {self.grid.describe}" if self.grid is not None else ""
            return f"noise sd {self.scale:.4g}{on}"
        if self.kind == "boolean":
            return "value flipped"
        return f"moved among {len(self.levels)} categories"


@dataclass(frozen=True)
class Plan:
    """The features to perturb and those left alone (with the reason)."""

    task: str
    features: tuple[Perturbed, ...]
    left_alone: list[tuple[str, str]]

    @property
    def categorical(self) -> tuple[Perturbed, ...]:
        return tuple(f for f in self.features if f.kind != "numeric")


def plan_perturbation(ctx: Context, encoder: FeatureEncoder, params: Any) -> Plan:
    """Which of the model's features are perturbed, and how much; see the docstring."""
    train = ctx.frame("train")
    reserved = ctx.reserved_columns
    features: list[Perturbed] = []
    left: list[tuple[str, str]] = []
    column = 0
    for spec in encoder.columns:
        name, at = spec.name, column
        column += len(spec.outputs)
        if name in reserved:
            left.append((name, "declared target / id / time / group column"))
        elif spec.kind == "datetime":
            left.append((name, "datetime feature: left alone"))
        elif spec.kind == "numeric":
            if name not in train.columns:
                left.append((name, "not in the train split: no standard deviation"))
                continue
            values = _finite(train.get_column(name))
            std = float(values.std()) if len(values) > 1 else 0.0  # type: ignore[arg-type]
            if std > 0 and math.isfinite(std):
                grid = Grid.of(values)
                features.append(Perturbed(name, "numeric", at, params.epsilon * std, grid=grid))
            else:
                left.append((name, "constant on train (standard deviation 0)"))
        elif spec.kind == "boolean":
            both = (
                name in train.columns
                and _plain(train.get_column(name)).drop_nulls().n_unique() == 2
            )
            if both and params.swap_rate > 0:
                features.append(Perturbed(name, "boolean", at))
            else:
                left.append((name, "one value on train" if not both else "swap_rate is 0"))
        elif len(spec.levels) >= 2 and params.swap_rate > 0:
            features.append(Perturbed(name, "categorical", at, levels=spec.levels))
        else:
            left.append(
                (name, "one category on train" if len(spec.levels) < 2 else "swap_rate is 0")
            )
    return Plan(ctx.task, tuple(features), left)


def _plain(series: pl.Series) -> pl.Series:
    """The series under a neutral name: some Series methods go through ``pl.col(name)``, which
    reads a column name such as ``^x.*$`` as a pattern."""
    return series.rename("value")


def _finite(series: pl.Series) -> pl.Series:
    """The finite values of a numeric column, as Float64."""
    values = _plain(series).cast(pl.Float64, strict=False)
    return values.filter(values.is_finite())


@dataclass(frozen=True)
class Grid:
    """The values a discrete numeric feature takes: train's few distinct values
    (``values``), or the integers. Noise moves such a value by whole steps of its grid, so a
    0/1 flag or a small count stays on values that occur: noise of a twentieth of a standard
    deviation leaves it as it is, as it would in the data (XGBoost's ``hist`` puts a split
    threshold *at* an observed value, so any off-grid nudge would flip that branch for every
    row holding it — a flip no real input could cause)."""

    values: tuple[float, ...] = ()

    #: Numeric features with at most this many distinct train values move among them.
    MAX_VALUES = 64

    @classmethod
    def of(cls, finite: pl.Series) -> Grid | None:
        """Train's grid for a feature (its finite values), or None when it is continuous."""
        if finite.head(10_000).n_unique() <= cls.MAX_VALUES:
            distinct = finite.unique()
            if distinct.len() <= cls.MAX_VALUES:
                return cls(tuple(float(v) for v in distinct.sort().to_list()))
        if bool((finite == finite.round(0)).all()):
            return cls()
        return None

    @property
    def describe(self) -> str:
        return f"train's {len(self.values)} values" if self.values else "whole integers"

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """The grid point nearest each value (NaN stays NaN)."""
        if not self.values:
            return np.rint(x)
        grid = np.asarray(self.values)
        middles = (grid[1:] + grid[:-1]) / 2
        out = grid[np.searchsorted(middles, x)]
        return np.where(np.isnan(x), np.nan, out)

    def move(self, x: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """``x`` moved by the grid steps ``x + noise`` crosses (float64). A value off the grid
        (one train never had) keeps its offset."""
        x = np.asarray(x, dtype=np.float64)
        return x + (self.nearest(x + noise) - self.nearest(x))


# --------------------------------------------------------------------------- the draws
@dataclass(frozen=True)
class Draws:
    """One perturbation of ``n`` rows: Gaussian noise laid out like the encoder's matrix
    (``(n, columns)``, zero outside the numeric features' columns) and, per categorical
    feature, the rows swapped and their new codes."""

    noise: np.ndarray
    swaps: dict[str, tuple[np.ndarray, np.ndarray]]


def draw(
    features: Sequence[Perturbed],
    n: int,
    width: int,
    rng: np.random.Generator,
    codes_of: Callable[[Perturbed], np.ndarray],
    swap_rate: float,
) -> Draws:
    """The random changes for ``n`` rows, the same whichever way the model reads them.

    ``width`` is the encoder's number of matrix columns; ``codes_of(feature)`` gives the
    rows' codes of a categorical feature (NaN missing, the unseen code for a value train
    never had; 0/1 for a boolean).
    """
    scales = np.zeros(width, dtype=np.float32)
    for f in features:
        if f.kind == "numeric":
            scales[f.column] = f.scale
    noise = rng.standard_normal((n, width), dtype=np.float32)
    noise *= scales
    categorical = [f for f in features if f.kind != "numeric"]
    swaps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if categorical and swap_rate > 0:
        rows = np.flatnonzero(rng.random(n) < swap_rate)
        chosen = rng.integers(0, len(categorical), size=len(rows))
        for j, feature in enumerate(categorical):
            mine = rows[chosen == j]
            codes = np.asarray(codes_of(feature)[mine], dtype=np.float64)
            keep = ~np.isnan(codes)
            mine, codes = mine[keep], codes[keep]
            swaps[feature.name] = (mine, _new_codes(feature, codes.astype(np.int64), rng))
    return Draws(noise, swaps)


def _new_codes(feature: Perturbed, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another train category for each code: uniform among the others (any, for an unseen
    value); a boolean's other value."""
    if feature.kind == "boolean":
        return 1 - codes
    k = len(feature.levels)
    unseen = codes >= k
    other = rng.integers(0, k - 1, size=len(codes))
    other += other >= codes  # skip the current category
    anywhere = rng.integers(0, k, size=len(codes))
    return np.where(unseen, anywhere, other)


def perturb_matrix(base: np.ndarray, features: Sequence[Perturbed], draws: Draws) -> np.ndarray:
    """``base`` (the clean encoded rows, left as they are) with ``draws`` applied: a new
    matrix. NaN stays NaN; columns without noise are added zero, so they stay exact."""
    X = base + draws.noise
    for feature in features:
        if feature.grid is not None:
            column = feature.column
            X[:, column] = feature.grid.move(base[:, column], draws.noise[:, column])
    for feature in features:
        if feature.name in draws.swaps:
            rows, codes = draws.swaps[feature.name]
            X[rows, feature.column] = codes
    return X


def perturb_frame(frame: pl.DataFrame, features: Sequence[Perturbed], draws: Draws) -> pl.DataFrame:
    """``frame`` with ``draws`` applied to its raw columns (numbers become Float64, categories
    String); the other columns are shared, not copied."""
    changed: list[pl.Series] = []
    for feature in features:
        if feature.name not in frame.columns:
            continue
        series = _plain(frame.get_column(feature.name))
        if feature.kind == "numeric":
            values = series.cast(pl.Float64, strict=False).to_numpy()
            noise = draws.noise[:, feature.column]
            moved = values + noise if feature.grid is None else feature.grid.move(values, noise)
            changed.append(pl.Series(feature.name, moved, dtype=pl.Float64))
            continue
        rows, codes = draws.swaps.get(feature.name, (np.empty(0, np.int64), np.empty(0, np.int64)))
        if not len(rows):
            continue
        if feature.kind == "boolean":
            changed.append(series.clone().scatter(rows, codes.astype(bool)))
        else:
            text = series.cast(pl.String).clone()
            changed.append(text.scatter(rows, [feature.levels[c] for c in codes]))
        changed[-1] = changed[-1].rename(feature.name)
    return frame.with_columns(changed) if changed else frame


# --------------------------------------------------------------------------- predicting
@dataclass
class PerturbedModel:
    """The artifact predicting perturbed copies of test rows.

    ``reads_matrix``: the model reads the encoder's matrix (XGBoost, ONNX, TorchScript,
    estimators fitted on arrays), so the perturbation is applied to the rows of that matrix;
    otherwise (pipelines fitted on named columns) to the rows' raw columns. Which one is
    found by asking the model about a few rows, so the dispatch in qa.models stays the only
    one.
    """

    ctx: Context
    loaded: Any
    encoder: FeatureEncoder
    reads_matrix: bool
    _matrix: np.ndarray | None = None

    @classmethod
    def build(cls, ctx: Context, loaded: Any, encoder: FeatureEncoder) -> PerturbedModel:
        frame = ctx.frame(SPLIT).head(PROBE_ROWS)
        asked: list[bool] = []

        def probe() -> np.ndarray:
            asked.append(True)
            return encoder.transform(frame)

        loaded.predict(SplitInput(SPLIT, frame, encoder, probe), ctx.task_spec, 1)
        return cls(ctx, loaded, encoder, bool(asked))

    @property
    def width(self) -> int:
        return len(self.encoder.output_names)

    def rows(self, rows: slice | np.ndarray) -> tuple[pl.DataFrame, np.ndarray | None]:
        """Test rows: the raw frame (a zero-copy slice for a slice) and, when the model reads
        the matrix, the clean encoded rows (the Context's cached matrix when the model uses
        the run's encoder; a view for a slice)."""
        frame = self.ctx.frame(SPLIT)
        if isinstance(rows, slice):
            part = frame.slice(rows.start, rows.stop - rows.start)
        else:
            part = frame[rows]
        if not self.reads_matrix:
            return part, None
        if self._matrix is None:  # encoded once: a model's own encoder is not cached elsewhere
            self._matrix = self.ctx.split_input(SPLIT).features(self.encoder)
        return part, self._matrix[rows]

    def predict(
        self,
        frame: pl.DataFrame,
        base: np.ndarray | None,
        features: Sequence[Perturbed],
        swap_rate: float,
        seed: Sequence[int],
    ) -> Predictions:
        """Predictions for the rows ``frame`` (clean encoded rows ``base``) with ``features``
        perturbed by one draw seeded by ``seed``."""
        rng = np.random.default_rng(list(seed))
        n = frame.height
        if base is not None:
            clean = base
            draws = draw(features, n, self.width, rng, lambda f: clean[:, f.column], swap_rate)
            X = perturb_matrix(clean, features, draws)
            inp = SplitInput(SPLIT, frame, self.encoder, lambda: X)
        else:

            def codes(f: Perturbed) -> np.ndarray:
                return self.encoder.column(f.name).encode(frame)[0]

            draws = draw(features, n, self.width, rng, codes, swap_rate)
            changed = perturb_frame(frame, features, draws)
            inp = SplitInput(SPLIT, changed, self.encoder, lambda: self.encoder.transform(changed))
        return self.loaded.predict(inp, self.ctx.task_spec, self.ctx.n_threads)

    def predict_split(
        self, features: Sequence[Perturbed], swap_rate: float, seed: Sequence[int]
    ) -> Predictions:
        """The whole test split perturbed once, in batches of ``PREDICT_BATCH`` rows (each
        batch its own seeded draw), so memory stays bounded by a batch."""
        n = self.ctx.frame(SPLIT).height
        parts = []
        for start in range(0, n, PREDICT_BATCH):
            frame, base = self.rows(slice(start, min(n, start + PREDICT_BATCH)))
            preds = self.predict(frame, base, features, swap_rate, (*seed, start // PREDICT_BATCH))
            parts.append(_slim(preds, self.ctx.task))
        return _concat(parts)


def _slim(preds: Predictions, task: str) -> Predictions:
    """Keep what flips and the metric need: probabilities only for a binary task."""
    if task == "multiclass" and preds.labels is not None:
        return Predictions(preds.split, labels=preds.labels, source=preds.source)
    return preds


def _concat(parts: list[Predictions]) -> Predictions:
    if len(parts) == 1:
        return parts[0]

    def join(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    return Predictions(
        parts[0].split, join("labels"), join("proba"), join("values"), parts[0].source
    )


# --------------------------------------------------------------------------- flips
@dataclass(frozen=True)
class _Flips:
    """What a flip is for this task, against the clean predictions."""

    task: str
    positive_index: int
    threshold: float
    #: Regression: the move beyond which a prediction flips (in the target's units).
    tolerance: float
    clean: np.ndarray = field(default_factory=lambda: np.empty(0))

    @classmethod
    def of(cls, ctx: Context, clean: Predictions, params: Any) -> _Flips:
        positive = ctx.positive_index if ctx.task == "binary" else 1
        tolerance = 0.0
        if ctx.task == "regression":
            tolerance = params.regression_tolerance * target_scale(ctx)
        rule = cls(ctx.task, positive, params.decision_threshold, tolerance)
        return replace(rule, clean=rule.outcome(clean))

    def outcome(self, preds: Predictions) -> np.ndarray:
        """Decisions (class indices; binary at the decision threshold) or predicted values."""
        if self.task == "regression":
            return np.asarray(preds.values, dtype=np.float64)
        if self.task == "binary" and preds.proba is not None:
            positive = preds.proba[:, self.positive_index] >= self.threshold
            return np.where(positive, self.positive_index, 1 - self.positive_index)
        return np.asarray(preds.labels, dtype=np.int64)

    def flipped(self, preds: Predictions, rows: np.ndarray | None = None) -> np.ndarray:
        """Which predictions flipped against the clean ones (of ``rows``, when given)."""
        clean = self.clean if rows is None else self.clean[rows]
        now = self.outcome(preds)
        if self.task == "regression":
            return np.abs(now - clean) > self.tolerance
        return now != clean


def target_scale(ctx: Context) -> float:
    """The train target's standard deviation: the unit of regression flips and error rises
    (1 when the target is constant on train)."""
    std = float(np.std(ctx.labels("train")))
    return std if std > 0 and math.isfinite(std) else 1.0


@dataclass(frozen=True)
class FlipRate:
    """The share of predictions that flip, over the repetitions, with its bounds."""

    rate: float
    per_repetition: tuple[int, ...]
    n_rows: int
    low: float
    high: float
    lower_bound: float
    alpha: float
    effective_rows: float


def flip_rate(flipped: np.ndarray, alpha: float, confidence: float) -> FlipRate:
    """Flip rate of an (repetitions, rows) boolean array, with Wilson bounds on the effective
    number of rows.

    Repetitions share their rows, so their flips are not independent: the variance of the
    mean of the rows' flip shares, against the binomial variance of ``reps * rows``
    independent trials, is the design effect; the effective size is the trials over it
    (between ``rows`` and ``reps * rows``).
    """
    reps, n = flipped.shape
    per_row = flipped.mean(axis=0)
    rate = float(per_row.mean())
    binomial = rate * (1 - rate) / (reps * n)
    clustered = float(per_row.var()) / n
    design = clustered / binomial if binomial > 0 else 1.0
    effective = reps * n / max(design, 1.0)
    low, high = wilson(rate, effective, 1 - (1 - confidence) / 2)
    lower_bound, _ = wilson(rate, effective, 1 - alpha)
    return FlipRate(
        rate,
        tuple(int(c) for c in flipped.sum(axis=1)),
        n,
        low,
        high,
        lower_bound,
        alpha,
        effective,
    )


def wilson(p: float, n: float, level: float) -> tuple[float, float]:
    """One-sided Wilson score bounds at ``level`` of a proportion ``p`` on ``n`` trials
    (the lower and the upper one): the two-sided interval at ``2 * level - 1``."""
    if n <= 0:
        return 0.0, 1.0
    low, high = wilson_interval(np.array([p * n]), np.array([n]), 2 * level - 1)
    return float(low[0]), float(high[0])


# --------------------------------------------------------------------------- metric drop
@dataclass(frozen=True)
class MetricDrop:
    """The primary metric, clean and perturbed, and its drop (positive: worse)."""

    metric: Metric
    clean: float | None
    perturbed: tuple[float | None, ...]
    point: float | None
    low: float | None
    high: float | None
    lower_bound: float | None
    bar: float
    alpha: float
    #: "points" for scores; "target standard deviations" for errors.
    units: str
    note: str
    reason: str = ""

    @property
    def mean_perturbed(self) -> float | None:
        if any(v is None for v in self.perturbed) or not self.perturbed:
            return None
        return float(np.mean([v for v in self.perturbed if v is not None]))

    def metrics(self) -> dict[str, float | None]:
        name = self.metric.name
        return {
            name: self.clean,
            f"{name}_perturbed": self.mean_perturbed,
            "metric_drop": self.point,
            "metric_drop_ci_low": self.low,
            "metric_drop_ci_high": self.high,
            "metric_drop_lower_bound": self.lower_bound,
        }


def _metric_drop(
    ctx: Context, clean: Predictions, runs: list[Predictions], params: Any, alpha: float
) -> MetricDrop:
    """The drop of the primary metric, with a paired bootstrap over the test rows.

    The clean predictions' replicates come from :func:`qa.metrics.evaluate` when they are the
    Context's own (shared with metric-threshold and the others); every call draws the same
    resamples, so the perturbed replicates are paired with them.
    """
    metric, fallback = choose_metric(ctx, params.metric, "checks.robustness.metric", [clean])
    settings = settings_of(params)
    if metric.higher_is_better:
        scale, units = 1.0, "points"
        bar = practical_margin(metric, params.max_drop, _step(ctx, metric))
    else:
        scale, units = target_scale(ctx), "train-target standard deviations"
        bar = max(params.max_drop, params.epsilon)
    notes = [fallback] if fallback else []
    scorers: dict[Any, Scorer] = {
        r: scorer_for(ctx, SPLIT, preds, metric, settings.decision_threshold)
        for r, preds in enumerate(runs)
    }
    if SPLIT in ctx.prediction_sources:  # the Context's predictions are a file's, not these
        scorers["clean"] = scorer_for(ctx, SPLIT, clean, metric, settings.decision_threshold)
        base, shared = scorers["clean"].point, None
    else:
        boot = evaluate(ctx, SPLIT, {"model": clean}, [metric], settings)
        base = boot.point(("model", metric.name))
        shared = boot.replicates.get(("model", metric.name))
    perturbed = tuple(scorers[r].point for r in range(len(runs)))
    if base is None or any(v is None for v in perturbed):
        reasons = [sc.reason for sc in scorers.values() if sc.reason]
        reason = reasons[0] if reasons else f"{metric.title} is undefined on the test split"
        return MetricDrop(
            metric, base, perturbed, None, None, None, None, bar, alpha, units, "", reason
        )
    n = len(ctx.labels(SPLIT))
    reps = bootstrap_replicates(
        scorers, n, n_resamples=settings.n_resamples, seed=ctx.seed, max_rows=settings.max_rows
    )
    clean_reps = shared if shared is not None else reps.get("clean")

    def worse(clean_value: Any, perturbed_value: Any) -> Any:
        sign = 1.0 if metric.higher_is_better else -1.0
        return sign * (np.asarray(clean_value) - np.asarray(perturbed_value)) / scale

    point = float(worse(base, np.mean(np.asarray(perturbed, dtype=np.float64))))
    replicates: dict[Any, np.ndarray] = {}
    if clean_reps is not None and all(r in reps for r in range(len(runs))):
        replicates["drop"] = worse(clean_reps, np.mean([reps[r] for r in range(len(runs))], axis=0))
    drop = Bootstrap(
        points={"drop": point},
        reasons={},
        replicates=replicates,
        n_rows=n,
        sample_rows=min(n, settings.max_rows),
        n_resamples=settings.n_resamples,
        confidence=settings.confidence,
    )
    low, high = drop.ci("drop")
    notes.append(drop.note())
    return MetricDrop(
        metric,
        base,
        perturbed,
        point,
        low,
        high,
        drop.bound("drop", "lower", alpha),
        bar,
        alpha,
        units,
        "; ".join(notes),
    )


def _step(ctx: Context, metric: Metric) -> float:
    return one_row_step(
        metric,
        ctx.labels(SPLIT),
        positive_index=ctx.positive_index if ctx.task == "binary" else 1,
        n_classes=len(ctx.classes),
    )


# --------------------------------------------------------------------------- attribution
@dataclass(frozen=True)
class Ranking:
    """Flips caused by each feature perturbed alone, on a sample of test rows."""

    rows: int
    total_rows: int
    #: (feature, kind, how it is perturbed, rows flipped), most flips first.
    entries: tuple[tuple[str, str, str, int], ...]

    def share(self, flipped: int) -> float:
        return flipped / self.rows if self.rows else 0.0

    def named(self) -> list[str]:
        """The features that flip the most: at least half the top count, at most five."""
        if not self.entries or self.entries[0][3] == 0:
            return []
        top = self.entries[0][3]
        return [e[0] for e in self.entries if e[3] > 0 and 2 * e[3] >= top][:MAX_NAMED]

    def describe(self, name: str) -> str:
        flipped = next(e[3] for e in self.entries if e[0] == name)
        return f"{name} (alone flips {self.share(flipped):.1%} of {self.rows:,} sampled rows)"

    def table(self, params: Any) -> Evidence:
        if not self.rows:
            return table(
                "Flips by feature perturbed alone",
                ["feature", "kind", "perturbation", "rows flipped", "share flipped"],
                [],
                note="not ranked (attribution_rows = 0)",
            )
        sampled = (
            f"a seeded sample of {self.rows:,} of the {self.total_rows:,} test rows"
            if self.rows < self.total_rows
            else f"all {self.rows:,} test rows"
        )
        return table(
            "Flips by feature perturbed alone",
            ["feature", "kind", "perturbation", "rows flipped", "share flipped"],
            [(name, kind, how, k, self.share(k)) for name, kind, how, k in self.entries],
            note=(
                f"each feature perturbed on its own (one seeded draw; categorical ones at "
                f"swap_rate {params.swap_rate:g} per row) on {sampled}"
            ),
        )

    def chart(self) -> Chart:
        top = self.entries[:15]
        return Chart(
            "bars",
            "Share of sampled predictions flipped by each feature alone",
            {
                "labels": [e[0] for e in top],
                "series": {"share flipped": [self.share(e[3]) for e in top]},
                "threshold": None,
            },
        )


def attribution(
    model: PerturbedModel,
    features: Sequence[Perturbed],
    flips: _Flips,
    params: Any,
    seed: int,
    n: int,
) -> Ranking:
    """Perturb each feature alone on a seeded sample of ``attribution_rows`` rows."""
    m = min(n, params.attribution_rows)
    if m == 0:
        return Ranking(0, n, ())
    if m < n:
        rows = np.sort(np.random.default_rng([seed, 1]).choice(n, size=m, replace=False))
    else:
        rows = np.arange(n)
    frame, base = model.rows(rows)
    entries = []
    for j, feature in enumerate(features):
        preds = model.predict(frame, base, [feature], params.swap_rate, (seed, 2, j))
        flipped = int(flips.flipped(preds, rows).sum())
        entries.append((feature.name, feature.kind, feature.describe, flipped))
    entries.sort(key=lambda e: (-e[3], e[0]))
    return Ranking(m, n, tuple(entries))


# =========================================================================== decide
def decide(flip: FlipRate, drop: MetricDrop, max_flip_rate: float) -> Status:
    """Fail when the flip rate's lower bound exceeds ``max_flip_rate``, or the metric drop's
    lower bound exceeds its bar (the point decides when there is no interval). Warn when a
    point estimate is over its bar without being significant. Else pass."""
    if flip.lower_bound > max_flip_rate:
        return "fail"
    drop_over = drop.point is not None and drop.point > drop.bar
    if drop_over and (drop.lower_bound is None or drop.lower_bound > drop.bar):
        return "fail"
    if flip.rate > max_flip_rate or drop_over:
        return "warn"
    return "pass"


# =========================================================================== explain
def _perturbation_text(params: Any, plan: Plan) -> str:
    parts = []
    if any(f.kind == "numeric" for f in plan.features):
        parts.append(f"noise of {params.epsilon:g} standard deviations")
    if plan.categorical and params.swap_rate > 0:
        parts.append(f"a category swapped in {params.swap_rate:.0%} of rows")
    return " and ".join(parts) + f", {params.repetitions} repetitions"


def _drop_text(drop: MetricDrop) -> str:
    metric = drop.metric
    if drop.point is None:
        return f"no metric drop: {drop.reason}"
    units = "" if drop.units == "points" else f" {drop.units}"
    level = fmt_level(1 - drop.alpha)
    bound = (
        f"one-sided {level} lower bound {drop.lower_bound:.4f}"
        if drop.lower_bound is not None
        else "no interval"
    )
    return (
        f"{metric.title} {fmt(drop.clean, metric)} -> {fmt(drop.mean_perturbed, metric)}, "
        f"a drop of {drop.point:.4f}{units} ({bound}, bar {drop.bar:g})"
    )


def _repetitions_table(flip: FlipRate, drop: MetricDrop, params: Any) -> Evidence:
    rows: list[tuple[Any, ...]] = [
        (r + 1, k, k / flip.n_rows, drop.perturbed[r]) for r, k in enumerate(flip.per_repetition)
    ]
    rows.append(("clean", 0, 0.0, drop.clean))
    rows.append(("mean", flip.rate * flip.n_rows, flip.rate, drop.mean_perturbed))
    notes = [
        f"flip rate {params.confidence:.0%} interval [{flip.low:.4f}, {flip.high:.4f}] "
        f"(Wilson, {flip.effective_rows:,.0f} effective rows of {flip.n_rows:,} x "
        f"{len(flip.per_repetition)} repetitions)"
    ]
    if drop.point is not None:
        interval = f"[{drop.low:.4f}, {drop.high:.4f}]" if drop.low is not None else "no interval"
        notes.append(
            f"drop {drop.point:.4f} {drop.units}, {params.confidence:.0%} interval {interval}"
        )
    if drop.note:
        notes.append(drop.note)
    return table(
        "Repetitions",
        ["repetition", "rows flipped", "flip rate", f"{drop.metric.name} (perturbed)"],
        rows,
        note="; ".join(notes),
    )
