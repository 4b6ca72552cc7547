from __future__ import annotations

import datetime as dt
import functools
import json

import numpy as np
import polars as pl
import pytest

import qa
from qa import stats
from qa.checks.schema import (
    RuleOutcome,
    Schema,
    infer_rules,
    inferred_pandera_schema,
    with_q_values,
)
from qa.checks.schema import (
    decide as _decide,
)
from qa.testing import check_contract
from tests.conftest import make_classification_frame, random_split


def run_schema(**inputs):
    report = qa.check(target=inputs.pop("target", "label"), only=["schema"], **inputs)
    return report.checks[0]


def mixed_frame(n: int, seed: int = 0) -> pl.DataFrame:
    """Realistic columns: heavy tails, skew, integers, rare categories, missing values, an id."""
    rng = np.random.default_rng(seed)
    zipf = np.minimum(rng.zipf(1.6, n), 40)
    income = rng.lognormal(10, 1.0, n)
    income[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": income,
            "score": rng.standard_t(3, n),
            "visits": rng.poisson(2.0, n),
            "city": [f"city_{z}" for z in zipf],
            "plan": rng.choice(["basic", "plus", "pro", None], n, p=[0.6, 0.3, 0.09, 0.01]),
            "flag": rng.random(n) < 0.3,
            "customer": [f"c{i:07d}" for i in rng.permutation(n)],
            "label": rng.integers(0, 2, n),
        }
    )


