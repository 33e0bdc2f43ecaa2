"""Repayment schedules as Chinese banks draw them (DESIGN.md policy defaults; API.md §Loans after approval), on plain
data: no database, no app.

Periods are monthly from the disbursement date; the monthly rate is annual ÷ 12 (revolving: daily, annual ÷ 360 on
the drawn balance); every figure is rounded half up to the fen and the last period takes the remainder, so that
Σ principal is the principal disbursed exactly. A due date on a non-working day moves to the next working day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from marketplace.dates import working_day
from marketplace.money import quantize

ZERO = Decimal("0.00")
#: Enough digits for (1 + r)^360 and P·r at 100,000,000.00 that the fen is never in doubt.
PRECISION = 40


class Method(enum.StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_MONTHLY = "interest_monthly"  # 按月付息到期还本
    REVOLVING = "revolving"  # 随借随还


#: By product type (products.models.ProductType's values); banks override it at disbursement.
DEFAULT_METHOD: dict[str, Method] = {
    "credit": Method.EQUAL_INSTALLMENT,
    "park": Method.EQUAL_INSTALLMENT,
    "ip_pledge": Method.EQUAL_INSTALLMENT,
    "term": Method.EQUAL_PRINCIPAL,
    "renewal": Method.INTEREST_MONTHLY,
    "revolving": Method.REVOLVING,
}


@dataclass(frozen=True)
class Period:
    number: int
    #: The nominal date rolled forward to a working day.
    due_on: dt.date
    principal: Decimal
    interest: Decimal
    #: The principal balance once this period's principal is repaid.
    outstanding_after: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


@dataclass(frozen=True)
class Split:
    interest: Decimal
    principal: Decimal


@dataclass(frozen=True)
class Standing:
    period: Period
    #: What of the period's total has been paid.
    paid: Decimal
    #: "paid" | "partly_paid" | "overdue" | "due" | "upcoming"
    status: str


# Dates -----------------------------------------------------------------------------------------------------------

def nominal_date(start: dt.date, number: int) -> dt.date:
    """`number` months after `start`, on start's day of the month or the month's last day when it is shorter.

    Always anchored on `start`, so a loan from Jan 31 falls due on Feb 28 and then Mar 31, not Mar 28."""
    month = start.month - 1 + number
    year, month = start.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def roll_forward(day: dt.date) -> dt.date:
    """The first working day on or after `day` (holidays and make-up working days as chinese-calendar has them)."""
    while not working_day(day)[0]:
        day += dt.timedelta(days=1)
    return day


# Schedules -------------------------------------------------------------------------------------------------------

def build(method: Method, principal: Decimal, annual_rate: Decimal, start: dt.date, months: int,
          principal_repaid: Sequence[tuple[dt.date, Decimal]] = ()) -> list[Period]:
    """The schedule of a loan of `principal` disbursed on `start` for `months` months.

    `principal_repaid` (date, amount) only shapes a revolving schedule: its principal is what was repaid when."""
    _check_loan(principal, annual_rate, months)
    with localcontext(prec=PRECISION):
        if method == Method.REVOLVING:
            repaid = _checked_repayments(principal, start, principal_repaid)
            rows = _revolving(principal, annual_rate, start, months, repaid)
        elif method == Method.EQUAL_INSTALLMENT:
            rows = _equal_installment(principal, annual_rate / 12, months)
        elif method == Method.EQUAL_PRINCIPAL:
            rows = _equal_principal(principal, annual_rate / 12, months)
        elif method == Method.INTEREST_MONTHLY:
            interest = quantize(principal * annual_rate / 12)
            rows = [(ZERO, interest)] * (months - 1) + [(principal, interest)]
        else:
            raise ValueError(f"unknown repayment method {method!r}")
    periods, balance = [], principal
    for number, (part, interest) in enumerate(rows, start=1):
        balance -= part
        periods.append(Period(number=number, due_on=roll_forward(nominal_date(start, number)), principal=part,
                              interest=interest, outstanding_after=balance))
    return periods


def annuity(principal: Decimal, monthly_rate: Decimal, months: int) -> Decimal:
    """等额本息's instalment, P·r(1+r)^n / ((1+r)^n − 1) to the fen (P / n when the rate is zero)."""
    with localcontext(prec=PRECISION):
        if monthly_rate == 0:
            return quantize(principal / months)
        growth = (1 + monthly_rate) ** months
        return quantize(principal * monthly_rate * growth / (growth - 1))


