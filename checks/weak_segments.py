"""Where do the model's errors cluster? Test-set segments significantly worse than the rest.

The search counts every single-feature and two-feature segment and tests each against the rest
(Benjamini–Hochberg over all of them), rather than using SliceLine (the ``sliceline`` package):
its score ranks slices but is not a significance test, so it cannot give the candidate family
the false-discovery control needs, and without numba it took 94 s and 7.4 GB on 50,000 x 50.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import polars as pl

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import more_rows_needed, underpowered_note
from qa.context import Context
from qa.encoding import column_kind, epoch_seconds, is_calendar
from qa.metrics import (
    EvaluationParams,
    Metric,
    choose_metric,
    fmt_level,
    make_scorer,
    run_bootstrap,
)
from qa.predictions import Predictions
from qa.stats import benjamini_hochberg, quantile_edges, sign_test, sorted_finite

SPLIT = "test"
#: Reference baselines that can tell a model problem from a data problem (the trivial one
#: cannot: it is bad wherever the classes mix).
REFERENCES = ("linear", "xgboost")
#: A reference is clearly better on a segment when it closes at least this share of the
#: model's excess loss there (segment loss minus the rest's), significantly.
REFERENCE_CLOSES = 0.5
#: Pair candidates re-scored on all rows after a sampled search.
CONFIRM_CANDIDATES = 500
#: Fail-eligible segments whose references are examined (largest excess first).
MAX_JUDGED = 200
#: Rows the quantile bin edges are taken from (a seeded sample beyond it).
EDGE_ROWS = 50_000
#: Bars in the chart.
MAX_CHART_SEGMENTS = 15

Verdict = Literal["ok", "warn", "fail"]
Diagnosis = Literal["model", "data", "unclear", "n/a"]


# --------------------------------------------------------------------------- measure: losses
def row_losses(
    task: str, y: np.ndarray, preds: Predictions, positive_index: int, decision_threshold: float
) -> np.ndarray:
    """Per-row loss: 1.0 where the predicted class is wrong (classification; a binary task
    with probabilities decides at ``decision_threshold``, as the metrics do), the absolute
    error for regression."""
    if task == "regression":
        assert preds.values is not None
        return np.abs(np.asarray(preds.values, float) - np.asarray(y, float))
    if task == "binary" and preds.proba is not None:
        positive = preds.proba[:, positive_index] >= decision_threshold
        decided = np.where(positive, positive_index, 1 - positive_index)
    else:
        assert preds.labels is not None
        decided = np.asarray(preds.labels, dtype=np.int64)
    return (decided != np.asarray(y, dtype=np.int64)).astype(np.float64)


# --------------------------------------------------------------------------- measure: features
@dataclass(frozen=True)
class SegmentFeature:
    """One feature cut into levels: a code per test row and a description per level."""

    name: str
    codes: np.ndarray  # uint8, one per test row
    descriptions: tuple[str, ...]

    @property
    def n_levels(self) -> int:
        return len(self.descriptions)


def _fmt_edge(value: float, calendar: bool) -> str:
    if calendar:
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).replace(tzinfo=None).isoformat()
    return f"{value:.6g}"


def range_descriptions(name: str, edges: np.ndarray, calendar: bool = False) -> list[str]:
    """Descriptions of the right-closed bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    shown = [_fmt_edge(float(e), calendar) for e in edges]
    if not shown:
        return [f"{name}: any value"]
    out = [f"{name} ≤ {shown[0]}"]
    out += [f"{lo} < {name} ≤ {hi}" for lo, hi in itertools.pairwise(shown)]
    out.append(f"{name} > {shown[-1]}")
    return out


def numeric_feature(
    name: str, values: np.ndarray, sample: np.ndarray | None, n_bins: int, calendar: bool = False
) -> SegmentFeature:
    """Quantile bins with edges from the finite values of ``sample`` (all rows when None);
    NaN is its own level, ±inf falls in the outer bins."""
    ref = values if sample is None else values[sample]
    edges = quantile_edges(sorted_finite(ref), n_bins)
    codes = np.zeros(len(values), dtype=np.uint8)
    for edge in edges:  # the number of edges below the value: right-closed bins
        codes += values > edge
    descriptions = range_descriptions(name, edges, calendar)
    missing = np.isnan(values)
    if missing.any():
        codes[missing] = len(descriptions)
        descriptions.append(f"{name} is missing")
    return SegmentFeature(name, codes, tuple(descriptions))


def categorical_feature(
    name: str, series: pl.Series, top_levels: int, min_rows: int, train_levels: set[str]
) -> SegmentFeature:
    """The most frequent values (at most ``top_levels``, each with at least ``min_rows`` rows)
    keep a level; the rest share one; missing is its own level. A value train never had is
    marked as such."""
    values = series.cast(pl.String, strict=False)
    counts = values.drop_nulls().value_counts(name="n")
    counts = counts.sort(["n", counts.columns[0]], descending=[True, False])
    counts = counts.filter(pl.col("n") >= min_rows).head(top_levels)
    kept = counts.get_column(counts.columns[0]).to_list()
    other = len(kept)
    codes = (
        values.replace_strict(kept, list(range(other)), default=other, return_dtype=pl.UInt8)
        .to_numpy(allow_copy=True)
        .astype(np.uint8, copy=True)
    )
    descriptions = [
        f"{name} = {v!r}" + ("" if v in train_levels else " (not in train)") for v in kept
    ]
    descriptions.append(f"{name}: any other value" if kept else f"{name}: any value")
    nulls = values.is_null().to_numpy()
    if nulls.any():
        codes[nulls] = len(descriptions)
        descriptions.append(f"{name} is missing")
    return SegmentFeature(name, codes, tuple(descriptions))


