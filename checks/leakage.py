"""Does anything leak between the splits or from the target into the features?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from qa.base import Check, CheckResult, Evidence, param, table
from qa.context import Context
from qa.errors import DataError

HASH_SEED = 20240601
#: Quantile bins of the one-feature lookup model for numeric features.
N_BINS = 128
#: Duplicate groups larger than this are cells of a coarse feature space, not copied records.
MAX_RECORD_GROUP = 10


@dataclass
class Finding:
    """One detector's outcome."""

    detector: str
    fired: bool
    observed: float | None
    bar: float | None
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


class Leakage(Check):
    """Leakage between the splits and from the target into a feature.

    What it checks
    --------------
    Five detectors, each reported on its own line: (1) ``overlap`` — feature rows of
    validation, test or production that appear exactly in train (rows hashed over the feature
    columns); (2) ``group`` — the same entity (the ``[task] group`` column) in train and in
    validation or test; (3) ``time`` — validation or test rows earlier than the latest train row
    (the ``[task] time`` column); (4) ``target-proxy`` — a single feature that predicts the
    target almost perfectly; (5) ``conflicts`` — identical train feature rows with different
    labels (classification).

    Why it matters
    --------------
    A test row the model has already seen, an entity it has memorised, a future it has peeked
    at, or a column that is the label in disguise all make test scores promise what production
    will not deliver. Conflicting duplicates are copies of one record labelled twice — at least
    one label is wrong.

    How it decides
    --------------
    Any detector firing fails the check. ``overlap``: in a coarse feature space (few categorical
    levels) test rows match train by chance about as often as train rows match each other, so
    the share of split rows found in train minus train's own duplicate share must stay within
    ``max_overlap_share`` (default 1 %: under one point of any test metric) and be at least three
    standard errors above chance. ``group``: the share of split rows whose entity is also in
    train must not exceed ``max_group_overlap_share`` (default 0: a declared group must never
    cross the split). ``time``: the share of validation/test rows strictly earlier than the last
    train row must not exceed ``max_time_overlap_share`` (default 0). Production is checked for
    overlap only: seeing known entities and past dates there is normal. ``target-proxy``: on at
    most ``max_proxy_rows`` train rows (the sample size is reported), each feature alone: the
    rank AUC of its raw value (macro one-vs-rest) or, through a one-feature lookup model (128
    quantile bins or the categories, a shallow tree's equivalent that also sees non-monotone
    relations) fit on one half and scored on the other, its held-out AUC and its held-out
    mutual information as a share of the target's entropy; regression uses R². Any of these at or
    above ``min_proxy_score`` (0.99) fires. Cross-fitting keeps ID-like columns (unique per row)
    from scoring on mutual information; they are also left out of that rule explicitly.
    ``conflicts``: the share of train rows in duplicate groups of at most ten rows that carry
    more than one label must not exceed ``max_conflict_share`` (default 1 %); larger groups are
    cells of a coarse feature space, where differing labels are natural.

    How to fix
    ----------
    Deduplicate before splitting and split by entity (group) and by time; drop the rows of the
    evidence from train or re-split. Remove or rebuild a target-proxy feature (it is usually
    computed from the label or recorded after it). Relabel conflicting duplicates consistently
    and keep one copy.
    """

    id = "leakage"
    title = "No leakage between splits or from the target"
    requires = ("train",)
    severity = "error"

    @dataclass(frozen=True)
    class Params:
        max_overlap_share: float = param(
            0.01, "Share of a split's rows found in train, beyond chance, before failing.",
            ge=0, le=1,
        )
        max_group_overlap_share: float = param(
            0.0, "Share of validation/test rows whose group also appears in train.", ge=0, le=1
        )
        max_time_overlap_share: float = param(
            0.0, "Share of validation/test rows earlier than the latest train row.", ge=0, le=1
        )
        min_proxy_score: float = param(
            0.99, "One-feature AUC, normalised mutual information or R² that marks a target "
                  "proxy.", gt=0, le=1,
        )
        max_proxy_rows: int = param(
            200_000, "Train rows sampled (seeded) for the target-proxy detector.", ge=100
        )
        max_conflict_share: float = param(
            0.01, "Share of train rows in duplicate groups with conflicting labels.", ge=0, le=1
        )
        max_rows_shown: int = param(20, "Example rows listed per detector.", ge=1)

    def run(self, ctx: Context, params: Params) -> CheckResult:
        metrics: dict[str, Any] = {}
        hashes = _row_hashes(ctx)
        findings = [
            _overlap(ctx, params, hashes, metrics),
            _groups(ctx, params, metrics),
            _time(ctx, params, metrics),
            _target_proxy(ctx, params, metrics),
            _conflicts(ctx, params, hashes, metrics),
        ]
        thresholds = {
            "max_overlap_share": params.max_overlap_share,
            "max_group_overlap_share": params.max_group_overlap_share,
            "max_time_overlap_share": params.max_time_overlap_share,
            "min_proxy_score": params.min_proxy_score,
            "max_conflict_share": params.max_conflict_share,
        }
        summary = table(
            "Leakage detectors", ["detector", "fired", "observed", "bar", "finding"],
            [(f.detector, f.fired, f.observed, f.bar, f.summary) for f in findings],
        )
        evidence = [summary] + [e for f in findings for e in f.evidence]
        fired = [f for f in findings if f.fired]
        if fired:
            subjects = [s for f in fired for s in [f.detector, *f.subjects]]
            message = "; ".join(f"{f.detector}: {f.summary}" for f in fired)
            return self.result("fail", message, metrics=metrics, thresholds=thresholds,
                               evidence=evidence, subjects=subjects)
        ran = [f.detector for f in findings if not f.summary.startswith("not run")]
        return self.result("pass", f"no leakage found ({', '.join(ran)})", metrics=metrics,
                           thresholds=thresholds, evidence=evidence)


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
        exprs = [
            (pl.col(c).cast(train_schema[c], strict=False) if c in frame.columns
             else pl.lit(None, dtype=train_schema[c])).alias(c)
            for c in features
        ]
        out[split] = frame.select(exprs).hash_rows(seed=HASH_SEED).to_numpy()
    return out


