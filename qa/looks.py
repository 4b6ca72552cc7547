"""Test-set looks: how often has this test set been evaluated with new predictions?

Every evaluation of a test set with new predictions is a look, and every look leaks a little
of the test set into the choices made after it (a feature kept because the test score rose, a
threshold nudged): after enough looks the test score is an optimistic, tuned-on number. The
count travels in the report (``test_looks``), not in a hidden state file:

- without a baseline report, this run is look 1 when test predictions exist, else 0;
- ``qa check --baseline main.json`` carries main's count forward and adds one when the test
  predictions' fingerprint changed (an identical rerun is not a new look);
- a different test set (its fingerprint changed — e.g. drawn afresh, see ``qa lock --rotate``)
  starts again at 1.

``split-hygiene`` warns once the count passes ``max_test_looks`` (default 20).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TestLooks:
    """The look count of this run's test set and the fingerprints it was counted from."""

    __test__ = False  # not a pytest test class

    count: int
    test_sha256: str | None
    predictions_sha256: str | None
    #: This run evaluated new predictions (a look was added).
    new_look: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "test_sha256": self.test_sha256,
            "predictions_sha256": self.predictions_sha256,
            "new_look": self.new_look,
        }


def count_looks(
    base: Mapping[str, Any] | None, test_sha256: str | None, predictions_sha256: str | None
) -> TestLooks:
    """This run's look count, from the baseline report's ``test_looks`` (None: no baseline)."""
    if test_sha256 is None or predictions_sha256 is None:  # nothing evaluated on test
        carried = int(base.get("count", 0)) if base else 0
        return TestLooks(carried, test_sha256, predictions_sha256, False)
    if not base or base.get("test_sha256") != test_sha256:  # first look, or a fresh test set
        return TestLooks(1, test_sha256, predictions_sha256, True)
    new = base.get("predictions_sha256") != predictions_sha256
    return TestLooks(int(base.get("count", 0)) + int(new), test_sha256, predictions_sha256, new)


def predictions_fingerprint(
    predictions_path: str | None, artifact_path: str | None, test_sha256: str | None
) -> str | None:
    """What "the same test predictions" means: the prediction file's bytes, else the model
    artifact's bytes (it predicts test afresh), else None (nothing is evaluated)."""
    import hashlib
    from pathlib import Path

    from qa.data import file_sha256

    if predictions_path:  # a file not written yet (a data-only run before `qa train`): no look
        return file_sha256(predictions_path) if Path(predictions_path).is_file() else None
    if artifact_path and test_sha256 and Path(artifact_path).is_file():
        joined = f"{file_sha256(artifact_path)}:{test_sha256}"
        return hashlib.sha256(joined.encode()).hexdigest()
    return None
