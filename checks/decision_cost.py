"""Is the model worth what its mistakes cost? Expected cost per row at the operating threshold."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import more_rows_needed, per_test, underpowered_note
from qa.context import Context
from qa.errors import ConfigError, ModelError
from qa.metrics import Bootstrap, Metric, Scorer, fmt_level, run_bootstrap

SPLIT = "test"
VALIDATION = "validation"
#: The expected cost per row, as the bootstrap sees it (a mean of per-row costs).
COST = Metric("expected_cost", "expected cost per row", False, ("binary", "multiclass"))
#: Thresholds the cost curve is drawn at (plus the operating and validation-optimal ones).
CURVE_GRID = np.round(np.linspace(0.01, 0.99, 99), 2)
#: Keys of the policies the fail rules compare.
MODEL = "model"
VALIDATION_OPTIMAL = "validation-optimal"
COST_MINIMISING = "cost-minimising"
ARGMAX = "argmax"

PolicyKind = Literal["model", "alternative", "trivial", "baseline"]
Verdict = Literal["pass", "warn", "fail", "n/a"]


# --------------------------------------------------------------------------- costs
def cost_matrix(
    costs: Mapping[str, Any], task: str, class_names: Sequence[str], positive_index: int | None
) -> np.ndarray:
    """``[task] costs`` as a (k, k) matrix ``C[true, predicted]`` in the Context's class order.

    Binary ``{false_positive, false_negative}`` (a missing one costs 1); a matrix
    ``{true_label: {predicted_label: cost}}`` for any classification task (missing cells cost 0
    on the diagonal, 1 elsewhere). A label that is not a class raises ConfigError naming
    ``task.costs.<label>`` (or ``task.costs.<true>.<predicted>``).
    """
    k = len(class_names)
    matrix = 1.0 - np.eye(k)
    flat = {key: v for key, v in costs.items() if not isinstance(v, Mapping)}
    if flat:
        if task != "binary" or positive_index is None:
            raise ConfigError(
                "task.costs: a multiclass task needs a cost matrix "
                "{true_label = {predicted_label = cost}}, not false_positive/false_negative "
                f"(classes: {_listed(class_names)})"
            )
        negative = 1 - positive_index
        matrix[negative, positive_index] = float(flat.get("false_positive", 1.0))
        matrix[positive_index, negative] = float(flat.get("false_negative", 1.0))
        return matrix
    index = {name: i for i, name in enumerate(class_names)}
    for true_label, row in costs.items():
        if true_label not in index:
            raise ConfigError(
                f"task.costs.{true_label}: not a class label (classes: {_listed(class_names)})"
            )
        for predicted, cost in row.items():
            if predicted not in index:
                raise ConfigError(
                    f"task.costs.{true_label}.{predicted}: {predicted!r} is not a class label "
                    f"(classes: {_listed(class_names)})"
                )
            matrix[index[true_label], index[predicted]] = float(cost)
    return matrix


def _listed(names: Sequence[str], most: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def threshold_decisions(score: np.ndarray, threshold: float, positive_index: int) -> np.ndarray:
    """Binary decisions: the positive class where its probability is at or above ``threshold``."""
    return np.where(score >= threshold, positive_index, 1 - positive_index).astype(np.int64)


def cost_minimising(proba: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """For each row the decision with the lowest expected cost under the model's probabilities:
    ``argmin_j sum_i p_i C[i, j]`` (the Bayes decision; right when the probabilities are)."""
    return np.asarray(np.argmin(proba @ matrix, axis=1), dtype=np.int64)


def bayes_threshold(matrix: np.ndarray, positive_index: int) -> float | None:
    """The threshold at which a calibrated binary model's expected costs break even:
    ``a / (a + b)`` with ``a`` the extra cost of a false positive, ``b`` of a false negative.
    None when the costs do not make "positive above a threshold" the cost-minimising rule."""
    neg, pos = 1 - positive_index, positive_index
    a = matrix[neg, pos] - matrix[neg, neg]
    b = matrix[pos, neg] - matrix[pos, pos]
    if a < 0 or b < 0 or a + b <= 0:
        return None
    return float(a / (a + b))


def cost_curve(
    score: np.ndarray,
    y: np.ndarray,
    matrix: np.ndarray,
    positive_index: int,
    thresholds: np.ndarray,
) -> np.ndarray:
    """Mean cost per row at each threshold (positive where ``score >= threshold``), from one
    sort of the scores: O(n log n + t log n)."""
    n = len(score)
    if n == 0:
        return np.full(len(thresholds), np.nan)
    if_pos = matrix[y, positive_index]
    if_neg = matrix[y, 1 - positive_index]
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    delta = (if_pos - if_neg)[order]
    suffix = np.concatenate([np.cumsum(delta[::-1])[::-1], [0.0]])  # suffix[i] = sum delta[i:]
    first = np.searchsorted(ordered, thresholds, side="left")  # first row with score >= t
    return np.asarray((if_neg.sum() + suffix[first]) / n, dtype=float)


def optimal_threshold(
    score: np.ndarray, y: np.ndarray, matrix: np.ndarray, positive_index: int
) -> tuple[float, float]:
    """The threshold in (0, 1) with the lowest mean cost on these rows, and that cost.

    Candidates sit midway between consecutive distinct scores (every distinct decision set is
    tried once); among equally cheap candidates the middle one is taken.
    """
    distinct = np.unique(np.clip(score, 0.0, 1.0))
    edges = np.concatenate([[0.0], distinct, [1.0]])
    candidates = np.unique((edges[:-1] + edges[1:]) / 2)
    candidates = candidates[(candidates > 0) & (candidates < 1)]
    if len(candidates) == 0:  # pragma: no cover - edges 0 and 1 always leave 0.5
        candidates = np.array([0.5])
    costs = cost_curve(score, y, matrix, positive_index, candidates)
    best = np.flatnonzero(costs <= costs.min() + 1e-12)
    i = int(best[len(best) // 2])
    return float(candidates[i]), float(costs[i])


# --------------------------------------------------------------------------- measure
@dataclass(frozen=True, eq=False)
class Policy:
    """One way of deciding on the test rows, and what each test row costs under it."""

    key: str
    label: str
    kind: PolicyKind
    costs: np.ndarray
    threshold: float | None = None
    note: str = ""


@dataclass(frozen=True, eq=False)
class Measurement:
    """Everything the verdict and the report need, measured on test (thresholds on validation)."""

    matrix: np.ndarray
    y: np.ndarray
    #: The judged decisions: the operating threshold (binary with probabilities), else the
    #: labels the model emits.
    decisions: np.ndarray
    policies: dict[str, Policy]
    #: The operating threshold (binary with probabilities), else None.
    operating: float | None
    #: The alternative the regret rule compares with (validation-optimal threshold or the
    #: cost-minimising decisions), None where it cannot be judged; ``regret_note`` says why.
    alternative: str | None
    regret_note: str = ""
    bayes: float | None = None
    validation_rows: int = 0
    validation_cost: float | None = None
    curve: dict[str, Any] | None = None
    counts: dict[str, float] = field(default_factory=dict)
    #: Index of the positive class (binary).
    positive: int = 1

    @property
    def trivial(self) -> list[Policy]:
        return [p for p in self.policies.values() if p.kind == "trivial"]

    def best_trivial(self) -> Policy:
        return min(self.trivial, key=lambda p: (float(p.costs.mean()), p.key))


def measure(
    ctx: Context, matrix: np.ndarray, operating: float, with_baselines: bool
) -> Measurement:
    """Per-row test costs of the model, its alternatives, the trivial policies and baselines."""
    y = ctx.labels(SPLIT)
    preds = ctx.predictions(SPLIT)
    binary = ctx.task == "binary"
    pos = ctx.positive_index if binary else 1
    names = ctx.class_names
    policies: dict[str, Policy] = {}

    def add(p: Policy) -> None:
        policies[p.key] = p

    proba = preds.proba
    curve: dict[str, Any] | None = None
    alternative: str | None = None
    regret_note = ""
    bayes = bayes_threshold(matrix, pos) if binary else None
    val_rows, val_cost = 0, None
    if binary and proba is not None:
        score = proba[:, pos]
        decisions = threshold_decisions(score, operating, pos)
        add(
            Policy(
                MODEL, "model at the operating threshold", "model", matrix[y, decisions], operating
            )
        )
        found = _validation_optimum(ctx, matrix, pos)
        if isinstance(found, str):
            regret_note = found
            t_val = None
        else:
            t_val, val_cost, val_rows = found
            alternative = VALIDATION_OPTIMAL
            chosen = threshold_decisions(score, t_val, pos)
            add(
                Policy(
                    VALIDATION_OPTIMAL,
                    "model at the validation-optimal threshold",
                    "alternative",
                    matrix[y, chosen],
                    t_val,
                    f"found on {val_rows:,} validation rows, never on test",
                )
            )
        if bayes is not None:
            add(
                Policy(
                    COST_MINIMISING,
                    "model at the break-even threshold",
                    "alternative",
                    matrix[y, threshold_decisions(score, bayes, pos)],
                    bayes,
                    "cost-minimising if the probabilities are calibrated; shown, not judged",
                )
            )
        curve = _curve(ctx, score, y, matrix, pos, operating, t_val)
    else:
        if preds.labels is None:  # pragma: no cover - classification predictions carry labels
            raise ModelError("model.predictions.test: no predicted labels")
        decisions = np.asarray(preds.labels, dtype=np.int64)
        add(Policy(MODEL, "model (the labels it emits)", "model", matrix[y, decisions]))
        if proba is None:
            regret_note = (
                "the test predictions have no probabilities (proba_<label> columns), so "
                "no cost-minimising decisions or thresholds could be compared"
            )
        else:
            alternative = COST_MINIMISING
            add(
                Policy(
                    COST_MINIMISING,
                    "model's cost-minimising decisions",
                    "alternative",
                    matrix[y, cost_minimising(proba, matrix)],
                    note="argmin over classes of the expected cost under the probabilities",
                )
            )
            add(
                Policy(
                    ARGMAX,
                    "model's most probable class (argmax)",
                    "alternative",
                    matrix[y, proba.argmax(axis=1)],
                    note="shown, not judged",
                )
            )
    majority = int(np.argmax(np.bincount(ctx.labels("train"), minlength=len(names))))
    for c, name in enumerate(names):
        notes = (["positive" if c == pos else "negative"] if binary else []) + (
            ["the train majority"] if c == majority else []
        )
        label = f"always {name!r}" + (f" ({'; '.join(notes)})" if notes else "")
        add(Policy(f"always:{c}", label, "trivial", matrix[y, np.full(len(y), c)]))
    if with_baselines:
        for p in _baseline_policies(ctx, matrix, pos, operating):
            add(p)
    return Measurement(
        matrix=matrix,
        y=y,
        decisions=decisions,
        policies=policies,
        operating=operating if binary and proba is not None else None,
        alternative=alternative,
        regret_note=regret_note,
        bayes=bayes,
        validation_rows=val_rows,
        validation_cost=val_cost,
        curve=curve,
        counts=_counts(y, decisions, pos) if binary else {},
        positive=pos,
    )


def _validation_optimum(
    ctx: Context, matrix: np.ndarray, pos: int
) -> tuple[float, float, int] | str:
    """(threshold, its validation cost, rows) found on the model's validation predictions, or
    why the search could not run. Never looks at test."""
    if not ctx.has_split(VALIDATION):
        return "no validation split was given, so the cost-optimal threshold was not searched"
    if not ctx.has_labels(VALIDATION):
        return f"the validation split has no target column {ctx.target!r}"
    if not ctx.has_predictions(VALIDATION):
        return (
            "no validation predictions were given, so the cost-optimal threshold was not "
            "searched (it is never searched on test)"
        )
    proba = ctx.predictions(VALIDATION).proba
    y_val = ctx.labels(VALIDATION)
    if proba is None:
        return "the validation predictions have no probabilities to search a threshold on"
    if len(y_val) == 0:
        return "the validation split is empty"
    t, cost = optimal_threshold(proba[:, pos], y_val, matrix, pos)
    return t, cost, len(y_val)


def _baseline_policies(
    ctx: Context, matrix: np.ndarray, pos: int, operating: float
) -> list[Policy]:
    """The reference baselines on test, each at its own validation-optimal threshold (binary)
    or at its cost-minimising decisions (multiclass)."""
    y = ctx.labels(SPLIT)
    binary = ctx.task == "binary"
    out = []
    for name, baseline in ctx.baselines().items():
        test = baseline.predictions.get(SPLIT)
        if test is None:
            continue
        threshold: float | None = None
        if test.proba is None:
            decisions = np.asarray(test.labels, dtype=np.int64)
            note = "the labels it predicts"
        elif binary:
            val = baseline.predictions.get(VALIDATION)
            if val is not None and val.proba is not None and ctx.has_labels(VALIDATION):
                threshold, _ = optimal_threshold(
                    val.proba[:, pos], ctx.labels(VALIDATION), matrix, pos
                )
                note = "at its own validation-optimal threshold"
            else:
                threshold, note = operating, "at the operating threshold (no validation split)"
            decisions = threshold_decisions(test.proba[:, pos], threshold, pos)
        else:
            decisions = cost_minimising(test.proba, matrix)
            note = "at its own cost-minimising decisions"
        if baseline.note:
            note += f"; {baseline.note}"
        out.append(
            Policy(
                f"baseline:{name}",
                f"{name} baseline" + (" at threshold" if threshold is not None else ""),
                "baseline",
                matrix[y, decisions],
                threshold,
                note,
            )
        )
    return out


def _counts(y: np.ndarray, decisions: np.ndarray, pos: int) -> dict[str, float]:
    """F1, precision and recall of the positive class for binary decisions."""
    said, truth = decisions == pos, y == pos
    tp = float(np.sum(said & truth))
    fp = float(np.sum(said & ~truth))
    fn = float(np.sum(~said & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def _curve(
    ctx: Context,
    score: np.ndarray,
    y: np.ndarray,
    matrix: np.ndarray,
    pos: int,
    operating: float,
    t_val: float | None,
) -> dict[str, Any]:
    """Cost against threshold on test (and validation), the operating and the
    validation-optimal thresholds marked."""
    marks = [operating] + ([t_val] if t_val is not None else [])
    grid = np.unique(np.concatenate([CURVE_GRID, marks]))
    series: dict[str, list[float | None]] = {
        "test": cost_curve(score, y, matrix, pos, grid).tolist()
    }
    if t_val is not None:
        val_proba = ctx.predictions(VALIDATION).proba
        assert val_proba is not None  # the optimum was found on it
        series["validation"] = cost_curve(
            val_proba[:, pos], ctx.labels(VALIDATION), matrix, pos, grid
        ).tolist()
        at = int(np.searchsorted(grid, t_val))
        series["validation-optimal threshold (on test)"] = [
            series["test"][i] if i == at else None for i in range(len(grid))
        ]
    return {
        "x": grid.tolist(),
        "series": series,
        "x_label": f"threshold on P({ctx.class_names[pos]})",
        "y_label": "expected cost per row",
        "marker": operating,
        "marker_label": f"operating threshold {operating:g}",
        "markers": (
            [{"x": t_val, "label": f"validation-optimal {t_val:.3g}"}] if t_val is not None else []
        ),
    }


# --------------------------------------------------------------------------- bootstrap
def mean_scorer(values: np.ndarray) -> Scorer:
    """The mean of per-row values as a bootstrap scorer (weights: how often a row was drawn)."""
    values = np.asarray(values, dtype=np.float64)

    def batch(rows: np.ndarray | None) -> Any:
        v = values if rows is None else values[rows]
        return lambda w: np.einsum("m,mb->b", v, w) / w.sum(axis=0)

    point = float(values.mean()) if len(values) else None
    return Scorer(COST, point, "" if len(values) else "no rows", batch)


@dataclass(frozen=True)
class Comparison:
    """The judged decisions against another policy on the same test rows (paired bootstrap).

    ``difference`` is the model's cost minus the other's, per row: negative means the model is
    cheaper. ``lower``/``upper`` are one-sided bounds at ``1 - alpha``.
    """

    rule: Literal["trivial", "regret"]
    other: str
    other_cost: float
    model_cost: float
    difference: float
    ci: tuple[float | None, float | None]
    lower: float | None
    upper: float | None
    alpha: float
    n_rows: int
    verdict: Verdict = "n/a"

    @property
    def relative(self) -> float | None:
        """The difference as a share of the other's cost (None where that costs nothing)."""
        if self.other_cost > 0:
            return self.difference / self.other_cost
        return None if self.difference == 0 else math.copysign(math.inf, self.difference)


