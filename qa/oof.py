"""Out-of-fold class probabilities for train, computed once and shared through the Context.

Every train row gets the probabilities of a model that never saw it: rows are dealt into K
stratified folds (K = 5 unless the caller, the ``label-noise`` check, asks for another; fewer
when train is so large that each model's ``MAX_FIT_ROWS`` cap binds, :func:`effective_folds`), one
XGBoost ``hist`` model is fit per fold on the other K-1 folds, and it predicts its own fold.
Folds run one after another, each model using the run's threads (never a pool inside a pool).

A user may supply the probabilities instead (``[model] oof`` = a file with one ``proba_<label>``
column per class, row-aligned with train or joined on the id column); then nothing is fitted.

The fold models are kept, so a held-out split (validation, test) can be scored by the average
of the K fold models — a model fit on train — without another fit (:func:`holdout_proba`).

Nothing here knows the Context: it works on the encoded train matrix and class indices. The
Context caches the results (``Context.oof_fit``, ``Context.oof_proba``, ``Context.holdout_proba``).

Public contract:

- :func:`fit_out_of_fold` ``(X, labels, n_classes, n_folds, seed, threads) -> OOFFit``;
  ``OOFFit.proba`` is (n_train, n_classes), columns in class order, rows summing to 1; a class
  absent from train gets probability 0.
- :func:`file_fit` wraps the user's probabilities (:func:`read_oof_file`) the same way.
- :func:`holdout_proba` ``(fit, X, ...) -> ndarray (n_split, n_classes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from qa.errors import DataError, ModelError

DEFAULT_FOLDS = 5
#: Boosting settings: fast on a 2-core CI box (800k x 50 in well under a minute) and strong
#: enough that the out-of-fold probabilities rank rows sensibly.
N_ROUNDS = 100
MAX_DEPTH = 6
LEARNING_RATE = 0.2
MAX_BIN = 128
#: For many classes XGBoost grows one tree per class per round; cap the total trees per fold.
MAX_TREES_PER_FOLD = 600
MIN_ROUNDS = 30
#: Rounds stop when the log-loss on an inner slice of the fitting folds (never the held-out fold)
#: has not improved for this many rounds: calibrated probabilities, not overconfident ones.
EARLY_STOPPING = 10
INNER_SHARE = 10  # one tenth of the fitting rows
MIN_INNER_ROWS = 200
#: Each fold's model is fit on at most this many rows, drawn (seeded) from the other folds.
#: Beyond it 100 trees gain little: on 800k x 50 with 10 % of labels flipped, raising it to 400k
#: moves the out-of-fold AUC by +0.001 and the flag rate by -0.07 points for 30 % more time
#: (benchmarks/bench_label_noise_speed.py); it is where the flag rate has settled.
#: Every train row is still predicted out of fold; the count used is reported (``fit_rows``).
MAX_FIT_ROWS = 250_000


@dataclass
class OOFFit:
    """Out-of-fold probabilities and what produced them."""

    proba: np.ndarray
    #: Fold number of every train row (-1 when the probabilities came from a file).
    folds: np.ndarray
    n_folds: int
    #: ``"xgboost"`` (fitted here) or the path of the user's file.
    source: str
    #: Indices into the class order of the classes the models predict (those present in train).
    model_classes: np.ndarray
    boosters: list[Any] = field(default_factory=list)
    n_rounds: int = 0
    #: Rows each fold's model was fit on (after the MAX_FIT_ROWS cap); 0 when not fitted.
    fit_rows: int = 0


def file_fit(proba: np.ndarray, labels: np.ndarray, source: str) -> OOFFit:
    """An OOFFit for probabilities the user supplied (nothing fitted)."""
    present = np.flatnonzero(np.bincount(labels, minlength=proba.shape[1]))
    return OOFFit(
        proba=proba,
        folds=np.full(len(proba), -1),
        n_folds=0,
        source=source,
        model_classes=present,
    )


# --------------------------------------------------------------------------- user file
def read_oof_file(
    path: str, train: pl.DataFrame, classes: Sequence[Any], id_col: str | None
) -> np.ndarray:
    """Read ``proba_<label>`` columns for every class, aligned with train's rows."""
    from qa.data import read_table

    what = "model.oof"
    frame = read_table(path, what)
    if id_col and id_col in frame.columns and id_col in train.columns:
        if frame[id_col].is_duplicated().any():
            raise ModelError(f"{what}: {path} repeats values of the id column {id_col!r}")
        keyed = train.select(pl.col(id_col)).with_row_index("__qa_row")
        frame = keyed.join(frame, on=id_col, how="left", coalesce=True).sort("__qa_row")
    elif frame.height != train.height:
        raise ModelError(
            f"{what}: {path} has {frame.height} rows but train has {train.height}; "
            "make them row-aligned or add the id column to both"
        )
    names = [f"proba_{c}" for c in classes]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ModelError(f"{what}: {path} lacks probability column {missing[0]!r}")
    try:
        proba = frame.select([pl.col(n).cast(pl.Float64) for n in names]).to_numpy()
    except Exception:
        raise ModelError(f"{what}: {path} has non-numeric probability columns") from None
    if not np.isfinite(proba).all():
        bad = int((~np.isfinite(proba)).any(axis=1).sum())
        raise ModelError(f"{what}: {path} has {bad} rows with missing or infinite probabilities")
    if (proba < -1e-9).any() or (proba > 1 + 1e-9).any():
        raise ModelError(f"{what}: {path} has probabilities outside [0, 1]")
    sums = proba.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0))) if len(sums) else 0.0
    if worst > 1e-3:
        raise ModelError(
            f"{what}: {path} probability columns do not sum to 1 (off by up to {worst:.3g})"
        )
    return np.clip(proba, 0.0, 1.0) / sums[:, None]


