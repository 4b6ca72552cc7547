from __future__ import annotations

import json

import numpy as np
import pytest

from qa.errors import ConfigError
from qa.models import load_artifact
from qa.trainers.base import TRAINERS, get_trainer
from tests.trainers.helpers import classification_context, context, make_regression_frame, split3


@pytest.mark.parametrize(
    "name,artifact",
    [("majority", "model.skops"), ("linear", "model.skops"), ("xgboost", "model.json")],
)
def test_saved_artifact_predicts_what_the_fitted_model_predicts(tmp_path, name, artifact):
    ctx = classification_context(n=600, n_classes=3)
    model = get_trainer(name).fit(ctx.training_data())
    path = model.save(tmp_path)
    assert path.name == artifact
    meta = json.loads((tmp_path / "model.qa.json").read_text())
    assert meta["classes"] == ["0", "1", "2"] and meta["feature_columns"] == ctx.feature_columns
    loaded = load_artifact(path)
    for split in ctx.splits:
        np.testing.assert_allclose(
            loaded.predict(ctx.split_input(split), ctx.task_spec).proba,
            ctx.fitted_predictions(model, split).proba,
            atol=1e-12,
        )


def test_xgboost_history_is_the_per_round_eval_log():
    ctx = classification_context(n=600)
    model = get_trainer("xgboost").fit(ctx.training_data())
    assert list(model.history[0]) == ["epoch", "train_loss", "val_loss"]
    losses = [row["train_loss"] for row in model.history]
    assert losses[-1] < losses[0]
    best = int(np.argmin([row["val_loss"] for row in model.history]))
    assert model.booster.num_boosted_rounds() == best + 1


def test_xgboost_without_validation_boosts_a_fixed_number_of_rounds():
    frames = split3(make_regression_frame(n=500))
    del frames["validation"]
    model = get_trainer("xgboost").fit(context(frames).training_data())
    assert model.booster.num_boosted_rounds() == 100
    assert "val_loss" not in model.history[0]


def test_trainer_predictions_carry_the_trainer_source():
    ctx = context(split3(make_regression_frame(n=400)))
    preds = ctx.fitted_predictions(get_trainer("mean").fit(ctx.training_data()), "test")
    assert preds.source == "trainer:mean"
    assert preds.values.shape == (ctx.frame("test").height,)


def test_unknown_trainer_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown trainer 'forest'"):
        get_trainer("forest")
    assert list(TRAINERS) == ["majority", "linear", "xgboost", "mlp"]
