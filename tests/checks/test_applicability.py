"""applicability: production rows far outside train fail and are named; rows drawn like
train's are novel about 1 % of the time, as promised; small production says underpowered."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest

import qa
import qa.api
from benchmarks.bundled import load_bundled
from qa.checks.applicability import (
    Applicability,
    Extremes,
    Null,
    decide,
    excess_pvalue,
    fails,
    rows_needed,
)
from qa.config import parse_config
from qa.stats import binomial_excess_pvalue
from qa.testing import check_contract
from tests.conftest import random_split

ID = Applicability.id


def make_table(n: int, seed: int = 0, n_numeric: int = 6) -> pl.DataFrame:
    """Correlated numbers, a skewed one, a category and a boolean, and a label."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=n)
    data: dict[str, object] = {
        f"x{i}": base * 0.6 + rng.normal(size=n) * 0.8 for i in range(n_numeric)
    }
    data["income"] = rng.lognormal(10, 0.7, n)
    data["colour"] = rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.2, 0.1])
    data["member"] = rng.random(n) < 0.3
    data["label"] = (base + rng.normal(size=n) > 0).astype(np.int64)
    return pl.DataFrame(data)


def run(train, production=None, params=None, **frames):
    """The check alone on a fresh Context (``Applicability().run``), as the brief asks."""
    config = parse_config({"task": {"target": "label"}})
    splits = {"train": train, "production": production, **frames}
    ctx = qa.api.build_context(config, {k: v for k, v in splits.items() if v is not None})
    return Applicability().run(ctx, params or Applicability.Params())


def planted(frame: pl.DataFrame, columns, share: float, seed: int, move) -> pl.DataFrame:
    """``move`` applied to ``columns`` of exactly ``share`` of the rows (seeded)."""
    rows = np.random.default_rng(seed).choice(frame.height, round(share * frame.height), False)
    hit = pl.Series("hit", np.isin(np.arange(frame.height), rows))
    exprs = [pl.nth(frame.get_column_index(c)) for c in columns]  # names may look like regexes
    return frame.with_columns(
        pl.when(hit).then(move(e)).otherwise(e).alias(c)
        for e, c in zip(exprs, columns, strict=True)
    )


def table_of(result, title: str) -> list[dict]:
    evidence = next(e for e in result.evidence if e.title == title)
    return [dict(zip(evidence.columns, row, strict=True)) for row in evidence.rows]


# --------------------------------------------------------------------------- the promise
def test_applicability_fails_on_ten_percent_rows_far_outside_train_and_names_features():
    train, production = random_split(make_table(12_000, seed=1), (0.75, 0.25), seed=2)
    novel = planted(production, ["x1", "income"], 0.10, 3, lambda c: c + 1e7)
    _clean, bad = check_contract(
        Applicability,
        clean=dict(train=train, production=production, target="label"),
        defective=dict(train=train, production=novel, target="label"),
    )
    result = bad.checks[0]
    assert set(result.subjects) == {"x1", "income"}, result.subjects
    assert "'x1'" in result.message and "'income'" in result.message
    assert 0.09 < result.metrics["novel_share_lower"] < result.metrics["novel_share"] < 0.13
    assert result.metrics["out_of_range_share"] == pytest.approx(0.10, abs=0.01)
    features = {r["feature"]: r for r in table_of(result, "Per-feature applicability")}
    assert features["x1"]["share out of range"] == pytest.approx(0.10, abs=0.01)
    assert features["x0"]["share out of range"] == 0.0
    rows = table_of(result, "Most novel production rows")
    assert len(rows) == 5
    assert all("above train's range" in r["most unusual values"] for r in rows)
    assert all("'x1'" in r["why novel"] and "'income'" in r["why novel"] for r in rows)


def test_applicability_clean_production_is_novel_about_one_percent():
    train, production = random_split(make_table(40_000, seed=4), (0.5, 0.5), seed=5)
    result = run(train, production)
    m = result.metrics
    assert result.status == "pass", result.message
    assert m["fit_rows"] == 10_000 and m["calibration_rows"] == 10_000  # half of train
    # The null share is Beta(flagged + 1, held - flagged): its sampling error adds to the
    # production's binomial one.
    p, rows, held = m["expected_novel_share"], m["rows_production"], m["calibration_rows"]
    se = math.sqrt(p * (1 - p) / rows + p * (1 - p) / held)
    assert abs(m["novel_share"] - p) < 4 * se, (m["novel_share"], p)
    assert 0.008 < p < 0.012


