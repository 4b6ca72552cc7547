"""Can the model artifact serve? Size, load time, latency, throughput, memory, and parity."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from qa.base import Chart, Check, CheckResult, Evidence, Status, param, table
from qa.config import ModelConfig
from qa.context import Context
from qa.encoding import FeatureEncoder
from qa.metrics import fmt_level
from qa.models import LoadedModel, SplitInput, load_artifact
from qa.predictions import Predictions

#: The split whose prediction file the artifact must reproduce.
SPLIT = "test"
#: Splits the timed rows are drawn from, first present (and non-empty) wins.
ROW_SPLITS = ("test", "validation", "train")
#: One megabyte as the size bar counts it: 10^6 bytes.
MB = 1_000_000
#: Seconds between two reads of the resident set size while a batch predicts.
RSS_SAMPLE_S = 0.001
#: Rows of the parity table, at most.
MAX_PARITY_ROWS = 20
#: The quantile the latency bar applies to.
P95 = 0.95

#: The clock every timing reads. Module level so a test can substitute a deterministic one.
perf_counter: Callable[[], float] = time.perf_counter

Verdict = Literal["pass", "warn", "fail"]
RULES = ("parity", "latency", "throughput", "size")
_RANK = {"pass": 0, "warn": 1, "fail": 2}


class Serving(Check):
    """The model artifact is small, fast and faithful enough to serve, against declared SLAs.

    What it checks
    --------------
    With a model artifact (``[model] artifact``, any format qa-gate loads), it measures:

    - **size**: the artifact file in MB (10^6 bytes); a ``.qa.json`` sidecar is not counted;
    - **load time**: one fresh load of the file, after the runtime library (xgboost, torch,
      onnxruntime, skops) has been imported once, as a long-running server pays that once;
    - **single-row latency** p50, p95 and p99: ``warmup_calls`` untimed calls, then
      ``timed_calls`` timed ones, each on one row drawn (seeded, with replacement) from the
      test split (validation or train when there is none). The timed call is the model's own
      inference on one already-encoded row: XGBoost inplace_predict, a TorchScript forward
      pass, an ONNX Runtime session.run; for other formats (skops, trusted pickle) qa-gate's
      predict on one row, which adds a little output conversion. Feature encoding is not timed:
      the serving stack brings its own. XGBoost and TorchScript run on one thread, as a
      request is served; ONNX Runtime with the threads of the session qa-gate opens;
    - **batch throughput**: rows per second of one predict call on up to ``throughput_rows``
      test rows (a seeded sample), encoded beforehand, ``throughput_repeats`` timed repeats
      after one untimed call, with the run's threads; the best and the median repeat;
    - **peak memory while predicting**: how far the process's resident set size (RSS) rose
      above its level before the untimed batch call. tracemalloc sees only Python's own
      allocations, not those of XGBoost, torch or ONNX Runtime, so RSS is read instead: from
      /proc/self/statm every millisecond during the call, and the process's high-water mark
      (``getrusage`` ru_maxrss) before and after; a new high-water mark set during the call is
      its exact peak. Limits: a spike shorter than a millisecond that stays below the
      process's earlier peak can be missed; memory the process already held (a previous call's
      freed buffers) is reused without raising RSS, so the growth is a lower bound of what a
      fresh serving process needs; RSS counts the whole process; without /proc (macOS) only
      the high-water mark is read (0 unless the call set a new peak), and on Windows nothing;
    - **parity**, when a test prediction file is given too: the artifact's own predictions on
      the test split against the file's. Rows differ when the predicted labels differ or, with
      probabilities on both sides, a class probability differs by more than
      ``parity_tolerance``; for regression, when a value differs by more than
      ``parity_tolerance`` times max(1, |file value|). The artifact's label is its most
      probable class (binary with ``[task] threshold``: the positive class when its
      probability reaches the threshold).

    Why it matters
    --------------
    A model that clears every metric can still miss its service-level agreement: a p95 latency
    the API cannot afford, an artifact too large for the serving image, a throughput that
    cannot keep up with the batch job. And the gate judges the prediction files it is given:
    if the exported artifact is not the model that produced them (an older checkpoint, a
    different feature order, a lost preprocessing step), every verdict in the report is about
    a model that will never serve.

    How it decides
    --------------
    Each bar is optional and declared in ``[model]``: latency_p95_ms, max_size_mb,
    min_rows_per_second. The check skips, saying so, when none is declared and no test
    prediction file is given: there is nothing to hold the measurements to.

    - Size: fails when the artifact is larger than max_size_mb (a fixed rule: size is exact).
    - Latency: timings are noisy, so the point estimate alone never fails. Fails when the
      distribution-free one-sided lower confidence bound of the p95 is above the bar: the
      largest order statistic t(k) of the timed calls with P(Binomial(n, 0.95) >= k) at least
      1 - alpha, alpha being the check's share of ``[run] false_alarm_rate`` (the whole rate
      when it runs alone; this is its one statistical fail rule). Warns when the measured p95
      is above the bar but the bound is not. The bound covers the call-to-call noise of this
      run (it treats the timed calls as independent), not a slower or busier machine: declare
      the bar for the machine the gate runs on.
    - Throughput: noise only ever slows a repeat down, so the best repeat is the machine's
      capacity: fails when even the best repeat is below min_rows_per_second, warns when the
      median repeat is below it.
    - Parity: fails when any test row differs (the exported model is not the evaluated one),
      naming how many rows differ and the largest difference.

    The latency and throughput stages each stop early once they have run for ``time_budget_s``
    seconds (at least one timed call each); the report says how many calls were timed.

    How to fix
    ----------
    Parity: export the artifact from the very model that wrote the evaluated predictions, or
    regenerate the prediction file from the artifact (``qa train`` writes both together); check
    the feature order and every preprocessing step of the export. Latency or throughput: a
    smaller model (fewer or shallower trees, a narrower network), ONNX Runtime with graph
    optimisations, dynamic quantisation, more threads for batches ([run] threads); rerun on an
    idle machine if CI runners are shared. Size: prune or quantise, drop unused features, or
    store the weights in a compact format (XGBoost UBJ instead of JSON). Change a bar only with
    the people who set it.
    """

    id = "serving"
    title = "Model artifact can serve"
    requires = ("model",)
    severity = "error"
    fail_tests = 1

    @dataclass(frozen=True)
    class Params:
        warmup_calls: int = param(
            20, "Untimed single-row calls before the timed ones (caches, lazy set-up).", ge=0
        )
        timed_calls: int = param(
            200, "Timed single-row calls the latency percentiles come from.", ge=10
        )
        throughput_rows: int = param(
            10_000,
            "Test rows in the batch whose throughput is measured (all when fewer).",
            ge=1,
        )
        throughput_repeats: int = param(
            3, "Timed repeats of the batch call; the best and the median are reported.", ge=1
        )
        time_budget_s: float = param(
            30.0,
            "Seconds after which the latency calls, and separately the batch repeats, stop "
            "early (at least one timed call each).",
            gt=0.0,
        )
        parity_tolerance: float = param(
            1e-6,
            "Largest probability difference (regression: relative difference) between the "
            "artifact's and the prediction file's test predictions that still counts as equal.",
            ge=0.0,
        )

    def run(self, ctx: Context, params: Params) -> CheckResult:
        bars = Bars.of(ctx.config.model)
        has_file = SPLIT in ctx.prediction_sources and ctx.has_split(SPLIT)
        if not bars.declared and not has_file:
            return self.skip(
                "no serving bar is declared ([model] latency_p95_ms, max_size_mb, "
                "min_rows_per_second) and no test prediction file is given to compare the "
                "artifact with: nothing to judge"
            )
        # measure
        ctx.model_artifact()  # the runtime library is imported, and a bad file errors as usual
        path = str(ctx.config.model.artifact)
        size_mb = Path(path).stat().st_size / MB
        start = perf_counter()
        loaded = load_artifact(path, ctx.config.model.trust)
        load_s = perf_counter() - start
        rows = ServingRows.of(ctx, loaded)
        latency = measure_latency(ctx, loaded, rows, params)
        batch = measure_throughput(ctx, loaded, rows, params)
        parity = (
            compare(
                ctx.predictions(SPLIT),
                ctx.artifact_predictions(SPLIT),
                params.parity_tolerance,
                _decisions(ctx),
            )
            if has_file
            else None
        )
        alpha = ctx.false_alarm_share(self.id)
        bound = quantile_lower_bound(latency.times_ms, P95, alpha)
        # decide
        verdicts = decide(size_mb, latency.p95, bound, batch, parity, bars)
        return self._explain(
            Measured(size_mb, load_s, latency, bound, batch, parity, alpha, rows),
            verdicts,
            bars,
            params,
        )

    # ------------------------------------------------------------------ explain
    def _explain(
        self, m: Measured, verdicts: dict[str, Verdict], bars: Bars, params: Params
    ) -> CheckResult:
        status = overall(verdicts)
        findings = [_finding(rule, verdicts[rule], m, bars) for rule in RULES if rule in verdicts]
        bad = [f for f in findings if f.verdict != "pass"]
        summary = (
            f"{m.rows.format}: {m.size_mb:.3g} MB, loads in {m.load_s * 1000:.0f} ms, "
            f"single-row p95 {m.latency.p95:.3g} ms, {m.batch.best:,.0f} rows/s"
        )
        if bad:
            message = "; ".join(f.text for f in sorted(bad, key=lambda f: -_RANK[f.verdict]))
            message += f" ({summary})"
        else:
            judged = ", ".join(f.text for f in findings)
            message = f"{summary}; {judged}"
        if not bars.declared:
            message += "; no serving bar declared ([model] latency_p95_ms, max_size_mb, ...)"
        remedy = " ".join(dict.fromkeys(f.remedy for f in bad)) if bad else ""
        evidence = [_measurements_table(m, verdicts, bars, params)]
        if m.parity is not None:
            evidence.append(_parity_table(m.parity, params.parity_tolerance))
        return self.result(
            status,
            message,
            metrics=_metric_values(m),
            thresholds=_thresholds(bars, m, params),
            evidence=evidence,
            charts=[_latency_chart(m.latency, bars.latency_p95_ms)],
            subjects=[f.subject for f in bad],
            remedy=remedy or None,
        )


# --------------------------------------------------------------------------- bars
@dataclass(frozen=True)
class Bars:
    """The serving bars declared in ``[model]`` (None: not declared)."""

    latency_p95_ms: float | None
    max_size_mb: float | None
    min_rows_per_second: float | None

    @classmethod
    def of(cls, model: ModelConfig) -> Bars:
        return cls(model.latency_p95_ms, model.max_size_mb, model.min_rows_per_second)

    @property
    def declared(self) -> bool:
        return any(
            b is not None for b in (self.latency_p95_ms, self.max_size_mb, self.min_rows_per_second)
        )


# --------------------------------------------------------------------------- measure: rows
@dataclass(frozen=True)
class ServingRows:
    """The rows the model is timed on, encoded the model's way (its sidecar's encoder, else
    the run's), and which call times one row."""

    split: str
    frame: pl.DataFrame
    encoder: FeatureEncoder
    matrix: np.ndarray
    format: str

    @classmethod
    def of(cls, ctx: Context, loaded: LoadedModel) -> ServingRows:
        split = next(
            (s for s in ROW_SPLITS if ctx.has_split(s) and ctx.frame(s).height > 0), "train"
        )
        encoder = loaded.meta.encoder if loaded.meta else ctx.encoder
        matrix = ctx.split_input(split).features(encoder)
        return cls(split, ctx.frame(split), encoder, matrix, loaded.format)

    @property
    def n(self) -> int:
        return self.frame.height

    def input(self, rows: np.ndarray) -> SplitInput:
        """The chosen rows as a model reads them, the encoded matrix precomputed."""
        part = self.matrix[rows]
        return SplitInput(self.split, self.frame[rows], self.encoder, lambda: part)