def with_rows_replaced(frame: pl.DataFrame, column: str, share: float, value, seed: int = 1):
    rng = np.random.default_rng(seed)
    hit = np.zeros(frame.height, dtype=bool)
    hit[rng.choice(frame.height, round(share * frame.height), replace=False)] = True
    return frame.with_columns(
        pl.when(pl.Series(hit)).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


# ------------------------------------------------------------------ contract and thresholds
def test_schema_contract_fails_when_a_production_feature_is_in_other_units():
    frame = make_classification_frame(n=3000)
    train, test, prod = random_split(frame, (0.6, 0.2, 0.2))
    bad_prod = prod.drop("label").with_columns(pl.col("num_0") * 10)
    _clean, defective = check_contract(
        Schema,
        clean=dict(train=train, test=test, production=prod.drop("label"), target="label"),
        defective=dict(train=train, test=test, production=bad_prod, target="label"),
    )
    result = defective.checks[0]
    assert result.subjects == ("num_0",)
    assert result.metrics["columns_failing"] == 1
    assert result.metrics["worst_violation_share"] > 0.5


@pytest.mark.parametrize(("share", "status"), [(0.005, "pass"), (0.02, "fail")])
def test_schema_judges_out_of_range_values_by_share(share, status):
    frame = make_classification_frame(n=40_000, seed=3)
    train, test = random_split(frame, (0.5, 0.5))
    test = with_rows_replaced(test, "num_1", share, 1e6)
    result = run_schema(train=train, test=test)
    assert result.status == status, result.message
    assert result.metrics["worst_violation_share"] == pytest.approx(share, abs=1e-4)


def test_schema_range_tolerance_accepts_values_just_past_the_train_maximum():
    frame = make_classification_frame(n=20_000, seed=4)
    train, test = random_split(frame, (0.5, 0.5))
    span = train["num_2"].max() - train["num_2"].min()
    nudged = with_rows_replaced(test, "num_2", 0.05, train["num_2"].max() + 0.05 * span)
    assert run_schema(train=train, test=nudged).status == "pass"
    pushed = with_rows_replaced(test, "num_2", 0.05, train["num_2"].max() + 0.2 * span)
    assert run_schema(train=train, test=pushed).status == "fail"


# ------------------------------------------------------------------ no crying wolf
@pytest.mark.parametrize("seed", range(6))
def test_schema_passes_random_splits_of_breast_cancer(seed):
    from sklearn.datasets import load_breast_cancer

    frame = pl.from_pandas(load_breast_cancer(as_frame=True).frame)
    train, validation, test = random_split(frame, (0.6, 0.2, 0.2), seed=seed)
    result = run_schema(train=train, validation=validation, test=test, target="target")
    assert result.status == "pass", result.message


@pytest.mark.parametrize(("n", "seed"), [(300, 0), (300, 1), (2000, 2), (2000, 3), (20_000, 4)])
def test_schema_passes_random_splits_of_mixed_heavy_tailed_data(n, seed):
    train, validation, test, prod = random_split(
        mixed_frame(n, seed), (0.6, 0.15, 0.15, 0.1), seed=seed
    )
    result = run_schema(
        train=train, validation=validation, test=test, production=prod.drop("label"), checks={}
    )
    assert result.status == "pass", result.message


# ------------------------------------------------------------------ structural failures
def test_schema_fails_when_a_numeric_column_arrives_as_text():
    train, test = random_split(make_classification_frame(n=1000))
    test = test.with_columns(pl.col("num_3").cast(pl.String))
    result = run_schema(train=train, test=test)
    assert result.status == "fail"
    assert result.subjects == ("num_3",)
    row = result.evidence[0].rows[0]
    assert row[2] == "type family" and "categorical" in row[6]


def test_schema_fails_on_a_missing_column_but_not_on_an_unlabelled_production():
    train, test, prod = random_split(make_classification_frame(n=1000), (0.6, 0.2, 0.2))
    ok = run_schema(train=train, test=test, production=prod.drop("label"))
    assert ok.status == "pass", ok.message
    result = run_schema(train=train, test=test, production=prod.drop("label", "cat"))
    assert result.status == "fail"
    assert result.subjects == ("cat",)


def test_schema_only_warns_on_an_extra_column():
    train, test = random_split(make_classification_frame(n=1000))
    result = run_schema(train=train, test=test.with_columns(pl.lit(1.0).alias("new_feature")))
    assert result.status == "warn"
    assert result.subjects == ("new_feature",)


def test_schema_treats_integer_to_float_as_the_same_type_family():
    frame = make_classification_frame(n=1000).with_columns(
        (pl.col("num_0") * 10).round().cast(pl.Int64).alias("count")
    )
    train, test = random_split(frame)
    result = run_schema(train=train, test=test.with_columns(pl.col("count").cast(pl.Float64)))
    assert result.status == "pass", result.message


def test_schema_fails_when_a_column_is_entirely_null_in_production():
    train, prod = random_split(make_classification_frame(n=1000))
    empty = prod.drop("label").with_columns(pl.lit(None, dtype=pl.Float64).alias("num_1"))
    result = run_schema(train=train, production=empty)
    assert result.status == "fail"
    assert result.subjects == ("num_1",)
    untyped = prod.drop("label").with_columns(pl.lit(None).alias("num_1"))  # dtype Null
    assert run_schema(train=train, production=untyped).status == "fail"


# ------------------------------------------------------------------ edge cases
def test_schema_copes_with_a_column_entirely_null_in_train():
    frame = make_classification_frame(n=1000).with_columns(pl.lit(None).alias("empty"))
    train, test = random_split(frame)
    result = run_schema(train=train, test=test)
    assert result.status == "pass", result.message


def test_schema_constant_column_passes_when_constant_and_fails_when_it_changes():
    frame = make_classification_frame(n=4000).with_columns(pl.lit(7.0).alias("const"))
    train, test = random_split(frame)
    assert run_schema(train=train, test=test).status == "pass"
    changed = test.with_columns(pl.lit(8.0).alias("const"))
    result = run_schema(train=train, test=changed)
    assert result.status == "fail" and result.subjects == ("const",)


def test_schema_counts_infinities_as_out_of_range_and_nan_as_missing():
    train, test = random_split(make_classification_frame(n=20_000, seed=5))
    with_inf = with_rows_replaced(test, "num_0", 0.03, float("inf"))
    result = run_schema(train=train, test=with_inf)
    assert result.status == "fail"
    assert result.evidence[0].rows[0][2] == "in range"
    with_nan = with_rows_replaced(test, "num_0", 0.03, float("nan"))
    result = run_schema(train=train, test=with_nan)
    assert result.status == "fail"
    assert result.evidence[0].rows[0][2] == "not missing"
    rare_nan = with_rows_replaced(test, "num_0", 0.002, float("nan"))
    assert run_schema(train=train, test=rare_nan).status == "pass"


def test_schema_accepts_missing_values_at_trains_own_rate():
    frame = make_classification_frame(n=10_000, seed=6)
    frame = with_rows_replaced(frame, "num_0", 0.2, None, seed=2)
    train, test = random_split(frame, seed=1)
    assert run_schema(train=train, test=test).status == "pass"
    broken = with_rows_replaced(test, "num_0", 0.6, None, seed=3)
    assert run_schema(train=train, test=broken).status == "fail"


@pytest.mark.parametrize(("share", "status"), [(0.001, "pass"), (0.05, "fail")])
def test_schema_judges_unseen_production_categories_by_share(share, status):
    train, prod = random_split(make_classification_frame(n=20_000, seed=7), (0.5, 0.5))
    prod = with_rows_replaced(prod.drop("label"), "cat", share, "purple")
    result = run_schema(train=train, production=prod)
    assert result.status == status, result.message
    if status == "fail":
        assert result.subjects == ("cat",)
        assert "purple" in result.evidence[0].rows[0][6]


def test_schema_gives_no_category_rule_to_a_20k_distinct_string_column():
    n = 20_000
    frame = make_classification_frame(n=n, seed=8).with_columns(
        pl.Series("user", [f"u{i}" for i in range(n)])
    )
    train, test = random_split(frame)
    result = run_schema(train=train, test=test)
    assert result.status == "pass", result.message
    rule = next(r for r in infer_rules(train) if r.name == "user")
    assert rule.domain is None and rule.n_unique == train.height


def test_schema_ignores_values_of_id_columns_but_checks_their_type():
    frame = make_classification_frame(n=2000).with_row_index("row_id")
    train, test = frame.head(1500), frame.tail(500)  # ids in test all beyond train's range
    config = {"task": {"id": "row_id"}}
    report = qa.check(train=train, test=test, target="label", config=config, only=["schema"])
    assert report.checks[0].status == "pass", report.checks[0].message
    as_text = test.with_columns(pl.col("row_id").cast(pl.String))
    report = qa.check(train=train, test=as_text, target="label", config=config, only=["schema"])
    assert report.checks[0].status == "fail"


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "naïve ü 列", "^num.*$", "*"])
def test_schema_handles_hostile_column_names(name):
    frame = make_classification_frame(n=4000).rename({"num_0": name})
    train, test = random_split(frame)
    assert run_schema(train=train, test=test).status == "pass"
    result = run_schema(train=train, test=test.with_columns(test[name].cast(pl.String)))
    assert result.status == "fail"
    assert result.subjects == (name,)
    json.dumps(result.to_dict())