def _overlap(ctx: Context, params: Any, hashes: dict[str, np.ndarray],
             metrics: dict[str, Any]) -> Finding:
    train = pl.Series("h", hashes["train"])
    dup_share = float(train.is_duplicated().mean()) if len(train) else 0.0
    metrics["train_duplicate_share"] = dup_share
    others = [s for s in ctx.splits if s != "train"]
    if not others or not ctx.feature_columns:
        return Finding("overlap", False, None, params.max_overlap_share,
                       "not run: no other split or no feature columns")
    train_idx = pl.DataFrame({"h": train, "train_row": np.arange(len(train))}).unique(
        "h", keep="first", maintain_order=True)
    rows, worst, fired_splits = [], 0.0, []
    for split in others:
        h = pl.DataFrame({"h": hashes[split], "row": np.arange(len(hashes[split]))})
        hits = h.join(train_idx, on="h", how="inner").sort("row")
        n = h.height
        share = hits.height / n
        excess = share - dup_share
        se = math.sqrt(max(dup_share * (1 - dup_share), 1.0 / n) / n)
        fired = excess > params.max_overlap_share and excess > 3 * se
        metrics[f"overlap_share_{split}"] = share
        metrics[f"overlap_rows_{split}"] = hits.height
        worst = max(worst, excess)
        if fired:
            fired_splits.append(split)
        for r, t in hits.select("row", "train_row").head(params.max_rows_shown).iter_rows():
            rows.append((split, r, t))
    metrics["overlap_excess_share"] = worst
    summary = (f"{', '.join(fired_splits)} share(s) rows with train beyond chance "
               f"(worst excess {worst:.2%}; train's own duplicate share {dup_share:.2%})"
               if fired_splits else
               f"largest excess over chance {worst:.2%} (train's own duplicate share {dup_share:.2%})")
    ev = [table("Rows found in train (exact feature match)", ["split", "row", "train row"], rows,
                note="0-based row positions; the train row is the first identical one",
                max_rows=params.max_rows_shown * max(len(others), 1))] if rows else []
    return Finding("overlap", bool(fired_splits), worst, params.max_overlap_share, summary, ev,
                   fired_splits)


# --------------------------------------------------------------------------- groups
def _groups(ctx: Context, params: Any, metrics: dict[str, Any]) -> Finding:
    group = ctx.config.task.group
    bar = params.max_group_overlap_share
    if not group:
        return Finding("group", False, None, bar, "not run: no [task] group column")
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
        share = float(mask.mean())
        shared = values.filter(mask).unique()
        metrics[f"group_overlap_share_{split}"] = share
        metrics[f"shared_groups_{split}"] = shared.len()
        worst = max(worst, share)
        if share > bar:
            fired_splits.append(split)
        counts = values.filter(mask).value_counts(sort=True).head(params.max_rows_shown)
        for value, count in counts.iter_rows():
            rows.append((split, value, count))
    summary = (f"entities of {', '.join(fired_splits)} also in train (up to {worst:.2%} of rows)"
               if fired_splits else f"largest share of rows with a train entity {worst:.2%}")
    ev = [table(f"Entities ({group}) on both sides of the split", ["split", group, "rows"], rows)]\
        if rows else []
    return Finding("group", bool(fired_splits), worst, bar, summary, ev, fired_splits)


