"""Is any class left behind? Per-class precision, recall and F1 on the test split."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import more_rows_needed, per_test, underpowered_note
from qa.context import Context
from qa.errors import ConfigError
from qa.evaluation import confusion_counts, evaluation_inputs
from qa.metrics import fmt_level
from qa.stats import sign_test, two_proportion_test, wilson_interval

#: One class's verdict (see *How it decides*); "hard" is a "fail" the references excuse.
Verdict = Literal["absent", "ok", "fail", "uncertain", "hard"]

#: At most this many bars in the recall chart (the lowest recalls are kept).
MAX_CHART_CLASSES = 50


# --------------------------------------------------------------------------- measure
def scores_from_confusion(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support, with scikit-learn's ``zero_division=0``.

    Equal to ``precision_recall_fscore_support(y, p, labels=range(k), zero_division=0)``.
    """
    tp = np.diag(counts).astype(float)
    support = counts.sum(axis=1).astype(float)
    predicted = counts.sum(axis=0).astype(float)
    fp, fn = predicted - tp, support - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
        "predicted": predicted.astype(np.int64),
    }


@dataclass(frozen=True)
class ReferenceCounts:
    """How one reference baseline does on one class's test rows, against the model.

    ``hits`` of the class's ``n`` rows found, ``false_hits`` of the ``m`` other rows predicted
    as the class; ``gained`` rows the reference finds and the model misses, ``lost`` the other
    way round (the discordant pairs of the sign test).
    """

    name: str
    hits: int
    n: int
    false_hits: int
    m: int
    gained: int
    lost: int

    @property
    def recall(self) -> float:
        return self.hits / self.n


def reference_counts(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, ref: np.ndarray, i: int
) -> ReferenceCounts:
    """Count the reference's and the model's hits on class ``i`` (see :class:`ReferenceCounts`)."""
    own = y_true == i
    return ReferenceCounts(
        name=name,
        hits=int((ref[own] == i).sum()),
        n=int(own.sum()),
        false_hits=int((ref[~own] == i).sum()),
        m=int((~own).sum()),
        gained=int(((ref == i) & (y_pred != i) & own).sum()),
        lost=int(((ref != i) & (y_pred == i) & own).sum()),
    )


@dataclass(frozen=True)
class ReferenceFinding:
    """The best skilled reference on a class, and whether any skilled one finds clearly more."""

    name: str
    recall: float
    behind: bool


# --------------------------------------------------------------------------- decide
#: One-sided level of the reference's skill test, and of the sign test outside a gate run (in
#: a run the sign test is at the check's share of the false-alarm budget, see the docstring).
REFERENCE_ALPHA = 0.05


def is_skilled(c: ReferenceCounts) -> bool:
    """The reference finds the class's rows more often than it predicts the class for other
    rows (one-sided two-proportion test at 5 %)."""
    return (
        c.m > 0
        and c.recall > c.false_hits / c.m
        and two_proportion_test(c.hits, c.n, c.false_hits, c.m) / 2 < REFERENCE_ALPHA
    )


def leaves_behind(
    c: ReferenceCounts, model_recall: float, min_gap: float, alpha: float = REFERENCE_ALPHA
) -> bool:
    """The reference finds at least ``min_gap`` more of the class, significantly (one-sided
    sign test at ``alpha``)."""
    return c.recall - model_recall >= min_gap and sign_test(c.gained, c.lost) < alpha


def best_reference(
    counts: list[ReferenceCounts],
    model_recall: float,
    min_gap: float,
    alpha: float = REFERENCE_ALPHA,
) -> ReferenceFinding | None:
    """Among skilled references (in name order): the highest recall, and whether any of them
    leaves the model behind (sign test at ``alpha``); None when none has skill."""
    skilled = [c for c in counts if is_skilled(c)]
    if not skilled:
        return None
    best = max(skilled, key=lambda c: c.recall)
    behind = any(leaves_behind(c, model_recall, min_gap, alpha) for c in skilled)
    return ReferenceFinding(best.name, best.recall, behind)


