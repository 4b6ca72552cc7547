"""Model artifacts: load one safely and turn it into predictions for a split.

Safe formats load by default: XGBoost JSON/UBJ, skops (only scikit-learn, numpy, scipy and
qa-gate types unless ``[model] trust``), TorchScript, ONNX (with onnxruntime installed).
Pickle and joblib files, and torch files that are pickles, run code when they are loaded:
they are refused with a ModelError unless ``[model] trust = true`` (``--trust-model``), and
the refusal is decided from the file name and its first bytes only, so nothing in the file runs.

Artifacts written by ``qa train`` carry a sidecar ``<name>.qa.json`` (:class:`ModelMeta`) with
the class order and the :class:`~qa.encoding.FeatureEncoder` they were trained with, so a model
reproduces its own encoding even when the data it is checked on differs from what it saw.
An artifact without a sidecar gets the run's feature matrix (the encoder fitted on this run's
train), or, for a scikit-learn model that records ``feature_names_in_``, a pandas frame with
those columns.

Nothing here knows the Context: a model reads a :class:`SplitInput` and a
:class:`~qa.task.TaskSpec`, and returns :class:`~qa.predictions.Predictions`.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from qa.encoding import FeatureEncoder
from qa.errors import ModelError
from qa.predictions import Predictions
from qa.task import TaskSpec

SIDECAR_SUFFIX = ".qa.json"
#: 2: the sidecar holds the FeatureEncoder (1 held kinds and category codes only).
META_VERSION = 2
#: Rows per batch when a model predicts, to bound memory on large splits.
PREDICT_BATCH = 65_536
#: Below this many rows a model fits or predicts on one thread: OpenMP start-up and
#: synchronisation cost more than the work (on a busy 2-core runner, 2 threads made a 400-row
#: XGBoost fit 20x slower).
SMALL_DATA_ROWS = 20_000

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt", ".pth", ".torchscript", ".ptl")
#: Type-name prefixes a skops file may hold without ``[model] trust`` (beyond skops' own
#: defaults)...
SKOPS_SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
#: ...unless the name looks like file or process access (e.g. a FunctionTransformer(numpy.load)).
SKOPS_UNSAFE_WORDS = ("load", "save", "memmap", "file", "open", "system", "exec", "eval", "popen")


def threads_for(n_rows: int, threads: int) -> int:
    """Threads for fitting or predicting ``n_rows`` rows: ``threads``, or 1 on small data."""
    return 1 if n_rows < SMALL_DATA_ROWS else threads


# --------------------------------------------------------------------------- sidecar
@dataclass(frozen=True)
class ModelMeta:
    """What a qa-gate artifact needs to reproduce its input encoding and class order."""

    trainer: str
    task: str
    target: str
    #: Class names (``str`` of each label) in the order of the model's outputs.
    classes: list[str]
    #: The encoder fitted on the model's train split: its input is ``encoder.transform(frame)``.
    encoder: FeatureEncoder
    #: ``features`` (the encoder's float32 matrix), ``frame`` (a pandas frame of the feature
    #: columns, see :meth:`FeatureEncoder.pandas_frame`) or ``none`` (the model ignores its input).
    input: str = "features"
    version: int = META_VERSION

    @property
    def feature_columns(self) -> list[str]:
        return self.encoder.feature_columns

    def write(self, artifact: Path) -> Path:
        path = sidecar_path(artifact)
        raw = {
            "trainer": self.trainer,
            "task": self.task,
            "target": self.target,
            "classes": list(self.classes),
            "feature_columns": self.feature_columns,  # for readers; the encoder is the truth
            "encoder": self.encoder.to_dict(),
            "input": self.input,
            "version": self.version,
        }
        path.write_text(json.dumps(raw, ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelMeta:
        """Read a sidecar; version 1 (kinds and category codes, no encoder) is converted."""
        if int(raw.get("version", 1)) < 2:
            columns = [
                {
                    "name": c,
                    "kind": raw["kinds"].get(c, "numeric"),
                    "levels": raw.get("category_maps", {}).get(c, []),
                }
                for c in raw["feature_columns"]
            ]
            encoder = FeatureEncoder.from_dict({"columns": columns})
        else:
            encoder = FeatureEncoder.from_dict(raw["encoder"])
        return cls(
            trainer=str(raw["trainer"]),
            task=str(raw["task"]),
            target=str(raw["target"]),
            classes=[str(c) for c in raw["classes"]],
            encoder=encoder,
            input=str(raw.get("input", "features")),
        )


def sidecar_path(artifact: str | Path) -> Path:
    """``model.json`` -> ``model.qa.json`` (the same for .skops, .pt, ...)."""
    return Path(artifact).with_suffix(SIDECAR_SUFFIX)


def read_meta(artifact: str | Path) -> ModelMeta | None:
    """The sidecar of an artifact, or None when there is none."""
    path = sidecar_path(artifact)
    if not path.is_file():
        return None
    try:
        return ModelMeta.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelError(f"model.artifact: cannot read the sidecar {path}: {exc}") from None


# --------------------------------------------------------------------------- model inputs
@dataclass(frozen=True)
class SplitInput:
    """One split as a model may read it: the raw frame, and the run's encoder and its
    (cached) matrix, so a model encoded the run's way reuses the matrix instead of re-encoding."""

    split: str
    frame: pl.DataFrame
    encoder: FeatureEncoder
    matrix: Callable[[], np.ndarray]

    @property
    def n_rows(self) -> int:
        return self.frame.height

    def features(self, encoder: FeatureEncoder | None = None) -> np.ndarray:
        """The float32 matrix ``encoder`` (default: the run's) makes of this split."""
        if encoder is None or encoder == self.encoder:
            return self.matrix()
        return encoder.transform(self.frame)


