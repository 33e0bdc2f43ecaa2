"""Repayment schedules (schedule.py), on plain data: no database, no app.

The worked examples use a loan of 1,200,000.00 at 3.30 % for 12 months from 2026-01-15 (and a revolving loan of
1,000,000.00 at 3.60 %, whose day's interest is exactly 100.00), so each figure can be checked by hand; expected
figures are computed here with exact fractions, not with the module's own arithmetic. The properties draw loans of
every method, size, rate and term and check what API.md promises: Σ principal = principal, nothing negative, due
dates on working days, and payments that split exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.dates import working_day
from marketplace.financing.schedule import (
    DEFAULT_METHOD,
    Method,
    Period,
    Split,
    apply_payment,
    build,
    first_unpaid_past_due,
    interest_accrued,
    next_due,
    nominal_date,
    owed,
    standings,
)
from products.models import ProductType

P = Decimal("1200000.00")
RATE = Decimal("0.0330")
START = dt.date(2026, 1, 15)


def fen(value: Fraction) -> Decimal:
    """Half up to the fen, in integer arithmetic (for values ≥ 0)."""
    return Decimal(math.floor(value * 100 + Fraction(1, 2))).scaleb(-2)


def d(text: str) -> Decimal:
    return Decimal(text)


# Defaults --------------------------------------------------------------------------------------------------------

def test_every_product_type_has_a_default_method():
    assert set(DEFAULT_METHOD) == {t.value for t in ProductType}
    assert DEFAULT_METHOD[ProductType.TERM] == Method.EQUAL_PRINCIPAL
    assert DEFAULT_METHOD["renewal"] == Method.INTEREST_MONTHLY
    assert {DEFAULT_METHOD[t] for t in ("credit", "park", "ip_pledge")} == {Method.EQUAL_INSTALLMENT}


# Fixed methods ---------------------------------------------------------------------------------------------------

def test_equal_principal_repays_a_twelfth_a_month_with_interest_on_the_balance_before_it():
    periods = build(Method.EQUAL_PRINCIPAL, P, RATE, START, 12)
    assert [p.number for p in periods] == list(range(1, 13))
    assert all(p.principal == d("100000.00") for p in periods)
    # interest_k = (1,200,000 − 100,000·(k−1)) × 0.0330 / 12: 3,300.00, 3,025.00, … 275.00.
    assert [p.interest for p in periods] == [
        fen((1_200_000 - 100_000 * (k - 1)) * Fraction(330, 10_000) / 12) for k in range(1, 13)]
    assert periods[0].interest == d("3300.00") and periods[-1].interest == d("275.00")
    assert sum(p.principal for p in periods) == P
    assert [p.outstanding_after for p in periods] == [P - 100_000 * k for k in range(1, 13)]


def test_equal_installment_pays_the_annuity_every_month_and_the_last_takes_the_remainder():
    periods = build(Method.EQUAL_INSTALLMENT, P, RATE, START, 12)
    r = Fraction(330, 10_000) / 12
    annuity = fen(1_200_000 * r * (1 + r) ** 12 / ((1 + r) ** 12 - 1))
    assert annuity == d("101796.50")
    assert {p.total for p in periods[:-1]} == {annuity}
    assert periods[0].interest == d("3300.00") and periods[0].principal == d("98496.50")
    assert sum(p.principal for p in periods) == P
    assert periods[-1].outstanding_after == 0
    # The last period's interest is on what is left, and its principal is all of it.
    assert periods[-1].interest == fen(Fraction(periods[-2].outstanding_after) * r)
    assert periods[-1].principal == periods[-2].outstanding_after


def test_interest_monthly_charges_the_same_interest_each_month_and_the_principal_at_the_end():
    periods = build(Method.INTEREST_MONTHLY, P, RATE, START, 12)
    assert {p.interest for p in periods} == {d("3300.00")}
    assert [p.principal for p in periods] == [d("0.00")] * 11 + [P]
    assert [p.outstanding_after for p in periods] == [P] * 11 + [d("0.00")]
    # Half up, not to even: 1,300.00 × 0.0006 / 12 = 0.065.
    assert build(Method.INTEREST_MONTHLY, d("1300.00"), d("0.0006"), START, 1)[0].interest == d("0.07")


def test_an_annuity_whose_rounding_compounds_ends_with_the_period_that_clears_the_balance():
    # 1,000.00 at 24 % over 30 years: the instalment 20.02 is 0.004 above the exact 20.0160…, and at 2 % a month that
    # fen compounds, so the balance is repaid after 350 periods; the 350th takes what is left, not a tail of zeros.
    periods = build(Method.EQUAL_INSTALLMENT, d("1000.00"), d("0.2400"), dt.date(2025, 1, 31), 360)
    assert len(periods) == 350
    assert {p.total for p in periods[:-1]} == {d("20.02")} and periods[-1].total < d("20.02")
    assert sum(p.principal for p in periods) == d("1000.00") and periods[-1].outstanding_after == 0


# Dates -----------------------------------------------------------------------------------------------------------

def test_periods_keep_the_start_day_clamped_to_short_months_without_drifting():
    start = dt.date(2026, 1, 31)
    assert [nominal_date(start, n) for n in range(5)] == [
        start, dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30), dt.date(2026, 5, 31)]
    assert nominal_date(dt.date(2027, 12, 31), 2) == dt.date(2028, 2, 29)  # a leap year
    assert nominal_date(dt.date(2026, 11, 30), 14) == dt.date(2028, 1, 30)


def test_a_due_date_on_a_holiday_or_weekend_moves_to_the_next_working_day():
    # 2026-10-01 is National Day: the holiday runs to 10-07; 2026-11-01 is a Sunday.
    assert [p.due_on for p in build(Method.EQUAL_PRINCIPAL, P, RATE, dt.date(2026, 9, 1), 2)] == [
        dt.date(2026, 10, 8), dt.date(2026, 11, 2)]
    # 2026-08-15 is a Saturday.
    assert build(Method.EQUAL_PRINCIPAL, P, RATE, dt.date(2026, 7, 15), 1)[0].due_on == dt.date(2026, 8, 17)
    # 2026-02-15 falls in the Spring Festival holiday (02-15 to 02-23).
    assert build(Method.EQUAL_PRINCIPAL, P, RATE, START, 1)[0].due_on == dt.date(2026, 2, 24)


def test_a_make_up_working_day_on_a_weekend_is_a_due_date():
    # From Jan 31: Feb 28, a Saturday but a make-up working day (调休) in 2026, then Mar 31, a Tuesday.
    assert [p.due_on for p in build(Method.EQUAL_INSTALLMENT, P, RATE, dt.date(2026, 1, 31), 2)] == [
        dt.date(2026, 2, 28), dt.date(2026, 3, 31)]


# Revolving -------------------------------------------------------------------------------------------------------

REVOLVING = d("1000000.00")
REVOLVING_RATE = d("0.0360")  # 1,000,000.00 × 0.0360 / 360 = 100.00 a day
REPAID_FEB_1 = [(dt.date(2026, 2, 1), d("400000.00"))]


def test_a_revolving_loan_untouched_pays_interest_by_the_day_and_the_principal_at_the_end():
    periods = build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 3)
    # 31 days from Jan 15, 28 from Feb 15, 31 from Mar 15.
    assert [p.interest for p in periods] == [
        fen(1_000_000 * Fraction(360, 10_000) / 360 * days) for days in (31, 28, 31)]
    assert [p.interest for p in periods] == [d("3100.00"), d("2800.00"), d("3100.00")]
    assert [p.principal for p in periods] == [d("0.00"), d("0.00"), REVOLVING]


def test_a_revolving_repayment_lowers_the_interest_from_its_own_day():
    periods = build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 3, REPAID_FEB_1)
    # Period 1: Jan 15–31 (17 days) on 1,000,000.00, Feb 1–14 (14 days) on 600,000.00; then 600,000.00 throughout.
    assert [p.interest for p in periods] == [d("2540.00"), d("1680.00"), d("1860.00")]
    assert [p.principal for p in periods] == [d("400000.00"), d("0.00"), d("600000.00")]
    assert [p.outstanding_after for p in periods] == [d("600000.00"), d("600000.00"), d("0.00")]


def test_a_revolving_schedule_ends_with_the_period_that_repays_it_all():
    repaid = [*REPAID_FEB_1, (dt.date(2026, 2, 20), d("600000.00"))]
    periods = build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 12, repaid)
    # Period 2 runs from Feb 15: five days on 600,000.00 before the balance is cleared on Feb 20.
    assert [(p.principal, p.interest, p.outstanding_after) for p in periods] == [
        (d("400000.00"), d("2540.00"), d("600000.00")), (d("600000.00"), d("300.00"), d("0.00"))]


def test_a_revolving_repayment_after_the_last_nominal_date_counts_in_the_last_period():
    repaid = [(dt.date(2026, 4, 20), d("1000000.00"))]
    periods = build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 3, repaid)
    assert [p.principal for p in periods] == [d("0.00"), d("0.00"), REVOLVING]
    assert periods[-1].interest == d("3100.00")


def test_interest_accrued_rounds_each_complete_period_and_the_current_one_on_its_own():
    # Through Mar 1: period 1 (2,540.00) and Feb 15–28, 14 days on 600,000.00 at 60.00 a day.
    assert interest_accrued(REVOLVING, REVOLVING_RATE, START, 3, REPAID_FEB_1, dt.date(2026, 3, 1)) == d("3380.00")
    assert interest_accrued(REVOLVING, REVOLVING_RATE, START, 3, REPAID_FEB_1, START) == d("0.00")
    # On the last nominal date it is what the schedule charges; after it, every further day accrues.
    assert interest_accrued(REVOLVING, REVOLVING_RATE, START, 3, (), dt.date(2026, 4, 15)) == d("9000.00")
    assert interest_accrued(REVOLVING, REVOLVING_RATE, START, 3, (), dt.date(2026, 4, 20)) == d("9500.00")


def test_interest_accrued_rounds_the_current_period_on_its_own():
    # 1,000.00 at 3.65 % is 0.1013… a day: period 1 (31 days) is 3.1430… → 3.14 and Feb 15–16 (2 days) 0.2027… →
    # 0.20, where the 33 days rounded together would be 3.3458… → 3.35.
    loan = (d("1000.00"), d("0.0365"), START, 3, ())
    daily = 1000 * Fraction(365, 10_000) / 360
    assert (fen(daily * 31), fen(daily * 2), fen(daily * 33)) == (d("3.14"), d("0.20"), d("3.35"))
    assert interest_accrued(*loan, dt.date(2026, 2, 17)) == d("3.34")
    assert interest_accrued(*loan, dt.date(2026, 2, 15)) == build(Method.REVOLVING, *loan)[0].interest == d("3.14")


def test_repayments_that_do_not_fit_the_loan_are_refused():
    with pytest.raises(ValueError):
        build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 3, [(dt.date(2026, 2, 1), d("1000000.01"))])
    with pytest.raises(ValueError):
        build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 3, [(dt.date(2026, 1, 14), d("1.00"))])


# Payments --------------------------------------------------------------------------------------------------------

PERIODS = build(Method.EQUAL_PRINCIPAL, P, RATE, START, 12)  # 103,300.00, 103,025.00, 102,750.00, 102,475.00, …


def test_a_payment_of_the_first_instalment_pays_its_interest_and_principal():
    assert apply_payment(PERIODS, d("0.00"), d("103300.00")) == Split(interest=d("3300.00"), principal=d("100000.00"))


def test_a_payment_spanning_two_periods_pays_interest_before_principal_in_each():
    # 50,000.00 before paid interest 1 and 46,700.00 of principal 1; 100,000.00 now pays the other 53,300.00 of it,
    # interest 2 (3,025.00) and 43,675.00 of principal 2.
    assert apply_payment(PERIODS, d("50000.00"), d("100000.00")) == Split(interest=d("3025.00"),
                                                                          principal=d("96975.00"))
    assert owed(PERIODS, d("50000.00")) - owed(PERIODS, d("150000.00")) == d("100000.00")


def test_more_than_is_owed_is_refused_and_what_is_owed_never_goes_below_zero():
    total = sum(p.total for p in PERIODS)
    assert owed(PERIODS, total) == owed(PERIODS, total + 1) == 0
    assert apply_payment(PERIODS, d("0.00"), total) == Split(interest=total - P, principal=P)
    with pytest.raises(ValueError):
        apply_payment(PERIODS, d("0.00"), total + d("0.01"))


def statuses(rows) -> list[str]:
    return [s.status for s in rows]


def test_standings_on_a_day_with_a_period_paid_one_partly_paid_and_the_rest_to_come():
    # Period 2 (103,025.00, due 03-16) has 50,000.00 of it paid; on 03-10 it is the period to pay.
    rows = standings(PERIODS, interest_paid=d("6325.00"), principal_paid=d("146975.00"), today=dt.date(2026, 3, 10))
    assert statuses(rows)[:4] == ["paid", "partly_paid", "upcoming", "upcoming"]
    assert [s.paid for s in rows[:3]] == [d("103300.00"), d("50000.00"), d("0.00")]
    assert next_due(rows).period.number == 2
    assert first_unpaid_past_due(PERIODS, d("153300.00"), dt.date(2026, 3, 10)) is None
    # On its due date it is not overdue yet.
    assert statuses(standings(PERIODS, interest_paid=d("0"), principal_paid=d("0"), today=dt.date(2026, 2, 24)))[:2] \
        == ["due", "upcoming"]


def test_standings_once_periods_are_past_due():
    # On 04-20 periods 2 (due 03-16) and 3 (due 04-15) are past due, period 4 (05-15) is the next to fall due.
    rows = standings(PERIODS, interest_paid=d("6325.00"), principal_paid=d("146975.00"), today=dt.date(2026, 4, 20))
    assert statuses(rows)[:5] == ["paid", "overdue", "overdue", "due", "upcoming"]
    assert next_due(rows).period.number == 2
    assert first_unpaid_past_due(PERIODS, d("153300.00"), dt.date(2026, 4, 20)) == PERIODS[1]
    everything = sum(p.total for p in PERIODS)
    paid_up = standings(PERIODS, interest_paid=everything - P, principal_paid=P, today=dt.date(2027, 6, 1))
    assert set(statuses(paid_up)) == {"paid"} and next_due(paid_up) is None


def test_revolving_standings_count_repaid_principal_in_its_period_and_fill_interest_oldest_first():
    periods = build(Method.REVOLVING, REVOLVING, REVOLVING_RATE, START, 3, REPAID_FEB_1)  # due 02-24, 03-16, 04-15
    rows = standings(periods, interest_paid=d("2540.00"), principal_paid=d("400000.00"), today=dt.date(2026, 3, 20),
                     revolving=True)
    assert statuses(rows) == ["paid", "overdue", "due"]
    assert [s.paid for s in rows] == [d("402540.00"), d("0.00"), d("0.00")]
    settled = standings(periods, interest_paid=d("6080.00"), principal_paid=REVOLVING, today=dt.date(2026, 4, 16),
                        revolving=True)
    assert statuses(settled) == ["paid", "paid", "paid"]


# Properties ------------------------------------------------------------------------------------------------------

properties = settings(max_examples=150, deadline=None, derandomize=True, database=None)
principals = st.decimals(min_value=d("1000.00"), max_value=d("100000000.00"), places=2)
rates = st.decimals(min_value=d("0.0001"), max_value=d("0.2400"), places=4)
starts = st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31))


FIXED = (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_MONTHLY)


@st.composite
def loans(draw: st.DrawFn, methods: Sequence[Method] = tuple(Method)
          ) -> tuple[Method, Decimal, Decimal, dt.date, int, list[tuple[dt.date, Decimal]]]:
    """Any method, size, rate and term; a revolving loan also draws repayments, sometimes all of it, some after
    maturity."""
    method, principal, start = draw(st.sampled_from(methods)), draw(principals), draw(starts)
    months = draw(st.one_of(st.integers(1, 360), st.integers(1, 24)))
    repaid, left = [], int(principal * 100)
    for _ in range(draw(st.integers(0, 4)) if method == Method.REVOLVING else 0):
        day = start + dt.timedelta(days=draw(st.integers(0, months * 31 + 40)))
        amount = draw(st.one_of(st.just(left), st.integers(0, left)))
        repaid.append((day, Decimal(amount).scaleb(-2)))
        left -= amount
    return method, principal, draw(rates), start, months, repaid


def check_schedule(periods: list[Period], principal: Decimal) -> None:
    assert sum(p.principal for p in periods) == principal
    assert periods[-1].outstanding_after == 0
    assert all(p.principal >= 0 and p.interest >= 0 and p.outstanding_after >= 0 for p in periods)
    outstanding = [principal] + [p.outstanding_after for p in periods]
    assert all(a >= b for a, b in zip(outstanding, outstanding[1:], strict=False))
    assert all(p.outstanding_after == principal - sum(q.principal for q in periods[:i + 1])
               for i, p in enumerate(periods))
    assert [p.number for p in periods] == list(range(1, len(periods) + 1))
    assert all(a.due_on < b.due_on for a, b in zip(periods, periods[1:], strict=False))
    assert all(working_day(p.due_on)[0] for p in periods)
    assert all(p.principal == p.principal.quantize(d("0.01")) and p.interest == p.interest.quantize(d("0.01"))
               for p in periods)


@properties
@given(loan=loans())
def test_every_schedule_repays_the_principal_exactly_on_working_days(loan):
    method, principal, rate, start, months, repaid = loan
    periods = build(method, principal, rate, start, months, repaid)
    check_schedule(periods, principal)
    assert len(periods) <= months
    if method == Method.EQUAL_INSTALLMENT:
        assert len({p.total for p in periods[:-1]}) <= 1
    if method in (Method.INTEREST_MONTHLY, Method.EQUAL_PRINCIPAL) and principal >= months * months:
        assert len(periods) == months


@properties
@given(principal=principals, rate=rates, start=starts, months=st.integers(1, 360))
def test_equal_installments_are_all_equal_but_the_last(principal, rate, start, months):
    periods = build(Method.EQUAL_INSTALLMENT, principal, rate, start, months)
    check_schedule(periods, principal)
    assert len({p.total for p in periods[:-1]}) <= 1


@properties
@given(loan=loans([Method.REVOLVING]))
def test_revolving_interest_accrued_to_maturity_is_what_the_schedule_charges(loan):
    _, principal, rate, start, months, repaid = loan
    periods = build(Method.REVOLVING, principal, rate, start, months, repaid)
    assert interest_accrued(principal, rate, start, months, repaid, nominal_date(start, months)) == sum(
        p.interest for p in periods)
    if len(periods) < months:  # repaid in full early: no principal left after the last period
        assert sum(a for day, a in repaid if day < nominal_date(start, len(periods))) == principal


@st.composite
def payments(draw: st.DrawFn) -> tuple[list[Period], Decimal, Decimal]:
    method, principal, rate, start, months, _ = draw(loans(FIXED))
    periods = build(method, principal, rate, start, months)
    total = int(sum(p.total for p in periods) * 100)
    before = draw(st.one_of(st.just(0), st.integers(0, total)))
    amount = draw(st.one_of(st.just(total - before), st.integers(0, total - before)))
    return periods, Decimal(before).scaleb(-2), Decimal(amount).scaleb(-2)


@properties
@given(payment=payments(), cut=st.fractions(0, 1))
def test_a_payment_splits_exactly_and_in_parts_as_it_does_whole(payment, cut):
    periods, before, amount = payment
    split = apply_payment(periods, before, amount)
    assert split.interest + split.principal == amount <= owed(periods, before)
    assert split.interest >= 0 and split.principal >= 0
    assert owed(periods, before + amount) == owed(periods, before) - amount
    first = fen(Fraction(amount) * cut)
    one, two = apply_payment(periods, before, first), apply_payment(periods, before + first, amount - first)
    assert (one.interest + two.interest, one.principal + two.principal) == (split.interest, split.principal)
    # Everything paid so far splits into at most the schedule's interest, and all of it once paid up.
    so_far = apply_payment(periods, d("0.00"), before + amount)
    assert so_far.interest <= sum(p.interest for p in periods)
    if owed(periods, before + amount) == 0:
        assert so_far == Split(interest=sum(p.interest for p in periods), principal=sum(p.principal for p in periods))


@properties
@given(payment=payments(), today=st.dates(dt.date(2025, 1, 1), dt.date(2058, 12, 31)))
def test_standings_account_for_every_payment_and_agree_with_the_scheduler(payment, today):
    periods, before, amount = payment
    split = apply_payment(periods, d("0.00"), before + amount)
    rows = standings(periods, interest_paid=split.interest, principal_paid=split.principal, today=today)
    assert sum(s.paid for s in rows) == before + amount
    assert statuses(rows).count("due") + statuses(rows).count("partly_paid") <= 1
    overdue = [s.period for s in rows if s.status == "overdue"]
    assert first_unpaid_past_due(periods, before + amount, today) == (overdue[0] if overdue else None)
    assert next_due(rows) == next((s for s in rows if s.status != "paid"), None)