# --------------------------------------------------------------------------- time
def _as_time(series: pl.Series, what: str) -> pl.Series:
    if series.dtype.is_temporal() or series.dtype.is_numeric():
        return series
    try:
        return series.cast(pl.String).str.to_datetime(strict=True)
    except Exception:
        raise DataError(f"task.time: column {what} is neither a date, a time nor a number") from None


def _time(ctx: Context, params: Any, metrics: dict[str, Any]) -> Finding:
    col = ctx.config.task.time
    bar = params.max_time_overlap_share
    if not col:
        return Finding("time", False, None, bar, "not run: no [task] time column")
    if col not in ctx.frame("train").columns:
        raise DataError(f"task.time: column {col!r} not found in train")
    train_t = _as_time(ctx.frame("train")[col], f"{col!r} in train")
    last = train_t.max()
    if last is None:
        return Finding("time", False, None, bar, "not run: the train time column is empty")
    rows, worst, fired_splits = [], 0.0, []
    for split in ("validation", "test"):
        if not ctx.has_split(split):
            continue
        if col not in ctx.frame(split).columns:
            raise DataError(f"task.time: column {col!r} not found in {split}")
        t = _as_time(ctx.frame(split)[col], f"{col!r} in {split}").cast(train_t.dtype, strict=False)
        early = (t < last).fill_null(False)
        share = float(early.mean())
        metrics[f"early_share_{split}"] = share
        metrics[f"early_rows_{split}"] = int(early.sum())
        worst = max(worst, share)
        if early.any():
            first = t.filter(early).min()
            lag = last - first
            lag_s = lag.total_seconds() if hasattr(lag, "total_seconds") else float(lag)
            metrics[f"max_lag_{split}"] = lag_s
            rows.append((split, int(early.sum()), share, str(first), str(last), str(lag)))
        if share > bar:
            fired_splits.append(split)
    summary = (f"{', '.join(fired_splits)} rows earlier than the last train row "
               f"(up to {worst:.2%} of rows)" if fired_splits else
               f"largest share of rows earlier than train's last {worst:.2%}")
    ev = [table("Rows earlier than the latest train row",
                ["split", "rows", "share", "earliest", "last train", "lag"], rows,
                note="lag: latest train time minus the earliest such row (seconds if numeric)")]\
        if rows else []
    return Finding("time", bool(fired_splits), worst, bar, summary, ev, fired_splits)


# --------------------------------------------------------------------------- target proxy
def _target_proxy(ctx: Context, params: Any, metrics: dict[str, Any]) -> Finding:
    bar = params.min_proxy_score
    features = ctx.feature_columns
    if not features:
        return Finding("target-proxy", False, None, bar, "not run: no feature columns")
    X = ctx.feature_matrix("train")
    y = ctx.labels("train")
    n = len(y)
    rng = np.random.default_rng(ctx.seed)
    sample = np.sort(rng.choice(n, params.max_proxy_rows, replace=False)) \
        if n > params.max_proxy_rows else np.arange(n)
    X, y = X[sample], y[sample]
    metrics["proxy_sample_rows"] = len(sample)
    half = rng.permutation(len(sample)) % 2 == 0
    scores = []
    for j, col in enumerate(features):
        x = X[:, j]
        codes, id_like = _bins(x, ctx.kind(col) == "categorical")
        if ctx.is_classification:
            auc = _rank_auc(x, y, len(ctx.classes))
            lookup_auc, nmi = _lookup_heldout(codes, y, half, len(ctx.classes))
            nmi = None if id_like else nmi
            score = max(auc, lookup_auc, nmi or 0.0)
            scores.append((col, score, auc, lookup_auc, nmi))
        else:
            r2 = _heldout_r2(codes, y, half)
            lin = _linear_r2(x, y)
            scores.append((col, max(r2, lin), lin, r2))
    scores.sort(key=lambda s: (-s[1], s[0]))
    metrics["proxy_max_score"] = scores[0][1]
    proxies = [s for s in scores if s[1] >= bar]
    if ctx.is_classification:
        columns = ["feature", "score", "rank AUC", "lookup AUC", "lookup NMI"]
        rows = [r[:5] for r in scores[: params.max_rows_shown]]
    else:
        columns = ["feature", "score (R²)", "linear R²", "lookup R²"]
        rows = [r[:4] for r in scores[: params.max_rows_shown]]
    note = (f"on {len(sample):,} of {n:,} train rows (seeded sample)" if len(sample) < n
            else f"on all {n:,} train rows") + "; NMI is left out for columns unique per row"
    ev = [table("Strongest single features", columns, rows, note=note)]
    summary = (f"{len(proxies)} feature(s) predict the target alone: "
               + ", ".join(f"{c!r} ({s:.3f})" for c, s, *_ in proxies[:5])
               if proxies else f"strongest single feature {scores[0][0]!r} scores {scores[0][1]:.3f}")
    return Finding("target-proxy", bool(proxies), scores[0][1], bar, summary, ev,
                   [c for c, *_ in proxies])


