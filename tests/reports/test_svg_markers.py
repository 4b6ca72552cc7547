"""A line chart draws every marker it is given, each labelled (e.g. two thresholds)."""

from __future__ import annotations

from qa.reports.svg import lines_svg


def test_a_line_chart_draws_two_labelled_markers():
    data = {
        "x": [0.1, 0.5, 0.9],
        "series": {"test": [1.0, 0.6, 0.9]},
        "marker": 0.5,
        "marker_label": "operating threshold 0.5",
        "markers": [{"x": 0.16, "label": "validation-optimal 0.16"}, {"x": "bad"}],
    }
    svg = lines_svg(data, "cost")
    assert svg.count('stroke-dasharray="4 3"') == 2
    assert "operating threshold 0.5" in svg and "validation-optimal 0.16" in svg


def test_markers_are_escaped():
    svg = lines_svg({"x": [0, 1], "series": {"a": [0, 1]}, "markers": [{"x": 0.5, "label": "<b>"}]})
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_a_log_scale_spans_orders_of_magnitude_and_labels_ticks_in_the_data_units():
    data = {"x": [1, 2, 3, 4], "series": {"g": [0.5, 1.0, 100.0, 0.0]}, "log_y": True}
    svg = lines_svg(data, "grad_norm")
    assert ">100<" in svg or ">100.0<" in svg  # a tick at 10^2, labelled in the data's units
    assert svg.count("<polyline") == 1  # the 0 (not on a log scale) breaks off one point
