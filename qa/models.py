"""Model artifacts: load one safely and turn it into predictions for a split.

Safe formats load by default: XGBoost JSON/UBJ, skops (only scikit-learn, numpy, scipy and
qa-gate types unless ``[model] trust``), TorchScript, ONNX (with onnxruntime installed).
Pickle and joblib files, and torch files that are pickles, run code when they are loaded:
they are refused with a ModelError unless ``[model] trust = true`` (``--trust-model``), and
the refusal is decided from the file name and its first bytes only, so nothing in the file runs.

Artifacts written by ``qa train`` carry a sidecar ``<name>.qa.json`` (:class:`ModelMeta`) with
the class order, the feature columns and the category codes they were trained with, so a model
reproduces its own encoding even when the data it is checked on differs from what it saw.
An artifact without a sidecar gets ``Context.feature_matrix`` (columns in train order, every
column but target/id/time/group), or, for a scikit-learn model that records
``feature_names_in_``, a pandas frame with those columns.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from qa.errors import ModelError
from qa.predictions import Predictions

if TYPE_CHECKING:
    from qa.context import Context

SIDECAR_SUFFIX = ".qa.json"
META_VERSION = 1
#: Rows per batch when a model predicts, to bound memory on large splits.
PREDICT_BATCH = 65_536

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt", ".pth", ".torchscript", ".ptl")
#: Type-name prefixes a skops file may hold without ``[model] trust`` (beyond skops' own
#: defaults)...
SKOPS_SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
#: ...unless the name looks like file or process access (e.g. a FunctionTransformer(numpy.load)).
SKOPS_UNSAFE_WORDS = ("load", "save", "memmap", "file", "open", "system", "exec", "eval", "popen")


# --------------------------------------------------------------------------- sidecar
@dataclass(frozen=True)
class ModelMeta:
    """What a qa-gate artifact needs to reproduce its input encoding and class order."""

    trainer: str
    task: str
    target: str
    #: Class names (``str`` of each label) in the order of the model's outputs.
    classes: list[str]
    feature_columns: list[str]
    #: Column kind per feature: numeric, boolean, datetime, categorical.
    kinds: dict[str, str]
    #: Per categorical feature: the train values whose position is the code the model saw.
    category_maps: dict[str, list[str]] = field(default_factory=dict)
    #: ``features`` (float32 matrix as Context.feature_matrix), ``frame`` (pandas frame of the
    #: feature columns, see :func:`model_frame`) or ``none`` (the model ignores its input).
    input: str = "features"
    version: int = META_VERSION

    @classmethod
    def from_context(cls, ctx: Context, trainer: str, input: str) -> ModelMeta:
        maps = {
            col: [str(v) for v in ctx._category_maps[col]["value"].to_list()]
            for col in ctx.feature_columns
            if ctx.kind(col) == "categorical"
        }
        return cls(
            trainer=trainer,
            task=ctx.task,
            target=str(ctx.target),
            classes=list(ctx.class_names),
            feature_columns=list(ctx.feature_columns),
            kinds={c: ctx.kind(c) for c in ctx.feature_columns},
            category_maps=maps,
            input=input,
        )

    def write(self, artifact: Path) -> Path:
        path = sidecar_path(artifact)
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")
        return path


def sidecar_path(artifact: str | Path) -> Path:
    """``model.json`` -> ``model.qa.json`` (the same for .skops, .pt, ...)."""
    return Path(artifact).with_suffix(SIDECAR_SUFFIX)


def read_meta(artifact: str | Path) -> ModelMeta | None:
    """The sidecar of an artifact, or None when there is none."""
    path = sidecar_path(artifact)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ModelMeta(**raw)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model.artifact: cannot read the sidecar {path}: {exc}") from None


# --------------------------------------------------------------------------- model inputs
def features_for(ctx: Context, split: str, meta: ModelMeta | None) -> np.ndarray:
    """The float32 matrix a model was trained on, for ``split``.

    Reuses the Context's cached matrix when the sidecar's encoding is the Context's own.
    """
    if meta is None or _same_encoding(ctx, meta):
        return ctx.feature_matrix(split)
    return encode_features(ctx.frame(split), meta.feature_columns, meta.kinds, meta.category_maps)


def _same_encoding(ctx: Context, meta: ModelMeta) -> bool:
    if list(ctx.feature_columns) != meta.feature_columns:
        return False
    if any(ctx.kind(c) != meta.kinds.get(c) for c in ctx.feature_columns):
        return False
    for col, values in meta.category_maps.items():
        if [str(v) for v in ctx._category_maps[col]["value"].to_list()] != values:
            return False
    return True


def encode_features(
    frame: pl.DataFrame,
    columns: Sequence[str],
    kinds: Mapping[str, str],
    category_maps: Mapping[str, Sequence[str]],
) -> np.ndarray:
    """Encode a frame exactly as ``Context.feature_matrix`` does, with given category codes."""
    exprs = []
    for col in columns:
        if col not in frame.columns:
            exprs.append(pl.lit(None, dtype=pl.Float32).alias(col))
            continue
        kind = kinds.get(col, "numeric")
        if kind == "categorical":
            values = list(category_maps.get(col, []))
            exprs.append(
                pl.col(col)
                .cast(pl.String)
                .replace_strict(
                    values,
                    np.arange(len(values), dtype=np.float32).tolist(),
                    default=None,
                    return_dtype=pl.Float32,
                )
            )
        elif kind == "datetime":
            exprs.append(pl.col(col).cast(pl.Datetime("ms")).dt.epoch("s").cast(pl.Float32))
        else:
            exprs.append(pl.col(col).cast(pl.Float32, strict=False))
    if not exprs:
        return np.zeros((frame.height, 0), dtype=np.float32)
    matrix = frame.select(exprs).select(pl.all().fill_nan(None)).to_numpy()
    matrix = matrix.astype(np.float32, copy=False)
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


def model_frame(frame: pl.DataFrame, columns: Sequence[str], kinds: Mapping[str, str]) -> Any:
    """A pandas frame for scikit-learn pipelines: numbers as float64 (inf and NaN missing),
    booleans 0/1, dates as epoch seconds, categories as strings with missing as ``None``."""
    exprs = []
    for col in columns:
        kind = kinds.get(col, "numeric")
        if col not in frame.columns:
            dtype = pl.String if kind == "categorical" else pl.Float64
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
        elif kind == "categorical":
            exprs.append(pl.col(col).cast(pl.String))
        elif kind == "datetime":
            exprs.append(pl.col(col).cast(pl.Datetime("ms")).dt.epoch("s").cast(pl.Float64))
        else:
            as_float = pl.col(col).cast(pl.Float64, strict=False)
            exprs.append(pl.when(as_float.is_finite()).then(as_float).otherwise(None).alias(col))
    selected = frame.select(exprs) if exprs else pl.DataFrame({"__empty": [0.0] * frame.height})
    out = selected.to_pandas()
    for col in columns:
        if kinds.get(col) == "categorical":
            series = out[col].astype(object)
            out[col] = series.where(series.notna(), None)
    return out


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
    proba: np.ndarray, model_classes: Sequence[str], ctx_classes: Sequence[str], where: str
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
    if list(model_classes) == list(ctx_classes):
        out = proba
    else:
        if not any(name in position for name in ctx_classes):
            raise ModelError(
                f"{where}: the model's classes {list(model_classes)[:10]} share none with the "
                f"data's classes {list(ctx_classes)[:10]}"
            )
        out = np.zeros((proba.shape[0], len(ctx_classes)))
        for j, name in enumerate(ctx_classes):
            if name in position:
                out[:, j] = proba[:, position[name]]
    out = np.clip(np.nan_to_num(out, nan=0.0), 0.0, None)
    sums = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1]) if out.shape[1] else out
    return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), uniform)


def proba_predictions(split: str, proba: np.ndarray, source: str) -> Predictions:
    """Predictions from an (n, k) probability matrix in the Context's class order."""
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
    ctx: Context, split: str, labels: Sequence[Any], source: str, where: str
) -> Predictions:
    lookup = {name: i for i, name in enumerate(ctx.class_names)}
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
    ctx: Context, split: str, out: np.ndarray, classes: Sequence[str], source: str, where: str
) -> Predictions:
    """Interpret a raw numeric model output (n,), (n, 1) or (n, k).

    Classification: (n, k) rows summing to 1 are probabilities, other reals are logits
    (softmax); (n,) or (n, 1) for a binary task is the probability of the second class
    (a sigmoid is applied when the values leave [0, 1]). Regression: the values.
    """
    out = np.asarray(out, dtype=np.float64)
    if not ctx.is_classification:
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
    return proba_predictions(split, align_proba(out, classes, ctx.class_names, where), source)


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

    def predict(self, ctx: Context, split: str) -> Predictions:
        where = f"model.artifact ({self.path})"
        self._check_task(ctx, where)
        if self.format in ("xgboost-json", "xgboost-ubj"):
            return _predict_xgboost(ctx, split, self, where)
        if self.format == "torchscript":
            return _predict_torchscript(ctx, split, self, where)
        if self.format == "onnx":
            return _predict_onnx(ctx, split, self, where)
        return _predict_estimator(ctx, split, self, where)

    def _check_task(self, ctx: Context, where: str) -> None:
        if self.meta is None:
            return
        meta_classification = self.meta.task in ("binary", "multiclass")
        if meta_classification != ctx.is_classification:
            raise ModelError(
                f"{where}: the model was trained for a {self.meta.task} task; "
                f"this task is {ctx.task}"
            )

    def classes(self, ctx: Context) -> list[str]:
        return list(self.meta.classes) if self.meta else list(ctx.class_names)


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


