"""The inline SVG charts: escaped labels, robust to empty, NaN, single-bin and large inputs."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from qa.reports import svg
from tests.reports.conftest import HOSTILE

CASES = {
    "histogram": {"edges": [0, 1, 2, 3], "series": {"reference": [1, 2, 3], "current": [3, 2, 1]}},
    "heatmap": {
        "labels": ["a", "b"],
        "matrix": [[5, 1], [2, 7]],
        "row_label": "true",
        "col_label": "predicted",
    },
    "lines": {"x": [1, 2, 3], "series": {"train": [1.0, 0.5, 0.25]}, "marker": 2},
    "bars": {"labels": ["a", "b"], "series": {"recall": [0.9, 0.4]}, "threshold": 0.5},
}


def parse(text: str) -> ET.Element:
    """SVG built for inlining in HTML has no namespace; it must still be well-formed XML."""
    return ET.fromstring(text)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_chart_kind_is_well_formed_and_draws_something(kind: str):
    out = svg.DRAWERS[kind](CASES[kind], "A title")
    root = parse(out)
    assert root.tag == "svg"
    shapes = [e for e in root.iter() if e.tag in ("rect", "polygon", "polyline", "circle")]
    assert shapes, f"{kind} drew no shape"
    assert "no data" not in out
    assert "http://" not in out and "https://" not in out
    assert "<script" not in out.lower()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_labels_and_titles_are_escaped_never_raw(kind: str):
    data = {
        "histogram": {
            "edges": [0, 1, 2],
            "series": {HOSTILE: [1, 2]},
        },
        "heatmap": {
            "labels": [HOSTILE, "b"],
            "matrix": [[1, 2], [3, 4]],
            "row_label": HOSTILE,
            "col_label": HOSTILE,
        },
        "lines": {
            "x": [0, 1],
            "series": {HOSTILE: [1, 2]},
            "x_label": HOSTILE,
            "y_label": HOSTILE,
            "marker": 1,
            "marker_label": HOSTILE,
        },
        "bars": {"labels": [HOSTILE], "series": {HOSTILE: [1.0]}},
    }[kind]
    out = svg.DRAWERS[kind](data, HOSTILE)
    assert "<script" not in out
    assert "&lt;script&gt;" in out
    parse(out)


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"series": {}},
        {"series": {"a": []}},
        {"matrix": []},
        {"series": "nonsense"},
        {"matrix": "nonsense", "x": 5},
    ],
)
def test_empty_or_malformed_data_says_so_instead_of_raising(kind: str, data: dict):
    out = svg.DRAWERS[kind](data, "t")
    parse(out)
    assert "no data to draw" in out


def test_nan_none_and_inf_values_are_skipped():
    nan, inf = math.nan, math.inf
    outs = [
        svg.histogram_svg({"edges": [0, 1, nan], "series": {"a": [nan, 3], "b": [None, inf]}}),
        svg.heatmap_svg({"labels": ["a", "b"], "matrix": [[nan, 1], [None, inf]]}),
        svg.lines_svg({"x": [0, 1, 2, 3], "series": {"a": [nan, 1, None, 2], "b": [inf] * 4}}),
        svg.bars_svg({"labels": ["a", "b"], "series": {"a": [nan, 2]}, "threshold": nan}),
    ]
    for out in outs:
        parse(out)
        assert "nan" not in out.lower() and "inf" not in out.lower()


def test_single_bin_and_single_point_still_draw():
    hist = parse(svg.histogram_svg({"edges": [1.0, 1.0], "series": {"a": [7]}}, "one bin"))
    assert hist.find("polygon") is not None
    line = parse(svg.lines_svg({"x": [3], "series": {"a": [0.5]}}, "one point"))
    assert line.find("circle") is not None
    heat = parse(svg.heatmap_svg({"labels": ["only"], "matrix": [[4]]}, "1x1"))
    assert any(e.tag == "rect" for e in heat.iter())


def test_histogram_normalises_each_series_to_shares():
    # Two series with the same shape but 100x different totals draw the same polygon.
    out = svg.histogram_svg({"edges": [0, 1, 2], "series": {"a": [1, 3], "b": [100, 300]}})
    polygons = parse(out).findall("polygon")
    assert len(polygons) == 2
    assert polygons[0].get("points") == polygons[1].get("points")


def test_a_100_class_heatmap_is_capped_and_says_so():
    n = 100
    matrix = [[(i * 7 + j) % 13 for j in range(n)] for i in range(n)]
    out = svg.heatmap_svg({"labels": [f"class {i}" for i in range(n)], "matrix": matrix}, "cm")
    root = parse(out)
    assert f"of {n} rows" in out
    cells = [e for e in root.iter() if e.tag == "rect"]
    assert len(cells) <= svg.MAX_HEATMAP**2 + 10
    assert len(out) < 200_000


def test_many_bars_are_capped_and_say_so():
    n = 500
    out = svg.bars_svg({"labels": [str(i) for i in range(n)], "series": {"v": list(range(n))}})
    assert f"first {svg.MAX_BARS} of {n}" in out
    parse(out)


def test_bars_threshold_and_negative_values_are_drawn():
    out = svg.bars_svg({"labels": ["a", "b"], "series": {"delta": [-0.2, 0.3]}, "threshold": 0.1})
    assert "threshold 0.1" in out
    parse(out)


def test_chart_svg_handles_unknown_kinds_and_chart_objects():
    from qa.base import Chart

    assert "unknown chart kind" in svg.chart_svg({"kind": "pie", "title": "x", "data": {}})
    out = svg.chart_svg(Chart("bars", HOSTILE, {"labels": ["a"], "series": {"v": [1]}}))
    assert "&lt;script&gt;" in out and "<script" not in out
