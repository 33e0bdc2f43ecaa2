"""总对总 guarantee agreements between an agency and a bank, and the risk-compensation pools they draw on."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.dates import business_today
from marketplace.db import Audited, Base, Bilingual, Rate, utcnow
from marketplace.orgs.models import Agency, Bank, enum_column


class RiskPool(Audited, Bilingual, Base):
    """风险补偿资金池: a government fund that reimburses its share of each loss.

    The figures are kept in the same transaction as the pool's ledger entries; `balance` equals the pool's cash
    account, and `flask ledger verify` checks that it does."""

    __tablename__ = "risk_pools"
    __table_args__ = (CheckConstraint("cap_per_loss IS NULL OR cap_per_loss > 0", name="cap_positive"),
                      CheckConstraint("balance >= 0", name="never_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: GB/T 2260 code or prefix of the area the pool serves.
    region_code: Mapped[str] = mapped_column(String(6))
    #: The most the pool pays towards one loss; none means no limit.
    cap_per_loss: Mapped[Decimal | None]
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    deposited: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    #: Paid to agencies towards losses, including claims paid later.
    paid_out: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    #: The pool's share of recoveries.
    recovered: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AgreementStatus(enum.StrEnum):
    PENDING_BANK = "pending_bank"
    #: The bank sent it back to the agency with a reason, instead of countersigning it.
    RETURNED = "returned"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    TERMINATED = "terminated"


#: pending_bank → active ⇄ suspended → expired | terminated; the bank may return a pending agreement to the agency
#: (pending_bank → returned), which resubmits it with amended terms (returned → pending_bank) or gives it up
#: (returned → terminated).
AGREEMENT_TRANSITIONS: dict[AgreementStatus, frozenset[AgreementStatus]] = {
    AgreementStatus.PENDING_BANK: frozenset({AgreementStatus.ACTIVE, AgreementStatus.RETURNED,
                                             AgreementStatus.TERMINATED}),
    AgreementStatus.RETURNED: frozenset({AgreementStatus.PENDING_BANK, AgreementStatus.TERMINATED}),
    AgreementStatus.ACTIVE: frozenset({AgreementStatus.SUSPENDED, AgreementStatus.EXPIRED,
                                       AgreementStatus.TERMINATED}),
    AgreementStatus.SUSPENDED: frozenset({AgreementStatus.ACTIVE, AgreementStatus.EXPIRED,
                                          AgreementStatus.TERMINATED}),
    AgreementStatus.EXPIRED: frozenset(),
    AgreementStatus.TERMINATED: frozenset(),
}


class ClaimMode(enum.StrEnum):
    AUTOMATIC = "automatic"
    REVIEW = "review"


class Agreement(Audited, Base):
    """总对总: one agency guarantees a bank's SRDI loans under one head-office agreement, reviewed in batches."""

    __tablename__ = "agreements"
    __table_args__ = (
        # Exact in the service (Decimal); here within half a millionth, as SQLite keeps these as binary floats.
        CheckConstraint("share_agency + share_bank + share_reguarantee + share_risk_pool "
                        "BETWEEN 0.9999995 AND 1.0000005", name="shares_sum_to_one"),
        CheckConstraint("share_bank >= 0.2", name="bank_keeps_a_fifth"),
        CheckConstraint("share_agency >= 0 AND share_reguarantee >= 0 AND share_risk_pool >= 0",
                        name="shares_not_negative"),
        CheckConstraint("fee_rate >= 0 AND fee_rate <= 0.03", name="fee_rate_range"),
        CheckConstraint("total_quota > 0 AND per_enterprise_cap > 0 AND per_loan_cap > 0", name="caps_positive"),
        CheckConstraint("valid_from <= valid_to", name="dates_ordered"),
        # The quota is never oversubscribed, whatever the concurrency.
        CheckConstraint("quota_reserved >= 0 AND quota_outstanding >= 0 "
                        "AND quota_reserved + quota_outstanding <= total_quota", name="quota_within_total"),
        Index("ix_agreements_bank_status", "bank_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    total_quota: Mapped[Decimal]
    per_enterprise_cap: Mapped[Decimal]
    per_loan_cap: Mapped[Decimal]
    #: 担保费率: the annual guarantee fee before fee-reduction rules.
    fee_rate: Mapped[Decimal] = mapped_column(Rate)
    #: How a loss is shared (风险分担); they sum to exactly 1 and the bank keeps at least 0.20.
    share_agency: Mapped[Decimal] = mapped_column(Rate)
    share_bank: Mapped[Decimal] = mapped_column(Rate)
    share_reguarantee: Mapped[Decimal] = mapped_column(Rate)
    share_risk_pool: Mapped[Decimal] = mapped_column(Rate)
    #: 再担保: the provincial agency that bears the re-guarantee share.
    reguarantor_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    risk_pool_id: Mapped[int | None] = mapped_column(ForeignKey("risk_pools.id"))
    #: 代偿率上限 (熔断): past it the agreement takes no new guarantees and the excess loss stays with the bank.
    compensation_cap_rate: Mapped[Decimal] = mapped_column(Rate)
    eligible_tiers: Mapped[list[str]] = mapped_column(JSON)
    eligible_product_types: Mapped[list[str]] = mapped_column(JSON)
    batch_max_size: Mapped[int] = mapped_column(default=500)
    #: 见贷即保: loans below this are approved on the bank's word when the batch is submitted.
    auto_approve_below: Mapped[Decimal | None]
    review_sla_days: Mapped[int | None]
    #: 代偿: `automatic` settles a default at once; under `review` the bank files a claim that the agency pays or
    #: refuses within `claim_review_days` working days.
    claim_mode: Mapped[ClaimMode] = mapped_column(enum_column(ClaimMode, "claim_mode"), default=ClaimMode.AUTOMATIC,
                                                  server_default=ClaimMode.AUTOMATIC.value)
    claim_review_days: Mapped[int] = mapped_column(default=10, server_default="10")
    status: Mapped[AgreementStatus] = mapped_column(enum_column(AgreementStatus, "agreement_status"),
                                                    default=AgreementStatus.PENDING_BANK)
    quota_reserved: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    quota_outstanding: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    #: All principal ever disbursed under the agreement: the denominator of the compensation rate.
    guaranteed_total: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    #: 代偿: all the agency has paid banks for defaults under the agreement.
    compensated_total: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    countersigned_at: Mapped[dt.datetime | None]
    #: Why the bank last returned the agreement instead of countersigning it (kept after a resubmission, so the
    #: agency's amended terms can be read against it).
    return_reason: Mapped[str | None] = mapped_column(String(1000))
    returned_at: Mapped[dt.datetime | None]

    agency: Mapped[Agency] = relationship(foreign_keys=[agency_id], lazy="joined", innerjoin=True)
    bank: Mapped[Bank] = relationship(lazy="joined", innerjoin=True)

    @property
    def quota_available(self) -> Decimal:
        return self.total_quota - self.quota_reserved - self.quota_outstanding

    @property
    def compensation_rate(self) -> Decimal:
        """Compensated ÷ guaranteed, zero before anything is guaranteed."""
        if not self.guaranteed_total:
            return Decimal("0")
        return (self.compensated_total / self.guaranteed_total).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)

    def status_on(self, day: dt.date) -> AgreementStatus:
        """The status that counts on `day`: an agreement past `valid_to` counts as expired."""
        if self.status in (AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED) and day > self.valid_to:
            return AgreementStatus.EXPIRED
        return self.status

    @property
    def effective_status(self) -> AgreementStatus:
        return self.status_on(business_today())


class BatchStatus(enum.StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    DECIDED = "decided"


#: open → submitted → decided
BATCH_TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.OPEN: frozenset({BatchStatus.SUBMITTED}),
    BatchStatus.SUBMITTED: frozenset({BatchStatus.DECIDED}),
    BatchStatus.DECIDED: frozenset(),
}


class Batch(Audited, Base):
    """批量担保: the agency reviews an agreement's loans together. One open batch per agreement."""

    __tablename__ = "batches"
    __table_args__ = (
        Index("uq_batches_one_open_per_agreement", "agreement_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_batches_status", "status", "agreement_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    status: Mapped[BatchStatus] = mapped_column(enum_column(BatchStatus, "batch_status"), default=BatchStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The day the scheduler found it past its agreement's review SLA, still undecided.
    sla_breached_on: Mapped[dt.date | None] = mapped_column(Date)

    agreement: Mapped[Agreement] = relationship(lazy="joined", innerjoin=True)


class GuaranteeStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    RELEASED = "released"
    DEFAULTED = "defaulted"
    COMPENSATED = "compensated"
    CLOSED = "closed"


#: pending → approved | rejected; approved → active (disbursed) → released (repaid) | defaulted | compensated → closed;
#: under a `review` agreement a defaulted guarantee is compensated when its claim is paid.
GUARANTEE_TRANSITIONS: dict[GuaranteeStatus, frozenset[GuaranteeStatus]] = {
    GuaranteeStatus.PENDING: frozenset({GuaranteeStatus.APPROVED, GuaranteeStatus.REJECTED}),
    GuaranteeStatus.APPROVED: frozenset({GuaranteeStatus.ACTIVE}),
    GuaranteeStatus.REJECTED: frozenset(),
    GuaranteeStatus.ACTIVE: frozenset({GuaranteeStatus.RELEASED, GuaranteeStatus.DEFAULTED,
                                       GuaranteeStatus.COMPENSATED}),
    GuaranteeStatus.RELEASED: frozenset(),
    GuaranteeStatus.DEFAULTED: frozenset({GuaranteeStatus.COMPENSATED, GuaranteeStatus.CLOSED}),
    GuaranteeStatus.COMPENSATED: frozenset({GuaranteeStatus.CLOSED}),
    GuaranteeStatus.CLOSED: frozenset(),
}

#: Statuses whose amount counts against the agreement's quota and the enterprise's cap.
HOLDING_QUOTA = (GuaranteeStatus.PENDING, GuaranteeStatus.APPROVED, GuaranteeStatus.ACTIVE)


class Guarantee(Audited, Base):
    """One loan guaranteed under an agreement, placed in a batch when the bank approves it."""

    __tablename__ = "guarantees"
    __table_args__ = (
        CheckConstraint("amount > 0 AND exposure >= 0 AND exposure <= amount", name="amounts"),
        Index("ix_guarantees_agreement_enterprise", "agreement_id", "enterprise_id", "status"),
        Index("ix_guarantees_batch", "batch_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    amount: Mapped[Decimal]
    #: What this guarantee holds of the quota now: the amount while pending or approved (reserved), the loan's
    #: outstanding principal once disbursed, zero once rejected or released.
    exposure: Mapped[Decimal]
    term_months: Mapped[int]
    #: The pricing the enterprise accepted with its offer; later rule changes never touch it.
    list_fee_rate: Mapped[Decimal] = mapped_column(Rate)
    fee_rate: Mapped[Decimal] = mapped_column(Rate)
    subsidy_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal("0"))
    #: The fee-reduction rules that applied, and (after disbursement) what each granted.
    applied_rules: Mapped[list[dict]] = mapped_column(JSON, default=list)
    #: The fee, fixed at disbursement: amount × rate × days of the term ÷ 365.
    fee_days: Mapped[int | None]
    list_fee: Mapped[Decimal | None]
    fee_charged: Mapped[Decimal | None]
    fiscal_subsidy: Mapped[Decimal | None]
    status: Mapped[GuaranteeStatus] = mapped_column(enum_column(GuaranteeStatus, "guarantee_status"),
                                                    default=GuaranteeStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]


class PoolDeposit(Audited, Base):
    """Government money paid into a risk pool."""

    __tablename__ = "pool_deposits"
    __table_args__ = (UniqueConstraint("pool_id", "idempotency_key", name="uq_pool_deposits_pool_key"),
                      CheckConstraint("amount > 0", name="positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("risk_pools.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    amount: Mapped[Decimal]
    deposited_on: Mapped[dt.date] = mapped_column(Date)
    #: What of the deposit went to pay earlier claims, oldest first.
    claims_paid: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PoolClaim(Base):
    """What a risk pool owed towards a loss and could not pay at the time: paid first from its next money."""

    __tablename__ = "pool_claims"
    __table_args__ = (CheckConstraint("amount > 0 AND paid >= 0 AND paid <= amount", name="paid_within_amount"),
                      Index("ix_pool_claims_open", "pool_id", "settled", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("risk_pools.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    amount: Mapped[Decimal]
    paid: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    settled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LossAllocation(Base):
    """How a default's loss was shared (API.md loans `defaults`)."""

    __tablename__ = "loss_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"), index=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    loss: Mapped[Decimal]
    bank_borne: Mapped[Decimal]
    beyond_cap: Mapped[Decimal]
    agency_compensation: Mapped[Decimal]
    agency_net: Mapped[Decimal]
    reguarantee: Mapped[Decimal]
    risk_pool_paid: Mapped[Decimal]
    risk_pool_claim: Mapped[Decimal]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RecoveryAllocation(Base):
    """How a recovery (追偿) was shared back (API.md loans `recoveries`)."""

    __tablename__ = "recovery_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"), index=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal]
    bank: Mapped[Decimal]
    agency: Mapped[Decimal]
    reguarantee: Mapped[Decimal]
    risk_pool: Mapped[Decimal]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ClaimStatus(enum.StrEnum):
    FILED = "filed"
    PAID = "paid"
    REJECTED = "rejected"
    #: Recovered in full before the agency paid: nothing was left to claim.
    WITHDRAWN = "withdrawn"


#: filed → paid | rejected | withdrawn; a rejected claim stays as it was and the bank may file another.
CLAIM_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.FILED: frozenset({ClaimStatus.PAID, ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN}),
    ClaimStatus.PAID: frozenset(),
    ClaimStatus.REJECTED: frozenset(),
    ClaimStatus.WITHDRAWN: frozenset(),
}


class Claim(Audited, Base):
    """代偿申请: under a `review` agreement the bank claims its loss on a defaulted loan; the agency pays it (posting
    exactly what an automatic default posts) or refuses it with a reason, within the agreement's working days."""

    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # One claim waits for the agency at a time, and a loan is compensated once.
        Index("uq_claims_one_filed_per_loan", "loan_id", unique=True,
              sqlite_where=text("status = 'filed'"), postgresql_where=text("status = 'filed'")),
        Index("uq_claims_one_paid_per_loan", "loan_id", unique=True,
              sqlite_where=text("status = 'paid'"), postgresql_where=text("status = 'paid'")),
        Index("ix_claims_agreement_status", "agreement_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    guarantee_id: Mapped[int] = mapped_column(ForeignKey("guarantees.id"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    #: The loss claimed: the outstanding principal at default, less what was recovered before payment.
    amount: Mapped[Decimal]
    note: Mapped[str | None] = mapped_column(String(1000))
    filed_on: Mapped[dt.date] = mapped_column(Date)
    #: The last business date for the agency's decision (`claim_review_days` working days after filing).
    due_by: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[ClaimStatus] = mapped_column(enum_column(ClaimStatus, "claim_status"), default=ClaimStatus.FILED)
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    #: Why the agency refused it.
    reason: Mapped[str | None] = mapped_column(String(1000))
    #: The loss's sharing, once paid.
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("loss_allocations.id"))
    #: The day the scheduler found it undecided past `due_by` (flagged and notified once).
    overdue_on: Mapped[dt.date | None] = mapped_column(Date)

    agreement: Mapped[Agreement] = relationship(lazy="joined", innerjoin=True)
    documents: Mapped[list[ClaimDocument]] = relationship(order_by="ClaimDocument.id", lazy="selectin")
    allocation: Mapped[LossAllocation | None] = relationship(lazy="selectin")


class ClaimDocument(Audited, Base):
    """Evidence the bank attached to a claim. The file lives under MARKETPLACE_FILES_DIR, named by its digest."""

    __tablename__ = "claim_documents"
    __table_args__ = (CheckConstraint("size > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    #: The name the bank gave it (shown and used for the download), and what its content was checked to be.
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