def single_row_call(
    loaded: LoadedModel, rows: ServingRows, ctx: Context
) -> tuple[Callable[[int], Any], str]:
    """A function predicting row ``i`` alone, and what it calls (for the report).

    The model's own inference on one encoded row where the format has one; otherwise
    qa-gate's predict on one row.
    """
    X = rows.matrix
    model = loaded.model
    if loaded.format in ("xgboost-json", "xgboost-ubj"):
        model.set_param({"nthread": 1})
        return (lambda i: model.inplace_predict(X[i : i + 1])), "XGBoost inplace_predict"
    if loaded.format == "torchscript":
        import torch

        torch.set_num_threads(1)

        def forward(i: int) -> Any:
            with torch.no_grad():
                return model(torch.from_numpy(np.ascontiguousarray(X[i : i + 1])))

        return forward, "TorchScript forward"
    if loaded.format == "onnx":
        name = model.get_inputs()[0].name
        return (lambda i: model.run(None, {name: X[i : i + 1]})), "ONNX Runtime session.run"
    return (
        lambda i: loaded.predict(rows.input(np.array([i])), ctx.task_spec, 1)
    ), f"qa-gate predict ({loaded.format}), output conversion included"


# --------------------------------------------------------------------------- measure: latency
@dataclass(frozen=True)
class Latency:
    """Single-row call times in milliseconds, sorted, and how they were taken."""

    times_ms: np.ndarray
    warmup: int
    call: str
    stopped_early: bool

    @property
    def n(self) -> int:
        return len(self.times_ms)

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.times_ms, q))

    @property
    def p50(self) -> float:
        return self.quantile(0.5)

    @property
    def p95(self) -> float:
        return self.quantile(P95)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)


