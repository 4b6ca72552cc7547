"""serving: size, load time, latency, throughput and memory of the artifact; parity with the
evaluated predictions. Timings are measurements, never assertions: the rules are tested with a
substituted clock or a call slowed by a known sleep."""

from __future__ import annotations

import itertools
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from qa.api import run_gate
from qa.base import CheckResult
from qa.checks import serving
from qa.checks.serving import (
    Bars,
    Serving,
    Throughput,
    decide,
    peak_rss_growth_mb,
    quantile_lower_bound,
)
from qa.commands.train import prediction_frame
from qa.config import parse_config
from qa.context import Context
from qa.models import load_artifact
from qa.report import schema_errors
from qa.testing import assert_docs, check_contract
from qa.trainers.base import get_trainer
from tests.conftest import make_classification_frame
from tests.trainers.helpers import context, make_regression_frame, split3

FAST = {"warmup_calls": 2, "timed_calls": 30, "throughput_repeats": 2}


# --------------------------------------------------------------------------- helpers
def numeric_frames(n: int = 600, names: dict[str, str] | None = None) -> dict[str, pl.DataFrame]:
    """Train/validation/test with numeric features only (ONNX and torch read the matrix)."""
    frame = make_classification_frame(n=n).drop("cat")
    if names:
        frame = frame.rename(names)
    return split3(frame)


def run_serving(
    frames: dict[str, pl.DataFrame],
    model: dict[str, Any],
    predictions: dict[str, Any] | None = None,
    task: dict[str, Any] | None = None,
    **params: Any,
) -> CheckResult:
    raw = {
        "task": {"target": "label", **(task or {})},
        "run": {"threads": 1, "only": ["serving"]},
        "model": model,
        "checks": {"serving": {**FAST, **params}},
    }
    report = run_gate(
        parse_config(raw), frames=frames, predictions=predictions, extra_checks=[Serving]
    )
    (result,) = [c for c in report.checks if c.id == "serving"]
    assert schema_errors(json.loads(report.to_json())) == []
    return result


def artifact_file(ctx: Context, path: Path, split: str = "test") -> pl.DataFrame:
    """The artifact's own predictions as a prediction file (what ``qa train`` writes)."""
    preds = load_artifact(path).predict(ctx.split_input(split), ctx.task_spec)
    return prediction_frame(ctx, preds)


def xgboost_artifact(ctx: Context, out: Path) -> Path:
    return get_trainer("xgboost").fit(ctx.training_data()).save(out)


def torchscript_artifact(ctx: Context, out: Path) -> Path:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    width = ctx.feature_matrix("train").shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, len(ctx.classes))
    )
    path = out / "model.pt"
    with warnings.catch_warnings():  # torch 2.x marks TorchScript deprecated; still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), str(path))
    return path


def onnx_pipeline(ctx: Context, C: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C)).fit(
        ctx.feature_matrix("train"), ctx.labels("train")
    )


def onnx_artifact(ctx: Context, out: Path, pipe: Any) -> Path:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    onx = skl2onnx.to_onnx(pipe, ctx.feature_matrix("train")[:1])
    path = out / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def sklearn_file(ctx: Context, pipe: Any) -> pl.DataFrame:
    """The prediction file scikit-learn itself writes (float64), which the ONNX export must
    reproduce."""
    proba = pipe.predict_proba(ctx.feature_matrix("test"))
    return pl.DataFrame(
        {
            "prediction": [ctx.classes[i] for i in proba.argmax(axis=1)],
            **{f"proba_{c}": proba[:, j] for j, c in enumerate(ctx.class_names)},
        }
    )


def fake_clock(monkeypatch: pytest.MonkeyPatch, step_s: float) -> None:
    """Every timed span in the check lasts ``step_s``: its clock advances that much per read."""
    ticks = itertools.count()
    monkeypatch.setattr(serving, "perf_counter", lambda: next(ticks) * step_s)


def steady_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "rss_bytes", lambda: 100 * serving.MB)
    monkeypatch.setattr(serving, "high_water_bytes", lambda: 200 * serving.MB)


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, pl.DataFrame], Path]:
    frames = numeric_frames()
    path = xgboost_artifact(context(frames), tmp_path_factory.mktemp("xgb"))
    return frames, path


# --------------------------------------------------------------------------- docs and contract
def test_serving_docs_have_every_section_and_name_only_real_parameters():
    assert_docs(Serving)
    assert Serving.requires == ("model",)
    assert Serving.fail_tests == 1