def _predict_xgboost(ctx: Context, split: str, loaded: LoadedModel, where: str) -> Predictions:
    booster = loaded.model
    X = features_for(ctx, split, loaded.meta)
    if booster.num_features() != X.shape[1]:
        raise ModelError(
            f"{where}: the model expects {booster.num_features()} features; the "
            f"data has {X.shape[1]} ({', '.join(ctx.feature_columns[:5])}, ...)"
        )
    booster.set_param({"nthread": 1 if X.shape[0] < 20_000 else ctx.n_threads})
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    out = np.asarray(booster.inplace_predict(X), dtype=np.float64)
    classes = loaded.classes(ctx)
    if objective.startswith(("multi:softmax",)):
        return _labels_predictions(ctx, split, [classes[int(i)] for i in out], loaded.source, where)
    is_classifier = objective.startswith(("binary:", "multi:"))
    if is_classifier != ctx.is_classification:
        raise ModelError(f"{where}: XGBoost objective {objective} does not fit a {ctx.task} task")
    if objective == "binary:logitraw":
        out = 1.0 / (1.0 + np.exp(-out))
    return outputs_to_predictions(ctx, split, out, classes, loaded.source, where)


def _predict_torchscript(ctx: Context, split: str, loaded: LoadedModel, where: str) -> Predictions:
    import torch

    X = features_for(ctx, split, loaded.meta)
    torch.set_num_threads(1 if X.shape[0] < 20_000 else ctx.n_threads)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return loaded.model(torch.from_numpy(np.ascontiguousarray(batch))).double().numpy()

    out = _batched(X, run)
    return outputs_to_predictions(ctx, split, out, loaded.classes(ctx), loaded.source, where)


