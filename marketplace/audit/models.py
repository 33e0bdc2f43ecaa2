"""The append-only audit table. The database itself refuses UPDATE and DELETE on it (migration 0014)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_organization_id_id", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: Kept as plain values, not foreign keys: the trail outlives renamed or removed users and organisations.
    user_id: Mapped[int | None]
    #: The user name, `system:{code}` for a bank's system, `scheduler:{job}` for a scheduled job, or `anonymous`.
    actor: Mapped[str] = mapped_column(String(120), index=True)
    organization_id: Mapped[int | None]
    organization_name: Mapped[str | None] = mapped_column(String(200))
    #: `{object type}.{what happened}`: product.published, agreement.active, batch.decided, loan.defaulted, …
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(BigInteger)
    #: {column: [before, after]} for a change, {column: value} for a new row; secrets are never written here.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