def test_serving_keeps_the_check_contract(binary, monkeypatch):
    frames, path = binary
    fake_clock(monkeypatch, 1e-4)  # deterministic timings, so two runs give the same JSON
    steady_memory(monkeypatch)
    ctx = context(frames)
    good = artifact_file(ctx, path)
    bad = good.reverse()  # consistent rows, in the wrong order
    inputs = dict(
        train=frames["train"],
        test=frames["test"],
        target="label",
        config={"model": {"artifact": str(path)}},
        checks={"serving": FAST},
    )
    check_contract(
        Serving,
        clean={**inputs, "predictions": {"test": good}},
        defective={**inputs, "predictions": {"test": bad}},
    )


def test_serving_skips_without_bars_or_prediction_file(binary):
    frames, path = binary
    result = run_serving(frames, {"artifact": str(path)})
    assert result.status == "skip"
    assert "no serving bar is declared" in result.message
    assert "latency_p95_ms" in result.message and "prediction file" in result.message


def test_serving_skips_without_a_model_artifact(binary):
    frames, _ = binary
    result = run_serving(frames, {"latency_p95_ms": 10.0})
    assert result.status == "skip" and "model artifact" in result.message


# --------------------------------------------------------------------------- latency
def test_serving_fails_when_the_artifact_is_slower_than_its_declared_p95(binary, monkeypatch):
    frames, path = binary
    original = serving.single_row_call

    def slowed(loaded: Any, rows: Any, ctx: Any) -> Any:
        call, what = original(loaded, rows, ctx)

        def slow(i: int) -> Any:
            time.sleep(0.005)  # every call lasts at least 5 ms; the bar is 1 ms
            return call(i)

        return slow, what

    monkeypatch.setattr(serving, "single_row_call", slowed)
    result = run_serving(frames, {"artifact": str(path), "latency_p95_ms": 1.0})
    assert result.status == "fail", result.message
    assert result.subjects == ("latency_p95_ms",)
    assert result.metrics["latency_p95_lower_bound_ms"] >= 5.0
    assert result.thresholds["max_latency_p95_ms"] == 1.0
    assert "exceeds latency_p95_ms 1 ms beyond noise" in result.message
    assert "one-sided" in result.message and "30 timed calls" in result.message
    assert result.remedy


def test_serving_passes_a_model_within_its_latency_and_throughput_bars(binary, monkeypatch):
    frames, path = binary
    fake_clock(monkeypatch, 1e-4)  # each call 0.1 ms; a batch of 120 rows: 1.2 million rows/s
    result = run_serving(
        frames, {"artifact": str(path), "latency_p95_ms": 1.0, "min_rows_per_second": 1e5}
    )
    assert result.status == "pass", result.message
    assert result.metrics["latency_p95_ms"] == pytest.approx(0.1)
    assert result.metrics["latency_calls"] == 30 and result.metrics["warmup_calls"] == 2
    assert result.metrics["rows_per_second"] == pytest.approx(frames["test"].height / 1e-4)


def test_latency_rule_at_its_edges():
    batch = Throughput(100, (1000.0,), None, "", False)
    bars = Bars(latency_p95_ms=2.0, max_size_mb=None, min_rows_per_second=None)
    assert decide(1.0, 2.0, 1.5, batch, None, bars) == {"latency": "pass"}  # at the bar
    assert decide(1.0, 2.5, 1.9, batch, None, bars) == {"latency": "warn"}  # within noise
    assert decide(1.0, 2.5, None, batch, None, bars) == {"latency": "warn"}  # too few calls
    assert decide(1.0, 2.5, 2.01, batch, None, bars) == {"latency": "fail"}  # beyond noise


def test_p95_lower_bound_is_the_exact_order_statistic_and_holds_its_level():
    from scipy.stats import binom

    alpha, n = 0.02, 200
    values = np.arange(1.0, n + 1.0)  # the k-th smallest is k
    k = int(quantile_lower_bound(values, 0.95, alpha))  # type: ignore[arg-type]
    assert binom.sf(k - 1, n, 0.95) >= 1 - alpha > binom.sf(k, n, 0.95)
    # Coverage on skewed timings: the bound exceeds the true p95 in at most alpha of runs.
    rng = np.random.default_rng(0)
    samples = np.sort(rng.exponential(size=(4000, n)), axis=1)
    true_p95 = -np.log(0.05)
    above = np.mean([quantile_lower_bound(s, 0.95, alpha) > true_p95 for s in samples])
    assert above <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / 4000)
    assert above > 0.002  # and it is not needlessly loose: close to its level
    assert quantile_lower_bound(np.array([1.0]), 0.95, alpha) is None