def _predict_onnx(ctx: Context, split: str, loaded: LoadedModel, where: str) -> Predictions:
    session = loaded.model
    X = features_for(ctx, split, loaded.meta)
    name = session.get_inputs()[0].name
    outputs = session.run(None, {name: X})
    if not ctx.is_classification:
        return outputs_to_predictions(ctx, split, outputs[0], [], loaded.source, where)
    for out in outputs:  # probabilities: a float matrix, or a list of {label: p} (ZipMap)
        if isinstance(out, list) and out and isinstance(out[0], dict):
            keys = list(out[0])
            matrix = np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
            return proba_predictions(
                split,
                align_proba(matrix, [class_key(k) for k in keys], ctx.class_names, where),
                loaded.source,
            )
        arr = np.asarray(out)
        if arr.dtype.kind == "f" and arr.ndim == 2 and arr.shape[1] > 1:
            return outputs_to_predictions(
                ctx, split, arr, loaded.classes(ctx), loaded.source, where
            )
    return _labels_predictions(
        ctx, split, list(np.asarray(outputs[0]).reshape(-1)), loaded.source, where
    )


def _predict_estimator(ctx: Context, split: str, loaded: LoadedModel, where: str) -> Predictions:
    """scikit-learn-like objects (skops, or trusted pickle/joblib): predict_proba / predict."""
    model = loaded.model
    if hasattr(model, "inplace_predict") and hasattr(model, "save_config"):  # a pickled Booster
        return _predict_xgboost(ctx, split, loaded, where)
    return estimator_predictions(ctx, split, model, loaded.meta, loaded.source, where)