def _equal_installment(principal: Decimal, rate: Decimal, months: int) -> list[tuple[Decimal, Decimal]]:
    """Equal instalments, the last taking the remainder.

    Over long terms at high rates a fen of rounding compounds into pounds: should the balance run out early, the
    period that clears it is the last (its total below the instalment) rather than a tail of empty periods."""
    instalment = annuity(principal, rate, months)
    rows, balance = [], principal
    for number in range(1, months + 1):
        interest = quantize(balance * rate)
        part = balance if number == months else min(max(instalment - interest, ZERO), balance)
        rows.append((part, interest))
        balance -= part
        if balance == 0:
            break
    return rows


def _equal_principal(principal: Decimal, rate: Decimal, months: int) -> list[tuple[Decimal, Decimal]]:
    """Equal principal, interest on the balance before each period; the last takes the remainder."""
    step = quantize(principal / months)
    rows, balance = [], principal
    for number in range(1, months + 1):
        part = balance if number == months else min(step, balance)
        rows.append((part, quantize(balance * rate)))
        balance -= part
        if balance == 0:
            break
    return rows


def _revolving(principal: Decimal, annual_rate: Decimal, start: dt.date, months: int,
               repaid: list[tuple[dt.date, Decimal]]) -> list[tuple[Decimal, Decimal]]:
    """随借随还: each period's principal is what was repaid in it, and its interest accrues by the day on the balance.

    The schedule ends with the period in which the balance reached zero; the last period takes what is left."""
    rows, balance = [], principal
    for number, (first, end) in enumerate(_spans(start, months), start=1):
        interest = _daily_interest(principal, annual_rate, repaid, first, end)
        part = balance if number == months else sum((a for d, a in repaid if first <= d < end), ZERO)
        rows.append((part, interest))
        balance -= part
        if balance == 0:
            break
    return rows


def interest_accrued(principal: Decimal, annual_rate: Decimal, start: dt.date, months: int,
                     principal_repaid: Sequence[tuple[dt.date, Decimal]], through: dt.date) -> Decimal:
    """Interest of a revolving loan on its balance for the days from `start` up to but not including `through`.

    Each period complete by then is rounded as in the schedule, the rest on its own (after maturity: every day since
    the last nominal date), so that on a period's nominal date this is what the schedule's periods so far charge."""
    _check_loan(principal, annual_rate, months)
    repaid = _checked_repayments(principal, start, principal_repaid)
    total, accrued_to = ZERO, start
    with localcontext(prec=PRECISION):
        for first, end in _spans(start, months):
            if end > through:
                break
            total += _daily_interest(principal, annual_rate, repaid, first, end)
            accrued_to = end
        if through > accrued_to:
            total += _daily_interest(principal, annual_rate, repaid, accrued_to, through)
    return total


