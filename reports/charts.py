"""Small inline SVG charts for the HTML reports: line charts with interval bands, bar charts.

Pure: numbers and words in, SVG markup out (``markupsafe.Markup``, ready for a Jinja template
with autoescaping), the same bytes for the same input: coordinates have one decimal, there is
no clock and no randomness. Every piece of text is escaped here; there is no JavaScript and no
external reference, so a report that embeds a chart still opens offline and prints. Each chart
is an ``<svg role="img">`` with a title and a description for screen readers, and every point
and bar has a ``<title>`` giving its exact value on hover.

Series are told apart by colour (Okabe-Ito, readable with colour-blindness) and by dash
pattern, so colour alone never carries the meaning; an emphasised series (the selected model,
the force's rule) is drawn thicker, with its interval band.

Worked example::

    line_chart(
        chart_id="precision",
        title="Precision at k",
        description="...",
        series=[Series("scorecard", [(10, 0.2), (50, 0.1)], band=[(10, 0.1, 0.3), (50, 0, 0.2)])],
        x_axis=Axis("officers listed (k)", log=True),
        y_axis=Axis("precision", low=0.0),
        markers=[Marker(50, "published list")],
    )
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Okabe-Ito without yellow (too pale on white), then the same colours dashed, then dotted.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3")
MUTED = "#505a5f"
INK = "#1b1b1b"
GRID = "#e5e6e7"
WIDTH, HEIGHT = 720, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 62.0, 16.0, 14.0, 46.0
LEGEND_ROW = 18.0
LEGEND_COLUMNS = 3
LEGEND_WIDTH = 130.0  # the least room a legend entry needs, in pixels
MARKER_CHAR = 5.6  # width of a character of a marker's label (font size 10), in pixels


@dataclass(frozen=True)
class Series:
    """One line: ``points`` (x, y; a NaN y leaves a gap), an optional ``band`` (x, low, high;
    NaN bounds are skipped) and whether it is drawn thicker (``emphasis``). ``note`` is added
    to each point's hover text, e.g. "[0.05, 0.15]"; ``notes`` per point overrides it."""

    label: str
    points: Sequence[tuple[float, float]]
    band: Sequence[tuple[float, float, float]] = ()
    emphasis: bool = False
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Marker:
    """A labelled vertical line at ``x``, e.g. the published list size."""

    x: float
    label: str


@dataclass(frozen=True)
class Axis:
    """An axis: its label, log or linear scale, fixed ``low``/``high`` (else from the data),
    values shown as per cent (``percent``), and optional fixed ticks (value, text)."""

    label: str
    log: bool = False
    low: float | None = None
    high: float | None = None
    percent: bool = False
    ticks: Sequence[tuple[float, str]] = ()


def px(value: float) -> str:
    """A coordinate with one decimal (never "-0.0"): fixed text for byte-identical output."""
    return f"{round(value, 1) + 0.0:.1f}"


def closed_path(points: Sequence[tuple[float, float]]) -> str:
    """An SVG path through the points, closed."""
    return "M" + "L".join(f"{px(x)},{px(y)}" for x, y in points) + "Z"


def mark_path(shape: str, x: float, y: float, *, radius: float) -> str:
    """An SVG path for a mark of ``shape`` (circle, square, triangle, diamond) of ``radius``
    centred on (x, y): the reports' marks, told apart by shape as well as colour."""
    r = radius
    if shape == "circle":
        arc = f"a{px(r)},{px(r)} 0 1,0"
        return f"M{px(x - r)},{px(y)}{arc} {px(2 * r)},0{arc} {px(-2 * r)},0Z"
    if shape == "square":
        s = 0.85 * r
        return closed_path([(x - s, y - s), (x + s, y - s), (x + s, y + s), (x - s, y + s)])
    if shape == "triangle":
        return closed_path([(x, y - r), (x + r, y + 0.8 * r), (x - r, y + 0.8 * r)])
    if shape == "diamond":
        return closed_path([(x, y - r), (x + r, y), (x, y + r), (x - r, y)])
    raise ValueError(f"unknown shape {shape!r}")