def measure_latency(
    ctx: Context, loaded: LoadedModel, rows: ServingRows, params: Serving.Params
) -> Latency:
    """``warmup_calls`` untimed, then up to ``timed_calls`` timed single-row calls on rows
    drawn with replacement from the split (seeded), within ``time_budget_s``."""
    call, what = single_row_call(loaded, rows, ctx)
    draws = np.random.default_rng([ctx.seed, 9_001]).integers(
        0, rows.n, params.warmup_calls + params.timed_calls
    )
    warm, timed = draws[: params.warmup_calls], draws[params.warmup_calls :]
    start = perf_counter()
    warmed = 0
    for i in warm:
        call(int(i))
        warmed += 1
        if perf_counter() - start > params.time_budget_s:
            break
    times: list[float] = []
    for i in timed:
        t0 = perf_counter()
        call(int(i))
        t1 = perf_counter()
        times.append((t1 - t0) * 1000.0)
        if t1 - start > params.time_budget_s:
            break
    return Latency(np.sort(np.asarray(times)), warmed, what, len(times) < len(timed))


def quantile_lower_bound(sorted_values: np.ndarray, q: float, alpha: float) -> float | None:
    """Distribution-free one-sided lower confidence bound of the ``q`` quantile.

    With ``B`` the number of the ``n`` values at or below the true quantile, ``B ~ Binomial(n,
    q)`` (stochastically larger for a discrete clock), and the k-th smallest value lies at or
    below the quantile exactly when ``B >= k``. The bound is the largest order statistic with
    ``P(B >= k) >= 1 - alpha``; None when even the smallest value is not low enough (tiny n).
    """
    from scipy.stats import binom

    n = len(sorted_values)
    if n == 0:
        return None
    k = np.arange(1, n + 1)
    covered = np.nonzero(binom.sf(k - 1, n, q) >= 1.0 - alpha)[0]
    if covered.size == 0:
        return None
    return float(sorted_values[covered[-1]])


