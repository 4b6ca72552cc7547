from __future__ import annotations

import builtins

import numpy as np
import pytest

from qa.errors import QAError
from qa.models import load_artifact
from qa.trainers.base import get_trainer
from qa.trainers.mlp import LEARNING_RATE, PATIENCE
from tests.trainers.helpers import (
    accuracy,
    classification_context,
    context,
    mae,
    make_regression_frame,
    split3,
)

pytest.importorskip("torch")


def test_mlp_learns_keeps_history_and_restores_best_weights(tmp_path):
    ctx = classification_context(n=800, n_classes=3)
    model = get_trainer("mlp").fit(ctx.training_data())
    history = model.history
    assert list(history[0]) == [
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "grad_norm",
        "lr",
    ]
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert len(history) == best + 1 + PATIENCE or len(history) == 100  # stopped by patience
    preds = ctx.fitted_predictions(model, "validation")
    proba = np.clip(preds.proba[np.arange(len(preds.labels)), ctx.labels("validation")], 1e-12, 1)
    assert float(-np.log(proba).mean()) == pytest.approx(history[best]["val_loss"], rel=1e-3)
    assert accuracy(ctx, ctx.fitted_predictions(model, "test")) > 0.6


def test_mlp_history_has_finite_positive_grad_norm_and_lr_per_epoch():
    ctx = classification_context(n=300, seed=4)
    history = get_trainer("mlp", max_epochs=4).fit(ctx.training_data()).history
    assert len(history) == 4
    grad = np.array([row["grad_norm"] for row in history])
    assert np.isfinite(grad).all() and (grad > 0).all()
    assert [row["lr"] for row in history] == [LEARNING_RATE] * 4


def test_mlp_grad_norm_is_the_mean_global_l2_norm_over_the_epochs_batches(monkeypatch):
    """One epoch, recomputed by hand: the norm of every parameter's gradient, per batch."""
    torch = pytest.importorskip("torch")
    seen: list[float] = []
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        grads = [
            p.grad.flatten() for g in self.param_groups for p in g["params"] if p.grad is not None
        ]
        seen.append(float(torch.cat(grads).double().norm()))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    ctx = classification_context(n=400, seed=5)
    history = get_trainer("mlp", max_epochs=1, batch_size=64).fit(ctx.training_data()).history
    assert len(seen) >= 3  # several batches, so mean and max differ
    assert history[0]["grad_norm"] == pytest.approx(np.mean(seen), rel=1e-5)
    assert history[0]["grad_norm"] < max(seen)


def test_mlp_torchscript_artifact_reproduces_predictions_from_raw_features(tmp_path):
    ctx = classification_context(n=600)
    model = get_trainer("mlp", max_epochs=5).fit(ctx.training_data())
    path = model.save(tmp_path)
    assert path.name == "model.pt" and (tmp_path / "model.qa.json").is_file()
    loaded = load_artifact(path)
    assert loaded.format == "torchscript"
    np.testing.assert_allclose(
        loaded.predict(ctx.split_input("test"), ctx.task_spec).proba,
        ctx.fitted_predictions(model, "test").proba,
        atol=1e-6,
    )
    raw = loaded.model(__import__("torch").from_numpy(ctx.feature_matrix("test")))
    assert raw.shape == (ctx.frame("test").height, 2)  # the module takes the raw NaN-able matrix


def test_mlp_regression_beats_the_mean_and_holds_out_train_without_validation():
    frames = split3(make_regression_frame(n=900))
    del frames["validation"]
    ctx = context(frames)
    model = get_trainer("mlp").fit(ctx.training_data())
    assert "held-out 10% of train" in model.note
    assert "train_mae" in model.history[0]
    baseline = float(np.mean(np.abs(ctx.labels("test") - ctx.labels("train").mean())))
    assert mae(ctx, ctx.fitted_predictions(model, "test")) < 0.6 * baseline


def test_mlp_handles_nan_and_unseen_categories():
    frames = split3(make_regression_frame(n=600))
    frames["test"] = frames["test"].with_columns(
        cat=__import__("polars").lit("unseen"), num_0=__import__("polars").lit(None)
    )
    ctx = context(frames)
    preds = ctx.fitted_predictions(
        get_trainer("mlp", max_epochs=3).fit(ctx.training_data()), "test"
    )
    assert np.isfinite(preds.values).all()


def test_mlp_without_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    ctx = classification_context(n=300)
    with pytest.raises(QAError, match=r"pip install 'qa-gate\[torch\]'"):
        get_trainer("mlp").fit(ctx.training_data())
