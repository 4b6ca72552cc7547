"""JUnit XML: parses, one testcase per check, statuses mapped as pytest maps its outcomes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from qa.report import Report
from qa.reports import junit
from tests.reports.conftest import HOSTILE


def cases(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text.encode("utf-8"))
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None and suite.get("name") == "qa-gate"
    return {c.get("name"): c for c in suite.findall("testcase")}


def test_junit_parses_and_maps_every_status(hostile_report: Report):
    text = junit.render(hostile_report)
    by_id = cases(text)
    assert set(by_id) == {c.id for c in hostile_report.checks}
    assert by_id["drift"].find("failure") is not None
    assert "max_psi = 0.41234 / 0.2" in by_id["drift"].find("failure").text
    assert HOSTILE in by_id["drift"].find("failure").get("message")  # escaped by XML, read back
    error = by_id["overfit-gap"].find("error")
    assert error is not None and "Traceback" in error.text
    waived = by_id["leakage"].find("skipped")
    assert waived is not None
    assert "known duplicates" in waived.get("message") and "ana@example.com" in waived.get(
        "message"
    )
    assert by_id["schema"].find("skipped").get("message") == "no schema given"
    for passing in ("data-volume", "per-class-recall"):
        case = by_id[passing]
        assert case.find("failure") is None and case.find("error") is None
        assert case.find("skipped") is None
    assert "WARNING" in by_id["per-class-recall"].find("system-out").text
    assert by_id["drift"].get("classname") == "qa-gate"
    assert by_id["drift"].get("time") == "0.420"


def test_suite_counts_match_the_summary(hostile_report: Report):
    root = ET.fromstring(junit.render(hostile_report))
    suite = root.find("testsuite")
    assert suite.get("tests") == "6"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "2"  # skip + waived


def test_control_characters_and_hostile_text_still_give_valid_xml(hostile_report: Report):
    nasty = 'bad \x00\x01\x0b\x1b[31m \ud800 \ufffe ]]> "q" & <x> ' + HOSTILE
    first = replace(hostile_report.checks[0], message=nasty, title=nasty, remedy=nasty)
    second = replace(hostile_report.checks[1], traceback=nasty)
    report = replace(
        hostile_report, checks=(first, second, *hostile_report.checks[2:]), waiver_notes=(nasty,)
    )
    text = junit.render(report)
    text.encode("utf-8")  # no lone surrogate survives
    by_id = cases(text)
    message = by_id["drift"].find("failure").get("message")
    assert "\x00" not in message and "\x1b" not in message
    assert "]]>" in message and HOSTILE in message


def test_xml_text_strips_only_forbidden_characters():
    assert junit.xml_text("a\tb\nc\rd\x00e\x1ff\ud800g\U0001f600") == "a\tb\nc\rdefg\U0001f600"