def test_applicability_random_splits_of_real_datasets_pass_at_about_one_percent():
    """Held-out rows of scikit-learn's bundled datasets are rows like train's: every run
    passes, and pooled over datasets and seeds the novel share lies within the binomial
    interval of the promised 1 % (a threshold fitted on its own fit rows, or rules not
    calibrated, would flag several times more)."""
    from scipy.stats import binom

    novel = rows = 0
    for name in ("breast_cancer", "digits", "diabetes"):
        x, y, task = load_bundled(name)
        frame = pl.from_pandas(x).with_columns(pl.Series("label", y))
        for seed in range(3):
            train, production = random_split(frame, (0.7, 0.3), seed=seed)
            config = parse_config({"task": {"target": "label", "type": task}})
            ctx = qa.api.build_context(config, {"train": train, "production": production})
            result = Applicability().run(ctx, Applicability.Params())
            assert result.status == "pass", f"{name} seed {seed}: {result.message}"
            assert result.metrics["expected_novel_share"] < 0.05
            novel += result.metrics["novel_rows"]
            rows += result.metrics["rows_production"]
    low, high = binom.interval(0.999, rows, 0.01)
    assert low <= novel <= high, (novel, rows)


# --------------------------------------------------------------------------- edge cases
def test_applicability_missing_values_are_not_novel_and_infinities_are():
    train, production = random_split(make_table(8_000, seed=6), (0.6, 0.4), seed=7)
    holes = planted(production, ["x2", "income"], 0.3, 8, lambda c: pl.lit(None))
    holes = planted(holes, ["x3"], 0.3, 9, lambda c: pl.lit(float("nan")))
    result = run(train, holes)
    assert result.status == "pass", result.message
    assert result.metrics["out_of_range_share"] == 0.0
    infinite = planted(production, ["x4"], 0.1, 10, lambda c: pl.lit(float("inf")))
    result = run(train, infinite)
    assert result.status == "fail" and result.subjects[0] == "x4", result.message
    rows = table_of(result, "Most novel production rows")
    assert "'x4' = inf (above train's range" in rows[0]["most unusual values"]
    # Train had infinities on that side: an infinity is within its range.
    with_inf = planted(train, ["x4"], 0.01, 11, lambda c: pl.lit(float("inf")))
    assert run(with_inf, infinite).status == "pass"


def test_applicability_fails_on_categories_train_never_had():
    train, production = random_split(make_table(8_000, seed=12), (0.6, 0.4), seed=13)
    novel = planted(production, ["colour"], 0.15, 14, lambda c: pl.lit("ultraviolet"))
    result = run(train, novel)
    assert result.status == "fail" and result.subjects == ("colour",), result.message
    assert "values train never had in 'colour'" in result.message
    features = {r["feature"]: r for r in table_of(result, "Per-feature applicability")}
    assert features["colour"]["share unseen"] == pytest.approx(0.15, abs=0.02)
    assert features["colour"]["share out of range"] is None
    rows = table_of(result, "Most novel production rows")
    assert "'colour' = 'ultraviolet' (never in train)" in rows[0]["most unusual values"]
    # An id-like column brings a new value in every row by nature: not judged.
    uid = [train, production]
    for i, f in enumerate(uid):
        uid[i] = f.with_columns(pl.format("u{}-{}", pl.lit(i), pl.int_range(pl.len())).alias("uid"))
    result = run(*uid)
    assert result.status == "pass", result.message
    features = {r["feature"]: r for r in table_of(result, "Per-feature applicability")}
    assert "id-like" in features["uid"]["train allows"]
    # A boolean that was always False in train and is True in production is new as well.
    never = train.with_columns(pl.lit(False).alias("member"))
    result = run(never, production)
    assert result.status == "fail" and result.subjects[0] == "member", result.message