# --------------------------------------------------------------------------- outputs
def class_key(value: Any) -> str:
    """The class name a model label maps to: ``str``, with integral floats as integers."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if (
        isinstance(value, float | np.floating)
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def align_proba(
    proba: np.ndarray, model_classes: Sequence[str], data_classes: Sequence[str], where: str
) -> np.ndarray:
    """Reorder a model's probability columns into the data's class order.

    A class the model never saw gets probability 0; a class the data does not have is dropped
    and each row renormalised.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(model_classes):
        raise ModelError(
            f"{where}: the model returns {proba.shape} probabilities for "
            f"{len(model_classes)} classes"
        )
    position = {name: i for i, name in enumerate(model_classes)}
    if list(model_classes) == list(data_classes):
        out = proba
    else:
        if not any(name in position for name in data_classes):
            raise ModelError(
                f"{where}: the model's classes {list(model_classes)[:10]} share none with the "
                f"data's classes {list(data_classes)[:10]}"
            )
        out = np.zeros((proba.shape[0], len(data_classes)))
        for j, name in enumerate(data_classes):
            if name in position:
                out[:, j] = proba[:, position[name]]
    out = np.clip(np.nan_to_num(out, nan=0.0), 0.0, None)
    sums = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1]) if out.shape[1] else out
    return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), uniform)


def proba_predictions(split: str, proba: np.ndarray, source: str) -> Predictions:
    """Predictions from an (n, k) probability matrix in the task's class order."""
    proba = np.asarray(proba, dtype=np.float64)
    labels = (
        np.argmax(proba, axis=1).astype(np.int64)
        if proba.shape[1]
        else np.zeros(proba.shape[0], dtype=np.int64)
    )
    return Predictions(split=split, labels=labels, proba=proba, source=source)


def value_predictions(split: str, values: np.ndarray, source: str, where: str) -> Predictions:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).sum())
        raise ModelError(f"{where}: the model predicts {bad} missing or infinite values")
    return Predictions(split=split, values=values, source=source)


def _labels_predictions(
    task: TaskSpec, split: str, labels: Sequence[Any], source: str, where: str
) -> Predictions:
    lookup = {name: i for i, name in enumerate(task.class_names)}
    keys = [class_key(v) for v in labels]
    unknown = sorted({k for k in keys if k not in lookup})
    if unknown:
        raise ModelError(f"{where}: the model predicts unknown class label(s) {unknown[:3]}")
    return Predictions(
        split=split, labels=np.array([lookup[k] for k in keys], dtype=np.int64), source=source
    )


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _looks_like_proba(out: np.ndarray) -> bool:
    if out.size == 0:
        return True
    if np.nanmin(out) < -1e-6 or np.nanmax(out) > 1 + 1e-6:
        return False
    return out.ndim == 1 or bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-3))


