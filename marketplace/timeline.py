"""A request's timeline: what happened to it, when and by whom, for the enterprise, the bank and the agency alike.

Entries are appended by the package that makes the change, in the same transaction: financing for the request, its
applications and loans; guarantees for the guarantee, its batch and the agency's decision (those name the
application only: guarantees knows nothing of requests). The table sits below the domain packages, like the
outbox. An entry keeps what happened as data (`event`, `detail`); the pages and the API word it in the reader's
language when they read it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Select, String, insert, literal, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import db
from marketplace.auth.models import User
from marketplace.db import Base, UTCDateTime, utcnow

#: The events, in the order a guaranteed loan meets them.
FILED = "request.filed"
OFFER_CHOSEN = "offer.chosen"
HANDED_OFF = "application.handed_off"
APPROVED = "application.approved"
DECLINED = "application.declined"
COUNTERED = "application.countered"
COUNTER_ACCEPTED = "counter.accepted"
COUNTER_DECLINED = "counter.declined"
COUNTER_LAPSED = "counter.lapsed"
WITHDRAWN = "request.withdrawn"
GUARANTEE_PLACED = "guarantee.placed"
GUARANTEE_UNAVAILABLE = "guarantee.unavailable"
BATCH_SUBMITTED = "batch.submitted"
GUARANTEE_APPROVED = "guarantee.approved"
GUARANTEE_EXCLUDED = "guarantee.excluded"
LOAN_CREATED = "loan.created"
#: Loan events: "loan.disbursed", "loan.repayment", "loan.overdue", "loan.default", "loan.recovery", "loan.renewed".
LOAN = "loan."
CLAIM_FILED = "claim.filed"
CLAIM_PAID = "claim.paid"
CLAIM_REJECTED = "claim.rejected"


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_request", "request_id"),
                      Index("ix_timeline_events_application", "application_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Set by financing; guarantees names the application only.
    request_id: Mapped[int | None] = mapped_column(ForeignKey("financing_requests.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(40))
    #: Who did it; None for the marketplace itself (the scheduler, a bank's 见贷即保 terms).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The figures the words need: amount, rate, reason, batch id …
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")


def record(event: str, *, by: User | None, request_id: int | None = None, application_id: int | None = None,
           **detail: Any) -> None:
    """Append one entry in the caller's transaction."""
    db.session.add(TimelineEvent(request_id=request_id, application_id=application_id, at=db.utcnow(), event=event,
                                 actor_id=by.id if by is not None else None, detail=_plain(detail)))


def record_for(event: str, applications: Select[tuple[int]], *, by: User | None, **detail: Any) -> None:
    """The same entry for every application `applications` selects (a batch's items), in one statement."""
    chosen = applications.subquery()
    db.session.execute(insert(TimelineEvent).from_select(
        ("application_id", "at", "event", "actor_id", "detail"),
        select(chosen.c[0], literal(db.utcnow(), UTCDateTime()), literal(event, String()),
               literal(by.id if by is not None else None, Integer()), literal(_plain(detail), JSON()))))


def record_each(event: str, details: Iterable[tuple[int, dict[str, Any]]], *, by: User | None) -> None:
    """One entry an application, each with its own detail (the reasons of a batch's exclusions)."""
    rows = [{"application_id": application_id, "at": db.utcnow(), "event": event,
             "actor_id": by.id if by is not None else None, "detail": _plain(detail)}
            for application_id, detail in details]
    if rows:
        db.session.execute(insert(TimelineEvent), rows)


def of_request(request_id: int, application_ids: Iterable[int]) -> list[TimelineEvent]:
    """The request's entries and its applications', in the order they happened."""
    ids = list(application_ids)
    condition = TimelineEvent.request_id == request_id
    if ids:
        condition = or_(condition, TimelineEvent.application_id.in_(ids))
    return list(db.session.scalars(select(TimelineEvent).where(condition)
                                   .order_by(TimelineEvent.at, TimelineEvent.id)))


def _plain(detail: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: money and rates as strings, dates as ISO dates."""
    return {key: value if value is None or isinstance(value, (bool, int, str)) else
            value.isoformat() if isinstance(value, dt.date) else str(value)
            for key, value in detail.items()}