# --------------------------------------------------------------------------- measure: batches
@dataclass(frozen=True)
class Throughput:
    """Rows per second of each timed batch repeat, and the memory the untimed call took."""

    rows: int
    rates: tuple[float, ...]
    peak_rss_mb: float | None
    memory_method: str
    stopped_early: bool

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def median(self) -> float:
        return float(np.median(self.rates))


def measure_throughput(
    ctx: Context, loaded: LoadedModel, rows: ServingRows, params: Serving.Params
) -> Throughput:
    """One untimed batch call (its peak memory measured), then ``throughput_repeats`` timed
    ones on up to ``throughput_rows`` rows (a seeded sample), within ``time_budget_s``."""
    n = min(rows.n, params.throughput_rows)
    chosen = np.sort(np.random.default_rng([ctx.seed, 9_002]).permutation(rows.n)[:n])
    inp = rows.input(chosen)

    def predict() -> Predictions:
        return loaded.predict(inp, ctx.task_spec, ctx.n_threads)

    peak_mb, method = peak_rss_growth_mb(predict)
    rates: list[float] = []
    start = perf_counter()
    for _ in range(params.throughput_repeats):
        t0 = perf_counter()
        predict()
        t1 = perf_counter()
        rates.append(n / max(t1 - t0, 1e-9))
        if t1 - start > params.time_budget_s:
            break
    return Throughput(n, tuple(rates), peak_mb, method, len(rates) < params.throughput_repeats)


