"""Shared fixtures: seeded data generators for clean and defective inputs."""

from __future__ import annotations

import os

# As the CLI does: passive OpenMP waiting, set before xgboost or torch load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import polars as pl
import pytest


def make_classification_frame(
    n: int = 2000, n_classes: int = 2, seed: int = 0, n_numeric: int = 4, signal: float = 1.5
) -> pl.DataFrame:
    """A learnable table: numeric features shifted by class, one categorical, a label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    data = {
        f"num_{i}": rng.normal(size=n) + signal * (y == (i % n_classes)) for i in range(n_numeric)
    }
    data["cat"] = rng.choice(["red", "green", "blue"], n)
    data["label"] = y
    return pl.DataFrame(data)


def random_split(frame: pl.DataFrame, fractions=(0.8, 0.2), seed: int = 0) -> list[pl.DataFrame]:
    """Shuffle rows with a seed and cut them into consecutive parts."""
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    out, start = [], 0
    for i, frac in enumerate(fractions):
        stop = shuffled.height if i == len(fractions) - 1 else start + int(frac * shuffled.height)
        out.append(shuffled.slice(start, stop - start))
        start = stop
    return out


@pytest.fixture
def binary_frame() -> pl.DataFrame:
    return make_classification_frame()


@pytest.fixture(autouse=True)
def _only_builtin_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the checks shipped with qa-gate unless a test opts in to plugins.

    They also never write into a real GitHub Actions step summary when CI itself runs there.
    """
    monkeypatch.setenv("QA_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
