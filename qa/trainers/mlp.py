"""A PyTorch multilayer perceptron for tabular data (optional extra: ``qa-gate[torch]``).

Architecture: two hidden layers of 256 and 128 ReLU units, each with batch norm and dropout
0.3; Adam with learning rate 1e-3; batches of 128 rows (512 on more than 50,000 train rows, so
an epoch on big data stays a few seconds on a CPU); early stopping when the validation loss has
not improved for ``PATIENCE`` epochs (at most ``MAX_EPOCHS``), then the best weights are restored.
The validation split is used when it has labels; otherwise a seeded 10 % of train is held out
for early stopping and the ``note`` says so.

Preprocessing is fitted on train only and lives inside the network, so the saved TorchScript
module takes the encoder's raw feature matrix (float32, NaN allowed) and returns class
probabilities (n, k) or values (n,): numbers are median-imputed (with a missing indicator),
standardised and clipped to [-10, 10]; each categorical code goes through an embedding, with
one slot for missing/unseen values and one for rare levels (fewer than ``MIN_LEVEL_ROWS`` train
rows or beyond the ``MAX_LEVELS`` most frequent).

The history (``model.history``, written as ``history.csv`` by ``qa train``) has one row per
epoch: ``epoch, train_loss, val_loss, train_accuracy, val_accuracy`` (``train_mae, val_mae`` for
regression), then ``grad_norm`` — the global L2 norm of all parameters' gradients, taken after
each batch's backward pass (before the optimiser step; there is no clipping), **averaged** over
the epoch's batches — and ``lr``, the learning rate the epoch's steps used.

Runs on a GPU when ``torch.cuda.is_available()``, else on the CPU. Seeded with
``torch.manual_seed(data.seed)``. torch is imported inside functions only.
"""

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qa.encoding import FeatureEncoder
from qa.errors import DataError, QAError
from qa.models import ModelMeta, threads_for
from qa.trainers.base import FittedModel, Trainer, TrainingData, model_meta

HIDDEN = (256, 128)
DROPOUT = 0.3
LEARNING_RATE = 1e-3
BATCH_SIZE = 128
LARGE_BATCH_SIZE = 512
LARGE_DATA_ROWS = 50_000
MAX_EPOCHS = 100
PATIENCE = 8
HOLDOUT_FRACTION = 0.1
EMBEDDING_DIM = 8
MAX_LEVELS = 64
MIN_LEVEL_ROWS = 5
EVAL_BATCH = 65_536
#: CPU threads for the training loop. A step on 128-512 rows is too small for threads to pay
#: off, and on a busy shared CPU spinning worker threads made each step ~50x slower (measured:
#: 354 ms vs 6 ms per step). Prediction uses the run's threads on large inputs.
TRAIN_THREADS = 1

TORCH_MISSING = "the mlp trainer needs the torch extra: pip install 'qa-gate[torch]'"


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise QAError(TORCH_MISSING) from None
    return torch


