"""The outbox (DESIGN.md §Banks' systems): hand-offs to banks' systems, written with the state change that causes
them, in the same transaction. Its table and `enqueue` sit below the domain packages, so that financing can queue a
hand-off without knowing how it is sent; the bank-system adapter (bank_systems/outbox.py) delivers the messages,
retries them and records every try here.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import db
from marketplace.db import Base, utcnow
from marketplace.orgs.models import Bank, enum_column

APPLICATION_SUBMITTED = "application.submitted"
#: An e-mail (a notification): no bank; `path` holds the recipient, the payload the subject, body and language.
MAIL = "mail"


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
        # Mail has no bank (and NULLs are never equal in a unique constraint): its keys are unique by themselves.
        Index("uq_outbox_messages_mail_key", "topic", "idempotency_key", unique=True,
              sqlite_where=text("bank_id IS NULL"), postgresql_where=text("bank_id IS NULL")),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The bank whose system receives it; None for mail.
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), index=True)
    #: What the message is: "application.submitted", "mail".
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

    bank: Mapped[Bank | None] = relationship(lazy="joined")
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


def enqueue(bank: Bank, topic: str, key: str, path: str, payload: dict[str, Any]) -> OutboxMessage | None:
    """Queue a hand-off to the bank's system in the caller's transaction; None when the bank has no system. The same
    (bank, topic, key) twice is one message."""
    if not bank.api_base_url:
        return None
    found = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.bank_id == bank.id, OutboxMessage.topic == topic, OutboxMessage.idempotency_key == key))
    if found is not None:
        return found
    message = OutboxMessage(bank_id=bank.id, topic=topic, idempotency_key=key, path=path, payload=payload,
                            next_attempt_at=db.utcnow())
    db.session.add(message)
    db.session.flush()
    return message


def enqueue_mail(to: str, subject: str, body: str, *, key: str, locale: str) -> OutboxMessage:
    """Queue one e-mail in the caller's transaction; the same key twice is one message."""
    found = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.bank_id.is_(None), OutboxMessage.topic == MAIL, OutboxMessage.idempotency_key == key))
    if found is not None:
        return found
    message = OutboxMessage(bank_id=None, topic=MAIL, idempotency_key=key, path=to[:200],
                            payload={"to": to, "subject": subject, "body": body, "locale": locale},
                            next_attempt_at=db.utcnow())
    db.session.add(message)
    db.session.flush()
    return message


def application_payload(application: Any) -> dict[str, Any]:
    """What a bank's system receives for a routed application (API.md §Bank systems): our id, the request, the
    enterprise and the offer it chose. Money as two-place strings, rates as fraction strings."""
    request, offer, enterprise = application.request, application.offer, application.request.enterprise
    return {
        "application_id": application.id,
        "submitted_at": (application.created_at or db.utcnow()).isoformat(),
        "request": {"id": request.id, "amount": f"{request.amount:.2f}", "term_months": request.term_months,
                    "purpose": request.purpose},
        "enterprise": {"name": enterprise.name, "uscc": enterprise.uscc, "region_code": enterprise.region_code,
                       "industry_code": enterprise.industry_code, "tier": request.tier_at_request.value},
        "offer": {"product_id": offer.product_id, "product_name": offer.product_name,
                  "product_type": offer.product_type, "amount": f"{offer.amount:.2f}",
                  "term_months": offer.term_months, "rate_spread_bp": offer.rate_spread_bp,
                  "interest_rate": f"{offer.interest_rate}", "agreement_id": offer.agreement_id,
                  "guarantee_fee_rate": f"{offer.guarantee_fee_rate}" if offer.agreement_id else None},
    }
