"""A crash is never a pass: even a native library's panic, which is no ``Exception``."""

from __future__ import annotations

import polars as pl

from qa.api import run_gate
from qa.base import Check, CheckResult
from qa.config import parse_config
from tests.conftest import make_classification_frame, random_split


class Panics(Check):
    """Raises what polars raises when its Rust code panics (a BaseException)."""

    id = "qa-test/panics"
    title = "Panics"

    def run(self, ctx, params) -> CheckResult:
        raise pl.exceptions.PanicException("assertion `left == right` failed")


def test_a_native_panic_in_a_check_is_an_error_and_the_other_checks_still_run():
    assert not issubclass(pl.exceptions.PanicException, Exception)
    train, test = random_split(make_classification_frame(n=300))
    config = parse_config(
        {"task": {"target": "label"}, "run": {"only": ["qa-test/panics", "data-volume"]}}
    )
    report = run_gate(config, frames={"train": train, "test": test}, extra_checks=[Panics])
    status = {c.id: c.status for c in report.checks}
    assert status == {"qa-test/panics": "error", "data-volume": status["data-volume"]}
    assert status["data-volume"] != "error"
    crashed = next(c for c in report.checks if c.id == "qa-test/panics")
    assert "PanicException" in crashed.message
    assert report.status == "error"


def test_a_native_panic_outside_the_checks_exits_2_not_1(monkeypatch):
    import qa.cli
    from tests.inprocess import run_qa

    def panic(*args, **kwargs):
        raise pl.exceptions.PanicException("assertion failed")

    monkeypatch.setattr(qa.cli.cli, "main", panic)
    run = run_qa("list")
    assert run.code == 2, run
    assert "internal error: PanicException" in run.err
