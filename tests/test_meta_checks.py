"""Every registered check keeps the contract: docs, parameters, tests with clean and defective cases."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qa.base import explain, param_infos
from qa.registry import load_registry
from qa.testing import assert_docs

REGISTRY = load_registry()
TESTS = Path(__file__).parent / "checks"


@pytest.mark.parametrize("check_id", list(REGISTRY))
def test_check_docs_and_params_are_complete(check_id: str):
    check_cls = REGISTRY[check_id].check
    assert_docs(check_cls)
    for f in dataclasses.fields(check_cls.Params):
        assert f.metadata.get("doc"), f"{check_id}.{f.name} lacks a description"
    text = explain(check_cls)
    for info in param_infos(check_cls.Params):
        assert info.name in text


@pytest.mark.parametrize("check_id", list(REGISTRY))
def test_every_builtin_check_has_its_test_module(check_id: str):
    reg = REGISTRY[check_id]
    assert reg.builtin
    module = reg.check.__module__.rsplit(".", 1)[-1]
    test_file = TESTS / f"test_{module}.py"
    assert test_file.exists(), f"{check_id}: expected clean/defective tests in {test_file}"
    source = test_file.read_text()
    assert "check_contract" in source, f"{test_file} should run qa.testing.check_contract"


def test_builtin_ids_are_unique_kebab_case_and_ordered():
    ids = list(REGISTRY)
    assert len(ids) == len(set(ids))
    assert ids[0] in ("schema", "data-volume")
