"""Inline SVG charts for the HTML report, drawn from ``qa.base.Chart`` data and nothing else.

Every function takes the chart's ``data`` mapping (see the Chart docstring for the shapes) and a
title, and returns an SVG string in which every piece of untrusted text (titles, series names,
class and column labels) has been escaped with ``markupsafe.escape``; numbers are formatted by
us. The caller may therefore mark the result safe. Malformed data never raises: missing or
non-finite values are skipped, and a chart with nothing to draw says so.

No ids, gradients, scripts, fonts or external references: many charts share one page, and the
report must stay self-contained. The SVG is meant to be inlined in HTML, whose parser supplies
the SVG namespace, so no ``xmlns`` (and no URL at all) appears in the output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import escape

from qa.base import finite_float

#: Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#999999",
    "#000000",
)
WIDTH = 640
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
#: Heatmaps larger than this are cut to their first rows/columns (with a note).
MAX_HEATMAP = 40
#: Bar charts longer than this are cut to their first labels (with a note).
MAX_BARS = 60
MAX_SERIES = len(PALETTE)
MAX_LABEL = 22


# --------------------------------------------------------------------------- helpers
def _esc(value: Any) -> str:
    return str(escape(str(value)))


def _short(value: Any, limit: int = MAX_LABEL) -> str:
    """Shorten raw text *before* escaping, so an entity is never cut in half."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nums(values: Any) -> list[float | None]:
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        return []
    return [finite_float(v) for v in values]


def _series(raw: Any) -> list[tuple[str, list[float | None]]]:
    """``{name: [values]}`` (or a list of ``[name, values]`` pairs) as a list of pairs."""
    if isinstance(raw, Mapping):
        items: Iterable[Any] = raw.items()
    elif isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        items = [p for p in raw if isinstance(p, Sequence) and len(p) == 2]
    else:
        return []
    return [(str(name), _nums(values)) for name, values in items][:MAX_SERIES]


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    magnitude = abs(value)
    if magnitude >= 1000 or magnitude < 0.001:
        return f"{value:.3g}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.4g}"


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = _nice_step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    value = first
    while value <= hi + step * 1e-9 and len(ticks) < 20:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _padded_range(values: Iterable[float], *, include_zero: bool = False) -> tuple[float, float]:
    finite = [v for v in values if v is not None]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def _open(title: str, height: float, width: int = WIDTH) -> list[str]:
    label = _esc(title or "chart")
    return [
        f'<svg class="chart" role="img" '
        f'aria-label="{label}" viewBox="0 0 {width} {height:.0f}" width="100%" '
        f'style="max-width:{width}px" font-family="{FONT}" font-size="11">',
        f"<title>{label}</title>",
        f'<text x="4" y="15" font-size="13" font-weight="600">{_esc(_short(title, 90))}</text>',
    ]


def _empty(title: str, reason: str) -> str:
    parts = _open(title, 60)
    parts.append(f'<text x="4" y="40" fill="#666">{_esc(reason)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: Sequence[str], y: float, x0: float = 4) -> list[str]:
    parts, x = [], x0
    for i, name in enumerate(names):
        label = _short(name, 28)
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 14:.1f}" y="{y:.1f}"><title>{_esc(name)}</title>{_esc(label)}</text>'
        )
        x += 24 + 6.5 * len(label)
        if x > WIDTH - 120 and i < len(names) - 1:
            x, y = x0, y + 14
    return parts


def _legend_height(names: Sequence[str]) -> float:
    x, lines = 4.0, 1
    for i, name in enumerate(names):
        x += 24 + 6.5 * len(_short(name, 28))
        if x > WIDTH - 120 and i < len(names) - 1:
            x, lines = 4.0, lines + 1
    return 14.0 * lines


def _note(parts: list[str], text: str, y: float) -> None:
    parts.append(f'<text x="4" y="{y:.1f}" fill="#666" font-style="italic">{_esc(text)}</text>')