def test_schema_with_only_train_reports_the_inferred_schema():
    result = run_schema(train=make_classification_frame(n=500))
    assert result.status == "pass"
    assert result.evidence[-1].title == "Schema inferred from train"


def test_schema_is_deterministic_and_json_safe_with_nan_and_inf():
    train, test = random_split(make_classification_frame(n=5000, seed=9))
    test = with_rows_replaced(test, "num_0", 0.05, float("-inf"))
    first, second = run_schema(train=train, test=test), run_schema(train=train, test=test)
    assert first.to_dict() | {"duration_s": 0} == second.to_dict() | {"duration_s": 0}
    assert "-inf" in json.dumps(first.to_dict())


# ------------------------------------------------------------------ user-supplied schemas
def test_schema_file_in_python_is_applied_strictly(tmp_path):
    train, test = random_split(make_classification_frame(n=2000))
    path = tmp_path / "my_schema.py"
    path.write_text(
        "import pandera.polars as pa\n"
        "import polars as pl\n"
        "schema = pa.DataFrameSchema({\n"
        "    'num_0': pa.Column(pl.Float64, checks=pa.Check.in_range(-10, 10)),\n"
        "    'cat': pa.Column(pl.String, checks=pa.Check.isin(['red', 'green', 'blue'])),\n"
        "    'label': pa.Column(pl.Int64),\n"
        "})\n"
    )
    checks = {"schema": {"schema_file": str(path)}}
    ok = run_schema(train=train, test=test, production=test.drop("label"), checks=checks)
    assert ok.status == "pass", ok.message
    one_bad = with_rows_replaced(test, "num_0", 1 / test.height, 50.0)
    result = run_schema(train=train, test=one_bad, checks=checks)
    assert result.status == "fail"
    assert result.subjects == ("num_0",)
    assert result.evidence[0].rows[0][3] == 1


