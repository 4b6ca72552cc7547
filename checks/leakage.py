"""Does anything leak between the splits or from the target into the features?"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from qa import profile as profile_module
from qa import stats
from qa.base import Check, CheckResult, Evidence, param, table
from qa.budget import per_test, underpowered_note
from qa.context import Context
from qa.encoding import ColumnKind, FeatureEncoder, column_values
from qa.errors import DataError, ModelError
from qa.models import (
    LoadedModel,
    ModelMeta,
    _estimator_input,
    load_artifact,
    preflight_artifact,
)
from qa.profile import HASH_SPACE, NumericProfile, Profile, RowHashes, keep_below
from qa.time_axis import (
    beyond_range_share,
    calendar_span_s,
    candidate_parts,
    comparable_parts,
    declare_hint,
    is_calendar_feature,
    looks_like_time_axis,
)

if TYPE_CHECKING:
    from qa.profile_context import ProfileContext

HASH_SEED = 20240601
#: Fail rules resting on a test: the overlap chance test (BH across splits) and the target-proxy
#: rank tests (Bonferroni across features). The check's share of the budget is split evenly.
TESTED_DETECTORS = ("overlap", "target-proxy")
#: Quantile bins of the one-feature lookup model for numeric features.
N_BINS = 128
#: A column tells records apart when distinct records (different feature rows) share its value
#: for at most this share of train rows (corrected for the chance that the rest of the row
#: matches too): a continuous measurement, a high-cardinality code. A value that only identical
#: rows hold in such a column marks them as copies of one record.
MAX_IDENTITY_TIES = 0.01
#: A fine-grained column (a measurement with a few significant digits): distinct records share
#: its value for at most this share of train rows. Two of them tying by chance on a copy is
#: not plausible; one alone can tie.
MAX_FINE_TIES = 0.10
#: Quantile bins hold about this many rows at least (fewer bins on small samples).
ROWS_PER_BIN = 10
#: A numeric column is discrete (one lookup code per value) when its values average this many rows.
ROWS_PER_VALUE = 5
#: Classes with fewer sampled rows are left out of the target-proxy detector (and listed).
MIN_PROXY_CLASS_ROWS = 5


@dataclass
class DetectorOutcome:
    """What one leakage detector found: fired or not, its worst number against its bar, a
    one-line summary, its evidence tables and the splits or columns it names."""

    detector: str
    fired: bool
    observed: float | None
    bar: float | None
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    #: What the detector could not rule out (e.g. too few rows to test); shown even on a pass.
    caveat: str = ""
    #: Beyond its bar and significant at the warning level, not at the fail level: warn.
    suspect: bool = False


class Leakage(Check):
    """Leakage between the splits and from the target into a feature.

    What it checks
    --------------
    Six detectors, each reported on its own line: (1) ``overlap`` — feature rows of
    validation, test or production that appear exactly in train (rows hashed over the feature
    columns); (2) ``group`` — the same entity (the ``[task] group`` column) in train and in
    validation or test; (3) ``time`` — validation or test rows earlier than the latest train row
    (the ``[task] time`` column); (4) ``target-proxy`` — a single feature that predicts the
    target almost perfectly, on the columns of the shared feature encoder (a date/datetime
    feature by its calendar parts: hour, weekday, month); (5) ``conflicts`` — copies of one
    train record (or rows of one declared ``[task] id``) with different labels
    (classification); (6) ``preprocessing`` — preprocessing fitted on more than train: in a
    scikit-learn pipeline artifact (skops, or a pickle with ``--trust-model``), a step whose
    row count (n_samples_seen_) exceeds train's rows, or whose fitted statistics (StandardScaler
    mean_ and scale_, MinMaxScaler data_min_ and data_max_, MaxAbsScaler max_abs_, RobustScaler
    center_, SimpleImputer statistics_ for the mean and median strategies) equal those of train
    pooled with validation and/or test rather than train's; and, from the data alone, a float
    feature whose pooled splits have mean 0 and standard deviation 1 exactly (or minimum 0 and
    maximum 1) while train alone does not. Any other artifact (XGBoost, ONNX, TorchScript, a
    bare estimator) is not applicable to the first part.

    On profiles (``--engine``, ``--reference``), ``overlap`` and ``conflicts`` read the row
    hashes each profile keeps (of the features, and of features + target). Exact while both
    splits have at most 1,000,000 rows; beyond that, estimated on the rows whose feature hash
    falls below both profiles' hash thresholds (a uniform sample of about 1,000,000 × the
    split's rows / the larger split's rows), with that number and a 95 % interval reported
    (``overlap_share_low_<split>``, ``overlap_share_high_<split>``); train's own duplicate share
    comes from the same hashes, and the chance test runs on the rows judged. Rows of a labelled
    split found in train with another label are noted (``cross_conflict_share_<split>``).
    ``time`` is exact: train's latest time is an edge of the time column's bins. What needs each
    row's values runs on the engine's seeded sample, its size stated: the record-copy rule
    (which rows found in train copy one of its own records: their share on the sample, applied
    to the count on the hashes), telling copies of one record from coarse rows among the
    conflicts (likewise), ``group`` (a lower bound when sampled) and ``target-proxy``. Against a
    stored reference (no train rows) ``group`` and ``target-proxy`` do not run, train's
    conflicts are counted but not judged, and the record-copy rule holds only where a
    categorical feature has as many distinct values as train has distinct rows (an exact count,
    under 1,024 values: every record holds its own value); otherwise the share and the chance
    test decide. A split hashed by another function than train (profiled by another engine) is
    not compared. ``preprocessing`` runs on profiles too: pooled moments, minima and maxima
    are the splits' profiles merged, and row counts are the profiles'; a pipeline step's
    statistics are judged only where it reads the raw feature columns (later steps by their row
    counts), and medians (imputer median strategy, RobustScaler) need rows and are not judged.

    Why it matters
    --------------
    A test row the model has already seen, an entity it has memorised, a future it has peeked
    at, or a column that is the label in disguise all make test scores promise what production
    will not deliver. Copies of one record labelled twice mean at least one label is wrong.
    Identical rows in a coarse feature space (a few ratings or categories) are different
    records: that their labels differ is the target's own ambiguity (P(y|x) is not 0 or 1),
    not a defect. A raw timestamp is not such a column merely because time moves: when
    the label rate drifts over the months of train, the timestamp of rows in time order
    "predicts" it without anything leaking. A scaler or imputer fitted on all the splits
    carries statistics of the test rows into training: the test set has shaped the model, the
    same habit leaks worse (target encodings, feature selection), and it breaks on the first
    production batch, where no such pooling is possible.

    How it decides
    --------------
    Any detector firing fails the check. Two fail rules rest on a test (``overlap``'s chance
    test and ``target-proxy``'s rank tests): they share the check's part of the gate's
    false-alarm budget (``[run] false_alarm_rate``) evenly, reported as
    ``thresholds.alpha_per_test``; the others are fixed rules. ``overlap``: in a coarse feature space (few categorical
    levels) test rows match train by chance about as often as train rows match each other, so
    the share of split rows found in train minus train's own duplicate share must stay within
    ``max_overlap_share`` (default 1 %: under one point of any test metric), and the count must be
    unlikely by chance: an exact beta-binomial tail with train's duplicate rate as the chance
    rate (Beta(dups + 1, train rows - dups + 1)), Benjamini–Hochberg across splits at the
    detector's share of the budget. A split too small for that test (two copied rows of 27 can
    be chance when train has duplicates of its own) is named as underpowered, with the fewest
    copied rows that would fire and how many more split rows would detect the share found,
    both under the same BH rule as the decision; when its q-value is still within the warning
    level (0.05) the check warns ("possible leakage"). Rows that copy one of train's own
    records need no chance test: when the matched train row holds a value no other record
    holds in a column that tells records apart (distinct records share its value for at most
    1 % of rows: a continuous measurement, a high-cardinality code), or in two fine-grained
    columns (at most 10 %: measurements rounded to a few digits), every feature would have to
    tie by chance, so those copies beyond train's own duplicate share and
    ``max_overlap_share`` fail as a fixed rule (``overlap_record_copies_<split>``). ``group``: the share of split rows whose entity is also in
    train must not exceed ``max_group_overlap_share`` (default 0: a declared group must never
    cross the split). ``time``: the share of validation/test rows strictly earlier than the last
    train row must not exceed ``max_time_overlap_share`` (default 0). Production is checked for
    overlap only: seeing known entities and past dates there is normal. ``target-proxy``: on at
    most ``max_proxy_rows`` train rows (the sample size is reported), each feature alone:
    the rank AUC of its raw value (one-vs-rest, its worst class: a proxy identifies every
    class, so one easily separated class must not lift an average); for numeric features a
    fit-free rank
    separability (rows sorted by the feature, ties in seeded random order: 1 when the labels
    change only K-1 times, as for a perfect proxy in any class order, 0 for as many changes as
    a random order gives); and, through a one-feature lookup model (up to 128 quantile bins of
    at least ~10 rows, or one code per value for discrete columns and categories; a shallow
    tree's equivalent that also sees non-monotone relations) fit on one half and scored on the
    other, its held-out AUC (worst class again) and its held-out mutual information as a share of the target's
    entropy; regression uses R². A score at or above ``min_proxy_score`` (0.99) fires — the
    in-sample rank scores only when also significant (exact or tie-corrected Mann–Whitney per
    class, a normal runs test for separability; p below the detector's share of the budget /
    number of features, Bonferroni), so a class of one or two extreme rows cannot score 1.0 by
    itself. Classes with fewer than 5 sampled
    rows are left out of this detector and listed. Cross-fitting keeps ID-like columns (unique
    per row) from scoring on mutual information; they are also left out of that rule explicitly.
    A date/datetime feature not declared ``[task] time`` is judged on its calendar parts, never
    its raw value: the hour (when it has a time of day), weekday and month, each only when
    train spans three of its cycles (3 days, 3 weeks, 3 years); a part still carries the
    column's missing pattern, so a date filled only for one class is caught. The result names
    the parts judged and, when another split lies mostly outside train's dates, says the column
    looks like the time axis and suggests declaring it ``[task] time``; the ``time`` detector
    for a declared time column is unchanged.
    ``conflicts`` judges only rows that are the same record: identical train feature rows with
    more than one label that hold, in some feature, a value no other train row holds, in a
    column that tells records apart (distinct feature rows share its values for at most 1 % of
    train rows, their ties divided by the chance that two rows differ in the other columns, so
    ties hidden among identical rows count too: a continuous measurement, a high-cardinality
    code), and rows of one declared ``[task] id`` with different labels. Their share of train
    rows must not exceed ``max_conflict_share`` (default 1 %); a fixed rule, since identity
    columns make chance collisions negligible by construction. Identical coarse rows with
    different labels (every column repeats naturally: ratings, categories, rounded numbers, or
    a single feature whose ties cannot be told from copies) are reported as a note, never a
    failure: they measure the target's ambiguity, and are evidence for ``label-noise`` at most.
    ``preprocessing`` rests on fixed rules (no share of the budget). The pipeline is walked as
    the model reads its input (nested pipelines in order, each step reading the previous one's
    output; a ColumnTransformer's transformers on their column lists); columns are named by
    feature_names_in_, the column lists and each earlier step's output names, and statistics
    of columns that cannot be named are skipped and counted. A step fails when its
    n_samples_seen_ exceeds train's rows (per column: train's non-missing values) — unless its
    statistics equal train's (repeated partial_fit), or the count is not a whole number (a sum
    of sample weights) — or when every fitted statistic that tells train from a pooled set
    (train+validation, train+test, train+validation+test) equals the pooled value, at least one
    does. Equal: within the larger of 1e-6 × (|train value| + the column's sd), numerical
    precision (float32 storage, CSV round trips), and 0.001 standard errors of the
    pooled-minus-train difference (for a mean sd·√(n_other / (n_pooled·n_train)); a standard
    deviation's is that / √2, a median's × √(π/2); minima and maxima are data values and get
    the numeric tolerance only). Told apart: train's and the pooled value differ by 10 such
    tolerances. A fit on other rows of the same data lands about one standard error from the
    pooled value, a fit on exactly the pooled rows agrees to rounding, so a match is not
    chance; when train and the pooled set agree that closely the statistic is not used.
    From the data alone it warns, never fails: a float feature whose pooled splits have mean
    within 1e-6 of 0 and standard deviation (population or sample) within 1e-6 of 1, or
    minimum within 1e-6 of 0 and maximum of 1 with values between (not a 0/1 indicator), while
    train alone is not so.

    How to fix
    ----------
    Deduplicate before splitting and split by entity (group) and by time; drop the rows of the
    evidence from train or re-split. Remove or rebuild a target-proxy feature (it is usually
    computed from the label or recorded after it). Declare a timestamp that orders the rows
    as ``[task] time``. Relabel copies of one record consistently and keep one copy; declare
    the row identifier as ``[task] id`` so rows of one record are recognised. Split before
    any preprocessing that learns (scaling, imputation, encoding): fit the scaler or imputer on
    train only — inside the model's Pipeline, so cross-validation and refits keep it there —
    and only transform validation, test and production with it.
    """

    id = "leakage"
    title = "No leakage between splits or from the target"
    requires = ("train",)
    severity = "error"
    fail_tests = len(TESTED_DETECTORS)
    profiles_supported = True

    @dataclass(frozen=True)
    class Params:
        max_overlap_share: float = param(
            0.01,
            "Share of a split's rows found in train, beyond chance, before failing.",
            ge=0,
            le=1,
        )
        max_group_overlap_share: float = param(
            0.0, "Share of validation/test rows whose group also appears in train.", ge=0, le=1
        )
        max_time_overlap_share: float = param(
            0.0, "Share of validation/test rows earlier than the latest train row.", ge=0, le=1
        )
        min_proxy_score: float = param(
            0.99,
            "One-feature AUC, normalised mutual information or R² that marks a target proxy.",
            gt=0,
            le=1,
        )
        max_proxy_rows: int = param(
            200_000, "Train rows sampled (seeded) for the target-proxy detector.", ge=100
        )
        max_conflict_share: float = param(
            0.01,
            "Share of train rows that are copies of one record (or share an id) with "
            "conflicting labels.",
            ge=0,
            le=1,
        )
        max_rows_shown: int = param(20, "Example rows listed per detector.", ge=1)

    def run(self, ctx: Context, params: Params) -> CheckResult:
        metrics: dict[str, Any] = {}
        hashes = _row_hashes(ctx)
        alpha = per_test(ctx.false_alarm_share(self.id), self.fail_tests)
        findings = [
            _overlap(ctx, params, hashes, metrics, alpha),
            _groups(ctx, params, metrics),
            _time(ctx, params, metrics),
            _target_proxy(ctx, params, metrics, alpha),
            _conflicts(ctx, params, hashes, metrics),
            _preprocessing(ctx, params, metrics),
        ]
        return self._conclude(findings, metrics, params, alpha)

    def run_profiles(self, pctx: ProfileContext, params: Params) -> CheckResult:
        """The same detectors, measured on profiles (see *On profiles* above)."""
        metrics: dict[str, Any] = {}
        sample = _sample_rows(pctx)
        alpha = per_test(pctx.false_alarm_share(self.id), self.fail_tests)
        findings = [
            _profile_overlap(pctx, sample, params, metrics, alpha),
            _profile_groups(pctx, sample, params, metrics),
            _profile_time(pctx, sample, params, metrics),
            _profile_target_proxy(sample, params, metrics, alpha),
            _profile_conflicts(pctx, sample, params, metrics),
            _profile_preprocessing(pctx, params, metrics),
        ]
        if all(f.summary.startswith("not run") for f in findings):
            reasons = "; ".join(f"{f.detector} {f.summary}" for f in findings)
            return self.skip(f"no leakage detector could run on these profiles: {reasons}")
        return self._conclude(findings, metrics, params, alpha)

    def _conclude(
        self, findings: list[DetectorOutcome], metrics: dict[str, Any], params: Params, alpha: float
    ) -> CheckResult:
        """Decide over the detectors' outcomes and explain: one line per detector, its evidence."""
        thresholds = _thresholds(params, alpha)
        summary = table(
            "Leakage detectors",
            ["detector", "fired", "observed", "bar", "finding"],
            [(f.detector, f.fired, f.observed, f.bar, f.summary) for f in findings],
        )
        evidence = [summary] + [e for f in findings for e in f.evidence]
        shown: dict[str, Any] = {"metrics": metrics, "thresholds": thresholds, "evidence": evidence}
        if decide(findings) == "fail":
            fired = [f for f in findings if f.fired]
            subjects = [s for f in fired for s in [f.detector, *f.subjects]]
            message = "; ".join(f"{f.detector}: {f.summary}" for f in fired)
            return self.result("fail", message, subjects=subjects, **shown)
        ran = [f.detector for f in findings if not f.summary.startswith("not run")]
        caveats = "".join(f"; {f.detector} {f.caveat}" for f in findings if f.caveat)
        if decide(findings) == "warn":
            suspects = [f for f in findings if f.suspect]
            tested = [f.detector for f in suspects if f.detector in TESTED_DETECTORS]
            parts = (
                [
                    f"possible leakage ({', '.join(tested)}), not significant at the gate's "
                    "false-alarm budget"
                ]
                if tested
                else []
            )
            parts += [f"{f.detector}: {f.summary}" for f in suspects if f.detector not in tested]
            subjects = [s for f in suspects for s in [f.detector, *f.subjects]]
            return self.result("warn", "; ".join(parts) + caveats, subjects=subjects, **shown)
        return self.result("pass", f"no leakage found ({', '.join(ran)}){caveats}", **shown)


def _thresholds(params: Any, alpha: float) -> dict[str, float]:
    return {
        "alpha_per_test": alpha,
        "max_overlap_share": params.max_overlap_share,
        "max_group_overlap_share": params.max_group_overlap_share,
        "max_time_overlap_share": params.max_time_overlap_share,
        "min_proxy_score": params.min_proxy_score,
        "max_conflict_share": params.max_conflict_share,
        "preprocessing_match_se": MATCH_SE,
        "preprocessing_exact_tolerance": EXACT_TOL,
    }


#: Level of the warning rules (a detector beyond its bar and this significant, not at the
#: check's share of the false-alarm budget, warns): warnings keep their own level.
WARN_ALPHA = 0.05


def decide(outcomes: list[DetectorOutcome]) -> str:
    """Any detector firing fails the check; a suspect one (significant at the warning level
    only) warns; each detector decides its own firing."""
    if any(f.fired for f in outcomes):
        return "fail"
    return "warn" if any(f.suspect for f in outcomes) else "pass"


# --------------------------------------------------------------------------- row hashes
def _row_hashes(ctx: Context) -> dict[str, np.ndarray]:
    """A 64-bit hash of each row's feature values, comparable across splits.

    Every split is cast to train's dtypes first, so an integer column read as float in one file
    still matches. Columns missing from a split hash as nulls there.
    """
    features = ctx.feature_columns
    train_schema = ctx.frame("train").schema
    out = {}
    for split in ctx.splits:
        frame = ctx.frame(split)
        if not features:
            out[split] = np.zeros(frame.height, dtype=np.uint64)
            continue
        position = {name: i for i, name in enumerate(frame.columns)}
        exprs = [  # by position and renamed: a column may be named like a pattern (^x.*$)
            (
                pl.nth(position[c]).cast(train_schema[c], strict=False)
                if c in position
                else pl.lit(None, dtype=train_schema[c])
            ).alias(f"c{i}")
            for i, c in enumerate(features)
        ]
        out[split] = frame.select(exprs).hash_rows(seed=HASH_SEED).to_numpy()
    return out


@dataclass(frozen=True)
class SplitOverlap:
    """One split's rows against train: ``rows`` judged (all of the split in memory; on
    profiles those below the common hash threshold, a sample of its ``total`` rows), ``found``
    of them in train, the chance p-value, and how many of those copy one of train's own records
    (None: not judged)."""

    split: str
    rows: int
    found: int
    p: float
    record_copies: int | None
    total: int

    @property
    def share(self) -> float:
        return self.found / self.rows if self.rows else 0.0

    @property
    def estimated_rows(self) -> int:
        """Rows of the whole split found in train (the count itself when all were judged)."""
        return self._of_total(self.found)

    @property
    def estimated_copies(self) -> int | None:
        """Rows of the whole split that copy a train record (None: not judged)."""
        return None if self.record_copies is None else self._of_total(self.record_copies)

    def _of_total(self, count: int) -> int:
        if self.rows == self.total or not self.rows:
            return count
        return round(count / self.rows * self.total)


@dataclass
class OverlapJudgement:
    """The overlap decision: splits fired, worst excess over chance, underpowered notes, and
    whether a split is suspect (significant at the warning level only)."""

    fired: list[str] = field(default_factory=list)
    worst: float = 0.0
    weak: list[str] = field(default_factory=list)
    suspect: bool = False


def _overlap(
    ctx: Context, params: Any, hashes: dict[str, np.ndarray], metrics: dict[str, Any], alpha: float
) -> DetectorOutcome:
    train = pl.Series("h", hashes["train"])
    m = len(train)
    dups = _duplicate_rows(train)
    dup_share = dups / m if m else 0.0
    metrics["train_duplicate_share"] = dup_share
    others = [s for s in ctx.splits if s != "train"]
    if not others or not ctx.feature_columns:
        return _overlap_not_run("no other split or no feature columns", params)
    # measure
    counts, rows = _overlap_counts(
        train,
        hashes,
        others,
        dups,
        params.max_rows_shown,
        lambda: _record_rows(ctx, hashes["train"]),
    )
    # decide
    judged = _judge_overlap(counts, dups, m, params.max_overlap_share, alpha, metrics)
    # explain
    return _overlap_outcome(judged, dup_share, rows, len(others), params)


def _duplicate_rows(hashes: pl.Series) -> int:
    """Rows whose feature hash another row shares (train's own duplicates)."""
    return int(hashes.is_duplicated().sum()) if hashes.len() else 0


def _overlap_not_run(reason: str, params: Any) -> DetectorOutcome:
    return DetectorOutcome("overlap", False, None, params.max_overlap_share, f"not run: {reason}")


def _judge_overlap(
    counts: list[SplitOverlap], dups: int, m: int, bar: float, alpha: float, metrics: dict[str, Any]
) -> OverlapJudgement:
    """Per split: the excess over train's duplicate share against ``bar`` with the chance test
    (BH across splits), or copies of train's own records beyond the bar (a fixed rule)."""
    dup_share = dups / m if m else 0.0
    pvalues = np.array([c.p for c in counts])
    q = stats.benjamini_hochberg(pvalues)
    judged = OverlapJudgement()
    for i, (c, qv) in enumerate(zip(counts, q, strict=True)):
        excess = c.share - dup_share if c.rows else 0.0
        judged.worst = max(judged.worst, excess)
        metrics[f"overlap_share_{c.split}"] = c.share
        metrics[f"overlap_rows_{c.split}"] = c.estimated_rows
        metrics[f"overlap_p_{c.split}"] = c.p
        metrics[f"overlap_record_copies_{c.split}"] = c.estimated_copies
        verdict = overlap_verdict(excess, c.found, float(qv), bar, alpha)
        if verdict != "fired" and _copies_beyond_bar(c, dup_share, bar):
            verdict = "fired"  # copies of train's own records: no chance match to rule out
        if verdict == "fired":
            judged.fired.append(c.split)
        elif verdict == "underpowered":
            judged.weak.append(_underpowered(c, i, pvalues, dups, m, bar, alpha, metrics))
            judged.suspect = judged.suspect or float(qv) <= WARN_ALPHA
    metrics["overlap_excess_share"] = judged.worst
    return judged


def _copies_beyond_bar(c: SplitOverlap, dup_share: float, bar: float) -> bool:
    """Copies of train's own records (when judged) beyond train's duplicate share and ``bar``."""
    copies = c.record_copies
    return bool(c.rows) and copies is not None and copies / c.rows - dup_share > bar


def _underpowered(
    c: SplitOverlap,
    i: int,
    pvalues: np.ndarray,
    dups: int,
    m: int,
    bar: float,
    alpha: float,
    metrics: dict[str, Any],
) -> str:
    """The fewest copied rows that would fire and how many more rows would detect the share
    found, under the decision's own BH rule; the underpowered wording."""
    dup_share = dups / m if m else 0.0

    def fires(p_split: float) -> bool:
        return _bh_discovery(pvalues, i, p_split, alpha)

    n = c.rows
    need = _min_detectable(n, dups, m, dup_share, bar, fires)
    more = _rows_to_detect(n, c.share, dups, m, dup_share, bar, fires)
    metrics[f"overlap_min_detectable_rows_{c.split}"] = need if need is not None else n + 1
    return _underpowered_text(c.split, n, c.found, c.p, need, more)


def overlap_verdict(excess: float, k: int, q: float, bar: float, alpha: float) -> str:
    """fired: the excess share over chance passes ``bar`` (``max_overlap_share``) and the BH
    q-value is at most ``alpha`` (the detector's share of the false-alarm budget);
    underpowered: it passes the share but is not significant (copies may be there, too few rows
    to tell them from chance matches); else ok."""
    if excess > bar and q <= alpha:
        return "fired"
    if excess > bar and k > 0:
        return "underpowered"
    return "ok"


def _bh_discovery(pvalues: np.ndarray, i: int, p: float, alpha: float) -> bool:
    """Whether split ``i`` would be a BH discovery at ``alpha`` with p-value ``p``, the other
    splits' p-values as observed: the same rule the decision uses."""
    trial = pvalues.astype(np.float64).copy()
    trial[i] = p
    return bool(stats.benjamini_hochberg(trial)[i] <= alpha)


def _overlap_counts(
    train: pl.Series,
    hashes: dict[str, np.ndarray],
    others: list[str],
    dups: int,
    shown: int,
    record_rows: Callable[[], np.ndarray],
) -> tuple[list[SplitOverlap], list[tuple[str, int, int]]]:
    """Per split its rows, rows found in train, chance p-value and how many of the rows found
    copy one of train's own records (see :func:`_record_rows`, computed only when some row was
    found); and example row pairs."""
    m = len(train)
    train_idx = pl.DataFrame({"h": train, "train_row": np.arange(m)}).unique(
        "h", keep="first", maintain_order=True
    )
    counts, rows = [], []
    own: np.ndarray | None = None
    for split in others:
        h = pl.DataFrame({"h": hashes[split], "row": np.arange(len(hashes[split]))})
        hits = h.join(train_idx, on="h", how="inner").sort("row")
        n, k = h.height, hits.height
        if k and own is None:
            own = record_rows()
        copies = int(own[hits["train_row"].to_numpy()].sum()) if k and own is not None else 0
        counts.append(SplitOverlap(split, n, k, _chance_tail(k, n, dups, m), copies, n))
        for r, t in hits.select("row", "train_row").head(shown).iter_rows():
            rows.append((split, r, t))
    return counts, rows


def _underpowered_text(
    split: str, n: int, k: int, p: float, need: int | None, more: int | None
) -> str:
    """The split's count, its p-value, and the project's one underpowered wording."""
    detectable = (
        f"an overlap of {need} rows ({need / n:.0%}) or more"
        if need is not None
        else "no overlap (even all of them could match by chance)"
    )
    note = underpowered_note(n, f"{split} rows", detectable, more, f"the {k / n:.1%} found")
    return f"{split}: {k} of {n} rows found in train, not distinguishable from chance (p = {p:.2g}); {note}"


def _overlap_outcome(
    judged: OverlapJudgement,
    dup_share: float,
    rows: list[tuple[str, int, int]],
    n_others: int,
    params: Any,
) -> DetectorOutcome:
    fired_splits, worst = judged.fired, judged.worst
    summary = (
        f"{', '.join(fired_splits)} share(s) rows with train beyond chance "
        f"(worst excess {worst:.2%}; train's own duplicate share {dup_share:.2%})"
        if fired_splits
        else f"largest excess over chance {worst:.2%} (train's own duplicate share {dup_share:.2%})"
    )
    caveat = "; ".join(judged.weak)
    if caveat:
        summary += f"; {caveat}"
    ev = (
        [
            table(
                "Rows found in train (exact feature match)",
                ["split", "row", "train row"],
                rows,
                note="0-based row positions; the train row is the first identical one",
                max_rows=params.max_rows_shown * max(n_others, 1),
            )
        ]
        if rows
        else []
    )
    return DetectorOutcome(
        "overlap",
        bool(fired_splits),
        worst,
        params.max_overlap_share,
        summary,
        ev,
        list(fired_splits),
        caveat,
        suspect=judged.suspect and not fired_splits,
    )


def _chance_tail(k: int, n: int, dups: int, m: int) -> float:
    """P(at least ``k`` of ``n`` split rows match train by chance).

    The chance of a match is train's own duplicate share, with its uncertainty: a
    beta-binomial with Beta(dups + 1, m - dups + 1) (train rows that repeat another train row).
    """
    from scipy.stats import betabinom

    if k <= 0 or n <= 0:
        return 1.0
    return float(betabinom.sf(k - 1, n, dups + 1, m - dups + 1))


def _min_detectable(
    n: int, dups: int, m: int, dup_share: float, bar: float, fires: Callable[[float], bool]
) -> int | None:
    """Fewest matching rows of ``n`` that would fire (share bar and the chance test as the
    decision runs it, ``fires(p)``: BH across splits), or None when not even ``n`` would."""
    lo = math.floor((bar + dup_share) * n) + 1
    if lo > n or not fires(_chance_tail(n, n, dups, m)):
        return None
    hi = n
    lo = max(lo, 1)
    while lo < hi:  # the tail shrinks as k grows: binary search for the first k that fires
        mid = (lo + hi) // 2
        if fires(_chance_tail(mid, n, dups, m)):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _rows_to_detect(
    n: int,
    share: float,
    dups: int,
    m: int,
    dup_share: float,
    bar: float,
    fires: Callable[[float], bool],
    limit: int = 10_000_000,
) -> int | None:
    """How many more split rows would make the observed overlap ``share`` fire: the smallest
    size whose count at that share passes the bar and the chance test (exact tail, doubling
    then bisection), or None when no size up to ``limit`` would."""

    def detected(size: int) -> bool:
        k = math.ceil(share * size)
        return k / size - dup_share > bar and fires(_chance_tail(k, size, dups, m))

    hi = max(n, 1)
    while not detected(hi):
        if hi >= limit:
            return None
        hi *= 2
    lo = n
    while lo < hi:
        mid = (lo + hi) // 2
        if detected(mid):
            hi = mid
        else:
            lo = mid + 1
    return max(0, hi - n)


# --------------------------------------------------------------------------- groups
def _groups(ctx: Context, params: Any, metrics: dict[str, Any]) -> DetectorOutcome:
    group = ctx.config.task.group
    bar = params.max_group_overlap_share
    if not group:
        return DetectorOutcome("group", False, None, bar, "not run: no [task] group column")
    if group not in ctx.frame("train").columns:
        raise DataError(f"task.group: column {group!r} not found in train")
    train_groups = ctx.frame("train")[group].drop_nulls().unique()
    rows, worst, fired_splits = [], 0.0, []
    for split in ("validation", "test"):
        if not ctx.has_split(split):
            continue
        frame = ctx.frame(split)
        if group not in frame.columns:
            raise DataError(f"task.group: column {group!r} not found in {split}")
        values = frame[group].cast(train_groups.dtype, strict=False)
        mask = values.is_in(train_groups.implode()).fill_null(False)
        share = _mean(mask)
        shared = values.filter(mask).unique()
        metrics[f"group_overlap_share_{split}"] = share
        metrics[f"shared_groups_{split}"] = shared.len()
        worst = max(worst, share)
        if share > bar:
            fired_splits.append(split)
        counts = values.filter(mask).value_counts(sort=True).head(params.max_rows_shown)
        for value, count in counts.iter_rows():
            rows.append((split, value, count))
    summary = (
        f"entities of {', '.join(fired_splits)} also in train (up to {worst:.2%} of rows)"
        if fired_splits
        else f"largest share of rows with a train entity {worst:.2%}"
    )
    ev = (
        [table(f"Entities ({group}) on both sides of the split", ["split", group, "rows"], rows)]
        if rows
        else []
    )
    return DetectorOutcome("group", bool(fired_splits), worst, bar, summary, ev, fired_splits)


def _mean(mask: pl.Series) -> float:
    """The mean of a boolean series (the stubs type a polars scalar as every kind of value)."""
    value = mask.mean()
    if not isinstance(value, int | float):  # None for an empty series
        raise TypeError(f"no numeric mean for a series of {mask.len()} {mask.dtype} values")
    return float(value)


# --------------------------------------------------------------------------- time
def _lag(last: object, first: object) -> timedelta | int | float | Decimal:
    """``last - first`` of two values of one time column: a timedelta for dates, datetimes and
    durations, a number for a numeric time axis."""
    if isinstance(last, date) and isinstance(first, date):
        return last - first
    if isinstance(last, timedelta) and isinstance(first, timedelta):
        return last - first
    if isinstance(last, int | float) and isinstance(first, int | float):
        return last - first
    if isinstance(last, Decimal) and isinstance(first, Decimal):
        return last - first
    raise TypeError(
        f"unsupported operand type(s) for -: {type(last).__name__!r} and {type(first).__name__!r}"
    )


def _as_time(series: pl.Series, what: str) -> pl.Series:
    if series.dtype.is_temporal() or series.dtype.is_numeric():
        return series
    try:
        return series.cast(pl.String).str.to_datetime(strict=True)
    except Exception:
        raise DataError(
            f"task.time: column {what} is neither a date, a time nor a number"
        ) from None


@dataclass(frozen=True)
class EarlyRows:
    """A split's rows earlier than train's latest time: how many, their share of the split and,
    when there are some, the earliest, train's latest and the lag between them (as text, and
    in seconds)."""

    split: str
    early: int
    share: float
    first: str = ""
    last: str = ""
    lag: str = ""
    lag_s: float | None = None


def _time(ctx: Context, params: Any, metrics: dict[str, Any]) -> DetectorOutcome:
    col = ctx.config.task.time
    bar = params.max_time_overlap_share
    if not col:
        return DetectorOutcome("time", False, None, bar, "not run: no [task] time column")
    if col not in ctx.frame("train").columns:
        raise DataError(f"task.time: column {col!r} not found in train")
    train_t = _as_time(ctx.frame("train")[col], f"{col!r} in train")
    last = train_t.max()
    if last is None:
        return DetectorOutcome("time", False, None, bar, "not run: the train time column is empty")
    found = [
        _early_rows(ctx, split, col, train_t.dtype, last)
        for split in ("validation", "test")
        if ctx.has_split(split)
    ]
    return _time_outcome(found, bar, metrics)


def _early_rows(ctx: Context, split: str, col: str, dtype: pl.DataType, last: object) -> EarlyRows:
    if col not in ctx.frame(split).columns:
        raise DataError(f"task.time: column {col!r} not found in {split}")
    t = _as_time(ctx.frame(split)[col], f"{col!r} in {split}").cast(dtype, strict=False)
    early = (t < last).fill_null(False)
    share = _mean(early)
    if not early.any():
        return EarlyRows(split, 0, share)
    first = t.filter(early).min()
    lag = _lag(last, first)
    lag_s = lag.total_seconds() if isinstance(lag, timedelta) else float(lag)
    return EarlyRows(split, int(early.sum()), share, str(first), str(last), str(lag), lag_s)


def _time_outcome(found: list[EarlyRows], bar: float, metrics: dict[str, Any]) -> DetectorOutcome:
    """Any validation/test split with a share of early rows above ``bar`` fires."""
    rows, worst, fired_splits = [], 0.0, []
    for f in found:
        metrics[f"early_share_{f.split}"] = f.share
        metrics[f"early_rows_{f.split}"] = f.early
        worst = max(worst, f.share)
        if f.early:
            metrics[f"max_lag_{f.split}"] = f.lag_s
            rows.append((f.split, f.early, f.share, f.first, f.last, f.lag))
        if f.share > bar:
            fired_splits.append(f.split)
    summary = (
        f"{', '.join(fired_splits)} rows earlier than the last train row "
        f"(up to {worst:.2%} of rows)"
        if fired_splits
        else f"largest share of rows earlier than train's last {worst:.2%}"
    )
    ev = (
        [
            table(
                "Rows earlier than the latest train row",
                ["split", "rows", "share", "earliest", "last train", "lag"],
                rows,
                note="lag: latest train time minus the earliest such row (seconds if numeric)",
            )
        ]
        if rows
        else []
    )
    return DetectorOutcome("time", bool(fired_splits), worst, bar, summary, ev, fired_splits)


# --------------------------------------------------------------------------- target proxy
@dataclass(frozen=True)
class ProxyScore:
    """One matrix column's scores as a lone predictor of the target."""

    column: str
    score: float
    #: Classification: rank AUC, separability, lookup AUC, lookup NMI, rank p-value (None when
    #: the rank scores are under the bar). Regression: linear R², lookup R².
    parts: tuple[float | None, ...]
    fired: bool


def _target_proxy(
    ctx: Context, params: Any, metrics: dict[str, Any], share: float
) -> DetectorOutcome:
    bar = params.min_proxy_score
    if not ctx.feature_columns:
        return DetectorOutcome("target-proxy", False, None, bar, "not run: no feature columns")
    # measure: the judged columns of the encoder's matrix on a seeded sample of train
    columns, calendar_notes = _proxy_columns(ctx)
    rng = np.random.default_rng(ctx.seed)
    X, y, n = ctx.feature_matrix("train"), ctx.labels("train"), ctx.frame("train").height
    sample = (
        np.sort(rng.choice(n, params.max_proxy_rows, replace=False))
        if n > params.max_proxy_rows
        else np.arange(n)
    )
    X, y = X[sample][:, [j for j, *_ in columns]], y[sample]
    metrics["proxy_sample_rows"] = len(sample)
    left_out: list[str] = []
    if ctx.is_classification:
        y, X, left_out = _drop_rare_classes(y, X, ctx.class_names)
        metrics["proxy_classes_left_out"] = len(left_out)
        if len(np.unique(y)) < 2:
            listed = f" (left out: {', '.join(left_out[:10])})" if left_out else ""
            return DetectorOutcome(
                "target-proxy",
                False,
                None,
                bar,
                f"not run: fewer than two classes with {MIN_PROXY_CLASS_ROWS}+ rows" + listed,
            )
    if not columns:
        return DetectorOutcome(
            "target-proxy", False, None, bar, "not run: no feature to judge", caveat=calendar_notes
        )
    alpha = share / len(columns)
    half = rng.permutation(len(y)) % 2 == 0
    tie_order = rng.permutation(len(y))
    scores = []
    for i, (_j, name, kind) in enumerate(columns):
        x = X[:, i]
        codes, id_like = _bins(x, kind == "categorical")
        if ctx.is_classification:
            k = int(y.max()) + 1
            numbers = _classification_scores(x, y, k, codes, id_like, kind, half, tie_order, bar)
            scores.append(ProxyScore(name, max(v or 0.0 for v in numbers[:4]), numbers, False))
        else:
            lin, r2 = _linear_r2(x, y), _heldout_r2(codes, y, half)
            scores.append(ProxyScore(name, max(r2, lin), (lin, r2), False))
    # decide
    scores = [
        ProxyScore(s.column, s.score, s.parts, is_proxy(s.parts, ctx.is_classification, bar, alpha))
        for s in scores
    ]
    scores.sort(key=lambda s: (-s.score, s.column))
    metrics["proxy_max_score"] = scores[0].score
    # explain
    return _proxy_outcome(ctx, scores, len(sample), n, left_out, calendar_notes, params, share)


def _proxy_columns(ctx: Context) -> tuple[list[tuple[int, str, ColumnKind]], str]:
    """(matrix column, name, kind) of every encoder output the detector judges, and a note.

    A date/datetime feature is judged on its calendar parts whose cycle train spans often
    enough (hour only with a time of day), never on its raw value: a timestamp orders the rows,
    and a label rate that moves with time makes it "predict" the target without any leak.
    """
    encoder = ctx.encoder
    train = ctx.frame("train")
    parts_of: dict[str, tuple[str, ...]] = {}
    for name in encoder.feature_columns:
        series = column_values(train, name)
        if is_calendar_feature(series):
            parts_of[name] = comparable_parts(candidate_parts(series), [calendar_span_s(series)])
    columns: list[tuple[int, str, ColumnKind]] = []
    for j, (out, feature, kind) in enumerate(
        zip(encoder.output_names, encoder.output_features, encoder.output_kinds, strict=True)
    ):
        judged = feature not in parts_of or (
            out != feature and out[len(feature) + 1 :] in parts_of[feature]
        )
        if judged:
            columns.append((j, out, kind))
    return columns, _calendar_note(ctx, parts_of)


def _calendar_note(ctx: Context, parts_of: dict[str, tuple[str, ...]]) -> str:
    """Which datetime features were judged on which parts; the time-axis hint when another
    split lies mostly outside train's dates."""
    notes = []
    train = ctx.frame("train")
    for name, parts in parts_of.items():
        judged = ", ".join(parts) if parts else "nothing (train spans too little of any cycle)"
        text = f"{name!r} judged on {judged}, not its raw value"
        beyond = max(
            (
                beyond_range_share(column_values(train, name), column_values(ctx.frame(s), name))
                for s in ctx.splits
                if s != "train" and name in ctx.frame(s).columns
            ),
            default=0.0,
        )
        if looks_like_time_axis(beyond):
            text += f" (it looks like the time axis: {declare_hint(name)})"
        notes.append(text)
    return "; ".join(notes)


def _classification_scores(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    codes: np.ndarray,
    id_like: bool,
    kind: str,
    half: np.ndarray,
    tie_order: np.ndarray,
    bar: float,
) -> tuple[float | None, ...]:
    """Rank AUC, separability, held-out lookup AUC and NMI, and the rank scores' p-value
    (computed only for a rank score at or above the bar; None otherwise)."""
    auc = _rank_auc(x, y, k)
    sep = None if kind == "categorical" else _separability(x, y, tie_order)
    lookup_auc, nmi = _lookup_heldout(codes, y, half, k)
    p = 1.0
    if auc >= bar:
        p = min(p, _rank_auc_p(x, y, k))
    if sep is not None and sep[0] >= bar:
        p = min(p, sep[1])
    return (
        auc,
        sep[0] if sep else None,
        lookup_auc,
        None if id_like else nmi,
        p if p < 1.0 else None,
    )


def is_proxy(
    parts: tuple[float | None, ...], classification: bool, bar: float, alpha: float
) -> bool:
    """A proxy: held-out lookup AUC or NMI at the bar, or an in-sample rank score at the bar
    that is also significant (p < alpha); for regression, R² (linear or lookup) at the bar."""
    if not classification:
        return max(v or 0.0 for v in parts) >= bar
    _auc, _sep, lookup_auc, nmi, p = parts
    return (lookup_auc or 0.0) >= bar or (nmi or 0.0) >= bar or (p is not None and p < alpha)


def _proxy_outcome(
    ctx: Context,
    scores: list[ProxyScore],
    sampled: int,
    n: int,
    left_out: list[str],
    calendar_notes: str,
    params: Any,
    share: float,
) -> DetectorOutcome:
    bar = params.min_proxy_score
    proxies = [s for s in scores if s.fired]
    if ctx.is_classification:
        columns = ["feature", "score", "rank AUC", "separability", "lookup AUC", "lookup NMI"]
        columns += ["rank p-value", "proxy"]
    else:
        columns = ["feature", "score (R²)", "linear R²", "lookup R²", "proxy"]
    rows = [(s.column, s.score, *s.parts, s.fired) for s in scores[: params.max_rows_shown]]
    note = (
        f"on {sampled:,} of {n:,} train rows (seeded sample)"
        if sampled < n
        else f"on all {n:,} train rows"
    ) + "; NMI is left out for columns unique per row"
    if ctx.is_classification:
        note += (
            f"; a rank score counts only with p < {share:.2g} / {len(scores)} features"
            " (Bonferroni; the detector's share of the false-alarm budget)"
        )
    if left_out:
        note += (
            f"; classes with fewer than {MIN_PROXY_CLASS_ROWS} rows left out: "
            + ", ".join(left_out[:10])
            + (" …" if len(left_out) > 10 else "")
        )
    if calendar_notes:
        note += "; " + calendar_notes
    strongest = scores[0]
    summary = (
        f"{len(proxies)} feature(s) predict the target alone: "
        + ", ".join(f"{s.column!r} ({s.score:.3f})" for s in proxies[:5])
        if proxies
        else f"strongest single feature {strongest.column!r} scores {strongest.score:.3f}"
        + (" (not significant)" if strongest.score >= bar else "")
    )
    return DetectorOutcome(
        "target-proxy",
        bool(proxies),
        strongest.score,
        bar,
        summary,
        [table("Strongest single features", columns, rows, note=note)],
        [s.column for s in proxies],
        calendar_notes,
    )


def _drop_rare_classes(
    y: np.ndarray, X: np.ndarray, names: list[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows of classes with at least MIN_PROXY_CLASS_ROWS rows, labels renumbered 0..k-1."""
    counts = np.bincount(y, minlength=len(names))
    keep_classes = np.flatnonzero(counts >= MIN_PROXY_CLASS_ROWS)
    left_out = [
        f"{names[c]} ({counts[c]})"
        for c in np.flatnonzero((counts > 0) & (counts < MIN_PROXY_CLASS_ROWS))
    ]
    keep = np.isin(y, keep_classes)
    return np.searchsorted(keep_classes, y[keep]), X[keep], left_out


def _bins(x: np.ndarray, categorical: bool) -> tuple[np.ndarray, bool]:
    """Codes for the lookup model (NaN gets its own code) and whether the column is ID-like.

    Discrete columns (categories, or at most 128 distinct values averaging 5+ rows each) get
    one code per value; others quantile bins of about ten rows or more, so each half of the
    cross-fit sees most bins. ID-like: one code per distinct value and every row distinct.
    Mutual information of such a column with anything is its full entropy on any sample, so
    that rule ignores it.
    """
    finite = ~np.isnan(x)
    values = x[finite]
    n_unique = len(np.unique(values)) + (0 if finite.all() else 1)
    per_value = categorical or (n_unique <= N_BINS and n_unique * ROWS_PER_VALUE <= len(x))
    id_like = categorical and n_unique == len(x) and len(x) > 1
    codes = np.full(len(x), -1, dtype=np.int64)
    if per_value:
        _, inverse = np.unique(values, return_inverse=True)
        codes[finite] = inverse
    elif len(values):
        n_bins = int(np.clip(len(values) // ROWS_PER_BIN, 2, N_BINS))
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
        codes[finite] = np.searchsorted(edges, values, side="right")
    codes[~finite] = codes.max() + 1
    return codes, id_like


def _separability(x: np.ndarray, y: np.ndarray, tie_order: np.ndarray) -> tuple[float, float]:
    """Rank separability of the classes along ``x`` and its runs-test p-value.

    Rows sorted by ``x`` (NaN first; ties in the seeded order ``tie_order``, never by label):
    ``changes`` = neighbours with different labels. A perfect proxy changes K-1 times whatever
    the class order; a random order about (n-1)(1 - sum p_k^2) times. Score
    1 - (changes - (K-1)) / (expected - (K-1)), clipped to [0, 1]. The p-value is the lower
    tail of the change count under random order (exact mean and variance, normal shape), but
    never below the exact chance of a perfect arrangement, K! * prod(n_k!) / n!: the normal tail
    is far too small for tiny classes, where a score of 0.99 means that arrangement anyway.
    """
    from scipy.stats import norm

    n = len(y)
    filled = np.where(np.isnan(x), -np.inf, x)[tie_order]
    order = tie_order[np.argsort(filled, kind="stable")]
    ys = y[order]
    changes = int(np.count_nonzero(ys[1:] != ys[:-1]))
    counts = np.bincount(y).astype(np.float64)
    counts = counts[counts > 0]
    k = len(counts)
    if n < 4 or k < 2:
        return 0.0, 1.0
    m = n - 1
    s2 = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    s3 = float((counts * (counts - 1) * (counts - 2)).sum() / (n * (n - 1) * (n - 2)))
    pairs = counts * (counts - 1)
    s4 = float(
        ((pairs * (counts - 2) * (counts - 3)).sum() + pairs.sum() ** 2 - (pairs**2).sum())
        / (n * (n - 1) * (n - 2) * (n - 3))
    )
    expected = m * (1 - s2)
    var = max(m * s2 + 2 * (m - 1) * s3 + (m - 1) * (m - 2) * s4 - (m * s2) ** 2, 1e-12)
    span = expected - (k - 1)
    score = float(np.clip(1 - (changes - (k - 1)) / span, 0.0, 1.0)) if span > 0 else 0.0
    log_block = math.lgamma(k + 1) + sum(math.lgamma(c + 1) for c in counts) - math.lgamma(n + 1)
    p = max(float(norm.cdf((changes - expected) / math.sqrt(var))), math.exp(log_block))
    return score, p


def _rank_auc_p(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Largest per-class two-sided Mann–Whitney p-value of the rank AUC (every class counts).

    Exact for small classes without ties (scipy's ``auto``), tie-corrected normal otherwise.
    """
    from scipy.stats import mannwhitneyu

    filled = np.where(np.isnan(x), -np.inf, x)
    worst = 0.0
    for c in [1] if k == 2 else range(k):
        pos = y == c
        if pos.all() or not pos.any():
            continue
        test = mannwhitneyu(filled[pos], filled[~pos], alternative="two-sided", method="auto")
        worst = max(worst, float(test.pvalue))
    return worst


def _rank_auc(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Worst class's one-vs-rest AUC of the raw value, direction-free (NaN ranks lowest)."""
    from scipy.stats import rankdata

    filled = np.where(np.isnan(x), -np.inf, x)
    ranks = rankdata(filled)
    aucs = []
    classes = [1] if k == 2 else range(k)
    for c in classes:
        pos = y == c
        n1 = int(pos.sum())
        n0 = len(y) - n1
        if n1 == 0 or n0 == 0:
            continue
        auc = (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
        aucs.append(max(auc, 1 - auc))
    return float(np.min(aucs)) if aucs else 0.5


def _lookup_heldout(
    codes: np.ndarray, y: np.ndarray, half: np.ndarray, k: int
) -> tuple[float, float]:
    """Cross-fitted one-feature lookup model: held-out worst-class AUC and NMI (share of H(Y)).

    The model is the class frequencies per code (bin or category), shrunk toward the prior,
    fit on one half and scored on the other, then the other way round. Its held-out predictions
    take one value per code, so the AUC comes from per-code counts without sorting rows.
    """
    prior = np.bincount(y, minlength=k) / len(y)
    nz = prior > 0
    entropy = -float((prior[nz] * np.log(prior[nz])).sum())
    n_codes = int(codes.max()) + 1
    loss = 0.0
    scores, counts = [], []
    for fit in (half, ~half):
        fitted = np.zeros((n_codes, k))
        np.add.at(fitted, (codes[fit], y[fit]), 1.0)
        probs = (fitted + 0.5 * prior) / (fitted.sum(axis=1, keepdims=True) + 0.5)
        held = ~fit
        loss -= np.log(np.maximum(probs[codes[held], y[held]], 1e-12)).sum()
        heldout = np.zeros((n_codes, k))
        np.add.at(heldout, (codes[held], y[held]), 1.0)
        scores.append(probs)
        counts.append(heldout)
    score, count = np.vstack(scores), np.vstack(counts)
    aucs = []
    for c in [1] if k == 2 else range(k):
        pos, neg = count[:, c], count.sum(axis=1) - count[:, c]
        if pos.sum() == 0 or neg.sum() == 0:
            continue
        aucs.append(_grouped_auc(score[:, c], pos, neg))
    auc = float(np.min(aucs)) if aucs else 0.5
    nmi = float(max(0.0, 1.0 - (loss / len(y)) / entropy)) if entropy > 0 else 0.0
    return auc, nmi


def _grouped_auc(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC when many rows share a score: weighted by per-score positive/negative counts."""
    uniq, inverse = np.unique(score, return_inverse=True)
    p = np.bincount(inverse, weights=pos, minlength=len(uniq))
    q = np.bincount(inverse, weights=neg, minlength=len(uniq))
    neg_below = np.cumsum(q) - q
    auc = float((p * (neg_below + 0.5 * q)).sum() / (p.sum() * q.sum()))
    return max(auc, 1 - auc)


def _heldout_r2(codes: np.ndarray, y: np.ndarray, half: np.ndarray) -> float:
    var = float(np.var(y))
    if var <= 0:
        return 0.0
    n_codes = int(codes.max()) + 1
    sse = 0.0
    for fit in (half, ~half):
        sums = np.bincount(codes[fit], weights=y[fit], minlength=n_codes)
        counts = np.bincount(codes[fit], minlength=n_codes)
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), y[fit].mean())
        held = ~fit
        sse += float(((y[held] - mean[codes[held]]) ** 2).sum())
    return max(0.0, 1.0 - sse / (var * len(y)))


def _linear_r2(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return 0.0
    r = np.corrcoef(x[ok].astype(np.float64), y[ok])[0, 1]
    return float(r * r * ok.mean())


# --------------------------------------------------------------------------- conflicts
@dataclass(frozen=True)
class ConflictGroups:
    """Train rows with conflicting labels, sorted by what they are.

    ``record``: identical feature rows that hold a value no other train row holds in a column
    that tells records apart (copies of one record), or rows sharing the declared ``[task] id``;
    ``coarse``: the other identical feature rows — cells of a coarse feature space, where
    differing labels are the target's own ambiguity.
    """

    rows: int
    record_rows: int
    record_groups: int
    id_rows: int
    id_groups: int
    coarse_rows: int
    coarse_groups: int
    identity_columns: tuple[str, ...]
    #: (first row, 0-based rows, kind) of the groups, records first.
    examples: list[tuple[int, list[int], str]]
    #: Identical feature rows with more than one label, and their groups (records and coarse).
    group_rows: int = 0
    groups: int = 0
    #: Rows of one declared id with different labels outside those groups (other features).
    id_only_rows: int = 0

    @property
    def record_share(self) -> float:
        return self.record_rows / self.rows if self.rows else 0.0

    @property
    def coarse_share(self) -> float:
        return self.coarse_rows / self.rows if self.rows else 0.0


def conflict_verdict(record_share: float, bar: float) -> str:
    """fired: copies of one record (or one id) with conflicting labels exceed ``bar``
    (``max_conflict_share``); conflicts on coarse rows never fire (they are noted)."""
    return "fired" if record_share > bar else "ok"


def _conflicts(
    ctx: Context, params: Any, hashes: dict[str, np.ndarray], metrics: dict[str, Any]
) -> DetectorOutcome:
    bar = params.max_conflict_share
    if not ctx.is_classification:
        return DetectorOutcome("conflicts", False, None, bar, "not run: applies to classification")
    if not ctx.feature_columns:
        return DetectorOutcome("conflicts", False, None, bar, "not run: no feature columns")
    # measure
    found = _conflict_groups(ctx, hashes["train"], params.max_rows_shown)
    _conflict_metrics(found, metrics)
    # decide
    fired = conflict_verdict(found.record_share, bar) == "fired"
    # explain
    return _conflict_outcome(found, _conflict_rows(ctx, found), fired, bar)


def _conflict_metrics(found: ConflictGroups, metrics: dict[str, Any]) -> None:
    metrics["conflict_share"] = found.record_share
    metrics["conflict_groups"] = found.record_groups
    metrics["id_conflict_rows"] = found.id_rows
    metrics["coarse_conflict_share"] = found.coarse_share
    metrics["coarse_conflict_groups"] = found.coarse_groups


def _conflict_groups(ctx: Context, h: np.ndarray, shown: int) -> ConflictGroups:
    y = ctx.labels("train")
    m = len(h)
    frame = pl.DataFrame({"h": h, "y": y, "row": np.arange(m)})
    groups = (
        frame.group_by("h")
        .agg(pl.len().alias("size"), pl.col("y").n_unique().alias("labels"))
        .filter(pl.col("labels") > 1)
    )
    records, identity = _copied_records(ctx, h, groups["h"])
    same_id = _id_conflict_rows(ctx, y)
    in_group = np.isin(h, groups["h"].to_numpy())
    in_record = np.isin(h, np.fromiter(records, dtype=np.uint64, count=len(records)))
    record_mask = in_record | same_id
    coarse_mask = in_group & ~record_mask
    kinds = np.full(m, "", dtype=object)
    kinds[coarse_mask] = "identical coarse rows (ambiguous target)"
    kinds[same_id] = f"same {ctx.config.task.id} (the declared id)"
    kinds[in_record] = "copies of one record (" + ", ".join(map(repr, identity)) + ")"
    examples = _conflict_examples(ctx, frame, record_mask, coarse_mask, same_id, kinds, shown)
    coarse_groups = int(pl.Series(h[coarse_mask]).n_unique()) if coarse_mask.any() else 0
    return ConflictGroups(
        rows=m,
        record_rows=int(record_mask.sum()),
        record_groups=len(records),
        id_rows=int(same_id.sum()),
        id_groups=_id_groups(ctx, same_id),
        coarse_rows=int(coarse_mask.sum()),
        coarse_groups=coarse_groups,
        identity_columns=tuple(identity),
        examples=examples,
        group_rows=int(in_group.sum()),
        groups=groups.height,
        id_only_rows=int((same_id & ~in_group).sum()),
    )


def _id_groups(ctx: Context, same_id: np.ndarray) -> int:
    """Declared ids whose rows carry different labels."""
    if not same_id.any():
        return 0
    ids = ctx.frame("train")[ctx.config.task.id or ""].filter(pl.Series(same_id))
    return ids.n_unique()


def _copied_records(
    ctx: Context, h: np.ndarray, conflicted: pl.Series
) -> tuple[set[int], list[str]]:
    """Hashes of conflicting groups that are copies of one record, and the columns that say so.

    A group is copies of one record when its rows hold, in some feature column, a value that no
    other train row holds, and that column tells records apart: distinct records share its value
    for at most ``MAX_IDENTITY_TIES`` of train rows. Ties between distinct records are counted
    directly (rows whose value is held by two or more different feature rows) and divided by
    the chance that two rows differ elsewhere, since ties that also match on every other column
    are hidden among the identical rows; with no other column to differ on, every tie counts.
    A column where the data tie naturally (a rating, a category, a rounded number, a single
    feature with repeats) is never such a column, so identical coarse rows are never records.
    """
    train = ctx.frame("train")
    m = train.height
    remaining = conflicted
    records: set[int] = set()
    identity: list[str] = []
    if not remaining.len():
        return records, identity
    for column in ctx.feature_columns:
        if not remaining.len():
            break
        values = pl.DataFrame({"v": train[column], "h": h}).drop_nulls("v")
        per_value = _per_value(values)
        if not _is_identity_column(ctx, column, per_value, m):
            continue
        own = per_value.filter((pl.col("records") == 1) & (pl.col("rows") > 1)).select("v")
        hit = values.join(own, on="v").filter(pl.col("h").is_in(remaining.implode()))["h"].unique()
        if hit.len():
            identity.append(column)
            records.update(int(v) for v in hit.to_list())
            remaining = remaining.filter(~remaining.is_in(hit.implode()))
    return records, identity


def _per_value(values: pl.DataFrame) -> pl.DataFrame:
    """Per distinct value ``v`` of a column: how many distinct feature rows (``h``) and how
    many rows hold it."""
    return values.group_by("v").agg(pl.col("h").n_unique().alias("records"), pl.len().alias("rows"))


def _is_identity_column(ctx: Context, column: str, per_value: pl.DataFrame, m: int) -> bool:
    """A column that tells records apart: distinct records share its value for at most
    ``MAX_IDENTITY_TIES`` of train rows, counting the ties hidden among identical rows too
    (see :func:`_copied_records`)."""
    shared = int(per_value.filter(pl.col("records") > 1)["rows"].sum())
    if shared > MAX_IDENTITY_TIES * m:
        return False
    tied = int(per_value.filter(pl.col("rows") > 1)["rows"].sum())
    rest = _rest_match(ctx, column)
    ties = tied if rest >= 1 else min(tied, shared / (1 - rest))
    return ties <= MAX_IDENTITY_TIES * m


def _record_rows(ctx: Context, h: np.ndarray) -> np.ndarray:
    """Train rows that are one record's own: they hold a value no other distinct feature row
    holds in an identity column (one that tells records apart, ``MAX_IDENTITY_TIES``), or in
    at least two fine-grained columns (distinct records share their values for at most
    ``MAX_FINE_TIES`` of rows: measurements with a few significant digits). An exact copy of
    such a row in another split copies that record: every feature would have to tie by chance,
    including two columns that rarely tie alone."""
    train = ctx.frame("train")
    m = train.height
    strict = np.zeros(m, dtype=bool)
    fine = np.zeros(m, dtype=np.int64)
    for column in ctx.feature_columns:
        if train[column].n_unique() < (1 - MAX_FINE_TIES) * m * 0.5:
            continue  # far too many repeats to tell records apart: skip the group-by
        values = pl.DataFrame({"v": train[column], "h": h, "row": np.arange(m)}).drop_nulls("v")
        per_value = _per_value(values)
        shared = int(per_value.filter(pl.col("records") > 1)["rows"].sum())
        if shared > MAX_FINE_TIES * m:
            continue
        own = per_value.filter(pl.col("records") == 1).select("v")
        rows = values.join(own, on="v")["row"].to_numpy()
        fine[rows] += 1
        if _is_identity_column(ctx, column, per_value, m):
            strict[rows] = True
    return strict | (fine >= 2)


def _rest_match(ctx: Context, column: str) -> float:
    """The chance that two distinct train rows agree on every feature but ``column``
    (1 when it is the only feature)."""
    others = [c for c in ctx.feature_columns if c != column]
    m = ctx.frame("train").height
    if not others or m < 2:
        return 1.0
    train = ctx.frame("train")
    rest = pl.DataFrame([column_values(train, c).alias(f"c{i}") for i, c in enumerate(others)])
    counts = rest.hash_rows(seed=HASH_SEED).value_counts()["count"]
    c = counts.to_numpy().astype(np.float64)
    return float((c * (c - 1)).sum() / (m * (m - 1)))


def _id_conflict_rows(ctx: Context, y: np.ndarray) -> np.ndarray:
    """Train rows whose declared ``[task] id`` is shared by rows with a different label."""
    col = ctx.config.task.id
    train = ctx.frame("train")
    if not col or col not in train.columns:
        return np.zeros(train.height, dtype=bool)
    frame = pl.DataFrame({"id": train[col], "y": y})
    bad = (
        frame.drop_nulls("id")
        .group_by("id")
        .agg(pl.col("y").n_unique().alias("labels"))
        .filter(pl.col("labels") > 1)
    )
    return frame["id"].is_in(bad["id"].implode()).fill_null(False).to_numpy()


def _conflict_examples(
    ctx: Context,
    frame: pl.DataFrame,
    record_mask: np.ndarray,
    coarse_mask: np.ndarray,
    same_id: np.ndarray,
    kinds: np.ndarray,
    shown: int,
) -> list[tuple[int, list[int], str]]:
    """Up to ``shown`` groups of each kind: (first row, rows, kind), records first."""
    id_col = ctx.config.task.id
    ids = ctx.frame("train")[id_col] if same_id.any() and id_col else None
    out: list[tuple[int, list[int], str]] = []
    for mask, key in (
        (record_mask & ~same_id, frame["h"]),
        (same_id, ids),
        (coarse_mask, frame["h"]),
    ):
        if key is None or not mask.any():
            continue
        grouped = (
            pl.DataFrame({"key": key, "row": frame["row"]})
            .filter(pl.Series(mask))
            .group_by("key")
            .agg(pl.col("row").sort())
            .with_columns(pl.col("row").list.first().alias("first"))
            .sort("first")
            .head(shown)
        )
        for first, rows in grouped.select("first", "row").iter_rows():
            out.append((int(first), list(rows), str(kinds[first])))
    return out


def _conflict_rows(ctx: Context, found: ConflictGroups) -> list[tuple[str, str, str]]:
    """The example groups as (rows, labels, kind) for the evidence table."""
    names = ctx.class_names
    y = ctx.labels("train")
    return [
        (
            ", ".join(map(str, members[:10])) + (" …" if len(members) > 10 else ""),
            ", ".join(sorted({str(names[v]) for v in y[members]})),
            kind,
        )
        for _first, members, kind in found.examples
    ]


def _conflict_outcome(
    found: ConflictGroups, rows: list[tuple[str, str, str]], fired: bool, bar: float
) -> DetectorOutcome:
    record = (
        f"{found.record_share:.2%} of train rows are copies of one record"
        + (f" or share an id ({found.id_rows} rows)" if found.id_rows else "")
        + f" with different labels ({found.record_groups + found.id_groups} groups)"
    )
    coarse = (
        f"{found.coarse_share:.2%} of train rows are identical coarse feature rows with "
        f"different labels ({found.coarse_groups} groups): the target is ambiguous there, "
        "not leaked (evidence for label-noise only if unexpected)"
    )
    summary = record if fired or not found.coarse_rows else f"{record}; {coarse}"
    caveat_parts = []
    if found.record_rows and not fired:
        caveat_parts.append(record + " — a labelling problem, under the bar")
    if found.coarse_rows:
        caveat_parts.append(coarse)
    note = (
        "0-based train rows (up to 10 per group); copies of one record: identical rows holding "
        f"a value no other train row holds in a column where distinct records tie for at most "
        f"{MAX_IDENTITY_TIES:.0%} of rows"
    )
    ev = (
        [
            table(
                "Identical train rows with conflicting labels",
                ["rows", "labels", "kind"],
                rows,
                note=note,
            )
        ]
        if rows
        else []
    )
    subjects = list(found.identity_columns) if fired else []
    return DetectorOutcome(
        "conflicts",
        fired,
        found.record_share,
        bar,
        summary,
        ev,
        subjects,
        "; ".join(caveat_parts),
    )


# --------------------------------------------------------------------------- on profiles
#: Level of the interval shown for an overlap share estimated on the row-hash sample.
ESTIMATE_CONFIDENCE = 0.95
RECORD_RULE_NOT_JUDGED = (
    "the record-copy rule was not judged (it needs each train row's values, and a stored "
    "reference holds none): the share and the chance test decide"
)


@dataclass(frozen=True)
class SampleRows:
    """The engine's seeded samples as an in-memory Context, with their row hashes (computed
    once), and the profile context that says how much was sampled."""

    ctx: Context
    hashes: dict[str, np.ndarray]
    pctx: ProfileContext

    def note(self, *splits: str) -> str:
        """E.g. "a seeded sample of 200,000 of 10,000,000 train rows"; '' when all were kept."""
        return self.pctx.sample_note(*splits)


def _sample_rows(pctx: ProfileContext) -> SampleRows | None:
    if pctx.sample is None:
        return None
    return SampleRows(pctx.sample, _row_hashes(pctx.sample), pctx)


def _unavailable(detector: str, bar: float, reason: str) -> DetectorOutcome:
    """A detector the profiles cannot answer: not run, and the reason shown even on a pass."""
    return DetectorOutcome(
        detector, False, None, bar, f"not run: {reason}", caveat=f"not run: {reason}"
    )


def _with_note(outcome: DetectorOutcome, note: str) -> DetectorOutcome:
    """The outcome with ``note`` added to its finding and its caveat (shown even on a pass)."""
    if not note:
        return outcome
    caveat = f"{outcome.caveat}; {note}" if outcome.caveat else note
    return replace(outcome, summary=f"{outcome.summary}; {note}", caveat=caveat)


def _on_sample(outcome: DetectorOutcome, note: str, what: str = "judged") -> DetectorOutcome:
    """A detector that ran on the engine's seeded sample says so, in its finding and in its
    evidence (nothing to say when the sample holds every row)."""
    if not note:
        return outcome
    evidence = _evidence_on(outcome.evidence, note)
    return _with_note(replace(outcome, evidence=evidence), f"{what} on {note}")


def _evidence_on(evidence: list[Evidence], note: str) -> list[Evidence]:
    """Evidence tables drawn from the sample say so (rows are numbered within it)."""
    if not note:
        return evidence
    return [replace(e, note=f"{e.note}; on {note}" if e.note else f"on {note}") for e in evidence]


# -- overlap on row hashes ------------------------------------------------------------
@dataclass(frozen=True)
class HashOverlap:
    """A split's rows whose feature hash occurs in train, judged on the rows whose hash lies
    below the smaller of the two profiles' hash thresholds (every row while both splits have at
    most ``qa.profile.MAX_HASHES``): ``judged`` of the split's ``rows``, ``found`` of them in
    train, and the interval of the share (a point when every row was judged)."""

    rows: int
    judged: int
    found: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.found / self.judged if self.judged else 0.0

    @property
    def exact(self) -> bool:
        return self.judged == self.rows


def hash_overlap(
    train: RowHashes, split: RowHashes, confidence: float = ESTIMATE_CONFIDENCE
) -> HashOverlap:
    """The share of ``split``'s rows whose feature hash occurs in ``train``.

    Both hash samples keep every row whose feature hash is below their threshold, so below the
    smaller threshold a split row is in train exactly when its hash is among train's kept ones:
    the count there is exact, and the rows judged are a uniform sample of hash values (each kept
    with probability threshold / 2^64, copies of one row together).
    """
    threshold = min(train.threshold, split.threshold)
    train_features, _ = keep_below(train.features, train.rows, threshold)
    features, _ = keep_below(split.features, split.rows, threshold)
    found = np.isin(features, train_features)
    k, n = int(found.sum()), len(features)
    if threshold >= HASH_SPACE:
        share = k / n if n else 0.0
        return HashOverlap(split.total, n, k, share, share)
    low, high = _sampled_share_interval(features, found, threshold / HASH_SPACE, confidence)
    return HashOverlap(split.total, n, k, low, high)


def _sampled_share_interval(
    features: np.ndarray, found: np.ndarray, inclusion: float, confidence: float
) -> tuple[float, float]:
    """Wilson interval of the share found, on an effective size: the rows judged, shrunk by the
    design effect of keeping whole hash values (identical rows are kept or dropped together)
    and grown by the finite-population correction (each value kept with ``inclusion``)."""
    from scipy.stats import binomtest

    n = len(features)
    if n == 0:
        return 0.0, 1.0
    share = float(found.mean())
    _, inverse, counts = np.unique(features, return_inverse=True, return_counts=True)
    hits = np.bincount(inverse, weights=found.astype(np.float64), minlength=len(counts))
    clustered = float(((hits - share * counts) ** 2).sum()) / n**2
    binomial = share * (1 - share) / n
    design = clustered / binomial if binomial > 0 else 1.0
    effective = max(1, round(n / (design * (1 - inclusion))))
    interval = binomtest(round(share * effective), effective).proportion_ci(
        confidence, method="wilson"
    )
    return float(interval.low), float(interval.high)


def hash_duplicates(hashes: RowHashes) -> tuple[int, int]:
    """Train's own duplicates on its hash sample: rows whose feature hash another row shares,
    and the rows judged (exact up to ``MAX_HASHES`` rows: copies are kept together)."""
    _, counts = np.unique(hashes.features, return_counts=True)
    return int(counts[counts > 1].sum()), len(hashes.features)


def _not_comparable(train: Profile, profile: Profile, split: str) -> str:
    """Why a split's row hashes cannot be compared with train's ('' when they can)."""
    if profile.hash_function != train.hash_function:
        return (
            f"{split} not judged: its rows were hashed by {profile.hash_function}, train's by "
            f"{train.hash_function}, and hashes of different functions do not compare "
            "(profile both with one engine)"
        )
    missing = [c for c in train.spec.hash_columns if c in profile.missing_columns]
    if missing:
        return (
            f"{split} not judged: it lacks feature column(s) "
            f"{', '.join(map(repr, missing[:5]))}, so its rows hash other columns than train's"
        )
    return ""


def _profile_overlap(
    pctx: ProfileContext,
    sample: SampleRows | None,
    params: Any,
    metrics: dict[str, Any],
    alpha: float,
) -> DetectorOutcome:
    train = pctx.profile("train")
    dups, m = hash_duplicates(train.hashes)
    dup_share = dups / m if m else 0.0
    metrics["train_duplicate_share"] = dup_share
    others = [s for s in pctx.splits if s != "train"]
    if not others or not pctx.feature_columns:
        return _overlap_not_run("no other split or no feature columns", params)
    # measure: the share on the row hashes; which rows copy a record, on the sample
    reasons = {s: _not_comparable(train, pctx.profile(s), s) for s in others}
    compared = {
        s: hash_overlap(train.hashes, pctx.profile(s).hashes) for s in others if not reasons[s]
    }
    if not compared:
        return _unavailable("overlap", params.max_overlap_share, "; ".join(reasons.values()))
    copies, examples, how = _record_copies(pctx, sample, compared, params)
    counts = [
        SplitOverlap(
            s, e.judged, e.found, _chance_tail(e.found, e.judged, dups, m), copies[s], e.rows
        )
        for s, e in compared.items()
    ]
    # decide
    judged = _judge_overlap(counts, dups, m, params.max_overlap_share, alpha, metrics)
    # explain
    _hash_overlap_metrics(compared, metrics)
    outcome = _overlap_outcome(judged, dup_share, examples, len(others), params)
    sampled = sample.note("train", *compared) if sample else ""
    notes = [*_estimate_notes(compared), *filter(None, reasons.values()), how]
    evidence = [_hash_overlap_table(compared, reasons), *_evidence_on(outcome.evidence, sampled)]
    return _with_note(replace(outcome, evidence=evidence), "; ".join(filter(None, notes)))


def _record_copies(
    pctx: ProfileContext, sample: SampleRows | None, compared: dict[str, HashOverlap], params: Any
) -> tuple[dict[str, int | None], list[tuple[str, int, int]], str]:
    """Per split how many of the rows found copy one of train's own records (None: not judged),
    example row pairs, and how the rule was judged.

    With the samples: the in-memory rule on them gives the share of found rows that copy a
    record, applied to the rows found on the hashes (the count itself when the samples hold
    every row). Against a stored reference: only where a categorical feature holds a value of
    its own in every train record (exact distinct count), so every row found copies a record.
    """
    if sample is not None:
        sampled, examples = _sample_overlap(sample, params.max_rows_shown)
        copies = {s: _scaled_copies(sampled.get(s), e.found) for s, e in compared.items()}
        unjudged = [s for s, c in copies.items() if c is None]
        sampled_note = sample.note("train", *compared)
        notes = [f"record copies judged on {sampled_note}" if sampled_note else ""]
        if unjudged:
            notes.append(
                f"record-copy rule not judged for {', '.join(unjudged)}: none of its rows found "
                "in train fell in both samples"
            )
        return copies, examples, "; ".join(filter(None, notes))
    columns = _unique_per_record_columns(pctx)
    if not columns:
        return dict.fromkeys(compared), [], RECORD_RULE_NOT_JUDGED
    how = (
        f"every train record holds a value of its own in {', '.join(map(repr, columns))} "
        "(exact distinct count): rows found in train copy its records"
    )
    return {s: e.found for s, e in compared.items()}, [], how


def _sample_overlap(
    sample: SampleRows, shown: int
) -> tuple[dict[str, SplitOverlap], list[tuple[str, int, int]]]:
    """The in-memory overlap counts (with record copies) and example pairs, on the samples."""
    ctx, hashes = sample.ctx, sample.hashes
    train = pl.Series("h", hashes["train"])
    others = [s for s in ctx.splits if s != "train"]
    counts, examples = _overlap_counts(
        train,
        hashes,
        others,
        _duplicate_rows(train),
        shown,
        lambda: _record_rows(ctx, hashes["train"]),
    )
    return {c.split: c for c in counts}, examples


def _scaled_copies(sampled: SplitOverlap | None, found: int) -> int | None:
    """Rows found on the hashes that copy a record, at the share the sample shows."""
    if not found:
        return 0
    if sampled is None or not sampled.found or sampled.record_copies is None:
        return None
    return round(sampled.record_copies * found / sampled.found)


def _unique_per_record_columns(pctx: ProfileContext) -> list[str]:
    """Categorical features with as many distinct values (an exact count, below the sketch's
    size) as train has distinct feature rows, and no nulls: every record holds a value no other
    record holds, the in-memory identity rule answered from the profile. Beyond the sketch's
    size the count is an estimate (about 3 %), too coarse to tell 1 % of ties."""
    hashes = pctx.profile("train").hashes
    if hashes.threshold < HASH_SPACE or not len(hashes.features):
        return []
    records = len(np.unique(hashes.features))
    dups, m = hash_duplicates(hashes)
    if records < (1 - MAX_FINE_TIES) * m * 0.5:
        return []  # far too many repeated rows (as in memory)
    if len(pctx.feature_columns) < 2 and dups > MAX_IDENTITY_TIES * m:
        return []  # a lone feature's ties among identical rows count (as in memory)
    return [c for c in pctx.feature_columns if _one_value_per_record(pctx, c, records)]


def _one_value_per_record(pctx: ProfileContext, column: str, records: int) -> bool:
    profile = pctx.categorical("train", column)
    if profile is None or not profile.distinct_exact or profile.nulls:
        return False
    return profile.distinct == records


def _hash_overlap_metrics(compared: dict[str, HashOverlap], metrics: dict[str, Any]) -> None:
    for split, e in compared.items():
        metrics[f"overlap_hashed_rows_{split}"] = e.judged
        metrics[f"overlap_share_low_{split}"] = e.low
        metrics[f"overlap_share_high_{split}"] = e.high


def _estimate_notes(compared: dict[str, HashOverlap]) -> list[str]:
    return [
        f"{split}: {e.share:.2%} estimated on the {e.judged:,} of {e.rows:,} rows of the "
        f"row-hash sample ({ESTIMATE_CONFIDENCE:.0%} interval {e.low:.2%} to {e.high:.2%})"
        for split, e in compared.items()
        if not e.exact
    ]


def _hash_overlap_table(compared: dict[str, HashOverlap], reasons: dict[str, str]) -> Evidence:
    rows: list[tuple[Any, ...]] = [
        (s, e.rows, e.judged, e.found, e.share, e.low, e.high, "exact" if e.exact else "estimated")
        for s, e in compared.items()
    ]
    rows += [(s, None, None, None, None, None, None, r) for s, r in reasons.items() if r]
    return table(
        "Rows found in train, on the row hashes",
        ["split", "rows", "rows judged", "found in train", "share", "low", "high", "how"],
        rows,
        note=(
            "rows judged: those whose feature hash is below both profiles' hash thresholds "
            f"(all while both splits have at most {profile_module.MAX_HASHES:,} rows); low/high: a "
            f"{ESTIMATE_CONFIDENCE:.0%} interval of the share"
        ),
    )


# -- group, time, target proxy -------------------------------------------------------------
def _profile_groups(
    pctx: ProfileContext, sample: SampleRows | None, params: Any, metrics: dict[str, Any]
) -> DetectorOutcome:
    """Entities on both sides need the group column's values: on the samples (a lower bound
    when they are partial: an entity shared outside them is missed)."""
    bar = params.max_group_overlap_share
    if not pctx.config.task.group:
        return DetectorOutcome("group", False, None, bar, "not run: no [task] group column")
    if sample is None:
        return _unavailable(
            "group",
            bar,
            "it needs train's entities (the group column's values); a stored reference holds none",
        )
    note = sample.note("train", "validation", "test")
    return _on_sample(_groups(sample.ctx, params, metrics), note, "a lower bound")


def _profile_time(
    pctx: ProfileContext, sample: SampleRows | None, params: Any, metrics: dict[str, Any]
) -> DetectorOutcome:
    """Exact from the profiles: train's latest time is an edge of the time column's bins, so
    the rows of a split before it are the counts of the bins below that edge."""
    col = pctx.config.task.time
    bar = params.max_time_overlap_share
    if not col:
        return DetectorOutcome("time", False, None, bar, "not run: no [task] time column")
    if col not in pctx.profile("train").columns:
        raise DataError(f"task.time: column {col!r} not found in train")
    train = pctx.numeric("train", col)
    spec = pctx.profiles.spec.column(col)
    if train is not None and train.max is None:
        return DetectorOutcome("time", False, None, bar, "not run: the train time column is empty")
    if train is None or train.max not in spec.edges:  # a time column of text: needs its rows
        if sample is None:
            return _unavailable("time", bar, "a time column of text needs train rows")
        return _on_sample(
            _time(sample.ctx, params, metrics), sample.note("train", "validation", "test")
        )
    below = spec.edges.index(train.max) + 1  # bins under the edge at train's latest time
    found = [
        _profile_early_rows(pctx, split, col, below, train.max, spec.dtype)
        for split in ("validation", "test")
        if pctx.has_split(split)
    ]
    return _time_outcome(found, bar, metrics)


def _profile_early_rows(
    pctx: ProfileContext, split: str, col: str, below: int, last: float, dtype: str
) -> EarlyRows:
    if col not in pctx.profile(split).columns:
        raise DataError(f"task.time: column {col!r} not found in {split}")
    profile = pctx.numeric(split, col)
    if profile is None or not profile.hist or not profile.rows:
        return EarlyRows(split, 0, 0.0)
    early = int(sum(profile.hist[:below]))
    share = early / profile.rows
    if not early:
        return EarlyRows(split, 0, share)
    first = (
        -math.inf if profile.neg_inf else float(profile.min if profile.min is not None else last)
    )
    lag_s = last - first
    return EarlyRows(
        split,
        early,
        share,
        _time_text(first, dtype),
        _time_text(last, dtype),
        _lag_text(lag_s, dtype),
        lag_s,
    )


def _time_text(seconds: float, dtype: str) -> str:
    """A profiled time (epoch seconds for dates and datetimes) as the column shows it."""
    if not math.isfinite(seconds):
        return str(seconds)
    if dtype == "Date":
        return str(date(1970, 1, 1) + timedelta(days=seconds / 86_400))
    if dtype.startswith("Datetime"):
        return str(datetime(1970, 1, 1) + timedelta(seconds=seconds))
    return _number_text(seconds)


def _lag_text(seconds: float, dtype: str) -> str:
    if math.isfinite(seconds) and (dtype == "Date" or dtype.startswith(("Datetime", "Duration"))):
        return str(timedelta(seconds=seconds))
    return _number_text(seconds)


def _number_text(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value.is_integer() else str(value)


def _profile_target_proxy(
    sample: SampleRows | None, params: Any, metrics: dict[str, Any], alpha: float
) -> DetectorOutcome:
    if sample is None:
        return _unavailable(
            "target-proxy",
            params.min_proxy_score,
            "it needs train rows (each feature against the target); a stored reference holds none",
        )
    return _on_sample(_target_proxy(sample.ctx, params, metrics, alpha), sample.note("train"))


# -- conflicting labels on row hashes ------------------------------------------------------
@dataclass(frozen=True)
class HashConflicts:
    """Train rows judged on the row hashes, those in groups of one feature hash with more than
    one row hash (identical features, different labels), and those groups."""

    rows: int
    conflict_rows: int
    groups: int

    @property
    def share(self) -> float:
        return self.conflict_rows / self.rows if self.rows else 0.0


def hash_conflicts(hashes: RowHashes) -> HashConflicts:
    """Identical feature rows with different labels, on a profile's row hashes (exact up to
    ``MAX_HASHES`` rows; beyond, a uniform sample of feature rows, copies kept together)."""
    frame = pl.DataFrame({"f": hashes.features, "r": hashes.rows})
    groups = (
        frame.group_by("f")
        .agg(pl.len().alias("size"), pl.col("r").n_unique().alias("labels"))
        .filter(pl.col("labels") > 1)
    )
    return HashConflicts(frame.height, int(groups["size"].sum()), groups.height)


def hash_label_conflicts(train: RowHashes, split: RowHashes) -> tuple[int, int]:
    """Rows of a labelled split whose features occur in train with another label (a train row
    of the same feature hash and another row hash), and the rows judged (below both profiles'
    hash thresholds)."""
    threshold = min(train.threshold, split.threshold)
    train_features, train_rows = keep_below(train.features, train.rows, threshold)
    features, row_hashes = keep_below(split.features, split.rows, threshold)
    groups = (
        pl.DataFrame({"f": train_features, "r": train_rows})
        .group_by("f")
        .agg(pl.col("r").n_unique().alias("labels"), pl.col("r").first().alias("r0"))
    )
    matched = pl.DataFrame({"f": features, "r": row_hashes}).join(groups, on="f")
    conflicting = matched.filter((pl.col("labels") > 1) | (pl.col("r") != pl.col("r0")))
    return conflicting.height, len(features)


def _profile_conflicts(
    pctx: ProfileContext, sample: SampleRows | None, params: Any, metrics: dict[str, Any]
) -> DetectorOutcome:
    bar = params.max_conflict_share
    if not pctx.is_classification:
        return DetectorOutcome("conflicts", False, None, bar, "not run: applies to classification")
    if not pctx.feature_columns:
        return DetectorOutcome("conflicts", False, None, bar, "not run: no feature columns")
    # measure: conflicts on the row hashes; copies of one record told from coarse rows on rows
    hashed = hash_conflicts(pctx.profile("train").hashes)
    metrics["hash_conflict_share"] = hashed.share
    across = _cross_conflicts(pctx, metrics)
    if sample is None:
        reason = (
            f"{hashed.share:.2%} of train rows are identical feature rows with different "
            f"labels ({hashed.groups} groups); telling copies of one record from coarse rows "
            "needs train rows, and a stored reference holds none"
        )
        return _with_note(_unavailable("conflicts", bar, reason), across)
    sampled = _conflict_groups(sample.ctx, sample.hashes["train"], params.max_rows_shown)
    found = _scaled_conflicts(sampled, hashed)
    _conflict_metrics(found, metrics)
    # decide
    fired = conflict_verdict(found.record_share, bar) == "fired"
    # explain
    outcome = _conflict_outcome(found, _conflict_rows(sample.ctx, sampled), fired, bar)
    outcome = replace(outcome, evidence=_evidence_on(outcome.evidence, sample.note("train")))
    notes = [_conflict_sample_note(sampled, hashed, sample.note("train")), across]
    return _with_note(outcome, "; ".join(filter(None, notes)))


def _scaled_conflicts(sampled: ConflictGroups, hashed: HashConflicts) -> ConflictGroups:
    """The sample's conflicts carried to the profile's counts: identical feature rows with
    different labels counted on the row hashes, split into copies of one record and coarse
    rows in the proportions the sample shows; rows of one declared id as the sample shows
    them. The sample's own numbers when it holds every train row."""
    m_s, m = sampled.rows, hashed.rows
    if not m_s or not m:
        return sampled
    per_row = m / m_s
    rate = (hashed.conflict_rows / m) / (sampled.group_rows / m_s) if sampled.group_rows else 0.0
    group_rate = hashed.groups / sampled.groups if sampled.groups else 0.0
    in_groups = sampled.record_rows - sampled.id_only_rows
    return replace(
        sampled,
        rows=m,
        record_rows=round((in_groups * rate + sampled.id_only_rows) * per_row),
        record_groups=round(sampled.record_groups * group_rate),
        id_rows=round(sampled.id_rows * per_row),
        coarse_rows=round(sampled.coarse_rows * rate * per_row),
        coarse_groups=round(sampled.coarse_groups * group_rate),
        group_rows=hashed.conflict_rows,
        groups=hashed.groups,
        id_only_rows=round(sampled.id_only_rows * per_row),
    )


def _conflict_sample_note(sampled: ConflictGroups, hashed: HashConflicts, note: str) -> str:
    if hashed.conflict_rows and not sampled.group_rows:
        return (
            f"{hashed.share:.2%} of train rows are identical feature rows with different labels, "
            "none of them together in the sample: copies of one record not told from coarse rows"
        )
    if not note:
        return ""
    return (
        f"copies of one record told from coarse rows on {note}, in proportion to the "
        f"{hashed.share:.2%} of train rows counted on the row hashes"
    )


def _cross_conflicts(pctx: ProfileContext, metrics: dict[str, Any]) -> str:
    """Rows of the other labelled splits found in train with another label (a note: the
    overlap detector judges those rows)."""
    train = pctx.profile("train")
    notes = []
    for split in pctx.splits:
        if split == "train" or not pctx.has_labels(split):
            continue
        if _not_comparable(train, pctx.profile(split), split):
            continue
        conflicting, judged = hash_label_conflicts(train.hashes, pctx.profile(split).hashes)
        metrics[f"cross_conflict_share_{split}"] = conflicting / judged if judged else 0.0
        if conflicting:
            notes.append(
                f"{conflicting:,} of {judged:,} {split} rows judged match train rows' features "
                "with another label"
            )
    return "; ".join(notes)


# --------------------------------------------------------------------------- preprocessing
#: Two values agree "to numerical precision" within this share of their scale (|value| plus the
#: column's standard deviation): float32 storage, CSV round trips and summation order stay far
#: below it.
EXACT_RTOL = 1e-6
#: Data alone: a pooled mean within this of 0 and a standard deviation within this of 1 (or a
#: minimum within this of 0 and a maximum of 1) is what a scaler fitted on those rows leaves.
EXACT_TOL = 1e-6
#: A fitted statistic equals a value when within this many standard errors of the
#: pooled-minus-train difference (or EXACT_RTOL of its scale, whichever is larger): a fit on
#: other rows of the same data lands about one standard error away, a fit on exactly those rows
#: agrees to rounding.
MATCH_SE = 0.001
#: Train's and a pooled set's values tell the two apart when they differ by this many tolerances.
SEPARATION = 10.0
#: Standard error of a median relative to a mean's (normal data: sqrt(pi / 2)).
MEDIAN_SE = math.sqrt(math.pi / 2)
#: The splits a scaler fitted "on all the data" pooled with train.
POOLED_SPLITS = ("validation", "test")
#: Artifact formats that hold a scikit-learn object (pickle and joblib only with --trust-model).
SKLEARN_FORMATS = ("skops", "pickle")
FORMAT_WORDS = {
    "xgboost-json": "an XGBoost JSON booster",
    "xgboost-ubj": "an XGBoost UBJ booster",
    "onnx": "an ONNX graph",
    "torchscript": "a TorchScript module",
    "torch-pickle": "a torch file",
}


def pooled_sets(splits: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Train pooled with each non-empty combination of the validation and test splits present,
    largest first: {"train+validation+test": ("train", "validation", "test"), ...}."""
    others = [s for s in POOLED_SPLITS if s in splits]
    sets = [c for r in range(len(others), 0, -1) for c in itertools.combinations(others, r)]
    return {"+".join(("train", *c)): ("train", *c) for c in sets} if "train" in splits else {}


def moments(values: np.ndarray) -> NumericProfile:
    """Count, mean, sum of squared deviations, minimum and maximum of the finite values."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return NumericProfile(rows=len(values), nans=len(values))
    mean = float(x.mean())
    return NumericProfile(
        rows=len(values),
        nans=len(values) - len(x),
        count=len(x),
        min=float(x.min()),
        max=float(x.max()),
        mean=mean,
        m2=float(((x - mean) ** 2).sum()),
    )


def pooled(per_split: Mapping[str, NumericProfile], splits: Sequence[str]) -> NumericProfile:
    """The moments of the splits' rows together (exact: counts, means and squared deviations
    merge)."""
    return functools.reduce(NumericProfile.merge, [per_split[s] for s in splits])


def compare_statistic(fitted: float, train: float, pool: float, se: float, scale: float) -> str:
    """Where a fitted statistic lies: ``pooled`` (equal to the pooled value, which train's
    differs from by ``SEPARATION`` tolerances), ``train`` (equal to train's, told apart from the
    pooled value), ``other`` (told apart, equal to neither), or ``unresolved`` (train and the
    pooled set agree within ``SEPARATION`` tolerances: the statistic cannot tell them apart).

    The tolerance is the larger of ``EXACT_RTOL`` × ``scale`` (numerical precision) and
    ``MATCH_SE`` standard errors ``se`` of the pooled-minus-train difference (sampling noise).
    """
    tol = max(EXACT_RTOL * scale, MATCH_SE * se)
    gap = abs(pool - train)
    if gap <= 0 or gap < SEPARATION * tol:
        return "unresolved"
    if abs(fitted - pool) <= tol:
        return "pooled"
    if abs(fitted - train) <= tol:
        return "train"
    return "other"


def fitted_on(verdicts: Mapping[str, Sequence[str]], wanted: str = "pooled") -> str | None:
    """The first pooled set for which every statistic that tells it from train says ``wanted``
    (at least one does), else None."""
    for pool, found in verdicts.items():
        told = [v for v in found if v != "unresolved"]
        if told and all(v == wanted for v in told):
            return pool
    return None


def scaling_forms(m: NumericProfile) -> set[str]:
    """What a scaler fitted on exactly these values leaves: ``mean 0, sd 1`` (population or
    sample standard deviation) and/or ``min 0, max 1`` (not for values that are all 0 or 1),
    each to ``EXACT_TOL``."""
    forms: set[str] = set()
    if m.count < 2:
        return forms
    sds = (math.sqrt(m.variance), math.sqrt(m.m2 / (m.count - 1)))
    if abs(m.mean) <= EXACT_TOL and any(abs(sd - 1) <= EXACT_TOL for sd in sds):
        forms.add("mean 0, sd 1")
    # Values in [0, 1] are all 0 or 1 exactly when mean(x (1 - x)) is 0: a natural indicator
    # (a pixel that is 1 once, in test) is not a min-max-scaled measurement.
    binary = m.mean - (m.variance + m.mean**2) <= EXACT_TOL
    if (
        m.min is not None
        and m.max is not None
        and abs(m.min) <= EXACT_TOL
        and abs(m.max - 1) <= EXACT_TOL
        and not binary
    ):
        forms.add("min 0, max 1")
    return forms


def pooled_scaling(
    per_split: Mapping[str, NumericProfile], sets: Mapping[str, tuple[str, ...]]
) -> tuple[str, str] | None:
    """(form, pooled set) when the pooled splits are exactly scaled and train alone is not."""
    own = scaling_forms(per_split["train"])
    for name, splits in sets.items():
        extra = sorted(scaling_forms(pooled(per_split, splits)) - own)
        if extra:
            return extra[0], name
    return None


# -- what a step read ---------------------------------------------------------------------
@dataclass
class StepInput:
    """The columns one pipeline step reads: their names (None where a column cannot be named
    after a feature), the rows per split, and either the values per split (in memory: what
    the model reads, through the earlier steps) or, on profiles, the raw feature columns'
    profiles (only for a step that reads them directly)."""

    names: tuple[str | None, ...] | None
    rows: dict[str, int]
    values: dict[str, Any] | None = None
    profiled: dict[str, dict[str, NumericProfile]] | None = None
    _moments: dict[int, dict[str, NumericProfile] | None] = field(default_factory=dict)

    def name(self, j: int) -> str | None:
        return self.names[j] if self.names is not None and j < len(self.names) else None

    @property
    def n_columns(self) -> int | None:
        """How many columns the step reads (None when not known)."""
        if self.values is not None:
            return int(np.shape(self.values["train"])[1])
        return None if self.names is None else len(self.names)

    def column(self, j: int, split: str) -> np.ndarray | None:
        """Column ``j`` of a split as float64 (None: not numeric, or not in memory)."""
        if self.values is None:
            return None
        X = self.values[split]
        if hasattr(X, "iloc"):
            from pandas.api.types import is_numeric_dtype

            series = X.iloc[:, j]
            if not is_numeric_dtype(series.dtype):
                return None
            return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind not in "fiub":
            return None
        return X[:, j].astype(np.float64)

    def moments(self, j: int) -> dict[str, NumericProfile] | None:
        """Per split, the moments of column ``j`` (None when they are not known)."""
        if j not in self._moments:
            self._moments[j] = self._compute_moments(j)
        return self._moments[j]

    def _compute_moments(self, j: int) -> dict[str, NumericProfile] | None:
        if self.values is not None:
            out = {}
            for split in self.rows:
                values = self.column(j, split)
                if values is None:
                    return None
                out[split] = moments(values)
            return out
        name = self.name(j)
        if self.profiled is None or name is None:
            return None
        found = {s: self.profiled[s].get(name) for s in self.rows}
        if any(m is None for m in found.values()):
            return None
        return {s: m for s, m in found.items() if m is not None}

    def median(self, j: int, splits: Sequence[str]) -> float | None:
        """The median of column ``j`` over ``splits`` together (in memory only)."""
        if self.values is None:
            return None
        parts = [self.column(j, s) for s in splits]
        if any(p is None for p in parts):
            return None
        x = np.concatenate([p for p in parts if p is not None])
        x = x[np.isfinite(x)]
        return float(np.median(x)) if len(x) else None

    def subset(self, index: Sequence[int]) -> StepInput:
        """The columns ``index`` (a ColumnTransformer's list for one transformer)."""
        idx = list(index)
        names = None if self.names is None else tuple(self.name(j) for j in idx)
        values = None
        if self.values is not None:
            values = {
                s: X.iloc[:, idx] if hasattr(X, "iloc") else np.asarray(X)[:, idx]
                for s, X in self.values.items()
            }
        return StepInput(names, self.rows, values, self.profiled)

    def after(self, step: Any, label: str, notes: list[str]) -> StepInput:
        """What the next step reads: this input through the fitted ``step`` (in memory), named
        by the step's output names. On profiles only the names and rows carry over."""
        names = _output_names(step, self.names)
        if self.values is None:
            return StepInput(names, self.rows)
        try:
            with warnings.catch_warnings():  # the model's own predict would warn alike
                warnings.simplefilter("ignore")
                out = {s: step.transform(X) for s, X in self.values.items()}
        except Exception as exc:  # a step that cannot transform these rows: judge by counts
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            notes.append(
                f"{label} could not transform the data ({type(exc).__name__}: {reason}); "
                "the steps after it are judged by their row counts only"
            )
            return StepInput(names, self.rows)
        if any(hasattr(Y, "toarray") for Y in out.values()):
            notes.append(
                f"{label} outputs a sparse matrix; the steps after it are judged by "
                "their row counts only"
            )
            return StepInput(names, self.rows)
        return StepInput(names, self.rows, out)


def _output_names(step: Any, names: tuple[str | None, ...] | None) -> tuple[str | None, ...] | None:
    """The step's output column names from its input names (None when it cannot say)."""
    if names is None or any(n is None for n in names):
        return None
    try:
        out = step.get_feature_names_out([str(n) for n in names])
    except Exception:  # not every transformer can name its outputs
        return None
    return tuple(str(n) for n in out)


# -- walking a pipeline -------------------------------------------------------------------
@dataclass(frozen=True)
class StatisticMatch:
    """One fitted statistic of one column against train's and a pooled set's values."""

    step: str
    statistic: str
    column: str
    fitted: float
    train: float
    pooled: float
    pool: str
    #: The pooled-minus-train difference in standard errors (None for minima and maxima).
    gap_se: float | None
    verdict: str


@dataclass(frozen=True)
class StepFit:
    """One preprocessing step: the rows it saw against train's, and its statistics."""

    step: str
    kind: str
    #: n_samples_seen_ (per column: the entry furthest above train's); None when it has none.
    rows_seen: int | None
    #: Train's rows (per column: that column's non-missing train values).
    train_rows: int
    #: The pooled set whose rows (per column: non-missing values) equal the count, if any.
    rows_pool: str | None
    #: The count exceeds train's rows (and the statistics do not equal train's).
    beyond_rows: bool
    #: The pooled set every statistic that tells it from train equals, if any.
    stats_pool: str | None
    matches: tuple[StatisticMatch, ...]
    judged: int
    unmapped: int
    #: Statistics of named columns whose values are not known (on profiles after the first
    #: step, medians on profiles, columns that are not numeric).
    unjudged: int = 0
    #: The count is per column (the step skipped missing values).
    per_column: bool = False

    @property
    def fired(self) -> bool:
        return self.beyond_rows or self.stats_pool is not None

    @property
    def pool(self) -> str:
        return self.stats_pool or self.rows_pool or "more rows than train"

    @property
    def label(self) -> str:
        return f"{self.step!r} ({self.kind})"


@dataclass
class PipelineScan:
    """The steps judged in a pipeline, and what could not be judged."""

    sets: dict[str, tuple[str, ...]]
    steps: list[StepFit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fitted_statistics(step: Any) -> list[tuple[str, str, np.ndarray]]:
    """(attribute, kind, per-column values) of what a known transformer learned: kinds
    ``mean``, ``scale`` (population standard deviation), ``min``, ``max``, ``max_abs``,
    ``median``."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    wanted: list[tuple[str, str]] = []
    if isinstance(step, StandardScaler):
        wanted = [("mean_", "mean"), ("scale_", "scale")]
    elif isinstance(step, MinMaxScaler):
        wanted = [("data_min_", "min"), ("data_max_", "max")]
    elif isinstance(step, MaxAbsScaler):
        wanted = [("max_abs_", "max_abs")]
    elif isinstance(step, RobustScaler):
        wanted = [("center_", "median")]
    elif (
        isinstance(step, SimpleImputer)
        and step.strategy in ("mean", "median")
        and isinstance(step.missing_values, float)
        and math.isnan(step.missing_values)
    ):
        wanted = [("statistics_", str(step.strategy))]
    out = []
    for attr, kind in wanted:
        value = getattr(step, attr, None)
        if value is None:
            continue
        try:
            array = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            continue
        out.append((attr, kind, array))
    return out


def _statistic(kind: str, m: NumericProfile) -> float | None:
    if not m.count:
        return None
    if kind == "mean":
        return m.mean
    if kind == "scale":
        return math.sqrt(m.variance)
    if kind == "min":
        return m.min
    if kind == "max":
        return m.max
    if kind == "max_abs" and m.min is not None and m.max is not None:
        return max(abs(m.min), abs(m.max))
    return None


def statistic_se(kind: str, sd: float, n_train: int, n_pooled: int) -> float:
    """Standard error of the pooled-minus-train difference of a statistic: for a mean
    sd·sqrt(n_other / (n_pooled·n_train)); a standard deviation's is that / sqrt(2), a
    median's × sqrt(pi / 2); 0 for minima and maxima (data values: numeric tolerance only)."""
    if n_train <= 0 or n_pooled <= n_train:
        return 0.0
    base = sd * math.sqrt((n_pooled - n_train) / (n_pooled * n_train))
    return {"mean": base, "scale": base / math.sqrt(2), "median": base * MEDIAN_SE}.get(kind, 0.0)


def _match_column(
    inp: StepInput, j: int, kind: str, fitted: float, sets: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, float, float, float | None]] | None:
    """Per pooled set: (verdict, train value, pooled value, gap in standard errors) for the
    statistic ``kind`` of column ``j``; None when the column's values are not known."""
    per_split = inp.moments(j)
    if per_split is None:
        return None
    train = per_split["train"]
    out = {}
    for name, splits in sets.items():
        pool = pooled(per_split, splits)
        if kind == "median":
            t, p = inp.median(j, ("train",)), inp.median(j, splits)
        else:
            t, p = _statistic(kind, train), _statistic(kind, pool)
        if t is None or p is None:
            return None
        sd = math.sqrt(pool.variance)
        if kind == "scale" and min(t, p) <= 1e-12 * (abs(pool.mean) + 1):
            return None  # a constant column: the scaler stores 1, not its standard deviation
        se = statistic_se(kind, sd, train.count, pool.count)
        verdict = compare_statistic(fitted, t, p, se, abs(t) + sd)
        out[name] = (verdict, t, p, abs(p - t) / se if se > 0 else None)
    return out


@dataclass(frozen=True)
class RowsSeen:
    """A step's n_samples_seen_ against train: the count (per column: the entry furthest above
    train's), train's (rows, or that column's non-missing values), whether it exceeds train's,
    the pooled set whose rows it equals, and why it was not judged."""

    seen: int | None = None
    train: int = 0
    excess: bool = False
    pool: str | None = None
    note: str = ""
    per_column: bool = False


def _rows_seen(step: Any, inp: StepInput, sets: Mapping[str, tuple[str, ...]]) -> RowsSeen:
    """The step's n_samples_seen_ against train's rows (per column when it counts per column:
    non-missing values). A count that is not a whole number is a sum of sample weights, not
    judged."""
    seen = getattr(step, "n_samples_seen_", None)
    if seen is None:
        return RowsSeen(train=inp.rows["train"])
    counts = np.asarray(seen, dtype=np.float64).reshape(-1)
    if not len(counts) or not np.all(np.isfinite(counts)) or np.any(counts != np.round(counts)):
        return RowsSeen(
            train=inp.rows["train"], note="n_samples_seen_ is not a whole number (sample weights)"
        )
    width = len(counts)
    per_column = np.ndim(seen) > 0 and inp.n_columns == width
    rows: dict[str, np.ndarray] = {}
    for split, n in inp.rows.items():
        per = np.full(width, n, dtype=np.float64)
        if per_column:
            for j in range(width):
                m = inp.moments(j)
                if m is not None:
                    per[j] = m[split].count
        rows[split] = per
    train = rows["train"]
    match = next(
        (name for name, splits in sets.items() if np.all(counts == sum(rows[s] for s in splits))),
        None,
    )
    k = int(np.argmax(counts - train))
    excess = bool(np.any(counts > train))
    return RowsSeen(int(counts[k]), int(train[k]), excess, match, per_column=per_column)


def _judge_step(step: Any, inp: StepInput, path: str, scan: PipelineScan) -> None:
    """Judge one leaf transformer (a scaler or imputer qa-gate knows, or any step with
    n_samples_seen_) and add it to the scan."""
    stats = _fitted_statistics(step)
    if not stats and getattr(step, "n_samples_seen_", None) is None:
        return
    if not scan.sets:  # train alone: nothing to pool with, the row count still tells
        stats = []
    kind = type(step).__name__
    rows = _rows_seen(step, inp, scan.sets)
    if rows.note:
        scan.notes.append(f"{path!r} ({kind}): {rows.note}")
    verdicts: dict[str, list[str]] = {name: [] for name in scan.sets}
    matches: list[StatisticMatch] = []
    judged = unmapped = unjudged = 0
    for attr, stat_kind, values in stats:
        for j, fitted in enumerate(values):
            name = inp.name(j)
            if name is None:
                unmapped += 1
                continue
            if not math.isfinite(fitted):
                continue
            found = _match_column(inp, j, stat_kind, float(fitted), scan.sets)
            if found is None:
                unjudged += 1
                continue
            judged += 1
            for pool, (verdict, *_rest) in found.items():
                verdicts[pool].append(verdict)
            pool = next((p for p, v in found.items() if v[0] == "pooled"), next(iter(found)))
            verdict, t, p, gap = found[pool]
            matches.append(
                StatisticMatch(path, attr, name, float(fitted), t, p, pool, gap, verdict)
            )
    stats_pool = fitted_on(verdicts)
    on_train = fitted_on(verdicts, "train") is not None
    if rows.excess and on_train:
        scan.notes.append(
            f"{path!r} ({kind}) counted {rows.seen:,} rows, more than train's "
            f"{rows.train:,}, but its statistics equal train's (repeated partial_fit?)"
        )
    scan.steps.append(
        StepFit(
            path,
            kind,
            rows.seen,
            rows.train,
            rows.pool,
            rows.excess and not on_train,
            stats_pool,
            tuple(matches),
            judged,
            unmapped,
            unjudged,
            rows.per_column,
        )
    )


def _column_index(ct: Any, name: str, columns: Any, inp: StepInput) -> list[int] | None:
    """The input positions a ColumnTransformer gives its transformer ``name``."""
    resolved = getattr(ct, "_transformer_to_input_indices", None)
    if isinstance(resolved, Mapping) and name in resolved:
        return [int(j) for j in resolved[name]]
    items = [columns] if isinstance(columns, str | int) else list(np.asarray(columns).tolist())
    if all(isinstance(c, bool) for c in items):
        return [j for j, keep in enumerate(items) if keep]
    if all(isinstance(c, int) for c in items):
        return [int(c) for c in items]
    names = list(inp.names or ())
    wanted = [c for c in items if isinstance(c, str) and c in names]
    if len(wanted) == len(items):
        return [names.index(c) for c in wanted]
    return None


def _walk(est: Any, inp: StepInput, path: str, scan: PipelineScan) -> None:
    """Judge every transformer of ``est`` on what it reads: the steps of a Pipeline in order
    (each reading the previous one's output), a ColumnTransformer's transformers on their
    columns, a FeatureUnion's on the same input."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    def inner(name: str) -> str:
        return f"{path}__{name}" if path else name

    if isinstance(est, Pipeline):
        current = inp
        for i, (name, step) in enumerate(est.steps):
            if step is None or isinstance(step, str):
                continue
            _walk(step, current, inner(name), scan)
            if i < len(est.steps) - 1:
                current = current.after(step, repr(inner(name)), scan.notes)
    elif isinstance(est, ColumnTransformer):
        for name, transformer, columns in est.transformers_:
            if isinstance(transformer, str):  # drop / passthrough
                continue
            index = _column_index(est, name, columns, inp)
            if index is None:
                scan.notes.append(f"{inner(name)!r}: its columns could not be resolved")
                continue
            _walk(transformer, inp.subset(index), inner(name), scan)
    elif isinstance(est, FeatureUnion):
        for name, transformer in est.transformer_list:
            if not isinstance(transformer, str):
                _walk(transformer, inp, inner(name), scan)
    else:
        _judge_step(est, inp, path, scan)


def is_pipeline(model: Any) -> bool:
    """A scikit-learn Pipeline, ColumnTransformer or FeatureUnion (what holds preprocessing)."""
    try:
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import FeatureUnion, Pipeline
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, Pipeline | ColumnTransformer | FeatureUnion)


def model_input_names(
    model: Any, meta: ModelMeta | None, encoder: FeatureEncoder | None
) -> list[str] | None:
    """The names of the columns a scikit-learn model reads, as qa.models feeds it: the
    sidecar encoder's feature columns (a frame), the model's feature_names_in_ (a frame), or
    the encoder's matrix columns (None when no encoder is known)."""
    if meta is not None and meta.input == "frame":
        return list(meta.encoder.feature_columns)
    if meta is None and hasattr(model, "feature_names_in_"):
        return [str(c) for c in model.feature_names_in_]
    chosen = meta.encoder if meta is not None else encoder
    return None if chosen is None else list(chosen.output_names)


@dataclass(frozen=True)
class ArtifactScan:
    """The pipeline scan of the model artifact, or why there is none."""

    scan: PipelineScan | None
    reason: str = ""


def _artifact_model(
    path: str | None, trust: bool, load: Callable[[], LoadedModel]
) -> tuple[LoadedModel | None, str]:
    """The loaded artifact when it can hold a scikit-learn pipeline, else the reason."""
    if not path:
        return None, "no model artifact"
    try:
        fmt = preflight_artifact(path, trust)
    except ModelError as exc:
        return None, f"the model artifact is refused ({exc})"
    if fmt and fmt not in SKLEARN_FORMATS:
        words = FORMAT_WORDS.get(fmt, fmt)
        return None, f"not applicable (the model artifact is {words}, not a scikit-learn pipeline)"
    try:
        loaded = load()
    except (ModelError, DataError) as exc:
        return None, f"the model artifact could not be read ({exc})"
    if not is_pipeline(loaded.model):
        return None, (
            f"not applicable (the model is a {type(loaded.model).__name__}, "
            "not a scikit-learn pipeline)"
        )
    if loaded.meta is not None and loaded.meta.input == "none":
        return None, "not applicable (the model ignores its input)"
    return loaded, ""


def _artifact_scan(ctx: Context) -> ArtifactScan:
    """The model artifact's pipeline walked on the splits the model reads (in memory)."""
    model = ctx.config.model
    loaded, reason = _artifact_model(model.artifact, model.trust, ctx.model_artifact)
    if loaded is None:
        return ArtifactScan(None, reason)
    splits = [s for s in ("train", *POOLED_SPLITS) if ctx.has_split(s)]
    values = {s: _estimator_input(ctx.split_input(s), loaded.model, loaded.meta) for s in splits}
    first = values["train"]
    names = (
        [str(c) for c in first.columns]
        if hasattr(first, "columns")
        else model_input_names(loaded.model, loaded.meta, ctx.encoder)
    )
    rows = {s: int(X.shape[0]) for s, X in values.items()}
    scan = PipelineScan(pooled_sets(splits))
    if names is not None and len(names) != first.shape[1]:
        scan.notes.append(
            f"the model reads {first.shape[1]} columns and qa-gate names {len(names)}: its "
            "columns cannot be named, so steps are judged by their row counts only"
        )
        names = None
    inp = StepInput(tuple(names) if names is not None else None, rows, values)
    _walk(loaded.model, inp, "", scan)
    return ArtifactScan(scan)


# -- the data alone -----------------------------------------------------------------------
@dataclass(frozen=True)
class PooledScaled:
    """A float feature exactly scaled on train pooled with other splits, and not on train."""

    feature: str
    form: str
    pool: str
    pooled: NumericProfile
    train: NumericProfile


@dataclass(frozen=True)
class DataScan:
    """The data-alone part: the float features judged and those scaled on pooled splits (None
    when it could not run, with the reason)."""

    judged: int | None
    found: tuple[PooledScaled, ...] = ()
    reason: str = ""


def _data_scan(
    per_feature: Mapping[str, Mapping[str, NumericProfile]], splits: Sequence[str]
) -> DataScan:
    sets = pooled_sets(splits)
    if not sets:
        return DataScan(None, reason="no validation or test split to pool with train")
    if not per_feature:
        return DataScan(None, reason="no float feature")
    found = []
    for feature, per_split in per_feature.items():
        hit = pooled_scaling(per_split, sets)
        if hit is not None:
            form, pool = hit
            found.append(
                PooledScaled(feature, form, pool, pooled(per_split, sets[pool]), per_split["train"])
            )
    return DataScan(len(per_feature), tuple(found))


def _feature_moments(ctx: Context) -> dict[str, dict[str, NumericProfile]]:
    """Per float feature column, per split (train, validation, test) its moments."""
    splits = [s for s in ("train", *POOLED_SPLITS) if ctx.has_split(s)]
    train = ctx.frame("train")
    out: dict[str, dict[str, NumericProfile]] = {}
    for column in ctx.feature_columns:
        if not train.schema[column].is_float():
            continue
        if not all(column in ctx.frame(s).columns for s in splits):
            continue
        out[column] = {
            s: moments(ctx.frame(s)[column].cast(pl.Float64, strict=False).to_numpy())
            for s in splits
        }
    return out


def _preprocessing(ctx: Context, params: Any, metrics: dict[str, Any]) -> DetectorOutcome:
    # measure
    artifact = _artifact_scan(ctx)
    splits = [s for s in ("train", *POOLED_SPLITS) if ctx.has_split(s)]
    data = _data_scan(_feature_moments(ctx), splits)
    # decide and explain
    return _preprocessing_outcome(artifact, data, params, metrics)


# -- decide and explain -------------------------------------------------------------------
def _preprocessing_outcome(
    artifact: ArtifactScan, data: DataScan, params: Any, metrics: dict[str, Any]
) -> DetectorOutcome:
    """Fails when a step of the artifact's pipeline was fitted on more than train; warns when
    only the data say features were scaled on pooled splits."""
    scan = artifact.scan
    if scan is None and data.judged is None:
        return DetectorOutcome(
            "preprocessing", False, None, 0, f"not run: {artifact.reason}; {data.reason}"
        )
    parts: list[str] = []
    evidence: list[Evidence] = []
    subjects: list[str] = []
    caveats: list[str] = []
    fired: list[StepFit] = []
    if scan is not None:
        fired = [s for s in scan.steps if s.fired]
        unmapped = sum(s.unmapped for s in scan.steps)
        metrics["preprocessing_steps_judged"] = len(scan.steps)
        metrics["preprocessing_steps_fitted_beyond_train"] = len(fired)
        metrics["preprocessing_columns_unmapped"] = unmapped
        parts.append(_steps_text(scan, fired))
        evidence += _steps_evidence(scan, params.max_rows_shown)
        subjects += [f"preprocessing:{s.step}" for s in fired]
        if unmapped:
            caveats.append(
                f"{unmapped} fitted statistic(s) of columns that cannot be named after a "
                "feature were skipped"
            )
        unjudged = sum(s.unjudged for s in scan.steps)
        if unjudged:
            caveats.append(
                f"{unjudged} fitted statistic(s) not judged (their column's values are not "
                "known here or not numeric)"
            )
        caveats += scan.notes
    else:
        parts.append(f"pipeline: {artifact.reason}")
    if data.judged is not None:
        metrics["preprocessing_float_features_judged"] = data.judged
        metrics["preprocessing_pooled_scaled_features"] = len(data.found)
        parts.append(_data_text(data))
        if data.found:
            evidence.append(_data_evidence(data, params.max_rows_shown))
            if not fired:
                subjects += [f.feature for f in data.found]
    else:
        parts.append(f"data: not judged ({data.reason})")
    return DetectorOutcome(
        "preprocessing",
        bool(fired),
        float(len(fired)) if scan is not None else None,
        0,
        "; ".join(parts if scan is not None else parts[::-1]),  # what was judged first
        evidence,
        subjects,
        "; ".join(caveats),
        suspect=bool(data.found) and not fired,
    )


def _steps_text(scan: PipelineScan, fired: list[StepFit]) -> str:
    if not scan.steps:
        return "pipeline: no preprocessing step that learns statistics qa-gate can judge"
    if not fired:
        names = ", ".join(s.label for s in scan.steps[:5])
        return f"no pipeline step fitted on more than train ({len(scan.steps)} judged: {names})"
    return "fitted on more than train: " + "; ".join(_step_reason(s) for s in fired[:5])


def _step_reason(s: StepFit) -> str:
    why = []
    if s.beyond_rows:
        what = "non-missing train values of a column" if s.per_column else "train rows"
        why.append(f"n_samples_seen_ {s.rows_seen:,} > {s.train_rows:,} {what}")
    if s.stats_pool is not None:
        names = sorted({m.statistic for m in s.matches if m.verdict == "pooled"})
        why.append(f"{', '.join(names)} equal the {s.stats_pool} values, not train's")
    return f"step {s.label} on {s.pool} ({'; '.join(why)})"


def _steps_evidence(scan: PipelineScan, shown: int) -> list[Evidence]:
    steps = table(
        "Preprocessing steps: the rows they were fitted on",
        [
            "step",
            "class",
            "rows seen",
            "train rows",
            "rows equal",
            "statistics judged",
            "statistics equal",
            "fitted on more than train",
        ],
        [
            (
                s.step,
                s.kind,
                s.rows_seen,
                s.train_rows,
                s.rows_pool,
                s.judged,
                s.stats_pool,
                s.fired,
            )
            for s in scan.steps
        ],
        note="rows seen: n_samples_seen_ (its largest entry when counted per column); rows "
        "equal / statistics equal: the pooled set (train with validation and/or test) they "
        "equal, if any",
    )
    rows = [
        (m.step, m.statistic, m.column, m.fitted, m.train, m.pooled, m.pool, m.gap_se, m.verdict)
        for s in sorted(scan.steps, key=lambda s: not s.fired)
        for m in s.matches
    ]
    if not rows:
        return [steps]
    stats = table(
        "Fitted statistics against train's and the pooled values",
        [
            "step",
            "statistic",
            "feature",
            "fitted",
            "train",
            "pooled",
            "pooled set",
            "gap (SE)",
            "equals",
        ],
        rows,
        note=(
            "equals: pooled / train / other, or unresolved when train and the pooled set agree "
            f"within {SEPARATION:g} tolerances (tolerance: the larger of {EXACT_RTOL:g} x "
            f"(|train| + sd) and {MATCH_SE:g} standard errors of the gap)"
        ),
        max_rows=shown,
    )
    return [steps, stats]


def _data_text(data: DataScan) -> str:
    if not data.found:
        return f"no float feature exactly scaled on pooled splits only ({data.judged} judged)"
    names = ", ".join(f"{f.feature!r} ({f.form} on {f.pool})" for f in data.found[:5])
    more = f" and {len(data.found) - 5} more" if len(data.found) > 5 else ""
    return (
        f"{len(data.found)} feature(s) scaled on the pooled splits, not on train alone: "
        f"{names}{more} — the scaler was probably fitted on all splits"
    )


def _data_evidence(data: DataScan, shown: int) -> Evidence:
    rows = [
        (
            f.feature,
            f.form,
            f.pool,
            f.pooled.mean,
            math.sqrt(f.pooled.variance),
            f.pooled.min,
            f.pooled.max,
            f.train.mean,
            math.sqrt(f.train.variance),
            f.train.min,
            f.train.max,
        )
        for f in data.found
    ]
    return table(
        "Features exactly scaled on the pooled splits, not on train",
        [
            "feature",
            "scaled to",
            "pooled set",
            "pooled mean",
            "pooled sd",
            "pooled min",
            "pooled max",
            "train mean",
            "train sd",
            "train min",
            "train max",
        ],
        rows,
        note=f"exact: within {EXACT_TOL:g}; sd: population standard deviation",
        max_rows=shown,
    )


# -- on profiles ---------------------------------------------------------------------------
def _float_column(pctx: ProfileContext, column: str) -> bool:
    spec = pctx.profiles.spec.column(column)
    return spec.kind == "numeric" and spec.dtype.startswith("Float")


def _number_column(pctx: ProfileContext, column: str) -> bool:
    spec = pctx.profiles.spec.column(column)
    return spec.kind == "numeric" and spec.dtype.startswith(("Float", "Int", "UInt"))


def _profile_feature_moments(pctx: ProfileContext) -> dict[str, dict[str, NumericProfile]]:
    splits = [s for s in ("train", *POOLED_SPLITS) if pctx.has_split(s)]
    out: dict[str, dict[str, NumericProfile]] = {}
    for column in pctx.feature_columns:
        if not _float_column(pctx, column):
            continue
        found = {s: pctx.numeric(s, column) for s in splits}
        if all(m is not None for m in found.values()):
            out[column] = {s: m for s, m in found.items() if m is not None}
    return out


def _profile_artifact_scan(pctx: ProfileContext) -> ArtifactScan:
    """The pipeline walked on profiles: a step that reads the raw feature columns is judged on
    their profiles (moments, minima, maxima: medians need rows); later steps by their rows."""
    model = pctx.config.model
    sample = pctx.sample

    def load() -> LoadedModel:
        if sample is not None:
            return sample.model_artifact()
        return load_artifact(str(model.artifact), model.trust)

    loaded, reason = _artifact_model(model.artifact, model.trust, load)
    if loaded is None:
        return ArtifactScan(None, reason)
    splits = [s for s in ("train", *POOLED_SPLITS) if pctx.has_split(s)]
    encoder = sample.encoder if sample is not None else None
    names = model_input_names(loaded.model, loaded.meta, encoder)
    profiled = {
        s: {
            c: m
            for c in (names or ())
            if c in pctx.profile(s).columns
            and _number_column(pctx, c)
            and (m := pctx.numeric(s, c)) is not None
        }
        for s in splits
    }
    rows = {s: pctx.rows(s) for s in splits}
    inp = StepInput(tuple(names) if names is not None else None, rows, profiled=profiled)
    scan = PipelineScan(pooled_sets(splits))
    if names is None:
        scan.notes.append(
            "the model reads the encoded matrix and a stored reference holds no encoder: its "
            "columns cannot be named, so steps are judged by their row counts only"
        )
    _walk(loaded.model, inp, "", scan)
    if any(s.unjudged for s in scan.steps):
        scan.notes.append(
            "on profiles a step's statistics are judged only where it reads the raw feature "
            "columns, and never medians (they need rows); later steps by their row counts"
        )
    return ArtifactScan(scan)


def _profile_preprocessing(
    pctx: ProfileContext, params: Any, metrics: dict[str, Any]
) -> DetectorOutcome:
    # measure
    artifact = _profile_artifact_scan(pctx)
    splits = [s for s in ("train", *POOLED_SPLITS) if pctx.has_split(s)]
    data = _data_scan(_profile_feature_moments(pctx), splits)
    # decide and explain
    return _preprocessing_outcome(artifact, data, params, metrics)
