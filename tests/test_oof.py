from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.datasets import load_wine

from qa.config import parse_config
from qa.context import Context
from qa.oof import stratified_folds


def make_ctx(frame: pl.DataFrame, **splits: pl.DataFrame) -> Context:
    cfg = parse_config({"task": {"target": "label"}})
    return Context(cfg, {"train": frame, **splits}, {})


def wine_frame() -> pl.DataFrame:
    data = load_wine()
    return pl.DataFrame({**{f"f{i}": data.data[:, i] for i in range(13)}, "label": data.target})


def test_stratified_folds_balance_every_class_and_never_fail_on_rare_ones():
    y = np.array([0] * 50 + [1] * 20 + [2] * 2)
    folds = stratified_folds(y, 5, seed=0)
    for c in (0, 1):
        assert np.bincount(folds[y == c], minlength=5).tolist() == [np.sum(y == c) // 5] * 5
    assert len(set(folds[y == 2])) == 2
    assert (stratified_folds(y, 5, seed=0) == folds).all()


def test_oof_probabilities_are_cached_row_aligned_and_out_of_fold():
    frame = wine_frame()
    ctx = make_ctx(frame)
    proba = ctx.oof_proba()
    assert proba.shape == (frame.height, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ctx.oof_proba() is proba
    accuracy = (proba.argmax(axis=1) == ctx.labels("train")).mean()
    assert accuracy > 0.85  # learnable, and each row predicted by a model that never saw it


def test_oof_is_deterministic_for_a_seed():
    a = make_ctx(wine_frame()).oof_proba()
    b = make_ctx(wine_frame()).oof_proba()
    assert np.array_equal(a, b)


def test_a_class_missing_from_train_gets_zero_probability():
    frame = wine_frame()
    test = frame.head(5).with_columns(pl.lit(7).alias("label"))
    ctx = make_ctx(frame, test=test)
    proba = ctx.oof_proba()
    assert proba.shape[1] == 4 and (proba[:, ctx.classes.index(7)] == 0).all()
    held = ctx.holdout_proba("test")
    assert held.shape == (5, 4) and np.allclose(held.sum(axis=1), 1.0)


def test_fewer_folds_once_the_fit_cap_binds(monkeypatch):
    from qa import oof

    assert oof.effective_folds(800_000, 5) == 2  # 400k outside a fold >= the 250k cap
    assert oof.effective_folds(400_000, 5) == 3  # 2 folds leave 200k; 3 leave 266k
    assert oof.effective_folds(300_000, 5) == 5  # the cap never binds: what was asked
    assert oof.effective_folds(3, 5) == 3 and oof.effective_folds(1, 5) == 2
    # every model is still fit on the capped number of rows, each row predicted out of fold
    monkeypatch.setattr(oof, "MAX_FIT_ROWS", 100)
    frame = wine_frame()
    fit = oof.fit_out_of_fold(
        frame.drop("label").to_numpy().astype(np.float32), frame["label"].to_numpy(), 3
    )
    assert fit.n_folds == 3 and fit.fit_rows == 100  # 178 rows: 2 folds leave only 89
    assert set(np.unique(fit.folds)) == {0, 1, 2}
    assert (fit.proba.argmax(axis=1) == frame["label"].to_numpy()).mean() > 0.85
