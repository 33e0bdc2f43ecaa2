"""One notification, for one user, worded in that user's language when it was made."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, utcnow

#: What a notification is about (API.md §Notifications).
KINDS = (
    "application.submitted", "application.decided", "application.countered", "counter.answered", "counter.lapsed",
    "batch.submitted", "batch.decided", "guarantee.excluded", "agreement.awaiting_countersign",
    "agreement.suspended", "agreement.returned", "deadline.near", "deadline.passed", "loan.overdue", "claim.filed",
    "claim.decided",
)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    #: The page it is about, a path on this site.
    link: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]