def segment_features(ctx: Context, params: Any, min_rows: int) -> list[SegmentFeature]:
    """Every usable feature column of the test split, cut into levels (quantile edges from
    a seeded sample of at most :data:`EDGE_ROWS` rows)."""
    frame = ctx.frame(SPLIT)
    sample: np.ndarray | None = None
    if frame.height > EDGE_ROWS:
        rng = np.random.default_rng(ctx.seed + 1)
        sample = np.sort(rng.choice(frame.height, size=EDGE_ROWS, replace=False))
    # no more bins than segments of min_rows rows fit in the split
    n_bins = max(2, min(params.n_bins, frame.height // max(min_rows, 1)))
    out = []
    for name in ctx.feature_columns:
        if name not in frame.columns:
            continue
        series = frame.get_column(name)
        kind = column_kind(series.dtype)
        if kind in ("numeric", "datetime"):
            floats = series if kind == "numeric" else epoch_seconds(series)
            values = np.array(floats.cast(pl.Float64).to_numpy(allow_copy=True), dtype=np.float64)
            calendar = kind == "datetime" and is_calendar(series.dtype)
            out.append(numeric_feature(name, values, sample, n_bins, calendar))
        elif kind in ("categorical", "boolean"):
            train_levels = (
                set(ctx.encoder.levels(name))
                if kind == "categorical" and ctx.kind(name) == "categorical"
                else {"true", "false"}
            )
            out.append(categorical_feature(name, series, params.top_levels, min_rows, train_levels))
    return out


# --------------------------------------------------------------------------- measure: search
@dataclass(frozen=True)
class Candidates:
    """Candidate segments as parallel arrays: feature ``a``'s level (and feature ``b``'s for a
    pair, ``-1`` for a single feature), rows, loss sum and sum of squares in the segment."""

    fa: np.ndarray
    la: np.ndarray
    fb: np.ndarray
    lb: np.ndarray
    n: np.ndarray
    s: np.ndarray
    ss: np.ndarray

    def __len__(self) -> int:
        return len(self.fa)

    @staticmethod
    def concat(parts: Sequence[Candidates]) -> Candidates:
        if not parts:
            empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
            return Candidates(empty_i, empty_i, empty_i, empty_i, empty_f, empty_f, empty_f)
        return Candidates(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Candidates.fields())
        )

    @staticmethod
    def fields() -> tuple[str, ...]:
        return ("fa", "la", "fb", "lb", "n", "s", "ss")

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(*(getattr(self, f)[index] for f in Candidates.fields()))


def _cells(
    counts: np.ndarray, sums: np.ndarray, sq: np.ndarray, keep: np.ndarray, fa: int, fb: int
) -> Candidates:
    """The kept cells of one feature's (or pair's) tables as candidates."""
    if counts.ndim == 1:
        la = np.flatnonzero(keep)
        lb = np.full(len(la), -1)
        n, s, ss = counts[la], sums[la], sq[la]
    else:
        la, lb = np.nonzero(keep)
        n, s, ss = counts[la, lb], sums[la, lb], sq[la, lb]
    return Candidates(
        np.full(len(la), fa),
        la.astype(np.int64),
        np.full(len(la), fb),
        lb.astype(np.int64),
        n.astype(np.float64),
        s.astype(np.float64),
        ss.astype(np.float64),
    )


def single_segments(
    features: Sequence[SegmentFeature], loss: np.ndarray, min_rows: int
) -> Candidates:
    """Every level of every feature with at least ``min_rows`` rows and as many outside."""
    n_rows, parts = len(loss), []
    sq = loss * loss
    for f, feature in enumerate(features):
        k = feature.n_levels
        counts = np.bincount(feature.codes, minlength=k).astype(np.float64)
        sums = np.bincount(feature.codes, weights=loss, minlength=k)
        sumsq = np.bincount(feature.codes, weights=sq, minlength=k)
        keep = (counts >= min_rows) & (n_rows - counts >= min_rows)
        parts.append(_cells(counts, sums, sumsq, keep, f, -1))
    return Candidates.concat(parts)


def pair_features(
    features: Sequence[SegmentFeature], singles: Candidates, loss: np.ndarray, limit: int
) -> list[int]:
    """The features whose levels differ most in mean loss (between-level sum of squares),
    at most ``limit``, in their original order."""
    if len(features) <= limit:
        return list(range(len(features)))
    mean = float(loss.mean())
    spread = np.zeros(len(features))
    np.add.at(spread, singles.fa, singles.n * (singles.s / singles.n - mean) ** 2)
    order = np.lexsort((np.arange(len(features)), -spread))[:limit]
    return sorted(int(i) for i in order)


def pair_segments(
    features: Sequence[SegmentFeature],
    chosen: Sequence[int],
    loss: np.ndarray,
    rows: np.ndarray | None,
    min_rows: int,
    binary_loss: bool,
) -> Candidates:
    """Every cell of every pair of ``chosen`` features on ``rows`` (all when None) with at
    least ``min_rows`` rows and as many outside, other than cells equal to one of their two
    single-feature levels. One ``bincount`` per pair: for 0/1 losses the loss is folded into
    the cell index, so counts and errors come from one pass."""
    width = max((features[f].n_levels for f in chosen), default=1)
    sub_loss = loss if rows is None else loss[rows]
    n_rows = len(sub_loss)
    codes = {
        f: (features[f].codes if rows is None else features[f].codes[rows]).astype(np.intp)
        for f in chosen
    }
    level_counts = {f: np.bincount(codes[f], minlength=features[f].n_levels) for f in chosen}
    errors = sub_loss.astype(np.intp) if binary_loss else None
    sq = sub_loss * sub_loss
    parts = []
    for i, fa in enumerate(chosen):
        ka = features[fa].n_levels
        base = codes[fa] * (2 * width) + errors if errors is not None else codes[fa] * width
        for fb in chosen[i + 1 :]:
            kb = features[fb].n_levels
            counts: np.ndarray
            s: np.ndarray
            ssq: np.ndarray
            if errors is not None:
                folded = np.bincount(base + 2 * codes[fb], minlength=2 * width * width)
                folded = folded.reshape(width, width, 2)[:ka, :kb]
                s = folded[..., 1].astype(np.float64)
                counts = folded.sum(axis=2).astype(np.float64)
                ssq = s
            else:
                index = base + codes[fb]
                size = width * width
                counts = np.bincount(index, minlength=size).astype(np.float64)
                s = np.bincount(index, weights=sub_loss, minlength=size)
                ssq = np.bincount(index, weights=sq, minlength=size)
                counts, s, ssq = (a.reshape(width, width)[:ka, :kb] for a in (counts, s, ssq))
            keep = (counts >= min_rows) & (n_rows - counts >= min_rows)
            keep &= counts != level_counts[fa][:, None]
            keep &= counts != level_counts[fb][None, :]
            if keep.any():
                parts.append(_cells(counts, s, ssq, keep, fa, fb))
    return Candidates.concat(parts)


class RowIndex:
    """Row indices of feature levels and segments, computed once per level."""

    def __init__(self, features: Sequence[SegmentFeature]) -> None:
        self.features = features
        self._levels: dict[tuple[int, int], np.ndarray] = {}

    def level(self, f: int, level: int) -> np.ndarray:
        key = (f, level)
        if key not in self._levels:
            self._levels[key] = np.flatnonzero(self.features[f].codes == level)
        return self._levels[key]

    def segment(self, fa: int, la: int, fb: int, lb: int) -> np.ndarray:
        rows = self.level(fa, la)
        if fb < 0:
            return rows
        return rows[self.features[fb].codes[rows] == lb]


def confirm_pairs(pairs: Candidates, index: RowIndex, loss: np.ndarray) -> Candidates:
    """The pair candidates re-counted on all rows."""
    n, s, ss = np.empty(len(pairs)), np.empty(len(pairs)), np.empty(len(pairs))
    for i in range(len(pairs)):
        rows = index.segment(int(pairs.fa[i]), int(pairs.la[i]), int(pairs.fb[i]), int(pairs.lb[i]))
        part = loss[rows]
        n[i], s[i], ss[i] = len(rows), part.sum(), (part * part).sum()
    return replace(pairs, n=n, s=s, ss=ss)


# --------------------------------------------------------------------------- measure: tests
@dataclass(frozen=True)
class Tested:
    """Per candidate: mean loss inside and outside, the gap's standard error and the
    one-sided p-value of "worse inside"."""

    mean_in: np.ndarray
    mean_out: np.ndarray
    se: np.ndarray
    p: np.ndarray


def segment_tests(
    cands: Candidates, n_total: int, s_total: float, ss_total: float, binary_loss: bool
) -> Tested:
    """One-sided two-sample tests of the losses inside each segment against the rest.

    0/1 losses (classification): the exact conditional test (one-sided Fisher: the
    hypergeometric tail of the segment's errors given the totals). Absolute errors
    (regression): Welch's t-test on the means, one-sided (conservative for right-skewed
    losses). The standard error is Welch's in both cases (it is the interval's).
    """
    from scipy.stats import hypergeom
    from scipy.stats import t as student_t

    n_in, n_out = cands.n, n_total - cands.n
    s_out, ss_out = s_total - cands.s, ss_total - cands.ss
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in, mean_out = cands.s / n_in, s_out / n_out
        var_in = np.maximum(cands.ss - n_in * mean_in**2, 0.0) / np.maximum(n_in - 1, 1)
        var_out = np.maximum(ss_out - n_out * mean_out**2, 0.0) / np.maximum(n_out - 1, 1)
        a, b = var_in / n_in, var_out / n_out
        se = np.sqrt(a + b)
        if binary_loss:
            k = np.rint(cands.s).astype(np.int64)
            p = hypergeom.sf(k - 1, n_total, round(s_total), n_in.astype(np.int64))
        else:
            stat = (mean_in - mean_out) / se
            df = (a + b) ** 2 / (a**2 / np.maximum(n_in - 1, 1) + b**2 / np.maximum(n_out - 1, 1))
            p = student_t.sf(stat, np.where(np.isfinite(df), df, 1.0))
            p = np.where(se > 0, p, np.where(mean_in > mean_out, 0.0, 1.0))
    p = np.where(np.isfinite(p), np.clip(p, 0.0, 1.0), 1.0)
    return Tested(mean_in, mean_out, se, p)


# --------------------------------------------------------------------------- measure: references
@dataclass(frozen=True)
class ReferenceOnSegment:
    """One reference baseline on a segment's rows, against the model on the same rows."""

    name: str
    loss_in: float
    loss_out: float
    #: One-sided paired p-value that the reference errs less than the model on the segment.
    p: float
    #: ``p`` adjusted by Benjamini–Hochberg over every (segment, reference) pair judged.
    q: float = 1.0


def reference_on_segment(
    name: str, model_loss: np.ndarray, ref_loss: np.ndarray, rows: np.ndarray, binary_loss: bool
) -> ReferenceOnSegment:
    """The reference's loss in and out of the segment, and the paired test on its rows:
    a sign test on the rows one gets right and the other wrong (classification), a one-sided
    t-test on the paired differences of absolute error (regression)."""
    m, r = model_loss[rows], ref_loss[rows]
    n_out = len(ref_loss) - len(rows)
    loss_out = float((ref_loss.sum() - r.sum()) / n_out) if n_out else math.nan
    if binary_loss:
        gained = int(((r == 0) & (m == 1)).sum())
        lost = int(((r == 1) & (m == 0)).sum())
        p = sign_test(gained, lost)
    else:
        from scipy.stats import t as student_t

        d = m - r
        sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
        if sd > 0:
            p = float(student_t.sf(d.mean() / (sd / math.sqrt(len(d))), len(d) - 1))
        else:
            p = 0.0 if d.mean() > 0 else 1.0
    return ReferenceOnSegment(name, float(r.mean()), loss_out, p)


def clearly_better(ref: ReferenceOnSegment, loss_in: float, loss_out: float, level: float) -> bool:
    """The reference closes at least :data:`REFERENCE_CLOSES` of the model's excess on the
    segment, significantly: its paired q-value is at most ``level``."""
    excess = loss_in - loss_out
    return excess > 0 and loss_in - ref.loss_in >= REFERENCE_CLOSES * excess and ref.q <= level


def fails_too(ref: ReferenceOnSegment, warn_gap: float) -> bool:
    """The reference is also at least ``warn_gap`` times worse on the segment than off it."""
    if ref.loss_out > 0:
        return ref.loss_in >= warn_gap * ref.loss_out
    return ref.loss_in > 0


# --------------------------------------------------------------------------- decide
def diagnose(
    refs: Sequence[ReferenceOnSegment],
    loss_in: float,
    loss_out: float,
    warn_gap: float,
    level: float,
) -> Diagnosis:
    """model: a reference is clearly better there (at FDR ``level``); data: the best
    reference (lowest loss on the segment) is markedly worse there too; unclear otherwise;
    n/a without references."""
    if not refs:
        return "n/a"
    if any(clearly_better(r, loss_in, loss_out, level) for r in refs):
        return "model"
    best = min(refs, key=lambda r: (r.loss_in, r.name))
    return "data" if fails_too(best, warn_gap) else "unclear"


def ratio_of(loss_in: float, loss_out: float) -> float:
    """How many times the rest's loss the segment's is (inf when the rest has none)."""
    if loss_out > 0:
        return loss_in / loss_out
    return math.inf if loss_in > 0 else 1.0


def is_flagged(q: float, ratio: float, params: Any) -> bool:
    """Significant at the warning FDR and worse by at least ``warn_gap``."""
    return q <= params.fdr and ratio >= params.warn_gap


def could_fail(share_of_test: float, ratio: float, q: float, alpha: float, params: Any) -> bool:
    """Large enough, bad enough and significant at the check's share of the budget."""
    return share_of_test >= params.fail_support and ratio >= params.fail_gap and q <= alpha


def segment_verdict(flagged: bool, eligible: bool, established: bool) -> Verdict:
    """fail: eligible, and a reference is clearly better there at the check's share (the
    model's problem, established); warn: flagged or eligible; else ok."""
    if eligible and established:
        return "fail"
    return "warn" if flagged or eligible else "ok"


def decide(verdicts: Sequence[Verdict]) -> Status:
    if "fail" in verdicts:
        return "fail"
    return "warn" if "warn" in verdicts else "pass"


# --------------------------------------------------------------------------- explain
@dataclass(frozen=True)
class Segment:
    """One flagged segment as the report shows it."""

    #: (feature a, level a, feature b, level b); b is -1 for a single-feature segment.
    key: tuple[int, int, int, int]
    description: str
    columns: tuple[str, ...]
    rows: int
    loss_in: float
    loss_out: float
    gap_ci: tuple[float, float]
    q: float
    verdict: Verdict = "warn"
    diagnosis: Diagnosis = "n/a"
    references: tuple[ReferenceOnSegment, ...] = ()
    #: A pair inside a listed single-feature segment and not markedly worse than it.
    redundant: bool = False
    #: Large, bad and significant enough to fail, were a reference clearly better there.
    eligible: bool = False
    metric: float | None = None
    metric_ci: tuple[float | None, float | None] = (None, None)
    reference_metric: float | None = None

    @property
    def ratio(self) -> float:
        return ratio_of(self.loss_in, self.loss_out)

    @property
    def excess(self) -> float:
        """Errors (or absolute error) beyond what the rest's rate would give these rows."""
        return self.rows * (self.loss_in - self.loss_out)

    @property
    def best_reference(self) -> ReferenceOnSegment | None:
        return min(self.references, key=lambda r: (r.loss_in, r.name), default=None)


_DIAGNOSIS_TEXT = {
    "model": "model problem: a baseline does clearly better here",
    "data": "data or labelling problem: the baselines fail here too",
    "unclear": "unclear: the baselines are not clearly better, nor as bad",
    "n/a": "no baseline to compare",
}


def _fmt_loss(value: float | None, regression: bool) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}" if regression else f"{value:.3f}"