def _bins(x: np.ndarray, categorical: bool) -> tuple[np.ndarray, bool]:
    """Codes for the lookup model (NaN gets its own code) and whether the column is ID-like.

    ID-like: one code per distinct value and every row distinct. Mutual information of such a
    column with anything is its full entropy on any sample, so that rule ignores it.
    """
    finite = ~np.isnan(x)
    values = x[finite]
    n_unique = len(np.unique(values)) + (0 if finite.all() else 1)
    per_value = categorical or n_unique <= N_BINS
    id_like = per_value and n_unique == len(x) and len(x) > 1
    codes = np.full(len(x), -1, dtype=np.int64)
    if per_value:
        _, inverse = np.unique(values, return_inverse=True)
        codes[finite] = inverse
    elif len(values):
        edges = np.unique(np.quantile(values, np.linspace(0, 1, N_BINS + 1)[1:-1]))
        codes[finite] = np.searchsorted(edges, values, side="right")
    codes[~finite] = codes.max() + 1
    return codes, id_like


def _rank_auc(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Macro one-vs-rest AUC of the raw value, direction-free (NaN ranks lowest)."""
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
    return float(np.mean(aucs)) if aucs else 0.5


def _lookup_heldout(codes: np.ndarray, y: np.ndarray, half: np.ndarray, k: int
                    ) -> tuple[float, float]:
    """Cross-fitted one-feature lookup model: held-out macro AUC and NMI (share of H(Y)).

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
    for c in ([1] if k == 2 else range(k)):
        pos, neg = count[:, c], count.sum(axis=1) - count[:, c]
        if pos.sum() == 0 or neg.sum() == 0:
            continue
        aucs.append(_grouped_auc(score[:, c], pos, neg))
    auc = float(np.mean(aucs)) if aucs else 0.5
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
def _conflicts(ctx: Context, params: Any, hashes: dict[str, np.ndarray],
               metrics: dict[str, Any]) -> Finding:
    bar = params.max_conflict_share
    if not ctx.is_classification:
        return Finding("conflicts", False, None, bar, "not run: applies to classification")
    if not ctx.feature_columns:
        return Finding("conflicts", False, None, bar, "not run: no feature columns")
    frame = pl.DataFrame({"h": hashes["train"], "y": ctx.labels("train"),
                          "row": np.arange(len(hashes["train"]))})
    groups = frame.group_by("h").agg(pl.len().alias("size"), pl.col("y").n_unique().alias("labels"),
                                     pl.col("row").min().alias("first"))
    bad = groups.filter((pl.col("labels") > 1) & (pl.col("size") <= MAX_RECORD_GROUP))
    share = float(bad["size"].sum() / frame.height) if bad.height else 0.0
    metrics["conflict_share"] = share
    metrics["conflict_groups"] = bad.height
    fired = share > bar
    rows = []
    if bad.height:
        names = ctx.class_names
        examples = frame.join(bad.select("h", "first").sort("first").head(params.max_rows_shown),
                              on="h").sort("first", "row")
        for _first, sub in examples.group_by("first", maintain_order=True):
            rows.append((sub["row"].to_list(), sorted({names[v] for v in sub["y"].to_list()})))
        rows = [(", ".join(map(str, r)), ", ".join(labels)) for r, labels in rows]
    summary = (f"{share:.2%} of train rows are identical feature rows with different labels "
               f"({bad.height} groups)")
    ev = [table("Identical train rows with conflicting labels", ["rows", "labels"], rows)]\
        if rows else []
    return Finding("conflicts", fired, share, bar, summary, ev)
