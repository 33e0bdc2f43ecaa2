"""Outbox messages to banks' systems, and every attempt to deliver one (kept for audit)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, utcnow
from marketplace.orgs.models import Bank, enum_column


class MessageStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next try (or being tried now: next_attempt_at is then the lease's end)
    DELIVERED = "delivered"  # the bank's system answered 2xx
    DEAD = "dead"  # refused (4xx) or out of tries: waits for an admin to re-drive it


class AttemptOutcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # time-out, connection error, 5xx, 408 or 429: tried again later
    REFUSED = "refused"  # another 4xx, or a request that can never succeed: not tried again


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("bank_id", "topic", "idempotency_key", name="uq_outbox_messages_bank_topic_key"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    #: What the message is: "application.submitted".
    topic: Mapped[str] = mapped_column(String(40))
    #: Sent as the Idempotency-Key header: the bank sees a repeat as the same hand-off.
    idempotency_key: Mapped[str] = mapped_column(String(255))
    #: Path under the bank's api_base_url, e.g. "/applications".
    path: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus, "outbox_status"),
                                                  default=MessageStatus.PENDING)
    #: Tries in the current round (a re-drive starts a new round).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    #: The bank's own reference, from a delivery's JSON answer, when it gives one.
    bank_ref: Mapped[str | None] = mapped_column(String(100))
    delivered_at: Mapped[dt.datetime | None]
    dead_at: Mapped[dt.datetime | None]
    redrives: Mapped[int] = mapped_column(default=0)
    redriven_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    redriven_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    bank: Mapped[Bank] = relationship(lazy="joined", innerjoin=True)
    attempt_log: Mapped[list[OutboxAttempt]] = relationship(back_populates="message", order_by="OutboxAttempt.id",
                                                            lazy="selectin")


class OutboxAttempt(Base):
    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    #: 1, 2, … within the round; `round` counts re-drives (0 for the first).
    number: Mapped[int]
    round: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[AttemptOutcome] = mapped_column(enum_column(AttemptOutcome, "outbox_attempt_outcome"))
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(1000))
    started_at: Mapped[dt.datetime]
    duration_ms: Mapped[int]

    message: Mapped[OutboxMessage] = relationship(back_populates="attempt_log")


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
