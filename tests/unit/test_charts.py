"""The dashboards' chart layout (marketplace.dashboards.charts): plain data in, SVG geometry out."""

from decimal import Decimal

import pytest

from marketplace.dashboards.charts import Chart, Reference, Series, draw, nice_ticks

D = Decimal


@pytest.mark.parametrize(("high", "ticks"), [
    (D("0"), [0, 1]), (D("7"), [0, 2, 4, 6, 8]), (D("100"), [0, 25, 50, 75, 100]),
    (D("0.031"), [D("0"), D("0.01"), D("0.02"), D("0.03"), D("0.04")]),
    (D("123456789.12"), [0, 50_000_000, 100_000_000, 150_000_000]),
])
def test_the_value_axis_steps_in_round_numbers_up_to_the_highest_value(high, ticks):
    assert nice_ticks(high) == [D(t) for t in ticks]


@pytest.mark.parametrize(("high", "ticks"), [(D(10), [0, 5, 10]), (D(3), [0, 1, 2, 3]), (D(1), [0, 1]),
                                             (D(90), [0, 25, 50, 75, 100])])
def test_counts_and_days_step_in_whole_numbers(high, ticks):
    assert nice_ticks(high, whole=True) == [D(t) for t in ticks]


def test_columns_stand_on_the_axis_and_the_tallest_reaches_its_tick():
    chart = Chart("Lending", "money", ("2026-01", "2026-02"), (Series("Lent", (D("50.00"), D("100.00"))),))
    drawing = draw(chart)
    low, high = drawing.rects
    assert low.y + low.height == high.y + high.height == drawing.bottom
    assert abs(high.height - 2 * low.height) <= D("0.02")
    assert drawing.ticks[-1].value == D("100") and drawing.ticks[-1].position == high.y


def test_stacked_columns_sit_on_each_other():
    chart = Chart("Volume", "money", ("2026-01",), (Series("With", (D("30"),)), Series("Without", (D("10"),))),
                  kind="stacked")
    lower, upper = draw(chart).rects
    assert abs(upper.y + upper.height - lower.y) <= D("0.02")
    assert (lower.value, upper.value) == (D("30"), D("10"))


def test_a_line_skips_months_without_a_value_and_a_reference_crosses_the_plot():
    chart = Chart("Rate", "rate", ("a", "b", "c"), (Series("Rate", (None, D("0.01"), D("0.02"))),), kind="lines",
                  references=(Reference("Cap", D("0.03")),))
    drawing = draw(chart)
    (line,) = drawing.lines
    assert [i for _x, _y, i, _v in line.dots] == [1, 2]
    (cap,) = drawing.rules
    assert (cap.x1, cap.x2, cap.y1 == cap.y2) == (drawing.left, drawing.right, True)


def test_horizontal_bars_carry_a_per_row_mark():
    chart = Chart("Ageing", "days", ("Batch 1", "Batch 2"), (Series("Waiting", (D(7), D(2))),), kind="bars",
                  marks=(D(5), None), marks_name="SLA")
    drawing = draw(chart)
    assert [r.value for r in drawing.rects] == [D(7), D(2)]
    (mark,) = drawing.rules
    assert mark.mark and mark.index == 0 and mark.x1 == mark.x2 < drawing.rects[0].x + drawing.rects[0].width


def test_a_chart_of_nothing_is_empty_but_a_line_at_zero_is_not():
    assert Chart("x", "count", ("a",), (Series("s", (D(0),)),)).empty
    assert Chart("x", "count", (), ()).empty
    assert not Chart("x", "rate", ("a",), (Series("s", (D(0),)),), kind="lines").empty


def test_a_series_must_have_a_value_per_category():
    with pytest.raises(ValueError, match="2 values for 1 categories"):
        Chart("x", "count", ("a",), (Series("s", (D(1), D(2))),))


def test_where_zero_is_a_figure_a_zero_bar_is_drawn_and_only_no_category_is_empty():
    ageing = Chart("Ageing", "days", ("Batch 7",), (Series("Waiting", (D(0),)),), kind="bars", marks=(D(5),),
                   marks_name="SLA", keep_zeros=True)
    assert not ageing.empty
    (bar,) = draw(ageing).rects
    assert (bar.value, bar.width) == (D(0), 0)
    assert Chart("Ageing", "days", (), (Series("Waiting", ()),), kind="bars", keep_zeros=True).empty