def _fmt_q(q: float) -> str:
    return "< 1e-300" if q < 1e-300 else f"= {q:.2g}"


def _fmt_ratio(ratio: float) -> str:
    return "∞" if math.isinf(ratio) else f"{ratio:.2f}×"


def _describe(seg: Segment, n_test: int, loss_name: str, regression: bool) -> str:
    text = (
        f"{seg.description!s} ({seg.rows:,} rows, {seg.rows / n_test:.1%} of test): "
        f"{loss_name} {_fmt_loss(seg.loss_in, regression)} vs "
        f"{_fmt_loss(seg.loss_out, regression)} on the rest ({_fmt_ratio(seg.ratio)}, "
        f"q {_fmt_q(seg.q)})"
    )
    best = seg.best_reference
    if best is not None:
        text += (
            f"; the {best.name} baseline {_fmt_loss(best.loss_in, regression)} there: "
            f"{_DIAGNOSIS_TEXT[seg.diagnosis].split(':')[0]}"
        )
    return text


# --------------------------------------------------------------------------- the check
class WeakSegments(Check):
    """No segment of the test set where the model's errors cluster.

    What it checks
    --------------
    Searches the test split for segments where the model does worse than on the rest:
    every level of every feature (numeric and datetime columns cut into ``n_bins`` quantile
    bins, fewer on a split too small for bins of ``segment_rows``; categories and booleans
    by value, the ``top_levels`` most frequent kept and the rest pooled; missing values as a
    level of their own) and every pair of levels of two features. A segment needs at least
    ``segment_rows`` rows and ``segment_share`` of the test rows, and as many outside it.
    Each row's loss is the error indicator at the model's predicted class (classification;
    a binary task with probabilities decides at ``decision_threshold``) or the absolute
    error (regression), so "worse" is a two-sample test of the losses inside the segment
    against the rest: the exact one-sided conditional (Fisher) test for error indicators,
    Welch's one-sided t-test for absolute errors. The false discovery rate is controlled
    over all candidate segments with Benjamini–Hochberg. For the worst segments the report
    gives their support, the error rate (or MAE) inside and outside with an interval of the
    gap, the primary metric (``metric``) on the segment with its bootstrap interval where it
    is computable there (AUC needs both classes), and the best reference baseline's error
    and metric on the same rows. A pair that lies inside a listed single-feature segment
    and is not markedly worse than it (by ``warn_gap``) is not listed again.

    The search is exhaustive and vectorised: one ``bincount`` per feature and per pair of
    features (at most ``pair_features`` features take part in pairs, those whose levels
    differ most in loss). On a test split of more than ``search_rows`` rows the pairs are
    searched on a seeded sample of that many rows, and the 500 most significant pair
    candidates are re-counted and re-tested on all rows; the candidates not re-counted stay
    in the Benjamini–Hochberg family with p = 1, which is conservative. Single-feature
    segments are always counted on all rows. The evidence says how much was sampled.

    Why it matters
    --------------
    An overall score averages over everyone. A model can be good on average and wrong for one
    region, one product line, one kind of customer: the rows where it fails are the ones a
    user will notice. Knowing where errors cluster tells you what to fix, and whether the fix
    is in the model or in the data: where the reference baselines fail as well, the segment
    is hard or its labels are noisy; where only the model fails, the model missed something a
    simple model gets.

    How it decides
    --------------
    A segment warns when its q-value (Benjamini–Hochberg over all candidates) is at most
    ``fdr`` and its loss is at least ``warn_gap`` times the rest's, so that a large test set
    alone never flags a trivial difference.

    Each listed segment, and each one large and bad enough to fail (below), is compared with
    the reference baselines qa-gate fits on train (linear and XGBoost) on the same rows (the
    baselines are fitted only when some segment is flagged): a paired one-sided test that the
    reference errs
    less (a sign test on the rows one gets right and the other wrong; a t-test on the paired
    differences of absolute error), adjusted by Benjamini–Hochberg over every segment and
    reference compared. A reference that closes at least half of the model's excess there
    (segment loss minus the rest's) at q <= ``fdr`` makes it a *model problem*. When
    instead the best reference is itself at least ``warn_gap`` times worse on the segment
    than off it, the segment is hard or its labels are noisy: a *data or labelling problem*,
    which warns and says so.

    A segment fails when all of these hold: it holds at least ``fail_support`` of the test
    rows; its loss is at least ``fail_gap`` times the rest's; its q-value is at most the
    check's share of the gate's false-alarm budget (``thresholds.false_alarm_share``; the
    whole ``[run] false_alarm_rate`` when run alone); and a reference closes half of the
    model's excess there at a q-value within that share as well. This is the check's one
    fail rule resting on a test. Both q-values are held to the share because a sound model's
    errors do cluster (near the decision boundary, in noisy regions), so the segment test
    alone is no protection; the reference test is what separates a model that missed
    something from a hard segment. A segment large and bad enough whose reference lead is
    significant only at ``fdr`` warns and says so.

    How to fix
    ----------
    Read the segments named in the evidence. When only the model fails there (a model
    problem): check how the model sees those features (encoding, a category unseen in
    training, a range clipped in preprocessing), give it more training rows from the segment
    or weight them up, or add a feature that separates the segment. When the baselines fail
    there too (a data problem): audit the segment's labels, look for a missing feature that
    would explain its outcomes, and report the metric per segment so that users know where
    the model is weak.
    """

    id = "weak-segments"
    title = "No segment where errors cluster (weak segments)"
    requires = ("test", "predictions")
    severity = "error"
    fail_tests = 1

    @dataclass(frozen=True)
    class Params(EvaluationParams):
        n_bootstrap: int = param(
            400,
            "Bootstrap resamples for each listed segment's metric interval (below 20: none).",
            ge=0,
            le=100_000,
        )
        max_bootstrap_rows: int = param(
            5000,
            "A larger segment bootstraps a seeded subsample of this many rows and rescales the "
            "spread to its size.",
            ge=500,
        )
        segment_rows: int = param(30, "Fewest test rows a segment may have.", ge=2)
        segment_share: float = param(
            0.02, "Smallest share of the test rows a segment may have.", ge=0.0, lt=0.5
        )
        n_bins: int = param(10, "Quantile bins per numeric or datetime feature.", ge=2, le=50)
        top_levels: int = param(
            20,
            "Most frequent categories kept per categorical feature; the rest form one level.",
            ge=1,
            le=200,
        )
        pairs: bool = param(True, "Search pairs of features as well as single features.")
        pair_features: int = param(
            50,
            "Features taking part in the pair search (those whose levels differ most in loss).",
            ge=2,
            le=500,
        )
        search_rows: int = param(
            200_000,
            "Test rows above which pairs are searched on a seeded sample of this many rows "
            "(the best candidates are then re-tested on all rows).",
            ge=1000,
        )
        fdr: float = param(0.05, "False discovery rate at which a segment warns.", gt=0.0, le=0.5)
        warn_gap: float = param(
            1.25,
            "A segment warns only when its loss is at least this many times the rest's.",
            ge=1.0,
        )
        fail_support: float = param(
            0.05, "Smallest share of the test rows a failing segment holds.", ge=0.0, le=1.0
        )
        fail_gap: float = param(
            2.0,
            "A segment fails only when its loss is at least this many times the rest's.",
            ge=1.0,
        )
        report_segments: int = param(10, "Segments listed in the evidence.", ge=1, le=100)

    # ------------------------------------------------------------------ run
    def run(self, ctx: Context, params: Params) -> CheckResult:
        if not ctx.has_labels(SPLIT):
            return self.skip(f"the test split has no target column {ctx.target!r}")
        y = ctx.labels(SPLIT)
        n = len(y)
        min_rows = max(params.segment_rows, math.ceil(params.segment_share * n))
        if n < 2 * min_rows:
            return self.skip(
                f"the test split has {n:,} rows; a segment needs {min_rows:,} rows and as many "
                "outside it"
            )
        preds = ctx.predictions(SPLIT)
        metric, fallback = choose_metric(ctx, params.metric, f"checks.{self.id}.metric", [preds])
        loss = row_losses(ctx.task, y, preds, _positive(ctx), params.decision_threshold)
        # measure
        search = search_segments(ctx, params, loss, min_rows)
        # decide
        alpha = ctx.false_alarm_share(self.id)
        segments = judge_segments(ctx, params, search, loss, alpha)
        status = decide([s.verdict for s in segments])
        # explain
        reported = with_metrics(ctx, params, metric, listed(segments, params), search, y, preds)
        return self._explain(
            params, status, reported, segments, search, loss, alpha, metric, fallback
        )

    def _explain(
        self,
        params: Params,
        status: Status,
        reported: list[Segment],
        segments: list[Segment],
        search: Search,
        loss: np.ndarray,
        alpha: float,
        metric: Metric,
        fallback: str,
    ) -> CheckResult:
        n, regression = len(loss), search.regression
        overall = float(loss.mean())
        loss_name = "MAE" if regression else "error rate"
        failing = [s for s in segments if s.verdict == "fail"]
        warned = [s for s in segments if s.verdict == "warn"]
        if status == "fail":
            named = main_failures(segments)
            inside = len(failing) - len(named)
            message = f"{len(named)} segment(s) fail" + (
                f" (and {inside} pair(s) inside them)" if inside else ""
            )
            message += ": " + "; ".join(_describe(s, n, loss_name, regression) for s in named[:3])
            at_fault = named
        elif status == "warn":
            message = (
                f"{len(warned)} segment(s) significantly worse than the rest (FDR "
                f"{fmt_level(params.fdr)}); worst: "
                + "; ".join(_describe(s, n, loss_name, regression) for s in reported[:3])
            )
            data = [s for s in reported if s.diagnosis == "data"]
            if data:
                message += (
                    f". Where the baselines fail as well ({len(data)} of the listed), it is a "
                    "data or labelling problem rather than the model's"
                )
            short = [s for s in warned if s.eligible and s.diagnosis == "model"]
            if short:
                message += (
                    f". {len(short)} segment(s) are large and bad enough to fail, but the "
                    "baselines' lead there is not established at the gate's false-alarm level "
                    f"(q <= {alpha:.3g})"
                )
            at_fault = [s for s in warned if not s.redundant]
        else:
            message = (
                f"no segment of at least {search.min_rows:,} rows is significantly worse than "
                f"the rest ({search.family:,} candidate segments, FDR {fmt_level(params.fdr)})"
            )
            at_fault = []
        message += f"; overall {loss_name} {_fmt_loss(overall, regression)} on {n:,} test rows"
        if status != "fail":
            message += power_note(n, overall, alpha, search.family, params, regression)
        subjects = list(dict.fromkeys(c for s in at_fault for c in s.columns))
        worst = max(segments, key=lambda s: s.excess, default=None)
        metrics = {
            "test_rows": n,
            f"overall_{'mae' if regression else 'error_rate'}": overall,
            "n_candidates": search.family,
            "n_candidates_single": search.n_single,
            "n_candidates_pairs": search.n_pairs,
            "search_rows": search.search_rows,
            "n_flagged": len(failing) + len(warned),
            "n_failing": len(failing),
            "worst_segment_loss": worst.loss_in if worst else None,
            "worst_segment_ratio": worst.ratio if worst else None,
            "worst_segment_rows": worst.rows if worst else None,
        }
        thresholds = {
            "segment_rows": search.min_rows,
            "fdr": params.fdr,
            "warn_gap": params.warn_gap,
            "fail_support": params.fail_support,
            "fail_gap": params.fail_gap,
            "q_to_fail": alpha,
        }
        return self.result(
            status,
            message,
            subjects=subjects,
            metrics=metrics,
            thresholds=thresholds,
            evidence=[_table(reported, n, loss_name, metric, search, fallback)] if reported else [],
            charts=[_chart(reported, overall, loss_name)] if reported else [],
        )


