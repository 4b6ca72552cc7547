"""Which classes does the model systematically confuse? Clusters from the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import per_test
from qa.context import Context
from qa.evaluation import confusion_counts, evaluation_inputs
from qa.stats import sign_test, two_proportion_test

#: The heatmap shows at most this many classes (the most confused ones).
MAX_HEATMAP_CLASSES = 30


def row_rates(counts: np.ndarray) -> np.ndarray:
    """Row-normalised confusion: share of true-class-i rows predicted as j (0 for empty rows)."""
    support = counts.sum(axis=1, keepdims=True).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, counts / np.where(support > 0, support, 1.0), 0.0)


def confused_pairs(
    counts: np.ndarray, min_confusion: float, min_count: int
) -> list[tuple[int, int]]:
    """Class pairs whose pair confusion rate(a->b) + rate(b->a) reaches the bar, worst first.

    Each pair is oriented so that a->b is its larger direction.
    """
    rates = row_rates(counts)
    pair_rate = rates + rates.T
    pair_count = counts + counts.T
    upper = np.triu(np.ones_like(pair_rate, dtype=bool), k=1)
    hit = upper & (pair_rate >= min_confusion) & (pair_count >= min_count)
    a, b = np.nonzero(hit)
    order = np.argsort(-pair_rate[a, b], kind="stable")
    return [
        (int(a[i]), int(b[i])) if rates[a[i], b[i]] >= rates[b[i], a[i]] else (int(b[i]), int(a[i]))
        for i in order
    ]


def connected_groups(pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Connected components of the graph whose edges are ``pairs``.

    scipy's ``connected_components`` on the classes named in ``pairs``; each group sorted,
    groups ordered by their smallest class.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not pairs:
        return []
    nodes = sorted({n for pair in pairs for n in pair})
    index = {n: i for i, n in enumerate(nodes)}
    rows = [index[a] for a, _ in pairs]
    cols = [index[b] for _, b in pairs]
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(nodes), len(nodes)))
    _n, labels = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for node, label in zip(nodes, labels, strict=True):
        groups.setdefault(int(label), []).append(node)
    return sorted(groups.values(), key=lambda g: g[0])


@dataclass(frozen=True)
class Confusion:
    """What the check measures on the test split's confusion matrix."""

    counts: np.ndarray
    rates: np.ndarray
    #: rate(a->b) + rate(b->a), zero on the diagonal.
    pair_rates: np.ndarray
    #: Pairs over the bar (a->b the larger direction), worst first, and their clusters.
    pairs: list[tuple[int, int]]
    groups: list[list[int]]

    @property
    def worst(self) -> tuple[int, int]:
        a, b = np.unravel_index(int(np.argmax(self.pair_rates)), self.pair_rates.shape)
        return int(a), int(b)


def measure(counts: np.ndarray, min_confusion: float, min_count: int) -> Confusion:
    """Row rates, pair confusions, the pairs over the bar and their clusters."""
    rates = row_rates(counts)
    pair_rates = rates + rates.T
    np.fill_diagonal(pair_rates, 0.0)
    pairs = confused_pairs(counts, min_confusion, min_count)
    return Confusion(counts, rates, pair_rates, pairs, connected_groups(pairs))


#: One-sided level of a reference's skill test on a pair (it can only excuse a pair, so a
#: stricter level would fail more pairs, never fewer).
SKILL_ALPHA = 0.05


@dataclass(frozen=True)
class PairReference:
    """A flagged pair seen by the reference baseline that confuses it least among those with
    skill on the pair (that tell a from b better than chance)."""

    pair: tuple[int, int]
    #: How many references have skill at all (beat always answering the largest class).
    skilled_references: int = 0
    #: None: no skilled reference tells a from b.
    name: str | None = None
    #: The reference's pair confusion, rate(a->b) + rate(b->a).
    pair_rate: float | None = None
    #: One-sided sign test: the model confuses the pair's rows more often than the reference.
    p_value: float = 1.0


