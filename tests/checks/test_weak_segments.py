from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest

import qa
from qa.checks.weak_segments import (
    Candidates,
    ReferenceOnSegment,
    WeakSegments,
    clearly_better,
    could_fail,
    decide,
    diagnose,
    segment_tests,
    segment_verdict,
)
from qa.testing import check_contract
from tests.model_fixtures import proba_frame, xgb_classifier

CHECK_ID = "weak-segments"
#: One thread per fit: XGBoost's threads spin badly on a shared, oversubscribed CI runner.
ONE_THREAD = {"run": {"threads": 1}}
REGIONS = [f"r{i}" for i in range(10)]


def _run(frames, predictions, task=None, **params):
    report = qa.check(
        **frames,
        target="label",
        task=task,
        predictions={"test": predictions},
        only=[CHECK_ID],
        extra_checks=[WeakSegments],
        checks={CHECK_ID: params} if params else None,
        config=ONE_THREAD,
    )
    return report.checks[0]


def _planted_frames(n: int = 4000, seed: int = 0, flip_region: str | None = None):
    """Train and test halves: four numeric features (three carry the signal) and a region
    column the label ignores; with ``flip_region``, that region's labels are random in both
    halves (a labelling problem there)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    region = rng.choice(REGIONS, n)
    logit = 2.0 * (x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    if flip_region is not None:
        noisy = region == flip_region
        y[noisy] = rng.integers(0, 2, int(noisy.sum()))
    frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(4)}).with_columns(
        pl.Series("region", region), pl.Series("label", y)
    )
    half = n // 2
    return {"train": frame[:half], "test": frame[half:]}


def _xgb_proba(frames, columns=("x0", "x1", "x2", "x3"), n_estimators=60):
    train, test = frames["train"], frames["test"]
    model = xgb_classifier(n_estimators=n_estimators)
    model.fit(train.select(columns).to_numpy(), train["label"].to_numpy())
    return model.predict_proba(test.select(columns).to_numpy())


def _wrong_on(frames, proba, mask):
    """The model's probabilities with the two classes swapped on ``mask``'s test rows."""
    bad = proba.copy()
    bad[mask] = bad[mask][:, ::-1]
    return bad


@pytest.fixture(scope="module")
def planted():
    frames = _planted_frames()
    proba = _xgb_proba(frames)
    r3 = (frames["test"]["region"] == "r3").to_numpy()
    return frames, proba, _wrong_on(frames, proba, r3)


# --------------------------------------------------------------------------- the promise
def test_weak_segments_fails_a_model_wrong_on_one_category_and_names_it(planted):
    frames, good, bad = planted
    clean, defective = check_contract(
        WeakSegments,
        clean=dict(**frames, target="label", predictions={"test": proba_frame(good, [0, 1])}),
        defective=dict(**frames, target="label", predictions={"test": proba_frame(bad, [0, 1])}),
        clean_statuses=("pass", "warn"),
    )
    result = defective.checks[0]
    assert result.subjects == ("region",)
    assert result.message.startswith("1 segment(s) fail")
    assert "region = 'r3'" in result.message and "model problem" in result.message
    evidence = result.evidence[0]
    first = dict(zip(evidence.columns, evidence.rows[0], strict=True))
    assert first["segment"] == "region = 'r3'"
    assert first["verdict"] == "fail"
    assert first["model error rate"] > 0.6 and first["baseline error rate"] < 0.35
    assert first["ratio"] > 2.0
    assert 0.08 < first["share of test"] < 0.12
    assert first["diagnosis"].startswith("model problem")
    assert first["model roc_auc"] < 0.2  # the primary metric on the segment: inverted
    assert first["roc_auc CI low"] <= first["model roc_auc"] <= first["roc_auc CI high"]
    chart = result.charts[0]
    assert chart.kind == "bars" and chart.data["labels"][0] == "region = 'r3'"
    assert chart.data["threshold"] == pytest.approx(result.metrics["overall_error_rate"])
    assert result.metrics["n_failing"] >= 1
    assert clean.checks[0].metrics["n_failing"] == 0


def test_a_model_wrong_on_a_pair_of_levels_fails_naming_the_pair():
    frames = _planted_frames(n=6000, seed=3)
    rng = np.random.default_rng(3)
    for split, frame in frames.items():
        extra = [
            pl.Series("zone", rng.choice(["z1", "z2", "z3"], frame.height)),
            pl.Series("channel", rng.choice(["web", "shop", "phone"], frame.height)),
        ]
        frames[split] = frame.with_columns(extra)
    proba = _xgb_proba(frames)
    test = frames["test"]
    cell = ((test["zone"] == "z2") & (test["channel"] == "phone")).to_numpy()  # 1/9 of rows
    result = _run(frames, proba_frame(_wrong_on(frames, proba, cell), [0, 1]))
    assert result.status == "fail", result.message
    failing = {row[0]: row for row in result.evidence[0].rows if row[-1] == "fail"}
    pair = failing["zone = 'z2' and channel = 'phone'"]
    assert pair[5] > 3.0  # ratio: far worse than the rest
    # its parent is also twice as bad as the rest (a third of it is all wrong); the pair is
    # the sharper description
    assert set(failing) <= {"zone = 'z2'", "channel = 'phone'", pair[0]}
    assert all(pair[5] > row[5] for name, row in failing.items() if name != pair[0])
    assert set(result.subjects) == {"zone", "channel"}


@pytest.mark.parametrize(
    ("dataset", "seed"),
    [("breast_cancer", 0), ("breast_cancer", 1), ("digits", 0), ("wine", 2), ("diabetes", 0)],
)
def test_a_good_xgboost_model_on_real_datasets_does_not_fail(dataset, seed):
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    x, y = getattr(sklearn.datasets, f"load_{dataset}")(return_X_y=True)
    regression = dataset == "diabetes"
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=seed)
    if regression:
        from xgboost import XGBRegressor

        model = XGBRegressor(n_estimators=100, max_depth=3, n_jobs=1, random_state=seed)
        preds = pl.DataFrame({"prediction": model.fit(x_train, y_train).predict(x_test)})
    else:
        model = xgb_classifier(n_estimators=60, seed=seed).fit(x_train, y_train)
        preds = proba_frame(model.predict_proba(x_test), list(range(int(y.max()) + 1)))

    def frame(xs, ys):
        return pl.DataFrame({f"f{i}": xs[:, i] for i in range(xs.shape[1])}).with_columns(
            pl.Series("label", ys)
        )

    task = "regression" if regression else None
    result = _run({"train": frame(x_train, y_train), "test": frame(x_test, y_test)}, preds, task)
    assert result.status in ("pass", "warn"), result.message
    assert result.metrics["n_failing"] == 0
    assert result.metrics["n_candidates"] > 0  # something was searched


def test_a_labelling_problem_in_one_region_warns_and_says_it_is_the_data():
    frames = _planted_frames(n=6000, seed=5, flip_region="r7")
    proba = _xgb_proba(frames)
    result = _run(frames, proba_frame(proba, [0, 1]))
    assert result.status == "warn", result.message
    first = dict(zip(result.evidence[0].columns, result.evidence[0].rows[0], strict=True))
    assert first["segment"] == "region = 'r7'"
    assert first["diagnosis"].startswith("data or labelling problem")
    assert "data or labelling problem" in result.message
    assert result.metrics["n_failing"] == 0


def test_regression_fails_a_model_far_off_on_one_category():
    rng = np.random.default_rng(11)
    n = 3000
    x = rng.normal(size=(n, 3))
    shop = rng.choice(["a", "b", "c", "d", "e", "f", "g", "h"], n)
    y = 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(size=n)
    pred = 3 * x[:, 0] - 2 * x[:, 1] + 0.1 * rng.normal(size=n)
    frame = pl.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "shop": shop, "label": y})
    frames = {"train": frame[: n // 2], "test": frame[n // 2 :]}
    good = pl.DataFrame({"prediction": pred[n // 2 :]})
    clean = _run(frames, good, task="regression")
    assert clean.status in ("pass", "warn") and clean.metrics["n_failing"] == 0, clean.message
    off = pred[n // 2 :] + np.where(shop[n // 2 :] == "e", -4.0, 0.0)  # too low: |error| counts
    result = _run(frames, pl.DataFrame({"prediction": off}), task="regression")
    assert result.status == "fail", result.message
    assert result.subjects == ("shop",)
    first = dict(zip(result.evidence[0].columns, result.evidence[0].rows[0], strict=True))
    assert first["segment"] == "shop = 'e'"
    assert first["model MAE"] > 3 * first["MAE on the rest"]
    assert "model rmse" in first  # the primary metric on the segment


def test_multiclass_fails_a_model_wrong_on_one_category():
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.normal(size=(n, 3))
    y = np.digitize(x[:, 0] + 0.3 * rng.normal(size=n), [-0.6, 0.6])
    site = rng.choice(REGIONS, n)
    frame = pl.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "site": site, "label": y})
    frames = {"train": frame[: n // 2], "test": frame[n // 2 :]}
    truth = np.digitize(x[n // 2 :, 0], [-0.6, 0.6])
    proba = np.full((n // 2, 3), 0.05)
    proba[np.arange(n // 2), truth] = 0.9
    wrong = site[n // 2 :] == "r5"
    proba[wrong] = proba[wrong][:, [2, 0, 1]]
    result = _run(frames, proba_frame(proba, [0, 1, 2]))
    assert result.status == "fail", result.message
    assert result.subjects == ("site",)
    assert result.evidence[0].rows[0][0] == "site = 'r5'"


# --------------------------------------------------------------------------- edge cases
def test_one_class_in_test_leaves_the_metric_undefined_but_still_judges_errors(planted):
    frames, _good, _bad = planted
    test = frames["test"].filter(pl.col("label") == 1)
    proba = _xgb_proba({"train": frames["train"], "test": test})
    r3 = (test["region"] == "r3").to_numpy()
    result = _run(
        {"train": frames["train"], "test": test}, proba_frame(_wrong_on(None, proba, r3), [0, 1])
    )
    assert result.status == "fail", result.message
    first = dict(zip(result.evidence[0].columns, result.evidence[0].rows[0], strict=True))
    assert first["segment"] == "region = 'r3'"
    assert first["model roc_auc"] is None  # AUC needs both classes


def test_nan_and_inf_features_get_their_own_level_or_the_outer_bins(planted):
    frames, good, _bad = planted
    test = frames["test"]
    rng = np.random.default_rng(0)
    x3 = test["x3"].to_numpy().astype(np.float64)
    missing = rng.random(len(x3)) < 0.15
    x3[missing] = np.nan
    x3[:5] = np.inf
    x3[5:10] = -np.inf
    test = test.with_columns(pl.Series("x3", x3))
    bad = _wrong_on(None, good, missing)  # the model fails where x3 is missing
    result = _run({"train": frames["train"], "test": test}, proba_frame(bad, [0, 1]))
    assert result.status == "fail", result.message
    assert result.evidence[0].rows[0][0] == "x3 is missing"
    assert result.subjects == ("x3",)


def test_an_unseen_category_is_marked_and_can_be_the_weak_segment(planted):
    frames, good, _bad = planted
    test = frames["test"]
    region = np.where(test["region"].to_numpy() == "r3", "brand-new", test["region"].to_numpy())
    test = test.with_columns(pl.Series("region", region))
    bad = _wrong_on(None, good, region == "brand-new")
    result = _run({"train": frames["train"], "test": test}, proba_frame(bad, [0, 1]))
    assert result.status == "fail", result.message
    assert result.evidence[0].rows[0][0] == "region = 'brand-new' (not in train)"


def test_a_huge_cardinality_column_does_not_explode_the_search(planted):
    frames, _good, bad = planted
    with_ids = {
        split: f.with_columns(pl.Series("row_id", [f"id-{i}-{split}" for i in range(f.height)]))
        for split, f in frames.items()
    }
    base = _run(frames, proba_frame(bad, [0, 1]))
    result = _run(with_ids, proba_frame(bad, [0, 1]))
    assert result.status == "fail" and result.subjects == ("region",)
    # every id is its own value: one "any value" level, which forms no segment
    assert result.metrics["n_candidates"] == base.metrics["n_candidates"]


def test_datetime_ranges_are_searched_and_described_as_dates(planted):
    frames, good, _bad = planted
    n = frames["test"].height
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    when = pl.Series("when", [start + dt.timedelta(hours=6 * i) for i in range(n)])
    day = pl.Series("day", [dt.date(2023, 1, 1) + dt.timedelta(days=i % 365) for i in range(n)])
    test = frames["test"].with_columns(when, day)
    train = frames["train"].with_columns(when[: frames["train"].height], day)
    late = np.arange(n) >= int(0.9 * n)  # the model fails on the last 10 % of the period
    result = _run({"train": train, "test": test}, proba_frame(_wrong_on(None, good, late), [0, 1]))
    assert result.status == "fail", result.message
    first = result.evidence[0].rows[0][0]
    assert first.startswith("when > 2025-") and "T" in first, first  # 2,000 rows, 6 h apart


def test_hostile_and_unicode_column_names_survive_to_the_report(planted):
    frames, _good, bad = planted
    names = {"region": "<script>alert('x')</script> région", "x0": "ünïcødé 特征 = 1"}
    renamed = {s: f.rename(names) for s, f in frames.items()}
    report = qa.check(
        **renamed,
        target="label",
        predictions={"test": proba_frame(bad, [0, 1])},
        only=[CHECK_ID],
        extra_checks=[WeakSegments],
        config=ONE_THREAD,
    )
    result = report.checks[0]
    assert result.status == "fail"
    assert result.subjects == (names["region"],)
    assert result.evidence[0].rows[0][0] == f"{names['region']} = 'r3'"
    assert json.loads(report.to_json())["checks"][0]["subjects"] == [names["region"]]
    from qa.reports.html import render

    html = render(report)
    assert "<script>alert" not in html


def test_sampled_pair_search_says_so_and_still_finds_the_planted_segment(planted):
    frames, _good, bad = planted
    result = _run(frames, proba_frame(bad, [0, 1]), search_rows=1000)
    assert result.status == "fail"
    assert result.metrics["search_rows"] == 1000
    note = result.evidence[0].note
    assert "seeded sample of 1,000 rows (50%)" in note and "re-counted on all rows" in note


def test_skips_when_the_test_split_has_no_labels(planted):
    from qa.api import build_context
    from qa.config import parse_config

    frames, good, _bad = planted
    config = parse_config({"task": {"target": "label"}, "run": {"threads": 1}})
    ctx = build_context(config, frames, {"test": proba_frame(good, [0, 1])})
    ctx.frames["test"] = ctx.frames["test"].drop("label")  # the loader refuses it; the check too
    result = WeakSegments().run(ctx, WeakSegments.Params())
    assert result.status == "skip"
    assert "no target column 'label'" in result.message


def test_skips_when_the_test_split_is_too_small(planted):
    frames, good, _bad = planted
    small = {"train": frames["train"], "test": frames["test"][:50]}
    result = _run(small, proba_frame(good[:50], [0, 1]))
    assert result.status == "skip"
    assert "50 rows" in result.message and "30 rows" in result.message


@pytest.mark.parametrize("bad", [{"fdr": 0.0}, {"fail_gap": 0.5}, {"segment_rows": 1}, {"x": 1}])
def test_weak_segments_rejects_bad_parameters(planted, bad):
    frames, good, _ = planted
    with pytest.raises(qa.errors.ConfigError, match=r"checks\.weak-segments"):
        _run(frames, proba_frame(good, [0, 1]), **bad)


# --------------------------------------------------------------------------- measure and decide
def test_segment_tests_equal_fishers_exact_and_welchs_t():
    from scipy.stats import fisher_exact, ttest_ind

    rng = np.random.default_rng(4)
    errors = (rng.random(400) < 0.2).astype(float)
    errors[:40] = rng.random(40) < 0.45
    inside = np.zeros(400, bool)
    inside[:40] = True

    def cands(loss):
        return Candidates(
            *(np.array([v]) for v in (0, 0, -1, -1)),
            n=np.array([40.0]),
            s=np.array([loss[inside].sum()]),
            ss=np.array([(loss[inside] ** 2).sum()]),
        )

    got = segment_tests(cands(errors), 400, errors.sum(), errors.sum(), True)
    k_in, k_out = int(errors[inside].sum()), int(errors[~inside].sum())
    table = [[k_in, 40 - k_in], [k_out, 360 - k_out]]
    assert got.p[0] == pytest.approx(fisher_exact(table, alternative="greater").pvalue)
    assert got.mean_in[0] == pytest.approx(k_in / 40)

    absolute = np.abs(rng.normal(size=400)) + 0.5 * inside
    got = segment_tests(cands(absolute), 400, absolute.sum(), (absolute**2).sum(), False)
    want = ttest_ind(absolute[inside], absolute[~inside], equal_var=False, alternative="greater")
    assert got.p[0] == pytest.approx(want.pvalue, rel=1e-6)


class P:
    """Default parameters, as the decide functions read them."""

    fdr, warn_gap, fail_support, fail_gap = 0.05, 1.25, 0.05, 2.0


@pytest.mark.parametrize(
    ("share", "ratio", "q", "eligible"),
    [
        (0.05, 2.0, 0.02, True),
        (0.049, 2.0, 0.02, False),  # just too small
        (0.05, 1.99, 0.02, False),  # not bad enough
        (0.05, 2.0, 0.0201, False),  # not significant at the share
        (0.30, math.inf, 0.0, True),  # no errors at all outside
    ],
)
def test_fail_eligibility_at_its_edges(share, ratio, q, eligible):
    assert could_fail(share, ratio, q, 0.02, P) is eligible


def _ref(loss_in, loss_out=0.1, q=0.001):
    return ReferenceOnSegment("xgboost", loss_in, loss_out, p=q, q=q)


def test_a_reference_must_close_half_the_excess_significantly_to_blame_the_model():
    # model 0.5 in the segment, 0.1 outside: an excess of 0.4
    assert clearly_better(_ref(0.30), 0.5, 0.1, 0.02)  # closes exactly half
    assert not clearly_better(_ref(0.31), 0.5, 0.1, 0.02)
    assert not clearly_better(_ref(0.10, q=0.03), 0.5, 0.1, 0.02)  # not at the share
    assert clearly_better(_ref(0.10, q=0.03), 0.5, 0.1, 0.05)
    assert diagnose([_ref(0.1)], 0.5, 0.1, 1.25, 0.05) == "model"
    assert diagnose([_ref(0.45, loss_out=0.1, q=0.3)], 0.5, 0.1, 1.25, 0.05) == "data"
    assert diagnose([_ref(0.35, loss_out=0.3, q=0.3)], 0.5, 0.1, 1.25, 0.05) == "unclear"
    assert diagnose([], 0.5, 0.1, 1.25, 0.05) == "n/a"


def test_only_an_eligible_segment_with_an_established_better_baseline_fails():
    assert segment_verdict(True, True, True) == "fail"
    assert segment_verdict(True, True, False) == "warn"
    assert segment_verdict(True, False, True) == "warn"
    assert segment_verdict(False, False, False) == "ok"
    assert decide(["ok", "warn", "fail"]) == "fail"
    assert decide(["ok", "warn"]) == "warn"
    assert decide([]) == "pass"