@dataclass(frozen=True)
class Levels:
    """The one-sided levels of the two fail rules that rest on a test: the check's share of
    the false-alarm budget, halved between them, each split across its own tests."""

    share: float
    #: Level of each small class's Wilson upper bound (Bonferroni over the small classes).
    small_class: float
    #: Level of each sign test (Bonferroni over the classes judged times the references).
    reference: float


def levels(share: float, n_small: int, n_reference_tests: int) -> Levels:
    """Split ``share`` between the two testing fail rules, then across each rule's tests."""
    half = per_test(share, 2)
    return Levels(share, per_test(half, n_small), per_test(half, n_reference_tests))


def small_class_note(name: str, support: int, recall: float, upper: float, bar: float) -> str:
    """The underpowered note for a class whose shortfall its rows cannot establish."""
    detectable = max(upper - recall, 0.0)
    shortfall = bar - recall
    return underpowered_note(
        support,
        f"test rows of {name!r}",
        f"a shortfall under the bar of more than {detectable:.2f}",
        more_rows_needed(support, detectable, shortfall),
        f"its shortfall of {shortfall:.2f} under the bar",
    )


def class_verdict(support: int, recall: float, upper: float, bar: float, params: Any) -> Verdict:
    """absent / ok / fail / uncertain for one class (see *How it decides*)."""
    if support == 0:
        return "absent"
    if recall >= bar:
        return "ok"
    if params.strict or support >= params.min_support or upper < bar:
        return "fail"
    return "uncertain"


def with_reference(verdict: Verdict, finding: ReferenceFinding | None) -> Verdict:
    """A failing class that skilled references find no better is hard, not left behind."""
    if verdict == "fail" and finding is not None and not finding.behind:
        return "hard"
    return verdict


def decide(verdicts: Sequence[Verdict]) -> Status:
    """fail when a class fails; warn when one is hard, uncertain or absent; else pass."""
    if "fail" in verdicts:
        return "fail"
    if any(v in ("hard", "uncertain", "absent") for v in verdicts):
        return "warn"
    return "pass"


# --------------------------------------------------------------------------- explain
def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


@dataclass(frozen=True)
class ClassView:
    """What the explanation reads per class: scores, interval, bar and verdict, ranked."""

    names: list[str]
    scores: dict[str, np.ndarray]
    lower: np.ndarray
    upper: np.ndarray
    bars: list[float]
    verdicts: list[Verdict]
    #: Class indices, lowest recall first (classes without test rows last).
    order: list[int]
    #: The Wilson interval's level as shown, e.g. "95%".
    level: str
    #: The one-sided Wilson upper bound at the share, which decides a small class.
    decision_upper: np.ndarray | None = None

    @property
    def recall(self) -> np.ndarray:
        return self.scores["recall"]

    @property
    def support(self) -> np.ndarray:
        return self.scores["support"]

    def with_verdict(self, verdict: Verdict) -> list[int]:
        """The classes with this verdict, lowest recall first."""
        return [i for i in self.order if self.verdicts[i] == verdict]

    def describe(self, i: int) -> str:
        """One class's shortfall: recall, bar, rows and interval."""
        return (
            f"{self.names[i]!r} recall {_fmt(self.recall[i])} < {_fmt(self.bars[i])} "
            f"({int(self.support[i])} rows, {self.level} CI "
            f"{_fmt(self.lower[i])}-{_fmt(self.upper[i])})"
        )


def _macro_f1(scores: dict[str, np.ndarray]) -> float:
    """Mean F1 over the classes in the test labels or predictions (scikit-learn's macro-F1)."""
    present = (scores["support"] > 0) | (scores["predicted"] > 0)
    return float(scores["f1"][present].mean())


