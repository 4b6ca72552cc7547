"""Waivers: visible, owned, expiring. Active → waived; expired → a failure; malformed → exit 2."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from qa.base import CheckResult
from qa.config import Waiver
from qa.gate import WAIVERS_CHECK_ID, apply_waivers, verdict
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa

TODAY = dt.date(2026, 6, 1)
FUTURE = (dt.date.today() + dt.timedelta(days=365)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def result(cid: str, status: str, subjects: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult(
        id=cid,
        title=cid,
        status=status,
        severity="error",
        message=f"{cid} is {status}",
        subjects=subjects,
    )


def waiver(check: str = "leakage", **kw) -> Waiver:
    return Waiver(
        check=check,
        reason=kw.pop("reason", "known issue"),
        owner=kw.pop("owner", "ana@example.com"),
        **kw,
    )


def by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


# --------------------------------------------------------------------------- the gate's rules
def test_an_active_waiver_turns_a_failure_into_waived_with_reason_and_owner():
    out, notes = apply_waivers(
        [result("leakage", "fail")], [waiver(expires=dt.date(2026, 12, 31))], TODAY
    )
    waived = by_id(out)["leakage"]
    assert waived.status == "waived"
    assert waived.waiver["reason"] == "known issue" and waived.waiver["owner"] == "ana@example.com"
    assert by_id(out)[WAIVERS_CHECK_ID].status == "pass"
    assert verdict(out) == "pass" and notes == []


def test_a_waiver_is_active_through_its_expiry_date():
    out, _ = apply_waivers([result("leakage", "fail")], [waiver(expires=TODAY)], TODAY)
    assert by_id(out)["leakage"].status == "waived"


def test_an_expired_waiver_waives_nothing_and_fails_the_gate():
    out, notes = apply_waivers(
        [result("leakage", "fail")], [waiver(expires=dt.date(2026, 5, 31))], TODAY
    )
    assert by_id(out)["leakage"].status == "fail"
    summary = by_id(out)[WAIVERS_CHECK_ID]
    assert summary.status == "fail"
    assert "expired" in summary.message and "ana@example.com" in summary.message
    assert summary.subjects == ("leakage",)
    assert any("expired on 2026-05-31" in n for n in notes)


def test_an_expired_waiver_is_a_failure_even_when_its_check_now_passes():
    out, _ = apply_waivers(
        [result("leakage", "pass")], [waiver(expires=dt.date(2026, 1, 1))], TODAY
    )
    assert by_id(out)[WAIVERS_CHECK_ID].status == "fail"
    assert verdict(out) == "fail"


def test_a_waiver_that_matched_nothing_warns_so_stale_waivers_do_not_pile_up():
    out, notes = apply_waivers([result("leakage", "pass")], [waiver()], TODAY)
    assert by_id(out)[WAIVERS_CHECK_ID].status == "warn"
    assert verdict(out) == "pass"
    assert notes == ["waiver for leakage (owner ana@example.com) matched nothing; remove it"]


def test_a_waiver_for_a_check_that_did_not_run_is_not_called_stale():
    out, notes = apply_waivers([result("drift", "pass")], [waiver("leakage")], TODAY)
    assert by_id(out)[WAIVERS_CHECK_ID].status == "pass" and notes == []
    out, notes = apply_waivers([result("leakage", "skip")], [waiver("leakage")], TODAY)
    assert by_id(out)[WAIVERS_CHECK_ID].status == "pass" and notes == []


def test_match_waives_only_when_every_subject_at_fault_matches():
    failing = result("drift", "fail", subjects=("income_2024", "income_2025"))
    out, _ = apply_waivers([failing], [waiver("drift", match="income_*")], TODAY)
    assert by_id(out)["drift"].status == "waived"
    mixed = result("drift", "fail", subjects=("income_2024", "age"))
    out, _ = apply_waivers([mixed], [waiver("drift", match="income_*")], TODAY)
    assert by_id(out)["drift"].status == "fail"
    assert by_id(out)[WAIVERS_CHECK_ID].status == "warn"  # it covered nothing


def test_match_never_waives_a_result_without_subjects():
    out, _ = apply_waivers([result("drift", "fail")], [waiver("drift", match="*")], TODAY)
    assert by_id(out)["drift"].status == "fail"


def test_a_crash_is_never_waived():
    out, _ = apply_waivers([result("leakage", "error")], [waiver()], TODAY)
    assert by_id(out)["leakage"].status == "error"
    assert verdict(out) == "error"


def test_a_warning_can_be_acknowledged_with_a_waiver():
    out, _ = apply_waivers([result("leakage", "warn")], [waiver()], TODAY)
    assert by_id(out)["leakage"].status == "waived"


def test_an_active_waiver_wins_over_an_expired_one_and_the_expired_one_is_still_reported():
    out, _ = apply_waivers(
        [result("leakage", "fail")],
        [
            waiver(expires=dt.date(2026, 1, 1)),
            waiver(reason="renewed", expires=dt.date(2027, 1, 1)),
        ],
        TODAY,
    )
    assert by_id(out)["leakage"].status == "waived"
    assert by_id(out)["leakage"].waiver["reason"] == "renewed"
    summary = by_id(out)[WAIVERS_CHECK_ID]
    assert summary.status == "fail" and summary.metrics["expired_in_use"] == 0


def test_no_waivers_means_no_waivers_result():
    out, notes = apply_waivers([result("leakage", "fail")], [], TODAY)
    assert [r.id for r in out] == ["leakage"] and notes == []


# --------------------------------------------------------------------------- through qa check
@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_classification_frame(n=40).write_csv(tmp_path / "train.csv")  # data-volume fails
    return tmp_path


def write_config(root: Path, waivers: str) -> Path:
    path = root / "qa.toml"
    path.write_text(
        '[task]\ntarget = "label"\n[data]\ntrain = "train.csv"\n[run]\nonly = ["data-volume"]\n'
        + waivers,
        encoding="utf-8",
    )
    return path


def check(root: Path) -> tuple[int, dict, str]:
    run = run_qa(
        "check", "--config", str(root / "qa.toml"), "--out", str(root / "out"), "--ci", "none"
    )
    data = json.loads((root / "out" / "report.json").read_text()) if run.code in (0, 1) else {}
    return run.code, data, run.out + run.err


def test_cli_active_waiver_passes_the_gate_and_shows_reason_and_owner_everywhere(project: Path):
    write_config(
        project,
        f"""