def estimator_predictions(
    ctx: Context, split: str, model: Any, meta: ModelMeta | None, source: str, where: str
) -> Predictions:
    """Predictions of a fitted scikit-learn-like estimator for ``split``."""
    if not hasattr(model, "predict"):
        raise ModelError(f"{where}: the loaded object ({type(model).__name__}) has no predict()")
    X = _estimator_input(ctx, split, model, meta)
    if not ctx.is_classification:
        return value_predictions(split, _batched_any(X, model.predict), source, where)
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        proba = _batched_any(X, model.predict_proba)
        model_classes = [class_key(c) for c in model.classes_]
        return proba_predictions(
            split, align_proba(proba, model_classes, ctx.class_names, where), source
        )
    labels = _batched_any(X, model.predict)
    return _labels_predictions(ctx, split, list(labels), source, where)


def _estimator_input(ctx: Context, split: str, model: Any, meta: ModelMeta | None) -> Any:
    if meta is not None and meta.input == "none":  # the model ignores its input (majority/mean)
        return np.zeros((ctx.frame(split).height, 1), dtype=np.float32)
    if meta is not None and meta.input == "frame":
        return model_frame(ctx.frame(split), meta.feature_columns, meta.kinds)
    if meta is None and hasattr(model, "feature_names_in_"):
        columns = [str(c) for c in model.feature_names_in_]
        kinds = {
            c: (ctx.kind(c) if c in ctx.frame("train").columns else "numeric") for c in columns
        }
        return model_frame(ctx.frame(split), columns, kinds)
    return features_for(ctx, split, meta)


def _batched_any(X: Any, fn: Any) -> np.ndarray:
    """Like ``_batched`` for numpy matrices or pandas frames."""
    n = X.shape[0]
    if n <= PREDICT_BATCH:
        return np.asarray(fn(X))
    take = (lambda a, b: X.iloc[a:b]) if hasattr(X, "iloc") else (lambda a, b: X[a:b])
    return np.concatenate(
        [np.asarray(fn(take(i, i + PREDICT_BATCH))) for i in range(0, n, PREDICT_BATCH)], axis=0
    )


def predict_with_artifact(ctx: Context, split: str) -> Predictions:
    """Predictions for ``split`` from ``[model] artifact``; the model is loaded once."""
    path = ctx.config.model.artifact
    if not path:
        raise ModelError("model.artifact: no model artifact given")
    loaded = ctx.cached(
        ("model_artifact", path), lambda: load_artifact(path, ctx.config.model.trust)
    )
    return loaded.predict(ctx, split)