def _positive(ctx: Context) -> int:
    return ctx.positive_index if ctx.task == "binary" else 1


# --------------------------------------------------------------------------- the steps of run
@dataclass(frozen=True)
class Search:
    """What the search found: the features, the tested candidates and their q-values."""

    features: list[SegmentFeature]
    cands: Candidates
    tested: Tested
    q: np.ndarray
    #: Size of the Benjamini–Hochberg family: single-feature plus pair candidates.
    n_single: int
    n_pairs: int
    min_rows: int
    #: Rows the pair search ran on (all test rows unless sampled).
    search_rows: int
    regression: bool
    note: str

    @property
    def family(self) -> int:
        return self.n_single + self.n_pairs


def search_segments(ctx: Context, params: Any, loss: np.ndarray, min_rows: int) -> Search:
    """Singles on all rows; pairs on all rows, or on a seeded sample of ``search_rows`` and
    the :data:`CONFIRM_CANDIDATES` best re-counted on all rows; tests and BH q-values."""
    n = len(loss)
    binary_loss = ctx.task != "regression"
    sample: np.ndarray | None = None
    if n > params.search_rows:
        rng = np.random.default_rng(ctx.seed)
        sample = np.sort(rng.choice(n, size=params.search_rows, replace=False))
    features = segment_features(ctx, params, min_rows)
    singles = single_segments(features, loss, min_rows)
    pairs = Candidates.concat([])
    note = f"all {n:,} test rows searched"
    n_pairs = 0
    if params.pairs and len(features) >= 2:
        chosen = pair_features(features, singles, loss, params.pair_features)
        if sample is None:
            pairs = pair_segments(features, chosen, loss, None, min_rows, binary_loss)
            n_pairs = len(pairs)
        else:
            scaled = max(2, int(0.8 * min_rows * len(sample) / n))
            found = pair_segments(features, chosen, loss, sample, scaled, binary_loss)
            n_pairs = len(found)
            sub = loss[sample]
            prelim = segment_tests(found, len(sample), sub.sum(), (sub * sub).sum(), binary_loss)
            top = np.lexsort((np.arange(len(found)), prelim.p))[:CONFIRM_CANDIDATES]
            recounted = confirm_pairs(found.take(np.sort(top)), RowIndex(features), loss)
            big = (recounted.n >= min_rows) & (n - recounted.n >= min_rows)
            pairs = recounted.take(np.flatnonzero(big))
            note = (
                f"single features on all {n:,} test rows; pairs searched on a seeded sample "
                f"of {len(sample):,} rows ({len(sample) / n:.0%}), the {len(recounted):,} most "
                f"significant pair candidates re-counted on all rows and the {len(pairs):,} "
                "of them with enough rows re-tested (the others count with p = 1)"
            )
        if len(chosen) < len(features):
            note += (
                f"; pairs among the {len(chosen)} of {len(features)} features whose levels "
                "differ most"
            )
    cands = Candidates.concat([singles, pairs])
    tested = segment_tests(cands, n, loss.sum(), (loss * loss).sum(), binary_loss)
    family = len(singles) + n_pairs
    p_all = np.concatenate([tested.p, np.ones(family - len(cands))])
    q = benjamini_hochberg(p_all)[: len(cands)]
    note += (
        f"; q: Benjamini–Hochberg over {family:,} candidate segments ({len(singles):,} "
        f"single-feature, {n_pairs:,} pairs)"
    )
    return Search(
        features=features,
        cands=cands,
        tested=tested,
        q=q,
        n_single=len(singles),
        n_pairs=n_pairs,
        min_rows=min_rows,
        search_rows=n if sample is None else len(sample),
        regression=not binary_loss,
        note=note,
    )


