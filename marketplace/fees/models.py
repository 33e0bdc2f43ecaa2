"""Fee-reduction rules the provincial finance office keeps (DESIGN.md §Fee-reduction rules)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Audited, Base, Bilingual, utcnow
from marketplace.fees import rules
from marketplace.orgs.models import enum_column


class EffectKind(enum.StrEnum):
    CAP_FEE_RATE = rules.CAP
    REDUCE_FEE_RATE_BP = rules.REDUCE
    FISCAL_SUBSIDY_SHARE = rules.SUBSIDY


class FeeRule(Audited, Bilingual, Base):
    __tablename__ = "fee_rules"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_from <= valid_to", name="dates_ordered"),
        CheckConstraint("budget IS NULL OR budget > 0", name="budget_positive"),
        CheckConstraint("subsidy_granted >= 0 AND (budget IS NULL OR subsidy_granted <= budget)",
                        name="within_budget"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Lower runs first; ties by id.
    priority: Mapped[int] = mapped_column(default=100)
    #: A rule that is not stackable ends the evaluation once it applies.
    stackable: Mapped[bool] = mapped_column(default=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    #: The most this rule's fiscal subsidies may add up to; none means no limit.
    budget: Mapped[Decimal | None]
    #: Subsidies granted under the rule so far (at disbursement), in the same transaction as the ledger entry.
    subsidy_granted: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    #: {"tiers": [...], "region_prefixes": [...], "product_types": [...], "amount_max": "…", "first_loan": bool}
    conditions: Mapped[dict] = mapped_column(JSON, default=dict)
    effect_kind: Mapped[EffectKind] = mapped_column(enum_column(EffectKind, "fee_effect_kind", 30))
    #: A rate (cap), basis points (reduction) or a share (subsidy).
    effect_value: Mapped[Decimal] = mapped_column(Numeric(12, 6, asdecimal=True))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def as_rule(self) -> rules.Rule:
        c = self.conditions or {}
        return rules.Rule(
            id=self.id, name=self.name, kind=self.effect_kind.value, value=Decimal(self.effect_value),
            stackable=self.stackable, tiers=frozenset(c.get("tiers") or ()),
            region_prefixes=tuple(c.get("region_prefixes") or ()),
            product_types=frozenset(c.get("product_types") or ()),
            amount_max=Decimal(c["amount_max"]) if c.get("amount_max") is not None else None,
            first_loan=c.get("first_loan"),
            budget_left=None if self.budget is None else self.budget - self.subsidy_granted)


class SubsidySettlement(Audited, Base):
    """降费奖补 owed to one agency for one month, as the ledger recorded it: what the fiscal fund settles monthly.
    Made by the scheduler on the 1st for the month before, once (one row per agency and month)."""

    __tablename__ = "subsidy_settlements"
    __table_args__ = (UniqueConstraint("agency_id", "month", name="uq_subsidy_settlements_agency_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: "2026-10".
    month: Mapped[str] = mapped_column(String(7))
    #: Journal entries that granted the subsidies (one per disbursed guarantee).
    entries: Mapped[int]
    amount: Mapped[Decimal]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