def pair_confused(y: np.ndarray, pred: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows of class a predicted b, or of class b predicted a."""
    return ((y == a) & (pred == b)) | ((y == b) & (pred == a))


def pair_rate(y: np.ndarray, pred: np.ndarray, a: int, b: int) -> float:
    """rate(a->b) + rate(b->a) of one set of predictions."""
    n_a, n_b = max(int((y == a).sum()), 1), max(int((y == b).sum()), 1)
    return float(((y == a) & (pred == b)).sum() / n_a + ((y == b) & (pred == a)).sum() / n_b)


def skilled_on_pair(y: np.ndarray, pred: np.ndarray, a: int, b: int) -> bool:
    """The predictions call a's rows "a" more often than b's rows (one-sided two-proportion
    test at ``SKILL_ALPHA``): they tell the two classes apart at all."""
    n, m = int((y == a).sum()), int((y == b).sum())
    hits, false_hits = int(((y == a) & (pred == a)).sum()), int(((y == b) & (pred == a)).sum())
    if n == 0 or m == 0 or hits / n <= false_hits / m:
        return False
    return two_proportion_test(hits, n, false_hits, m) / 2 < SKILL_ALPHA


def skilled_overall(y: np.ndarray, pred: np.ndarray) -> bool:
    """The predictions beat always answering the largest class (one-sided binomial test at
    ``SKILL_ALPHA``): a reference without it cannot say whether classes overlap."""
    from scipy.stats import binomtest

    if len(y) == 0:
        return False
    base = float(np.bincount(y).max() / len(y))
    correct = int((pred == y).sum())
    if correct / len(y) <= base or base >= 1.0:
        return False
    return float(binomtest(correct, len(y), base, alternative="greater").pvalue) < SKILL_ALPHA


def pair_reference(
    y: np.ndarray, model: np.ndarray, references: dict[str, np.ndarray], a: int, b: int
) -> PairReference:
    """Among references with skill (``references`` holds only those): the one that tells a
    from b and confuses the pair least, and the sign test of the model against it."""
    on_pair = {
        name: pair_rate(y, pred, a, b)
        for name, pred in references.items()
        if skilled_on_pair(y, pred, a, b)
    }
    if not on_pair:
        return PairReference((a, b), len(references))
    name = min(on_pair, key=lambda n: (on_pair[n], n))
    model_wrong = pair_confused(y, model, a, b)
    reference_wrong = pair_confused(y, references[name], a, b)
    gained = int((model_wrong & ~reference_wrong).sum())
    lost = int((~model_wrong & reference_wrong).sum())
    return PairReference((a, b), len(references), name, on_pair[name], sign_test(gained, lost))


def model_fault(model_rate: float, ref: PairReference, min_gap: float, alpha: float) -> bool:
    """A flagged pair counts against the model when no reference has skill at all (nothing can
    show the classes overlap), or a skilled reference confuses it at least ``min_gap`` less,
    significantly at ``alpha``. Skilled references that cannot tell the two classes apart
    either say the classes overlap in these features: not the model's fault."""
    if ref.skilled_references == 0:
        return True
    if ref.name is None or ref.pair_rate is None:
        return False
    return model_rate - ref.pair_rate >= min_gap and ref.p_value < alpha


def decide(task: str, n_pairs_over_bar: int, n_model_faults: int | None = None) -> Status:
    """skip for a binary task (the one pair is the two error rates); fail when a pair over the
    bar is the model's fault; warn when pairs are over the bar but skilled references confuse
    them as much (the classes overlap in these features); else pass."""
    if task == "binary":
        return "skip"
    faults = n_pairs_over_bar if n_model_faults is None else n_model_faults
    if faults > 0:
        return "fail"
    return "warn" if n_pairs_over_bar > 0 else "pass"


class ConfusionClusters(Check):
    """No pair of classes is confused with each other beyond the bar.

    What it checks
    --------------
    The test-split confusion matrix, normalised by row (true class): rate(a->b) is the share of
    class a's test rows the model predicts as b. For every pair of classes the pair confusion is
    rate(a->b) + rate(b->a), so a one-way fold (all of a predicted as b) and a two-way mix (a
    and b swapped both ways) both count. Pairs over the bar join into clusters: connected
    groups of classes the model cannot tell apart.

    Why it matters
    --------------
    Overall accuracy hides systematic mistakes. A model that folds one class into another, or
    mixes a group of look-alike classes, is wrong in a structured way that a per-class mean does
    not name: the fix (better features for that distinction, merged classes, more data of the
    pair) depends on knowing which classes are involved.

    How it decides
    --------------
    A pair is flagged when its confusion reaches ``min_confusion`` (default 0.4: 40 % of one
    class taken for the other, or 20 % each way) and the pair has at least ``min_count``
    confused rows in all (default 5), so that one of three rows of a tiny class does not make a
    cluster. A flagged pair fails the check when it is the model's fault: no reference
    baseline (majority, linear, XGBoost, fitted on the same train) beats always answering the
    largest class, so nothing can show the classes overlap; or a skilled reference tells the two
    classes apart and confuses the pair at least ``min_reference_gap`` (0.10) less, with a
    one-sided sign test on the pair's rows significant at this check's share of the false-alarm
    budget (split across the flagged pairs). When the skilled references confuse the pair
    about as much, or cannot tell the two classes apart at all, the classes overlap in these
    features — a limit of the data, not of the model — and the check warns. The default bar leaves decent models alone, including on classes that overlap by
    nature (handwritten digits with logistic regression confuses no pair beyond about 0.1; a
    Bayes-optimal model on overlapping Gaussian classes mixes its closest pair about 0.15 each
    way), while catching a class folded into another or two classes swapped. Lower the bar to
    hunt finer confusions. Binary tasks are skipped with the confusion matrix
    reported: with two classes the pair confusion is just the sum of the two error rates,
    which the metric and per-class recall checks judge. The heatmap shows at most 30 classes,
    the most confused ones.

    How to fix
    ----------
    Inspect the pairs in the evidence: look at misclassified rows of each pair, add features
    that separate them, gather more training data for the pair, check whether their labels are
    consistent (annotators may mix them too), or merge the classes when the distinction is not
    needed.
    """

    id = "confusion-clusters"
    title = "No systematically confused classes"
    requires = ("test", "labels", "predictions")
    severity = "error"
    tasks = ("binary", "multiclass")
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        min_confusion: float = param(
            0.4,
            "Pair confusion rate(a->b) + rate(b->a) at which a pair is flagged.",
            gt=0.0,
            le=2.0,
        )
        min_count: int = param(
            5, "Confused rows (both directions) a pair needs to be flagged.", ge=1
        )
        min_reference_gap: float = param(
            0.10,
            "How much less a skilled reference baseline must confuse a flagged pair for the "
            "pair to count against the model (else the classes overlap by nature: warn).",
            ge=0.0,
            le=2.0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        inputs = evaluation_inputs(ctx)
        if isinstance(inputs, str):
            return self.skip(inputs)
        # measure
        found = measure(confusion_counts(ctx), params.min_confusion, params.min_count)
        refs = self._references(ctx, inputs, found) if ctx.task != "binary" else []
        alpha = per_test(ctx.false_alarm_share(self.id), len(found.pairs))
        # decide
        faults = [
            r.pair
            for r in refs
            if model_fault(float(found.pair_rates[r.pair]), r, params.min_reference_gap, alpha)
        ]
        status = decide(ctx.task, len(found.pairs), len(faults))
        # explain
        return self._explain(ctx.class_names, found, status, params, refs, faults, alpha)

    @staticmethod
    def _references(
        ctx: Context, inputs: tuple[np.ndarray, np.ndarray], found: Confusion
    ) -> list[PairReference]:
        if not found.pairs:
            return []
        y, model = inputs
        references = {
            name: preds.labels
            for name, b in ctx.baselines().items()
            if (preds := b.predictions.get("test")) is not None
            and preds.labels is not None
            and skilled_overall(y, preds.labels)
        }
        return [pair_reference(y, model, references, a, b) for a, b in found.pairs]

    # ------------------------------------------------------------------ explain
    def _explain(
        self,
        names: list[str],
        found: Confusion,
        status: Status,
        params: Params,
        refs: list[PairReference],
        faults: list[tuple[int, int]],
        alpha: float,
    ) -> CheckResult:
        counts, rates, pair_rates = found.counts, found.rates, found.pair_rates
        a, b = found.worst
        metrics: dict[str, float | None] = {
            "max_pair_confusion": float(pair_rates[a, b]),
            "accuracy": float(np.trace(counts) / counts.sum()),
            "n_classes": len(names),
            "test_rows": int(counts.sum()),
        }
        thresholds = {
            "min_confusion": params.min_confusion,
            "min_count": params.min_count,
            "min_reference_gap": params.min_reference_gap,
            "alpha_per_pair": alpha,
        }
        chart = self._heatmap(names, rates)
        if status == "skip":
            return self.result(
                "skip",
                "binary task: the one pair's confusion is the two error rates, judged by "
                "metric-threshold and per-class-recall; confusion matrix reported only",
                metrics=metrics,
                thresholds=thresholds,
                charts=[chart],
            )
        pairs, groups = found.pairs, found.groups
        metrics.update(
            {
                "n_pairs_over_bar": len(pairs),
                "n_clusters": len(groups),
                "largest_cluster": max((len(g) for g in groups), default=0),
            }
        )
        evidence = [_pair_table(names, found), _cluster_table(names, found)]
        if refs:
            evidence.append(_reference_table(names, found, refs, faults))
        if status in ("fail", "warn"):
            shown = "; ".join(
                f"{names[a]!r}->{names[b]!r} {rates[a, b]:.2f}, "
                f"{names[b]!r}->{names[a]!r} {rates[b, a]:.2f}"
                for a, b in (faults if status == "fail" else pairs)[:5]
            )
            subjects = sorted({names[i] for g in groups for i in g})
            message = (
                f"{len(pairs)} class pair(s) confused beyond {params.min_confusion:.2f} in "
                f"{len(groups)} cluster(s): {shown}"
            )
            if status == "warn":
                message += (
                    "; the reference baselines confuse them about as much, so the classes "
                    "overlap in these features (a limit of the data, not of the model)"
                )
            elif len(faults) < len(pairs):
                message += f" ({len(pairs) - len(faults)} more pair(s) the references confuse too)"
            return self.result(
                status,
                message,
                subjects=subjects,
                metrics=metrics,
                thresholds=thresholds,
                evidence=evidence,
                charts=[chart],
            )
        return self.result(
            "pass",
            f"no pair confused beyond {params.min_confusion:.2f}; most confused "
            f"{names[a]!r}/{names[b]!r} at {pair_rates[a, b]:.3f}",
            metrics=metrics,
            thresholds=thresholds,
            evidence=evidence,
            charts=[chart],
        )

    @staticmethod
    def _heatmap(names: list[str], rates: np.ndarray) -> Chart:
        k = len(names)
        keep = list(range(k))
        title = "Confusion matrix on test (row-normalised)"
        if k > MAX_HEATMAP_CLASSES:
            off = rates.copy()
            np.fill_diagonal(off, 0.0)
            involvement = off.sum(axis=1) + off.sum(axis=0)
            top = np.argsort(-involvement, kind="stable")[:MAX_HEATMAP_CLASSES]
            keep = sorted(int(i) for i in top)
            title += f": the {MAX_HEATMAP_CLASSES} most confused of {k} classes"
        sub = rates[np.ix_(keep, keep)]
        return Chart(
            "heatmap",
            title,
            {
                "labels": [names[i] for i in keep],
                "matrix": [[float(v) for v in row] for row in sub],
                "row_label": "true",
                "col_label": "predicted",
            },
        )


def _reference_table(
    names: list[str],
    found: Confusion,
    refs: list[PairReference],
    faults: list[tuple[int, int]],
) -> Evidence:
    rows = [
        (
            names[r.pair[0]],
            names[r.pair[1]],
            float(found.pair_rates[r.pair]),
            r.name or ("none tells them apart" if r.skilled_references else "none skilled"),
            r.pair_rate,
            r.p_value if r.name else None,
            "model" if r.pair in faults else "data (classes overlap)",
        )
        for r in refs
    ]
    return table(
        "Flagged pairs against the skilled reference baseline that confuses them least",
        ["class a", "class b", "model", "reference", "reference confusion", "p", "problem"],
        rows,
    )


def _pair_table(names: list[str], found: Confusion) -> Evidence:
    counts, rates, support = found.counts, found.rates, found.counts.sum(axis=1)
    rows = [
        (
            names[a],
            names[b],
            float(rates[a, b]),
            float(rates[b, a]),
            int(counts[a, b]),
            int(counts[b, a]),
            float(found.pair_rates[a, b]),
            int(support[a]),
            int(support[b]),
        )
        for a, b in found.pairs
    ]
    return table(
        "Confused class pairs, a->b the larger direction (rates: shares of the true "
        "class's test rows)",
        [
            "class a",
            "class b",
            "rate a->b",
            "rate b->a",
            "rows a->b",
            "rows b->a",
            "pair confusion",
            "support a",
            "support b",
        ],
        rows,
    )


def _cluster_table(names: list[str], found: Confusion) -> Evidence:
    counts, support = found.counts, found.counts.sum(axis=1)
    rows = []
    for number, group in enumerate(found.groups, start=1):
        inside = counts[np.ix_(group, group)]
        confused = int(inside.sum() - np.trace(inside))
        rows_in = int(support[group].sum())
        best = max(float(found.pair_rates[a, b]) for a in group for b in group if a != b)
        rows.append(
            (
                number,
                ", ".join(names[i] for i in group),
                len(group),
                best,
                confused,
                rows_in,
                confused / rows_in if rows_in else None,
            )
        )
    return table(
        "Clusters of mutually confused classes",
        [
            "cluster",
            "classes",
            "size",
            "worst pair confusion",
            "rows confused within",
            "test rows of its classes",
            "share confused within",
        ],
        rows,
    )