def judge_segments(
    ctx: Context, params: Any, search: Search, loss: np.ndarray, alpha: float
) -> list[Segment]:
    """Every flagged or fail-eligible segment with its verdict, largest excess first (the
    fail-eligible ones ahead).

    The reference baselines are compared with the model on the fail-eligible segments (at
    most :data:`MAX_JUDGED`) and on the first ``report_segments`` that are not redundant;
    their paired p-values are adjusted by Benjamini–Hochberg over every (segment, reference)
    pair compared. A reference clearly better at q <= ``fdr`` makes the diagnosis "model"; a
    fail needs it at q <= ``alpha``, the check's share of the false-alarm budget.
    """
    cands, tested, q = search.cands, search.tested, search.q
    n = len(loss)
    ratios = np.array(
        [ratio_of(a, b) for a, b in zip(tested.mean_in, tested.mean_out, strict=True)]
    )
    flagged = np.array([is_flagged(qi, r, params) for qi, r in zip(q, ratios, strict=True)], bool)
    eligible = np.array(
        [
            could_fail(ni / n, r, qi, alpha, params)
            for ni, r, qi in zip(cands.n, ratios, q, strict=True)
        ],
        bool,
    )
    idx = np.flatnonzero(flagged | eligible)
    if len(idx) == 0:
        return []
    excess = cands.n[idx] * (tested.mean_in[idx] - tested.mean_out[idx])
    order = idx[np.lexsort((idx, -excess, ~eligible[idx]))]
    z = NormalDist().inv_cdf(0.5 + params.confidence / 2)
    # which segments are redundant, and which get compared with the references
    segments: list[Segment] = []
    judged: list[int] = []
    kept_singles: dict[tuple[int, int], float] = {}
    n_eligible = n_listed = 0
    for i in order:
        key = (int(cands.fa[i]), int(cands.la[i]), int(cands.fb[i]), int(cands.lb[i]))
        seg = _segment(search, key, int(i), z)
        redundant = key[2] >= 0 and any(
            k in kept_singles and seg.loss_in < params.warn_gap * kept_singles[k]
            for k in (key[:2], key[2:])
        )
        if (eligible[i] and n_eligible < MAX_JUDGED) or (
            not redundant and n_listed < params.report_segments
        ):
            judged.append(len(segments))
            n_eligible += int(eligible[i])
        segments.append(replace(seg, redundant=redundant))
        if not redundant:
            n_listed += 1
            if key[2] < 0:
                kept_singles[key[:2]] = seg.loss_in
    # the references on the judged segments, adjusted together
    ref_losses = reference_losses(ctx, params) if judged else {}
    index = RowIndex(search.features)
    compared = {
        j: [
            reference_on_segment(
                name, loss, r, index.segment(*segments[j].key), not search.regression
            )
            for name, r in ref_losses.items()
        ]
        for j in judged
    }
    ref_q = iter(benjamini_hochberg(np.array([r.p for refs in compared.values() for r in refs])))
    out = []
    for j, seg in enumerate(segments):
        i = int(order[j])
        refs = tuple(replace(r, q=float(next(ref_q))) for r in compared.get(j, []))
        diagnosis = diagnose(refs, seg.loss_in, seg.loss_out, params.warn_gap, params.fdr)
        established = any(clearly_better(r, seg.loss_in, seg.loss_out, alpha) for r in refs)
        verdict = segment_verdict(bool(flagged[i]), bool(eligible[i]), established)
        out.append(
            replace(
                seg,
                references=refs,
                diagnosis=diagnosis,
                verdict=verdict,
                eligible=bool(eligible[i]),
            )
        )
    return out


