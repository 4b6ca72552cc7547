"""The HTML report: self-contained, escaped, failing first, every part of a check shown."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from qa.base import CheckResult
from qa.report import Report
from qa.reports import html
from tests.reports.conftest import HOSTILE, IMG


class Collector(HTMLParser):
    """Every start tag with its attributes, to look for external references and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Collector()
    parser.feed(text)
    return parser.tags


def assert_self_contained(text: str) -> None:
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "@import" not in text and "url(" not in text
    for tag, attrs in tags_of(text):
        assert tag not in ("script", "iframe", "object", "embed", "link", "img", "base"), tag
        for name in ("src", "href", "action", "srcset", "xlink:href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)


def test_html_is_self_contained_with_no_external_reference_or_script(hostile_report: Report):
    out = html.render(hostile_report)
    assert_self_contained(out)
    assert '<meta name="viewport"' in out
    assert "Content-Security-Policy" in out and "default-src 'none'" in out
    assert "@media print" in out


def test_hostile_names_appear_escaped_never_raw(hostile_report: Report):
    out = html.render(hostile_report)
    assert HOSTILE not in out and IMG not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    # ... in the column header, the chart labels (SVG) and the inputs table alike
    svg_part = out[out.index("<svg") :]
    assert "&lt;script&gt;" in svg_part


def test_verdict_banner_carries_the_status(hostile_report: Report):
    for status in ("pass", "fail", "error"):
        out = html.render(replace(hostile_report, status=status))
        banner = re.search(r'<header id="verdict"[^>]*>', out).group(0)
        assert f'data-status="{status}"' in banner
        assert status.upper() in out[out.index(banner) : out.index(banner) + 300]


def test_failing_checks_come_first_and_every_check_is_shown(hostile_report: Report):
    out = html.render(hostile_report)
    positions = [
        out.index(f'id="check-{c}"')
        for c in ("drift", "overfit-gap", "per-class-recall", "leakage", "schema", "data-volume")
    ]
    assert positions == sorted(positions)


def test_each_check_shows_its_parts(hostile_report: Report):
    out = html.render(hostile_report)
    drift = out[out.index('id="check-drift"') : out.index('id="check-overfit-gap"')]
    for needle in (
        "Production looks like training",
        "max_psi",
        "0.4123",
        "0.2",
        "Shifted features",
        "BH-adjusted",
        "Retrain on recent data.",
        "severity: error",
        "420 ms",
        "<svg",
    ):
        assert needle in drift, needle
    error = out[out.index('id="check-overfit-gap"') :]
    assert "<details>" in error and "Traceback (most recent call last)" in error
    waived = out[out.index('id="check-leakage"') :]
    for needle in ("known duplicates", "ana@example.com", "2099-01-01"):
        assert needle in waived


def test_every_chart_kind_is_drawn_inline(hostile_report: Report):
    out = html.render(hostile_report)
    assert out.count('<svg class="chart"') == 4
    assert "polyline" in out and "polygon" in out  # lines and histogram
    assert "square-root colour scale" in out  # heatmap legend
    assert "threshold 0.7" in out  # bars threshold
    assert "x = 3" in out  # the lines marker


def test_task_inputs_waiver_notes_and_diff_are_shown(hostile_report: Report):
    out = html.render(hostile_report)
    assert "ababababab" in out and "2000" in out and "multiclass" in out
    assert "matched nothing" in out
    assert "Compared with the baseline" in out and "newly failing" in out and "worse" in out


@pytest.mark.parametrize(
    "diff",
    [
        None,
        {},
        {"weird": 3},
        {"rows": [{"a": 1}, {"b": [1, 2]}]},
        {"nested": {"x": {"y": 1}}},
        {"newly_failing": []},
    ],
)
def test_diff_of_any_shape_renders(hostile_report: Report, diff):
    out = html.render(replace(hostile_report, diff=diff))
    assert ("Compared with the baseline" in out) == (diff is not None)


def test_a_report_with_no_checks_or_inputs_renders():
    empty = Report(
        status="pass",
        checks=(),
        inputs={},
        config={},
        created_at="now",
        tool={"name": "qa-gate", "version": "0"},
    )
    out = html.render(empty)
    assert 'id="verdict"' in out and "No check ran." in out


def test_huge_evidence_is_capped_in_html():
    rows = tuple((i, "x") for i in range(html.MAX_EVIDENCE_ROWS + 500))
    from qa.base import Evidence

    result = CheckResult(
        "big", "Big", "fail", "error", "m", evidence=(Evidence("rows", ("i", "v"), rows),)
    )
    report = Report(
        status="fail",
        checks=(result,),
        inputs={},
        config={},
        created_at="now",
        tool={"name": "qa-gate", "version": "0"},
    )
    out = html.render(report)
    assert f"showing {html.MAX_EVIDENCE_ROWS} of {len(rows)} rows" in out


def test_repr_html_is_the_html_report(hostile_report: Report):
    from qa.api import NotebookReport  # what qa.check returns; the engine's Report renders nothing

    assert NotebookReport.of(hostile_report)._repr_html_() == html.render(hostile_report)


def test_number_formatting():
    assert html.fmt_number(0.123456) == "0.1235"
    assert html.fmt_number(12345) == "12,345"
    assert html.fmt_number(1e-9) == "1.000e-09"
    assert html.fmt_number(None) == "—"
    assert html.fmt_number(2.0) == "2"
    assert html.fmt_cell([1, "a"]) == '[1,"a"]'


def test_css_is_scoped_so_the_report_can_sit_inside_a_notebook(hostile_report: Report):
    out = html.render(hostile_report)
    css = out[out.index("<style>") + 7 : out.index("</style>")]
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    selectors = [s.strip() for block in re.findall(r"([^{}]+)\{", css) for s in block.split(",")]
    assert selectors
    for selector in selectors:
        assert selector.startswith((".qa", "@media", "@page")), selector


def test_malformed_evidence_rows_render_as_single_cells():
    from qa.base import Evidence

    result = CheckResult(
        "odd",
        "Odd",
        "fail",
        "error",
        "m",
        evidence=(Evidence("rows", ("value",), ("abc", None, 5)),),
    )  # type: ignore[arg-type]
    report = Report(
        status="fail",
        checks=(result,),
        inputs={},
        config={},
        created_at="now",
        tool={"name": "qa-gate", "version": "0"},
    )
    out = html.render(report)
    assert "<td>abc</td>" in out and "<td>a</td>" not in out