def rss_bytes() -> int | None:
    """The process's resident set size now, from /proc/self/statm (None without /proc)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def high_water_bytes() -> int | None:
    """The process's peak resident set size so far (getrusage ru_maxrss), None on Windows."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def peak_rss_growth_mb(fn: Callable[[], Any]) -> tuple[float | None, str]:
    """How far RSS rose above its starting level while ``fn`` ran (MB), and how it was read.

    RSS is sampled every ``RSS_SAMPLE_S`` seconds by a thread; a high-water mark that rose
    during the call is the exact peak. See the check's docstring for the limits.
    """
    start, high_before = rss_bytes(), high_water_bytes()
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(RSS_SAMPLE_S):
            value = rss_bytes()
            if value is not None:
                samples.append(value)

    sampler = threading.Thread(target=sample, daemon=True) if start is not None else None
    if sampler is not None:
        sampler.start()
    try:
        fn()
    finally:
        stop.set()
        if sampler is not None:
            sampler.join()
    end, high_after = rss_bytes(), high_water_bytes()
    if start is None:
        if high_before is None or high_after is None:
            return None, "not measurable on this platform (no /proc, no getrusage)"
        return (high_after - high_before) / MB, (
            "rise of the process's peak RSS (getrusage ru_maxrss; 0 unless the call set a new "
            "peak): a lower bound"
        )
    peak = max([start, *samples, *([end] if end is not None else [])])
    if high_before is not None and high_after is not None and high_after > high_before:
        peak = max(peak, high_after)  # the call set a new high-water mark: its exact peak
    return max(0, peak - start) / MB, (
        f"RSS from /proc/self/statm every {RSS_SAMPLE_S * 1000:g} ms during the call, and the "
        "process's high-water mark (getrusage ru_maxrss) when the call raised it"
    )


# --------------------------------------------------------------------------- measure: parity
@dataclass(frozen=True)
class Decisions:
    """How the artifact's probabilities become labels, as the task declares it."""

    task: str
    class_names: tuple[str, ...]
    positive_index: int | None
    threshold: float | None
    ids: Sequence[Any] | None


def _decisions(ctx: Context) -> Decisions:
    binary = ctx.task == "binary"
    id_column = ctx.config.task.id
    frame = ctx.frame(SPLIT)
    return Decisions(
        ctx.task,
        tuple(ctx.class_names),
        ctx.positive_index if binary else None,
        ctx.config.task.threshold if binary else None,
        frame[id_column].to_list() if id_column and id_column in frame.columns else None,
    )


@dataclass(frozen=True)
class Parity:
    """Where the artifact and the prediction file disagree on the test split."""

    rows: int
    differing: int
    label_mismatches: int
    #: Largest probability (regression: relative value) difference; None without both sides.
    max_difference: float | None
    compared: str
    #: (row, file prediction, artifact prediction, difference) for the first differing rows.
    examples: tuple[tuple[Any, Any, Any, float | None], ...]