def _spans(start: dt.date, months: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Each period's days, [previous nominal date, nominal date)."""
    for number in range(1, months + 1):
        yield nominal_date(start, number - 1), nominal_date(start, number)


def _daily_interest(principal: Decimal, annual_rate: Decimal, repaid: list[tuple[dt.date, Decimal]],
                    first: dt.date, end: dt.date) -> Decimal:
    """Σ over the days [first, end) of the balance that day × annual ÷ 360, rounded once.

    A repayment lowers the balance from its own date on."""
    balance = principal - sum((a for d, a in repaid if d <= first), ZERO)
    balance_days, day = ZERO, first
    for date, amount in repaid:  # sorted by date
        if first < date < end:
            balance_days += balance * (date - day).days
            balance, day = balance - amount, date
    balance_days += balance * (end - day).days
    return quantize(balance_days * annual_rate / 360)


def _check_loan(principal: Decimal, annual_rate: Decimal, months: int) -> None:
    if principal <= 0 or annual_rate < 0 or months < 1:
        raise ValueError(f"no schedule for {principal} at {annual_rate} over {months} months")


def _checked_repayments(principal: Decimal, start: dt.date,
                        repaid: Sequence[tuple[dt.date, Decimal]]) -> list[tuple[dt.date, Decimal]]:
    """Repayments by date; none before disbursement, none negative, and no more than was lent."""
    ordered = sorted(repaid, key=lambda item: item[0])
    if any(d < start or a < 0 for d, a in ordered) or sum((a for _, a in ordered), ZERO) > principal:
        raise ValueError(f"repayments {ordered} do not fit a loan of {principal} from {start}")
    return ordered


# Payments --------------------------------------------------------------------------------------------------------

def owed(periods: Sequence[Period], paid_total: Decimal) -> Decimal:
    """What the schedule still asks for (never below zero)."""
    return max(sum((p.total for p in periods), ZERO) - paid_total, ZERO)


def apply_payment(periods: Sequence[Period], paid_before: Decimal, amount: Decimal) -> Split:
    """How `amount` splits into interest and principal, when payments fill the periods oldest first, interest before
    principal (i1, p1, i2, p2, …) and `paid_before` was paid in total before it.

    More than is owed is an error: the API refuses it (422) rather than bank an overpayment."""
    if amount < 0 or paid_before < 0 or amount > owed(periods, paid_before):
        raise ValueError(f"{amount} after {paid_before} does not fit the schedule")
    interest = principal = ZERO
    skip, left = paid_before, amount
    for period in periods:
        for size, is_interest in ((period.interest, True), (period.principal, False)):
            skipped = min(size, skip)
            skip -= skipped
            part = min(size - skipped, left)
            left -= part
            if is_interest:
                interest += part
            else:
                principal += part
    return Split(interest=interest, principal=principal)


def standings(periods: Sequence[Period], *, interest_paid: Decimal, principal_paid: Decimal, today: dt.date,
              revolving: bool = False) -> list[Standing]:
    """What has been paid of each period, and where it stands on `today`.

    Fixed methods fill the periods oldest first with everything paid. A revolving loan's periods hold the principal
    already repaid in them, so only the last period's remaining balance waits for `principal_paid`; interest fills
    oldest first. The next period to pay that is not overdue is `due` (`partly_paid` if something is paid of it);
    later ones are `upcoming`."""
    if revolving:
        interests = _filled([p.interest for p in periods], interest_paid)
        before_last = sum((p.principal for p in periods[:-1]), ZERO)
        principals = [p.principal for p in periods[:-1]] + [
            min(p.principal, max(principal_paid - before_last, ZERO)) for p in periods[-1:]]
        paid = [i + p for i, p in zip(interests, principals, strict=True)]
    else:
        paid = _filled([p.total for p in periods], interest_paid + principal_paid)
    result, next_found = [], False
    for period, amount in zip(periods, paid, strict=True):
        if amount == period.total:
            status = "paid"
        elif period.due_on < today:
            status = "overdue"
        elif not next_found:
            status, next_found = ("partly_paid" if amount > 0 else "due"), True
        else:
            status = "partly_paid" if amount > 0 else "upcoming"
        result.append(Standing(period=period, paid=amount, status=status))
    return result


def next_due(standings: Sequence[Standing]) -> Standing | None:
    """The period to pay next: the oldest overdue one, else the one due (or partly paid); None when all is paid."""
    return (next((s for s in standings if s.status == "overdue"), None)
            or next((s for s in standings if s.status != "paid"), None))


def first_unpaid_past_due(periods: Sequence[Period], paid_total: Decimal, today: dt.date) -> Period | None:
    """For the scheduler: the oldest period due before `today` that payments (filled oldest first) do not cover."""
    covered = ZERO
    for period in periods:
        covered += period.total
        if covered > paid_total:
            return period if period.due_on < today else None
    return None


def _filled(sizes: Sequence[Decimal], amount: Decimal) -> list[Decimal]:
    """`amount` poured into `sizes` in order, each filled before the next."""
    parts, left = [], max(amount, ZERO)
    for size in sizes:
        part = min(size, left)
        parts.append(part)
        left -= part
    return parts
