"""Organisations: banks, guarantee agencies and enterprises share one id space (joined inheritance)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, utcnow


class OrgKind(enum.StrEnum):
    BANK = "bank"
    AGENCY = "agency"
    ENTERPRISE = "enterprise"


class AgencyKind(enum.StrEnum):
    LOCAL = "local"
    #: A provincial agency acts as re-guarantor (再担保) for local agencies' agreements.
    PROVINCIAL = "provincial"


class Tier(enum.StrEnum):
    """The MIIT gradient of SRDI enterprises; certified by the province, never self-declared."""

    NONE = "none"
    INNOVATIVE = "innovative"
    SRDI = "srdi"
    LITTLE_GIANT = "little_giant"


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column: a VARCHAR with a named CHECK constraint, storing the values."""
    return Enum(enum_cls, name=name, native_enum=False, create_constraint=True, length=20,
                values_callable=lambda members: [m.value for m in members], validate_strings=True)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OrgKind] = mapped_column(enum_column(OrgKind, "org_kind"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"polymorphic_on": "kind"}


class Bank(Organization):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    #: The bank's own system, which receives routed applications over HTTP; none for a bank that uses the web pages.
    api_base_url: Mapped[str | None] = mapped_column(String(500))
    #: HMAC key for the bank's signed callbacks. Kept readable because verifying an HMAC needs it;
    #: shown to the bank once, at creation.
    callback_secret: Mapped[str] = mapped_column(String(100))

    __mapper_args__ = {"polymorphic_identity": OrgKind.BANK}


class Agency(Organization):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    agency_kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind, "agency_kind"))

    __mapper_args__ = {"polymorphic_identity": OrgKind.AGENCY}


class Enterprise(Organization):
    __tablename__ = "enterprises"
    __table_args__ = (CheckConstraint("length(region_code) = 6", name="region_code_six_digits"),)

    id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    #: 统一社会信用代码, 18 characters with a mod-31 check character (GB 32100-2015).
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    #: GB/T 2260 administrative division, e.g. 330106 (Hangzhou, Xihu district).
    region_code: Mapped[str] = mapped_column(String(6))
    #: 梯度: the certified tier; past `tier_valid_until` it counts as none.
    tier: Mapped[Tier] = mapped_column(enum_column(Tier, "tier"), default=Tier.NONE)
    tier_valid_until: Mapped[dt.date | None] = mapped_column(Date)

    __mapper_args__ = {"polymorphic_identity": OrgKind.ENTERPRISE}

    def tier_on(self, day: dt.date) -> Tier:
        """The tier that counts on `day`: an expired certification counts as none."""
        if self.tier_valid_until is not None and self.tier_valid_until < day:
            return Tier.NONE
        return self.tier
