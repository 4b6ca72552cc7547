"""``qa audit``: the blind label-review sheet and its score."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import qa
from qa.audit import GIVEN, KEY, VERDICT
from qa.reports.audit_html import render
from tests.conftest import make_classification_frame
from tests.inprocess import run_qa

PLANTED = 0.10


@pytest.fixture(scope="module")
def flipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A 3-class train split with an id column and exactly 10 % of its labels flipped.

    Returns the folder (with qa.toml) and the true label of every id.
    """
    folder = tmp_path_factory.mktemp("audit")
    frame = make_classification_frame(n=2000, n_classes=3, seed=3, signal=2.5)
    rng = np.random.default_rng(7)
    truth = frame["label"].to_numpy()
    given = truth.copy()
    flip = rng.choice(len(given), size=int(PLANTED * len(given)), replace=False)
    given[flip] = (given[flip] + rng.integers(1, 3, size=len(flip))) % 3
    ids = [f"row-{i}" for i in range(frame.height)]
    frame = frame.with_columns(pl.Series("label", given), pl.Series("id", ids))
    frame.write_csv(folder / "train.csv")
    (folder / "qa.toml").write_text(
        '[task]\ntype = "multiclass"\ntarget = "label"\nid = "id"\n[data]\ntrain = "train.csv"\n',
        encoding="utf-8",
    )
    run = run_qa("audit", "labels", "--config", "qa.toml", "--out", "audit", cwd=folder)
    assert run.code == 0, run.err
    return folder, {i: str(t) for i, t in zip(ids, truth, strict=True)}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def header_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def write_rows(path: Path, rows: list[dict[str, str]], *, bom: bool = False) -> None:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_the_sheet_is_blind_and_the_sidecar_holds_the_parts(flipped):
    folder, _ = flipped
    sheet = folder / "audit" / "label-audit.csv"
    header = header_of(sheet)
    assert header[0] == KEY and header[-4:] == [GIVEN, VERDICT, "correct_label", "note"]
    assert not {"part", "suggested_label", "suggested", "suspect"} & {h.lower() for h in header}
    meta = json.loads((folder / "audit" / "label-audit.meta.json").read_text(encoding="utf-8"))
    rows = read_rows(sheet)
    keys = [r[KEY] for r in rows]
    assert len(meta["parts"]["random"]) == 200 and len(meta["parts"]["suspect"]) == 50
    assert set(keys) == set(meta["parts"]["random"]) | set(meta["parts"]["suspect"])
    assert set(meta["suggested_labels"]) == set(meta["parts"]["suspect"])
    assert all(r[VERDICT] == r["correct_label"] == r["note"] == "" for r in rows)
    suggestions = set(meta["suggested_labels"].values())
    for row in rows:  # no cell anywhere says which part a row is in or what the model thinks
        assert "random" not in row.values() and "suspect" not in row.values()
    assert suggestions <= {"0", "1", "2"}
    html = (folder / "audit" / "label-audit.html").read_text(encoding="utf-8")
    assert "suspect" not in html.lower() and "suggest" not in html.lower()
    # the two parts are shuffled together, not one block after the other
    positions = [keys.index(k) for k in meta["parts"]["suspect"]]
    assert min(positions) < 100 and max(positions) > 150
    assert meta["split"] == "train" and len(meta["split_sha256"]) == 64


def test_keys_are_stable_across_runs_with_the_same_seed(tmp_path: Path):
    make_classification_frame(n=600).write_csv(tmp_path / "train.csv")
    args = ("audit", "labels", "--train", "train.csv", "--target", "label", "--random", "50")
    first = run_qa(*args, "--out", "a", cwd=tmp_path)
    second = run_qa(*args, "--out", "b", cwd=tmp_path)
    assert first.code == second.code == 0, first.err + second.err
    a, b = (read_rows(tmp_path / d / "label-audit.csv") for d in ("a", "b"))
    assert [r[KEY] for r in a] == [r[KEY] for r in b]
    assert len({r[KEY] for r in a}) == len(a) == 100  # content hashes, no collisions
    other = run_qa(*args, "--seed", "5", "--out", "c", cwd=tmp_path)
    assert other.code == 0
    assert [r[KEY] for r in read_rows(tmp_path / "c" / "label-audit.csv")] != [r[KEY] for r in a]


