"""The human label audit: a blind review sheet out, a verified error rate with its interval in.

``build_sheet`` picks the rows a person reviews from one labelled split: a seeded simple random
sample (it estimates the error rate) and the top label-noise suspects not already in it (they
measure how often the gate's flags are real). The two parts are shuffled together; the sheet
shows neither the part nor the model's suggestion, so the reviewer is not anchored. Which key is
in which part, and the suggestions, live only in the sidecar ``label-audit.meta.json``.

``score_sheet`` reads the filled sheet back, validates it against the sidecar and turns the
verdicts into rates with exact (Clopper-Pearson) intervals.

This module takes arrays and frames, never the Context: the user-facing layer
(:func:`qa.api.label_audit`) hands it what it needs. It renders nothing; the printable page is
:mod:`qa.reports.audit_html`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from qa.errors import DataError

SHEET_NAME = "label-audit.csv"
META_NAME = "label-audit.meta.json"
HTML_NAME = "label-audit.html"
RESULT_NAME = "label-audit.json"
SCHEMA_VERSION = 1

KEY = "key"
GIVEN = "given_label"
VERDICT = "verdict"
CORRECT_LABEL = "correct_label"
NOTE = "note"
#: The sheet's own columns; a feature of the same name is shown as ``feature:<name>``.
SHEET_COLUMNS = (KEY, GIVEN, VERDICT, CORRECT_LABEL, NOTE)
VERDICTS = ("correct", "wrong", "unsure")
PARTS = ("random", "suspect")
#: Fixed seed of polars' row hash, so a content key is the same on every run.
HASH_SEED = 20240611
CONFIDENCE = 0.95


@dataclass(frozen=True)
class LabelAuditSheet:
    """The blind sheet (header and rows, all strings) and its sidecar document."""

    columns: list[str]
    rows: list[list[str]]
    meta: dict[str, Any]

    def csv_text(self) -> str:
        """The sheet as CSV, every cell safe to open in a spreadsheet (see :func:`cell_safe`)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([cell_safe(c) for c in self.columns])
        writer.writerows([cell_safe(c) for c in row] for row in self.rows)
        return buffer.getvalue()

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the CSV and the sidecar into ``out_dir``; return name -> path."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
            sheet = out / SHEET_NAME
            meta = out / META_NAME
            sheet.write_text(self.csv_text(), encoding="utf-8")
            meta.write_text(
                json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            raise DataError(f"--out: cannot write into {out}: {exc.strerror or exc}") from None
        return {"sheet": sheet, "meta": meta}


# --------------------------------------------------------------------------- the sheet
def row_keys(frame: pl.DataFrame, id_column: str | None) -> list[str]:
    """A stable key per row: the id column's value, else a hex content hash of the row.

    Rows with the same key (duplicate rows, a repeated id) get ``~2``, ``~3``… in row order.
    """
    if id_column and id_column in frame.columns:
        base = ["" if v is None else str(v) for v in frame.get_column(id_column).to_list()]
    else:
        hashes = frame.hash_rows(seed=HASH_SEED).to_numpy()
        base = [f"{int(h):016x}" for h in hashes]
    seen: Counter[str] = Counter()
    keys = []
    for key in base:
        seen[key] += 1
        keys.append(key if seen[key] == 1 else f"{key}~{seen[key]}")
    return keys


def suspect_order(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices from most to least suspect, and the model's suggested class per row.

    The suspect score is the self-confidence of the given label (its probability under the
    out-of-fold model), lowest first; ties keep row order. The suggestion is the most probable
    other class.
    """
    rows = np.arange(len(labels))
    confidence = proba[rows, labels]
    order = np.lexsort((rows, confidence))
    others = np.array(proba, dtype=np.float64, copy=True)
    others[rows, labels] = -1.0
    return order, others.argmax(axis=1)


def _as_text(series: pl.Series) -> list[str]:
    dtype = series.dtype
    if dtype.is_nested() or dtype == pl.Object:
        return ["" if v is None else repr(v) for v in series.to_list()]
    return ["" if v is None else str(v) for v in series.cast(pl.String).to_list()]


def build_sheet(
    frame: pl.DataFrame,
    *,
    split: str,
    fingerprint: str,
    target: str,
    id_column: str | None,
    feature_columns: Sequence[str],
    labels: np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    n_random: int = 200,
    n_suspects: int = 50,
    seed: int = 0,
    created_at: str | None = None,
) -> LabelAuditSheet:
    """The blind review sheet of ``frame`` (one labelled split) and its sidecar.

    ``labels`` are class indices into ``class_names``; ``proba`` the out-of-fold (or held-out)
    class probabilities of the same rows.
    """
    if n_random < 0 or n_suspects < 0:
        raise DataError("--random and --suspects must be 0 or more")
    n = frame.height
    rng = np.random.default_rng(seed)
    random_rows = np.sort(rng.choice(n, size=min(n_random, n), replace=False))
    order, suggested = suspect_order(labels, proba)
    taken = np.zeros(n, dtype=bool)
    taken[random_rows] = True
    suspect_rows = np.array([i for i in order if not taken[i]][:n_suspects], dtype=np.int64)
    chosen = np.concatenate([random_rows, suspect_rows]).astype(np.int64)
    chosen = chosen[rng.permutation(len(chosen))]

    keys = row_keys(frame, id_column)
    shown = [f"feature:{c}" if c in SHEET_COLUMNS else c for c in feature_columns]
    picked = frame[chosen.tolist()]
    texts = [_as_text(picked.get_column(c)) for c in feature_columns]
    rows = [
        [keys[row], *(column[i] for column in texts), class_names[labels[row]], "", "", ""]
        for i, row in enumerate(chosen.tolist())
    ]
    meta = {
        "schema_version": SCHEMA_VERSION,
        "kind": "label-audit-sheet",
        "created_at": created_at or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "seed": seed,
        "split": split,
        "split_sha256": fingerprint,
        "split_rows": n,
        "target": target,
        "key": id_column if id_column else "content hash of the row (polars hash_rows)",
        "classes": list(class_names),
        "parts": {
            "random": [keys[i] for i in random_rows.tolist()],
            "suspect": [keys[i] for i in suspect_rows.tolist()],
        },
        "given_labels": {keys[i]: class_names[labels[i]] for i in chosen.tolist()},
        "suggested_labels": {keys[i]: class_names[suggested[i]] for i in suspect_rows.tolist()},
        "suspect_confidence": {
            keys[i]: round(float(proba[i, labels[i]]), 6) for i in suspect_rows.tolist()
        },
    }
    return LabelAuditSheet([KEY, *shown, GIVEN, VERDICT, CORRECT_LABEL, NOTE], rows, meta)


# --------------------------------------------------------------------------- scoring
def default_meta_path(sheet: Path) -> Path:
    """``<sheet stem>.meta.json`` beside the sheet, else ``label-audit.meta.json`` there."""
    own = sheet.with_name(f"{sheet.stem}.meta.json")
    return own if own.exists() else sheet.with_name(META_NAME)


def read_meta(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"--meta: {path} not found (the sidecar `qa audit labels` wrote beside the sheet)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"--meta: cannot read {path}: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("parts"), dict):
        raise DataError(f"--meta: {path} is not a label-audit sidecar (no 'parts')")
    return meta


def read_sheet(path: str | Path) -> list[dict[str, str]]:
    """The filled sheet's rows (CSV, or CSV exported by Excel: a BOM, ``;`` or tab separators)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (save the sheet as 'CSV UTF-8')") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV: {exc}") from None
    if not table:
        raise DataError(f"{path}: the sheet is empty")
    header = [cell_value(h.strip()) for h in table[0]]
    for needed in (KEY, VERDICT):
        if needed not in header:
            raise DataError(f"{path}: no {needed!r} column (header: {', '.join(header[:8])})")
    out = []
    for number, row in enumerate(table[1:], start=2):
        record = {
            name: (cell_value(row[i]) if i < len(row) else "") for i, name in enumerate(header)
        }
        record["_line"] = str(number)
        out.append(record)
    return out


#: A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_safe(value: str) -> str:
    """A cell a spreadsheet will not run: text that would start a formula gets a leading
    apostrophe (shown as text, not run); plain numbers such as ``-1.5`` stay as they are.
    :func:`cell_value` undoes it when the sheet is read back."""
    if not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def cell_value(cell: str) -> str:
    """The value :func:`cell_safe` protected."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _interval(successes: int, trials: int) -> dict[str, Any] | None:
    if trials == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return {
        "estimate": successes / trials,
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "confidence": CONFIDENCE,
        "successes": successes,
        "trials": trials,
    }


def score_sheet(
    sheet_path: str | Path,
    meta: Mapping[str, Any],
    *,
    scored_at: str | None = None,
    reviewer: str | None = None,
) -> dict[str, Any]:
    """Validate a filled sheet against its sidecar and compute the audit's numbers.

    Raises DataError naming the row (line of the CSV) and key for an unknown or repeated key, a
    verdict other than correct / wrong / unsure (case and spaces ignored) or a missing row.
    A blank verdict is a row not reviewed yet.
    """
    sheet_path = Path(sheet_path)
    part_of = {key: part for part in PARTS for key in meta["parts"].get(part, [])}
    given_labels: Mapping[str, str] = meta.get("given_labels", {})
    suggested: Mapping[str, str] = meta.get("suggested_labels", {})
    seen: dict[str, str] = {}
    verdicts: dict[str, tuple[str, str]] = {}
    for record in read_sheet(sheet_path):
        line = record["_line"]
        key = record.get(KEY, "").strip()
        where = f"{sheet_path.name} row {line} (key {key!r})"
        if key not in part_of:
            raise DataError(f"{where}: unknown key, not in the sheet `qa audit labels` wrote")
        if key in seen:
            raise DataError(f"{where}: the key appears twice (first in row {seen[key]})")
        seen[key] = line
        verdict = record.get(VERDICT, "").strip().lower()
        if verdict and verdict not in VERDICTS:
            raise DataError(
                f"{where}: verdict {record.get(VERDICT, '')!r} is not one of "
                f"{', '.join(VERDICTS)} (or blank for not reviewed)"
            )
        verdicts[key] = (verdict, record.get(CORRECT_LABEL, "").strip())
    missing = [key for key in part_of if key not in seen]
    if missing:
        raise DataError(
            f"{sheet_path.name}: {len(missing)} row(s) of the audit are missing from the sheet, "
            f"first key {missing[0]!r}"
        )

    parts: dict[str, dict[str, int]] = {}
    for part in PARTS:
        counts = Counter(verdicts[key][0] or "not_reviewed" for key in meta["parts"].get(part, []))
        parts[part] = {
            "rows": sum(counts.values()),
            "reviewed": counts["correct"] + counts["wrong"] + counts["unsure"],
            "correct": counts["correct"],
            "wrong": counts["wrong"],
            "unsure": counts["unsure"],
            "not_reviewed": counts["not_reviewed"],
        }
    confusion: Counter[tuple[str, str]] = Counter()
    agree = judged_suggestions = 0
    for key, (verdict, correct_label) in verdicts.items():
        if verdict != "wrong":
            continue
        confusion[(given_labels.get(key, ""), correct_label)] += 1
        if key in suggested and correct_label:
            judged_suggestions += 1
            agree += correct_label == suggested[key]
    random_part, suspect_part = parts["random"], parts["suspect"]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "label-audit",
        "created_at": scored_at or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "sheet": str(sheet_path),
        "sheet_created_at": meta.get("created_at"),
        "reviewer": reviewer or "",
        "seed": meta.get("seed"),
        "split": meta.get("split"),
        "split_sha256": meta.get("split_sha256"),
        "split_rows": meta.get("split_rows"),
        "target": meta.get("target"),
        "parts": parts,
        "unsure": random_part["unsure"] + suspect_part["unsure"],
        "error_rate": _interval(
            random_part["wrong"], random_part["correct"] + random_part["wrong"]
        ),
        "flag_precision": _interval(
            suspect_part["wrong"], suspect_part["correct"] + suspect_part["wrong"]
        ),
        "suggestion_agreement": _interval(agree, judged_suggestions),
        "confusion": [
            {"given": given, "corrected": corrected or None, "rows": count}
            for (given, corrected), count in sorted(confusion.items())
        ],
    }


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def summary(result: Mapping[str, Any]) -> str:
    """One paragraph for the terminal."""
    random_part, suspect_part = result["parts"]["random"], result["parts"]["suspect"]
    sha = str(result.get("split_sha256") or "")[:12]
    text = [
        f"Label audit of {result.get('split')} (sha256 {sha}…): "
        f"{random_part['reviewed']} of {random_part['rows']} random rows reviewed "
        f"({random_part['wrong']} wrong, {random_part['correct']} correct, "
        f"{random_part['unsure']} unsure and left out)"
    ]
    rate = result["error_rate"]
    if rate:
        text.append(
            f"verified error rate {_pct(rate['estimate'])} "
            f"(95 % CI {_pct(rate['ci_low'])} – {_pct(rate['ci_high'])})"
        )
    else:
        text.append("no error rate yet: no random row judged correct or wrong")
    precision = result["flag_precision"]
    if precision:
        text.append(
            f"the gate's suspects: {suspect_part['wrong']} of "
            f"{suspect_part['correct'] + suspect_part['wrong']} judged wrong, precision "
            f"{_pct(precision['estimate'])} (95 % CI {_pct(precision['ci_low'])} – "
            f"{_pct(precision['ci_high'])})"
        )
    elif suspect_part["rows"]:
        text.append("no suspect judged yet")
    not_reviewed = random_part["not_reviewed"] + suspect_part["not_reviewed"]
    if not_reviewed:
        text.append(f"{not_reviewed} row(s) not reviewed yet")
    return "; ".join(text) + "."
