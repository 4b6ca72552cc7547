"""Does production (or test) data look like the training data?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from qa import stats
from qa.base import Chart, Check, CheckResult, Evidence, param, table
from qa.budget import more_rows_needed, underpowered_note
from qa.context import Context
from qa.encoding import FeatureEncoder, calendar_part, epoch_seconds
from qa.time_axis import (
    beyond_range_share,
    calendar_span_s,
    candidate_parts,
    comparable_parts,
    declare_hint,
    is_calendar_feature,
    looks_like_time_axis,
    time_range,
)

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


@dataclass(frozen=True)
class CalendarView:
    """How one Date/Datetime feature is judged: is it the time axis, which parts compare."""

    name: str
    #: Share of current values outside train's first..last instant.
    beyond_share: float
    #: Most current values lie outside train's dates: the raw value is not judged.
    time_axis: bool
    #: Calendar parts compared (each window spans enough of their cycles).
    parts: tuple[str, ...]
    #: Calendar parts left out, because a window is shorter than ``calendar_cycles`` cycles.
    skipped: tuple[str, ...]
    reference_range: tuple[str, str] | None = None
    current_range: tuple[str, str] | None = None


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
            if params.current != "auto":
                return self.skip(f"current = {params.current!r}, but that split was not given")
            return self.skip("needs a production or test split to compare with train")
        ref_frame, cur_frame = ctx.frame("train"), ctx.frame(current)
        features = [c for c in ctx.feature_columns if c in cur_frame.columns]
        absent = [c for c in ctx.feature_columns if c not in cur_frame.columns]
        if ctx.feature_columns and not features:
            return self.result(
                "fail",
                f"{current} has none of the {len(ctx.feature_columns)} feature columns "
                f"of train; nothing can be compared",
                subjects=absent[:50],
                metrics={"features_absent": len(absent)},
            )
        # measure
        bars = _bars(params)
        views = _calendar_views(ref_frame, cur_frame, features, params)
        reports = [
            _measure_feature(col, ctx.kind(col), ref_frame, cur_frame, views, params, bars, current)
            for col in features
        ]
        extras = _prediction_and_label_drift(ctx, current, params, bars)
        numeric = [r.name for r in reports if r.kind in ("numeric", "datetime")]
        small = min(ref_frame.height, cur_frame.height) < MIN_DOMAIN_ROWS
        energy_runs = params.energy_test and small and bool(numeric)
        levels = FailLevels.split(ctx.false_alarm_share(self.id), energy_runs)
        _apply_fdr(reports + extras, params, levels.bh)
        encoder = _domain_encoder(ctx, ref_frame, features, params)
        judged = _judged_outputs(encoder, views)
        domain = None
        if params.domain_classifier and features:
            domain = _domain_classifier(ctx, ref_frame, cur_frame, encoder, judged, params)
        energy = None
        if energy_runs and levels.energy is not None:
            energy = _energy(ctx, ref_frame, cur_frame, encoder, judged, params, levels.energy)
        power = _power(ref_frame.height, cur_frame.height, len(reports), numeric, energy, levels)
        # decide
        auc = domain.get("auc") if domain else None
        decision = decide(
            reports, extras, auc, energy, power, params, current, cur_frame.height, levels
        )
        # explain
        return self._explain(
            ctx,
            current,
            reports,
            extras,
            absent,
            domain,
            params,
            bars,
            energy,
            power,
            decision,
            levels,
        )

    # ------------------------------------------------------------------ explain
    def _explain(
        self,
        ctx: Context,
        current: str,
        reports: list[FeatureDrift],
        extras: list[FeatureDrift],
        absent: list[str],
        domain: dict[str, Any] | None,
        params: Params,
        bars: dict[str, float],
        energy: dict[str, Any] | None,
        power: float | None,
        decision: Decision,
        levels: FailLevels,
    ) -> CheckResult:
        metrics = _metrics(ctx, current, reports, extras, absent, domain, energy, power)
        thresholds = _thresholds(params, bars, energy, power, levels)
        evidence = [_feature_table(reports + extras, current, params, absent, levels)]
        if domain and domain.get("top"):
            evidence.append(_domain_table(domain, current, params))
        views = [r.calendar for r in reports if r.calendar is not None]
        if views:
            evidence.append(_calendar_table(views, current, params))
        drifted = [r for r in reports + extras if r.level > 0]
        charts = [r.chart for r in sorted(drifted, key=_order) if r.chart is not None]
        return self.result(
            decision.status,
            _message(decision, metrics, domain, energy, views, current, len(reports)),
            metrics=metrics,
            thresholds=thresholds,
            evidence=evidence,
            charts=charts[: params.max_charts],
            subjects=list(decision.subjects),
        )


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
def _metrics(
    ctx: Context,
    current: str,
    reports: list[FeatureDrift],
    extras: list[FeatureDrift],
    absent: list[str],
    domain: dict[str, Any] | None,
    energy: dict[str, Any] | None,
    power: float | None,
) -> dict[str, Any]:
    drifted = [r for r in reports if r.level > 0]
    views = [r.calendar for r in reports if r.calendar is not None]
    metrics: dict[str, Any] = {
        "rows_reference": ctx.frame("train").height,
        "rows_current": ctx.frame(current).height,
        "features_compared": len(reports),
        "features_drifted": len(drifted),
        "features_large_drift": sum(1 for r in drifted if r.level == 2),
        "drifted_share": len(drifted) / len(reports) if reports else 0.0,
        "features_absent": len(absent),
    }
    if views:
        metrics["datetime_features"] = len(views)
        metrics["time_axis_features"] = sum(1 for v in views if v.time_axis)
    for measure in ("KS", "W/std", "PSI", "JS"):
        values = [v for r in reports if (v := r.info.get(measure)) is not None]
        metrics[f"max_{_slug(measure)}"] = max(values) if values else None
    for r in extras:
        prefix = "prediction" if r.name == "predictions" else "label"
        metrics[f"{prefix}_psi"] = r.info.get("PSI")
    if domain:
        metrics.update({k: v for k, v in domain.items() if k not in ("auc", "top", "note")})
    if energy:
        metrics.update({k: v for k, v in energy.items() if k != "note"})
    if power is not None:
        metrics["detectable_shift_sd"] = power if np.isfinite(power) else None
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


def _feature_table(
    reports: list[FeatureDrift],
    current: str,
    params: Drift.Params,
    absent: list[str],
    levels: FailLevels,
) -> Evidence:
    return table(
        f"Per-feature shift, train vs {current}",
        _feature_columns(current),
        [_feature_row(r) for r in sorted(reports, key=_order)],
        note=_feature_note(current, params, absent, levels),
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
        f"check's false-alarm share {levels.share:.2g}, split across its fail rules). Sorted by effect relative to its bar. A datetime "
        "feature's calendar parts are tested as categories (test named with the part)."
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
def _current_split(ctx: Context, wanted: str) -> str | None:
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
    ref_frame: pl.DataFrame,
    cur_frame: pl.DataFrame,
    views: dict[str, CalendarView],
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    ref, cur = ref_frame.get_column(name), cur_frame.get_column(name)
    if name in views:
        return _compare_calendar(views[name], ref, cur, params, bars, current)
    if kind in ("numeric", "datetime"):
        return _compare_numeric(name, kind, ref, cur, params, bars, current)
    return _compare_categorical(name, kind, ref, cur, params, bars, current)


def _numbers(series: pl.Series) -> pl.Series:
    """A column as float64: dates and datetimes as epoch seconds (the encoder's units)."""
    if series.dtype.is_temporal():
        return epoch_seconds(series)
    return series.cast(pl.Float64, strict=False)


def _sorted_finite(series: pl.Series) -> np.ndarray:
    values = _numbers(series)
    finite = values.filter(values.is_finite())
    return finite.sort().to_numpy()


def _compare_numeric(
    name: str,
    kind: str,
    ref: pl.Series,
    cur: pl.Series,
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    a, b = _sorted_finite(ref), _sorted_finite(cur)
    report = FeatureDrift(name, kind)
    _missing_finding(report, len(ref) - len(a), len(ref), len(cur) - len(b), len(cur), bars)
    if len(a) == 0 or len(b) == 0:
        report.info.update({"KS": None, "W/std": None, "PSI": None})
        return report
    ks, w = stats.ks_wasserstein(a, b)
    scale = float(np.std(a))
    if scale == 0.0:
        scale = float(np.std(np.concatenate([a, b])))
    w_norm = w / scale if scale > 0 else 0.0
    edges = stats.quantile_edges(a, params.psi_bins)
    psi = stats.psi(stats.binned_counts(a, edges), stats.binned_counts(b, edges))
    effects = {"KS": ks, "W/std": w_norm, "PSI": psi}
    report.findings.insert(
        0,
        ShiftTest(
            name,
            kind,
            "distribution",
            "KS",
            ks,
            stats.ks_pvalue(ks, len(a), len(b)),
            effects,
            {k: bars[k] for k in effects},
        ),
    )
    report.info.update(effects)
    report.chart = _numeric_chart(name, a, b, current)
    return report


def _numeric_chart(name: str, a: np.ndarray, b: np.ndarray, current: str, bins: int = 30) -> Chart:
    def q(x: np.ndarray, f: float) -> float:
        return float(x[min(len(x) - 1, int(f * len(x)))])

    lo, hi = min(q(a, 0.005), q(b, 0.005)), max(q(a, 0.995), q(b, 0.995))
    if hi <= lo:
        lo, hi = min(a[0], b[0]), max(a[-1], b[-1])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    series = {}
    for label, x in (("train", a), (current, b)):
        counts = stats.binned_counts(x, edges[1:-1])  # outside values fold into the end bins
        series[label] = (counts / counts.sum()).tolist()
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
        ref, cur = ref_frame.get_column(name), cur_frame.get_column(name)
        if is_calendar_feature(ref) and is_calendar_feature(cur):
            views[name] = calendar_view(name, ref, cur, params.calendar_cycles)
    return views


def calendar_view(name: str, ref: pl.Series, cur: pl.Series, cycles: float) -> CalendarView:
    """Measure a datetime feature: share beyond train's dates, parts each window can compare."""
    beyond = beyond_range_share(ref, cur)
    candidates = candidate_parts(ref, cur)
    parts = comparable_parts(candidates, (calendar_span_s(ref), calendar_span_s(cur)), cycles)
    return CalendarView(
        name=name,
        beyond_share=beyond,
        time_axis=looks_like_time_axis(beyond),
        parts=parts,
        skipped=tuple(p for p in candidates if p not in parts),
        reference_range=time_range(ref),
        current_range=time_range(cur),
    )


def _compare_calendar(
    view: CalendarView,
    ref: pl.Series,
    cur: pl.Series,
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
        _missing_finding(report, ref.null_count(), len(ref), cur.null_count(), len(cur), bars)
        report.info.update({"KS": None, "W/std": None, "PSI": None})
    else:
        report = _compare_numeric(name, "datetime", ref, cur, params, bars, current)
    report.calendar = view
    charts = {}
    js: list[float] = []
    for part in view.parts:
        sub = _compare_categorical(
            f"{name}.{part}",
            "categorical",
            _part(ref, part),
            _part(cur, part),
            params,
            bars,
            current,
        )
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
    lead = report.lead
    lead_part = lead.aspect.removeprefix("unseen ") if lead else ""
    if lead_part in charts and (report.chart is None or (lead and lead.level > 0)):
        report.chart = charts[lead_part]
    elif report.chart is None and charts:
        report.chart = next(iter(charts.values()))
    return report


def _part(series: pl.Series, part: str) -> pl.Series:
    return calendar_part(series, part).cast(pl.Int32).rename(part)


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


def _compare_categorical(
    name: str,
    kind: str,
    ref: pl.Series,
    cur: pl.Series,
    params: Drift.Params,
    bars: dict[str, float],
    current: str,
) -> FeatureDrift:
    ref_counts, ref_null = _category_counts(ref)
    cur_counts, cur_null = _category_counts(cur)
    report = FeatureDrift(name, kind)
    _missing_finding(report, ref_null, len(ref), cur_null, len(cur), bars)
    n_ref, n_cur = len(ref) - ref_null, len(cur) - cur_null
    if n_ref == 0 or n_cur == 0:
        report.info.update({"JS": None, "PSI": None, "unseen share": None})
        return report
    # Keep the top categories of train that are frequent enough for a chi-square cell.
    min_share = max(0.005, 5.0 / min(n_ref, n_cur))
    top = ref_counts.head(params.max_categories).filter(pl.col("n") >= min_share * n_ref)
    joined = top.join(cur_counts, on="value", how="left", suffix="_cur").fill_null(0)
    top_values = joined["value"].to_list()
    ref_top = joined["n"].to_numpy().astype(float)
    cur_top = joined["n_cur"].to_numpy().astype(float)
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
    # Unseen categories, beyond the share train's own singletons predict (Good–Turing).
    unseen = _count(cur_counts.join(ref_counts, on="value", how="anti")["n"])
    expected = float((ref_counts["n"] == 1).sum()) / n_ref
    unseen_share = unseen / n_cur
    report.info.update({**effects, "unseen share": unseen_share})
    if unseen:
        excess = max(0.0, unseen_share - expected)
        report.findings.append(
            ShiftTest(
                name,
                kind,
                "unseen",
                "binomial",
                unseen_share,
                stats.binomial_excess_pvalue(int(unseen), n_cur, expected),
                {"unseen excess": excess},
                {"unseen excess": bars["unseen excess"]},
            )
        )
    report.chart = _category_chart(name, [*top_values, OTHER], a, b, current)
    return report


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
    out: list[FeatureDrift] = []
    reference = _prediction_reference(ctx, current)
    if reference is not None and ctx.has_predictions(current):
        out += _prediction_drift(ctx, reference, current, params, bars)
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
    for r in out:
        r.findings = [f for f in r.findings if f.aspect == "distribution"]
    return out


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