def _dated(frame: pl.DataFrame, start: dt.datetime, days: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, days * 86_400, frame.height)
    instants = [start + dt.timedelta(seconds=int(s)) for s in offsets]
    return frame.with_columns(pl.Series("event_at", instants, dtype=pl.Datetime("us")))


def test_applicability_later_time_axis_is_not_novel_but_an_early_birth_date_is():
    train, production = random_split(make_table(8_000, seed=15), (0.6, 0.4), seed=16)
    train = _dated(train, dt.datetime(2023, 1, 1), 365, 17)
    later = _dated(production, dt.datetime(2024, 1, 1), 60, 18)  # all after train's dates
    result = run(train, later)
    assert result.status == "pass", result.message
    assert result.metrics["time_axis_features"] == 1
    assert "'event_at' looks like the time axis" in result.message
    assert 'declare [task] time = "event_at"' in result.message
    assert 0.0 < result.metrics["novel_share"] < 0.03
    features = {r["feature"]: r for r in table_of(result, "Per-feature applicability")}
    assert features["event_at"]["rule"] == "none"
    # Within train's dates, a date long before train's first one is novel; a later one is not.
    within = _dated(production, dt.datetime(2023, 1, 1), 365, 19)
    early = planted(within, ["event_at"], 0.1, 20, lambda c: c - pl.duration(days=3650))
    result = run(train, early)
    assert result.status == "fail" and result.subjects[0] == "event_at", result.message
    assert (
        "before train's first date 2023-01-01"
        in table_of(result, "Most novel production rows")[0]["most unusual values"]
    )
    late = planted(within, ["event_at"], 0.1, 20, lambda c: c + pl.duration(days=3650))
    features = {r["feature"]: r for r in table_of(run(train, late), "Per-feature applicability")}
    assert features["event_at"]["rows out of range"] == 0


def test_applicability_constant_feature_is_judged_by_its_value():
    train, production = random_split(make_table(6_000, seed=21), (0.6, 0.4), seed=22)
    train, production = (f.with_columns(pl.lit(5.0).alias("dose")) for f in (train, production))
    assert run(train, production).status == "pass"
    moved = planted(production, ["dose"], 0.1, 23, lambda c: pl.lit(7.0))
    result = run(train, moved)
    assert result.status == "fail" and result.subjects == ("dose",), result.message
    features = {r["feature"]: r for r in table_of(result, "Per-feature applicability")}
    assert features["dose"]["train allows"].startswith("[4.5, 5.5]")  # 10 % of |5| each side


def test_applicability_hostile_column_names_are_judged_and_reported_as_data():
    names = {
        "x0": "^x.*$",
        "x1": "naïve 温度 <script>alert(1)</script>",
        "colour": "^c(olour)?$",
        "member": "a.b",
        "event_at": "^(when)$",
    }
    train, production = random_split(make_table(6_000, seed=24), (0.6, 0.4), seed=25)
    train = _dated(train, dt.datetime(2023, 1, 1), 365, 33)
    production = _dated(production, dt.datetime(2024, 1, 1), 30, 34)  # the time axis
    train, production = (f.rename(names) for f in (train, production))
    result = run(train, production)
    assert result.status == "pass", result.message
    assert "'^(when)$' looks like the time axis" in result.message
    odd = planted(production, [names["x0"], names["x1"]], 0.1, 26, lambda c: c + 100)
    odd = planted(odd, [names["colour"]], 0.1, 27, lambda c: pl.lit("\u202enew"))
    odd = planted(odd, [names["member"]], 0.1, 28, lambda c: pl.lit(None, dtype=pl.Boolean))
    result = run(train, odd)
    assert result.status == "fail"
    assert set(result.subjects) == {names["x0"], names["x1"], names["colour"]}, result.subjects
    json.dumps(result.to_dict())  # evidence cells are plain JSON


def test_applicability_tiny_production_is_underpowered_not_failed():
    train, production = random_split(make_table(6_000, seed=28), (0.9, 0.1), seed=29)
    result = run(train, production.head(30))
    assert result.status == "warn", result.message
    assert result.subjects == ("underpowered",)
    assert result.message.startswith("underpowered: with 30 production rows only")
    assert "more production rows would detect a novel share of 10%" in result.message
    assert result.metrics["detectable_share"] > 0.1
    # Thirty rows all far outside train are still a clear failure.
    far = production.head(30).with_columns(pl.col("x0") + 1e3)
    assert run(train, far).status == "fail"


