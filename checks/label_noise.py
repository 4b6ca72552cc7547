"""Are the training labels trustworthy? Confident learning on out-of-fold probabilities."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.budget import more_rows_needed, per_test, underpowered_note
from qa.context import Context
from qa.errors import DataError
from qa.metrics import fmt_level
from qa.stats import rate_lower_bound

#: Held-out splits with fewer labelled rows than this are reported but never judged.
MIN_HOLDOUT_ROWS = 200
#: Labelled validation + test rows needed to use them as the control for train's issue rate.
MIN_CONTROL_ROWS = 30
#: One-sided confidence of the reported lower bounds (``issue_rate_lower``) and of the
#: held-out warnings; the fail rule uses the check's share of the false-alarm budget instead
#: (``1 - CONFIDENCE`` when :func:`decide` is called without one).
CONFIDENCE = 0.95

#: Why :func:`decide` gave its status (see *How it decides*).
Reason = Literal["weak-model", "chance", "hard-target", "noisy", "explained", "holdout", "clean"]


@dataclass(frozen=True)
class TrainFlags:
    """What was measured on train: cleanlab's flags on the judged classes' rows."""

    judged: list[int]
    rows: np.ndarray
    y: np.ndarray
    proba: np.ndarray
    found: dict[str, Any]
    expected: float
    k: int
    n: int
    auc: float | None
    n_folds: int
    control: tuple[int, int] | None
    #: One-sided level of the fail rule (the check's share of the false-alarm budget).
    alpha: float = 1 - CONFIDENCE


class LabelNoise(Check):
    """Train labels that a model trained without them confidently contradicts.

    What it checks
    --------------
    Every train row gets class probabilities from a model that never saw it (stratified K-fold
    XGBoost, each fold's model fit on at most 250,000 seeded rows of the other folds, the count
    reported as `oof_fit_rows_per_fold`; once that cap binds, fewer folds are used — the fewest
    that still leave 250,000 rows to fit on, e.g. 2 for 800k train rows, reported as `n_folds` —
    since more folds would fit more models on the same number of rows; or the user's out-of-fold
    file `[model] oof` with ``proba_<label>`` columns).
    cleanlab's confident learning (`find_label_issues`, `get_label_quality_scores`,
    `num_label_issues`) then flags rows whose given label the model contradicts: `issue_rate`
    is the share of train rows flagged, beside cleanlab's own estimate of the noise rate.
    Labelled validation and test rows are scored the same way by the fold models (a model fit
    on train) and reported.

    Why it matters
    --------------
    Mislabelled training rows teach the model the wrong thing and cap its accuracy; mislabelled
    test rows make every metric the gate reports wrong. A few percent of errors is common in
    hand-labelled data; ten percent is a data-collection problem worth fixing before training.

    How it decides
    --------------
    cleanlab flags a row when the model confidently prefers another class, so it also flags
    rows of classes that genuinely overlap. The check therefore measures how much of the rate
    that overlap alone explains: it redraws every label from the out-of-fold probabilities
    themselves (labels exactly as uncertain as the model believes, with no error added) and
    runs cleanlab again; the share flagged then is `expected_issue_rate`, and `issue_rate`
    minus it is `excess_issue_rate`. Then, in order:

    1. The out-of-fold model must be good enough for its opinion to mean anything: a macro
       one-vs-rest AUC below ``min_oof_auc`` (default 0.7, the usual lower bound of
       "acceptable" discrimination) warns and names the score — a hard target (ratings predicted
       barely above chance) makes cleanlab flag half the rows whatever the labels are.
    2. `issue_rate` at or below ``max_issue_rate`` (default 0.05): pass.
    3. Above it, the count of flagged rows is a sample: with 89 rows one row moves the rate by
       1.1 points. The one-sided Clopper–Pearson lower bound of the issue rate at the check's
       share of the false-alarm budget (`issue_rate_lower_at_share`; the 95 % one is reported
       as `issue_rate_lower`) must also exceed the bar, else warn, saying how many more rows
       would settle it (the rate may be chance at this size; at thousands of rows the bound
       equals the rate).
    4. Then the control: when at least 30 labelled validation and test rows exist, each
       scored by one fold model as train rows are and flagged in the same cleanlab call as
       train (so with the same per-class thresholds), they are the control. Train and held-out
       rows are exchangeable under a random split, so train flagging at least
       ``min_excess_rate`` (default 0.025, half the bar; the practical margin) more than them,
       significantly (one-sided two-proportion test at the check's share), means train's
       labels are worse than the data's own ambiguity: fail, naming both rates. Equal rates
       mean the flags come from a hard target: warn (only a human audit tells uniform noise
       from hard classes). A time-ordered or group split makes held-out rows harder, never
       easier, so the test stays conservative there; with few held-out rows it is weak and the
       check warns rather than fail a hard target it cannot tell from noise.
       Without a control: fail when the lower bound less the expected rate reaches
       ``min_excess_rate`` — the model is confident enough that the flags are label errors,
       not ambiguity (ten percent of flipped labels in a learnable set lands here).
    5. Otherwise mostly explained by ambiguity: warn. Uniform label noise in a target the
       model finds hard looks exactly like overlapping classes, so the check says so instead of
       failing a clean dataset whose classes overlap.

    A held-out split (at least 200 labelled rows) that would fail by the same rules warns
    (``holdout`` = "warn", its bound at 95 %): its probabilities come from a model fit on other
    data, so a shift between the splits can look like label noise, which the drift check
    judges.

    A human audit settles what the model cannot: with ``audit`` naming a label-audit.json
    from ``qa audit score`` for this train split (same fingerprint), the verdict comes from the
    reviewers' verified error rate on the blind random sample — its lower bound at the check's
    share over ``max_issue_rate`` fails, its 95 % upper bound under it passes, an interval
    across it warns with how many more reviewed rows would settle it. An audit of other data
    ("stale") or with fewer than 50 reviewed random rows warns and never passes. The automated
    estimate stays in the message and the metrics beside it.

    The false-alarm budget: the train fail rule rests on the two tests above together (both
    must hold), so it is one testing fail rule and both tests run at the check's whole share
    (``thresholds.false_alarm_share``; the whole ``[run] false_alarm_rate`` when run alone).
    With ``holdout`` = "fail" each labelled held-out split is a fail rule too, and the share is
    split evenly across train and those splits (``thresholds.alpha``). Classes with
    fewer train rows than folds cannot be judged by cross-validation: they are left out and
    listed. Regression targets are skipped.

    How to fix
    ----------
    Review the rows in the evidence, worst first (the suggested label is the model's opinion,
    not the truth). Relabel or drop confirmed errors, fix the labelling guideline for the class
    pairs that dominate the noise matrix, and consider a second annotator for ambiguous classes.
    """

    id = "label-noise"
    title = "Trustworthy training labels"
    requires = ("train",)
    severity = "error"
    tasks = ("binary", "multiclass")
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        max_issue_rate: float = param(
            0.05,
            "Share of judged train rows that may be label issues before the check fails.",
            ge=0,
            le=1,
        )
        min_excess_rate: float = param(
            0.025,
            "Share of train rows flagged beyond what the model's own uncertainty "
            "explains, needed (with issue_rate over the bar) to fail rather than warn.",
            ge=0,
            le=1,
        )
        min_oof_auc: float = param(
            0.7,
            "Out-of-fold macro AUC below which the model is too weak to judge labels "
            "(warn instead of judging).",
            ge=0.5,
            le=1,
        )
        n_folds: int = param(5, "Folds for the out-of-fold model.", ge=2, le=20)
        max_rows_shown: int = param(20, "Most suspicious rows listed in the evidence.", ge=0)
        holdout: Literal["warn", "fail", "report"] = param(
            "warn",
            "What label issues in validation/test do to the verdict.",
            choices=("warn", "fail", "report"),
        )
        audit: str = param(
            "",
            "A label-audit.json written by `qa audit score` (relative to the config file): a "
            "human audit of this train split decides the verdict; empty: none.",
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        labels = ctx.labels("train")
        counts = np.bincount(labels, minlength=len(ctx.classes))
        rare = [int(i) for i in np.flatnonzero(counts) if counts[i] < params.n_folds]
        judged = [int(i) for i in np.flatnonzero(counts) if counts[i] >= params.n_folds]
        if len(judged) < 2:
            return self.skip(
                f"fewer than two classes have at least {params.n_folds} train rows; "
                "label noise cannot be estimated by cross-validation"
            )
        # measure
        fit = ctx.oof_fit(params.n_folds)
        rows = np.flatnonzero(np.isin(labels, judged))
        y, proba = _restrict(labels[rows], fit.proba[rows], judged)
        found = _find_issues(y, proba)
        expected = _expected_rate(proba, ctx.seed)
        auc, bal_acc = _skill(y, proba)
        n = len(rows)
        k = int(found["issue"].sum())
        lower = rate_lower_bound(k, n)
        alpha = _alpha(ctx, params, ctx.false_alarm_share(self.id))
        metrics: dict[str, Any] = {
            "issue_rate": k / n,
            "issue_rate_lower": lower,
            "issue_rate_lower_at_share": rate_lower_bound(k, n, 1 - alpha),
            "expected_issue_rate": expected,
            "excess_issue_rate": k / n - expected,
            "excess_issue_rate_lower": lower - expected,
            "noise_rate": found["noise_rate"],
            "issues": k,
            "rows_judged": n,
            "rows_excluded": int(len(labels) - n),
            "oof_auc": auc,
            "oof_balanced_accuracy": bal_acc,
            "n_folds": fit.n_folds,
            "oof_fit_rows_per_fold": fit.fit_rows,
        }
        holdout_ev, holdout_bad = self._holdouts(ctx, params, judged, metrics, alpha)
        control = _joint_control(ctx, params.n_folds, judged, y, proba)
        if control is not None:
            metrics["control_issue_rate"] = control[0] / control[1]
            metrics["control_rows"] = control[1]
        # decide
        status, reason = decide(auc, k, n, expected, control, bool(holdout_bad), params, alpha)
        flags = TrainFlags(
            judged, rows, y, proba, found, expected, k, n, auc, fit.n_folds, control, alpha
        )
        rare_counts = [(ctx.class_names[i], int(counts[i])) for i in rare]
        automated = self._explain(
            ctx, params, status, reason, flags, metrics, holdout_ev, holdout_bad, rare_counts
        )
        if not params.audit:
            return automated
        return self._with_audit(ctx, params, automated, alpha)

    def _with_audit(
        self, ctx: Context, params: Params, automated: CheckResult, alpha: float
    ) -> CheckResult:
        """The human audit decides; the automated estimate stays beside it."""
        audit = read_audit(audit_path(ctx, params.audit))
        status, text = decide_audit(audit, ctx.inputs["train"].sha256, params.max_issue_rate, alpha)
        return self.result(
            status,
            f"{text}; automated estimate: {automated.message}",
            metrics={**audit_metrics(audit), **automated.metrics},  # the audit first
            thresholds={**automated.thresholds, "min_audit_rows": MIN_AUDIT_ROWS},
            evidence=[audit_table(audit), *automated.evidence],
            charts=automated.charts,
            subjects=["audit", *automated.subjects],
        )

    def _explain(
        self,
        ctx: Context,
        params: Params,
        status: Status,
        reason: Reason,
        flags: TrainFlags,
        metrics: dict[str, Any],
        holdout_ev: list[Evidence],
        holdout_bad: list[tuple[str, float]],
        rare_counts: list[tuple[str, int]],
    ) -> CheckResult:
        names = [ctx.class_names[i] for i in flags.judged]
        evidence = _evidence(ctx, flags, names, holdout_ev, rare_counts, params.max_rows_shown)
        charts = [_noise_chart(flags.y, flags.found, names)] if len(names) <= 30 else []
        return self.result(
            status,
            _message(reason, flags, params, holdout_bad),
            remedy=WEAK_MODEL_REMEDY if reason == "weak-model" else None,
            subjects=_subjects(reason, flags, names, params, holdout_bad),
            metrics=metrics,
            thresholds={**_thresholds(params), "alpha": flags.alpha},
            evidence=evidence,
            charts=charts,
        )

    def _holdouts(
        self,
        ctx: Context,
        params: Params,
        judged: list[int],
        metrics: dict[str, Any],
        alpha: float = 1 - CONFIDENCE,
    ) -> tuple[list[Evidence], list[tuple[str, float]]]:
        """Score labelled validation/test rows with the models fit on train; a split is
        judged at ``alpha`` when it can fail the check (``holdout`` = "fail"), else at 95 %."""
        confidence = 1 - alpha if params.holdout == "fail" else CONFIDENCE
        evidence, bad = [], []
        for split in ("validation", "test"):
            if not ctx.has_labels(split):
                continue
            labels = ctx.labels(split)
            rows = np.flatnonzero(np.isin(labels, judged))
            present = [c for c in judged if (labels[rows] == c).any()]
            if len(rows) == 0 or len(present) < 2:
                continue
            rows = rows[np.isin(labels[rows], present)]
            y, proba = _restrict(
                labels[rows], ctx.holdout_proba(split, params.n_folds)[rows], present
            )
            found = _find_issues(y, proba)
            rate = found["issue"].sum() / len(rows)
            expected = _expected_rate(proba, ctx.seed)
            excess = rate - expected
            lower = rate_lower_bound(int(found["issue"].sum()), len(rows), confidence)
            metrics[f"{split}_issue_rate"] = rate
            metrics[f"{split}_excess_issue_rate"] = excess
            metrics[f"{split}_issues"] = int(found["issue"].sum())
            metrics[f"{split}_rows_judged"] = len(rows)
            names = [ctx.class_names[i] for i in present]
            ev = _suspicious_rows(ctx, split, rows, y, proba, found, names, params.max_rows_shown)
            evidence.append(ev)
            if holdout_flagged(len(rows), lower, expected, params):
                bad.append((split, rate))
        return evidence, bad


# --------------------------------------------------------------------------- decide
def _alpha(ctx: Context, params: LabelNoise.Params, share: float) -> float:
    """The fail rules' one-sided level: the share, split across train and, with ``holdout`` =
    "fail", each labelled held-out split."""
    if params.holdout != "fail":
        return share
    held_out = sum(ctx.has_labels(s) for s in ("validation", "test"))
    return per_test(share, 1 + held_out)


def decide(
    auc: float | None,
    k: int,
    n: int,
    expected: float,
    control: tuple[int, int] | None,
    holdout_bad: bool,
    params: LabelNoise.Params,
    alpha: float = 1 - CONFIDENCE,
) -> tuple[Status, Reason]:
    """Status and reason from ``k`` of ``n`` train rows flagged (see *How it decides*); the
    tests behind a fail are one-sided at ``alpha`` (the check's share of the budget).

    Reasons: weak-model, chance, hard-target, noisy (fail), explained, holdout, clean.
    """
    if auc is not None and auc < params.min_oof_auc:
        return "warn", "weak-model"
    if k / n > params.max_issue_rate:
        lower = rate_lower_bound(k, n, 1 - alpha)
        if lower <= params.max_issue_rate:
            return "warn", "chance"
        if control is not None:  # held-out rows scored the same way are the control
            if _train_noisier(k, n, *control, params.min_excess_rate, alpha):
                return "fail", "noisy"
            return "warn", "hard-target"
        if lower - expected >= params.min_excess_rate:
            return "fail", "noisy"
        return "warn", "explained"
    if holdout_bad:
        return ("fail" if params.holdout == "fail" else "warn"), "holdout"
    return "pass", "clean"


def holdout_flagged(rows: int, lower: float, expected: float, params: LabelNoise.Params) -> bool:
    """A held-out split counts against the verdict: judged (``holdout`` is not report), large
    enough, its rate's lower bound over the bar and beyond what uncertainty explains."""
    return (
        params.holdout != "report"
        and rows >= MIN_HOLDOUT_ROWS
        and lower > params.max_issue_rate
        and lower - expected >= params.min_excess_rate
    )


# --------------------------------------------------------------------------- the human audit
#: Reviewed random rows (correct + wrong) an audit needs before it can pass the check.
MIN_AUDIT_ROWS = 50


def audit_path(ctx: Context, value: str) -> Path:
    """``[checks.label-noise] audit``, relative to the config file when it names one."""
    path = Path(value)
    if not path.is_absolute() and ctx.config.source:
        path = Path(ctx.config.source).parent / path
    return path


def read_audit(path: Path) -> dict[str, Any]:
    """A label-audit.json from ``qa audit score``; DataError naming the file otherwise."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"checks.label-noise.audit: file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"checks.label-noise.audit: cannot read {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("kind") != "label-audit":
        raise DataError(f"checks.label-noise.audit: {path} is not a label-audit.json")
    return raw


def audit_metrics(audit: Mapping[str, Any]) -> dict[str, Any]:
    rate = audit.get("error_rate") or {}
    precision = audit.get("flag_precision") or {}
    return {
        "audit_error_rate": rate.get("estimate"),
        "audit_error_rate_ci_low": rate.get("ci_low"),
        "audit_error_rate_ci_high": rate.get("ci_high"),
        "audit_rows_reviewed": rate.get("trials", 0),
        "audit_flag_precision": precision.get("estimate"),
    }


def audit_table(audit: Mapping[str, Any]) -> Evidence:
    """Who reviewed what, when, and what they found: the audit as the report shows it."""

    def interval(part: Mapping[str, Any] | None) -> str:
        if not part:
            return "—"
        return (
            f"{part['estimate']:.1%} (95% CI {part['ci_low']:.1%}-{part['ci_high']:.1%}, "
            f"{part['successes']} of {part['trials']})"
        )

    random = (audit.get("parts") or {}).get("random") or {}
    rows = [
        ("reviewer", audit.get("reviewer") or "not recorded"),
        ("sheet written", audit.get("sheet_created_at") or "—"),
        ("scored", audit.get("created_at") or "—"),
        ("split", f"{audit.get('split')} (sha256 {str(audit.get('split_sha256', ''))[:12]}…)"),
        ("random rows reviewed", f"{random.get('reviewed', 0)} of {random.get('rows', 0)}"),
        ("unsure (left out)", str(audit.get("unsure", 0))),
        ("verified error rate", interval(audit.get("error_rate"))),
        ("precision of the gate's flags", interval(audit.get("flag_precision"))),
    ]
    return table("Human label audit", ["", "value"], rows)


def decide_audit(
    audit: Mapping[str, Any], train_sha256: str, bar: float, alpha: float
) -> tuple[Status, str]:
    """The seed's rule on a human audit of train: stale (other data) or fewer than
    ``MIN_AUDIT_ROWS`` reviewed random rows warn and never pass; otherwise a lower bound over
    the bar fails (one-sided Clopper–Pearson at the check's share of the false-alarm budget), a
    95 % upper bound under it passes, and an interval across it warns with how many more rows
    would settle it."""
    if audit.get("split") != "train" or audit.get("split_sha256") != train_sha256:
        return "warn", (
            "stale audit: it reviewed other data than this train split (fingerprint differs); "
            "run `qa audit labels` again"
        )
    rate = audit.get("error_rate") or {}
    wrong, n = int(rate.get("successes", 0)), int(rate.get("trials", 0))
    if n < MIN_AUDIT_ROWS:
        return "warn", (
            f"label audit too small: {n} random rows reviewed (correct or wrong); at least "
            f"{MIN_AUDIT_ROWS} are needed before it can pass"
        )
    estimate, upper = wrong / n, float(rate.get("ci_high", 1.0))
    lower = rate_lower_bound(wrong, n, 1 - alpha)
    verified = f"human audit: {wrong} of {n} random train rows mislabelled ({estimate:.1%}, 95% CI "
    verified += f"{float(rate.get('ci_low', 0.0)):.1%}-{upper:.1%})"
    if lower > bar:
        return "fail", f"{verified}, over the bar {bar:.1%} (lower bound at the share {lower:.1%})"
    if upper < bar:
        return "pass", f"{verified}, under the bar {bar:.1%}"
    spread = max(upper - estimate, estimate - lower, 1e-9)
    more = more_rows_needed(n, spread, max(abs(estimate - bar), 1e-3))
    settle = f"about {more:,} more reviewed rows would settle it" if more else "audit more rows"
    return "warn", f"{verified} straddles the bar {bar:.1%}: {settle}"


# --------------------------------------------------------------------------- explain
#: Reasons whose train issue rate is over the bar; the message says why it fails or only warns.
ABOVE_BAR: tuple[Reason, ...] = ("chance", "hard-target", "noisy", "explained")

WEAK_MODEL_REMEDY = (
    "Check that the target is learnable from these features (or that the "
    "labels are not random); then review the listed rows by hand."
)


def _evidence(
    ctx: Context,
    flags: TrainFlags,
    names: list[str],
    holdout_ev: list[Evidence],
    rare_counts: list[tuple[str, int]],
    limit: int,
) -> list[Evidence]:
    """Train's suspicious rows, noise matrix and per-class rates, the held-out splits' rows,
    and the classes too small to judge."""
    y, found = flags.y, flags.found
    evidence = [
        _suspicious_rows(ctx, "train", flags.rows, y, flags.proba, found, names, limit),
        _noise_matrix(y, found, names),
        _per_class(y, found, names),
        *holdout_ev,
    ]
    if rare_counts:
        evidence.append(_rare_classes(rare_counts))
    return evidence


def _rare_classes(rare_counts: list[tuple[str, int]]) -> Evidence:
    return table(
        "Classes too small to judge (fewer train rows than folds)",
        ["class", "train rows"],
        rare_counts,
    )


def _thresholds(params: LabelNoise.Params) -> dict[str, float]:
    return {
        "max_issue_rate": params.max_issue_rate,
        "min_excess_rate": params.min_excess_rate,
        "min_oof_auc": params.min_oof_auc,
    }


def _summary(flags: TrainFlags) -> str:
    """Train's issue rate, cleanlab's noise estimate and where the probabilities came from."""
    k, n = flags.k, flags.n
    source = (
        "the user's out-of-fold file" if flags.n_folds == 0 else f"{flags.n_folds}-fold XGBoost"
    )
    return (
        f"{k / n:.1%} of {n:,} train rows look mislabelled ({k:,}; "
        f"cleanlab's noise estimate {flags.found['noise_rate']:.1%}; {source})"
    )


def _weak_model_text(flags: TrainFlags, params: LabelNoise.Params) -> str:
    return (
        f"out-of-fold model too weak to judge the labels: macro AUC {flags.auc:.3f} < "
        f"{params.min_oof_auc} (a hard target, or labels near random); cleanlab flags "
        f"{flags.k / flags.n:.1%} of rows, which means little at this skill"
    )


def _above_bar_text(reason: Reason, flags: TrainFlags, bar: float) -> str:
    """Why a train issue rate over the bar fails (noisy) or only warns (the other reasons)."""
    summary = _summary(flags)
    lower = rate_lower_bound(flags.k, flags.n, 1 - flags.alpha)
    level = f"one-sided {fmt_level(1 - flags.alpha)}"
    if reason == "chance":
        rate, spread = flags.k / flags.n, flags.k / flags.n - lower
        note = underpowered_note(
            flags.n,
            "train rows",
            f"an issue rate above {bar + spread:.1%}",
            more_rows_needed(flags.n, spread, rate - bar),
            f"the rate of {rate:.1%}",
        )
        return (
            f"{summary}; above the bar {bar:.1%}, but with {flags.n:,} rows the rate could be "
            f"chance: its {level} lower bound at the gate's share is {lower:.1%} (too few rows "
            f"to tell a few borderline rows from label noise; {note})"
        )
    if reason == "hard-target":
        k_h, n_h = flags.control  # type: ignore[misc]
        return (
            f"{summary}; above the bar {bar:.1%}, but the labelled held-out rows, scored "
            f"the same way, flag {k_h / n_h:.1%} of {n_h:,}: the flags come from a hard "
            "target, not from noise particular to train labels"
        )
    if reason == "noisy" and flags.control is not None:
        k_h, n_h = flags.control
        return (
            f"{summary}; {level} lower bound {lower:.1%} > bar {bar:.1%}, and the labelled "
            f"held-out rows, scored the same way, flag only {k_h / n_h:.1%} of {n_h:,}: train's "
            "labels are worse than the data's own ambiguity"
        )
    if reason == "noisy":
        return f"{summary}; {level} lower bound {lower:.1%} > bar {bar:.1%}"
    return (
        f"{summary}; above the bar {bar:.1%}, but the model's own uncertainty "
        f"explains {flags.expected:.1%} (labels redrawn from its probabilities): "
        "overlapping classes or noise spread evenly cannot be told apart here"
    )


def _holdout_text(flags: TrainFlags, holdout_bad: list[tuple[str, float]], bar: float) -> str:
    listed = ", ".join(f"{s} {r:.1%}" for s, r in holdout_bad)
    return (
        f"train labels look fine ({flags.k / flags.n:.1%}), but held-out labels do not: "
        f"{listed} (bar {bar:.1%})"
    )


def _message(
    reason: Reason,
    flags: TrainFlags,
    params: LabelNoise.Params,
    holdout_bad: list[tuple[str, float]],
) -> str:
    bar = params.max_issue_rate
    if reason == "weak-model":
        return _weak_model_text(flags, params)
    if reason in ABOVE_BAR:
        return _above_bar_text(reason, flags, bar)
    if reason == "holdout":
        return _holdout_text(flags, holdout_bad, bar)
    return f"{_summary(flags)}; bar {bar:.1%}"


def _subjects(
    reason: Reason,
    flags: TrainFlags,
    names: list[str],
    params: LabelNoise.Params,
    holdout_bad: list[tuple[str, float]],
) -> list[str]:
    """train for a weak model; the classes over the bar (else train) when train's rate is; the
    held-out splits at fault; none when clean."""
    if reason == "weak-model":
        return ["train"]
    if reason in ABOVE_BAR:
        rates = _class_rates(flags.y, flags.found, names)
        return [c for c, r in rates if r > params.max_issue_rate] or ["train"]
    if reason == "holdout":
        return [s for s, _ in holdout_bad]
    return []


# --------------------------------------------------------------------------- helpers
def _joint_control(
    ctx: Context, n_folds: int, judged: list[int], y: np.ndarray, proba: np.ndarray
) -> tuple[int, int] | None:
    """Flagged and judged held-out rows (validation and test pooled), flagged in ONE cleanlab
    call together with train's rows, so both sides are held to the same per-class thresholds
    (a held-out split of a few dozen rows per class estimates its own thresholds poorly).
    None when fewer than ``MIN_CONTROL_ROWS`` labelled held-out rows exist."""
    held_y, held_p = [], []
    for split in ("validation", "test"):
        if not ctx.has_labels(split):
            continue
        labels = ctx.labels(split)
        rows = np.flatnonzero(np.isin(labels, judged))
        y_h, p_h = _restrict(labels[rows], ctx.holdout_proba(split, n_folds)[rows], judged)
        held_y.append(y_h)
        held_p.append(p_h)
    n_h = sum(len(part) for part in held_y)
    if n_h < MIN_CONTROL_ROWS:
        return None
    flags = _find_issues(np.concatenate([y, *held_y]), np.vstack([proba, *held_p]))["issue"]
    return int(flags[len(y) :].sum()), n_h


def _train_noisier(
    k: int, n: int, k_h: int, n_h: int, min_excess: float, alpha: float = 1 - CONFIDENCE
) -> bool:
    """Does train flag clearly more rows than held-out data scored the same way?

    Labels flipped in train make train flag more rows than validation/test; a hard target
    makes every split flag about as many. One-sided two-proportion test at ``alpha`` (the
    check's share), and the difference must reach ``min_excess`` as well.
    """
    from qa.stats import two_proportion_test

    difference = k / n - k_h / n_h
    return difference >= min_excess and two_proportion_test(k, n, k_h, n_h) / 2 < alpha


def _restrict(
    labels: np.ndarray, proba: np.ndarray, classes: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0..m-1 over ``classes`` and their probability columns, renormalised."""
    y = np.searchsorted(np.asarray(classes), labels)
    p = np.asarray(proba[:, classes], dtype=np.float64)
    sums = p.sum(axis=1, keepdims=True)
    p = np.where(sums > 0, p / np.where(sums > 0, sums, 1.0), 1.0 / len(classes))
    return y, p


def _find_issues(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """cleanlab's flags, quality scores, suggested labels and noise-rate estimate."""
    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flagged = np.asarray(find_label_issues(y, proba, n_jobs=1), dtype=bool)
        quality = get_label_quality_scores(y, proba)
        noise = num_label_issues(y, proba, estimation_method="off_diagonal_calibrated") / len(y)
    others = proba.copy()
    others[np.arange(len(y)), y] = -1.0
    return {
        "issue": flagged,
        "quality": quality,
        "suggested": others.argmax(axis=1),
        "noise_rate": float(noise),
    }


def _expected_rate(proba: np.ndarray, seed: int) -> float:
    """Share cleanlab flags when labels are redrawn from ``proba`` itself (no added error).

    Averaged over a few seeded draws for small sets; one draw is precise enough beyond 50k rows.
    """
    from cleanlab.filter import find_label_issues

    rng = np.random.default_rng(seed + 7)
    draws = 1 if len(proba) >= 50_000 else 3
    cumulative = np.cumsum(proba, axis=1)
    rates = []
    for _ in range(draws):
        u = rng.random(len(proba))[:, None]
        drawn = np.minimum((u > cumulative).sum(axis=1), proba.shape[1] - 1)
        if len(np.unique(drawn)) < proba.shape[1]:  # a class never drawn: cleanlab needs all
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rates.append(float(np.mean(find_label_issues(drawn, proba, n_jobs=1))))
    return float(np.mean(rates)) if rates else 0.0


def _skill(y: np.ndarray, proba: np.ndarray) -> tuple[float | None, float | None]:
    """Out-of-fold macro one-vs-rest AUC and balanced accuracy."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    k = proba.shape[1]
    auc: float | None
    try:
        if k == 2:
            auc = float(roc_auc_score(y, proba[:, 1]))
        else:
            aucs = [
                roc_auc_score(y == c, proba[:, c]) for c in range(k) if 0 < (y == c).sum() < len(y)
            ]
            auc = float(np.mean(aucs)) if aucs else None
    except ValueError:
        auc = None
    bal = float(balanced_accuracy_score(y, proba.argmax(axis=1)))
    return auc, bal


def _suspicious_rows(
    ctx: Context,
    split: str,
    rows: np.ndarray,
    y: np.ndarray,
    proba: np.ndarray,
    found: dict[str, Any],
    names: list[str],
    limit: int,
) -> Evidence:
    issue = np.flatnonzero(found["issue"])
    order = issue[np.lexsort((issue, found["quality"][issue]))][:limit]
    id_col = ctx.config.task.id
    frame = ctx.frame(split)
    ids = (
        frame[id_col].gather(rows[order]).to_list() if id_col and id_col in frame.columns else None
    )
    columns = [
        id_col if ids is not None and id_col else "row",
        "given label",
        "suggested label",
        "label quality",
        "p(suggested)",
    ]
    out = []
    for j, i in enumerate(order):
        key = int(rows[i]) if ids is None else ids[j]
        out.append(
            (
                key,
                names[y[i]],
                names[found["suggested"][i]],
                float(found["quality"][i]),
                float(proba[i, found["suggested"][i]]),
            )
        )
    note = (
        f"{len(issue):,} issues in {split}; worst first (label quality = out-of-fold "
        "probability of the given label); rows are 0-based positions in the split"
    )
    return table(f"Most suspicious {split} labels", columns, out, note=note, max_rows=max(limit, 1))


def _noise_matrix(y: np.ndarray, found: dict[str, Any], names: list[str]) -> Evidence:
    k = len(names)
    matrix = np.zeros((k, k), dtype=np.int64)
    issue = found["issue"]
    np.add.at(matrix, (y[issue], found["suggested"][issue]), 1)
    rows = [[names[i], *matrix[i].tolist()] for i in range(k)]
    return table(
        "Label issues: given label (rows) x suggested label (columns)",
        ["given \\ suggested", *names],
        rows,
        max_rows=50,
    )


def _class_rates(y: np.ndarray, found: dict[str, Any], names: list[str]) -> list[tuple[str, float]]:
    counts = np.bincount(y, minlength=len(names))
    issues = np.bincount(y[found["issue"]], minlength=len(names))
    return [(names[i], issues[i] / counts[i]) for i in range(len(names)) if counts[i]]


def _per_class(y: np.ndarray, found: dict[str, Any], names: list[str]) -> Evidence:
    counts = np.bincount(y, minlength=len(names))
    issues = np.bincount(y[found["issue"]], minlength=len(names))
    rows = [
        (names[i], int(counts[i]), int(issues[i]), issues[i] / counts[i])
        for i in np.argsort(-issues / np.maximum(counts, 1), kind="stable")
        if counts[i]
    ]
    return table(
        "Label issues per given class", ["class", "train rows", "issues", "issue rate"], rows
    )


def _noise_chart(y: np.ndarray, found: dict[str, Any], names: list[str]) -> Chart:
    k = len(names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y[found["issue"]], found["suggested"][found["issue"]]), 1)
    return Chart(
        "heatmap",
        "Label issues: given x suggested",
        {
            "labels": names,
            "matrix": matrix.tolist(),
            "row_label": "given",
            "col_label": "suggested",
        },
    )
