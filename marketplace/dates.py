"""Business dates are Asia/Shanghai; timestamps are UTC."""

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


def business_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def local_day(moment: dt.datetime) -> dt.date:
    """The business date of a timestamp."""
    return moment.astimezone(SHANGHAI).date()


def beijing_time(moment: dt.datetime | str | None) -> str:
    """A timestamp as a reader in China reads it, in Beijing time to the minute: 2026-12-05 14:03 (a naive one, or
    an ISO string without an offset, is UTC, as every stored timestamp is)."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def working_day(day: dt.date) -> tuple[bool, str]:
    """Whether `day` is a working day in mainland China (holidays and make-up working days from chinese-calendar),
    and a note when the calendar has no data for its year (weekdays are then assumed)."""
    try:
        return chinese_calendar.is_workday(day), ""
    except NotImplementedError:
        return day.weekday() < 5, f" (no holiday calendar for {day.year}: Monday to Friday assumed)"


def working_days_after(start: dt.date, days: int) -> dt.date:
    """The day `days` working days after `start`."""
    day = start
    while days > 0:
        day += dt.timedelta(days=1)
        days -= working_day(day)[0]
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end` (0 when `end` is not after `start`)."""
    return sum(working_day(start + dt.timedelta(days=n))[0] for n in range(1, (end - start).days + 1))
