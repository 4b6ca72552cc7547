"""The contract every check must keep, offered to plugin authors as one call.

    from qa.testing import check_contract

    def test_my_check_contract():
        check_contract(MyCheck, clean=dict(train=df, test=df2, target="y"),
                       defective=dict(train=df, test=bad, target="y"))

It asserts: the docstring has every fixed section and names no parameter that does not exist;
every parameter has a default and a description; the clean inputs pass (or warn); the defective
inputs fail; results serialise, round-trip and validate against the report schema; and two runs
on the same inputs give the same JSON apart from times.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from qa.base import DOC_SECTIONS, Check, doc_sections, param_infos, validate_check_class
from qa.report import Report, schema_errors


def assert_docs(check_cls: type[Check]) -> None:
    """Docstring sections present; parameters documented; no stale parameter names in docs."""
    validate_check_class(check_cls, check_cls.__name__)
    sections = doc_sections(check_cls)
    for name in DOC_SECTIONS:
        assert sections.get(name, "").strip(), f"{check_cls.id}: docstring lacks '{name}'"
    names = {f.name for f in dataclasses.fields(check_cls.Params)}
    for info in param_infos(check_cls.Params):
        assert info.doc.strip(), f"{check_cls.id}: parameter {info.name} has no description"
    # Names written as ``snake_case`` in the docs must be real parameters or known words.
    text = "\n".join(sections.values())
    for mentioned in re.findall(r"``([a-z][a-z0-9_]*_[a-z0-9_]+)``", text):
        assert mentioned in names, (
            f"{check_cls.id}: docs mention ``{mentioned}``, which is not a parameter"
        )


def comparable(report: Report) -> dict[str, Any]:
    """The report as JSON with the fields that legitimately vary (times) removed."""
    data = json.loads(report.to_json())
    data.pop("created_at")
    for check in data["checks"]:
        check.pop("duration_s")
    return data


def run_one_check(check_cls: type[Check], inputs: Mapping[str, Any]) -> Report:
    import qa

    return qa.check(**inputs, only=[check_cls.id], extra_checks=[check_cls])


def check_contract(
    check_cls: type[Check],
    *,
    clean: Mapping[str, Any],
    defective: Mapping[str, Any],
    clean_statuses: tuple[str, ...] = ("pass",),
    defective_statuses: tuple[str, ...] = ("fail",),
) -> tuple[Report, Report]:
    """Assert the whole contract for one check; return the clean and defective reports."""
    assert_docs(check_cls)
    reports = []
    for name, inputs, wanted in (
        ("clean", clean, clean_statuses),
        ("defective", defective, defective_statuses),
    ):
        report = run_one_check(check_cls, inputs)
        result = next(c for c in report.checks if c.id == check_cls.id)
        assert result.status in wanted, (
            f"{check_cls.id}: {name} inputs gave {result.status} ({result.message}); "
            f"expected {' or '.join(wanted)}"
        )
        data = json.loads(report.to_json())
        assert not schema_errors(data), schema_errors(data)
        assert Report.from_json(report.to_json()) == report
        reports.append(report)
    again = run_one_check(check_cls, defective)
    assert comparable(again) == comparable(reports[1]), f"{check_cls.id}: not deterministic"
    return reports[0], reports[1]