# --------------------------------------------------------------------------- histogram
def histogram_svg(data: Mapping[str, Any], title: str = "") -> str:
    """Overlaid distributions (e.g. reference vs current), each normalised to shares.

    ``data``: ``{"edges": [n+1 numbers], "series": {name: [n counts]}}``; ``"labels"`` (n
    category names) may replace the edges for a categorical feature.
    """
    data = data if isinstance(data, Mapping) else {}
    series = [(n, v) for n, v in _series(data.get("series")) if v]
    if not series:
        return _empty(title, "no data to draw")
    n_bins = max(len(v) for _, v in series)
    shares = []
    for _, values in series:
        counts = [max(v, 0.0) if v is not None else 0.0 for v in values]
        counts += [0.0] * (n_bins - len(counts))
        total = sum(counts)
        shares.append([c / total if total > 0 else 0.0 for c in counts])
    y_max = max((max(s) for s in shares), default=0.0) or 1.0

    names = [n for n, _ in series]
    legend_h = _legend_height(names)
    top, left, right, plot_h = 24 + legend_h, 48, 12, 170
    raw_labels = data.get("labels")
    labels = (
        [str(v) for v in raw_labels]
        if isinstance(raw_labels, Sequence)
        and not isinstance(raw_labels, str | bytes)
        and len(raw_labels) == n_bins
        else None
    )
    bottom = 50 if labels and n_bins <= 24 else 34
    height = top + plot_h + bottom
    plot_w = WIDTH - left - right

    edges = _nums(data.get("edges"))
    use_edges = (
        labels is None
        and len(edges) == n_bins + 1
        and all(e is not None for e in edges)
        and all(b > a for a, b in itertools.pairwise(edges))  # type: ignore[operator]
    )
    if use_edges:
        lo, hi = edges[0], edges[-1]
        xs = [left + (e - lo) / (hi - lo) * plot_w for e in edges]  # type: ignore[operator]
    else:
        xs = [left + i / n_bins * plot_w for i in range(n_bins + 1)]

    def y_of(share: float) -> float:
        return top + plot_h - share / y_max * plot_h

    parts = _open(title, height)
    parts += _legend(names, 30)
    parts += _y_axis(
        0.0, y_max, y_of, left, plot_w, fmt=lambda v: f"{v:.0%}" if y_max >= 0.1 else f"{v:.1%}"
    )
    for index, share in enumerate(shares):
        colour = PALETTE[index % len(PALETTE)]
        points = [f"{xs[0]:.1f},{y_of(0):.1f}"]
        for i, value in enumerate(share):
            points.append(f"{xs[i]:.1f},{y_of(value):.1f}")
            points.append(f"{xs[i + 1]:.1f},{y_of(value):.1f}")
        points.append(f"{xs[-1]:.1f},{y_of(0):.1f}")
        parts.append(
            f'<polygon points="{" ".join(points)}" fill="{colour}" fill-opacity="0.25" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#333"/>')
    if labels and n_bins <= 24:
        for i, label in enumerate(labels):
            x = (xs[i] + xs[i + 1]) / 2
            parts.append(
                f'<text x="{x:.1f}" y="{base + 12}" text-anchor="end" '
                f'transform="rotate(-30 {x:.1f} {base + 12})"><title>{_esc(label)}</title>'
                f"{_esc(_short(label, 14))}</text>"
            )
    elif labels:
        _note(parts, f"{n_bins} categories", base + 22)
    else:
        if use_edges:
            lo, hi = edges[0], edges[-1]
            for value in _ticks(lo, hi, 6):  # type: ignore[arg-type]
                x = left + (value - lo) / (hi - lo) * plot_w  # type: ignore[operator]
                parts.append(
                    f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">{_fmt(value)}</text>'
                )
        else:
            _note(parts, f"{n_bins} bins", base + 14)
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(
    lo: float,
    hi: float,
    y_of: Any,
    left: float,
    plot_w: float,
    fmt: Any = _fmt,
) -> list[str]:
    parts = []
    for tick in _ticks(lo, hi, 4):
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_esc(fmt(tick))}</text>'
        )
    return parts