def test_schema_file_in_pandera_json_is_read(tmp_path):
    import pandera.pandas as pa

    train, test = random_split(make_classification_frame(n=1000))
    schema = pa.DataFrameSchema({"num_0": pa.Column(float, checks=pa.Check.in_range(-10, 10))})
    path = tmp_path / "schema.json"
    path.write_text(schema.to_json())
    checks = {"schema": {"schema_file": str(path)}}
    assert run_schema(train=train, test=test, checks=checks).status == "pass"
    bad = test.with_columns(pl.col("num_0") * 100)
    assert run_schema(train=train, test=bad, checks=checks).status == "fail"


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("missing.py", None),
        ("broken.py", "this is not python"),
        ("no_schema.py", "x = 1\n"),
        ("bad.json", "{not json"),
        ("schema.txt", "hello"),
    ],
)
def test_a_bad_schema_file_is_a_config_error_naming_the_file(tmp_path, filename, content):
    path = tmp_path / filename
    if content is not None:
        path.write_text(content)
    result = run_schema(
        train=make_classification_frame(n=200), checks={"schema": {"schema_file": str(path)}}
    )
    assert result.status == "error"
    assert filename in result.message and "schema_file" in result.message
    assert not result.traceback


def test_inferred_pandera_schema_validates_train_and_catches_other_units():
    train, test = random_split(mixed_frame(2000))
    schema = inferred_pandera_schema(train)
    schema.validate(train)
    assert set(schema.columns) == set(train.columns)
    import pandera.errors

    with pytest.raises(pandera.errors.SchemaErrors):
        schema.validate(test.with_columns(pl.col("income") * 1000), lazy=True)


def test_benjamini_hochberg_rejects_only_small_p_values():
    def benjamini_hochberg(p_values: list[float], alpha: float) -> list[bool]:
        return (stats.benjamini_hochberg(np.array(p_values)) <= alpha).tolist()

    assert benjamini_hochberg([0.001, 0.02, 0.5, 0.03], 0.05) == [True, True, False, True]
    assert benjamini_hochberg([0.001, 0.02, 0.5, 0.04], 0.05) == [True, True, False, False]
    assert benjamini_hochberg([0.2, 0.5], 0.05) == [False, False]
    assert benjamini_hochberg([], 0.05) == []


def test_schema_allows_infinities_that_train_already_had():
    frame = with_rows_replaced(
        make_classification_frame(n=10_000, seed=10), "num_0", 0.05, float("inf")
    )
    train, test = random_split(frame)
    assert run_schema(train=train, test=test).status == "pass"
    rule = next(r for r in infer_rules(train) if r.name == "num_0")
    assert rule.high == float("inf") and np.isfinite(rule.train_max)


def test_schema_copes_with_an_all_nan_float_column():
    frame = make_classification_frame(n=1000).with_columns(pl.lit(float("nan")).alias("nan"))
    train, test = random_split(frame)
    assert run_schema(train=train, test=test).status == "pass"


def test_schema_type_families_string_vs_categorical_same_bool_vs_int_different():
    frame = make_classification_frame(n=2000).with_columns((pl.col("num_0") > 0).alias("flag"))
    train, test = random_split(frame)
    as_categorical = test.with_columns(pl.col("cat").cast(pl.Categorical))
    assert run_schema(train=train, test=as_categorical).status == "pass"
    as_int = test.with_columns(pl.col("flag").cast(pl.Int8))
    result = run_schema(train=train, test=as_int)
    assert result.status == "fail" and result.subjects == ("flag",)


def test_schema_puts_no_range_on_dates_so_later_production_passes():
    import datetime as dt

    frame = make_classification_frame(n=2000).with_columns(
        pl.date_range(
            dt.date(2020, 1, 1), dt.date(2020, 1, 1) + dt.timedelta(days=1999), eager=True
        ).alias("signup")
    )
    train, prod = frame.head(1500), frame.tail(500).drop("label")
    assert run_schema(train=train, production=prod).status == "pass"


@pytest.mark.parametrize("name", ["count", "value", "n", "len"])
def test_schema_handles_category_columns_named_like_polars_internals(name):
    frame = make_classification_frame(n=4000).rename({"cat": name})
    train, test = random_split(frame)
    assert run_schema(train=train, test=test).status == "pass"
    result = run_schema(train=train, test=with_rows_replaced(test, name, 0.1, "new"))
    assert result.status == "fail" and result.subjects == (name,)