def compare(file: Predictions, model: Predictions, tolerance: float, how: Decisions) -> Parity:
    """Compare the artifact's predictions with the file's, row by row."""
    if how.task == "regression":
        a = np.asarray(file.values, dtype=np.float64)
        b = np.asarray(model.values, dtype=np.float64)
        relative = np.abs(a - b) / np.maximum(1.0, np.abs(a))
        off = relative > tolerance
        shown = [(i, a[i], b[i], relative[i]) for i in np.flatnonzero(off)[:MAX_PARITY_ROWS]]
        return Parity(
            len(a),
            int(off.sum()),
            0,
            float(relative.max()) if len(relative) else 0.0,
            "values (relative to max(1, |file value|))",
            _with_ids(shown, how),
        )
    file_labels = np.asarray(file.labels)
    model_labels = _artifact_labels(model, how)
    mismatch = file_labels != model_labels
    diff: np.ndarray | None = None
    if file.proba is not None and model.proba is not None:
        diff = np.abs(np.asarray(file.proba) - np.asarray(model.proba)).max(axis=1)
        bad = mismatch | (diff > tolerance)
        compared = "labels and class probabilities"
    else:
        bad = mismatch
        side = "the prediction file" if file.proba is None else "the artifact"
        compared = f"labels only ({side} gives no probabilities)"
    names = how.class_names
    shown = [
        (i, names[file_labels[i]], names[model_labels[i]], None if diff is None else diff[i])
        for i in np.flatnonzero(bad)[:MAX_PARITY_ROWS]
    ]
    return Parity(
        len(file_labels),
        int(bad.sum()),
        int(mismatch.sum()),
        None if diff is None else (float(diff.max()) if len(diff) else 0.0),
        compared,
        _with_ids(shown, how),
    )


def _artifact_labels(model: Predictions, how: Decisions) -> np.ndarray:
    """The artifact's labels: its most probable class, or the declared binary threshold's."""
    if model.proba is not None and how.threshold is not None and how.positive_index is not None:
        pos = how.positive_index
        return np.where(model.proba[:, pos] >= how.threshold, pos, 1 - pos)
    return np.asarray(model.labels)


def _with_ids(
    rows: list[tuple[Any, Any, Any, Any]], how: Decisions
) -> tuple[tuple[Any, Any, Any, float | None], ...]:
    """Name each row by its id when the task has an id column, else by its 0-based index."""
    return tuple(
        (
            how.ids[int(i)] if how.ids is not None else int(i),
            a,
            b,
            None if d is None else float(d),
        )
        for i, a, b, d in rows
    )


# --------------------------------------------------------------------------- decide
def decide(
    size_mb: float,
    p95_ms: float,
    p95_lower_ms: float | None,
    batch: Throughput,
    parity: Parity | None,
    bars: Bars,
) -> dict[str, Verdict]:
    """A verdict per judged rule (undeclared bars and a missing prediction file are not
    judged): size over its bar fails; latency fails when the p95's lower bound is over the
    bar, warns when only the p95 is; throughput fails when its best repeat is under the bar,
    warns when its median is; parity fails on any differing row."""
    out: dict[str, Verdict] = {}
    if bars.max_size_mb is not None:
        out["size"] = "fail" if size_mb > bars.max_size_mb else "pass"
    if bars.latency_p95_ms is not None:
        bar = bars.latency_p95_ms
        if p95_ms <= bar:
            out["latency"] = "pass"
        elif p95_lower_ms is not None and p95_lower_ms > bar:
            out["latency"] = "fail"
        else:
            out["latency"] = "warn"
    if bars.min_rows_per_second is not None:
        bar = bars.min_rows_per_second
        if batch.best < bar:
            out["throughput"] = "fail"
        elif batch.median < bar:
            out["throughput"] = "warn"
        else:
            out["throughput"] = "pass"
    if parity is not None:
        out["parity"] = "fail" if parity.differing else "pass"
    return out