def bootstrap(m: Measurement, params: Any, seed: int) -> Bootstrap:
    """Every policy's mean cost on the same resamples of the test rows."""
    return run_bootstrap(
        {key: mean_scorer(p.costs) for key, p in m.policies.items()},
        len(m.y),
        n_resamples=params.n_bootstrap,
        seed=seed,
        max_rows=params.max_bootstrap_rows,
        confidence=params.confidence,
    )


def compare(
    boot: Bootstrap,
    model: str,
    others: Sequence[str],
    rule: Literal["trivial", "regret"],
    alpha: float,
) -> Comparison:
    """The model's cost minus the cheapest of ``others`` (taken within each resample, so the
    choice of the cheapest is part of the interval), with its interval and one-sided bounds."""
    points = {k: boot.point(k) for k in (model, *others)}
    cheapest = min(others, key=lambda k: (points[k] or 0.0, k))
    model_cost, other_cost = float(points[model] or 0.0), float(points[cheapest] or 0.0)
    difference = model_cost - other_cost
    replicates: dict[Hashable, np.ndarray] = {}
    if all(k in boot.replicates for k in (model, *others)):
        floor = np.min(np.vstack([boot.replicates[k] for k in others]), axis=0)
        replicates["diff"] = boot.replicates[model] - floor
    diff = Bootstrap(
        points={"diff": difference},
        reasons={},
        replicates=replicates,
        n_rows=boot.n_rows,
        sample_rows=boot.sample_rows,
        n_resamples=boot.n_resamples,
        confidence=boot.confidence,
    )
    return Comparison(
        rule=rule,
        other=cheapest,
        other_cost=other_cost,
        model_cost=model_cost,
        difference=difference,
        ci=diff.ci("diff"),
        lower=diff.bound("diff", "lower", alpha),
        upper=diff.bound("diff", "upper", alpha),
        alpha=alpha,
        n_rows=boot.n_rows,
    )