def test_schema_unseen_categories_in_a_small_split_are_not_drowned_by_many_range_rules():
    """BH runs per rule kind: 3 of 57 production rows with a new category fail among 30 columns."""
    rng = np.random.default_rng(7)
    n_train, n_prod = 340, 57
    train = pl.DataFrame({f"x{i}": rng.normal(size=n_train) for i in range(30)}).with_columns(
        band=pl.Series(rng.choice(["a", "b", "c", "d", "e"], n_train)),
        y=pl.Series(rng.integers(0, 2, n_train)),
    )
    prod_band = rng.choice(["a", "b", "c", "d", "e"], n_prod).astype(object)
    prod_band[:3] = "zz-new"
    production = pl.DataFrame({f"x{i}": rng.normal(size=n_prod) for i in range(30)}).with_columns(
        band=pl.Series(prod_band.astype(str)),
    )
    report = qa.check(train=train, production=production, target="y", only=["schema"])
    result = report.checks[0]
    assert result.status == "fail", result.message
    assert result.subjects == ("band",)


# ------------------------------------------------------------------ datetime features
def dated(n: int, start: dt.datetime, days: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, days * 86_400, n)
    created = [start + dt.timedelta(seconds=int(s)) for s in seconds]
    return make_classification_frame(n=n, seed=seed).with_columns(pl.Series("created_at", created))


def test_schema_passes_a_february_created_at_of_a_january_train_with_a_time_note():
    train = dated(4000, dt.datetime(2024, 1, 1), 31, seed=11)
    test = dated(1000, dt.datetime(2024, 2, 1), 29, seed=12)
    result = run_schema(train=train, test=test)
    assert result.status == "pass", result.message
    assert "'created_at' in test lies outside train's dates (100% of its values)" in result.message
    assert 'declare [task] time = "created_at"' in result.message
    assert result.metrics["time_axis_columns"] == 1
    row = result.evidence[0].rows[0]
    assert (row[1], row[2], row[-1]) == ("created_at", "time axis", "note")
    rule = next(r for r in infer_rules(train) if r.name == "created_at")
    assert rule.calendar and rule.low is None  # recorded, no range rule


def test_schema_still_fails_a_created_at_that_changes_type_goes_missing_or_is_empty():
    train = dated(2000, dt.datetime(2024, 1, 1), 31, seed=13)
    test = dated(500, dt.datetime(2024, 2, 1), 29, seed=14)
    as_text = run_schema(train=train, test=test.with_columns(pl.col("created_at").cast(pl.String)))
    assert as_text.status == "fail" and as_text.subjects == ("created_at",)
    missing = run_schema(train=train, test=test.drop("created_at"))
    assert missing.status == "fail" and missing.subjects == ("created_at",)
    empty = test.with_columns(pl.lit(None, dtype=pl.Datetime("us")).alias("created_at"))
    result = run_schema(train=train, test=empty)
    assert result.status == "fail" and result.subjects == ("created_at",)


def test_schema_says_nothing_of_dates_within_trains_and_leaves_a_declared_time_column_alone():
    frame = dated(4000, dt.datetime(2024, 1, 1), 60, seed=15)
    train, test = random_split(frame)
    result = run_schema(train=train, test=test)
    assert result.status == "pass" and "time axis" not in result.message
    later = dated(1000, dt.datetime(2024, 3, 1), 29, seed=16)
    config = {"task": {"target": "label", "time": "created_at"}}
    report = qa.check(train=train, test=later, config=config, only=["schema"])
    declared = report.checks[0]
    assert declared.status == "pass" and "time axis" not in declared.message


# ------------------------------------------------------------------ decide, at its edges
def outcome(kind: str = "share", share: float = 0.02, q: float = 0.01, rule: str = "in range"):
    return RuleOutcome("test", "x", rule, "", 1, share, kind, q_value=q)


def test_decide_fails_a_share_rule_only_past_both_bars():
    params = Schema.Params()  # max_violation_share 0.01, alpha 0.05
    decide = functools.partial(_decide, share=0.05)  # one kind of rule: it fails at q <= 0.05
    assert decide([outcome(share=0.0101, q=0.05)], params).status == "fail"
    assert decide([outcome(share=0.01, q=0.0)], params).status == "pass"  # not above the share
    assert decide([outcome(share=0.5, q=0.0501)], params).status == "pass"  # not significant
    assert (
        decide([outcome("fail", share=1.0, q=1.0, rule="column present")], params).status == "fail"
    )
    warn = decide([outcome("warn", rule="extra column")], params)
    assert warn.status == "warn" and len(warn.warnings) == 1
    assert decide([outcome("note", share=1.0, q=0.0, rule="time axis")], params).status == "pass"