def overall(verdicts: dict[str, Verdict]) -> Status:
    """The worst verdict; pass when nothing was judged."""
    return max(verdicts.values(), key=lambda v: _RANK[v], default="pass")


# --------------------------------------------------------------------------- explain
@dataclass(frozen=True)
class Measured:
    """Everything measured, for the wording."""

    size_mb: float
    load_s: float
    latency: Latency
    p95_lower_ms: float | None
    batch: Throughput
    parity: Parity | None
    alpha: float
    rows: ServingRows


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    text: str
    subject: str
    remedy: str


REMEDIES = {
    "size": (
        "Shrink the artifact: fewer or shallower trees, a narrower network, pruning or "
        "quantisation, unused features dropped, or XGBoost UBJ instead of JSON."
    ),
    "latency": (
        "Make one prediction cheaper: a smaller model, ONNX Runtime with graph optimisations, "
        "dynamic quantisation; if the CI runner is shared, rerun on an idle one (the bound "
        "covers call-to-call noise, not a busier machine)."
    ),
    "throughput": (
        "Raise batch throughput: more threads ([run] threads), a lighter model, or ONNX "
        "Runtime; if the CI runner is shared, rerun on an idle one."
    ),
    "parity": (
        "The exported model is not the evaluated one: export the artifact from the model that "
        "wrote the prediction file (or regenerate the file from the artifact; qa train writes "
        "both together), and check the export's feature order and preprocessing."
    ),
}


def _finding(rule: str, verdict: Verdict, m: Measured, bars: Bars) -> Finding:
    subject = {
        "size": "max_size_mb",
        "latency": "latency_p95_ms",
        "throughput": "min_rows_per_second",
        "parity": "parity",
    }[rule]
    if rule == "size":
        relation = "exceeds" if verdict == "fail" else "is within"
        text = f"artifact size {m.size_mb:.3g} MB {relation} max_size_mb {bars.max_size_mb:g}"
    elif rule == "latency":
        lat = m.latency
        bound = "n/a" if m.p95_lower_ms is None else f"{m.p95_lower_ms:.3g} ms"
        level = fmt_level(1.0 - m.alpha)
        where = f"one-sided {level} lower bound {bound}, {lat.n} timed calls"
        if verdict == "fail":
            text = (
                f"single-row p95 latency {lat.p95:.3g} ms exceeds latency_p95_ms "
                f"{bars.latency_p95_ms:g} ms beyond noise ({where})"
            )
        elif verdict == "warn":
            text = (
                f"single-row p95 latency {lat.p95:.3g} ms is above latency_p95_ms "
                f"{bars.latency_p95_ms:g} ms, but within noise ({where}): rerun, or with more "
                "timed_calls"
            )
        else:
            text = f"p95 {lat.p95:.3g} ms meets latency_p95_ms {bars.latency_p95_ms:g} ms"
    elif rule == "throughput":
        b = m.batch
        bar = bars.min_rows_per_second
        if verdict == "fail":
            text = (
                f"batch throughput {b.best:,.0f} rows/s (best of {len(b.rates)}) is below "
                f"min_rows_per_second {bar:,.0f}"
            )
        elif verdict == "warn":
            text = (
                f"batch throughput reaches min_rows_per_second {bar:,.0f} only in its best "
                f"repeat ({b.best:,.0f} rows/s; median {b.median:,.0f})"
            )
        else:
            text = f"{b.best:,.0f} rows/s meets min_rows_per_second {bar:,.0f}"
    else:
        p = m.parity
        assert p is not None
        if verdict == "fail":
            largest = (
                "" if p.max_difference is None else f", largest difference {p.max_difference:.3g}"
            )
            text = (
                f"the exported model is not the evaluated one: its test predictions differ "
                f"from the prediction file's on {p.differing:,} of {p.rows:,} rows "
                f"({p.label_mismatches:,} with another label{largest})"
            )
        else:
            text = f"its test predictions equal the prediction file's ({p.compared})"
    return Finding(verdict, text, subject, REMEDIES[rule])


