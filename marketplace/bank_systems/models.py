"""The bank-system adapter's own tables: every callback received, and the sandbox bank's cases. (The outbox's
messages and their tries are the base's: marketplace/outbox.py.)"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, utcnow
from marketplace.orgs.models import enum_column


class CallbackOutcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # its event_id was applied before: answered 200, nothing done
    REJECTED = "rejected"  # authenticated, but malformed, unknown or refused by the lifecycle
    UNAUTHENTICATED = "unauthenticated"  # unknown bank, bad signature or a timestamp outside the window


class BankCallback(Base):
    """Every callback received, whatever became of it (for audit). An event_id is applied at most once per bank:
    the partial unique index makes a concurrent duplicate fail rather than apply twice."""

    __tablename__ = "bank_callbacks"
    __table_args__ = (
        Index("uq_bank_callbacks_applied_event", "bank_id", "event_id", unique=True,
              sqlite_where=text("outcome = 'applied'"), postgresql_where=text("outcome = 'applied'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(40))
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), index=True)
    event_id: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str | None] = mapped_column(String(40))
    timestamp: Mapped[str | None] = mapped_column(String(20))
    #: The raw body, as signed (cut at 20,000 characters).
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[CallbackOutcome] = mapped_column(enum_column(CallbackOutcome, "callback_outcome"))
    status_code: Mapped[int]
    detail: Mapped[str | None] = mapped_column(String(1000))
    application_id: Mapped[int | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SandboxStep(enum.StrEnum):
    RECEIVED = "received"  # waiting for its decision
    APPROVED = "approved"  # approval called back; waiting to report the disbursement
    DONE = "done"  # declined, or disbursed: nothing more to report


class SandboxCase(Base):
    """An application as the demo's sandbox bank holds it in its own "system"."""

    __tablename__ = "sandbox_cases"
    __table_args__ = (UniqueConstraint("bank_id", "application_id", name="uq_sandbox_cases_bank_application"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    application_id: Mapped[int]
    payload: Mapped[dict] = mapped_column(JSON)
    step: Mapped[SandboxStep] = mapped_column(enum_column(SandboxStep, "sandbox_step"), default=SandboxStep.RECEIVED)
    #: When its next callback is due.
    due_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