# --------------------------------------------------------------------------- heatmap
def _colour(t: float, negative: bool = False) -> str:
    """Sequential blue (or red for negative values) at intensity ``t`` in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    start = (247, 251, 255)
    end = (165, 15, 21) if negative else (8, 48, 107)
    r, g, b = (round(s + (e - s) * t) for s, e in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _labels(raw: Any, count: int) -> list[str]:
    if isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        names = [str(v) for v in raw]
    else:
        names = []
    return [names[i] if i < len(names) else str(i) for i in range(count)]


def heatmap_svg(data: Mapping[str, Any], title: str = "") -> str:
    """A matrix such as a confusion matrix: labelled rows and columns, cell values, colour scale.

    ``data``: ``{"labels": [...], "matrix": [[...]], "row_label": str, "col_label": str}``;
    ``row_labels`` / ``col_labels`` may replace ``labels`` for a non-square matrix. Larger
    matrices than :data:`MAX_HEATMAP` are cut to their first rows and columns, with a note.
    """
    data = data if isinstance(data, Mapping) else {}
    raw = data.get("matrix")
    rows = [_nums(r) for r in raw] if isinstance(raw, Sequence) and not isinstance(raw, str) else []
    n_rows, n_cols = len(rows), max((len(r) for r in rows), default=0)
    if n_rows == 0 or n_cols == 0:
        return _empty(title, "no data to draw")
    row_names = _labels(data.get("row_labels", data.get("labels")), n_rows)
    col_names = _labels(data.get("col_labels", data.get("labels")), n_cols)
    shown_r, shown_c = min(n_rows, MAX_HEATMAP), min(n_cols, MAX_HEATMAP)
    values = [v for r in rows[:shown_r] for v in r[:shown_c] if v is not None]
    max_abs = max((abs(v) for v in values), default=0.0) or 1.0
    signed = any(v < 0 for v in values)

    cell = max(8.0, min(44.0, 460.0 / max(shown_r, shown_c)))
    show_labels = cell >= 9
    show_values = cell >= 26
    tooltips = shown_r * shown_c <= 400  # keep large matrices small on disk
    label_font = min(11.0, cell - 1)
    longest = max(
        (len(_short(n, 18)) for n in row_names[:shown_r] + col_names[:shown_c]), default=1
    )
    label_w = (6.2 * longest * label_font / 11 + 8) if show_labels else 4
    left = 18 + label_w
    top = 24 + 22 + (label_w * 0.72 if show_labels else 4)
    grid_w, grid_h = cell * shown_c, cell * shown_r
    width = max(int(left + grid_w + 12), 320)
    cut = shown_r < n_rows or shown_c < n_cols
    height = top + grid_h + 40 + (14 if cut else 0)

    parts = _open(title, height, width)
    col_label, row_label = data.get("col_label"), data.get("row_label")
    if col_label:
        parts.append(
            f'<text x="{left + grid_w / 2:.1f}" y="34" text-anchor="middle" '
            f'font-weight="600">{_esc(_short(col_label, 60))}</text>'
        )
    if row_label:
        y = top + grid_h / 2
        parts.append(
            f'<text x="10" y="{y:.1f}" text-anchor="middle" font-weight="600" '
            f'transform="rotate(-90 10 {y:.1f})">{_esc(_short(row_label, 60))}</text>'
        )
    parts.append(
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{grid_w:.1f}" height="{grid_h:.1f}" '
        f'fill="{_colour(0)}" stroke="#bbb"/>'
    )
    for i in range(shown_r):
        y = top + i * cell
        for j in range(shown_c):
            value = rows[i][j] if j < len(rows[i]) else None
            x = left + j * cell
            if value is None:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}"'
                    f' fill="#eee"><title>{_esc(row_names[i])} / {_esc(col_names[j])}: '
                    f"no value</title></rect>"
                )
                continue
            t = math.sqrt(abs(value) / max_abs)
            if value != 0:
                rect = (
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                    f'fill="{_colour(t, signed and value < 0)}"'
                )
                if tooltips:
                    parts.append(
                        f"{rect}><title>{_esc(row_names[i])} / {_esc(col_names[j])}: "
                        f"{_fmt(value)}</title></rect>"
                    )
                else:
                    parts.append(rect + "/>")
            if show_values:
                ink = "#fff" if t > 0.6 else "#222"
                parts.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" '
                    f'text-anchor="middle" fill="{ink}" font-size="{min(11, cell / 3):.0f}">'
                    f"{_cell_text(value)}</text>"
                )
    if show_labels:
        for i in range(shown_r):
            y = top + i * cell + cell / 2 + label_font / 3
            parts.append(
                f'<text x="{left - 4:.1f}" y="{y:.1f}" text-anchor="end" '
                f'font-size="{label_font:.0f}"><title>{_esc(row_names[i])}</title>'
                f"{_esc(_short(row_names[i], 18))}</text>"
            )
        for j in range(shown_c):
            x = left + j * cell + cell / 2 + label_font / 3
            y = top - 4
            parts.append(
                f'<text x="{x:.1f}" y="{y:.1f}" font-size="{label_font:.0f}" '
                f'transform="rotate(-45 {x:.1f} {y:.1f})"><title>{_esc(col_names[j])}'
                f"</title>{_esc(_short(col_names[j], 18))}</text>"
            )
    # A discrete colour scale: five swatches from 0 to the largest magnitude.
    y = top + grid_h + 14
    parts.append(
        f'<text x="{left:.1f}" y="{y + 9:.1f}" text-anchor="end">'
        f"{'−' if signed else ''}{_fmt(max_abs) if signed else '0'}&#160;</text>"
    )
    for k in range(5):
        t = k / 4
        parts.append(
            f'<rect x="{left + 4 + k * 18:.1f}" y="{y:.1f}" width="18" height="10" '
            f'fill="{_colour(t)}" stroke="#bbb"/>'
        )
    parts.append(
        f'<text x="{left + 98:.1f}" y="{y + 9:.1f}">{_fmt(max_abs)} '
        f"(square-root colour scale)</text>"
    )
    if cut:
        _note(
            parts,
            f"showing the first {shown_r} of {n_rows} rows and {shown_c} of {n_cols} "
            f"columns; the JSON report has the full matrix",
            y + 26,
        )
    parts.append("</svg>")
    return "".join(parts)


def _cell_text(value: float) -> str:
    """A value short enough for a heatmap cell: shares to two decimals, counts whole."""
    if value == int(value):
        return _fmt(value)
    if abs(value) < 1:
        text = f"{value:.2f}"
        return text if float(text) != 0 else ("<0.01" if value > 0 else ">-0.01")
    return f"{value:.3g}"


# --------------------------------------------------------------------------- lines
def lines_svg(data: Mapping[str, Any], title: str = "") -> str:
    """Curves over a shared x axis (e.g. training and validation loss per epoch).

    ``data``: ``{"x": [...], "series": {name: [y]}, "x_label": str, "y_label": str,
    "marker": x, "marker_label": str, "markers": [{"x": x, "label": str}, ...], "log_y":
    bool}``; missing values break a line, each marker draws a labelled dashed vertical line,
    and ``log_y`` plots the values on a log scale (values <= 0 are left out).
    """
    data = data if isinstance(data, Mapping) else {}
    series = [(n, v) for n, v in _series(data.get("series")) if any(y is not None for y in v)]
    if not series:
        return _empty(title, "no data to draw")
    n_points = max(len(v) for _, v in series)
    xs = [x for x in _nums(data.get("x"))[:n_points] if x is not None]
    if len(xs) < n_points:  # no x, too few, or one missing: plot against the index
        xs = [float(i) for i in range(n_points)]
    markers = _markers(data)
    x_lo, x_hi = _padded_range([*xs[:n_points], *(x for x, _ in markers)])
    log_y = bool(data.get("log_y"))
    if log_y:  # plot log10(y); values <= 0 cannot be shown and break the line
        series = [
            (n, [math.log10(y) if y is not None and y > 0 else None for y in v]) for n, v in series
        ]
    y_lo, y_hi = _padded_range([y for _, v in series for y in v if y is not None])
    names = [n for n, _ in series]
    legend_h = _legend_height(names)
    top, left, right, plot_h, bottom = 26 + legend_h, 56, 14, 180, 40
    plot_w = WIDTH - left - right
    height = top + plot_h + bottom

    def x_of(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def y_of(y: float) -> float:
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    parts = _open(title, height)
    parts += _legend(names, 30)
    parts += _y_axis(y_lo, y_hi, y_of, left, plot_w, (lambda t: _fmt(10**t)) if log_y else _fmt)
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#333"/>')
    for tick in _ticks(x_lo, x_hi, 6):
        parts.append(
            f'<text x="{x_of(tick):.1f}" y="{base + 14}" text-anchor="middle">{_fmt(tick)}</text>'
        )
    if data.get("x_label"):
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{base + 30}" text-anchor="middle">'
            f"{_esc(_short(data['x_label'], 60))}</text>"
        )
    if data.get("y_label"):
        y = top + plot_h / 2
        parts.append(
            f'<text x="10" y="{y:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 10 {y:.1f})">{_esc(_short(data["y_label"], 40))}</text>'
        )
    for index, (name, ys) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        for segment in _segments(xs, ys):
            if len(segment) == 1:
                x, y = segment[0]
                parts.append(
                    f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="2.5" '
                    f'fill="{colour}"><title>{_esc(name)}</title></circle>'
                )
                continue
            points = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in segment)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="1.8"><title>{_esc(name)}</title></polyline>'
            )
    for index, (marker, label) in enumerate(markers):
        x, colour = x_of(marker), MARKER_COLOURS[index % len(MARKER_COLOURS)]
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{base}" stroke="{colour}" '
            f'stroke-dasharray="4 3" stroke-width="1.5"/>'
        )
        anchor = "end" if x > left + plot_w * 0.75 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(
            f'<text x="{x + dx:.1f}" y="{top + 10 + 12 * index}" text-anchor="{anchor}" '
            f'fill="{colour}">{_esc(_short(label, 40))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


#: Colours of a line chart's vertical markers, in order (colour-blind safe).
MARKER_COLOURS = ("#D55E00", "#0072B2", "#009E73")


def _markers(data: Mapping[str, Any]) -> list[tuple[float, str]]:
    """The chart's markers as (x, label): ``marker`` first, then each of ``markers``."""
    found: list[tuple[float, str]] = []
    first = finite_float(data.get("marker"))
    if first is not None:
        found.append((first, str(data.get("marker_label") or f"x = {_fmt(first)}")))
    extra = data.get("markers")
    for item in extra if isinstance(extra, Sequence) and not isinstance(extra, str) else []:
        x = finite_float(item.get("x")) if isinstance(item, Mapping) else None
        if x is not None:
            found.append((x, str(item.get("label") or f"x = {_fmt(x)}")))
    return found