# --------------------------------------------------------------------------- fitting
def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per row: each class shuffled, then dealt round-robin across the folds.

    Never fails on rare classes: a class with fewer rows than folds simply sits in fewer folds
    (its rows are then predicted by models that saw few or none of its examples; callers that
    judge per class should leave such classes out).
    """
    rng = np.random.default_rng(seed)
    order = (
        np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
        if len(labels)
        else np.zeros(0, dtype=np.int64)
    )
    folds = np.empty(len(labels), dtype=np.int64)
    folds[order] = np.arange(len(labels)) % n_folds
    return folds


def boosting_params(n_model_classes: int, seed: int, n_threads: int) -> tuple[dict[str, Any], int]:
    """XGBoost parameters and number of rounds for ``n_model_classes`` classes."""
    params: dict[str, Any] = {
        "tree_method": "hist",
        "max_depth": MAX_DEPTH,
        "learning_rate": LEARNING_RATE,
        "max_bin": MAX_BIN,
        "nthread": n_threads,
        "seed": seed,
        "verbosity": 0,
    }
    if n_model_classes == 2:
        params.update(objective="binary:logistic", eval_metric="logloss")
        rounds = N_ROUNDS
    else:
        params.update(objective="multi:softprob", num_class=n_model_classes, eval_metric="mlogloss")
        rounds = int(np.clip(MAX_TREES_PER_FOLD // n_model_classes, MIN_ROUNDS, N_ROUNDS))
    return params, rounds


def fit_out_of_fold(
    X: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    n_folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    threads: int = 1,
) -> OOFFit:
    """Fit one XGBoost model per fold and collect its predictions on the held-out fold.

    ``X`` is the encoded train matrix, ``labels`` class indices in ``range(n_classes)``.
    """
    n = len(labels)
    if n < 2:
        raise DataError(f"data.train: {n} row(s); out-of-fold probabilities need at least 2")
    n_folds = effective_folds(n, n_folds)
    present = np.flatnonzero(np.bincount(labels, minlength=n_classes))
    compact = np.searchsorted(present, labels)  # labels as 0..m-1 over the classes in train
    m = len(present)
    if X.shape[1] == 0:  # no usable feature: the honest prediction is the class prior
        proba = np.zeros((n, n_classes))
        proba[:, present] = np.bincount(compact, minlength=m) / n
        return OOFFit(
            proba=proba, folds=np.full(n, -1), n_folds=0, source="prior", model_classes=present
        )
    folds = stratified_folds(compact, n_folds, seed)
    params, rounds = boosting_params(m, seed, threads)
    reference = None  # the first fold's bins are reused by the others (one sketch, not K)
    out = np.zeros((n, m), dtype=np.float64)
    boosters: list[Any] = []
    fit_rows = 0
    for k in range(n_folds):
        held = folds == k
        fit_idx = _fit_rows(np.flatnonzero(~held), seed + 1000 + k)
        fit_rows = max(fit_rows, len(fit_idx))
        y_fit = compact[fit_idx]
        if len(np.unique(y_fit)) < 2:  # a degenerate fold: predict its prior
            out[held] = np.bincount(y_fit, minlength=m) / max(len(y_fit), 1)
            boosters.append(None)
            continue
        dfit, deval = _fold_matrices(X, fit_idx, y_fit, seed, threads, reference)
        reference = reference if reference is not None else dfit
        booster = _fit_fold(params, rounds, dfit, deval, y_fit, m)
        out[held] = _predict(booster, X[held], m)
        boosters.append(booster)
    proba = np.zeros((n, n_classes), dtype=np.float64)
    proba[:, present] = out
    return OOFFit(
        proba=proba,
        folds=folds,
        n_folds=n_folds,
        source="xgboost",
        model_classes=present,
        boosters=boosters,
        n_rounds=rounds,
        fit_rows=fit_rows,
    )


def effective_folds(n: int, requested: int) -> int:
    """The fewest folds (at least 2, at most ``requested``) whose fitting rows still reach
    ``MAX_FIT_ROWS``: once the cap binds, more folds fit more models on the same number of
    rows — slower, no better. 800k rows: 2 folds of 400k, each model fit on 250k."""
    requested = max(2, min(requested, n))
    for k in range(2, requested):
        if n - -(-n // k) >= MAX_FIT_ROWS:  # rows outside the largest fold
            return k
    return requested


def _fit_rows(candidates: np.ndarray, seed: int) -> np.ndarray:
    """The rows a fold's model fits on: all candidates, or a seeded ``MAX_FIT_ROWS`` of them."""
    if len(candidates) <= MAX_FIT_ROWS:
        return candidates
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, MAX_FIT_ROWS, replace=False))