def _segment(search: Search, key: tuple[int, int, int, int], i: int, z: float) -> Segment:
    fa, la, fb, lb = key
    features, tested = search.features, search.tested
    description = features[fa].descriptions[la]
    columns: tuple[str, ...] = (features[fa].name,)
    if fb >= 0:
        description += f" and {features[fb].descriptions[lb]}"
        columns += (features[fb].name,)
    mean_in, mean_out = float(tested.mean_in[i]), float(tested.mean_out[i])
    gap, se = mean_in - mean_out, float(tested.se[i])
    return Segment(
        key=key,
        description=description,
        columns=columns,
        rows=int(search.cands.n[i]),
        loss_in=mean_in,
        loss_out=mean_out,
        gap_ci=(gap - z * se, gap + z * se),
        q=float(search.q[i]),
    )


def reference_losses(ctx: Context, params: Any) -> dict[str, np.ndarray]:
    """Per-row losses of the reference baselines on test (fitted once per run)."""
    y = ctx.labels(SPLIT)
    return {
        name: row_losses(
            ctx.task, y, b.predictions[SPLIT], _positive(ctx), params.decision_threshold
        )
        for name, b in ctx.baselines().items()
        if name in REFERENCES and SPLIT in b.predictions
    }


def main_failures(segments: Sequence[Segment]) -> list[Segment]:
    """The failing segments worth naming, by excess loss: a failing pair inside a failing
    single-feature segment, and not markedly worse than it, only repeats its parent."""
    fail = [s for s in segments if s.verdict == "fail"]
    singles = {s.key[:2] for s in fail if s.key[2] < 0}
    shown = [s for s in fail if not (s.redundant and {s.key[:2], s.key[2:]} & singles)]
    return sorted(shown, key=lambda s: -s.excess)