def _metrics(view: ClassView, counts: np.ndarray, macro_f1: float) -> dict[str, float | None]:
    """Lowest and mean recall, macro-F1, accuracy and the class count per verdict."""
    support, recall = view.support, view.recall
    evaluated = support > 0
    lowest = int(view.order[0]) if evaluated.any() else None
    return {
        "min_recall": float(recall[lowest]) if lowest is not None else None,
        "macro_f1": macro_f1,
        "macro_recall": float(recall[evaluated].mean()) if evaluated.any() else None,
        "accuracy": float(np.diag(counts).sum() / support.sum()),
        "n_classes": len(view.names),
        "n_classes_failing": len(view.with_verdict("fail")),
        "n_classes_uncertain": len(view.with_verdict("uncertain")),
        "n_classes_hard": len(view.with_verdict("hard")),
        "n_classes_absent": len(view.with_verdict("absent")),
        "test_rows": int(support.sum()),
    }


def _thresholds(params: PerClassRecall.Params, lv: Levels) -> dict[str, float]:
    """The bars held to: the default one, the support and levels, and each per-class bar."""
    thresholds: dict[str, float] = {
        "min_recall": params.min_recall,
        "min_support": params.min_support,
        "confidence": params.confidence,
        "min_reference_gap": params.min_reference_gap,
        "alpha_small_class": lv.small_class,
        "alpha_reference": lv.reference,
    }
    thresholds.update({f"min_recall[{k}]": v for k, v in params.per_class.items()})
    return thresholds


def _scores_table(view: ClassView) -> Evidence:
    """Every class's scores, interval, bar and verdict, lowest recall first."""
    rows = [
        (
            view.names[i],
            int(view.support[i]),
            float(view.scores["precision"][i]),
            float(view.recall[i]) if view.support[i] else None,
            float(view.scores["f1"][i]),
            float(view.lower[i]) if view.support[i] else None,
            float(view.upper[i]) if view.support[i] else None,
            view.bars[i],
            _VERDICT_TEXT[view.verdicts[i]],
        )
        for i in view.order
    ]
    columns = ["class", "support", "precision", "recall", "f1"]
    columns += [f"recall {view.level} low", f"recall {view.level} high", "bar", "verdict"]
    return table("Per-class scores on test, lowest recall first", columns, rows, max_rows=200)


def _reference_tables(
    view: ClassView, reference: Mapping[int, ReferenceFinding | None]
) -> list[Evidence]:
    """The best skilled reference's recall on each class under the default bar (none or one)."""
    rows = [
        (view.names[i], best.name, float(view.recall[i]), best.recall)
        for i, best in sorted(reference.items())
        if best is not None
    ]
    if not rows:
        return []
    return [
        table(
            "Classes under the default bar: the best skilled reference baseline's recall",
            ["class", "reference", "model recall", "reference recall"],
            rows,
        )
    ]


def _failing_text(view: ClassView) -> str:
    failing = view.with_verdict("fail")
    listed = "; ".join(view.describe(i) for i in failing[:5])
    return f"{len(failing)} of {len(view.names)} classes under their recall bar: {listed}"


def _hard_text(view: ClassView, reference: Mapping[int, ReferenceFinding | None]) -> str:
    hard = view.with_verdict("hard")
    return (
        f"{len(hard)} class(es) under the default bar, but the reference baselines "
        "find them no better (a hard class, not one this model leaves behind): "
        + "; ".join(
            f"{view.describe(i)}, best reference {ref.name} {_fmt(ref.recall)}"
            for i, ref in ((i, reference[i]) for i in hard[:5])
            if ref is not None  # always: "hard" needs a reference finding
        )
    )