def _net_class() -> Any:
    """The TorchScript-able network class (defined here so torch loads only when needed)."""
    torch = _torch()
    nn = torch.nn

    class TabularNet(nn.Module):  # type: ignore[name-defined]
        def __init__(
            self, spec: dict, hidden: tuple, dropout: float, n_out: int, classify: bool
        ) -> None:
            super().__init__()
            self.n_num = len(spec["num_idx"])
            self.n_cat = len(spec["cat_idx"])
            self.n_miss = len(spec["miss_idx"])
            self.classify = classify
            long, flt = torch.long, torch.float32
            self.register_buffer("num_idx", torch.tensor(spec["num_idx"], dtype=long))
            self.register_buffer("medians", torch.tensor(spec["medians"], dtype=flt))
            self.register_buffer("means", torch.tensor(spec["means"], dtype=flt))
            self.register_buffer("stds", torch.tensor(spec["stds"], dtype=flt))
            self.register_buffer("miss_idx", torch.tensor(spec["miss_idx"], dtype=long))
            self.register_buffer("cat_idx", torch.tensor(spec["cat_idx"], dtype=long))
            self.register_buffer("cat_sizes", torch.tensor(spec["cat_sizes"], dtype=long))
            self.register_buffer("cat_offsets", torch.tensor(spec["cat_offsets"], dtype=long))
            self.register_buffer("lookup", torch.tensor(spec["lookup"], dtype=long))
            self.register_buffer("y_mean", torch.tensor(spec["y_mean"], dtype=flt))
            self.register_buffer("y_std", torch.tensor(spec["y_std"], dtype=flt))
            self.embedding = nn.Embedding(max(1, spec["n_buckets"]), EMBEDDING_DIM)
            width = self.n_num + self.n_miss + self.n_cat * EMBEDDING_DIM
            layers: list = []
            for units in hidden:
                layers += [
                    nn.Linear(width, units),
                    nn.BatchNorm1d(units),
                    nn.ReLU(),
                    nn.Dropout(dropout),
                ]
                width = units
            layers.append(nn.Linear(width, n_out))
            self.body = nn.Sequential(*layers)

        def logits(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
            parts: list[torch.Tensor] = []  # type: ignore[name-defined]
            if self.n_num > 0:
                xn = x.index_select(1, self.num_idx)
                xn = torch.where(torch.isnan(xn), self.medians, xn)
                xn = torch.clamp((xn - self.means) / self.stds, -10.0, 10.0)
                parts.append(xn)
            if self.n_miss > 0:
                parts.append(torch.isnan(x.index_select(1, self.miss_idx)).to(torch.float32))
            if self.n_cat > 0:
                xc = x.index_select(1, self.cat_idx)
                codes = torch.where(torch.isnan(xc), torch.full_like(xc, -1.0), xc)
                codes = torch.clamp(codes, -1.0, 1.0e9).to(torch.long) + 1
                codes = torch.where(codes > self.cat_sizes, torch.zeros_like(codes), codes)
                buckets = self.lookup[codes + self.cat_offsets]
                parts.append(self.embedding(buckets).flatten(1))
            return self.body(torch.cat(parts, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
            out = self.logits(x)
            if self.classify:
                return torch.softmax(out, 1)
            return out[:, 0] * self.y_std + self.y_mean

    return TabularNet


# --------------------------------------------------------------------------- preprocessing
def preprocessing_spec(
    encoder: FeatureEncoder, X: np.ndarray, y: np.ndarray, classify: bool
) -> dict:
    """Imputation, scaling and category buckets, all from the training rows ``X``."""
    kinds = encoder.output_kinds
    sources = encoder.output_features
    num_idx = [j for j, k in enumerate(kinds) if k != "categorical"]
    cat_idx = [j for j, k in enumerate(kinds) if k == "categorical"]
    medians, means, stds, miss_idx = [], [], [], []
    for j in num_idx:
        col = X[:, j].astype(np.float64)
        finite = col[np.isfinite(col)]
        median = float(np.median(finite)) if finite.size else 0.0
        filled = np.where(np.isfinite(col), col, median)
        std = float(filled.std())
        medians.append(median)
        means.append(float(filled.mean()))
        stds.append(std if std > 1e-12 else 1.0)
        if finite.size < col.size:
            miss_idx.append(j)
    sizes: list[int] = []
    offsets: list[int] = []
    lookup: list[int] = []
    n_buckets = 0
    for j in cat_idx:
        n_levels = len(encoder.levels(sources[j]))
        codes = X[:, j]
        codes = codes[np.isfinite(codes)].astype(np.int64)
        counts = np.bincount(codes, minlength=n_levels)[:n_levels]
        order = np.argsort(-counts, kind="stable")[:MAX_LEVELS]
        kept = [int(c) for c in order if counts[c] >= MIN_LEVEL_ROWS]
        unknown, rare = n_buckets, n_buckets + 1
        segment = [unknown] + [rare] * n_levels  # slot 0: missing/unseen; slot c+1: level c
        for rank, code in enumerate(kept):
            segment[code + 1] = n_buckets + 2 + rank
        offsets.append(len(lookup))
        sizes.append(n_levels)
        lookup.extend(segment)
        n_buckets += 2 + len(kept)
    return {
        "num_idx": num_idx,
        "medians": medians,
        "means": means,
        "stds": stds,
        "miss_idx": miss_idx,
        "cat_idx": cat_idx,
        "cat_sizes": sizes,
        "cat_offsets": offsets,
        "lookup": lookup or [0],
        "n_buckets": n_buckets,
        "y_mean": 0.0 if classify else float(np.mean(y)),
        "y_std": 1.0 if classify else float(np.std(y)) or 1.0,
    }


# --------------------------------------------------------------------------- model
class MLPModel(FittedModel):
    artifact_name = "model.pt"

    def __init__(self, net: Any, meta: ModelMeta, threads: int = 1) -> None:
        super().__init__(meta)
        self.name = "mlp"
        self.net = net  # eval mode, on the CPU
        #: Threads for prediction on large inputs (small ones use one).
        self.threads = threads

    def predict(self, X: np.ndarray) -> np.ndarray:
        torch = _torch()
        torch.set_num_threads(threads_for(X.shape[0], self.threads))
        return _forward(torch, self.net, X, torch.device("cpu"))

    def save(self, out_dir: Path) -> Path:
        torch = _torch()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.artifact_name
        with warnings.catch_warnings():  # torch 2.x marks TorchScript deprecated; still supported
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(torch.jit.script(self.net), str(path))
        self.meta.write(path)
        return path


def _forward(torch: Any, net: Any, X: np.ndarray, device: Any) -> np.ndarray:
    """Eval-mode outputs for a numpy matrix, in batches."""
    parts = []
    with torch.no_grad():
        for start in range(0, X.shape[0], EVAL_BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(X[start : start + EVAL_BATCH]))
            parts.append(net(batch.to(device)).double().cpu().numpy())
    if not parts:
        return np.zeros((0,), dtype=np.float64)
    return np.concatenate(parts, axis=0)


class MLPTrainer(Trainer):
    """Fits :class:`TabularNet` with early stopping; keeps the per-epoch history."""

    name = "mlp"

    def __init__(
        self,
        max_epochs: int = MAX_EPOCHS,
        patience: int = PATIENCE,
        batch_size: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.threads = threads

    def fit(self, data: TrainingData) -> FittedModel:
        torch = _torch()
        if not data.encoder.feature_columns:
            raise DataError("data.train: no feature columns to fit the MLP on")
        torch.manual_seed(data.seed)
        torch.set_num_threads(self.threads or TRAIN_THREADS)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        X_fit, y_fit, X_val, y_val, note = self._validation(data)
        classify = data.task.is_classification
        spec = preprocessing_spec(data.encoder, X_fit, y_fit, classify)
        n_out = len(data.task.classes) if classify else 1
        net = _net_class()(spec, HIDDEN, DROPOUT, n_out, classify).to(device)
        batch = self.batch_size or (
            LARGE_BATCH_SIZE if len(X_fit) > LARGE_DATA_ROWS else BATCH_SIZE
        )
        history = _train(
            torch,
            net,
            device,
            (X_fit, y_fit),
            (X_val, y_val),
            spec,
            classify,
            batch,
            self.max_epochs,
            self.patience,
            data.seed,
        )
        net = net.cpu().eval()
        model = MLPModel(net, model_meta(data, self.name), data.threads)
        best = min(history, key=lambda r: r["val_loss"])
        model.history = history
        model.note = "; ".join(
            filter(
                None,
                [
                    note,
                    f"best validation loss at epoch {int(best['epoch'])} of {len(history)}",
                    f"batch {batch}, {device.type}",
                ],
            )
        )
        return model

    @staticmethod
    def _validation(data: TrainingData) -> tuple:
        X, y = data.X["train"], data.y["train"]
        if "validation" in data.y:
            return X, y, data.X["validation"], data.y["validation"], ""
        rng = np.random.default_rng(data.seed)
        order = rng.permutation(len(X))
        n_val = max(1, round(HOLDOUT_FRACTION * len(X)))
        val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
        note = f"no validation split: early stopping on a held-out {HOLDOUT_FRACTION:.0%} of train"
        return X[fit], y[fit], X[val], y[val], note


def _train(
    torch: Any,
    net: Any,
    device: Any,
    fit: tuple,
    val: tuple,
    spec: dict,
    classify: bool,
    batch: int,
    max_epochs: int,
    patience: int,
    seed: int,
) -> list[dict[str, float]]:
    """The epoch loop with early stopping; restores the best weights into ``net``."""
    X_fit = torch.from_numpy(np.ascontiguousarray(fit[0])).to(device)
    X_val = np.ascontiguousarray(val[0])
    if classify:
        y_fit = torch.from_numpy(fit[1].astype(np.int64)).to(device)
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        scaled = (fit[1] - spec["y_mean"]) / spec["y_std"]
        y_fit = torch.from_numpy(scaled.astype(np.float32)).to(device)
        loss_fn = torch.nn.MSELoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    n = X_fit.shape[0]
    history: list[dict[str, float]] = []
    best_loss, best_state, stale = float("inf"), None, 0
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(n, generator=generator).to(device)
        row: dict[str, float] = {"epoch": epoch}
        row.update(
            _train_epoch(torch, net, optimizer, loss_fn, X_fit, y_fit, order, batch, spec, classify)
        )
        net.eval()
        row.update(_validation_metrics(torch, net, device, X_val, val[1], spec, classify))
        history.append(_ordered(row, classify))
        if row["val_loss"] < best_loss - 1e-6:
            best_loss, best_state, stale = row["val_loss"], copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return history


def _train_epoch(
    torch: Any,
    net: Any,
    optimizer: Any,
    loss_fn: Any,
    X_fit: Any,
    y_fit: Any,
    order: Any,
    batch: int,
    spec: dict,
    classify: bool,
) -> dict[str, float]:
    """One pass over the training rows in ``order``: the mean loss and accuracy (or MAE), the
    mean global gradient L2 norm over the batches (``grad_norm``) and the learning rate."""
    net.train()
    total, correct, abs_err = 0.0, 0.0, 0.0
    seen = 0
    lr = float(optimizer.param_groups[0]["lr"])
    params = [p for p in net.parameters() if p.requires_grad]
    norm_sum = torch.zeros((), dtype=torch.float64, device=X_fit.device)
    steps = 0
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        if idx.numel() < 2:  # batch norm needs two rows
            continue
        out = net.logits(X_fit[idx])
        target = y_fit[idx]
        loss = loss_fn(out, target) if classify else loss_fn(out[:, 0], target)
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in params if p.grad is not None]
        norm_sum += torch.nn.utils.get_total_norm(grads, 2.0).double()  # summed on the device
        steps += 1
        optimizer.step()
        total += loss.item() * idx.numel()
        seen += idx.numel()
        with torch.no_grad():
            if classify:
                correct += (out.argmax(1) == target).sum().item()
            else:
                abs_err += (out[:, 0] - target).abs().sum().item() * spec["y_std"]
    row = {"train_loss": total / max(seen, 1)}
    if classify:
        row["train_accuracy"] = correct / max(seen, 1)
    else:
        row["train_mae"] = abs_err / max(seen, 1)
    row["grad_norm"] = float(norm_sum.item()) / steps if steps else float("nan")
    row["lr"] = lr
    return row


def _validation_metrics(
    torch: Any, net: Any, device: Any, X: np.ndarray, y: np.ndarray, spec: dict, classify: bool
) -> dict[str, float]:
    with torch.no_grad():
        parts = [
            net.logits(torch.from_numpy(X[s : s + EVAL_BATCH]).to(device)).cpu()
            for s in range(0, X.shape[0], EVAL_BATCH)
        ]
    out = torch.cat(parts, 0)
    if classify:
        target = torch.from_numpy(y.astype(np.int64))
        loss = float(torch.nn.functional.cross_entropy(out, target))
        return {"val_loss": loss, "val_accuracy": float((out.argmax(1) == target).double().mean())}
    scaled = torch.from_numpy(((y - spec["y_mean"]) / spec["y_std"]).astype(np.float32))
    loss = float(torch.nn.functional.mse_loss(out[:, 0], scaled))
    mae = float(
        (
            out[:, 0].double() * spec["y_std"]
            + spec["y_mean"]
            - torch.from_numpy(y.astype(np.float64))
        )
        .abs()
        .mean()
    )
    return {"val_loss": loss, "val_mae": mae}


def _ordered(row: dict[str, float], classify: bool) -> dict[str, float]:
    metric = "accuracy" if classify else "mae"
    keys = (
        "epoch",
        "train_loss",
        "val_loss",
        f"train_{metric}",
        f"val_{metric}",
        "grad_norm",
        "lr",
    )
    return {k: row[k] for k in keys}