def listed(segments: list[Segment], params: Any) -> list[Segment]:
    """The segments to report: the failing ones worth naming first, then the others that
    are not redundant, each group by excess loss."""
    rest = sorted(
        (s for s in segments if s.verdict != "fail" and not s.redundant), key=lambda s: -s.excess
    )
    return (main_failures(segments) + rest)[: params.report_segments]


def with_metrics(
    ctx: Context,
    params: Any,
    metric: Metric,
    segments: list[Segment],
    search: Search,
    y: np.ndarray,
    preds: Predictions,
) -> list[Segment]:
    """Each segment with the primary metric on its rows (bootstrap interval; None where it is
    not computable there, e.g. AUC on a segment of one class) and the best reference's."""
    if not segments:
        return []
    index = RowIndex(search.features)
    baselines = ctx.baselines()
    out = []
    for seg in segments:
        rows = index.segment(*seg.key)
        scorer = _scorer(ctx, params, metric, y, preds, rows)
        boot = run_bootstrap(
            {"model": scorer},
            len(rows),
            n_resamples=params.n_bootstrap,
            seed=ctx.seed,
            max_rows=params.max_bootstrap_rows,
            confidence=params.confidence,
        )
        best = seg.best_reference
        ref_metric = None
        if best is not None:
            ref_preds = baselines[best.name].predictions[SPLIT]
            ref_metric = _scorer(ctx, params, metric, y, ref_preds, rows).point
        out.append(
            replace(
                seg, metric=scorer.point, metric_ci=boot.ci("model"), reference_metric=ref_metric
            )
        )
    return out