def _warning_text(view: ClassView, reference: Mapping[int, ReferenceFinding | None]) -> str:
    """The hard, uncertain and absent classes, each group in its own clause."""
    uncertain, absent = view.with_verdict("uncertain"), view.with_verdict("absent")
    parts = []
    if view.with_verdict("hard"):
        parts.append(_hard_text(view, reference))
    if uncertain:
        text = f"{len(uncertain)} class(es) under the bar on too few rows to be sure: "
        text += "; ".join(view.describe(i) for i in uncertain[:5])
        if view.decision_upper is not None:
            i = uncertain[0]
            text += (
                " ("
                + small_class_note(
                    view.names[i],
                    int(view.support[i]),
                    float(view.recall[i]),
                    float(view.decision_upper[i]),
                    view.bars[i],
                )
                + ")"
            )
        parts.append(text)
    if absent:
        listed = ", ".join(repr(view.names[i]) for i in absent[:10])
        parts.append(f"{len(absent)} class(es) have no test rows and cannot be evaluated: {listed}")
    return "; ".join(parts)


def _passing_text(view: ClassView) -> str:
    lowest = int(view.order[0]) if (view.support > 0).any() else None
    assert lowest is not None  # pass needs every class evaluated
    return (
        f"every class reaches its recall bar; lowest {view.names[lowest]!r} "
        f"{_fmt(view.recall[lowest])} (bar {_fmt(view.bars[lowest])})"
    )


def _message(
    view: ClassView,
    reference: Mapping[int, ReferenceFinding | None],
    status: Status,
    macro_f1: float,
) -> str:
    if status == "fail":
        text = _failing_text(view)
    elif status == "warn":
        text = _warning_text(view, reference)
    else:
        text = _passing_text(view)
    return f"{text}; macro-F1 {macro_f1:.3f}"


def _subjects(view: ClassView, status: Status) -> list[str]:
    """The classes at fault: failing ones on fail; hard, uncertain, absent ones on warn."""
    if status == "fail":
        at_fault = view.with_verdict("fail")
    elif status == "warn":
        hard, uncertain = view.with_verdict("hard"), view.with_verdict("uncertain")
        at_fault = hard + uncertain + view.with_verdict("absent")
    else:
        at_fault = []
    return [view.names[i] for i in at_fault]