def test_a_reviewer_who_knows_the_truth_recovers_the_planted_rate(flipped, tmp_path: Path):
    folder, truth = flipped
    rows = read_rows(folder / "audit" / "label-audit.csv")
    for row in rows:
        right = truth[row[KEY]]
        row[VERDICT] = "correct" if row[GIVEN] == right else " Wrong "
        row["correct_label"] = "" if row[GIVEN] == right else right
    filled = tmp_path / "filled.csv"
    write_rows(filled, rows, bom=True)  # as Excel saves "CSV UTF-8"
    meta = folder / "audit" / "label-audit.meta.json"
    run = run_qa("audit", "score", str(filled), "--meta", str(meta))
    assert run.code == 0, run.err
    result = json.loads((tmp_path / "label-audit.json").read_text(encoding="utf-8"))
    rate = result["error_rate"]
    assert result["parts"]["random"]["reviewed"] == 200
    assert rate["ci_low"] <= PLANTED <= rate["ci_high"]
    assert rate["ci_high"] - rate["ci_low"] < 0.15
    # the suspects are real far more often than random rows are wrong
    assert result["flag_precision"]["estimate"] > 3 * rate["estimate"]
    assert all(c["given"] != c["corrected"] for c in result["confusion"])
    assert sum(c["rows"] for c in result["confusion"]) == (
        result["parts"]["random"]["wrong"] + result["parts"]["suspect"]["wrong"]
    )
    assert result["split_sha256"] == json.loads(meta.read_text())["split_sha256"]
    assert "verified error rate" in run.out and "95 % CI" in run.out


def test_a_reviewer_who_marks_everything_correct_gives_rate_zero(flipped, tmp_path: Path):
    folder, _ = flipped
    rows = read_rows(folder / "audit" / "label-audit.csv")
    for i, row in enumerate(rows):
        row[VERDICT] = "unsure" if i < 3 else "CORRECT"
    filled = tmp_path / "label-audit.csv"
    write_rows(filled, rows)
    (tmp_path / "label-audit.meta.json").write_bytes(
        (folder / "audit" / "label-audit.meta.json").read_bytes()
    )
    run = run_qa("audit", "score", str(filled), "--out", str(tmp_path / "r.json"))
    assert run.code == 0, run.err
    result = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert result["error_rate"]["estimate"] == 0 and result["error_rate"]["ci_low"] == 0
    assert 0 < result["error_rate"]["ci_high"] < 0.03
    assert result["unsure"] == 3 and result["confusion"] == []


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        ("verdict", ["row 4", "'maybe'", "correct, wrong, unsure"]),
        ("missing", ["missing", "row(s)"]),
        ("unknown", ["row 2", "'no-such-row'", "unknown key"]),
        ("twice", ["appears twice"]),
    ],
)
def test_a_bad_sheet_exits_2_naming_the_row(flipped, tmp_path: Path, edit, needles):
    folder, _ = flipped
    rows = read_rows(folder / "audit" / "label-audit.csv")
    for row in rows:
        row[VERDICT] = "correct"
    dropped = rows[5][KEY]
    if edit == "verdict":
        rows[2][VERDICT] = "maybe"
        needles = [*needles, rows[2][KEY]]
    elif edit == "missing":
        del rows[5]
        needles = [*needles, dropped]
    elif edit == "unknown":
        rows[0][KEY] = "no-such-row"
    else:
        rows[7][KEY] = rows[6][KEY]
    filled = tmp_path / "filled.csv"
    write_rows(filled, rows)
    meta = folder / "audit" / "label-audit.meta.json"
    run = run_qa("audit", "score", str(filled), "--meta", str(meta))
    assert run.code == 2 and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1, run.err
    for needle in needles:
        assert needle in run.err, run.err
    assert not (tmp_path / "label-audit.json").exists()


HOSTILE = '<script>alert("x")</script>'


def test_hostile_and_unicode_names_are_escaped_in_the_page():
    page = render(
        {
            "columns": [
                "key",
                HOSTILE,
                "größe 📏",
                "given_label",
                "verdict",
                "correct_label",
                "note",
            ],
            "rows": [["k1", "<img src=x onerror=alert(1)>", "Ω", HOSTILE, "", "", ""]],
            "split": "train",
            "target": "<b>label</b>",
            "created_at": "2026-01-01T00:00:00+00:00",
            "split_sha256": "ab" * 32,
        }
    )
    assert "<script>" not in page and "<img" not in page and "<b>label" not in page
    assert "&lt;script&gt;" in page and "größe 📏" in page and "Ω" in page


