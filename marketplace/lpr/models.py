from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Audited, Base, Rate, utcnow


class LprRate(Audited, Base):
    """The loan prime rates published by the PBoC on the 20th of each month; loans price as LPR + spread."""

    __tablename__ = "lpr_rates"
    __table_args__ = (
        CheckConstraint("lpr_1y > 0 AND lpr_1y < 1", name="lpr_1y_fraction"),
        CheckConstraint("lpr_5y > 0 AND lpr_5y < 1", name="lpr_5y_fraction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    effective_on: Mapped[dt.date] = mapped_column(Date, unique=True)
    #: 1-year LPR: prices terms up to 60 months.
    lpr_1y: Mapped[Decimal] = mapped_column(Rate)
    #: 5-year-and-above LPR: prices terms over 60 months.
    lpr_5y: Mapped[Decimal] = mapped_column(Rate)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