# --------------------------------------------------------------------------- the check
class PerClassRecall(Check):
    """Every class reaches its recall bar on the test split.

    What it checks
    --------------
    Precision, recall, F1 and support of every class on the test split (scikit-learn's
    definitions, a class with no predictions has precision 0), with a Wilson confidence
    interval for each class's recall, and the macro-F1 over the classes that occur in the test
    labels or predictions (what ``f1_score(average="macro")`` reports).

    Why it matters
    --------------
    A good overall score can hide a class the model never gets right: a rare disease, a minority
    group, the one product category that matters. Recall per class is the share of that class's
    rows the model finds; a class under the bar is left behind.

    How it decides
    --------------
    Each class is held to ``min_recall`` (default 0.5), or to its own bar from ``per_class``
    (a table class name -> bar). A class under its bar fails when the shortfall is established:
    its test support is at least ``min_support`` rows (enough for the point estimate), or the
    one-sided Wilson upper bound of its recall is under the bar as well, so even the most
    favourable reading of the few rows misses it. Otherwise the shortfall may be sampling noise
    (three rows, one found: recall 0.33 with an interval up to 0.79) and the class only warns,
    saying how many more rows would settle it ("underpowered: ..."); set ``strict`` to fail on
    the point estimate alone. A class with no test rows cannot be evaluated and warns.
    Evidence: the full per-class table sorted by recall, with the Wilson interval at
    ``confidence``.

    Two fail rules rest on a test, so the check draws on the gate's false-alarm budget: its
    share (``thresholds.false_alarm_share``; the whole ``[run] false_alarm_rate`` when run
    alone) is halved between them, and each half is split evenly (Bonferroni) across that
    rule's tests. The small-class bound is at one-sided level ``1 − half / (classes under
    min_support)`` (``thresholds.alpha_small_class``); the reference sign test below at
    ``half / (classes compared × references)`` (``thresholds.alpha_reference``). The practical
    margins are the bar itself and ``min_reference_gap``.

    The default bar is a rule of thumb, not a promise the data can keep: with a hard target
    (a 20 % minority class at a realistic Bayes error, adjacent levels of an ordinal target)
    even the best model finds fewer than half of a class at its argmax decision. So a class
    under the default bar (not one named in ``per_class``, and not ``strict``) fails only when
    this model leaves it behind: a skilled reference model fit on the same train data (the
    linear and XGBoost baselines; skilled = it finds the class's rows more often than it
    predicts the class for other rows, one-sided test at 5 %) finds at least
    ``min_reference_gap`` more of the class's test rows, significantly (paired sign test on
    the rows one finds and the other misses, one-sided, at the check's share as above). The
    skill test stays at 5 %: it only lets a reference excuse a class, so a stricter level
    would fail more classes, not fewer. When the references do no better,
    the shortfall is the data's, not the model's: the class warns and the references' recall is
    reported. With no skilled reference the bar stands as is.

    How to fix
    ----------
    Look at the classes named in the evidence: gather more training rows for them, weight them
    up (class weights or resampling), check their labels for noise, or lower the decision
    threshold for them. When a class is rare in test as well, grow the test set before trusting
    its recall.
    """

    id = "per-class-recall"
    title = "No class left behind (per-class recall)"
    requires = ("test", "labels", "predictions")
    severity = "error"
    tasks = ("binary", "multiclass")
    fail_tests = 2

    @dataclass(frozen=True)
    class Params:
        min_recall: float = param(
            0.5, "Recall every class must reach (unless in per_class).", ge=0.0, le=1.0
        )
        per_class: dict[str | int, float] = param(  # noqa: RUF009 - param() returns a field
            {}, "Per-class recall bars, class name -> bar, overriding min_recall.", ge=0.0, le=1.0
        )
        min_support: int = param(
            50, "Test rows from which a class's recall point estimate is trusted as is.", ge=1
        )
        confidence: float = param(
            0.95,
            "Level of the Wilson interval reported for each recall (a small class's "
            "fail rule uses the check's share of the false-alarm budget).",
            gt=0.5,
            lt=1.0,
        )
        strict: bool = param(False, "Fail every class under its bar, however few its rows.")
        min_reference_gap: float = param(
            0.10,
            "Under the default bar, a class fails only when a skilled reference baseline "
            "finds at least this much more of it (else the class is hard, and warns).",
            ge=0.0,
            le=1.0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        names = ctx.class_names
        bars = self._bars(names, params)
        inputs = evaluation_inputs(ctx)
        if isinstance(inputs, str):
            return self.skip(inputs)
        # measure
        counts = confusion_counts(ctx)
        scores = scores_from_confusion(counts)
        support, recall = scores["support"], scores["recall"]
        lower, upper = wilson_interval(np.diag(counts), support, params.confidence)
        # decide, class by class, at the share; a class failing the default bar is compared
        # with references
        share = ctx.false_alarm_share(self.id)
        n_small = int(((support > 0) & (support < params.min_support)).sum())
        small = levels(share, n_small, 1).small_class
        _, decision_upper = wilson_interval(np.diag(counts), support, 1 - 2 * small)
        verdicts = [
            class_verdict(
                int(support[i]), float(recall[i]), float(decision_upper[i]), bars[i], params
            )
            for i in range(len(names))
        ]
        lv, reference = self._references(ctx, inputs, names, verdicts, recall, params, n_small)
        verdicts = [with_reference(v, reference.get(i)) for i, v in enumerate(verdicts)]
        status = decide(verdicts)
        # explain
        ranked = sorted(range(len(names)), key=lambda i: (support[i] == 0, recall[i], names[i]))
        return self._explain(
            names,
            counts,
            scores,
            (lower, upper, decision_upper),
            bars,
            verdicts,
            reference,
            ranked,
            status,
            params,
            lv,
        )

    # ------------------------------------------------------------------ measure helpers
    def _bars(self, names: list[str], params: Params) -> list[float]:
        wanted = {str(k): v for k, v in params.per_class.items()}
        unknown = [k for k in wanted if k not in names]
        if unknown:
            shown = ", ".join(repr(n) for n in names[:20])
            raise ConfigError(
                f"checks.{self.id}.per_class.{unknown[0]}: unknown class (known: {shown})"
            )
        return [wanted.get(n, params.min_recall) for n in names]

    @staticmethod
    def _references(
        ctx: Context,
        inputs: tuple[np.ndarray, np.ndarray],
        names: list[str],
        verdicts: list[Verdict],
        recall: np.ndarray,
        params: Params,
        n_small: int,
    ) -> tuple[Levels, dict[int, ReferenceFinding | None]]:
        """For each class failing the default bar (not a per_class bar, not strict): the best
        skilled reference baseline, or None when no reference has skill on it; and the levels
        the two fail rules were tested at."""
        share = ctx.false_alarm_share(PerClassRecall.id)
        own_bar = {str(k) for k in params.per_class}
        candidates = [
            i
            for i, v in enumerate(verdicts)
            if v == "fail" and names[i] not in own_bar and not params.strict
        ]
        if not candidates:
            return levels(share, n_small, 1), {}
        y_true, y_pred = inputs
        refs = {
            name: b.predictions["test"].labels
            for name, b in ctx.baselines().items()
            if name in REFERENCES
            and "test" in b.predictions
            and b.predictions["test"].labels is not None
        }
        lv = levels(share, n_small, len(candidates) * len(refs))
        return lv, {
            i: best_reference(
                [reference_counts(n, y_true, y_pred, r, i) for n, r in sorted(refs.items())],
                float(recall[i]),
                params.min_reference_gap,
                lv.reference,
            )
            for i in candidates
        }

    # ------------------------------------------------------------------ explain
    def _explain(
        self,
        names: list[str],
        counts: np.ndarray,
        scores: dict[str, np.ndarray],
        interval: tuple[np.ndarray, np.ndarray, np.ndarray],
        bars: list[float],
        verdicts: list[Verdict],
        reference: Mapping[int, ReferenceFinding | None],
        order: list[int],
        status: Status,
        params: Params,
        lv: Levels,
    ) -> CheckResult:
        lower, upper, decision_upper = interval
        level = fmt_level(params.confidence)
        view = ClassView(names, scores, lower, upper, bars, verdicts, order, level, decision_upper)
        macro_f1 = _macro_f1(scores)
        metrics = _metrics(view, counts, macro_f1)
        evidence = [_scores_table(view), *_reference_tables(view, reference)]
        chart = self._chart(names, view.recall, view.support, order, params.min_recall)
        return self.result(
            status,
            _message(view, reference, status, macro_f1),
            subjects=_subjects(view, status),
            metrics=metrics,
            thresholds=_thresholds(params, lv),
            evidence=evidence,
            charts=[chart],
        )

    @staticmethod
    def _chart(
        names: list[str],
        recall: np.ndarray,
        support: np.ndarray,
        order: list[int],
        threshold: float,
    ) -> Chart:
        shown = [i for i in order if support[i] > 0][:MAX_CHART_CLASSES]
        n_eval = int((support > 0).sum())
        title = "Recall per class on test"
        if n_eval > len(shown):
            title += f" (the {len(shown)} lowest of {n_eval} classes)"
        return Chart(
            "bars",
            title,
            {
                "labels": [names[i] for i in shown],
                "series": {"recall": [float(recall[i]) for i in shown]},
                "threshold": threshold,
            },
        )


#: Reference baselines that can show a class is hard (the trivial one cannot).
REFERENCES = ("linear", "xgboost")


_VERDICT_TEXT = {
    "ok": "ok",
    "hard": "under the default bar; the reference baselines do no better",
    "fail": "under the bar",
    "uncertain": "under the bar, too few rows to be sure",
    "absent": "no test rows: cannot be evaluated",
}
