"""The LPR table and the interest rate of a term: LPR (1-year up to 60 months, 5-year above) + spread."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.dates import business_today
from marketplace.errors import NotFound
from marketplace.lpr.models import LprRate
from marketplace.matching import Rates


def set_rates(effective_on: dt.date, lpr_1y: Decimal, lpr_5y: Decimal) -> LprRate:
    """Record the rates effective from a date (a correction replaces that date's rates)."""
    row = db.session.scalar(select(LprRate).where(LprRate.effective_on == effective_on))
    if row is None:
        row = LprRate(effective_on=effective_on)
        db.session.add(row)
    row.lpr_1y, row.lpr_5y = lpr_1y, lpr_5y
    db.session.flush()
    return row


def rates_on(day: dt.date | None = None) -> LprRate | None:
    day = day or business_today()
    return db.session.scalar(select(LprRate).where(LprRate.effective_on <= day)
                             .order_by(LprRate.effective_on.desc()).limit(1))


def rates_in_force(day: dt.date | None = None) -> LprRate:
    rates = rates_on(day)
    if rates is None:
        raise NotFound(_("No LPR is recorded for that date yet."))
    return rates


def interest_rate(rates: LprRate, term_months: int, spread_bp: int) -> Decimal:
    """LPR for the term plus the spread, exactly (the matching core's one definition of it)."""
    return Rates(rates.lpr_1y, rates.lpr_5y).interest(term_months, spread_bp)