def _segments(
    xs: Sequence[float | None], ys: Sequence[float | None]
) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite points; a missing value starts a new run."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=False):
        if x is None or y is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x, y))
    return [r for r in runs if r]


# --------------------------------------------------------------------------- bars
def bars_svg(data: Mapping[str, Any], title: str = "") -> str:
    """Horizontal grouped bars, one group per label, with an optional threshold line.

    ``data``: ``{"labels": [...], "series": {name: [values]}, "threshold": number | None}``.
    More labels than :data:`MAX_BARS` are cut to the first ones, with a note.
    """
    data = data if isinstance(data, Mapping) else {}
    series = [(n, v) for n, v in _series(data.get("series")) if v]
    n_labels = max((len(v) for _, v in series), default=0)
    if not series or n_labels == 0:
        return _empty(title, "no data to draw")
    labels = _labels(data.get("labels"), n_labels)
    shown = min(n_labels, MAX_BARS)
    threshold = finite_float(data.get("threshold"))
    values = [v for _, vs in series for v in vs[:shown] if v is not None]
    lo, hi = _padded_range(
        [*values, *([threshold] if threshold is not None else [])], include_zero=True
    )
    names = [n for n, _ in series]
    legend_h = _legend_height(names) if len(series) > 1 else 0
    bar_h = 12.0 if len(series) > 1 else 14.0
    group_h = bar_h * len(series) + 6
    longest = max((len(_short(label, 24)) for label in labels[:shown]), default=1)
    left = min(170.0, 6.2 * longest + 10)
    right = 50
    top = 28 + legend_h
    plot_w = WIDTH - left - right
    grid_h = group_h * shown
    cut = shown < n_labels
    height = top + grid_h + 28 + (14 if cut else 0)

    def x_of(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    parts = _open(title, height)
    if len(series) > 1:
        parts += _legend(names, 30)
    for tick in _ticks(lo, hi, 5):
        x = x_of(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + grid_h:.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + grid_h + 13:.1f}" text-anchor="middle">'
            f"{_fmt(tick)}</text>"
        )
    zero = x_of(0.0)
    for i in range(shown):
        y0 = top + i * group_h + 3
        label = labels[i]
        parts.append(
            f'<text x="{left - 4:.1f}" y="{y0 + group_h / 2 + 1:.1f}" text-anchor="end">'
            f"<title>{_esc(label)}</title>{_esc(_short(label, 24))}</text>"
        )
        for k, (name, vs) in enumerate(series):
            value = vs[i] if i < len(vs) else None
            y = y0 + k * bar_h
            if value is None:
                parts.append(
                    f'<text x="{zero + 3:.1f}" y="{y + bar_h - 3:.1f}" fill="#999">n/a</text>'
                )
                continue
            x1, x2 = sorted((zero, x_of(value)))
            colour = PALETTE[k % len(PALETTE)]
            parts.append(
                f'<rect x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1, 0.5):.1f}" '
                f'height="{bar_h - 2:.1f}" fill="{colour}"><title>{_esc(name)} / '
                f"{_esc(label)}: {_fmt(value)}</title></rect>"
            )
            parts.append(
                f'<text x="{x2 + 3:.1f}" y="{y + bar_h - 3:.1f}" font-size="10">'
                f"{_fmt(value)}</text>"
            )
    parts.append(
        f'<line x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{top + grid_h:.1f}" stroke="#333"/>'
    )
    if threshold is not None:
        x = x_of(threshold)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + grid_h:.1f}" '
            f'stroke="#D55E00" stroke-dasharray="4 3" stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top - 6}" text-anchor="middle" fill="#D55E00">'
            f"threshold {_fmt(threshold)}</text>"
        )
    if cut:
        _note(parts, f"showing the first {shown} of {n_labels} bars", top + grid_h + 28)
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- dispatch
DRAWERS = {
    "histogram": histogram_svg,
    "heatmap": heatmap_svg,
    "lines": lines_svg,
    "bars": bars_svg,
}


def chart_svg(chart: Any) -> str:
    """Draw a ``qa.base.Chart`` (or its dict form); never raises on malformed data."""
    if isinstance(chart, Mapping):
        kind, title, data = chart.get("kind"), chart.get("title", ""), chart.get("data", {})
    else:
        kind = getattr(chart, "kind", None)
        title, data = getattr(chart, "title", ""), getattr(chart, "data", {})
    title = str(title or "")
    drawer = DRAWERS.get(str(kind))
    if drawer is None:
        return _empty(title, f"unknown chart kind {kind!r}")
    try:
        return drawer(data if isinstance(data, Mapping) else {}, title)
    except Exception as exc:  # a malformed chart must not cost the whole report
        return _empty(title, f"chart could not be drawn ({type(exc).__name__})")
