from __future__ import annotations

import numpy as np
import pytest

import qa
from qa.checks.confusion_clusters import ConfusionClusters, confused_pairs, connected_groups
from qa.evaluation import confusion_from_indices
from qa.testing import check_contract
from tests.model_fixtures import (
    blobs_case,
    digits_case,
    fold_class,
    label_inputs,
    planted_confusion,
)


def _run(inputs, **params):
    report = qa.check(
        **inputs,
        only=["confusion-clusters"],
        checks={"confusion-clusters": params} if params else None,
    )
    return report.checks[0]


def test_confusion_clusters_names_the_pair_when_class_8_is_folded_into_3():
    case = digits_case()
    folded = fold_class(case.y_test, case.proba.argmax(axis=1), source=8, target=3)
    clean, defective = check_contract(
        ConfusionClusters, clean=case.inputs(), defective=case.inputs(pred_index=folded)
    )
    assert clean.checks[0].metrics["max_pair_confusion"] < 0.2
    result = defective.checks[0]
    assert set(result.subjects) == {"3", "8"}
    pairs = result.evidence[0]
    assert {pairs.rows[0][0], pairs.rows[0][1]} == {"3", "8"}
    assert len(pairs.rows) == 1
    row = dict(zip(pairs.columns, pairs.rows[0], strict=True))
    assert (row["class a"], row["class b"], row["rate a->b"]) == ("8", "3", 1.0)
    assert "'8'->'3' 1.00" in result.message
    chart = result.charts[0]
    assert chart.kind == "heatmap" and chart.data["row_label"] == "true"
    matrix = np.array(chart.data["matrix"])
    assert matrix.shape == (10, 10)
    assert matrix[8, 3] == 1.0
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


def test_bincount_confusion_equals_sklearn_confusion_matrix():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 7, 1000), rng.integers(0, 7, 1000)
    np.testing.assert_array_equal(
        confusion_from_indices(y, p, 7), confusion_matrix(y, p, labels=range(7))
    )


def test_a_bayes_optimal_model_on_overlapping_classes_passes():
    result = _run(blobs_case().inputs())
    assert result.status == "pass"
    assert 0.15 < result.metrics["max_pair_confusion"] < 0.4  # real, inherent confusion


@pytest.mark.parametrize(("confused", "status"), [(42, "fail"), (38, "pass")])
def test_one_way_confusion_just_either_side_of_the_bar(confused, status):
    y, p = planted_confusion({0: 100, 1: 100, 2: 100}, {(0, 1): confused})
    assert _run(label_inputs(y, p)).status == status


def test_two_way_confusion_adds_up_both_directions():
    y, p = planted_confusion({0: 100, 1: 100, 2: 100}, {(0, 1): 22, (1, 0): 22})
    result = _run(label_inputs(y, p))
    assert result.status == "fail"
    assert result.metrics["max_pair_confusion"] == pytest.approx(0.44)


def test_a_tiny_class_needs_min_count_confused_rows_to_form_a_cluster():
    y, p = planted_confusion({0: 100, 1: 100, 2: 3}, {(2, 0): 2})  # rate 0.67 on 2 rows
    result = _run(label_inputs(y, p))
    assert result.status == "pass"
    assert _run(label_inputs(y, p), min_count=2).status == "fail"


def test_chained_confusions_form_one_cluster_and_a_separate_pair_another():
    support = dict.fromkeys(range(6), 50)
    y, p = planted_confusion(support, {(0, 1): 30, (1, 2): 30, (4, 5): 25})
    result = _run(label_inputs(y, p))
    assert result.status == "fail"
    assert result.metrics["n_clusters"] == 2
    assert result.metrics["largest_cluster"] == 3
    groups = {row[1] for row in result.evidence[1].rows}
    assert groups == {"0, 1, 2", "4, 5"}
    assert set(result.subjects) == {"0", "1", "2", "4", "5"}


def test_union_find_groups_and_pair_order():
    assert connected_groups([(0, 1), (3, 4), (1, 2)]) == [[0, 1, 2], [3, 4]]
    counts = np.array([[50, 50, 0], [0, 90, 10], [0, 30, 70]])
    assert confused_pairs(counts, 0.3, 5) == [(0, 1), (2, 1)]  # oriented: larger direction first