[[waivers]]
check = "data-volume"
match = "train"
reason = "Pilot dataset <b>small</b> on purpose"
owner = "ana@example.com"
expires = {FUTURE}
""",
    )
    code, data, printed = check(project)
    assert code == 0, printed
    dv = next(c for c in data["checks"] if c["id"] == "data-volume")
    assert dv["status"] == "waived"
    assert dv["waiver"]["reason"] == "Pilot dataset <b>small</b> on purpose"
    assert dv["waiver"]["owner"] == "ana@example.com"
    assert data["summary"]["waived"] == 1
    assert "waived" in printed
    md = (project / "out" / "summary.md").read_text(encoding="utf-8")
    html = (project / "out" / "report.html").read_text(encoding="utf-8")
    junit = (project / "out" / "junit.xml").read_text(encoding="utf-8")
    for text in (md, junit):
        assert "ana@example.com" in text and "Pilot dataset" in text
    assert "ana@example.com" in html and "Pilot dataset &lt;b&gt;small&lt;/b&gt;" in html
    assert "<b>small</b>" not in html


def test_cli_expired_waiver_fails_the_gate_and_is_reported(project: Path):
    write_config(
        project,
        f"""
[[waivers]]
check = "data-volume"
reason = "was fine last quarter"
owner = "bo@example.com"
expires = {PAST}
""",
    )
    code, data, printed = check(project)
    assert code == 1, printed
    statuses = {c["id"]: c["status"] for c in data["checks"]}
    assert statuses == {"data-volume": "fail", "waivers": "fail"}
    waivers = next(c for c in data["checks"] if c["id"] == "waivers")
    assert "bo@example.com" in waivers["message"] and PAST in waivers["message"]
    assert any("expired" in n for n in data["waiver_notes"])


@pytest.mark.parametrize("missing", ["reason", "owner"])
def test_cli_waiver_without_reason_or_owner_is_a_config_error(project: Path, missing: str):
    fields = {"check": '"data-volume"', "reason": '"because"', "owner": '"ana"'}
    fields.pop(missing)
    write_config(project, "\n[[waivers]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()))
    run = run_qa("check", "--config", str(project / "qa.toml"), "--ci", "none")
    assert run.code == 2
    assert f"waivers[0].{missing}" in run.err
    assert "Traceback" not in run.err


def test_cli_waiver_with_a_blank_reason_is_a_config_error(project: Path):
    write_config(project, '\n[[waivers]]\ncheck = "data-volume"\nreason = "  "\nowner = "ana"\n')
    run = run_qa("check", "--config", str(project / "qa.toml"), "--ci", "none")
    assert run.code == 2 and "waivers[0].reason" in run.err


def test_cli_waiver_with_a_bad_date_or_unknown_check_names_the_key(project: Path):
    write_config(
        project,
        '\n[[waivers]]\ncheck = "data-volume"\nreason = "r"\nowner = "o"\nexpires = "next year"\n',
    )
    run = run_qa("check", "--config", str(project / "qa.toml"), "--ci", "none")
    assert run.code == 2 and "waivers[0].expires" in run.err
    write_config(project, '\n[[waivers]]\ncheck = "no-such-check"\nreason = "r"\nowner = "o"\n')
    run = run_qa("check", "--config", str(project / "qa.toml"), "--ci", "none")
    assert run.code == 2 and "waivers[0].check" in run.err