def test_q_values_are_benjamini_hochberg_within_each_rule_kind():
    outcomes = [
        RuleOutcome("test", "a", "in range", "", 1, 0.1, "share", p_value=0.01),
        RuleOutcome("test", "b", "in range", "", 1, 0.1, "share", p_value=0.04),
        RuleOutcome("test", "c", "known category", "", 1, 0.1, "share", p_value=0.04),
        RuleOutcome("test", "d", "extra column", "", 1, 1.0, "warn"),
    ]
    q = [f.q_value for f in with_q_values(outcomes)]
    assert q == pytest.approx([0.02, 0.04, 0.04, 1.0])


# ------------------------------------------------------------------ the false-alarm budget
def out_of_range_rows(k: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A 300-row train and a 700-row test whose first ``k`` num_1 values are far out of range:
    with k = 20 (2.9 %, past max_violation_share) a range rule broken at q of about 0.002."""
    train, test = random_split(make_classification_frame(n=1000, seed=3), (0.3, 0.7))
    row = pl.int_range(pl.len())
    test = test.with_columns(pl.when(row < k).then(1e6).otherwise(pl.col("num_1")).alias("num_1"))
    return train, test


@pytest.mark.parametrize(("rate", "status"), [(0.5, "fail"), (0.001, "warn")])
def test_schema_fail_level_follows_the_false_alarm_share(rate, status):
    train, test = out_of_range_rows(20)
    config = {"run": {"false_alarm_rate": rate}}
    result = run_schema(train=train, test=test, config=config)
    assert result.status == status, result.message
    assert result.subjects == ("num_1",)
    assert result.thresholds["false_alarm_share"] == pytest.approx(rate)
    # missing, range and category rules: three kinds, each gets a third of the share
    assert result.thresholds["fail_level"] == pytest.approx(rate / 3, rel=1e-3)
    row = result.evidence[0].rows[0]
    assert (row[1], row[2], row[-1]) == (
        "num_1",
        "in range",
        "fail" if status == "fail" else "warn",
    )
    if status == "warn":
        assert "may break train's schema" in result.message and "may be chance" in result.message


def test_schema_states_its_share_and_splits_it_only_across_the_kinds_present():
    train, test = random_split(make_classification_frame(n=1000, seed=3))
    result = run_schema(train=train, test=test)
    assert result.thresholds["false_alarm_share"] == pytest.approx(0.02)  # alone: the whole rate
    assert result.thresholds["fail_level"] == pytest.approx(0.02 / 3, rel=1e-4)
    numeric = train.select("num_0", "label"), test.select("num_0", "label")
    result = run_schema(train=numeric[0], test=numeric[1])
    assert result.thresholds["fail_level"] == pytest.approx(0.02 / 2, rel=1e-4)  # no category rule
    assert Schema.fail_tests == 3


def test_decide_warns_on_a_share_rule_between_the_fail_level_and_alpha():
    params = Schema.Params()
    range_rule = outcome(share=0.02, q=0.004)
    assert _decide([range_rule], params, share=0.02).status == "fail"  # one kind: 0.02
    split = [range_rule, outcome(share=0.0, q=1.0, rule="not missing")]
    assert _decide(split, params, share=0.02).status == "fail"  # two kinds: 0.01 each
    three = [*split, outcome(share=0.0, q=1.0, rule="known category")]
    warned = _decide(three, params, share=0.006)  # three kinds: 0.002 each
    assert warned.status == "warn" and warned.warnings == (range_rule,)
    assert warned.fail_level == pytest.approx(0.002)
    assert _decide([outcome(share=0.02, q=0.06)], params, share=0.02).status == "pass"


def test_schema_judges_a_column_empty_in_a_split_by_trains_own_missing_rate():
    frame = make_classification_frame(n=4000, seed=8)
    frame = with_rows_replaced(frame, "num_0", 0.5, None, seed=2)
    train, test = random_split(frame, (0.9, 0.1), seed=1)
    tiny = test.head(3).with_columns(pl.lit(None, dtype=pl.Float64).alias("num_0"))
    # half of train is missing: 3 empty rows are no evidence (p about 1/8)
    assert run_schema(train=train, test=tiny).status == "pass"
    empty = test.with_columns(pl.lit(None, dtype=pl.Float64).alias("num_0"))
    result = run_schema(train=train, test=empty)
    assert result.status == "fail" and result.subjects == ("num_0",)
    assert result.evidence[0].rows[0][2] == "has values"