def test_heatmap_is_capped_to_the_30_most_confused_of_40_classes():
    support = dict.fromkeys(range(40), 20)
    y, p = planted_confusion(support, {(37, 5): 15})
    result = _run(label_inputs(y, p, task="multiclass"))
    assert result.status == "fail"
    chart = result.charts[0]
    assert len(chart.data["labels"]) == 30
    assert {"5", "37"} <= set(chart.data["labels"])
    assert "30 most confused of 40" in chart.title


def test_binary_task_is_skipped_with_a_reason_and_the_matrix_reported():
    y, p = planted_confusion({0: 100, 1: 100}, {(0, 1): 60})
    result = _run(label_inputs(y, p))
    assert result.status == "skip"
    assert "binary" in result.message
    assert result.charts[0].data["matrix"][0][1] == pytest.approx(0.6)


def test_confusion_clusters_with_hostile_class_names():
    names = ["<script>alert(1)</script>", "naïve ü 列", "plain"]
    y, p = planted_confusion({0: 80, 1: 80, 2: 80}, {(1, 0): 50})
    result = _run(label_inputs(y, p, classes=names))
    assert result.status == "fail"
    assert set(result.subjects) == {"<script>alert(1)</script>", "naïve ü 列"}
    assert result.charts[0].data["labels"] == names


# --------------------------------------------------------------------------- data vs model
def _overlapping_pair_case(seed: int = 0):
    """Classes 1 and 2 come from the same distribution: every model confuses them."""
    import polars as pl
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    frames, xy = {}, {}
    for split, n in (("train", 900), ("test", 600)):
        y = rng.integers(0, 3, n)
        x = rng.normal(size=(n, 2)) + np.where(y[:, None] == 0, 3.0, 0.0)
        xy[split] = (x, y)
        frames[split] = pl.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "label": y})
    model = LogisticRegression(max_iter=500).fit(*xy["train"])
    preds = pl.DataFrame({"prediction": model.predict(xy["test"][0])})
    return dict(frames, target="label", predictions={"test": preds})


def test_a_pair_the_references_confuse_as_much_warns_as_a_data_limit():
    result = _run(_overlapping_pair_case())
    assert result.metrics["max_pair_confusion"] > 0.8  # far over the bar
    assert result.status == "warn", result.message
    assert "overlap in these features" in result.message
    table = result.evidence[2]
    assert table.rows[0][-1] == "data (classes overlap)"


def test_a_pair_the_model_alone_confuses_still_fails_at_a_strict_budget():
    case = digits_case()
    folded = fold_class(case.y_test, case.proba.argmax(axis=1), source=8, target=3)
    result = _run(case.inputs(pred_index=folded))
    assert result.status == "fail"
    assert result.evidence[2].rows[0][-1] == "model"
    strict = qa.check(
        **case.inputs(pred_index=folded),
        only=["confusion-clusters"],
        config={"run": {"false_alarm_rate": 0.0001}},
    ).checks[0]
    assert strict.status == "fail"  # a fold of a whole class is no borderline case


def test_model_fault_and_pair_skill_at_their_edges():
    from qa.checks.confusion_clusters import PairReference, model_fault, skilled_on_pair

    none_skilled = PairReference((0, 1), skilled_references=0)
    assert model_fault(0.5, none_skilled, 0.1, 0.01)  # nothing shows the classes overlap
    ref = PairReference((0, 1), 2, "linear", 0.39, 0.001)
    assert model_fault(0.5, ref, 0.1, 0.01)
    assert not model_fault(0.48, ref, 0.1, 0.01)  # within the gap
    assert not model_fault(0.5, ref, 0.1, 0.0005)  # not significant at this level
    cannot_tell = PairReference((0, 1), skilled_references=2)  # skilled, but not on the pair
    assert not model_fault(0.9, cannot_tell, 0.1, 0.01)
    y = np.array([0] * 50 + [1] * 50)
    assert not skilled_on_pair(y, np.zeros(100, dtype=int), 0, 1)  # always "0": no skill
    assert skilled_on_pair(y, y.copy(), 0, 1)