# --------------------------------------------------------------------------- decide
def judge_trivial(
    difference: float, lower: float | None, upper: float | None, margin: float
) -> Verdict:
    """The model against the best trivial policy (``difference`` = model − trivial per row).

    pass: significantly cheaper (the upper bound is below 0); fail: clearly not cheaper by the
    practical ``margin`` (even the optimistic end, ``-lower``, saves less than it); warn
    otherwise: the rows are too few to tell. Without bounds the point stands in.
    """
    upper = difference if upper is None else upper
    lower = difference if lower is None else lower
    if upper < 0:
        return "pass"
    if -lower < margin:
        return "fail"
    return "warn"


def judge_regret(
    difference: float, lower: float | None, relative: float | None, max_regret: float
) -> Verdict:
    """The judged decisions against the cost-optimal alternative (``difference`` = judged −
    alternative per row). fail: more than ``max_regret`` dearer (relative) and significantly
    so (the lower bound is above 0); warn: more than ``max_regret`` dearer but not
    significantly; pass otherwise."""
    if relative is None or relative <= max_regret:
        return "pass"
    lower = difference if lower is None else lower
    return "fail" if lower > 0 else "warn"


def decide(verdicts: Sequence[Verdict]) -> Status:
    """The worst of the rules' verdicts."""
    if "fail" in verdicts:
        return "fail"
    return "warn" if "warn" in verdicts else "pass"


