"""Model artifacts: safe formats load, code-running formats are refused unless trusted."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.errors import ModelError
from qa.models import detect_format, load_artifact
from qa.trainers.base import get_trainer
from tests.conftest import make_classification_frame
from tests.trainers.helpers import classification_context, context, make_regression_frame, split3


class WritesMarker:
    """Unpickling this object opens (creates) ``path``: proof that the file's code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def double(x):  # a function a skops file refers to: outside scikit-learn, so untrusted
    return x * 2


def _write_splits(tmp_path: Path) -> list[str]:
    frames = split3(make_classification_frame(n=400))
    args = []
    for split in ("train", "test"):
        path = tmp_path / f"{split}.csv"
        frames[split].write_csv(path)
        args += [f"--{split}", str(path)]
    return [*args, "--target", "label", "--out", str(tmp_path / "reports"), "-q"]


def _run_cli(argv: list[str]) -> int:
    """The exit code the ``qa`` script would end with."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("suffix", [".pkl", ".joblib", ".bin"])
def test_pickle_model_is_refused_without_trust_and_nothing_in_it_runs(tmp_path, capsys, suffix):
    marker = tmp_path / "pwned"
    evil = tmp_path / f"model{suffix}"
    evil.write_bytes(pickle.dumps(WritesMarker(str(marker))))
    # refused up front, even when no check that needs the model is selected
    code = _run_cli(
        ["check", *_write_splits(tmp_path), "--model", str(evil), "--only", "data-volume"]
    )
    assert code == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "refusing to load" in err and "--trust-model" in err


# The hostile pickle opens its marker file on load and never closes it: that is the point.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_pickle_model_is_loaded_with_trust_model(tmp_path, capsys):
    marker = tmp_path / "loaded"
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(WritesMarker(str(marker))))
    code = _run_cli(
        [
            "check",
            *_write_splits(tmp_path),
            "--model",
            str(evil),
            "--trust-model",
            "--only",
            "metric-threshold",
        ]
    )
    assert marker.exists()  # it was unpickled, as the user asked
    assert code == 2  # ...and is no model: the check that needs predictions errors


def test_trusted_pickle_of_a_sklearn_model_predicts_like_the_model(tmp_path):
    from sklearn.linear_model import LogisticRegression

    frames = split3(make_classification_frame(n=500))
    columns = ["num_0", "num_1", "num_2", "num_3"]
    model = LogisticRegression().fit(
        frames["train"].select(columns).to_pandas(), frames["train"]["label"].to_numpy()
    )
    path = tmp_path / "model.pickle"
    path.write_bytes(pickle.dumps(model))
    ctx = context(frames, artifact=str(path), trust=True)
    preds = ctx.predictions("test")
    expected = model.predict_proba(frames["test"].select(columns).to_pandas())
    np.testing.assert_allclose(preds.proba, expected, atol=1e-12)
    assert preds.source == f"model:{path}"


def test_torch_weights_file_is_refused_without_trust_and_explained_with_it(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    assert detect_format(path) == "torch-pickle"
    with pytest.raises(ModelError, match="refusing to load"):
        load_artifact(path)
    with pytest.raises(ModelError, match=r"weights only .*torch\.jit\.save"):
        load_artifact(path, trust=True)


def test_skops_file_with_a_foreign_function_needs_trust(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    ctx = classification_context(n=300)
    pipe = make_pipeline(FunctionTransformer(double), LogisticRegression())
    pipe.fit(np.nan_to_num(ctx.feature_matrix("train")), ctx.labels("train"))
    path = tmp_path / "custom.skops"
    sio.dump(pipe, str(path))
    with pytest.raises(ModelError, match=r"tests\.test_models\.double"):
        load_artifact(path)
    assert load_artifact(path, trust=True).format == "skops"


def test_foreign_xgboost_json_without_sidecar_uses_the_feature_matrix(tmp_path):
    import xgboost as xgb

    ctx = classification_context(n=500)
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1},
        xgb.DMatrix(ctx.feature_matrix("train"), label=ctx.labels("train")),
        num_boost_round=10,
    )
    p = booster.predict(xgb.DMatrix(ctx.feature_matrix("test")))
    for name in ("booster.json", "booster.ubj"):
        path = tmp_path / name
        booster.save_model(str(path))
        preds = load_artifact(path).predict(ctx.split_input("test"), ctx.task_spec)
        np.testing.assert_allclose(preds.proba[:, 1], p, rtol=1e-6)
        np.testing.assert_array_equal(preds.labels, (p > 0.5).astype(np.int64))


def test_artifact_predictions_equal_the_trainer_prediction_files(tmp_path):
    from qa.commands.train import write_outputs

    frames = split3(make_classification_frame(n=600, n_classes=3))
    trained = classification_context(n=600, n_classes=3)
    written = write_outputs(trained, get_trainer("xgboost").fit(trained.training_data()), tmp_path)
    files = context(frames, predictions={s: str(written[f"predictions.{s}"]) for s in frames})
    artifact = context(frames, artifact=str(written["artifact"]))
    for split in frames:
        a, b = files.predictions(split), artifact.predictions(split)
        assert b.source.startswith("model:")
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.proba, b.proba, atol=1e-12)


def test_sidecar_encoding_survives_a_different_train_split(tmp_path):
    """Category codes come from the model's sidecar, not from the data it is checked on."""
    ctx = classification_context(n=600)
    model = get_trainer("xgboost").fit(ctx.training_data())
    path = model.save(tmp_path)
    frames = {s: ctx.frame(s) for s in ctx.splits}
    frames["train"] = frames["train"].filter(frames["train"]["cat"] != "blue")  # codes shift
    other = context(frames, artifact=str(path))
    np.testing.assert_allclose(
        other.predictions("test").proba, ctx.fitted_predictions(model, "test").proba
    )


def test_regression_model_on_a_classification_task_is_a_model_error(tmp_path):
    reg = context(split3(make_regression_frame(n=300)))
    path = get_trainer("linear").fit(reg.training_data()).save(tmp_path)
    clf = classification_context(n=300, artifact=str(path))
    with pytest.raises(ModelError, match="trained for a regression task"):
        clf.predictions("test")


def test_unknown_missing_and_onnx_without_runtime_are_clear_errors(tmp_path):
    junk = tmp_path / "model.bin"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelError, match="cannot tell the format"):
        load_artifact(junk)
    with pytest.raises(ModelError, match="file not found"):
        load_artifact(tmp_path / "absent.json")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match="install onnxruntime"):
            load_artifact(onnx)