# --------------------------------------------------------------------------- throughput, size
def test_serving_fails_when_batch_throughput_is_below_its_bar(binary, monkeypatch):
    frames, path = binary
    fake_clock(monkeypatch, 1.0)  # each batch call lasts 1 s: throughput = test rows per second
    rows = frames["test"].height
    failed = run_serving(frames, {"artifact": str(path), "min_rows_per_second": rows * 2})
    assert failed.status == "fail" and failed.subjects == ("min_rows_per_second",)
    assert failed.metrics["rows_per_second"] == pytest.approx(rows)
    assert "below min_rows_per_second" in failed.message
    passed = run_serving(frames, {"artifact": str(path), "min_rows_per_second": rows / 2})
    assert passed.status == "pass"


def test_throughput_rule_warns_when_only_the_best_repeat_clears_the_bar():
    bars = Bars(latency_p95_ms=None, max_size_mb=None, min_rows_per_second=100.0)
    uneven = Throughput(100, (150.0, 90.0, 80.0), None, "", False)
    assert decide(1.0, 1.0, 1.0, uneven, None, bars) == {"throughput": "warn"}
    slow = Throughput(100, (99.0, 90.0), None, "", False)
    assert decide(1.0, 1.0, 1.0, slow, None, bars) == {"throughput": "fail"}


def test_serving_fails_an_artifact_larger_than_max_size_mb(binary):
    frames, path = binary
    size_mb = path.stat().st_size / 1e6
    failed = run_serving(frames, {"artifact": str(path), "max_size_mb": size_mb / 2})
    assert failed.status == "fail" and failed.subjects == ("max_size_mb",)
    assert failed.metrics["size_mb"] == pytest.approx(size_mb, rel=1e-5)
    assert "exceeds max_size_mb" in failed.message
    assert run_serving(frames, {"artifact": str(path), "max_size_mb": size_mb * 2}).status == "pass"


# --------------------------------------------------------------------------- parity
def test_serving_fails_when_the_prediction_file_is_not_the_artifacts(binary):
    frames, path = binary
    ctx = context(frames)
    good = artifact_file(ctx, path)
    flipped = np.arange(7)  # seven rows get the other label (and probabilities)
    nudged = np.arange(7, 10)  # three rows move by 1e-4 in probability, same label
    proba1 = good["proba_1"].to_numpy().copy()
    proba1[flipped] = 1.0 - proba1[flipped]
    proba1[nudged] = np.clip(proba1[nudged] + 1e-4, 0, 1)
    labels = (proba1 >= 0.5).astype(np.int64)
    bad = pl.DataFrame({"prediction": labels, "proba_0": 1.0 - proba1, "proba_1": proba1})
    assert (labels[flipped] != good["prediction"].to_numpy()[flipped]).all()
    result = run_serving(frames, {"artifact": str(path)}, predictions={"test": bad})
    assert result.status == "fail" and result.subjects == ("parity",)
    assert result.metrics["parity_rows_differing"] == 10
    assert result.metrics["parity_label_mismatches"] == 7
    assert "not the evaluated one" in result.message and "10 of 120 rows" in result.message
    parity_table = result.evidence[1]
    assert len(parity_table.rows) == 10 and parity_table.rows[0][0] == 0


def test_serving_passes_when_the_prediction_file_is_the_artifacts(binary):
    frames, path = binary
    good = artifact_file(context(frames), path)
    result = run_serving(frames, {"artifact": str(path)}, predictions={"test": good})
    assert result.status == "pass", result.message
    assert result.metrics["parity_rows_differing"] == 0
    assert result.metrics["parity_max_difference"] <= 1e-12
    assert "no serving bar declared" in result.message


def test_parity_reads_the_binary_labels_at_the_declared_threshold(binary):
    frames, path = binary
    good = artifact_file(context(frames), path)
    cut = good.with_columns(prediction=(pl.col("proba_1") >= 0.3).cast(pl.Int64))
    assert (cut["prediction"] != good["prediction"]).any()
    declared = run_serving(frames, {"artifact": str(path)}, {"test": cut}, task={"threshold": 0.3})
    assert declared.status == "pass", declared.message
    undeclared = run_serving(frames, {"artifact": str(path)}, {"test": cut})
    assert undeclared.status == "fail"
    assert undeclared.metrics["parity_max_difference"] <= 1e-12  # the labels alone differ