def outputs_to_predictions(
    task: TaskSpec, split: str, out: np.ndarray, classes: Sequence[str], source: str, where: str
) -> Predictions:
    """Interpret a raw numeric model output (n,), (n, 1) or (n, k).

    Classification: (n, k) rows summing to 1 are probabilities, other reals are logits
    (softmax); (n,) or (n, 1) for a binary task is the probability of the second class
    (a sigmoid is applied when the values leave [0, 1]). Regression: the values.
    """
    out = np.asarray(out, dtype=np.float64)
    if not task.is_classification:
        if out.ndim == 2 and out.shape[1] != 1:
            raise ModelError(
                f"{where}: a regression model must return one value per row, got shape {out.shape}"
            )
        return value_predictions(split, out.reshape(-1), source, where)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim == 1:
        if len(classes) != 2:
            raise ModelError(
                f"{where}: one output per row, but the task has {len(classes)} classes"
            )
        p = out if _looks_like_proba(out) else 1.0 / (1.0 + np.exp(-out))
        out = np.column_stack([1.0 - p, p])
    elif not _looks_like_proba(out):
        out = _softmax(out)
    return proba_predictions(split, align_proba(out, classes, task.class_names, where), source)


# --------------------------------------------------------------------------- loading
@dataclass
class LoadedModel:
    """An artifact in memory: its format, the model object and the sidecar (if any)."""

    path: str
    format: str
    model: Any
    meta: ModelMeta | None

    @property
    def source(self) -> str:
        return f"model:{self.path}"

    def predict(self, inp: SplitInput, task: TaskSpec, threads: int = 1) -> Predictions:
        """Predictions for one split; ``threads`` is used only on large splits."""
        where = f"model.artifact ({self.path})"
        self._check_task(task, where)
        call = ModelCall(self, inp, task, threads_for(inp.n_rows, threads), where)
        if self.format in ("xgboost-json", "xgboost-ubj"):
            return _predict_xgboost(call)
        if self.format == "torchscript":
            return _predict_torchscript(call)
        if self.format == "onnx":
            return _predict_onnx(call)
        return _predict_estimator(call)

    def _check_task(self, task: TaskSpec, where: str) -> None:
        if self.meta is None:
            return
        meta_classification = self.meta.task in ("binary", "multiclass")
        if meta_classification != task.is_classification:
            raise ModelError(
                f"{where}: the model was trained for a {self.meta.task} task; "
                f"this task is {task.type}"
            )


@dataclass(frozen=True)
class ModelCall:
    """One prediction request: the model, the split, the task, threads, and who is asking."""

    loaded: LoadedModel
    inp: SplitInput
    task: TaskSpec
    threads: int
    where: str

    @property
    def classes(self) -> list[str]:
        """Class names in the order of the model's outputs (the sidecar's, else the task's)."""
        meta = self.loaded.meta
        return list(meta.classes) if meta else self.task.class_names

    def features(self) -> np.ndarray:
        meta = self.loaded.meta
        return self.inp.features(meta.encoder if meta else None)

    def to_predictions(self, out: np.ndarray, classes: Sequence[str] | None = None) -> Predictions:
        return outputs_to_predictions(
            self.task,
            self.inp.split,
            out,
            self.classes if classes is None else classes,
            self.loaded.source,
            self.where,
        )


