"""SRDI credit products. Each version is its own row; a published version never changes."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Audited, Base, Bilingual, utcnow
from marketplace.orgs.models import Bank, Tier, enum_column


class ProductType(enum.StrEnum):
    CREDIT = "credit"  # 信用贷
    RENEWAL = "renewal"  # 无还本续贷
    REVOLVING = "revolving"  # 随借随还
    TERM = "term"  # 中长期
    IP_PLEDGE = "ip_pledge"  # 知识产权质押
    PARK = "park"  # 园区贷


class GuaranteeNeed(enum.StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


#: The product lifecycle: draft → published ⇄ suspended → archived; a draft may be discarded and a
#: published product retired directly, both to archived.
TRANSITIONS: dict[ProductStatus, frozenset[ProductStatus]] = {
    ProductStatus.DRAFT: frozenset({ProductStatus.PUBLISHED, ProductStatus.ARCHIVED}),
    ProductStatus.PUBLISHED: frozenset({ProductStatus.SUSPENDED, ProductStatus.ARCHIVED}),
    ProductStatus.SUSPENDED: frozenset({ProductStatus.PUBLISHED, ProductStatus.ARCHIVED}),
    ProductStatus.ARCHIVED: frozenset(),
}

TERM_LIMIT_MONTHS = 360


class Product(Audited, Bilingual, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("family_id", "version", name="uq_products_family_version"),
        CheckConstraint("amount_min > 0 AND amount_min <= amount_max", name="amount_range"),
        CheckConstraint(f"term_min_months >= 1 AND term_min_months <= term_max_months "
                        f"AND term_max_months <= {TERM_LIMIT_MONTHS}", name="term_range"),
        # At most one draft and one live (published or suspended) version of a product at a time.
        Index("uq_products_one_draft_per_family", "family_id", unique=True,
              sqlite_where=text("status = 'draft'"), postgresql_where=text("status = 'draft'")),
        Index("uq_products_one_live_per_family", "family_id", unique=True,
              sqlite_where=text("status IN ('published', 'suspended')"),
              postgresql_where=text("status IN ('published', 'suspended')")),
        # Matching scans published products cheapest first and stops once it has enough offers.
        Index("ix_products_status_spread", "status", "rate_spread_bp", "id"),
        # The largest and smallest loan on offer, read from two index entries.
        Index("ix_products_status_amount_max", "status", "amount_max"),
        Index("ix_products_status_amount_min", "status", "amount_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The id of version 1; every version of one product shares it.
    family_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int] = mapped_column(default=1)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    product_type: Mapped[ProductType] = mapped_column(enum_column(ProductType, "product_type"))
    amount_min: Mapped[Decimal]
    amount_max: Mapped[Decimal]
    term_min_months: Mapped[int]
    term_max_months: Mapped[int]
    #: Interest = LPR (1-year up to 60 months, 5-year above) + this many basis points; may be negative.
    rate_spread_bp: Mapped[int]
    guarantee: Mapped[GuaranteeNeed] = mapped_column(enum_column(GuaranteeNeed, "guarantee_need"),
                                                     default=GuaranteeNeed.NONE)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProductStatus] = mapped_column(enum_column(ProductStatus, "product_status"),
                                                  default=ProductStatus.DRAFT)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[dt.datetime | None]

    bank: Mapped[Bank] = relationship(lazy="joined", innerjoin=True)
    tier_rows: Mapped[list[ProductTier]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    region_rows: Mapped[list[ProductRegion]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def eligible_tiers(self) -> list[Tier]:
        """In the gradient's order: innovative, srdi, little_giant."""
        order = list(Tier)
        return sorted((row.tier for row in self.tier_rows), key=order.index)

    @eligible_tiers.setter
    def eligible_tiers(self, tiers: list[Tier]) -> None:
        self.tier_rows = [ProductTier(tier=Tier(t)) for t in dict.fromkeys(tiers)]

    @property
    def eligible_regions(self) -> list[str]:
        return sorted(row.region_prefix for row in self.region_rows)

    @eligible_regions.setter
    def eligible_regions(self, prefixes: list[str]) -> None:
        self.region_rows = [ProductRegion(region_prefix=p) for p in dict.fromkeys(prefixes)]

    @property
    def bank_name(self) -> str:
        return self.bank.name


class ProductTier(Base):
    """A tier (梯度) the product is open to."""

    __tablename__ = "product_tiers"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier, "tier"), primary_key=True, index=True)


class ProductRegion(Base):
    """A GB/T 2260 region prefix the product is open to ("33" Zhejiang, "3301" Hangzhou); none means anywhere."""

    __tablename__ = "product_regions"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    region_prefix: Mapped[str] = mapped_column(String(6), primary_key=True)


class PricingBounds(Base):
    """The provincial admin's bounds on one product type (DESIGN: rate above zero, spread −150…+600 bp, amounts and
    terms per type, admin-configurable). A product outside them is refused, on its field, when it is saved and
    again when it is published. A type without a row has the defaults (products.bounds.DEFAULT). Each change is in the
    audit trail as `pricing_bounds.set`, with the type and all six values."""

    __tablename__ = "pricing_bounds"
    __table_args__ = (
        CheckConstraint("spread_min_bp <= spread_max_bp", name="spread_range"),
        CheckConstraint("amount_min > 0 AND amount_min <= amount_max", name="amount_range"),
        CheckConstraint(f"term_min_months >= 1 AND term_min_months <= term_max_months "
                        f"AND term_max_months <= {TERM_LIMIT_MONTHS}", name="term_range"),
    )

    product_type: Mapped[ProductType] = mapped_column(enum_column(ProductType, "product_type"), primary_key=True)
    spread_min_bp: Mapped[int]
    spread_max_bp: Mapped[int]
    amount_min: Mapped[Decimal]
    amount_max: Mapped[Decimal]
    term_min_months: Mapped[int]
    term_max_months: Mapped[int]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
