"""scikit-learn's bundled datasets (no download) as the benchmarks use them: float64 features
with spaces in names kept, and the target as class names (or integers, or values)."""

from __future__ import annotations

from typing import Any

import numpy as np

#: name -> (loader name in sklearn.datasets, task, whether the target has class names)
BUNDLED: dict[str, tuple[str, str, bool]] = {
    "breast_cancer": ("load_breast_cancer", "binary", True),
    "wine": ("load_wine", "multiclass", True),
    "iris": ("load_iris", "multiclass", True),
    "digits": ("load_digits", "multiclass", False),
    "diabetes": ("load_diabetes", "regression", False),
}


def load_bundled(name: str) -> tuple[Any, np.ndarray, str]:
    """(features as a float64 pandas frame, target array, task) of a bundled dataset."""
    from sklearn import datasets as skd

    loader, task, named = BUNDLED[name]
    bunch = getattr(skd, loader)(as_frame=True)
    x = bunch.data.astype("float64").copy()
    y = bunch.target.to_numpy()
    if task != "regression":
        y = np.asarray(bunch.target_names)[y] if named else y.astype(np.int64)
    return x, y, task