def test_applicability_skips_without_production():
    train = make_table(2_000, seed=30)
    result = run(train, test=train.head(500))
    assert result.status == "skip" and "needs a production split" in result.message
    report = qa.check(train=train, target="label", only=[ID], extra_checks=[Applicability])
    assert report.checks[0].status == "skip"
    assert "production" in report.checks[0].message


def test_applicability_power_share_must_exceed_the_bar():
    train, production = random_split(make_table(2_000, seed=31), (0.7, 0.3), seed=32)
    report = qa.check(
        train=train,
        production=production,
        target="label",
        only=[ID],
        checks={ID: {"power_share": 0.05}},
        extra_checks=[Applicability],
    )
    result = report.checks[0]
    assert result.status == "error" and "power_share" in result.message


# --------------------------------------------------------------------------- decide
def test_decide_fails_just_past_the_bar_and_warns_just_short_of_it():
    null = Null(201.0, 19_800.0)  # 200 of 20,000 held-out rows novel: about 1 %
    params = Applicability.Params()
    over = decide(550, 10_000, null, params, 0.02)  # 5.5 %: lower bound 5.04 % > 5 %
    assert (over.status, over.reason) == ("fail", "novel")
    assert over.lower > 0.05
    under = decide(540, 10_000, null, params, 0.02)  # 5.4 %: lower bound 4.94 % < 5 %
    assert (under.status, under.reason) == ("warn", "excess")
    assert under.lower < 0.05 < under.share
    clean = decide(105, 10_000, null, params, 0.02)
    assert (clean.status, clean.reason) == ("pass", "clean")


def test_decide_carries_the_thresholds_own_error_at_a_million_rows():
    """A threshold set on 20,000 held-out rows lets 1.14 % of rows like train's through
    about one run in fifty; a binomial test against exactly 1 % would call that novel."""
    null = Null(201.0, 19_800.0)
    novel, rows = 11_400, 1_000_000
    assert binomial_excess_pvalue(novel, rows, 0.01) < 1e-30
    assert excess_pvalue(novel, rows, null) > 0.01
    assert decide(novel, rows, null, Applicability.Params(), 0.02).status == "pass"


def test_underpowered_rows_needed_are_enough_and_not_many_too_many():
    null, bar, alpha = Null(101.0, 9_900.0), 0.05, 0.02
    decision = decide(0, 40, null, Applicability.Params(), alpha)
    assert decision.reason == "underpowered" and decision.needed is not None
    enough = 40 + decision.needed
    assert fails(math.ceil(0.1 * enough), enough, null, bar, alpha)
    fewer = round(0.8 * enough)
    assert not fails(math.ceil(0.1 * fewer), fewer, null, bar, alpha)
    # A null as likely as the target itself can never be told apart from it.
    assert rows_needed(40, 0.1, Null(10.0, 90.0), bar, alpha) is None


def test_held_out_rows_are_judged_by_train_without_them():
    extremes = Extremes(least=(0.0, 1.0), greatest=(10.0, 9.0))
    values = np.array([0.0, 5.0, 10.0, np.nan, -2.0])
    # As train sets it: [-1, 11]; a lone minimum left out leaves [1, 10] widened to
    # [0.1, 10.9] ...
    assert extremes.breaks(values, 0.1, held_out=False).tolist() == [0, 0, 0, 0, 1]
    # ... and a lone maximum left out leaves [0, 9] widened to [-0.9, 9.9].
    assert extremes.breaks(values, 0.1, held_out=True).tolist() == [1, 0, 1, 0, 1]
    tied = Extremes(least=(0.0, 0.0), greatest=(10.0, 9.0))
    assert not tied.breaks(np.array([0.0]), 0.1, held_out=True)[0]
    lone_inf = Extremes(least=(0.0, 1.0), greatest=(10.0, 9.0), pos_inf=1)
    assert not lone_inf.breaks(np.array([np.inf]), 0.1, held_out=False)[0]
    assert lone_inf.breaks(np.array([np.inf]), 0.1, held_out=True)[0]