def _fit_fold(
    params: dict[str, Any], rounds: int, dfit: Any, deval: Any, y_fit: np.ndarray, m: int
) -> Any:
    """One fold's booster, early-stopped on the inner slice when there is one."""
    import xgboost as xgb

    fold_params = dict(params)
    if m == 2:  # keep the intercept finite and identical in spirit across folds
        fold_params["base_score"] = float(np.clip(y_fit.mean(), 1e-3, 1 - 1e-3))
    if deval is None:
        return xgb.train(fold_params, dfit, num_boost_round=rounds)
    return xgb.train(
        fold_params,
        dfit,
        num_boost_round=rounds,
        evals=[(deval, "inner")],
        early_stopping_rounds=EARLY_STOPPING,
        verbose_eval=False,
    )


def _fold_matrices(
    X: np.ndarray, fit_idx: np.ndarray, y_fit: np.ndarray, seed: int, threads: int, reference: Any
) -> tuple[Any, Any]:
    """Training matrix (bins shared with ``reference``) and an inner early-stopping slice."""
    import xgboost as xgb

    inner = np.zeros(len(fit_idx), dtype=bool)
    if len(fit_idx) // INNER_SHARE >= MIN_INNER_ROWS:
        inner = stratified_folds(y_fit, INNER_SHARE, seed + 1) == 0
        if len(np.unique(y_fit[~inner])) < 2:
            inner[:] = False
    rows = fit_idx[~inner]
    dfit = xgb.QuantileDMatrix(
        X[rows], label=y_fit[~inner], ref=reference, max_bin=MAX_BIN, nthread=threads
    )
    if not inner.any():
        return dfit, None
    deval = xgb.QuantileDMatrix(
        X[fit_idx[inner]], label=y_fit[inner], ref=dfit, max_bin=MAX_BIN, nthread=threads
    )
    return dfit, deval


def _predict(booster: Any, X: np.ndarray, m: int) -> np.ndarray:
    if len(X) == 0:
        return np.zeros((0, m))
    best = booster.attr("best_iteration")
    if best is not None:
        raw = booster.inplace_predict(X, iteration_range=(0, int(best) + 1))
    else:
        raw = booster.inplace_predict(X)
    raw = np.asarray(raw, dtype=np.float64)
    if m == 2:
        raw = np.column_stack([1.0 - raw, raw])
    return raw / raw.sum(axis=1, keepdims=True)


def holdout_proba(
    fit: OOFFit,
    X: np.ndarray,
    prior: np.ndarray,
    full_model: Callable[[], Any],
    seed: int = 0,
) -> np.ndarray:
    """Class probabilities for a held-out split from models fit on train, (n_split, n_classes).

    With fitted folds, each held-out row is scored by ONE fold model (dealt round-robin in a
    seeded order), exactly as each train row is scored by the one model that did not see it:
    train and held-out probabilities then come from the same kind of model, so their flag
    rates are comparable (an average of the K models is smoother and flags fewer rows, which
    made a hard target look like noise in train). Without folds (a user OOF file): the model
    ``full_model()`` returns, fit on all of train (the caller caches it); with no features at
    all, the train class ``prior``.
    """
    m = len(fit.model_classes)
    boosters = [b for b in fit.boosters if b is not None]
    if not boosters and X.shape[1]:
        boosters = [full_model()]
    proba = np.zeros((len(X), len(prior)), dtype=np.float64)
    if not boosters:
        proba[:] = prior
        return proba
    order = np.random.default_rng(seed).permutation(len(X))
    dealt = np.empty(len(X), dtype=np.int64)
    dealt[order] = np.arange(len(X)) % len(boosters)
    for k, booster in enumerate(boosters):
        rows = np.flatnonzero(dealt == k)
        if len(rows):
            proba[np.ix_(rows, fit.model_classes)] = _predict(booster, X[rows], m)
    return proba


def fit_full_model(
    X: np.ndarray, labels: np.ndarray, model_classes: np.ndarray, seed: int, threads: int
) -> Any:
    """One XGBoost model on all of train, with the fold models' settings."""
    import xgboost as xgb

    compact = np.searchsorted(model_classes, labels)
    params, rounds = boosting_params(len(model_classes), seed, threads)
    dtrain = xgb.QuantileDMatrix(X, label=compact, max_bin=MAX_BIN, nthread=threads)
    return xgb.train(params, dtrain, num_boost_round=rounds)
