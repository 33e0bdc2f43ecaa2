"""Organisations: banks, guarantee agencies and enterprises share one id space (joined inheritance)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Date, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.dates import business_today
from marketplace.db import Audited, Base, Bilingual, utcnow


class OrgKind(enum.StrEnum):
    BANK = "bank"
    AGENCY = "agency"
    ENTERPRISE = "enterprise"


class AgencyKind(enum.StrEnum):
    LOCAL = "local"
    #: A provincial agency acts as re-guarantor (再担保) for local agencies' agreements.
    PROVINCIAL = "provincial"


class EnterpriseSize(enum.StrEnum):
    """Size class under the MIIT SME classification (工信部联企业〔2011〕300号)."""

    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"


class Tier(enum.StrEnum):
    """The MIIT gradient of SRDI enterprises; certified by the province, never self-declared."""

    NONE = "none"
    INNOVATIVE = "innovative"
    SRDI = "srdi"
    LITTLE_GIANT = "little_giant"


def enum_column(enum_cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    """A portable enum column: a VARCHAR with a named CHECK constraint, storing the values."""
    return Enum(enum_cls, name=name, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda members: [m.value for m in members], validate_strings=True)


class Organization(Audited, Bilingual, Base):
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
    #: The secret before the last rotation, still accepted for a grace period after `callback_secret_rotated_at`,
    #: so callbacks signed just before a rotation are not lost.
    previous_callback_secret: Mapped[str | None] = mapped_column(String(100))
    callback_secret_rotated_at: Mapped[dt.datetime | None]

    __mapper_args__ = {"polymorphic_identity": OrgKind.BANK}


class Agency(Organization):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    agency_kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind, "agency_kind"))

    __mapper_args__ = {"polymorphic_identity": OrgKind.AGENCY}


class Enterprise(Organization):
    __tablename__ = "enterprises"
    __table_args__ = (
        CheckConstraint("length(region_code) = 6", name="region_code_six_digits"),
        CheckConstraint("annual_revenue >= 0 AND rd_expense >= 0 AND employees >= 0", name="figures_not_negative"),
    )

    id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    #: 统一社会信用代码, 18 characters with a mod-31 check character (GB 32100-2015).
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    #: GB/T 2260 administrative division, e.g. 330106 (Hangzhou, Xihu district).
    region_code: Mapped[str] = mapped_column(String(6))
    #: GB/T 4754-2017 industry: a section letter and 2 to 4 digits, e.g. C3811.
    industry_code: Mapped[str] = mapped_column(String(5))
    size: Mapped[EnterpriseSize] = mapped_column(enum_column(EnterpriseSize, "enterprise_size"))
    annual_revenue: Mapped[Decimal]
    rd_expense: Mapped[Decimal]
    employees: Mapped[int]

    #: The province's certification of this USCC, if any (the registry may list it before it registers).
    certification: Mapped[TierCertification | None] = relationship(
        primaryjoin="Enterprise.uscc == foreign(TierCertification.uscc)", viewonly=True, lazy="joined")

    __mapper_args__ = {"polymorphic_identity": OrgKind.ENTERPRISE}

    def tier_on(self, day: dt.date) -> Tier:
        """The tier that counts on `day`: none without a certification or past its `valid_until`."""
        return self.certification.tier_on(day) if self.certification else Tier.NONE

    @property
    def tier(self) -> Tier:
        """The tier in force today (Asia/Shanghai)."""
        return self.tier_on(business_today())


class TierCertification(Base):
    """梯度认定: the province's certified tier of one USCC, from its published lists or set by the admin.

    Keyed by USCC, not by marketplace account: the lists name enterprises whether or not they have registered.
    """

    __tablename__ = "tier_certifications"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier, "tier"))
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    #: The import that last set this row; none when the admin set it by hand.
    source_import_id: Mapped[int | None] = mapped_column(ForeignKey("tier_imports.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def tier_on(self, day: dt.date) -> Tier:
        if self.valid_until is not None and self.valid_until < day:
            return Tier.NONE
        return self.tier


class ImportStatus(enum.StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class TierImport(Audited, Base):
    """One upload of a certified list: kept with its per-row result for the record."""

    __tablename__ = "tier_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[ImportStatus] = mapped_column(enum_column(ImportStatus, "import_status"),
                                                 default=ImportStatus.PROCESSING)
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_ok: Mapped[int] = mapped_column(default=0)
    rows_failed: Mapped[int] = mapped_column(default=0)
    #: [{"row": line number in the file (the header is row 1), "message": why it was not applied}]
    errors: Mapped[list[dict]] = mapped_column(JSON, default=list)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
