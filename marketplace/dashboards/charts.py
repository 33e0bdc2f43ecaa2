"""Charts drawn on the server: plain data in, SVG geometry out (no Flask, no database).

A `Chart` says what is shown (categories, one or more series, reference lines such as a cap, and per-category
marks such as a batch's SLA); `draw` turns it into rectangles, polylines and axis ticks in a fixed viewBox, which
`dashboards/_charts.html` writes out as SVG with a data table beside it. Values stay `Decimal` (the table and the
tooltips show them exactly), and so do positions, to the hundredth of a unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

#: What a chart's values are, which decides how the page formats them.
UNITS = ("money", "rate", "count", "days")
KINDS = ("columns", "stacked", "lines", "bars")
#: Units counted in whole numbers: their axis steps are whole too.
WHOLE_UNITS = ("count", "days")

WIDTH = 560
#: Room for the value axis's labels on the left, the categories' under the plot.
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 34
#: Horizontal bars: a category's name above its bars, and room on the right for a bar's value.
BAR_LEFT, BAR_RIGHT, BAR_LABEL, BAR_HEIGHT, BAR_GAP = 4, 76, 18, 16, 8
MAX_CATEGORY_LABELS = 8
#: Positions are kept to the hundredth of a viewBox unit; a column takes this share of its slot.
PX, HALF, BAR_SHARE = Decimal("0.01"), Decimal("0.5"), Decimal("0.7")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Decimal | None, ...]


@dataclass(frozen=True)
class Reference:
    """A line across the plot at one value: a compensation cap, the LPR."""
    name: str
    value: Decimal


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    kind: str = "columns"
    references: tuple[Reference, ...] = ()
    #: One value per category drawn as a tick on its bar (a batch's SLA), with its name.
    marks: tuple[Decimal | None, ...] = ()
    marks_name: str = ""
    #: Zero is a figure, not nothing (a batch submitted today has waited zero working days): such a chart is empty
    #: only without categories, and a zero is drawn.
    keep_zeros: bool = False

    def __post_init__(self) -> None:
        if self.unit not in UNITS or self.kind not in KINDS:
            raise ValueError(f"unknown unit {self.unit!r} or kind {self.kind!r}")
        for series in self.series:
            if len(series.values) != len(self.categories):
                raise ValueError(f"series {series.name!r} has {len(series.values)} values "
                                 f"for {len(self.categories)} categories")

    @property
    def empty(self) -> bool:
        """Nothing to draw: every value missing, or (for bars and columns, where zero draws nothing) zero."""
        if self.keep_zeros:
            return not self.categories
        if self.kind == "lines":
            return all(value is None for series in self.series for value in series.values)
        return not any(value for series in self.series for value in series.values)

    def total(self, index: int) -> Decimal:
        """The category's values added up (a stacked column's height)."""
        return sum((s.values[index] or Decimal(0) for s in self.series), Decimal(0))


@dataclass(frozen=True)
class Rect:
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    series: int
    category: int
    value: Decimal


@dataclass(frozen=True)
class Polyline:
    series: int
    points: str
    dots: tuple[tuple[Decimal, Decimal, int, Decimal], ...]


@dataclass(frozen=True)
class Tick:
    position: Decimal
    value: Decimal


@dataclass(frozen=True)
class Label:
    position: Decimal
    text: str


@dataclass(frozen=True)
class Rule:
    x1: Decimal
    y1: Decimal
    x2: Decimal
    y2: Decimal
    index: int
    name: str
    value: Decimal
    #: A per-category mark (index is the category's), not a reference line across the plot.
    mark: bool = False


@dataclass
class Drawing:
    chart: Chart
    width: int
    height: int
    left: Decimal
    top: Decimal
    right: Decimal
    bottom: Decimal
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    rects: list[Rect] = field(default_factory=list)
    lines: list[Polyline] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    @property
    def horizontal(self) -> bool:
        return self.chart.kind == "bars"


def nice_ticks(high: Decimal, count: int = 4, whole: bool = False) -> list[Decimal]:
    """0 and round steps (1, 2, 2.5 or 5 × 10ⁿ; whole numbers only when counting) up to the first at or above
    `high`."""
    if high <= 0:
        return [Decimal(0), Decimal(1)]
    rough = high / count
    exponent = math.floor(math.log10(rough))
    magnitude = Decimal(10) ** exponent
    step = next(m * magnitude for m in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
                if m * magnitude >= rough and (not whole or m * magnitude >= 1 and m * magnitude % 1 == 0))
    ticks = [Decimal(0)]
    while ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return [t.normalize() if t == t.to_integral_value() else t for t in ticks]


def _high(chart: Chart) -> Decimal:
    if chart.kind == "stacked":
        values = [chart.total(i) for i in range(len(chart.categories))]
    else:
        values = [v for s in chart.series for v in s.values if v is not None]
    values += [r.value for r in chart.references] + [m for m in chart.marks if m is not None]
    return max(values, default=Decimal(0))


def _px(value: Decimal) -> Decimal:
    return value.quantize(PX, rounding=ROUND_HALF_UP)


def draw(chart: Chart) -> Drawing:
    """Lay the chart out in a WIDTH-wide viewBox."""
    if chart.kind == "bars":
        return _draw_bars(chart)
    height = 240
    drawing = Drawing(chart, WIDTH, height, Decimal(LEFT), Decimal(TOP), Decimal(WIDTH - RIGHT),
                      Decimal(height - BOTTOM))
    ticks = nice_ticks(_high(chart), whole=chart.unit in WHOLE_UNITS)
    top_value = ticks[-1]
    plot_height = drawing.bottom - drawing.top

    def y(value: Decimal) -> Decimal:
        return _px(drawing.bottom - value / top_value * plot_height)

    drawing.ticks = [Tick(y(t), t) for t in ticks]
    count = len(chart.categories)
    slot = (drawing.right - drawing.left) / max(count, 1)
    every = max(1, math.ceil(count / MAX_CATEGORY_LABELS))

    def middle(i: int) -> Decimal:
        return _px(drawing.left + slot * (i + HALF))

    drawing.labels = [Label(middle(i), name) for i, name in enumerate(chart.categories) if i % every == 0]
    if chart.kind == "lines":
        for s, series in enumerate(chart.series):
            dots = tuple((middle(i), y(v), i, v) for i, v in enumerate(series.values) if v is not None)
            drawing.lines.append(Polyline(s, " ".join(f"{x},{y_}" for x, y_, _, _ in dots), dots))
    else:
        stacked = chart.kind == "stacked"
        groups = 1 if stacked else max(len(chart.series), 1)
        bar = slot * BAR_SHARE / groups
        for i in range(count):
            base = Decimal(0)
            for s, series in enumerate(chart.series):
                value = series.values[i]
                if not value:
                    continue
                x = drawing.left + slot * i + slot * (1 - BAR_SHARE) / 2 + (0 if stacked else bar * s)
                top, bottom = y(base + value), y(base)
                drawing.rects.append(Rect(_px(x), top, _px(bar), bottom - top, s, i, value))
                if stacked:
                    base += value
    drawing.rules = [Rule(drawing.left, y(r.value), drawing.right, y(r.value), i, r.name, r.value)
                     for i, r in enumerate(chart.references)]
    return drawing


def _draw_bars(chart: Chart) -> Drawing:
    """Horizontal bars, a row per category: its name on a line of its own (names are long: products, fee rules),
    then a bar per series, with room on the right for the value."""
    count, rows = len(chart.categories), max(len(chart.series), 1)
    row = BAR_LABEL + BAR_HEIGHT * rows + BAR_GAP
    height = TOP + BOTTOM + row * max(count, 1)
    drawing = Drawing(chart, WIDTH, height, Decimal(BAR_LEFT), Decimal(TOP), Decimal(WIDTH - BAR_RIGHT),
                      Decimal(height - BOTTOM))
    ticks = nice_ticks(_high(chart), whole=chart.unit in WHOLE_UNITS)
    top_value = ticks[-1]
    plot_width = drawing.right - drawing.left

    def x(value: Decimal) -> Decimal:
        return _px(drawing.left + value / top_value * plot_width)

    drawing.ticks = [Tick(x(t), t) for t in ticks]
    drawing.labels = [Label(drawing.top + row * i + BAR_LABEL - 4, name) for i, name in enumerate(chart.categories)]
    for i in range(count):
        first_bar = drawing.top + row * i + BAR_LABEL
        for s, series in enumerate(chart.series):
            value = series.values[i]
            if value or (value is not None and chart.keep_zeros):
                drawing.rects.append(Rect(drawing.left, first_bar + BAR_HEIGHT * s, x(value) - drawing.left,
                                          Decimal(BAR_HEIGHT - 2), s, i, value))
        if i < len(chart.marks) and chart.marks[i] is not None:
            mark = chart.marks[i]
            drawing.rules.append(Rule(x(mark), first_bar - 2, x(mark), first_bar + BAR_HEIGHT * rows, i,
                                      chart.marks_name, mark, mark=True))
    drawing.rules += [Rule(x(r.value), drawing.top, x(r.value), drawing.bottom, i, r.name, r.value)
                      for i, r in enumerate(chart.references)]
    return drawing