def style(index: int) -> tuple[str, str]:
    """Colour and dash pattern of the ``index``-th series (21 distinct before repeating)."""
    return COLOURS[index % len(COLOURS)], DASHES[(index // len(COLOURS)) % len(DASHES)]


def value_text(value: float, *, percent: bool = False) -> str:
    """A value as tick and hover text: per cent with up to one decimal, else 3 significant
    digits; "–" when undefined."""
    if value is None or math.isnan(value):
        return "–"
    if percent:
        return f"{value * 100:.1f}%".replace(".0%", "%")
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


class _Scale:
    """Maps data values to pixels along one axis (log axes: positive values only)."""

    def __init__(self, axis: Axis, values: Sequence[float], start: float, end: float) -> None:
        data = _finite(values)
        if axis.log:
            data = [v for v in data if v > 0]
        low = axis.low if axis.low is not None else (min(data) if data else 0.0)
        high = axis.high if axis.high is not None else (max(data) if data else 1.0)
        self.step = 0.0
        if axis.log:
            low = low if low > 0 else (min(data) if data else 1.0)
            low, high = 10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high))
            if high <= low:
                high = low * 10
        else:
            if high <= low:
                high = low + 1.0
            self.step = _nice_step((high - low) / 5)
            if axis.high is None:
                high = low + math.ceil((high - low) / self.step - 1e-9) * self.step
        self.axis, self.low, self.high, self.start, self.end = axis, low, high, start, end

    def __call__(self, value: float) -> float:
        if self.axis.log:
            share = (math.log10(value) - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        else:
            share = (value - self.low) / (self.high - self.low)
        return self.start + share * (self.end - self.start)

    def inside(self, value: float) -> bool:
        """Whether ``value`` can be drawn on this axis."""
        return math.isfinite(value) and (value > 0 or not self.axis.log)

    def ticks(self) -> list[tuple[float, str]]:
        """(value, text) ticks: fixed, 1-2-5 on a log axis, else five steps."""
        if self.axis.ticks:
            return list(self.axis.ticks)
        if self.axis.log:
            values, magnitude = [], self.low
            while magnitude <= self.high * (1 + 1e-9):
                values += [m * magnitude for m in (1, 2, 5) if m * magnitude <= self.high * 1.0001]
                magnitude *= 10
        else:
            count = math.floor((self.high - self.low) / self.step + 1e-9)
            values = [self.low + i * self.step for i in range(count + 1)]
        return [(v, value_text(v, percent=self.axis.percent)) for v in values]


def _nice_step(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (> 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= value * 0.9999)


def _frame(
    *, chart_id: str, title: str, description: str, width: int, height: float, body: list[str]
) -> Markup:
    """The ``<svg>`` around ``body`` (markup already escaped), with its title and description."""
    cid = escape(chart_id)
    head = (
        f'<svg class="chart" role="img" width="{width}" height="{px(height)}" '
        f'viewBox="0 0 {width} {px(height)}" aria-labelledby="{cid}-title {cid}-desc">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(description)}</desc>'
    )
    return Markup("\n".join([head, *body, "</svg>"]))


def _axes(
    x: _Scale, y: _Scale, *, plot_bottom: float, x_label: str, y_label: str, x_ticks: list
) -> list[str]:
    """Grid lines, axis lines, ticks and axis labels."""
    out = []
    for value, text in y.ticks():
        if y.low - 1e-12 <= value <= y.high + 1e-12:
            at = px(y(value))
            out.append(
                f'<line x1="{px(x.start)}" y1="{at}" x2="{px(x.end)}" y2="{at}" '
                f'stroke="{GRID}"/>'
                f'<text x="{px(x.start - 6)}" y="{px(y(value) + 4)}" font-size="11" '
                f'text-anchor="end" fill="{MUTED}">{escape(text)}</text>'
            )
    for value, text in x_ticks:
        if x.inside(value) and x.low - 1e-12 <= value <= x.high * (1 + 1e-9) + 1e-12:
            at = px(x(value))
            out.append(
                f'<line x1="{at}" y1="{px(plot_bottom)}" x2="{at}" y2="{px(plot_bottom + 5)}" '
                f'stroke="{INK}"/>'
                f'<text x="{at}" y="{px(plot_bottom + 17)}" font-size="11" '
                f'text-anchor="middle" fill="{MUTED}">{escape(text)}</text>'
            )
    out.append(
        f'<line x1="{px(x.start)}" y1="{px(plot_bottom)}" x2="{px(x.end)}" '
        f'y2="{px(plot_bottom)}" stroke="{INK}"/>'
        f'<line x1="{px(x.start)}" y1="{px(y.end)}" x2="{px(x.start)}" '
        f'y2="{px(plot_bottom)}" stroke="{INK}"/>'
        f'<text x="{px((x.start + x.end) / 2)}" y="{px(plot_bottom + 36)}" font-size="12" '
        f'text-anchor="middle" fill="{INK}">{escape(x_label)}</text>'
        f'<text x="14" y="{px((y.start + y.end) / 2)}" font-size="12" text-anchor="middle" '
        f'fill="{INK}" transform="rotate(-90 14 {px((y.start + y.end) / 2)})">'
        f"{escape(y_label)}</text>"
    )
    return out


def _legend_columns(width: int) -> int:
    """Legend entries a row: three on a full-width chart, fewer on a small one."""
    return max(1, min(LEGEND_COLUMNS, int((width - MARGIN_LEFT) // LEGEND_WIDTH)))


def _legend(labels: Sequence[tuple[str, str, str, bool]], *, top: float, width: int) -> list[str]:
    """Legend rows below the plot: (label, colour, dash, emphasis) per entry."""
    columns = _legend_columns(width)
    column_width = (width - MARGIN_LEFT) / columns
    out = []
    for i, (label, colour, dash, emphasis) in enumerate(labels):
        left = MARGIN_LEFT + (i % columns) * column_width
        y = top + (i // columns) * LEGEND_ROW
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        shown = label if len(label) <= 34 else label[:33] + "…"
        weight = ' font-weight="700"' if emphasis else ""
        out.append(
            f'<g><title>{escape(label)}</title><line x1="{px(left)}" y1="{px(y)}" '
            f'x2="{px(left + 22)}" y2="{px(y)}" stroke="{colour}" '
            f'stroke-width="{3 if emphasis else 1.6}"{dash_attr}/>'
            f'<text x="{px(left + 28)}" y="{px(y + 4)}" font-size="11" fill="{INK}"'
            f"{weight}>{escape(shown)}</text></g>"
        )
    return out


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[Series],
    x_axis: Axis,
    y_axis: Axis,
    markers: Sequence[Marker] = (),
    diagonal: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """Lines with points (and bands for series that have them) on shared axes, labelled
    ``markers`` as dashed vertical lines, and ``diagonal`` a dotted y = x line (calibration).
    The x axis spans the series (a marker outside it is not drawn: say so in the caption);
    points off a log axis (0 or less) are left out; the legend lists every series."""
    xs = [p[0] for s in series for p in s.points] or [m.x for m in markers]
    ys = [p[1] for s in series for p in s.points] + [
        b for s in series for _, *bs in s.band for b in bs
    ]
    if diagonal:
        ys += xs
    plot_bottom = height - MARGIN_BOTTOM
    x = _Scale(x_axis, xs, MARGIN_LEFT, width - MARGIN_RIGHT)
    y = _Scale(y_axis, ys, plot_bottom, MARGIN_TOP)
    rows = math.ceil(len(series) / _legend_columns(width))
    total = height + rows * LEGEND_ROW + 6
    body = _axes(
        x,
        y,
        plot_bottom=plot_bottom,
        x_label=x_axis.label,
        y_label=y_axis.label,
        x_ticks=x.ticks(),
    )
    if diagonal:
        low, high = max(x.low, y.low), min(x.high, y.high)
        body.append(
            f'<line x1="{px(x(low))}" y1="{px(y(low))}" x2="{px(x(high))}" '
            f'y2="{px(y(high))}" stroke="{MUTED}" stroke-dasharray="1 3"/>'
        )
    shown = sorted(
        (m for m in markers if x.inside(m.x) and x.low <= m.x <= x.high), key=lambda m: m.x
    )
    row_ends: list[float] = []  # where each row of marker labels ends, so labels never overlap
    for marker in shown:
        label_width = MARKER_CHAR * len(marker.label)
        # Right of its line, or left of it (ending there) where it would leave the chart.
        left = x(marker.x) + 3
        anchor = ""
        if left + label_width > x.end:
            left, anchor = x(marker.x) - 3 - label_width, ' text-anchor="end"'
        row = next((i for i, end in enumerate(row_ends) if left > end), len(row_ends))
        row_ends[row : row + 1] = [left + label_width]
        at = px(x(marker.x))
        text_x = px(left + label_width if anchor else left)
        body.append(
            f"<g><title>{escape(marker.label)}</title>"
            f'<line x1="{at}" y1="{px(MARGIN_TOP)}" x2="{at}" y2="{px(plot_bottom)}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
            f'<text x="{text_x}" y="{px(MARGIN_TOP + 10 + 12 * row)}" font-size="10" '
            f'fill="{MUTED}"{anchor}>{escape(marker.label)}</text></g>'
        )
    order = sorted(range(len(series)), key=lambda i: series[i].emphasis)  # emphasis on top
    for index in order:
        line = series[index]
        colour, dash = style(index)
        band = [
            (bx, lo, hi)
            for bx, lo, hi in line.band
            if x.inside(bx) and y.inside(lo) and y.inside(hi)
        ]
        if band:
            outline = [(x(bx), y(hi)) for bx, _, hi in band]
            outline += [(x(bx), y(lo)) for bx, lo, _ in reversed(band)]
            path = "M" + "L".join(f"{px(a)},{px(b)}" for a, b in outline) + "Z"
            body.append(
                f'<path d="{path}" fill="{colour}" fill-opacity="0.14" stroke="none">'
                f"<title>{escape(line.label)}: interval</title></path>"
            )
        drawn = [
            (i, vx, vy) for i, (vx, vy) in enumerate(line.points) if x.inside(vx) and y.inside(vy)
        ]
        if len(drawn) > 1:
            path = "M" + "L".join(f"{px(x(vx))},{px(y(vy))}" for _, vx, vy in drawn)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(
                f'<path d="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="{3 if line.emphasis else 1.6}"{dash_attr}/>'
            )
        for i, vx, vy in drawn:
            note = line.notes[i] if i < len(line.notes) else ""
            text = (
                f"{line.label}: {x_axis.label} {value_text(vx, percent=x_axis.percent)}, "
                f"{y_axis.label} {value_text(vy, percent=y_axis.percent)}"
            )
            body.append(
                f'<circle cx="{px(x(vx))}" cy="{px(y(vy))}" r="{3 if line.emphasis else 2.2}" '
                f'fill="{colour}"><title>{escape(text + (" " + note if note else ""))}</title>'
                "</circle>"
            )
    legend = [(s.label, *style(i), s.emphasis) for i, s in enumerate(series)]
    body += _legend(legend, top=height + 4, width=width)
    return _frame(
        chart_id=chart_id,
        title=title,
        description=description,
        width=width,
        height=total,
        body=body,
    )


@dataclass(frozen=True)
class Bars:
    """One bar per category: ``values`` aligned with the chart's categories."""

    label: str
    values: Sequence[float]


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    bars: Sequence[Bars],
    x_label: str,
    y_axis: Axis,
    ticks: Sequence[tuple[float, str]] | None = None,
    width: int = WIDTH,
    height: int = 240,
) -> Markup:
    """Grouped bars: for each category, one bar per ``bars`` series side by side, on a linear
    y axis from 0. ``x_label`` names the categories; ``ticks`` (position, text) label the x
    axis, position 0 the left edge of the first category and 1 that of the second (default:
    every few categories' names, centred); each bar's hover text names its category."""
    plot_bottom = height - MARGIN_BOTTOM
    values = [v for b in bars for v in b.values]
    y = _Scale(
        Axis(y_axis.label, low=0.0, high=y_axis.high, percent=y_axis.percent),
        values,
        plot_bottom,
        MARGIN_TOP,
    )
    slot = (width - MARGIN_RIGHT - MARGIN_LEFT) / max(len(categories), 1)
    x = _Scale(
        Axis("", low=0.0, high=float(max(len(categories), 1))),
        [],
        MARGIN_LEFT,
        width - MARGIN_RIGHT,
    )
    if ticks is None:
        step = max(1, math.ceil(len(categories) / 12))
        ticks = [(i + 0.5, categories[i]) for i in range(0, len(categories), step)]
    body = _axes(
        x, y, plot_bottom=plot_bottom, x_label=x_label, y_label=y_axis.label, x_ticks=ticks
    )
    bar_width = slot * 0.8 / max(len(bars), 1)
    for j, series in enumerate(bars):
        colour, _ = style(j)
        for i, (category, value) in enumerate(zip(categories, series.values, strict=True)):
            if not math.isfinite(value):
                continue
            left = MARGIN_LEFT + i * slot + slot * 0.1 + j * bar_width
            top = y(max(value, 0.0))
            body.append(
                f'<rect x="{px(left)}" y="{px(top)}" width="{px(bar_width)}" '
                f'height="{px(plot_bottom - top)}" fill="{colour}">'
                f"<title>{escape(f'{series.label}, {category}: ')}"
                f"{escape(value_text(value, percent=y_axis.percent))}</title></rect>"
            )
    legend = [(b.label, style(j)[0], "", False) for j, b in enumerate(bars)]
    body += _legend(legend, top=height + 4, width=width)
    rows = math.ceil(len(bars) / _legend_columns(width))
    return _frame(
        chart_id=chart_id,
        title=title,
        description=description,
        width=width,
        height=height + rows * LEGEND_ROW + 6,
        body=body,
    )


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: a point estimate and its interval (NaN: not drawn, the
    row says why in ``note``)."""

    label: str
    value: float
    low: float
    high: float
    note: str = ""


def interval_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    rows: Sequence[Interval],
    axis: Axis,
    reference: float | None = None,
    band: tuple[float, float] | None = None,
    width: int = WIDTH,
) -> Markup:
    """Estimates with intervals, one labelled row each (a forest plot): a dot and a whisker
    on a shared x ``axis`` (log for ratios), a dashed line at ``reference`` (e.g. 1) and a
    shaded ``band`` (e.g. 0.8–1.25). A row without an estimate shows its ``note`` instead."""
    label_width = 150.0
    row_height = 22.0
    top = MARGIN_TOP
    plot_bottom = top + row_height * max(len(rows), 1)
    height = plot_bottom + MARGIN_BOTTOM
    values = [v for r in rows for v in (r.value, r.low, r.high)]
    values += [reference] if reference is not None else []
    values += list(band) if band is not None else []
    x = _Scale(axis, values, MARGIN_LEFT + label_width, width - MARGIN_RIGHT)
    y = _Scale(Axis("", low=0.0, high=1.0, ticks=((2.0, ""),)), [], plot_bottom, top)
    body = _axes(x, y, plot_bottom=plot_bottom, x_label=axis.label, y_label="", x_ticks=x.ticks())
    if band is not None and all(x.inside(b) for b in band):
        low, high = (min(max(x(b), x.start), x.end) for b in band)
        body.append(
            f'<rect x="{px(low)}" y="{px(top)}" width="{px(high - low)}" '
            f'height="{px(plot_bottom - top)}" fill="{GRID}" fill-opacity="0.7">'
            f"<title>{escape(f'band {value_text(band[0])}–{value_text(band[1])}')}</title></rect>"
        )
    if reference is not None and x.inside(reference):
        at = px(x(reference))
        body.append(
            f'<line x1="{at}" y1="{px(top)}" x2="{at}" y2="{px(plot_bottom)}" '
            f'stroke="{MUTED}" stroke-dasharray="4 3"/>'
        )
    colour, _ = style(0)
    for index, row in enumerate(rows):
        middle = top + row_height * (index + 0.5)
        shown = row.label if len(row.label) <= 24 else row.label[:23] + "…"
        body.append(
            f'<text x="{px(MARGIN_LEFT + label_width - 8)}" y="{px(middle + 4)}" '
            f'font-size="11" text-anchor="end" fill="{INK}"><title>{escape(row.label)}</title>'
            f"{escape(shown)}</text>"
        )
        drawn = x.inside(row.value) and x.low <= row.value <= x.high
        if not drawn:
            body.append(
                f'<text x="{px(x.start + 6)}" y="{px(middle + 4)}" font-size="11" '
                f'fill="{MUTED}">{escape(row.note or "not shown")}</text>'
            )
            continue
        text = f"{row.label}: {value_text(row.value, percent=axis.percent)}"
        if x.inside(row.low) and x.inside(row.high):
            left, right = max(x(row.low), x.start), min(x(row.high), x.end)
            body.append(
                f'<line x1="{px(left)}" y1="{px(middle)}" x2="{px(right)}" '
                f'y2="{px(middle)}" stroke="{colour}" stroke-width="2"/>'
            )
            text += (
                f" [{value_text(row.low, percent=axis.percent)}, "
                f"{value_text(row.high, percent=axis.percent)}]"
            )
        body.append(
            f'<circle cx="{px(x(row.value))}" cy="{px(middle)}" r="4" fill="{colour}">'
            f"<title>{escape(text + (' ' + row.note if row.note else ''))}</title></circle>"
        )
    return _frame(
        chart_id=chart_id,
        title=title,
        description=description,
        width=width,
        height=height,
        body=body,
    )