# --------------------------------------------------------------------------- the check
class DecisionCost(Check):
    """The model's decisions cost less than doing nothing clever, at a well-chosen threshold.

    What it checks
    --------------
    The expected cost per test row of the model's decisions under the costs declared in
    advance in ``[task] costs``: binary ``{false_positive = 1, false_negative = 5}`` (a missing
    one costs 1), or a matrix ``{<true label> = {<predicted label> = cost}}`` for any
    classification task (cells left out cost 0 on the diagonal, 1 elsewhere). Binary decisions
    are taken at the operating threshold ``[task] threshold`` (default 0.5) on the positive
    class's probability; multiclass decisions are the labels the model emits (the
    ``prediction`` column). Beside it, each with a bootstrap interval on the same test rows:

    - the trivial policies: always each class (for binary: always negative, always positive),
      the train majority among them;
    - binary: the cost-optimal threshold found on the validation split (never on test) and its
      cost on test, the cost curve against the threshold on validation and test, the
      break-even threshold a calibrated model would use, and F1, precision and recall at the
      operating threshold;
    - multiclass: the cost of the cost-minimising decisions (the class with the lowest expected
      cost under the model's probabilities) and of the most probable class;
    - with ``baselines``, the reference baselines qa-gate fits on train (majority, linear,
      XGBoost), each at its own validation-optimal threshold (multiclass: its cost-minimising
      decisions).

    Why it matters
    --------------
    Accuracy and AUC weigh every mistake alike; the business does not. With a missed fraud
    costing five false alarms, a model tuned at 0.5 can cost more than flagging everything,
    and a good ranking at the wrong threshold throws most of its value away. Declaring the
    costs before looking at the results, and judging the model by them, answers the question
    the sign-off asks: is it worth deploying, at this threshold?

    How it decides
    --------------
    Two fail rules rest on a test and split the check's share of the gate's false-alarm budget
    (``thresholds.false_alarm_share``; the whole ``[run]`` rate when it runs alone) between
    them; both use a paired bootstrap of per-row costs on the test rows.

    Trivial policies: the model's cost minus the cheapest trivial policy's (the cheapest is
    taken within each resample, so choosing it is part of the interval). Passes when the
    one-sided upper bound of that difference at its part of the share is below 0 (the model
    is significantly cheaper). Fails when the model is clearly not cheaper by the practical
    margin: even the optimistic end of its saving (the one-sided bound on the other side) is
    below ``min_saving`` times the cheapest trivial policy's cost. Otherwise the test rows are
    too few to tell: it warns "underpowered" with the rows that would. A model whose decisions
    are a trivial policy's on every row (a threshold above every score) fails at any size: the
    difference is exactly 0 in every resample.

    Operating point: binary, the operating threshold against the validation-optimal one, both
    costed on test; multiclass, the emitted labels against the cost-minimising decisions from
    the model's own probabilities. Fails when the operating point costs more than
    ``max_regret`` (relative) above the alternative and significantly so (the one-sided lower
    bound of the difference is above 0); warns when it costs more than that but not
    significantly. Skipped, and said so, without validation predictions with probabilities
    (binary) or without test probabilities (multiclass); the trivial rule then has the whole
    share.

    Without ``[task] costs`` the check skips, as it does for regression. A label in the cost
    matrix that is not a class is a config error naming ``task.costs.<label>``.

    How to fix
    ----------
    If the operating threshold costs too much, move it to the validation-optimal threshold the
    report gives ([task] threshold, and the same threshold where the model serves). For
    multiclass, decide by the lowest expected cost (argmin over classes of the probabilities
    times the cost matrix) instead of the most probable class, after checking calibration. If
    no threshold makes the model cheaper than a trivial policy, the model does not separate
    the costly cases well enough to pay for its mistakes: improve it (features, more data on
    the expensive class, a cost-weighted loss), or check that the declared costs are the real
    ones before shipping it.
    """

    id = "decision-cost"
    title = "Decisions are worth what their mistakes cost"
    requires = ("test", "labels", "predictions")
    severity = "error"
    tasks = ("binary", "multiclass")
    fail_tests = 2

    @dataclass(frozen=True)
    class Params:
        max_regret: float = param(
            0.10,
            "How much more (relative) the operating point may cost on test than the "
            "validation-optimal threshold (multiclass: the cost-minimising decisions) before "
            "it counts against the model.",
            ge=0.0,
            le=100.0,
        )
        min_saving: float = param(
            0.05,
            "Practical saving over the cheapest trivial policy (a share of its cost): fail "
            "only when even the optimistic end of the model's saving is below it.",
            ge=0.0,
            le=1.0,
        )
        baselines: bool = param(
            True,
            "Also cost the reference baselines (majority, linear, XGBoost) at their own "
            "optimal thresholds; fits them on train unless another check already has.",
        )
        n_bootstrap: int = param(
            1000,
            "Bootstrap resamples for the intervals (below 20: point estimates only).",
            ge=0,
            le=100_000,
        )
        max_bootstrap_rows: int = param(
            20_000,
            "Larger test splits bootstrap a seeded subsample of this many rows and rescale "
            "the spread to the full size (the report says so).",
            ge=500,
        )
        confidence: float = param(
            0.95, "Confidence level of the reported intervals.", ge=0.5, lt=1.0
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        if ctx.task not in self.tasks:
            return self.skip(f"costs of decisions apply to classification; this task is {ctx.task}")
        costs = ctx.config.task.costs
        if not costs:
            return self.skip(
                "no costs declared: set [task] costs (binary: false_positive and false_negative; "
                "multiclass: a matrix {true_label = {predicted_label = cost}})"
            )
        binary = ctx.task == "binary"
        matrix = cost_matrix(
            costs, ctx.task, ctx.class_names, ctx.positive_index if binary else None
        )
        if not ctx.has_labels(SPLIT):
            return self.skip(f"the test split has no target column {ctx.target!r}")
        if not ctx.has_predictions(SPLIT):
            return self.skip("needs model predictions for the test split")
        if len(ctx.labels(SPLIT)) == 0:
            return self.skip("the test split is empty")
        operating = ctx.config.task.threshold or 0.5
        # measure
        m = measure(ctx, matrix, operating, params.baselines)
        boot = bootstrap(m, params, ctx.seed)
        n_tests = 2 if m.alternative is not None else 1
        alpha = per_test(ctx.false_alarm_share(self.id), n_tests)
        trivial = compare(boot, MODEL, [p.key for p in m.trivial], "trivial", alpha)
        regret = (
            compare(boot, MODEL, [m.alternative], "regret", alpha)
            if m.alternative is not None
            else None
        )
        # decide
        margin = params.min_saving * trivial.other_cost
        trivial = _with_verdict(
            trivial, judge_trivial(trivial.difference, trivial.lower, trivial.upper, margin)
        )
        if regret is not None:
            regret = _with_verdict(
                regret,
                judge_regret(regret.difference, regret.lower, regret.relative, params.max_regret),
            )
        status = decide([c.verdict for c in (trivial, regret) if c is not None])
        # explain
        return self._explain(ctx, params, m, boot, trivial, regret, margin, status)

    def _explain(
        self,
        ctx: Context,
        params: Params,
        m: Measurement,
        boot: Bootstrap,
        trivial: Comparison,
        regret: Comparison | None,
        margin: float,
        status: Status,
    ) -> CheckResult:
        parts = [_describe_model(m, boot, params.confidence)]
        parts.append(_trivial_sentence(m, trivial, margin, params))
        if regret is not None:
            parts.append(_regret_sentence(m, regret, params))
        elif m.regret_note:
            parts.append(m.regret_note)
        subjects = []
        if trivial.verdict in ("fail", "warn") and trivial.verdict == status:
            subjects.append("trivial-policies")
        if regret is not None and regret.verdict in ("fail", "warn") and regret.verdict == status:
            subjects.append("operating-threshold" if m.operating is not None else "decision-rule")
        charts = [_bars(m, boot)]
        if m.curve is not None:
            charts.insert(0, Chart("lines", "Expected cost per row against the threshold", m.curve))
        return self.result(
            status,
            "; ".join(parts),
            metrics=_metrics(m, boot, trivial, regret),
            thresholds={
                "max_regret": params.max_regret,
                "min_saving": params.min_saving,
                "min_saving_per_row": margin,
                "operating_threshold": m.operating,
                "confidence": params.confidence,
                "alpha_per_test": trivial.alpha,
            },
            evidence=[
                _policies_table(m, boot),
                _comparisons_table(m, trivial, regret, margin, params),
                _where_table(ctx, m),
            ],
            charts=charts,
            subjects=subjects,
            remedy=_remedy(m, trivial, regret) if status in ("fail", "warn") else "",
        )


def _with_verdict(c: Comparison, verdict: Verdict) -> Comparison:
    return replace(c, verdict=verdict)


# --------------------------------------------------------------------------- explain
def _money(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _share(value: float | None) -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return "infinitely" if value > 0 else "-infinitely"
    return f"{value:.1%}"


def _label(m: Measurement, key: str) -> str:
    p = m.policies[key]
    return p.label + (f" {p.threshold:.3g}" if p.threshold is not None else "")


def _describe_model(m: Measurement, boot: Bootstrap, confidence: float) -> str:
    where = (
        f"at the operating threshold {m.operating:g}"
        if m.operating is not None
        else "for the labels the model emits"
    )
    text = (
        f"expected cost {_money(boot.point(MODEL))} per test row {where} "
        f"({fmt_level(confidence)} CI {_ci(boot.ci(MODEL))}, {boot.n_rows:,} rows)"
    )
    if m.counts:
        text += (
            f"; F1 {m.counts['f1']:.3f}, precision {m.counts['precision']:.3f}, "
            f"recall {m.counts['recall']:.3f} there"
        )
    return text


def _ci(ci: tuple[float | None, float | None]) -> str:
    low, high = ci
    if low is None or high is None:
        return "no interval"
    return f"[{_money(low)}, {_money(high)}]"


def _bound_text(c: Comparison, side: str) -> str:
    value = c.upper if side == "upper" else c.lower
    if value is None:
        return "no interval; point estimates decide"
    return f"one-sided {fmt_level(1 - c.alpha)} {side} bound {_money(value)}"


def _saving_text(saving: float) -> str:
    """A saving per row in words: "saves 0.12 per row" or "costs 0.05 per row more"."""
    if saving == 0:
        return "costs exactly as much per row"
    if saving > 0:
        return f"saves {_money(saving)} per row"
    return f"costs {_money(-saving)} per row more"


def _trivial_sentence(m: Measurement, c: Comparison, margin: float, params: Any) -> str:
    other = f"the cheapest trivial policy, {_label(m, c.other)}, at {_money(c.other_cost)}"
    saving = -c.difference
    relative = "" if c.relative is None else f" ({_share(abs(c.relative))})"
    if c.verdict == "pass":
        return (
            f"it is cheaper by {_money(saving)} per row{relative} than {other}, "
            f"significantly ({_bound_text(c, 'upper')} of the difference)"
        )
    if c.verdict == "fail":
        return (
            f"it is not cheaper than {other} by the practical margin {_money(margin)} per row "
            f"({params.min_saving:g} of its cost): it {_saving_text(saving)}{relative}, "
            f"interval of the difference {_ci(c.ci)}, {_bound_text(c, 'lower')}"
        )
    # the smallest saving these rows can establish: the distance from the point to the bound
    detectable = None if c.upper is None else max(0.0, c.upper - c.difference)
    text = (
        f"it cannot be shown cheaper than {other} on these rows: it {_saving_text(saving)}"
        f"{relative}, interval of the difference {_ci(c.ci)}"
    )
    target = saving if saving > 0 else margin
    needed = None if detectable is None else more_rows_needed(c.n_rows, detectable, target)
    if detectable is not None and (needed is None or needed > 0):
        text += "; " + underpowered_note(
            c.n_rows, "test rows", f"a saving of {detectable:.3g} per row", needed, f"{target:.3g}"
        )
    return text


def _regret_sentence(m: Measurement, c: Comparison, params: Any) -> str:
    alt = _label(m, c.other)
    judged, verb = (
        (f"the operating threshold {m.operating:g}", "costs")
        if m.operating is not None
        else ("the emitted labels", "cost")
    )
    extra = (
        f"{_money(c.difference)} per row ({_share(c.relative)}) more than the {alt} "
        f"({_money(c.other_cost)})"
        if c.difference > 0
        else f"no more than the {alt} ({_money(c.other_cost)}; difference {_money(c.difference)})"
    )
    if c.verdict == "fail":
        return (
            f"{judged} {verb} {extra}, beyond the {params.max_regret:.0%} allowed and "
            f"significantly ({_bound_text(c, 'lower')} of the difference)"
        )
    if c.verdict == "warn":
        text = (
            f"{judged} {verb} {extra}, beyond the {params.max_regret:.0%} allowed but not "
            f"significantly (interval {_ci(c.ci)}, {_bound_text(c, 'lower')})"
        )
        detectable = None if c.lower is None else c.difference - c.lower
        needed = (
            None if detectable is None else more_rows_needed(c.n_rows, detectable, c.difference)
        )
        if detectable is not None and needed is not None and needed > 0:
            text += "; " + underpowered_note(
                c.n_rows,
                "test rows",
                f"an excess of {detectable:.3g} per row",
                needed,
                f"{c.difference:.3g}",
            )
        return text
    return f"{judged} {verb} {extra}, within the {params.max_regret:.0%} allowed"


def _remedy(m: Measurement, trivial: Comparison, regret: Comparison | None) -> str:
    parts = []
    if regret is not None and regret.verdict in ("fail", "warn"):
        alt = m.policies[regret.other]
        if m.operating is not None and alt.threshold is not None:
            parts.append(
                f"Set [task] threshold = {alt.threshold:.4g} (the cost-optimal threshold found "
                f"on validation) and serve at it: on test it costs {_money(regret.other_cost)} "
                f"per row instead of {_money(regret.model_cost)}."
            )
        else:
            parts.append(
                "Decide by the lowest expected cost instead of the most probable class "
                "(argmin over classes of the probabilities times the cost matrix): on test "
                f"that costs {_money(regret.other_cost)} per row instead of "
                f"{_money(regret.model_cost)}. It is only as good as the probabilities: "
                "check calibration first."
            )
    if trivial.verdict in ("fail", "warn"):
        verb = "cost no less than" if trivial.verdict == "fail" else "cannot be shown cheaper than"
        text = f"The model's decisions {verb} {_label(m, trivial.other)}."
        own = _cheapest(m, "alternative", trivial.other_cost)
        if own is not None:
            text += (
                f" The {_label(m, own.key)} would cost {_money(float(own.costs.mean()))} per "
                "row: try that operating point first."
            )
        text += (
            " If no operating point beats the trivial policy, improve the model on the "
            "expensive mistakes (features, more data on the costly class, a cost-weighted "
            "loss), and confirm the declared costs are the real ones."
        )
        baseline = _cheapest(m, "baseline", float(m.policies[MODEL].costs.mean()))
        if baseline is not None:
            text += (
                f" The {_label(m, baseline.key)} that qa-gate fitted would cost "
                f"{_money(float(baseline.costs.mean()))} per row: a reference model serves "
                "these costs better than yours."
            )
        parts.append(text)
    if not parts:
        parts.append("More test rows would settle the verdict; see the message.")
    return " ".join(parts)


def _cheapest(m: Measurement, kind: PolicyKind, below: float) -> Policy | None:
    """The cheapest policy of ``kind`` costing less than ``below`` per row, if any."""
    cheaper = [p for p in m.policies.values() if p.kind == kind and p.costs.mean() < below]
    return min(cheaper, key=lambda p: (float(p.costs.mean()), p.key), default=None)


def _metrics(
    m: Measurement, boot: Bootstrap, trivial: Comparison, regret: Comparison | None
) -> dict[str, float | None]:
    low, high = boot.ci(MODEL)
    out: dict[str, float | None] = {
        "cost_model": boot.point(MODEL),
        "cost_model_ci_low": low,
        "cost_model_ci_high": high,
        "cost_best_trivial": trivial.other_cost,
        "saving_vs_trivial": -trivial.difference,
        "saving_vs_trivial_ci_low": None if trivial.ci[1] is None else -trivial.ci[1],
        "saving_vs_trivial_ci_high": None if trivial.ci[0] is None else -trivial.ci[0],
        "saving_vs_trivial_lower_bound": None if trivial.upper is None else -trivial.upper,
        "saving_vs_trivial_upper_bound": None if trivial.lower is None else -trivial.lower,
        "relative_saving_vs_trivial": None if trivial.relative is None else -trivial.relative,
    }
    binary_names = {"always:0", "always:1"} & set(m.policies)
    if m.counts:
        out.update({f"model_{k}": v for k, v in m.counts.items()})
        for key in sorted(binary_names):
            kind = "positive" if key == f"always:{m.positive}" else "negative"
            out[f"cost_always_{kind}"] = boot.point(key)
    for key in (VALIDATION_OPTIMAL, COST_MINIMISING, ARGMAX):
        if key in m.policies:
            name = key.replace("-", "_")
            out[f"cost_{name}"] = boot.point(key)
            out[f"cost_{name}_ci_low"], out[f"cost_{name}_ci_high"] = boot.ci(key)
    if VALIDATION_OPTIMAL in m.policies:
        out["validation_optimal_threshold"] = m.policies[VALIDATION_OPTIMAL].threshold
        out["validation_optimal_cost_on_validation"] = m.validation_cost
        out["rows_validation"] = m.validation_rows
    if m.bayes is not None:
        out["break_even_threshold"] = m.bayes
    if regret is not None:
        out.update(
            {
                "regret": regret.difference,
                "regret_ci_low": regret.ci[0],
                "regret_ci_high": regret.ci[1],
                "regret_lower_bound": regret.lower,
                "relative_regret": regret.relative,
            }
        )
    for key, p in m.policies.items():
        if p.kind == "baseline":
            name = key.split(":", 1)[1]
            out[f"cost_baseline_{name}"] = boot.point(key)
            if p.threshold is not None:
                out[f"threshold_baseline_{name}"] = p.threshold
    out.update(
        {
            "rows_test": boot.n_rows,
            "bootstrap_resamples": boot.n_resamples,
            "bootstrap_rows": boot.sample_rows,
        }
    )
    return out


def _policies_table(m: Measurement, boot: Bootstrap) -> Evidence:
    model_cost = boot.point(MODEL) or 0.0
    rows = []
    for key, p in m.policies.items():
        cost = boot.point(key)
        low, high = boot.ci(key)
        versus = None if cost is None else cost - model_cost
        rows.append((p.label, p.threshold, cost, low, high, versus, p.note))
    return table(
        "Expected cost per test row: the model, its alternatives, trivial policies, baselines",
        ["policy", "threshold", "cost per row", "CI low", "CI high", "vs model", "note"],
        rows,
        note=(
            f"{boot.note()}; vs model = the policy's cost minus the model's (negative: "
            "cheaper than the model)"
        ),
        max_rows=200,
    )


def _comparisons_table(
    m: Measurement, trivial: Comparison, regret: Comparison | None, margin: float, params: Any
) -> Evidence:
    rows: list[tuple[Any, ...]] = [
        (
            f"model vs {_label(m, trivial.other)}",
            trivial.difference,
            *trivial.ci,
            trivial.upper,
            "passes when the upper bound < 0; fails when the optimistic saving "
            f"(-lower bound, {_money(None if trivial.lower is None else -trivial.lower)}) "
            f"< the margin {_money(margin)}",
            trivial.verdict,
        )
    ]
    if regret is not None:
        rows.append(
            (
                f"model vs {_label(m, regret.other)}",
                regret.difference,
                *regret.ci,
                regret.lower,
                f"relative {_share(regret.relative)} > {params.max_regret:g} and lower bound "
                "> 0 fails",
                regret.verdict,
            )
        )
    return table(
        "Paired differences on the test rows (model minus the other, cost per row)",
        ["comparison", "difference", "CI low", "CI high", "one-sided bound", "rule", "verdict"],
        rows,
        note=f"one-sided bounds at {fmt_level(1 - trivial.alpha)} (the check's share of the "
        "false-alarm budget split across its tests)",
    )


def _where_table(ctx: Context, m: Measurement) -> Evidence:
    """Which mistakes the model's judged decisions pay for, dearest first."""
    k = len(ctx.class_names)
    counts = np.zeros((k, k))
    np.add.at(counts, (m.y, m.decisions), 1.0)
    total = float((counts * m.matrix).sum())
    cells = [
        (ctx.class_names[i], ctx.class_names[j], int(counts[i, j]), float(m.matrix[i, j]))
        for i in range(k)
        for j in range(k)
        if counts[i, j] > 0 and m.matrix[i, j] > 0
    ]
    cells.sort(key=lambda c: (-c[2] * c[3], c[0], c[1]))
    rows = [
        (t, p, n, cost, n * cost, (n * cost / total) if total > 0 else None)
        for t, p, n, cost in cells
    ]
    return table(
        "Where the model's cost comes from (true label, decision)",
        ["true", "decided", "rows", "cost each", "total cost", "share of cost"],
        rows,
        note="cells with a cost, dearest first; the cost matrix in the order of the classes: "
        + "; ".join(
            f"{ctx.class_names[i]!r}: {[float(v) for v in m.matrix[i]]}" for i in range(min(k, 10))
        ),
        max_rows=20,
    )


def _bars(m: Measurement, boot: Bootstrap) -> Chart:
    keys = [k for k, p in m.policies.items() if p.kind != "trivial"]
    keys.append(m.best_trivial().key)
    return Chart(
        "bars",
        "Expected cost per test row",
        {
            "labels": [_label(m, k) for k in keys],
            "series": {"cost per row": [boot.point(k) for k in keys]},
            "threshold": None,
        },
    )