def detect_format(path: Path) -> str:
    """The artifact's format from its name and first bytes; nothing in the file is run."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix == ".ubj":
        return "xgboost-ubj"
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".skops":
        return "skops"
    with path.open("rb") as handle:
        head = handle.read(8)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "schema.json" in names:
            return "skops"
        if any("/code/" in n or n.startswith("code/") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-pickle"
        raise ModelError(f"model.artifact: {path} is a zip archive of no known model format")
    if head[:1] == b"\x80":
        return "torch-pickle" if suffix in TORCH_SUFFIXES else "pickle"
    if suffix == ".json" or head.lstrip()[:1] == b"{":
        return "xgboost-json"
    raise ModelError(
        f"model.artifact: cannot tell the format of {path} (expected .json/.ubj XGBoost, .skops, "
        f".onnx, TorchScript .pt, or with --trust-model .pkl/.joblib)"
    )


def preflight_artifact(path: str | Path, trust: bool = False, strict: bool = False) -> str:
    """Refuse a code-running artifact (pickle, joblib, torch pickle) without ``trust``.

    Reads only the name and first bytes. ``build_context`` calls it before any check runs, so
    the refusal does not depend on which checks run. With ``strict`` (when loading) a missing
    file or unknown format is an error too; otherwise those surface in the checks that need the
    model. Returns the format ("" when not known).
    """
    path = Path(path)
    if not path.is_file():
        if strict:
            raise ModelError(f"model.artifact: file not found: {path}")
        return ""
    try:
        fmt = detect_format(path)
    except ModelError:
        if strict:
            raise
        return ""
    if fmt in ("pickle", "torch-pickle") and not trust:
        raise ModelError(
            f"model.artifact: refusing to load {path}: {fmt.replace('-', ' ')} files run code "
            f"when loaded. Save the model as skops, XGBoost JSON, ONNX or TorchScript, or pass "
            f"--trust-model ([model] trust = true) only for a file you trust"
        )
    return fmt


def load_artifact(path: str | Path, trust: bool = False) -> LoadedModel:
    """Load a model artifact, refusing code-running formats unless ``trust``."""
    fmt = preflight_artifact(path, trust, strict=True)
    path = Path(path)
    meta = read_meta(path)
    loader = {
        "xgboost-json": _load_xgboost,
        "xgboost-ubj": _load_xgboost,
        "skops": _load_skops,
        "torchscript": _load_torchscript,
        "onnx": _load_onnx,
        "pickle": _load_pickle,
        "torch-pickle": _load_torch_pickle,
    }[fmt]
    try:
        model = loader(path, trust)
    except ModelError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model.artifact: cannot load {path} as {fmt}: {first}") from None
    return LoadedModel(path=str(path), format=fmt, model=model, meta=meta)


def _load_xgboost(path: Path, trust: bool) -> Any:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(path))
    return booster


def _load_skops(path: Path, trust: bool) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=str(path))
    if not trust:
        unsafe = [t for t in untrusted if not _skops_type_is_safe(t)]
        if unsafe:
            raise ModelError(
                f"model.artifact: {path} holds types outside scikit-learn/numpy/scipy: "
                f"{', '.join(unsafe[:5])}; pass --trust-model only if you trust the file"
            )
    return sio.load(str(path), trusted=untrusted)


def _skops_type_is_safe(name: str) -> bool:
    last = name.rsplit(".", 1)[-1].lower()
    return name.startswith(SKOPS_SAFE_PREFIXES) and not any(w in last for w in SKOPS_UNSAFE_WORDS)


def _load_torchscript(path: Path, trust: bool) -> Any:
    try:
        import torch
    except ImportError:
        raise ModelError(
            f"model.artifact: {path} is a TorchScript model; install torch: "
            f"pip install 'qa-gate[torch]'"
        ) from None
    import warnings

    with warnings.catch_warnings():  # torch 2.x marks TorchScript deprecated; still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    module.eval()
    return module


def _load_torch_pickle(path: Path, trust: bool) -> Any:
    try:
        import torch
    except ImportError:
        raise ModelError(f"model.artifact: {path} is a torch file; install torch") from None
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    raise ModelError(
        f"model.artifact: {path} holds weights only ({type(loaded).__name__}), not a runnable "
        f"model; save it with torch.jit.save(torch.jit.script(model), ...) or export to ONNX"
    )


def _load_onnx(path: Path, trust: bool) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(
            f"model.artifact: {path} is an ONNX model; install onnxruntime to use it: "
            f"pip install onnxruntime"
        ) from None
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _load_pickle(path: Path, trust: bool) -> Any:  # only reached with trust
    if path.suffix.lower() == ".joblib":
        import joblib

        return joblib.load(path)
    import pickle

    with path.open("rb") as handle:
        return pickle.load(handle)


# --------------------------------------------------------------------------- predicting
def _batched(matrix: np.ndarray, fn: Any) -> np.ndarray:
    if matrix.shape[0] <= PREDICT_BATCH:
        return np.asarray(fn(matrix))
    parts = [
        np.asarray(fn(matrix[i : i + PREDICT_BATCH]))
        for i in range(0, matrix.shape[0], PREDICT_BATCH)
    ]
    return np.concatenate(parts, axis=0)


def _predict_xgboost(call: ModelCall) -> Predictions:
    booster = call.loaded.model
    X = call.features()
    if booster.num_features() != X.shape[1]:
        names = call.inp.encoder.output_names
        raise ModelError(
            f"{call.where}: the model expects {booster.num_features()} features; the "
            f"data has {X.shape[1]} ({', '.join(names[:5])}, ...)"
        )
    booster.set_param({"nthread": call.threads})
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    out = np.asarray(booster.inplace_predict(X), dtype=np.float64)
    classes = call.classes
    if objective.startswith(("multi:softmax",)):
        labels = [classes[int(i)] for i in out]
        return _labels_predictions(
            call.task, call.inp.split, labels, call.loaded.source, call.where
        )
    is_classifier = objective.startswith(("binary:", "multi:"))
    if is_classifier != call.task.is_classification:
        raise ModelError(
            f"{call.where}: XGBoost objective {objective} does not fit a {call.task.type} task"
        )
    if objective == "binary:logitraw":
        out = 1.0 / (1.0 + np.exp(-out))
    return call.to_predictions(out)


def _predict_torchscript(call: ModelCall) -> Predictions:
    import torch

    X = call.features()
    torch.set_num_threads(call.threads)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return call.loaded.model(torch.from_numpy(np.ascontiguousarray(batch))).double().numpy()

    return call.to_predictions(_batched(X, run))


def _predict_onnx(call: ModelCall) -> Predictions:
    session = call.loaded.model
    X = call.features()
    name = session.get_inputs()[0].name
    outputs = session.run(None, {name: X})
    if not call.task.is_classification:
        return call.to_predictions(outputs[0], [])
    for out in outputs:  # probabilities: a float matrix, or a list of {label: p} (ZipMap)
        if isinstance(out, list) and out and isinstance(out[0], dict):
            keys = list(out[0])
            matrix = np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
            return call.to_predictions(matrix, [class_key(k) for k in keys])
        arr = np.asarray(out)
        if arr.dtype.kind == "f" and arr.ndim == 2 and arr.shape[1] > 1:
            return call.to_predictions(arr)
    labels = list(np.asarray(outputs[0]).reshape(-1))
    return _labels_predictions(call.task, call.inp.split, labels, call.loaded.source, call.where)


def _predict_estimator(call: ModelCall) -> Predictions:
    """scikit-learn-like objects (skops, or trusted pickle/joblib): predict_proba / predict."""
    model = call.loaded.model
    if hasattr(model, "inplace_predict") and hasattr(model, "save_config"):  # a pickled Booster
        return _predict_xgboost(call)
    if not hasattr(model, "predict"):
        raise ModelError(
            f"{call.where}: the loaded object ({type(model).__name__}) has no predict()"
        )
    X = _estimator_input(call.inp, model, call.loaded.meta)
    if not call.task.is_classification:
        return value_predictions(
            call.inp.split, _batched_any(X, model.predict), call.loaded.source, call.where
        )
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        proba = _batched_any(X, model.predict_proba)
        return call.to_predictions(proba, [class_key(c) for c in model.classes_])
    labels = list(_batched_any(X, model.predict))
    return _labels_predictions(call.task, call.inp.split, labels, call.loaded.source, call.where)


def estimator_outputs(model: Any, X: np.ndarray, meta: ModelMeta, where: str) -> np.ndarray:
    """Raw outputs of a fitted scikit-learn estimator on an encoded matrix: probabilities in
    ``meta.classes`` order for a classifier, values for a regressor."""
    if meta.input == "none":  # the model ignores its input (majority/mean)
        X = np.zeros((X.shape[0], 1), dtype=np.float32)
    if meta.task not in ("binary", "multiclass"):
        return np.asarray(_batched_any(X, model.predict), dtype=np.float64)
    proba = _batched_any(X, model.predict_proba)
    return align_proba(proba, [class_key(c) for c in model.classes_], meta.classes, where)


def _estimator_input(inp: SplitInput, model: Any, meta: ModelMeta | None) -> Any:
    if meta is not None and meta.input == "none":  # the model ignores its input (majority/mean)
        return np.zeros((inp.n_rows, 1), dtype=np.float32)
    if meta is not None and meta.input == "frame":
        return meta.encoder.pandas_frame(inp.frame)
    if meta is None and hasattr(model, "feature_names_in_"):
        columns = [str(c) for c in model.feature_names_in_]
        return inp.encoder.pandas_frame(inp.frame, columns)
    return inp.features(meta.encoder if meta else None)


def _batched_any(X: Any, fn: Any) -> np.ndarray:
    """Like ``_batched`` for numpy matrices or pandas frames."""
    n = X.shape[0]
    if n <= PREDICT_BATCH:
        return np.asarray(fn(X))
    take = (lambda a, b: X.iloc[a:b]) if hasattr(X, "iloc") else (lambda a, b: X[a:b])
    return np.concatenate(
        [np.asarray(fn(take(i, i + PREDICT_BATCH))) for i in range(0, n, PREDICT_BATCH)], axis=0
    )