def _scorer(
    ctx: Context, params: Any, metric: Metric, y: np.ndarray, preds: Predictions, rows: np.ndarray
) -> Any:
    sub = Predictions(
        split=preds.split,
        labels=None if preds.labels is None else preds.labels[rows],
        proba=None if preds.proba is None else preds.proba[rows],
        values=None if preds.values is None else preds.values[rows],
        source=preds.source,
    )
    return make_scorer(
        metric,
        ctx.task,
        y[rows],
        sub,
        positive_index=_positive(ctx),
        n_classes=len(ctx.classes),
        decision_threshold=params.decision_threshold,
        class_names=ctx.class_names,
    )


def power_note(n: int, overall: float, alpha: float, m: int, params: Any, regression: bool) -> str:
    """The underpowered note when a segment of ``fail_support`` of the rows at ``fail_gap``
    times the error rate could not reach the fail rule's level (Bonferroni over the
    candidates, the strictest rank of Benjamini–Hochberg) on these rows; classification only."""
    if regression or overall <= 0 or m == 0:
        return ""
    size = max(1.0, params.fail_support * n)
    rest = max(1.0, n - size)
    z = NormalDist().inv_cdf(1 - alpha / m)
    p = min(overall, 0.5)
    detectable = z * math.sqrt(p * (1 - p) * (1 / size + 1 / rest))
    target = (params.fail_gap - 1) * overall
    if detectable <= target:
        return ""
    return "; " + underpowered_note(
        n,
        "test rows",
        f"an excess error rate of {detectable:.3f} in a {params.fail_support:.0%} segment",
        more_rows_needed(n, detectable, target),
        f"{target:.3f} ({params.fail_gap:g}× the error rate)",
    )


def _table(
    reported: list[Segment], n: int, loss_name: str, metric: Metric, search: Search, fallback: str
) -> Evidence:
    rows = []
    for s in reported:
        best = s.best_reference
        rows.append(
            (
                s.description,
                s.rows,
                s.rows / n,
                s.loss_in,
                s.loss_out,
                None if math.isinf(s.ratio) else s.ratio,
                s.gap_ci[0],
                s.gap_ci[1],
                s.q,
                s.metric,
                s.metric_ci[0],
                s.metric_ci[1],
                best.name if best else None,
                best.loss_in if best else None,
                s.reference_metric,
                _DIAGNOSIS_TEXT[s.diagnosis],
                s.verdict,
            )
        )
    columns = [
        "segment",
        "rows",
        "share of test",
        f"model {loss_name}",
        f"{loss_name} on the rest",
        "ratio",
        "gap CI low",
        "gap CI high",
        "q",
        f"model {metric.name}",
        f"{metric.name} CI low",
        f"{metric.name} CI high",
        "best baseline",
        f"baseline {loss_name}",
        f"baseline {metric.name}",
        "diagnosis",
        "verdict",
    ]
    loss_text = (
        "loss = absolute error"
        if search.regression
        else "loss = 1 where the predicted class is wrong"
    )
    text = "; ".join(filter(None, [loss_text, search.note, fallback]))
    return table("Weakest segments of the test split, worst first", columns, rows, note=text)


def _chart(reported: list[Segment], overall: float, loss_name: str) -> Chart:
    shown = reported[:MAX_CHART_SEGMENTS]
    best = [s.best_reference for s in shown]
    return Chart(
        "bars",
        f"{loss_name.capitalize()} in the weakest segments (line: overall {loss_name})",
        {
            "labels": [s.description for s in shown],
            "series": {
                f"model {loss_name}": [s.loss_in for s in shown],
                f"best baseline {loss_name}": [b.loss_in if b else None for b in best],
            },
            "threshold": overall,
        },
    )
