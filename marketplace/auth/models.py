"""Users (one role, one organisation) and their API bearer tokens."""

from __future__ import annotations

import datetime as dt
import enum

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Audited, Base, utcnow
from marketplace.orgs.models import Organization, OrgKind, enum_column


class Role(enum.StrEnum):
    #: The provincial finance office: tier registry, LPR, fee rules, risk pools, organisations.
    ADMIN = "admin"
    BANK = "bank"
    AGENCY = "agency"
    ENTERPRISE = "enterprise"

    @property
    def org_kind(self) -> OrgKind | None:
        return None if self is Role.ADMIN else OrgKind(self.value)


class User(UserMixin, Audited, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("(role = 'admin') = (organization_id IS NULL)", name="admin_has_no_organization"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    #: A bank's or agency's administrator: adds, disables and re-enables the users of their own organisation.
    org_admin: Mapped[bool] = mapped_column(default=False)
    #: Set by an administrator's reset (and for a user an administrator adds): the next sign-in must choose a password.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    password_changed_at: Mapped[dt.datetime | None]
    #: The interface language this user chose (zh_Hans or en); None until they choose: the default (zh_Hans).
    locale: Mapped[str | None] = mapped_column(String(10))
    #: Where notifications are mailed (when mail is configured), and whether this user wants them mailed.
    email: Mapped[str | None] = mapped_column(String(254))
    email_notifications: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization | None] = relationship(lazy="joined")

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    def get_id(self) -> str:  # flask-login
        return str(self.id)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak does not leak tokens."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A signed-in browser. Its cookie carries a token whose SHA-256 is kept here; signing out ends the row, so a
    copy of the cookie stops working at once (a signed cookie alone would stay valid until it expired)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    address: Mapped[str | None] = mapped_column(String(64))