def _metric_values(m: Measured) -> dict[str, float | None]:
    lat, b = m.latency, m.batch
    values: dict[str, float | None] = {
        "size_mb": m.size_mb,
        "load_time_s": m.load_s,
        "latency_p50_ms": lat.p50,
        "latency_p95_ms": lat.p95,
        "latency_p99_ms": lat.p99,
        "latency_p95_lower_bound_ms": m.p95_lower_ms,
        "latency_calls": lat.n,
        "warmup_calls": lat.warmup,
        "rows_per_second": b.best,
        "rows_per_second_median": b.median,
        "throughput_rows": b.rows,
        "throughput_repeats": len(b.rates),
        "peak_rss_growth_mb": b.peak_rss_mb,
    }
    if m.parity is not None:
        values.update(
            {
                "parity_rows": m.parity.rows,
                "parity_rows_differing": m.parity.differing,
                "parity_label_mismatches": m.parity.label_mismatches,
                "parity_max_difference": m.parity.max_difference,
            }
        )
    return values


def _thresholds(bars: Bars, m: Measured, params: Serving.Params) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if bars.latency_p95_ms is not None:
        out["max_latency_p95_ms"] = bars.latency_p95_ms
        out["false_alarm_share"] = m.alpha
    if bars.max_size_mb is not None:
        out["max_size_mb"] = bars.max_size_mb
    if bars.min_rows_per_second is not None:
        out["min_rows_per_second"] = bars.min_rows_per_second
    if m.parity is not None:
        out["parity_tolerance"] = params.parity_tolerance
    return out


def _measurements_table(
    m: Measured, verdicts: dict[str, Verdict], bars: Bars, params: Serving.Params
) -> Evidence:
    lat, b = m.latency, m.batch
    level = fmt_level(1.0 - m.alpha)
    rows = [
        ("artifact size (MB)", m.size_mb, bars.max_size_mb, verdicts.get("size", "")),
        ("load time (s)", m.load_s, None, ""),
        ("single-row latency p50 (ms)", lat.p50, None, ""),
        ("single-row latency p95 (ms)", lat.p95, bars.latency_p95_ms, verdicts.get("latency", "")),
        (f"p95 one-sided {level} lower bound (ms)", m.p95_lower_ms, None, ""),
        ("single-row latency p99 (ms)", lat.p99, None, ""),
        (
            f"batch throughput, best of {len(b.rates)} (rows/s)",
            b.best,
            bars.min_rows_per_second,
            verdicts.get("throughput", ""),
        ),
        ("batch throughput, median (rows/s)", b.median, None, ""),
        ("peak RSS growth while predicting the batch (MB)", b.peak_rss_mb, None, ""),
    ]
    notes = [
        f"{m.rows.format} artifact; single-row calls: {lat.call}, {lat.n} timed after "
        f"{lat.warmup} warm-up, rows drawn (seeded) from {m.rows.split}",
        f"batch: qa-gate predict on {b.rows:,} {m.rows.split} rows encoded beforehand",
        f"memory: {b.memory_method}",
    ]
    if lat.stopped_early or b.stopped_early:
        notes.append(f"stopped early at time_budget_s = {params.time_budget_s:g} s")
    if lat.n < 100:
        notes.append("p99 rests on fewer than 100 calls: read it as the maximum")
    return table(
        "Serving measurements", ["measure", "value", "bar", "verdict"], rows, note="; ".join(notes)
    )


def _parity_table(p: Parity, tolerance: float) -> Evidence:
    return table(
        f"Test rows where the artifact and the prediction file differ ({p.differing:,} of "
        f"{p.rows:,})",
        ["row", "prediction file", "artifact", "difference"],
        p.examples,
        note=f"compared: {p.compared}; tolerance {tolerance:g}",
        max_rows=MAX_PARITY_ROWS,
    )


def _latency_chart(lat: Latency, bar: float | None) -> Chart:
    return Chart(
        "bars",
        "Single-row latency (ms) against its bar",
        {
            "labels": ["p50", "p95", "p99"],
            "series": {"latency_ms": [lat.p50, lat.p95, lat.p99]},
            "threshold": bar,
        },
    )
