"""Does production (or test) data look like the training data? From rows (``run``) or from
split profiles (``run_profiles``): two sources of the same per-feature measures."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import polars as pl

from qa import stats
from qa.base import Chart, Check, CheckResult, Evidence, param, table
from qa.budget import more_rows_needed, underpowered_note
from qa.context import Context
from qa.encoding import (
    DATE_PARTS,
    DATETIME_PARTS,
    FeatureEncoder,
    calendar_part,
    column_values,
    epoch_seconds,
)
from qa.errors import DataError
from qa.profile import (
    MAX_CATEGORIES,
    SCORE_EDGES,
    CategoricalProfile,
    ColumnProfile,
    ColumnSpec,
    NumericProfile,
)
from qa.time_axis import (
    CalendarView,
    calendar_view,
    calendar_view_of,
    declare_hint,
    is_calendar_feature,
)

if TYPE_CHECKING:
    from qa.profile_context import ProfileContext

LEVELS = ("no", "moderate", "large")
#: What `decide` can conclude; skips come from `run`, never from the evidence.
Verdict = Literal["pass", "warn", "fail"]
#: Bucket name for categories outside the top-K of train (and categories never seen in train).
OTHER = "(other)"
#: The domain classifier is not fitted on fewer current rows than this.
MIN_DOMAIN_ROWS = 100
#: From this many sampled rows on, the domain classifier is scored on one stratified holdout
#: (1 / domain_folds of the rows) instead of cross-validated: its AUC's standard error is
#: then below 0.01, and one fit costs a third of three.
DOMAIN_HOLDOUT_ROWS = 10_000
#: Boosting rounds, depth and histogram bins of the domain classifier: a shift that a small
#: ensemble of shallow trees cannot see is too subtle to matter (the per-feature tests still run).
DOMAIN_TREES, DOMAIN_DEPTH, DOMAIN_BINS = 40, 4, 64
#: The energy test draws at least ``energy_permutations`` and about this many / its fail level
#: (so some 20 permutations lie beyond the critical value), at most MAX_ENERGY_PERMUTATIONS.
ENERGY_TAIL_PERMUTATIONS = 20
MAX_ENERGY_PERMUTATIONS = 9_999


@dataclass(frozen=True)
class FailLevels:
    """The check's false-alarm share split across its testing fail rules (``fail_tests`` = 3).

    The Benjamini–Hochberg family carries two fail rules (a large drift; the drifted share)
    and the small-sample energy test one, so the family gets 2/3 of the share and the energy
    test 1/3 when the energy test runs, and the family the whole share when it does not
    (whether it runs depends on the row counts, never on the outcome).
    """

    share: float
    #: A test of the family counts towards a fail when its q-value is at most this.
    bh: float
    #: The energy test fails when its p-value is below this; None when it does not run.
    energy: float | None = None

    @classmethod
    def split(cls, share: float, energy_runs: bool) -> FailLevels:
        if energy_runs:
            return cls(share, share * 2 / 3, share / 3)
        return cls(share, share)


@dataclass
class ShiftTest:
    """One statistical test of shift in one aspect of a feature (or of predictions / labels):
    its statistic and p-value, its effect sizes against their bars, and (after
    Benjamini–Hochberg) its q-value and drift level."""

    feature: str
    kind: str
    aspect: str  # distribution | missing | unseen | a calendar part (hour, weekday, month)
    test: str
    statistic: float
    p: float
    effects: dict[str, float]
    bars: dict[str, float]
    q: float = 1.0
    level: int = 0

    @property
    def ratio(self) -> float:
        """The largest effect as a multiple of its bar (how far past the bar it is)."""
        return max((self.effects[k] / self.bars[k] for k in self.effects), default=0.0)

    @property
    def lead(self) -> str:
        return max(self.effects, key=lambda k: self.effects[k] / self.bars[k])


@dataclass
class FeatureDrift:
    """Everything measured on one feature: its tests plus what the table and chart show."""

    name: str
    kind: str
    findings: list[ShiftTest] = field(default_factory=list)
    info: dict[str, float | None] = field(default_factory=dict)
    chart: Chart | None = None
    calendar: CalendarView | None = None

    @property
    def level(self) -> int:
        return max((f.level for f in self.findings), default=0)

    @property
    def lead(self) -> ShiftTest | None:
        if not self.findings:
            return None
        return max(self.findings, key=lambda f: (f.level, f.ratio))

    @property
    def ratio(self) -> float:
        return max((f.ratio for f in self.findings), default=0.0)


@dataclass(frozen=True)
class Decision:
    """The verdict and the reasons for it, in the order they are reported."""

    status: Verdict
    fail: tuple[str, ...] = ()
    warn: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()


class Drift(Check):
    """Per-feature and multivariate shift between train and the data the model will meet.

    What it checks
    --------------
    Train is the reference; the current data is the production split, or the test split when no
    production file is given. For every feature: numeric columns get the two-sample
    Kolmogorov–Smirnov statistic (KS), the Wasserstein distance divided by the train standard
    deviation (W/std) and the population stability index over train-decile bins (PSI);
    categorical and boolean columns get a chi-square test, the Jensen–Shannon distance (JS) and
    PSI over the top categories of train (rarer ones pooled as "(other)"). Every feature also
    gets the change in its missing rate (null, NaN or infinite; Cohen's h) and, for
    categories, the share of current rows whose category train never saw, above what train's
    own singletons predict (the Good–Turing estimate of unseen mass). A date or datetime
    feature (not declared ``[task] time``) gets its missing rate and its calendar parts —
    hour of day (when it has a time of day), weekday and month — compared as categories;
    its raw value is compared like a number only while the current values lie within train's
    dates (a birth date, a random split). A domain classifier
    (XGBoost, cross-validated AUC, on the shared feature encoder's matrix) tries to tell train
    rows from current rows, which catches
    shifts in combinations of features. When predictions exist, the current split's predicted
    probabilities or values are compared the same way with those on validation (else test,
    else train — an overfitted model's in-sample train predictions differ from any new data's)
    (prediction drift); when the current
    split has labels, so are the class shares or the target (label drift).

    On profiles (``--engine``, ``--reference``) the same tests run on the split profiles,
    under the same Benjamini–Hochberg family and fail levels. Exact: row and missing counts,
    category counts over train's tracked values (so chi-square, JS, PSI of categories, the
    calendar parts of a date and label drift), unseen categories and train's singletons,
    train's SD (from the moments). Binned, on train's 1,000 equal-frequency bins (metric
    profile_bins; the test is named "KS on 1,000 bins"): a numeric KS is the largest CDF gap
    at the bin edges, a lower bound of the exact KS by at most one bin's share of either
    split; PSI is computed on ``psi_bins`` bins merged from them; W/std takes every bin at
    its mid-point; a date's share beyond train's dates counts values at train's last
    instant as beyond. Predictions: a split with a prediction file carries its score
    histograms (the profile's ``predictions``, streamed from the whole file), and prediction
    drift compares those of the current split with the reference split's (validation, else
    test, else train; a stored reference keeps those of the held-out splits it was profiled
    with, ``qa profile --predictions test=PATH``): binary, the positive class's probability
    on 100 fixed score bins of width 0.01 (the test is named "KS on 100 score bins"; PSI
    and W/std as for a feature); multiclass (or no scores), the predicted labels' exact counts;
    regression, the predictions on the target's bins.
    Sampled: the domain classifier and the energy test run on the engine's seeded samples
    (the message names the sample when it is not the whole split), and so does prediction
    drift when a side has no prediction profile (predictions from a model artifact). Not
    available: against a stored reference, which holds no train rows, the domain
    classifier and the energy test do not run, nor prediction drift without the reference's
    and the current split's prediction profiles (the message says why); unseen categories
    are not tested on a column whose train domain was capped (more than 5,000 values); a
    datetime whose values all fall in the hour after midnight counts as
    having no time of day (profiles count the hour, not the minute).

    Why it matters
    --------------
    A model is only as good as the match between the data it learned from and the data it
    meets. A column recorded in other units, a new category code, a broken upstream join that
    fills a column with nulls: the model scores them without complaint and its predictions
    quietly go wrong. Time itself is not such a shift: a "created_at" column of a January
    train and a February test differ completely in value (PSI 8, domain AUC 1.0 before this
    rule) and in month, only because time moves forward; a change in the hour or weekday the
    rows arrive at is a real change in the population.

    How it decides
    --------------
    A test counts only when it is significant after Benjamini–Hochberg control of the false
    discovery rate across all tests AND its effect size passes its bar, so a million
    rows do not turn negligible differences into failures and a small sample does not turn noise
    into drift. The bars (moderate drift): KS >= ``ks_bar`` (0.1), W/std >= ``wasserstein_bar``
    (0.2, Cohen's "small" mean shift), PSI >= ``psi_bar`` (0.1, the usual "moderate shift"
    reading), JS >= ``js_bar`` (0.1), missing-rate Cohen's h >= ``missing_bar`` (0.2) and
    unseen-category excess >= ``unseen_bar`` (1 % of rows). An effect at least
    ``large_factor`` (2) times its bar is a large drift: PSI >= 0.2 (the "major shift"
    convention), KS >= 0.2, W/std >= 0.4. A half-standard-deviation mean shift (W/std 0.5) and
    a change of units are large.

    The false-alarm budget. Three fail rules rest on a test (fail_tests = 3): a large
    drift and the drifted share (both on the Benjamini–Hochberg family) and the small-sample
    energy test. The check's share of [run] false_alarm_rate (the whole rate when it runs
    alone; thresholds.false_alarm_share) is split across them: the family fails at q <= 2/3
    of the share and the energy test at p < 1/3 of it when the energy test runs, the family
    at the whole share when it does not (thresholds fail_q and energy_fail_alpha). Warnings
    keep their own levels: a test is drifted (a warning) at q <= ``fdr`` (0.05), and a large
    effect significant at ``fdr`` but not at the fail level warns, because on a small sample
    every significant effect is large. The check fails when any feature drifts with a large
    effect at the fail level, when at least ``max_drifted_share`` of the features (two or
    more) drift at the fail level, or when the domain classifier's AUC reaches
    ``domain_auc_fail`` (a bar on an effect size, not a test: it draws no budget); it warns
    on feature drift at ``fdr``, a domain AUC above ``domain_auc``, or prediction / label
    drift. Missing feature columns are
    listed but left to the schema check. The domain classifier uses at most
    ``domain_sample`` rows from each side, and at most twice as many train rows as current
    rows (a seeded sample; the sizes are in the metrics and the evidence): 40 trees of depth 4
    on 64 histogram bins, cross-validated in ``domain_folds`` folds, or scored on one
    stratified holdout of 1 / ``domain_folds`` of the rows once the sample reaches 10,000
    rows (the AUC's standard error is then below 0.01).

    Datetime features. When at least half of the current values of a date/datetime feature
    lie outside train's first..last date, the column looks like the time axis: the result says so
    and suggests declaring it ``[task] time``; its raw value is then neither tested nor given
    to the domain classifier or the energy test. A calendar part is compared (and given to the
    domain classifier) only when train and the current split each span at least
    ``calendar_cycles`` (3) of its cycles — 3 days for the hour, 3 weeks for the weekday,
    3 years for the month — because windows shorter than that see a part unevenly by where
    they fall (a window of 1.5 days counts half the hours twice). So a January train and a
    February test are judged on hour, weekday and missing rate; month of year only with
    years of data on both sides. A declared ``[task] time`` column is not a feature and is
    not compared.

    Small samples. Below ``MIN_DOMAIN_ROWS`` (100) rows on either side the domain classifier is
    not fitted; instead (``energy_test``) a two-sample permutation test on the energy distance
    of the numeric features, standardised by train's mean and SD (missing values take train's
    median; categories and calendar parts are left to their chi-square tests), with
    ``energy_permutations`` (999) seeded permutations on at most ``energy_sample`` rows per
    side (more when its fail level needs them: about 20 / level, at most 9,999). Its effect
    size is the mean shift, in train SDs, of one feature that would produce the same energy
    distance (metric energy_shift_sd). A large shift (>= ``large_factor`` x
    ``wasserstein_bar``) fails when p is under its fail level (1/3 of the share); a shift past
    ``wasserstein_bar`` with p < ``energy_alpha`` (0.01, the warning level) warns. Power: the
    check also works out the smallest one-feature shift it detects about half the time at its
    fail levels with the rows it has (metric detectable_shift_sd: the better of the
    per-feature KS test at the family's fail level / features and the energy test's
    permutation critical value at its fail level). When nothing drifted but that shift exceeds
    ``power_shift`` (0.8 SD, Cohen's "large"), it warns that it is underpowered, with the
    rows that would reach it, instead of passing: with 15 rows a pass means little. Waive the
    subject "underpowered" to accept that.

    How to fix
    ----------
    Look at the features named in the evidence, most shifted first. A change of units, scale or
    encoding is a pipeline bug: fix the producer or the feature code. New categories need a
    mapping or a retrain. A genuine change in the population calls for retraining on recent data
    (or reweighting train toward it) and a fresh evaluation. If the shift is expected and
    harmless, waive the check for that feature with a reason and an expiry date. A datetime
    feature named as looking like the time axis should be declared ``[task] time`` (then the
    leakage and split-hygiene checks judge the split's order); if its hour or weekday drifted,
    the rows now arrive at other times of day or week: find out why before trusting the model.
    """

    id = "drift"
    title = "Production data looks like training data"
    requires = ("train",)
    severity = "error"
    #: A large drift and the drifted share (the BH family), and the energy test.
    fail_tests = 3
    #: Judges from split profiles (``run_profiles``); the row-needing parts use the samples.
    profiles_supported = True

    @dataclass(frozen=True)
    class Params:
        current: str = param(
            "auto",
            "Split compared with train; auto = production, else test.",
            choices=("auto", "production", "test", "validation"),
        )
        fdr: float = param(
            0.05,
            "False discovery rate (Benjamini–Hochberg, all tests) at which a feature drifts "
            "and warns; it fails at the check's false-alarm share.",
            gt=0,
            lt=1,
        )
        ks_bar: float = param(0.1, "KS statistic at which a numeric feature drifts.", gt=0, le=1)
        wasserstein_bar: float = param(
            0.2, "Wasserstein distance / train std at which a numeric feature drifts.", gt=0
        )
        psi_bar: float = param(0.1, "PSI at which a feature drifts (0.2 = major shift).", gt=0)
        js_bar: float = param(
            0.1, "Jensen–Shannon distance at which a category drifts.", gt=0, le=1
        )
        missing_bar: float = param(0.2, "Cohen's h of the missing-rate change that drifts.", gt=0)
        unseen_bar: float = param(
            0.01,
            "Share of current rows with unseen categories, beyond chance, that drifts.",
            gt=0,
            le=1,
        )
        large_factor: float = param(2.0, "An effect this many times its bar is large.", ge=1)
        max_drifted_share: float = param(
            0.3, "Share of drifted features at which the check fails.", gt=0, le=1
        )
        psi_bins: int = param(10, "Quantile bins of train for numeric PSI.", ge=2, le=100)
        max_categories: int = param(
            30, "Top train categories kept per feature; the rest pooled as (other).", ge=1
        )
        calendar_cycles: float = param(
            3.0,
            "A datetime feature's hour, weekday or month is compared only when train and the "
            "current split each span this many of its cycles (days, weeks, years).",
            ge=1,
        )
        domain_classifier: bool = param(True, "Fit the train-vs-current domain classifier.")
        domain_auc: float = param(
            0.6, "Domain-classifier AUC above which data drifted (warn).", ge=0.5, le=1
        )
        domain_auc_fail: float = param(
            0.8, "Domain-classifier AUC at which the check fails.", ge=0.5, le=1
        )
        domain_sample: int = param(
            20_000, "Rows sampled per side for the domain classifier.", ge=100
        )
        domain_folds: int = param(
            3, "Cross-validation folds of the domain classifier.", ge=2, le=10
        )
        max_charts: int = param(6, "Histograms drawn for the most drifted features.", ge=0)
        energy_test: bool = param(
            True, "Below the domain classifier's minimum rows, run the energy-distance test."
        )
        energy_alpha: float = param(
            0.01,
            "Significance level at which the energy-distance test warns; it fails at its "
            "part of the check's false-alarm share.",
            gt=0,
            lt=1,
        )
        energy_permutations: int = param(
            999, "Permutations of the energy-distance test.", ge=99, le=20_000
        )
        energy_sample: int = param(
            300, "Rows sampled per side for the energy-distance test.", ge=20, le=2000
        )
        power_shift: float = param(
            0.8,
            "Shift (train SDs, one feature) the check must be able to detect, else it "
            "warns that it is underpowered; 0.8 = Cohen's large effect.",
            gt=0,
        )

    # ------------------------------------------------------------------ run
    def run(self, ctx: Context, params: Params) -> CheckResult:
        current = _current_split(ctx, params.current)
        if current is None:
            return self._no_current(params)
        ref_frame, cur_frame = ctx.frame("train"), ctx.frame(current)
        features = [c for c in ctx.feature_columns if c in cur_frame.columns]
        absent = [c for c in ctx.feature_columns if c not in cur_frame.columns]
        if ctx.feature_columns and not features:
            return self._nothing_shared(current, len(ctx.feature_columns), absent)
        # measure
        bars = _bars(params)
        views = _calendar_views(ref_frame, cur_frame, features, params)
        source = RowSource(ref_frame, cur_frame, params, current)
        reports = [
            _measure_feature(col, ctx.kind(col), source, views, params, bars, current)
            for col in features
        ]
        extras = _prediction_and_label_drift(ctx, current, params, bars)
        energy_runs = _energy_runs(params, ref_frame.height, cur_frame.height, reports)
        levels = FailLevels.split(ctx.false_alarm_share(self.id), energy_runs)
        _apply_fdr(reports + extras, params, levels.bh)
        domain, energy = _multivariate(
            ctx, ref_frame, cur_frame, features, views, params, levels, energy_runs
        )
        rows = ref_frame.height, cur_frame.height
        measured = Measured(current, *rows, reports, extras, absent, levels, domain, energy)
        return self._conclude(measured, params, bars)

    def run_profiles(self, pctx: ProfileContext, params: Params) -> CheckResult:
        """The same tests from the split profiles (see *On profiles*), prediction drift from
        the score histograms; the domain classifier and the energy test on the engine's seeded
        samples."""
        current = _current_split(pctx, params.current)
        if current is None:
            return self._no_current(params)
        columns = pctx.profile(current).columns
        features = [c for c in pctx.feature_columns if c in columns]
        absent = [c for c in pctx.feature_columns if c not in columns]
        if pctx.feature_columns and not features:
            return self._nothing_shared(current, len(pctx.feature_columns), absent)
        # measure
        bars = _bars(params)
        views = _profile_calendar_views(pctx, current, features, params)
        source = ProfileSource(pctx, current, params)
        spec = pctx.profiles.spec
        reports = [
            _measure_feature(
                col, _profile_kind(spec.column(col)), source, views, params, bars, current
            )
            for col in features
        ]
        extras = _profile_label_drift(pctx, source, current, params, bars)
        rows = pctx.rows("train"), pctx.rows(current)
        energy_runs = pctx.sample is not None and _energy_runs(params, *rows, reports)
        levels = FailLevels.split(pctx.false_alarm_share(self.id), energy_runs)
        _apply_fdr(reports + extras, params, levels.bh)
        measured = Measured(current, *rows, reports, extras, absent, levels)
        measured.domain, measured.energy = _sampled_multivariate(
            pctx, current, features, views, params, levels, energy_runs
        )
        _describe_profiles(measured, pctx, features, params)
        return self._conclude(measured, params, bars)

    def _no_current(self, params: Params) -> CheckResult:
        if params.current != "auto":
            return self.skip(f"current = {params.current!r}, but that split was not given")
        return self.skip("needs a production or test split to compare with train")

    def _nothing_shared(self, current: str, n_features: int, absent: list[str]) -> CheckResult:
        return self.result(
            "fail",
            f"{current} has none of the {n_features} feature columns "
            f"of train; nothing can be compared",
            subjects=absent[:50],
            metrics={"features_absent": len(absent)},
        )

    # ------------------------------------------------------------------ decide
    def _conclude(self, m: Measured, params: Params, bars: dict[str, float]) -> CheckResult:
        numeric = _numeric_names(m.reports)
        power = _power(
            m.rows_reference, m.rows_current, len(m.reports), numeric, m.energy, m.levels
        )
        auc = m.domain.get("auc") if m.domain else None
        decision = decide(
            m.reports,
            m.extras,
            auc,
            m.energy,
            power,
            params,
            m.current,
            m.rows_current,
            m.levels,
        )
        return self._explain(m, params, bars, power, decision)

    # ------------------------------------------------------------------ explain
    def _explain(
        self,
        m: Measured,
        params: Params,
        bars: dict[str, float],
        power: float | None,
        decision: Decision,
    ) -> CheckResult:
        metrics = _metrics(m, power)
        thresholds = _thresholds(params, bars, m.energy, power, m.levels)
        evidence = [_feature_table(m, params)]
        if m.domain and m.domain.get("top"):
            evidence.append(_domain_table(m.domain, m.current, params))
        views = [r.calendar for r in m.reports if r.calendar is not None]
        if views:
            evidence.append(_calendar_table(views, m.current, params))
        drifted = [r for r in m.reports + m.extras if r.level > 0]
        charts = [r.chart for r in sorted(drifted, key=_order) if r.chart is not None]
        message = _message(decision, metrics, m.domain, m.energy, views, m.current, len(m.reports))
        return self.result(
            decision.status,
            message + "".join(f"; {note}" for note in m.notes),
            metrics=metrics,
            thresholds=thresholds,
            evidence=evidence,
            charts=charts[: params.max_charts],
            subjects=list(decision.subjects),
        )


@dataclass
class Measured:
    """Everything ``decide`` and ``_explain`` read, measured from rows or from profiles."""

    current: str
    rows_reference: int
    rows_current: int
    reports: list[FeatureDrift]
    extras: list[FeatureDrift]
    absent: list[str]
    levels: FailLevels
    domain: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None
    #: On profiles: the bin resolution (metrics), how the measures were taken (the feature
    #: table's note) and what ran on a sample or not at all (the message).
    resolution: dict[str, float] = field(default_factory=dict)
    method: str = ""
    notes: list[str] = field(default_factory=list)


def _numeric_names(reports: Sequence[FeatureDrift]) -> list[str]:
    return [r.name for r in reports if r.kind in ("numeric", "datetime")]


def _energy_runs(
    params: Drift.Params, rows_reference: int, rows_current: int, reports: list[FeatureDrift]
) -> bool:
    """The energy test stands in for the domain classifier below its minimum rows (decided by
    the row counts, never by the outcome)."""
    small = min(rows_reference, rows_current) < MIN_DOMAIN_ROWS
    return params.energy_test and small and bool(_numeric_names(reports))


def _multivariate(
    ctx: Context,
    ref_frame: pl.DataFrame,
    cur_frame: pl.DataFrame,
    features: list[str],
    views: dict[str, CalendarView],
    params: Drift.Params,
    levels: FailLevels,
    energy_runs: bool,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The domain classifier and (on small samples) the energy test, on rows."""
    encoder = _domain_encoder(ctx, ref_frame, features, params)
    judged = _judged_outputs(encoder, views)
    domain = None
    if params.domain_classifier and features:
        domain = _domain_classifier(ctx, ref_frame, cur_frame, encoder, judged, params)
    energy = None
    if energy_runs and levels.energy is not None:
        energy = _energy(ctx, ref_frame, cur_frame, encoder, judged, params, levels.energy)
    return domain, energy


# --------------------------------------------------------------------------- decide
def decide(
    reports: Sequence[FeatureDrift],
    extras: Sequence[FeatureDrift],
    auc: float | None,
    energy: dict[str, Any] | None,
    power: float | None,
    params: Drift.Params,
    current: str,
    rows_current: int,
    levels: FailLevels,
) -> Decision:
    """Status, reasons and subjects from the leveled tests, the domain AUC, the energy test and
    the power bound (no data needed: every input is a number or a leveled test). ``levels``
    holds the fail levels, the check's false-alarm share split across its fail rules."""
    drifted = [r for r in reports if r.level > 0]
    large = [r for r in drifted if r.level == 2]
    moderate = [r for r in drifted if r.level == 1]
    confirmed = [r for r in drifted if _confirmed(r, levels.bh)]
    share = len(confirmed) / len(reports) if reports else 0.0
    energy_level = _energy_level(energy, params, levels.energy)
    fail: list[str] = []
    warn: list[str] = []
    if large:
        fail.append(f"{len(large)} feature(s) drifted with a large effect: " + _names(large))
    if share >= params.max_drifted_share and len(confirmed) >= 2:
        fail.append(
            f"{len(confirmed)} of {len(reports)} features drifted "
            f"({share:.0%} >= {params.max_drifted_share:.0%})"
        )
    if auc is not None and auc >= params.domain_auc_fail:
        fail.append(
            f"a classifier tells train from {current} apart "
            f"(AUC {auc:.3f} >= {params.domain_auc_fail})"
        )
    if energy and energy_level:
        warn_alpha = max(params.energy_alpha, levels.energy or 0.0)
        bound = levels.energy if energy_level == 2 and levels.energy else warn_alpha
        (fail if energy_level == 2 else warn).append(
            f"the features shifted jointly (energy distance {energy['energy_distance']:.3g},"
            f" permutation p={energy['energy_p']:.3g} < {bound:.2g}; as large "
            f"as a {energy['energy_shift_sd']:.2f}-SD shift of one feature)"
        )
    if moderate and not fail:
        warn.append(f"{len(moderate)} feature(s) drifted moderately: " + _names(moderate))
    if auc is not None and params.domain_auc < auc < params.domain_auc_fail:
        warn.append(f"domain classifier AUC {auc:.3f} > {params.domain_auc}")
    extra_drifted = [r for r in extras if r.level > 0]
    for r in extra_drifted:
        lead = r.lead
        assert lead is not None
        warn.append(f"{r.name} drifted ({lead.lead} {lead.effects[lead.lead]:.3f})")
    subjects = [r.name for r in sorted(drifted, key=_order)] + [r.name for r in extra_drifted]
    if auc is not None and auc > params.domain_auc:
        subjects.append("domain-classifier")
    if energy_level:
        subjects.append("energy-distance")
    if power is not None and power > params.power_shift and not (fail or warn):
        warn.append(_underpowered(power, rows_current, current, params))
        subjects.append("underpowered")
    status: Verdict = "fail" if fail else "warn" if warn else "pass"
    return Decision(status, tuple(fail), tuple(warn), tuple(subjects))


def _underpowered(power: float, rows_current: int, current: str, params: Drift.Params) -> str:
    """The one underpowered wording (qa.budget), with the rows that would reach power_shift."""
    unit = f"{current} rows"
    if np.isfinite(power):
        detectable = f"shifts of >= {power:.2g} train SDs in a feature"
        needed = more_rows_needed(rows_current, power, params.power_shift)
    else:
        detectable = "no shift of any size in a feature"
        needed = None
    note = underpowered_note(
        rows_current, unit, detectable, needed, f"a {params.power_shift:g}-SD shift"
    )
    return note + "; no drift was found, but a real one may be missed"


def _apply_fdr(reports: list[FeatureDrift], params: Drift.Params, fail_q: float) -> None:
    """Benjamini–Hochberg over every test run, then a level per test."""
    findings = [f for r in reports for f in r.findings]
    if not findings:
        return
    qvalues = stats.benjamini_hochberg(np.array([f.p for f in findings]))
    for f, q in zip(findings, qvalues, strict=True):
        f.q = float(q)
        f.level = shift_level(f.ratio, f.q, params, fail_q)


def shift_level(ratio: float, q: float, params: Drift.Params, fail_q: float) -> int:
    """0 none, 1 moderate, 2 large: significant at ``fdr`` (or at the fail level, when that is
    the looser) and the effect past its bar; large when ``large_factor`` times past it and also
    significant at ``fail_q``, the family's part of the check's false-alarm share."""
    if q > max(params.fdr, fail_q):
        return 0
    if ratio >= params.large_factor and q <= fail_q:
        return 2
    return 1 if ratio >= 1.0 else 0


def _confirmed(report: FeatureDrift, fail_q: float) -> bool:
    """A feature drifted at the fail level (counts towards the drifted share that fails)."""
    return any(f.level > 0 and f.q <= fail_q for f in report.findings)


def _energy_level(
    energy: dict[str, Any] | None, params: Drift.Params, fail_alpha: float | None
) -> int:
    """2 = large joint shift at the fail level, 1 = a shift past the W/std bar significant at
    ``energy_alpha`` (or a large one not significant at the fail level), 0 = none."""
    if not energy:
        return 0
    p, shift = energy["energy_p"], energy["energy_shift_sd"]
    large = shift >= params.large_factor * params.wasserstein_bar
    if large and fail_alpha is not None and p < fail_alpha:
        return 2
    warn_alpha = max(params.energy_alpha, fail_alpha or 0.0)
    return 1 if p < warn_alpha and shift >= params.wasserstein_bar else 0


# --------------------------------------------------------------------------- explain
def _metrics(m: Measured, power: float | None) -> dict[str, Any]:
    reports = m.reports
    drifted = [r for r in reports if r.level > 0]
    views = [r.calendar for r in reports if r.calendar is not None]
    metrics: dict[str, Any] = {
        "rows_reference": m.rows_reference,
        "rows_current": m.rows_current,
        "features_compared": len(reports),
        "features_drifted": len(drifted),
        "features_large_drift": sum(1 for r in drifted if r.level == 2),
        "drifted_share": len(drifted) / len(reports) if reports else 0.0,
        "features_absent": len(m.absent),
    }
    if views:
        metrics["datetime_features"] = len(views)
        metrics["time_axis_features"] = sum(1 for v in views if v.time_axis)
    for measure in ("KS", "W/std", "PSI", "JS"):
        values = [v for r in reports if (v := r.info.get(measure)) is not None]
        metrics[f"max_{_slug(measure)}"] = max(values) if values else None
    for r in m.extras:
        prefix = "prediction" if r.name == "predictions" else "label"
        metrics[f"{prefix}_psi"] = r.info.get("PSI")
    if m.domain:
        metrics.update({k: v for k, v in m.domain.items() if k not in ("auc", "top", "note")})
    if m.energy:
        metrics.update({k: v for k, v in m.energy.items() if k != "note"})
    if power is not None:
        metrics["detectable_shift_sd"] = power if np.isfinite(power) else None
    metrics.update(m.resolution)
    return metrics


def _thresholds(
    params: Drift.Params,
    bars: dict[str, float],
    energy: dict[str, Any] | None,
    power: float | None,
    levels: FailLevels,
) -> dict[str, float]:
    thresholds = {
        "fdr": params.fdr,
        "fail_q": levels.bh,
        "ks_bar": bars["KS"],
        "wasserstein_bar": bars["W/std"],
        "psi_bar": bars["PSI"],
        "js_bar": bars["JS"],
        "missing_bar": bars["missing h"],
        "unseen_bar": bars["unseen excess"],
        "large_factor": params.large_factor,
        "max_drifted_share": params.max_drifted_share,
    }
    if params.domain_classifier:
        thresholds.update(
            {"domain_auc": params.domain_auc, "domain_auc_fail": params.domain_auc_fail}
        )
    if energy:
        thresholds["energy_alpha"] = params.energy_alpha
        if levels.energy is not None:
            thresholds["energy_fail_alpha"] = levels.energy
    if power is not None:
        thresholds["power_shift"] = params.power_shift
    return thresholds


def _message(
    decision: Decision,
    metrics: dict[str, Any],
    domain: dict[str, Any] | None,
    energy: dict[str, Any] | None,
    views: list[CalendarView],
    current: str,
    n_features: int,
) -> str:
    if decision.status == "fail":
        detail = "; ".join(decision.fail + decision.warn)
    elif decision.status == "warn":
        detail = "; ".join(decision.warn)
    else:
        detail = "no feature drifted"
        if metrics.get("domain_auc") is not None:
            detail += f"; domain classifier AUC {metrics['domain_auc']:.3f}"
    if energy and "energy-distance" not in decision.subjects:
        detail += (
            f"; multivariate energy test p={energy['energy_p']:.3g} (used instead of"
            f" the domain classifier below {MIN_DOMAIN_ROWS} rows)"
        )
    elif domain and domain.get("note"):
        detail += f" ({domain['note']})"
    for view in views:
        if view.time_axis:
            detail += "; " + _time_axis_note(view, current)
    base = (
        f"train ({metrics['rows_reference']:,} rows) vs {current} "
        f"({metrics['rows_current']:,} rows), {n_features} features"
    )
    return f"{detail} — {base}"


def _time_axis_note(view: CalendarView, current: str) -> str:
    judged = ", ".join(view.parts) + (" and " if view.parts else "") + "missing rate"
    return (
        f"{view.name!r} looks like the time axis ({view.beyond_share:.0%} of {current} "
        f"values outside train's dates): judged on its {judged}, not its raw value; "
        + declare_hint(view.name)
    )


def _feature_table(m: Measured, params: Drift.Params) -> Evidence:
    note = _feature_note(m.current, params, m.absent, m.levels)
    return table(
        f"Per-feature shift, train vs {m.current}",
        _feature_columns(m.current),
        [_feature_row(r) for r in sorted(m.reports + m.extras, key=_order)],
        note=f"{note} {m.method}" if m.method else note,
        max_rows=60,
    )


def _feature_columns(current: str) -> list[str]:
    return [
        "feature",
        "kind",
        "drifted",
        "measure",
        "effect size",
        "bar",
        "test",
        "statistic",
        "p",
        "q (BH)",
        "KS / JS",
        "W/std",
        "PSI",
        "missing train",
        f"missing {current}",
        "unseen share",
    ]


def _feature_row(r: FeatureDrift) -> list[Any]:
    """One feature's row: its leading test (highest drift level, then effect / bar) and info."""
    lead, info = r.lead, r.info
    ks = info.get("KS")
    return [
        r.name,
        r.kind,
        LEVELS[r.level],
        lead.lead if lead else None,
        lead.effects[lead.lead] if lead else None,
        lead.bars[lead.lead] if lead else None,
        lead.test if lead else None,
        lead.statistic if lead else None,
        lead.p if lead else None,
        lead.q if lead else None,
        ks if ks is not None else info.get("JS"),
        info.get("W/std"),
        info.get("PSI"),
        info.get("missing train"),
        info.get("missing current"),
        info.get("unseen share"),
    ]


def _feature_note(current: str, params: Drift.Params, absent: list[str], levels: FailLevels) -> str:
    note = (
        f"drifted = significant at FDR {params.fdr} (q) and effect >= bar; large = effect "
        f">= {params.large_factor:g} x bar and q <= {levels.bh:.2g} (the fail level: the "
        f"check's false-alarm share {levels.share:.2g}, split across its fail rules). "
        "Sorted by effect relative to its bar. A datetime feature's calendar parts are tested "
        "as categories (test named with the part)."
    )
    if absent:
        note += f" Not in {current} (not compared): " + ", ".join(repr(c) for c in absent[:20])
    return note


def _domain_table(domain: dict[str, Any], current: str, params: Drift.Params) -> Evidence:
    how = (
        f"XGBoost, {params.domain_folds}-fold cross-validated AUC "
        if domain["domain_folds_fitted"] > 1
        else f"XGBoost, AUC on a stratified 1/{params.domain_folds} holdout "
        f"({domain['domain_rows_scored']:,} rows) "
    )
    return table(
        "Domain classifier: features that tell train from " + current,
        ["feature", "gain share"],
        domain["top"],
        note=how + f"{domain['auc']:.3f}; sample {domain['domain_sample_reference']:,} train + "
        f"{domain['domain_sample_current']:,} {current} rows",
    )


def _calendar_table(views: list[CalendarView], current: str, params: Drift.Params) -> Evidence:
    rows = []
    for v in views:
        ref = " … ".join(v.reference_range) if v.reference_range else None
        cur = " … ".join(v.current_range) if v.current_range else None
        rows.append(
            (
                v.name,
                v.time_axis,
                v.beyond_share,
                ref,
                cur,
                ", ".join(v.parts) or "none",
                ", ".join(v.skipped) or "none",
            )
        )
    return table(
        "Datetime features",
        [
            "feature",
            "looks like the time axis",
            f"share of {current} outside train's dates",
            "train",
            current,
            "calendar parts compared",
            "parts not compared",
        ],
        rows,
        note=(
            "time axis: its raw value is not judged (time moves forward), declare it "
            "[task] time; a part is compared when both windows span "
            f"{params.calendar_cycles:g} of its cycles (days for the hour, weeks for the "
            "weekday, years for the month)"
        ),
    )


# --------------------------------------------------------------------------- helpers
def _current_split(ctx: Context | ProfileContext, wanted: str) -> str | None:
    if wanted != "auto":
        return wanted if ctx.has_split(wanted) else None
    for split in ("production", "test"):
        if ctx.has_split(split):
            return split
    return None


def _bars(params: Drift.Params) -> dict[str, float]:
    return {
        "KS": params.ks_bar,
        "W/std": params.wasserstein_bar,
        "PSI": params.psi_bar,
        "JS": params.js_bar,
        "missing h": params.missing_bar,
        "unseen excess": params.unseen_bar,
    }


def _slug(name: str) -> str:
    return name.lower().replace("/", "_").replace(" ", "_")


def _order(r: FeatureDrift) -> tuple[int, float, str]:
    return (-r.level, -r.ratio, r.name)


def _names(reports: Sequence[FeatureDrift], limit: int = 5) -> str:
    shown = []
    for r in sorted(reports, key=_order)[:limit]:
        lead = r.lead
        assert lead is not None
        part = (
            f" {lead.aspect}" if r.calendar is not None and lead.aspect in r.calendar.parts else ""
        )
        shown.append(f"{r.name!r} ({lead.lead}{part} {lead.effects[lead.lead]:.3g})")
    more = f" and {len(reports) - limit} more" if len(reports) > limit else ""
    return ", ".join(shown) + more


# --------------------------------------------------------------------------- measure: features
def _measure_feature(
    name: str,
    kind: str,
    source: Source,
    views: dict[str, CalendarView],
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    """One feature's tests, from rows or profiles alike (the source measures)."""
    if name in views:
        return _compare_calendar(views[name], source, params, bars, current)
    if kind in ("numeric", "datetime"):
        return _numeric_report(name, kind, source.numeric(name), bars)
    return _categorical_report(name, kind, source.categories(name), params, bars, current)


@dataclass(frozen=True)
class Missing:
    """Missing values (null, NaN, infinite for numbers) and rows, in train and current."""

    ref: int
    ref_rows: int
    cur: int
    cur_rows: int


@dataclass(frozen=True)
class NumericShift:
    """What a source measured on a numeric column: its finite values per side, the effect
    sizes and the chart (no effect sizes when a side has no finite value)."""

    missing: Missing
    finite_ref: int
    finite_cur: int
    ks: float = 0.0
    w_std: float = 0.0
    psi: float = 0.0
    #: The test as the feature table names it: "KS" on rows, "KS on N bins" on profiles.
    test: str = "KS"
    chart: Chart | None = None


@dataclass(frozen=True)
class CategoryCounts:
    """What a source counted of a categorical column: train's most frequent values (at most
    ``max_categories``; most frequent first, ties by value) with their counts in both splits,
    the current rows holding a value train never had (None when unknown: train's domain
    was capped), and how many of train's values it holds once (for Good–Turing)."""

    missing: Missing
    ref: list[tuple[str, int]]
    cur: dict[str, int]
    unseen: int | None
    singletons: int


class Source(Protocol):
    """Where the per-feature measures come from: rows (:class:`RowSource`) or profiles
    (:class:`ProfileSource`); the tests built from them are the same."""

    def numeric(self, name: str) -> NumericShift: ...

    def categories(self, name: str) -> CategoryCounts: ...

    def part(self, name: str, part: str) -> CategoryCounts: ...

    def missing(self, name: str) -> Missing: ...


@dataclass(frozen=True)
class RowSource:
    """Measures from the rows of train and of the current split."""

    ref_frame: pl.DataFrame
    cur_frame: pl.DataFrame
    params: Drift.Params
    current: str

    def _pair(self, name: str) -> tuple[pl.Series, pl.Series]:
        return column_values(self.ref_frame, name), column_values(self.cur_frame, name)

    def numeric(self, name: str) -> NumericShift:
        return _numeric_rows(name, *self._pair(name), self.params.psi_bins, self.current)

    def categories(self, name: str) -> CategoryCounts:
        return _category_rows(*self._pair(name), self.params.max_categories)

    def part(self, name: str, part: str) -> CategoryCounts:
        ref, cur = self._pair(name)
        return _category_rows(_part(ref, part), _part(cur, part), self.params.max_categories)

    def missing(self, name: str) -> Missing:
        ref, cur = self._pair(name)
        return Missing(ref.null_count(), len(ref), cur.null_count(), len(cur))


@dataclass(frozen=True)
class ProfileSource:
    """Measures from the profiles of train and of the current split (one spec)."""

    pctx: ProfileContext
    current: str
    params: Drift.Params

    def _numeric(self, name: str) -> tuple[NumericProfile, NumericProfile]:
        ref, cur = self.pctx.numeric("train", name), self.pctx.numeric(self.current, name)
        if ref is None or cur is None:
            raise DataError(f"drift: {name!r} is not counted as a number in both profiles")
        return ref, cur

    def numeric(self, name: str) -> NumericShift:
        edges = self.pctx.profiles.spec.column(name).edges
        return _numeric_profiles(
            name, *self._numeric(name), edges, self.params.psi_bins, self.current
        )

    def categories(self, name: str) -> CategoryCounts:
        ref = self.pctx.categorical("train", name)
        cur = self.pctx.categorical(self.current, name)
        if ref is None or cur is None:
            raise DataError(f"drift: {name!r} is not counted as categories in both profiles")
        complete = self.pctx.profiles.spec.column(name).complete
        return _category_profiles(ref, cur, complete, self.params.max_categories)

    def part(self, name: str, part: str) -> CategoryCounts:
        return self.categories(f"{name}.{part}")

    def missing(self, name: str) -> Missing:
        ref, cur = self._numeric(name)
        return Missing(ref.rows - ref.count, ref.rows, cur.rows - cur.count, cur.rows)


# --------------------------------------------------------------------------- measure: numbers
def _numeric_report(
    name: str, kind: str, shift: NumericShift, bars: dict[str, float]
) -> FeatureDrift:
    """A numeric column's tests: its missing rate, and KS with W/std and PSI as effects."""
    report = FeatureDrift(name, kind)
    m = shift.missing
    _missing_finding(report, m.ref, m.ref_rows, m.cur, m.cur_rows, bars)
    if shift.finite_ref == 0 or shift.finite_cur == 0:
        report.info.update({"KS": None, "W/std": None, "PSI": None})
        return report
    effects = {"KS": shift.ks, "W/std": shift.w_std, "PSI": shift.psi}
    report.findings.insert(
        0,
        ShiftTest(
            name,
            kind,
            "distribution",
            shift.test,
            shift.ks,
            stats.ks_pvalue(shift.ks, shift.finite_ref, shift.finite_cur),
            effects,
            {k: bars[k] for k in effects},
        ),
    )
    report.info.update(effects)
    report.chart = shift.chart
    return report


def _compare_numeric(
    name: str,
    kind: str,
    ref: pl.Series,
    cur: pl.Series,
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    return _numeric_report(
        name, kind, _numeric_rows(name, ref, cur, params.psi_bins, current), bars
    )


def _numbers(series: pl.Series) -> pl.Series:
    """A column as float64: dates and datetimes as epoch seconds (the encoder's units)."""
    if series.dtype.is_temporal():
        return epoch_seconds(series)
    return series.cast(pl.Float64, strict=False)


def _sorted_finite(series: pl.Series) -> np.ndarray:
    values = _numbers(series)
    finite = values.filter(values.is_finite())
    return finite.sort().to_numpy()


def _numeric_rows(
    name: str, ref: pl.Series, cur: pl.Series, psi_bins: int, current: str
) -> NumericShift:
    """Exact KS and Wasserstein from the sorted rows; PSI on train's decile (``psi_bins``)
    bins; W/std by train's SD (by both sides' when train's is 0)."""
    a, b = _sorted_finite(ref), _sorted_finite(cur)
    missing = Missing(len(ref) - len(a), len(ref), len(cur) - len(b), len(cur))
    if len(a) == 0 or len(b) == 0:
        return NumericShift(missing, len(a), len(b))
    ks, w = stats.ks_wasserstein(a, b)
    scale = float(np.std(a))
    if scale == 0.0:
        scale = float(np.std(np.concatenate([a, b])))
    edges = stats.quantile_edges(a, psi_bins)
    psi = stats.psi(stats.binned_counts(a, edges), stats.binned_counts(b, edges))
    w_norm = w / scale if scale > 0 else 0.0
    chart = _numeric_chart(name, a, b, current)
    return NumericShift(missing, len(a), len(b), ks, w_norm, psi, chart=chart)


def _numeric_profiles(
    name: str,
    ref: NumericProfile,
    cur: NumericProfile,
    edges: Sequence[float],
    psi_bins: int,
    current: str,
) -> NumericShift:
    """The same measures from the histograms on train's bins: KS at the bin edges (a lower
    bound), PSI on ``psi_bins`` groups of equal train frequency merged from the bins, W/std
    with every bin at its mid-point, divided by train's exact SD (from the moments)."""
    missing = Missing(ref.rows - ref.count, ref.rows, cur.rows - cur.count, cur.rows)
    if ref.count == 0 or cur.count == 0 or not edges:
        return NumericShift(missing, ref.count, cur.count)
    a, b = _finite_hist(ref), _finite_hist(cur)
    points_a, points_b = _bin_points(edges, ref), _bin_points(edges, cur)
    w = stats.weighted_wasserstein(points_a, a, points_b, b)
    scale = math.sqrt(ref.variance)
    if scale == 0.0:
        scale = math.sqrt(ref.merge(cur).variance)
    groups = stats.quantile_groups(a, psi_bins)
    psi = stats.psi(stats.merge_bins(a, groups), stats.merge_bins(b, groups))
    w_norm = w / scale if scale > 0 else 0.0
    chart = _binned_chart(name, (points_a, a), (points_b, b), current)
    test = f"KS on {_bins_within(edges, ref):,} bins"
    return NumericShift(
        missing, ref.count, cur.count, stats.binned_ks(a, b), w_norm, psi, test, chart
    )


def _finite_hist(profile: NumericProfile) -> np.ndarray:
    """The histogram of the finite values (the infinities leave the outer bins)."""
    hist = np.asarray(profile.hist, dtype=np.float64).copy()
    hist[0] -= profile.neg_inf
    hist[-1] -= profile.pos_inf
    return hist


def _bins_within(edges: Sequence[float], train: NumericProfile) -> int:
    """Bins between train's exact min and max (its equal-frequency bins; the tolerance and
    outer bins beyond them hold no train value): the resolution of the binned measures."""
    low, high = _finite_range(train)
    cuts = np.asarray(edges, dtype=np.float64)
    return max(1, int(np.sum((cuts >= low) & (cuts <= high))) - 1)


def _finite_range(profile: NumericProfile) -> tuple[float, float]:
    if profile.min is None or profile.max is None:
        raise ValueError("a profile with finite values has a range")
    return profile.min, profile.max


def _bin_points(edges: Sequence[float], profile: NumericProfile) -> np.ndarray:
    return stats.bin_points(np.asarray(edges, dtype=np.float64), *_finite_range(profile))


def _numeric_chart(name: str, a: np.ndarray, b: np.ndarray, current: str, bins: int = 30) -> Chart:
    def q(x: np.ndarray, f: float) -> float:
        return float(x[min(len(x) - 1, int(f * len(x)))])

    lo, hi = min(q(a, 0.005), q(b, 0.005)), max(q(a, 0.995), q(b, 0.995))
    edges = _display_edges(lo, hi, (min(a[0], b[0]), max(a[-1], b[-1])), bins)
    series = {}
    for label, x in (("train", a), (current, b)):
        counts = stats.binned_counts(x, edges[1:-1])  # outside values fold into the end bins
        series[label] = (counts / counts.sum()).tolist()
    return _histogram(name, current, edges, series)


def _binned_chart(
    name: str,
    ref: tuple[np.ndarray, np.ndarray],
    cur: tuple[np.ndarray, np.ndarray],
    current: str,
    bins: int = 30,
) -> Chart:
    """The rows' chart drawn from the bins: ~30 equal-width display bins between the 0.5 %
    and 99.5 % points, every fine bin counted whole in the one holding its mid-point."""
    lo = min(stats.weighted_quantile(*ref, 0.005), stats.weighted_quantile(*cur, 0.005))
    hi = max(stats.weighted_quantile(*ref, 0.995), stats.weighted_quantile(*cur, 0.995))
    span = (min(ref[0][0], cur[0][0]), max(ref[0][-1], cur[0][-1]))
    edges = _display_edges(lo, hi, span, bins)
    series = {}
    for label, (points, counts) in (("train", ref), (current, cur)):
        where = np.searchsorted(edges[1:-1], points, side="left")
        merged = np.bincount(where, weights=counts, minlength=bins)
        series[label] = (merged / merged.sum()).tolist()
    return _histogram(name, current, edges, series)


def _display_edges(lo: float, hi: float, span: tuple[float, float], bins: int) -> np.ndarray:
    """Equal-width chart edges over [lo, hi], else over the whole span, else around it."""
    if hi <= lo:
        lo, hi = span
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def _histogram(name: str, current: str, edges: np.ndarray, series: dict[str, list[float]]) -> Chart:
    return Chart(
        "histogram", f"{name}: train vs {current}", {"edges": edges.tolist(), "series": series}
    )


def _missing_finding(
    report: FeatureDrift, k1: int, n1: int, k2: int, n2: int, bars: dict[str, float]
) -> None:
    r1 = k1 / n1 if n1 else 0.0
    r2 = k2 / n2 if n2 else 0.0
    report.info.update({"missing train": r1, "missing current": r2})
    if k1 == 0 and k2 == 0:
        return
    h = stats.cohens_h(r1, r2)
    report.findings.append(
        ShiftTest(
            report.name,
            report.kind,
            "missing",
            "z-test",
            r2 - r1,
            stats.two_proportion_test(k1, n1, k2, n2),
            {"missing h": h},
            {"missing h": bars["missing h"]},
        )
    )


# --------------------------------------------------------------------------- measure: datetimes
def _calendar_views(
    ref_frame: pl.DataFrame, cur_frame: pl.DataFrame, features: list[str], params: Drift.Params
) -> dict[str, CalendarView]:
    """A view of every Date/Datetime feature whose dtype is calendar on both sides."""
    views = {}
    for name in features:
        ref, cur = column_values(ref_frame, name), column_values(cur_frame, name)
        if is_calendar_feature(ref) and is_calendar_feature(cur):
            views[name] = calendar_view(name, ref, cur, params.calendar_cycles)
    return views


def _compare_calendar(
    view: CalendarView,
    source: Source,
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    """A datetime feature: its missing rate, each comparable calendar part as categories (hours
    are labels on a circle, 23 h next to 0 h, not magnitudes), and its raw value only when it
    does not look like the time axis."""
    name = view.name
    if view.time_axis:
        report = FeatureDrift(name, "datetime")
        m = source.missing(name)
        _missing_finding(report, m.ref, m.ref_rows, m.cur, m.cur_rows, bars)
        report.info.update({"KS": None, "W/std": None, "PSI": None})
    else:
        report = _numeric_report(name, "datetime", source.numeric(name), bars)
    report.calendar = view
    charts = {}
    js: list[float] = []
    for part in view.parts:
        counts = source.part(name, part)
        sub = _categorical_report(f"{name}.{part}", "categorical", counts, params, bars, current)
        for f in sub.findings:
            if f.aspect == "missing":  # the part is missing exactly where the feature is
                continue
            f.feature, f.kind, f.test = name, "datetime", f"{f.test} ({part})"
            f.aspect = part if f.aspect == "distribution" else f"unseen {part}"
            report.findings.append(f)
        charts[part] = sub.chart
        sub_js = sub.info.get("JS")
        if sub_js is not None:
            js.append(sub_js)
    report.info["JS"] = max(js) if js else None
    _pick_calendar_chart(report, charts)
    return report


def _pick_calendar_chart(report: FeatureDrift, charts: dict[str, Chart | None]) -> None:
    """The leading part's chart when it drifted (or no value chart exists), else the first."""
    lead = report.lead
    lead_part = lead.aspect.removeprefix("unseen ") if lead else ""
    if lead_part in charts and (report.chart is None or (lead and lead.level > 0)):
        report.chart = charts[lead_part]
    elif report.chart is None and charts:
        report.chart = next(iter(charts.values()))


def _part(series: pl.Series, part: str) -> pl.Series:
    return calendar_part(series, part).cast(pl.Int32).rename(part)


def _profile_calendar_views(
    pctx: ProfileContext, current: str, features: list[str], params: Drift.Params
) -> dict[str, CalendarView]:
    """A view of every Date/Datetime feature whose dtype is calendar in both profiles."""
    spec, dtypes = pctx.profiles.spec, pctx.profile(current).dtypes
    views = {}
    for name in features:
        if _is_calendar_dtype(spec.column(name).dtype) and _is_calendar_dtype(dtypes.get(name)):
            views[name] = _profile_calendar_view(pctx, current, name, params.calendar_cycles)
    return views


def _profile_calendar_view(
    pctx: ProfileContext, current: str, name: str, cycles: float
) -> CalendarView:
    """The view from profiles: the share beyond train's dates from the current histogram on
    train's bins (its exact first and last instant are edges), the spans and ranges from the
    exact min/max, the hour a candidate when either side's derived hour is ever off 0."""
    column = pctx.profiles.spec.column(name)
    ref, cur = pctx.numeric("train", name), pctx.numeric(current, name)
    if ref is None or cur is None:
        raise DataError(f"drift: {name!r} is not counted as a number in both profiles")
    dtypes = column.dtype, pctx.profile(current).dtypes.get(name, column.dtype)
    candidates = DATE_PARTS if column.dtype == "Date" else DATETIME_PARTS
    parts = tuple(
        p
        for p in candidates
        if all(pctx.categorical(s, f"{name}.{p}") is not None for s in ("train", current))
        and (p != "hour" or any(_has_time_of_day(pctx, s, name) for s in ("train", current)))
    )
    return calendar_view_of(
        name,
        _beyond_share_binned(column.edges, ref, cur),
        parts,
        (_span_s(ref, dtypes[0]), _span_s(cur, dtypes[1])),
        (_instant_range(ref, dtypes[0]), _instant_range(cur, dtypes[1])),
        cycles,
    )


def _is_calendar_dtype(dtype: str | None) -> bool:
    """A profile's dtype text of a Date or Datetime (not a Duration or a time of day)."""
    return dtype is not None and (dtype == "Date" or dtype.startswith("Datetime"))


def _has_time_of_day(pctx: ProfileContext, split: str, name: str) -> bool:
    """Some value's hour is off midnight (profiles count the hour, not the minute)."""
    hours = pctx.categorical(split, f"{name}.hour")
    return hours is not None and any(n > 0 for h, n in hours.counts.items() if h != "0")


def _beyond_share_binned(edges: Sequence[float], ref: NumericProfile, cur: NumericProfile) -> float:
    """Share of the current values outside train's first..last instant, from the current
    histogram on train's edges: exact below train's first instant (an edge); above its last,
    the bin starting at it also holds values equal to it (counted as beyond)."""
    if ref.count == 0 or cur.count == 0:
        return 0.0
    low, high = _finite_range(ref)
    hist, cuts = _finite_hist(cur), np.asarray(edges, dtype=np.float64)
    beyond = float(hist[: int(np.searchsorted(cuts, low, side="right"))].sum())
    if _finite_range(cur)[1] > high:
        beyond += float(hist[int(np.searchsorted(cuts, high, side="left")) + 1 :].sum())
    return beyond / cur.count


def _span_s(profile: NumericProfile, dtype: str) -> float:
    """Seconds from the first to the last value (a Date covers its last day); 0 when empty."""
    if profile.count == 0:
        return 0.0
    first, last = _finite_range(profile)
    return last - first + (86_400.0 if dtype == "Date" else 0.0)


def _instant_range(profile: NumericProfile, dtype: str) -> tuple[str, str] | None:
    if profile.count == 0:
        return None
    first, last = _finite_range(profile)
    return _instant_text(first, dtype), _instant_text(last, dtype)


def _instant_text(seconds: float, dtype: str) -> str:
    """Epoch seconds as the rows print them: a date, or a datetime (UTC when zoned)."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=round(seconds * 1e6))
    if dtype == "Date":
        return str(moment.date())
    if "time_zone=None" not in dtype:
        return str(moment.replace(tzinfo=dt.UTC))
    return str(moment)


# --------------------------------------------------------------------------- measure: categories
def _category_counts(series: pl.Series) -> tuple[pl.DataFrame, int]:
    """Distinct non-null values (as strings) with their counts, most frequent first."""
    values = series.cast(pl.String, strict=False).rename("value")
    counts = values.drop_nulls().value_counts(name="n")
    counts = counts.sort(["n", "value"], descending=[True, False])
    return counts, values.null_count()


def _count(counts: pl.Series) -> int:
    """The sum of an integer count column (the stubs allow a float or a Decimal sum too)."""
    total = counts.sum()
    if not isinstance(total, int):
        raise TypeError(f"a count column sums to an integer, not {type(total).__name__}")
    return total


def _category_rows(ref: pl.Series, cur: pl.Series, keep: int) -> CategoryCounts:
    """Counts from the rows: every value of train is known, so are the unseen ones."""
    ref_counts, ref_null = _category_counts(ref)
    cur_counts, cur_null = _category_counts(cur)
    top = ref_counts.head(keep)
    joined = top.join(cur_counts, on="value", how="left", suffix="_cur").fill_null(0)
    return CategoryCounts(
        Missing(ref_null, len(ref), cur_null, len(cur)),
        list(zip(top["value"].to_list(), top["n"].to_list(), strict=True)),
        dict(zip(joined["value"].to_list(), joined["n_cur"].to_list(), strict=True)),
        _count(cur_counts.join(ref_counts, on="value", how="anti")["n"]),
        int((ref_counts["n"] == 1).sum()),
    )


def _category_profiles(
    ref: CategoricalProfile, cur: CategoricalProfile, complete: bool, keep: int
) -> CategoryCounts:
    """Counts from profiles: exact for train's tracked values; the current rows outside them
    are unseen in train only when train's whole domain is tracked (``complete``)."""
    ranked = sorted(ref.counts.items(), key=lambda item: (-item[1], item[0]))
    return CategoryCounts(
        Missing(ref.missing, ref.rows, cur.missing, cur.rows),
        ranked[:keep],
        {value: cur.counts.get(value, 0) for value, _ in ranked[:keep]},
        cur.other if complete else None,
        sum(1 for n in ref.counts.values() if n == 1),
    )


def _categorical_report(
    name: str,
    kind: str,
    counts: CategoryCounts,
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    """A categorical column's tests: its missing rate, chi-square with JS and PSI over train's
    top categories (the rest pooled), and unseen categories beyond Good–Turing's estimate."""
    report = FeatureDrift(name, kind)
    m = counts.missing
    _missing_finding(report, m.ref, m.ref_rows, m.cur, m.cur_rows, bars)
    n_ref, n_cur = m.ref_rows - m.ref, m.cur_rows - m.cur
    if n_ref == 0 or n_cur == 0:
        report.info.update({"JS": None, "PSI": None, "unseen share": None})
        return report
    # Keep the top categories of train that are frequent enough for a chi-square cell.
    min_share = max(0.005, 5.0 / min(n_ref, n_cur))
    top = [(value, n) for value, n in counts.ref if n >= min_share * n_ref]
    ref_top = np.array([n for _, n in top], dtype=float)
    cur_top = np.array([counts.cur.get(value, 0) for value, _ in top], dtype=float)
    a = np.append(ref_top, n_ref - ref_top.sum())
    b = np.append(cur_top, n_cur - cur_top.sum())
    chi, _dof, p = stats.chi_square(a, b)
    js, psi = stats.js_distance(a, b), stats.psi(a, b)
    effects = {"JS": js, "PSI": psi}
    report.findings.insert(
        0,
        ShiftTest(
            name, kind, "distribution", "chi-square", chi, p, effects, {k: bars[k] for k in effects}
        ),
    )
    report.info.update(effects)
    _unseen_finding(report, counts, n_ref, n_cur, bars)
    report.chart = _category_chart(name, [value for value, _ in top] + [OTHER], a, b, current)
    return report


def _unseen_finding(
    report: FeatureDrift, counts: CategoryCounts, n_ref: int, n_cur: int, bars: dict[str, float]
) -> None:
    """Unseen categories, beyond the share train's own singletons predict (Good–Turing)."""
    if counts.unseen is None:
        report.info["unseen share"] = None
        return
    unseen, expected = counts.unseen, counts.singletons / n_ref
    unseen_share = unseen / n_cur
    report.info["unseen share"] = unseen_share
    if not unseen:
        return
    report.findings.append(
        ShiftTest(
            report.name,
            report.kind,
            "unseen",
            "binomial",
            unseen_share,
            stats.binomial_excess_pvalue(int(unseen), n_cur, expected),
            {"unseen excess": max(0.0, unseen_share - expected)},
            {"unseen excess": bars["unseen excess"]},
        )
    )


def _compare_categorical(
    name: str,
    kind: str,
    ref: pl.Series,
    cur: pl.Series,
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    counts = _category_rows(ref, cur, params.max_categories)
    return _categorical_report(name, kind, counts, params, bars, current)


def _category_chart(
    name: str, labels: list[str], a: np.ndarray, b: np.ndarray, current: str
) -> Chart:
    keep = (a + b) > 0
    shown = [v for v, k in zip(labels, keep, strict=True) if k]
    return Chart(
        "histogram",
        f"{name}: train vs {current} (category shares)",
        {
            "edges": list(range(len(shown) + 1)),
            "labels": shown,
            "series": {
                "train": (a[keep] / a.sum()).tolist(),
                current: (b[keep] / b.sum()).tolist(),
            },
        },
    )


# --------------------------------------------------------------------------- predictions, labels
def _prediction_and_label_drift(
    ctx: Context, current: str, params: Drift.Params, bars: dict[str, float]
) -> list[FeatureDrift]:
    out = _predictions_compared(ctx, current, params, bars)
    if ctx.has_labels(current):
        name = f"labels ({ctx.target})"
        ref_y, cur_y = ctx.labels("train"), ctx.labels(current)
        if ctx.is_classification:
            names = np.array(ctx.class_names, dtype=object)
            ref_s, cur_s = pl.Series(names[ref_y].tolist()), pl.Series(names[cur_y].tolist())
            out.append(
                _compare_categorical(name, "categorical", ref_s, cur_s, params, bars, current)
            )
        else:
            ref_s, cur_s = pl.Series(ref_y), pl.Series(cur_y)
            out.append(_compare_numeric(name, "numeric", ref_s, cur_s, params, bars, current))
    return _distribution_only(out)


def _profile_label_drift(
    pctx: ProfileContext,
    source: ProfileSource,
    current: str,
    params: Drift.Params,
    bars: dict[str, float],
) -> list[FeatureDrift]:
    """Prediction drift from the prediction profiles' histograms (on the seeded samples when
    a side has none and there are rows); label drift from the target's class counts (or
    histogram, for regression) in the profiles."""
    out = _profile_prediction_drift(pctx, current, params, bars)
    if out is None:
        out = (
            [] if pctx.sample is None else _predictions_compared(pctx.sample, current, params, bars)
        )
    target = pctx.target
    if target is not None and pctx.has_labels(current) and pctx.has_labels("train"):
        name = f"labels ({target})"
        if pctx.kind(target) == "numeric":
            out.append(_numeric_report(name, "numeric", source.numeric(target), bars))
        else:
            counts = source.categories(target)
            out.append(_categorical_report(name, "categorical", counts, params, bars, current))
    return _distribution_only(out)


def _profile_prediction_drift(
    pctx: ProfileContext, current: str, params: Drift.Params, bars: dict[str, float]
) -> list[FeatureDrift] | None:
    """Prediction drift from the prediction profiles of the current split and of the
    reference split (validation, else test, else train, as on rows), None when either has
    none: binary — the positive class's score histogram (KS on its 100 score bins, PSI,
    W/std); multiclass (or no scores) — the predicted labels' counts; regression — the
    predictions' histogram on the target's bins."""
    reference = _profile_prediction_reference(pctx, current)
    cur = pctx.prediction_profiles(current)
    if reference is None or not cur:
        return None
    ref = pctx.prediction_profiles(reference)
    name = "predictions"
    if pctx.task == "regression":
        a, b = ref.get("prediction"), cur.get("prediction")
        if not (isinstance(a, NumericProfile) and isinstance(b, NumericProfile)):
            return None
        target = pctx.target
        edges = pctx.profiles.spec.column(target).edges if target else ()
        shift = _numeric_profiles(name, a, b, edges, params.psi_bins, current)
        return [_numeric_report(name, "numeric", shift, bars)]
    score = _score_column(ref, cur, pctx.positive_label) if pctx.task == "binary" else None
    if score is not None:
        a, b = ref[score], cur[score]
        assert isinstance(a, NumericProfile) and isinstance(b, NumericProfile)
        shift = _numeric_profiles(name, a, b, SCORE_EDGES, params.psi_bins, current)
        shift = replace(shift, test=f"KS on {len(SCORE_EDGES) - 1} score bins")
        return [_numeric_report(name, "numeric", shift, bars)]
    a, b = ref.get("prediction"), cur.get("prediction")
    if not (isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile)):
        return None
    counts = _category_profiles(a, b, True, params.max_categories)
    return [_categorical_report(name, "categorical", counts, params, bars, current)]


def _profile_prediction_reference(pctx: ProfileContext, current: str) -> str | None:
    """The split whose prediction profiles stand for "before": held-out ones first (a stored
    reference's held-out splits count)."""
    for split in ("validation", "test", "train"):
        if split != current and pctx.prediction_profiles(split):
            return split
    return None


def _score_column(
    ref: dict[str, ColumnProfile], cur: dict[str, ColumnProfile], positive: str | None
) -> str | None:
    """The positive class's ``proba_`` column, counted as scores in both profiles (matched
    as written, else ignoring case, else a whole float as the integer: ``proba_1``)."""
    if positive is None:
        return None
    shared = [
        c
        for c in ref
        if c.startswith("proba_")
        and isinstance(ref[c], NumericProfile)
        and isinstance(cur.get(c), NumericProfile)
    ]
    wanted = [positive, positive.lower()]
    try:
        number = float(positive)
        if number.is_integer():
            wanted.append(str(int(number)))
    except ValueError:
        pass
    for label in wanted:
        for column in shared:
            if column[len("proba_") :].lower() == label.lower():
                return column
    return None


def _distribution_only(reports: list[FeatureDrift]) -> list[FeatureDrift]:
    """Predictions and labels are judged on their distribution (no missing or unseen test)."""
    for r in reports:
        r.findings = [f for f in r.findings if f.aspect == "distribution"]
    return reports


def _predictions_compared(
    ctx: Context, current: str, params: Drift.Params, bars: dict[str, float]
) -> list[FeatureDrift]:
    reference = _prediction_reference(ctx, current)
    if reference is not None and ctx.has_predictions(current):
        return _prediction_drift(ctx, reference, current, params, bars)
    return []


def _prediction_drift(
    ctx: Context, reference: str, current: str, params: Drift.Params, bars: dict[str, float]
) -> list[FeatureDrift]:
    ref, cur = ctx.predictions(reference), ctx.predictions(current)
    name = "predictions"
    if ctx.task == "regression":
        ref_s, cur_s = pl.Series(ref.values), pl.Series(cur.values)
        return [_compare_numeric(name, "numeric", ref_s, cur_s, params, bars, current)]
    if ctx.task == "binary" and ref.proba is not None and cur.proba is not None:
        i = ctx.positive_index
        ref_s, cur_s = pl.Series(ref.proba[:, i]), pl.Series(cur.proba[:, i])
        return [_compare_numeric(name, "numeric", ref_s, cur_s, params, bars, current)]
    if ref.labels is not None and cur.labels is not None:
        names = np.array(ctx.class_names, dtype=object)
        ref_s, cur_s = pl.Series(names[ref.labels].tolist()), pl.Series(names[cur.labels].tolist())
        return [_compare_categorical(name, "categorical", ref_s, cur_s, params, bars, current)]
    return []


def _prediction_reference(ctx: Context, current: str) -> str | None:
    """The split whose predictions stand for "before": held-out ones first.

    On train the model scores rows it was fitted on, so an overfitted model's train
    predictions differ from any new data's; validation or test predictions do not.
    """
    for split in ("validation", "test", "train"):
        if split != current and ctx.has_split(split) and ctx.has_predictions(split):
            return split
    return None


# --------------------------------------------------------------------------- on profiles
#: Why the parts that need train rows do not run against a stored reference.
NO_TRAIN_ROWS = "needs train rows; a stored reference holds profiles only"


def _profile_kind(column: ColumnSpec) -> str:
    """The encoder's kind of a profiled column: dates, times and durations count as numbers
    in a profile (epoch seconds), booleans as the categories true/false."""
    if column.kind == "numeric":
        temporal = column.dtype.split("(")[0] in ("Date", "Datetime", "Duration", "Time")
        return "datetime" if temporal else "numeric"
    return "boolean" if column.dtype == "Boolean" else "categorical"


def _sampled_multivariate(
    pctx: ProfileContext,
    current: str,
    features: list[str],
    views: dict[str, CalendarView],
    params: Drift.Params,
    levels: FailLevels,
    energy_runs: bool,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The domain classifier and energy test on the engine's seeded samples; not run against
    a stored reference (no train rows), with that reason."""
    sample = pctx.sample
    if sample is None:
        if not (params.domain_classifier and features):
            return None, None
        return {"auc": None, "note": f"domain classifier not run: {NO_TRAIN_ROWS}"}, None
    ref_frame, cur_frame = sample.frame("train"), sample.frame(current)
    domain, energy = _multivariate(
        sample, ref_frame, cur_frame, features, views, params, levels, energy_runs
    )
    note = pctx.sample_note("train", current)
    if domain is not None and domain.get("auc") is not None and note:
        domain["note"] = f"domain classifier on {note}"
    return domain, energy


def _describe_profiles(
    m: Measured, pctx: ProfileContext, features: list[str], params: Drift.Params
) -> None:
    """Record how the measures were taken on profiles: the bin resolution (metric
    profile_bins), the method (the feature table's note) and what was not available."""
    spec = pctx.profiles.spec
    bins = [_train_bins(pctx, c) for c in features if spec.column(c).kind == "numeric"]
    if any(bins):
        m.resolution["profile_bins"] = max(bins)
        m.method = (
            f"On profiles: numeric KS at the edges of train's {max(bins):,} bins (a lower "
            f"bound of the exact KS, within one bin's share), PSI on {params.psi_bins} bins "
            "merged from them, W/std with each bin at its mid-point; category counts exact."
        )
    m.notes += _not_available(m, pctx, features, params)


def _not_available(
    m: Measured, pctx: ProfileContext, features: list[str], params: Drift.Params
) -> list[str]:
    """What the profiles could not judge, and why (added to the message)."""
    spec, notes = pctx.profiles.spec, []
    capped = [c for c in features if spec.column(c).kind == "categorical"]
    capped = [c for c in capped if not spec.column(c).complete]
    if capped:
        notes.append(
            f"unseen-category test not available for {_quoted(capped)}: train has more than "
            f"{MAX_CATEGORIES:,} values and the reference domain was capped"
        )
    if pctx.sample is None:
        if m.energy is None and _energy_runs(params, m.rows_reference, m.rows_current, m.reports):
            notes.append(f"energy test not run: {NO_TRAIN_ROWS}")
        judged = any(r.name == "predictions" for r in m.extras)
        if pctx.config.model.predictions and not judged:
            notes.append(f"prediction drift not available: {_no_prediction_reason(pctx, m)}")
    return notes


def _no_prediction_reason(pctx: ProfileContext, m: Measured) -> str:
    """Why prediction drift did not run against a stored reference."""
    if not pctx.prediction_profiles(m.current):
        return f"no prediction file for {m.current} (model.predictions.{m.current})"
    if _profile_prediction_reference(pctx, m.current) is None:
        return (
            "the stored reference holds no predictions; store held-out ones with "
            "`qa profile --predictions test=PATH` (or validation)"
        )
    return "the reference's and the current predictions were not profiled alike"


def _train_bins(pctx: ProfileContext, name: str) -> int:
    train = pctx.numeric("train", name)
    edges = pctx.profiles.spec.column(name).edges
    return _bins_within(edges, train) if train is not None and train.count else 0


def _quoted(names: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[:limit]) + more


# --------------------------------------------------------------------------- encoded matrix
def _domain_encoder(
    ctx: Context, ref_frame: pl.DataFrame, features: list[str], params: Drift.Params
) -> FeatureEncoder:
    """The shared encoder fitted on train's features, keeping train's top ``max_categories``
    levels per category (the rest share the unseen code); computed once per Context."""
    key = ("drift-encoder", tuple(features), params.max_categories)
    return ctx.cached(
        key, lambda: FeatureEncoder.fit(ref_frame, features, max_levels=params.max_categories)
    )


def _judged_outputs(encoder: FeatureEncoder, views: dict[str, CalendarView]) -> list[int]:
    """Matrix columns the multivariate tests see: everything but the raw value of a time-axis
    datetime feature and the calendar parts its windows cannot compare."""
    keep = []
    for j, (out, feature) in enumerate(
        zip(encoder.output_names, encoder.output_features, strict=True)
    ):
        view = views.get(feature)
        if view is None:
            keep.append(j)
        elif out == feature:
            if not view.time_axis:
                keep.append(j)
        elif out[len(feature) + 1 :] in view.parts:
            keep.append(j)
    return keep


# --------------------------------------------------------------------------- small samples
def _energy(
    ctx: Context,
    ref_frame: pl.DataFrame,
    cur_frame: pl.DataFrame,
    encoder: FeatureEncoder,
    judged: list[int],
    params: Drift.Params,
    fail_alpha: float,
) -> dict[str, Any] | None:
    """Energy-distance permutation test on the train-standardised numeric features.

    The numeric (and judged raw datetime) columns of the encoder's matrix; categories and
    calendar parts are left to their chi-square tests. Every column is standardised by train's
    mean and SD (columns constant in train are left out: the per-feature tests see them) and
    missing or infinite values take train's median. At most ``energy_sample`` seeded rows per
    side keep the O(N^2) test well under a second. The energy distance is also expressed as the
    mean shift, in train SDs, of one feature that would cause it (averaged over the features),
    which is the effect size. The critical value (and so the detectable shift) is at the
    test's fail level ``fail_alpha``, with enough permutations to resolve it.
    """
    names, features, kinds = encoder.output_names, encoder.output_features, encoder.output_kinds
    cols = [j for j in judged if names[j] == features[j] and kinds[j] in ("numeric", "datetime")]
    if not cols:
        return None
    rng = np.random.default_rng(ctx.seed)
    ref = _sample(ref_frame, params.energy_sample, rng)
    cur = _sample(cur_frame, params.energy_sample, rng)
    if ref.height < 2 or cur.height < 2:
        return None
    full = encoder.transform(ref_frame)[:, cols].astype(np.float64)
    x_ref = encoder.transform(ref)[:, cols].astype(np.float64)
    x_cur = encoder.transform(cur)[:, cols].astype(np.float64)
    keep = []
    for i in range(len(cols)):
        finite = full[:, i][np.isfinite(full[:, i])]
        if len(finite) < 2:
            continue
        mean, sd, median = finite.mean(), finite.std(), np.median(finite)
        if not sd or not np.isfinite(sd) or sd <= 0:
            continue
        for x in (x_ref, x_cur):
            column = x[:, i]
            column[~np.isfinite(column)] = median
            x[:, i] = (column - mean) / sd
        keep.append(i)
    if not keep:
        return None
    a, b = x_ref[:, keep], x_cur[:, keep]
    permutations = energy_permutations(params.energy_permutations, fail_alpha)
    test = stats.energy_test(a, b, permutations, ctx.seed, fail_alpha)
    curve = stats.shift_energy(a)
    return {
        "energy_distance": test.statistic,
        "energy_p": test.p,
        "energy_shift_sd": stats.equivalent_shift(curve, test.statistic),
        "energy_detectable_shift_sd": stats.equivalent_shift(curve, test.critical),
        "energy_features": a.shape[1],
        "energy_sample_reference": len(a),
        "energy_sample_current": len(b),
        "energy_permutations": permutations,
    }


def energy_permutations(minimum: int, fail_alpha: float) -> int:
    """At least ``minimum``, and about 20 / ``fail_alpha`` so the p-value can go below the fail
    level with some 20 permutations beyond the critical value; at most 9,999 (the test costs
    O(N^2 permutations))."""
    wanted = math.ceil(ENERGY_TAIL_PERMUTATIONS / fail_alpha) - 1
    return max(minimum, min(MAX_ENERGY_PERMUTATIONS, wanted))


def _sample(frame: pl.DataFrame, cap: int, rng: np.random.Generator) -> pl.DataFrame:
    if frame.height <= cap:
        return frame
    return frame[np.sort(rng.choice(frame.height, cap, replace=False))]


def _power(
    n_ref: int,
    n_cur: int,
    n_features: int,
    numeric: list[str],
    energy: dict[str, Any] | None,
    levels: FailLevels,
) -> float | None:
    """Smallest one-feature mean shift (train SDs) the check detects about half the time at
    its fail levels.

    The per-feature KS test of a lone shifted feature fails when its p-value is below the
    family's fail level / (number of features) (Benjamini–Hochberg with one true finding); the
    energy test's own bar is the shift whose energy distance reaches its permutation critical
    value at its fail level. The check's power is the better of the two. None without numeric
    features.
    """
    if not numeric:
        return None
    best = stats.ks_detectable_shift(n_ref, n_cur, levels.bh / max(1, n_features))
    if energy:
        best = min(best, energy["energy_detectable_shift_sd"])
    return best


# --------------------------------------------------------------------------- domain classifier
def _domain_classifier(
    ctx: Context,
    ref_frame: pl.DataFrame,
    cur_frame: pl.DataFrame,
    encoder: FeatureEncoder,
    judged: list[int],
    params: Drift.Params,
) -> dict[str, Any]:
    """Cross-validated AUC of an XGBoost classifier that tells train rows from current rows,
    on the judged columns of the shared encoder's matrix; gain is summed back per feature."""
    n_ref, n_cur = ref_frame.height, cur_frame.height
    if n_cur < MIN_DOMAIN_ROWS or n_ref < MIN_DOMAIN_ROWS:
        return {
            "auc": None,
            "note": f"domain classifier not fitted: fewer than {MIN_DOMAIN_ROWS} rows on one side",
        }
    if not judged:
        return {"auc": None, "note": "domain classifier not fitted: no feature to compare"}
    rng = np.random.default_rng(ctx.seed)
    # At most twice as many train rows as current rows: more adds time, not information.
    k_cur = min(n_cur, params.domain_sample)
    k_ref = min(n_ref, params.domain_sample, 2 * k_cur)
    idx_ref = np.sort(rng.choice(n_ref, k_ref, replace=False)) if k_ref < n_ref else None
    idx_cur = np.sort(rng.choice(n_cur, k_cur, replace=False)) if k_cur < n_cur else None
    x_ref = encoder.transform(ref_frame if idx_ref is None else ref_frame[idx_ref])[:, judged]
    x_cur = encoder.transform(cur_frame if idx_cur is None else cur_frame[idx_cur])[:, judged]
    x = np.vstack([x_ref, x_cur])
    y = np.concatenate([np.zeros(k_ref, dtype=np.int8), np.ones(k_cur, dtype=np.int8)])
    oof, gain, folds = _domain_fit(ctx, x, y, params)
    from sklearn.metrics import roc_auc_score

    scored = ~np.isnan(oof)
    auc = float(roc_auc_score(y[scored], oof[scored]))
    per_feature: dict[str, float] = {}
    for j, g in zip(judged, gain, strict=True):
        feature = encoder.output_features[j]
        per_feature[feature] = per_feature.get(feature, 0.0) + float(g)
    total = sum(per_feature.values())
    top = []
    if total > 0:
        ranked = sorted(per_feature.items(), key=lambda kv: -kv[1])[:8]
        top = [(name, value / total) for name, value in ranked if value > 0]
    return {
        "auc": auc,
        "domain_auc": auc,
        "domain_sample_reference": k_ref,
        "domain_sample_current": k_cur,
        "domain_rows_scored": int(scored.sum()),
        "domain_folds_fitted": folds,
        "top": top,
    }


def _domain_fit(
    ctx: Context, x: np.ndarray, y: np.ndarray, params: Drift.Params
) -> tuple[np.ndarray, np.ndarray, int]:
    """Out-of-fold scores (NaN where not scored), total gain per column, folds fitted."""
    from sklearn.model_selection import StratifiedKFold
    from xgboost import XGBClassifier

    oof = np.full(len(y), np.nan)
    gain = np.zeros(x.shape[1])
    # Threads pay off only on large samples; on small ones their start-up cost dominates.
    threads = ctx.n_threads if len(y) >= 20_000 else 1
    folds = StratifiedKFold(n_splits=params.domain_folds, shuffle=True, random_state=ctx.seed)
    splits = list(folds.split(x, y))
    if len(y) >= DOMAIN_HOLDOUT_ROWS:
        splits = splits[:1]  # one holdout fold is plenty at this size
    for train_idx, test_idx in splits:
        model = XGBClassifier(
            n_estimators=DOMAIN_TREES,
            max_depth=DOMAIN_DEPTH,
            learning_rate=0.3,
            tree_method="hist",
            max_bin=DOMAIN_BINS,
            n_jobs=threads,
            random_state=ctx.seed,
            eval_metric="logloss",
        )
        model.fit(x[train_idx], y[train_idx])
        oof[test_idx] = model.predict_proba(x[test_idx])[:, 1]
        for key, value in model.get_booster().get_score(importance_type="total_gain").items():
            gain[int(key[1:])] += value
    return oof, gain, len(splits)
