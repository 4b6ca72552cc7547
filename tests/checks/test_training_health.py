from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from qa.api import run_gate
from qa.base import doc_sections
from qa.checks.training_health import (
    TrainingHealth,
    decide_grad,
    decide_improvement,
    decide_losses,
    measure_growth,
    measure_improvement,
)
from qa.config import parse_config
from qa.history import read_history
from qa.testing import check_contract
from tests.conftest import make_classification_frame

FRAME = make_classification_frame(n=200, seed=3)
N_EPOCHS = 30
BEST = 22  # the clean run's best epoch; early stopping with patience 8 ends at 30


def _healthy(n_epochs: int = N_EPOCHS, best: int = BEST, seed: int = 0) -> dict[str, np.ndarray]:
    """An early-stopped run: losses fall, validation loss bottoms out at ``best`` and drifts
    up for the epochs after it; grad_norm wobbles (seeded, ±30 %) around a slow decline."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(1, n_epochs + 1)
    train = 1.0 / np.sqrt(epochs)
    val = np.where(
        epochs <= best, 1.2 / np.sqrt(epochs), 1.2 / np.sqrt(best) + 0.002 * (epochs - best)
    )
    grad = 2.0 / epochs**0.3 * np.exp(rng.uniform(-0.3, 0.3, n_epochs))
    return {
        "epoch": epochs,
        "train_loss": train,
        "val_loss": val,
        "grad_norm": grad,
        "lr": np.full(n_epochs, 1e-3),
    }


def _write(tmp_path: Path, history: dict[str, Any], name: str = "history.csv") -> Path:
    path = tmp_path / name
    pl.DataFrame(history).write_csv(path)
    return path


def _inputs(path: Path, **params: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"model": {"history": str(path)}}
    if params:
        config["checks"] = {"training-health": params}
    return {"train": FRAME, "target": "label", "config": config}


def _run(path: Path | None, **params: Any):
    raw: dict[str, Any] = {"task": {"target": "label"}, "run": {"only": ["training-health"]}}
    if path is not None:
        raw["model"] = {"history": str(path)}
    if params:
        raw["checks"] = {"training-health": params}
    report = run_gate(parse_config(raw), frames={"train": FRAME}, extra_checks=[TrainingHealth])
    return report.checks[0]


def _fault_epochs(result, finding: str) -> list[int]:
    rows = result.evidence[0].rows if result.evidence else ()
    return [row[0] for row in rows if row[1] == finding]


# --------------------------------------------------------------------------- contract
def test_training_health_contract_exploding_history_fails_healthy_history_passes(tmp_path):
    clean = _write(tmp_path, _healthy(), "clean.csv")
    bad = _healthy()
    bad["grad_norm"][17:] = bad["grad_norm"][16] * np.array(
        [3, 30, 300, 3e3, 3e4, 3e5, 3e6] + [3e7] * 6
    )
    defective = _write(tmp_path, bad, "exploding.csv")
    check_contract(TrainingHealth, clean=_inputs(clean), defective=_inputs(defective))


def test_training_health_docs_name_every_parameter_and_say_it_is_not_a_test():
    sections = doc_sections(TrainingHealth)
    decides = sections["How it decides"]
    assert "not statistical tests" in decides and TrainingHealth.fail_tests == 0
    text = "\n".join(sections.values())
    for name in (
        "explode_factor",
        "explode_window",
        "max_grad_norm",
        "patience",
        "min_improvement",
    ):
        assert f"``{name}``" in text, name
    assert TrainingHealth.requires == ("history",)


# --------------------------------------------------------------------------- gradients
def test_training_health_fails_on_grad_norm_exploding_twelve_fold_in_two_epochs(tmp_path):
    history = _healthy()
    history["grad_norm"] = np.ones(N_EPOCHS)
    history["grad_norm"][17] = 3.0  # epoch 18
    history["grad_norm"][18] = 12.0  # epoch 19: 12x epoch 17's, within the window of 3
    result = _run(_write(tmp_path, history))
    assert result.status == "fail", result.message
    assert result.metrics["grad_norm_growth"] == pytest.approx(12.0)
    assert result.metrics["grad_norm_growth_epoch"] == 19
    assert "grad_norm exploded" in result.message and "at epoch 19" in result.message
    assert _fault_epochs(result, "gradient explosion") == [19]
    assert result.subjects == ("grad_norm",)
    chart = result.charts[0]
    assert chart.kind == "lines" and chart.data["marker"] == 19
    assert chart.data["series"]["grad_norm"][18] == 12.0
    assert "clip the gradient norm" in result.remedy


@pytest.mark.parametrize(
    "jump,window,status",
    [
        (10.0, 3, "fail"),  # exactly the factor: fails
        (9.9, 3, "pass"),  # just under it
        (1.001 * 10 ** (1 / 4), 3, "pass"),  # 10x spread over 4 epochs: 5.6x within any 3
        (1.001 * 10 ** (1 / 4), 4, "fail"),  # ... which a window of 4 sees whole
    ],
)
def test_training_health_explosion_edges_of_factor_and_window(tmp_path, jump, window, status):
    history = _healthy()
    grad = np.ones(N_EPOCHS)
    if jump >= 9:
        grad[15:] = jump
    else:  # geometric growth from epoch 15 on, flat after four steps
        grad[15:19] = jump ** np.arange(1, 5)
        grad[19:] = grad[18]
    history["grad_norm"] = grad
    result = _run(_write(tmp_path, history), explode_window=window)
    assert result.status == status, result.message
    assert result.thresholds["explode_window"] == window


def test_training_health_max_grad_norm_is_a_declared_bar(tmp_path):
    path = _write(tmp_path, _healthy())
    assert _run(path).status == "pass"
    largest = float(np.max(_healthy()["grad_norm"]))
    assert _run(path, max_grad_norm=largest * 1.01).status == "pass"
    over = _run(path, max_grad_norm=largest * 0.99)
    assert over.status == "fail"
    assert "above max_grad_norm" in over.message
    assert len(_fault_epochs(over, "above max_grad_norm")) == 1
    assert over.thresholds["max_grad_norm"] == pytest.approx(largest * 0.99)


def test_training_health_nonfinite_grad_norm_with_finite_losses_warns(tmp_path):
    history = _healthy()
    history["grad_norm"][0] = np.inf  # a step the mixed-precision loss scaler skipped
    result = _run(_write(tmp_path, history))
    assert result.status == "warn", result.message
    assert "grad_norm is inf at epoch 1 while the losses stayed finite" in result.message
    assert _fault_epochs(result, "non-finite gradient") == [1]


# --------------------------------------------------------------------------- losses
def test_training_health_fails_on_a_nan_loss_naming_the_epochs_and_the_column(tmp_path):
    history = _healthy()
    history["train_loss"][6:] = np.nan  # diverged at epoch 7
    history["val_loss"][6:] = np.nan
    history["grad_norm"][6:] = np.nan
    result = _run(_write(tmp_path, history))
    assert result.status == "fail", result.message
    assert "train_loss is NaN at epochs 7–30" in result.message
    assert "val_loss is NaN at epochs 7–30" in result.message
    assert "first at epoch 7 of 30" in result.message
    assert result.metrics["first_nonfinite_loss_epoch"] == 7
    assert result.metrics["nonfinite_loss_epochs"] == 24
    assert _fault_epochs(result, "non-finite loss")[:2] == [7, 7]
    assert result.evidence[0].rows[0][3] == "NaN"
    assert "early stopping not judged" in result.message
    assert _fault_epochs(result, "still improving") == []  # the finite epochs before it fell
    assert set(result.subjects) == {"train_loss", "val_loss"}
    assert result.remedy.startswith("Training diverged")


def test_training_health_fails_on_one_infinite_loss_in_json_and_names_the_epoch(tmp_path):
    records = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e if e != 4 else float("inf")}
        for e in range(1, 7)
    ]
    path = tmp_path / "history.json"
    path.write_text(json.dumps(records))  # Python writes Infinity
    result = _run(path)
    assert result.status == "fail"
    assert re.search(r"val_loss is inf at epoch 4\b", result.message), result.message


def test_training_health_empty_loss_cells_are_missing_not_nan(tmp_path):
    path = tmp_path / "history.csv"
    lines = ["epoch,train_loss,val_loss"] + [
        f"{e},{1 / e},{'' if e == 5 else 1.2 / np.sqrt(e) if e <= 6 else 1.2 / np.sqrt(6) + 0.01 * e}"
        for e in range(1, 15)
    ]
    path.write_text("\n".join(lines) + "\n")
    result = _run(path)
    assert result.status == "pass", result.message
    assert "val_loss 1 epochs have no value" in result.message
    assert result.metrics["missing_loss_values"] == 1


# --------------------------------------------------------------------------- early stopping
def test_training_health_clean_early_stopped_history_passes(tmp_path):
    result = _run(_write(tmp_path, _healthy()))
    assert result.status == "pass", result.message
    assert "losses are finite at all 30 epochs" in result.message
    assert "training stopped improving: validation loss is lowest at epoch 22" in result.message
    assert "lr 0.001 throughout" in result.message
    assert result.metrics["val_loss_best_epoch"] == BEST
    assert result.metrics["grad_norm_growth"] < 10
    assert not result.evidence and not result.subjects and result.remedy == ""
    assert result.charts[0].data.get("marker") is None


def test_training_health_warns_when_validation_loss_still_falls_at_the_last_epoch(tmp_path):
    history = _healthy()
    history["val_loss"] = 1.2 / np.sqrt(history["epoch"])  # never turned up: stopped by the cap
    result = _run(_write(tmp_path, history))
    assert result.status == "warn", result.message
    assert "still falling" in result.message
    assert "set epochs high and use early stopping" in result.message
    assert result.metrics["val_loss_improvement"] > 0.005
    assert _fault_epochs(result, "still improving") == [28, 29, 30]
    assert result.subjects == ("early-stopping",)
    assert "early stopping" in result.remedy


def test_training_health_a_converged_run_at_the_cap_passes(tmp_path):
    history = _healthy()
    epochs = history["epoch"]
    history["val_loss"] = 0.5 + 0.5 * np.exp(-epochs / 3.0)  # 0.1 % better over the last 3
    result = _run(_write(tmp_path, history))
    assert result.status == "pass", result.message
    assert 0 < result.metrics["val_loss_improvement"] < 0.005
    assert "converged" in result.message


# --------------------------------------------------------------------------- inputs
def test_training_health_history_without_grad_norm_or_lr_passes_with_not_available(tmp_path):
    history = _healthy()
    del history["grad_norm"], history["lr"]
    result = _run(_write(tmp_path, history))
    assert result.status == "pass", result.message
    assert "grad_norm: not available" in result.message
    assert "lr: not available" in result.message
    assert not result.charts
    assert "grad_norm_max" not in result.metrics


def test_training_health_skips_without_a_history():
    result = _run(None)
    assert result.status == "skip"
    assert "[model] history" in result.message


def test_read_history_keeps_nan_and_inf_written_as_text_and_reads_aliases(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(
        "epoch,loss,val_loss,learning_rate,grad_2.0_norm_total,note\n"
        "1,0.9,1.0,0.01,2.0,a\n2,nan,inf,0.01,NaN,b\n3,0.5,,0.001,,c\n"
    )
    frame = read_history(path)
    assert frame.columns == ["epoch", "train_loss", "val_loss", "lr", "grad_norm"]
    assert np.isnan(frame["train_loss"][1]) and frame["val_loss"][1] == np.inf
    assert frame["val_loss"][2] is None  # an empty cell stays missing
    assert frame["grad_norm"].to_list()[0] == 2.0 and np.isnan(frame["grad_norm"][1])


# --------------------------------------------------------------------------- decide / measure
def test_decide_rules_at_their_edges():
    params = TrainingHealth.Params()
    assert decide_losses(1, 0) == "fail" and decide_losses(0, 2) == "warn"
    assert decide_losses(0, 0) == "pass"
    assert decide_grad(10.0, 1.0, params) == "fail"
    assert decide_grad(9.999, 1e9, params) == "pass"  # no bar declared
    assert decide_grad(None, None, params) == "pass"
    bar = TrainingHealth.Params(max_grad_norm=5.0)
    assert decide_grad(1.0, 5.0, bar) == "pass" and decide_grad(1.0, 5.001, bar) == "fail"
    assert decide_improvement(0.005, params) == "pass"
    assert decide_improvement(0.00501, params) == "warn"
    assert decide_improvement(None, params) == "pass"


def test_measure_growth_uses_epoch_numbers_and_skips_non_positive_values():
    epochs = np.array([1, 2, 5, 6])
    grad = np.array([1.0, 0.0, 20.0, np.nan])
    growth = measure_growth(epochs, grad, window=3)
    assert growth == []  # epoch 5's window (2-4) has only a zero; epoch 1 is 4 epochs back
    growth = measure_growth(epochs, grad, window=4)
    assert [(g.epoch, g.from_epoch, g.ratio) for g in growth] == [(5, 1, 20.0)]


def test_measure_improvement_compares_the_window_with_the_best_before_it():
    epochs = np.arange(1, 7)
    val = np.array([1.0, 0.8, 0.7, 0.72, np.nan, 0.69])
    found = measure_improvement(epochs, val, patience=2)
    assert found is not None
    assert found.window == (4, 6)  # the last two epochs with a finite validation loss
    assert found.best_before == 0.7 and found.best_recent_epoch == 6
    assert found.improvement == pytest.approx(0.01 / 0.7)
    short = measure_improvement(epochs[:2], val[:2], patience=3)
    assert short is not None and short.window == (2,)
    assert measure_improvement(epochs[:1], val[:1], patience=3) is None


# --------------------------------------------------------------------------- the MLP's history
def _mlp_history(tmp_path: Path, **options: Any) -> tuple[Path, list[dict[str, float]]]:
    pytest.importorskip("torch")
    from qa.trainers.base import get_trainer
    from tests.trainers.helpers import classification_context

    ctx = classification_context(n=400, seed=2)
    model = get_trainer("mlp", **options).fit(ctx.training_data())
    path = tmp_path / "mlp_history.csv"
    pl.DataFrame(model.history).write_csv(path)  # as `qa train` writes it
    return path, model.history


def test_training_health_passes_the_mlp_trainers_early_stopped_history(tmp_path):
    path, history = _mlp_history(tmp_path)
    result = _run(path)
    assert result.status == "pass", result.message
    assert result.metrics["grad_norm_max"] == pytest.approx(max(r["grad_norm"] for r in history))
    assert "lr 0.001 throughout" in result.message


def test_training_health_warns_on_the_mlp_stopped_after_three_epochs(tmp_path):
    path, history = _mlp_history(tmp_path, max_epochs=3)
    assert len(history) == 3
    result = _run(path)
    assert result.status == "warn", result.message
    assert "set epochs high and use early stopping" in result.message