def test_regression_parity_is_relative_to_the_value(tmp_path):
    frames = split3(make_regression_frame(n=500))
    ctx = context(frames)
    path = get_trainer("xgboost").fit(ctx.training_data()).save(tmp_path)
    values = artifact_file(ctx, path)["prediction"].to_numpy().copy()
    assert (
        run_serving(
            frames, {"artifact": str(path)}, {"test": pl.DataFrame({"prediction": values})}
        ).status
        == "pass"
    )
    values[[3, 5]] += 0.5
    result = run_serving(
        frames, {"artifact": str(path)}, {"test": pl.DataFrame({"prediction": values})}
    )
    assert result.status == "fail"
    assert result.metrics["parity_rows_differing"] == 2
    assert result.metrics["parity_label_mismatches"] == 0


# --------------------------------------------------------------------------- formats
def test_onnx_export_of_a_sklearn_pipeline_is_measured_and_matches_sklearn(tmp_path):
    frames = numeric_frames()
    ctx = context(frames)
    pipe = onnx_pipeline(ctx)
    path = onnx_artifact(ctx, tmp_path, pipe)
    assert load_artifact(path).format == "onnx"
    model = {"artifact": str(path), "latency_p95_ms": 1e4, "max_size_mb": 100.0}
    # scikit-learn's own float64 probabilities: the float32 export agrees within 1e-6
    result = run_serving(frames, model, {"test": sklearn_file(ctx, pipe)})
    assert result.status == "pass", result.message
    _assert_measured(result, path, "ONNX Runtime session.run")
    assert result.metrics["parity_max_difference"] < 1e-6  # reports round to 6 decimals
    # a prediction file from another fit of the pipeline is not this export's
    other = sklearn_file(ctx, onnx_pipeline(ctx, C=1e-3))
    assert run_serving(frames, model, {"test": other}).status == "fail"


def test_torchscript_artifact_is_measured(tmp_path):
    frames = numeric_frames()
    ctx = context(frames)
    path = torchscript_artifact(ctx, tmp_path)
    model = {"artifact": str(path), "latency_p95_ms": 1e4}
    result = run_serving(frames, model, {"test": artifact_file(ctx, path)})
    assert result.status == "pass", result.message
    _assert_measured(result, path, "TorchScript forward")


def test_xgboost_artifact_is_measured(binary):
    frames, path = binary
    result = run_serving(frames, {"artifact": str(path), "max_size_mb": 100.0})
    assert result.status == "pass", result.message
    _assert_measured(result, path, "XGBoost inplace_predict")


def test_skops_artifact_is_timed_through_qa_gates_predict(tmp_path):
    frames = numeric_frames()
    ctx = context(frames)
    path = get_trainer("linear").fit(ctx.training_data()).save(tmp_path)
    result = run_serving(frames, {"artifact": str(path), "max_size_mb": 100.0})
    assert result.status == "pass", result.message
    _assert_measured(result, path, "qa-gate predict (skops)")


def _assert_measured(result: CheckResult, path: Path, call: str) -> None:
    m = result.metrics
    assert m["size_mb"] == pytest.approx(path.stat().st_size / 1e6, rel=1e-5)
    for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "rows_per_second"):
        assert m[name] is not None and m[name] > 0, name
    assert m["latency_p50_ms"] <= m["latency_p95_ms"] <= m["latency_p99_ms"]
    assert m["load_time_s"] is not None and m["load_time_s"] >= 0
    assert m["latency_calls"] == 30
    assert call in result.evidence[0].note
    assert result.evidence[0].rows[0][0] == "artifact size (MB)"


# --------------------------------------------------------------------------- hostile names
def test_unicode_and_hostile_feature_names_are_served_and_reported(tmp_path):
    names = {
        "num_0": "naïve 🚀 Größe",
        "num_1": "<script>alert('x')</script>",
        "num_2": 'a,b;"DROP TABLE t"--',
        "num_3": "\u202eevil\u0000",
    }
    frames = numeric_frames(names=names)
    ctx = context(frames)
    path = xgboost_artifact(ctx, tmp_path)
    model = {"artifact": str(path), "max_size_mb": 100.0, "latency_p95_ms": 1e4}
    result = run_serving(frames, model, {"test": artifact_file(ctx, path)})
    assert result.status == "pass", result.message
    assert CheckResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


# --------------------------------------------------------------------------- memory
def test_peak_memory_sees_a_native_allocation_that_tracemalloc_misses():
    torch = pytest.importorskip("torch")
    if serving.rss_bytes() is None:
        pytest.skip("needs /proc/self/statm")

    def allocate() -> None:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB outside Python's allocator
        time.sleep(0.05)  # held long enough for the sampler
        del block

    growth, method = peak_rss_growth_mb(allocate)
    assert growth is not None and growth >= 60.0
    assert "/proc/self/statm" in method