def test_hostile_columns_and_labels_end_to_end(tmp_path: Path):
    frame = make_classification_frame(n=400).with_columns(
        pl.when(pl.col("label") == 1).then(pl.lit(HOSTILE)).otherwise(pl.lit("çà")).alias("label")
    )
    frame = frame.rename({"num_0": "<i>x</i>", "cat": "note"})
    frame.write_csv(tmp_path / "train.csv")
    run = run_qa(
        "audit", "labels", "--train", "train.csv", "--target", "label", "--out", "o", cwd=tmp_path
    )
    assert run.code == 0, run.err
    html = (tmp_path / "o" / "label-audit.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<i>x</i>" not in html and "çà" in html
    header = header_of(tmp_path / "o" / "label-audit.csv")
    assert "feature:note" in header and header.count("note") == 1  # no clash with the sheet's


def test_cells_that_would_run_as_spreadsheet_formulas_are_kept_as_text():
    from qa.audit import cell_safe, cell_value

    for hostile in ('=HYPERLINK("http://x")', "+1+1", "@SUM(A1)", "-cmd|' /C calc'!A0"):
        safe = cell_safe(hostile)
        assert safe.startswith("'") and cell_value(safe) == hostile
    assert cell_safe("-1.5") == "-1.5" and cell_safe("plain") == "plain"


# --------------------------------------------------------------------------- label-noise reads it
def _scored(folder: Path, tmp_path: Path, truth: dict[str, str], honest: bool) -> Path:
    rows = read_rows(folder / "audit" / "label-audit.csv")
    for row in rows:
        right = truth[row[KEY]]
        row[VERDICT] = "correct" if (row[GIVEN] == right or not honest) else "wrong"
    filled = tmp_path / "filled.csv"
    write_rows(filled, rows)
    meta = folder / "audit" / "label-audit.meta.json"
    out = tmp_path / "label-audit.json"
    run = run_qa(
        "audit",
        "score",
        str(filled),
        "--meta",
        str(meta),
        "--out",
        str(out),
        "--reviewer",
        "ana@example.com",
    )
    assert run.code == 0, run.err
    return out


def _label_noise_with(folder: Path, audit: Path) -> qa.report.CheckResult:
    report = qa.check(
        config=str(folder / "qa.toml"),
        only=["label-noise"],
        checks={"label-noise": {"audit": str(audit)}},
    )
    return report.checks[0]


def test_label_noise_takes_its_verdict_from_a_human_audit(flipped, tmp_path: Path):
    folder, truth = flipped
    honest = _label_noise_with(folder, _scored(folder, tmp_path, truth, honest=True))
    assert honest.status == "fail", honest.message
    assert honest.message.startswith("human audit:")
    low, high = (
        honest.metrics["audit_error_rate_ci_low"],
        honest.metrics["audit_error_rate_ci_high"],
    )
    assert low <= PLANTED <= high and low <= honest.metrics["audit_error_rate"] <= high
    assert "automated estimate" in honest.message and "issue_rate" in honest.metrics
    audit = honest.evidence[0]
    assert audit.title == "Human label audit"
    assert ("reviewer", "ana@example.com") in [tuple(r) for r in audit.rows]
    assert next(iter(honest.metrics)) == "audit_error_rate"  # first: the sign-off shows it
    blind = _label_noise_with(folder, _scored(folder, tmp_path, truth, honest=False))
    assert blind.status == "pass", blind.message  # everything marked correct: 0 of 200


def test_a_stale_or_small_audit_warns_and_never_passes():
    from qa.checks.label_noise import decide_audit

    audit = {
        "split": "train",
        "split_sha256": "abc",
        "error_rate": {"successes": 0, "trials": 200, "ci_low": 0.0, "ci_high": 0.018},
    }
    assert decide_audit(audit, "abc", 0.05, 0.01)[0] == "pass"
    assert decide_audit(audit, "other", 0.05, 0.01)[0] == "warn"  # stale: other data
    small = {**audit, "error_rate": {"successes": 0, "trials": 40, "ci_low": 0, "ci_high": 0.09}}
    status, text = decide_audit(small, "abc", 0.05, 0.01)
    assert status == "warn" and "at least 50" in text
    across = {
        **audit,
        "error_rate": {"successes": 12, "trials": 200, "ci_low": 0.031, "ci_high": 0.1},
    }
    status, text = decide_audit(across, "abc", 0.05, 0.01)
    assert status == "warn" and "more reviewed rows would settle it" in text
    noisy = {
        **audit,
        "error_rate": {"successes": 40, "trials": 200, "ci_low": 0.15, "ci_high": 0.26},
    }
    assert decide_audit(noisy, "abc", 0.05, 0.01)[0] == "fail"


def test_a_missing_audit_file_is_named():
    from qa.checks.label_noise import read_audit
    from qa.errors import DataError

    with pytest.raises(DataError, match=r"checks\.label-noise\.audit: file not found"):
        read_audit(Path("/nonexistent/label-audit.json"))
