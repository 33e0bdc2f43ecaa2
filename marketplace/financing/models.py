"""Financing requests (enterprise), offers (ranked, priced), applications (bank side) and loans."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Audited, Base, Rate, utcnow
from marketplace.financing.schedule import Method
from marketplace.i18n import in_reader_language
from marketplace.orgs.models import Bank, Enterprise, Tier, enum_column

if TYPE_CHECKING:
    from guarantees.models import Guarantee


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    ROUTED = "routed"
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    FUNDED = "funded"
    CLOSED = "closed"


#: open → routed → (approved | declined | withdrawn) → funded | closed; an approval whose guarantee the agency then
#: refuses (an exclusion from its batch) is declined after all. A declined request (the bank declined, the agency
#: refused the guarantee, the enterprise declined or let lapse a counter-offer) may be routed again, to another of
#: its offers while they are valid.
REQUEST_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.OPEN: frozenset({RequestStatus.ROUTED, RequestStatus.WITHDRAWN}),
    RequestStatus.ROUTED: frozenset({RequestStatus.APPROVED, RequestStatus.DECLINED, RequestStatus.WITHDRAWN}),
    RequestStatus.APPROVED: frozenset({RequestStatus.FUNDED, RequestStatus.DECLINED, RequestStatus.CLOSED}),
    RequestStatus.DECLINED: frozenset({RequestStatus.ROUTED, RequestStatus.WITHDRAWN, RequestStatus.CLOSED}),
    RequestStatus.WITHDRAWN: frozenset({RequestStatus.CLOSED}),
    RequestStatus.FUNDED: frozenset({RequestStatus.CLOSED}),
    RequestStatus.CLOSED: frozenset(),
}


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    DECLINED = "declined"
    #: Quota or caps of the offer's guarantee agreement no longer allow it.
    GUARANTEE_UNAVAILABLE = "guarantee_unavailable"
    #: The enterprise withdrew the request before the bank decided.
    WITHDRAWN = "withdrawn"
    #: The bank approved other terms than the offer's: the enterprise answers (counter_offers holds the terms).
    COUNTERED = "countered"
    COUNTER_DECLINED = "counter_declined"
    #: Unanswered by the counter-offer's expiry date: it lapsed, like a decline.
    COUNTER_LAPSED = "counter_lapsed"


#: submitted → approved | declined | guarantee_unavailable | withdrawn | countered; an approval waiting for its
#: guarantee becomes guarantee_unavailable when the agency refuses it; a counter-offer accepted goes on as an
#: approval at its terms would (approved, or guarantee_unavailable when the agreement can no longer take it).
APPLICATION_TRANSITIONS: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    ApplicationStatus.SUBMITTED: frozenset({ApplicationStatus.APPROVED, ApplicationStatus.DECLINED,
                                            ApplicationStatus.GUARANTEE_UNAVAILABLE, ApplicationStatus.WITHDRAWN,
                                            ApplicationStatus.COUNTERED}),
    ApplicationStatus.COUNTERED: frozenset({ApplicationStatus.APPROVED, ApplicationStatus.GUARANTEE_UNAVAILABLE,
                                            ApplicationStatus.COUNTER_DECLINED, ApplicationStatus.COUNTER_LAPSED,
                                            ApplicationStatus.WITHDRAWN}),
    ApplicationStatus.APPROVED: frozenset({ApplicationStatus.GUARANTEE_UNAVAILABLE}),
    ApplicationStatus.DECLINED: frozenset(),
    ApplicationStatus.GUARANTEE_UNAVAILABLE: frozenset(),
    ApplicationStatus.WITHDRAWN: frozenset(),
    ApplicationStatus.COUNTER_DECLINED: frozenset(),
    ApplicationStatus.COUNTER_LAPSED: frozenset(),
}

#: Where an application stands once the enterprise may choose another offer of its request.
ENDED_WITHOUT_LOAN = frozenset({ApplicationStatus.DECLINED, ApplicationStatus.GUARANTEE_UNAVAILABLE,
                                ApplicationStatus.COUNTER_DECLINED, ApplicationStatus.COUNTER_LAPSED})


class LoanStatus(enum.StrEnum):
    APPROVED = "approved"
    DISBURSED = "disbursed"
    REPAYING = "repaying"
    REPAID = "repaid"
    OVERDUE = "overdue"
    DEFAULTED = "defaulted"
    RECOVERING = "recovering"
    CLOSED = "closed"


class LoanEventType(enum.StrEnum):
    DISBURSED = "disbursed"
    REPAYMENT = "repayment"
    OVERDUE = "overdue"
    DEFAULT = "default"
    RECOVERY = "recovery"
    #: 无还本续贷: the loan closes into a new loan that takes over its principal; no principal changes hands.
    RENEWED = "renewed"


class FinancingRequest(Audited, Base):
    __tablename__ = "financing_requests"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term_months BETWEEN 1 AND 360", name="term_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[Decimal]
    term_months: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(500))
    accept_guarantee: Mapped[bool] = mapped_column(default=True)
    #: The product types asked for; None for any.
    product_types: Mapped[list[str] | None] = mapped_column(JSON)
    status: Mapped[RequestStatus] = mapped_column(enum_column(RequestStatus, "request_status"),
                                                  default=RequestStatus.OPEN)
    #: What the matching saw: the tier in force and the LPR date, so the offers can be explained later.
    tier_at_request: Mapped[Tier] = mapped_column(enum_column(Tier, "tier"))
    lpr_effective_on: Mapped[dt.date] = mapped_column(Date)
    #: What was left out and why, as codes with their figures and product ids (financing.reasons puts them into
    #: words in the reader's language); reasons filed before codes are {"code": "text", "text": <the sentence>}.
    unmatched_reasons: Mapped[list[dict]] = mapped_column(JSON, default=list)
    #: Why the marketplace itself moved the request (a withdrawal when the enterprise's tier expired).
    status_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    enterprise: Mapped[Enterprise] = relationship(lazy="joined", innerjoin=True)
    offers: Mapped[list[Offer]] = relationship(back_populates="request", order_by="Offer.rank",
                                               cascade="all, delete-orphan", lazy="selectin")
    #: Every routing of the request, oldest first: after a decline the enterprise may choose another offer.
    applications: Mapped[list[Application]] = relationship(back_populates="request", order_by="Application.id",
                                                           lazy="selectin")

    @property
    def application(self) -> Application | None:
        """The latest application: the one that is live, or the last that ended."""
        return self.applications[-1] if self.applications else None

    @property
    def offers_valid_until(self) -> dt.date:
        """The last day the enterprise may choose one of these offers (OFFER_VALID_DAYS after filing)."""
        from flask import current_app

        from marketplace.dates import local_day
        return local_day(self.created_at) + dt.timedelta(days=current_app.config["OFFER_VALID_DAYS"])


class Offer(Base):
    """One priced way to fund a request: a product version, optionally under a guarantee agreement."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("financing_requests.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int]
    #: The product version matched; it stays as it was even when the bank publishes a new version.
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(200))
    product_name_en: Mapped[str | None] = mapped_column(String(200))
    product_type: Mapped[str] = mapped_column(String(20))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    bank_name: Mapped[str] = mapped_column(String(200))
    bank_name_en: Mapped[str | None] = mapped_column(String(200))
    #: The 总对总 agreement guaranteeing this offer; none for an offer without a guarantee.
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    amount: Mapped[Decimal]
    term_months: Mapped[int]
    rate_spread_bp: Mapped[int]
    interest_rate: Mapped[Decimal] = mapped_column(Rate)
    #: The agreement's annual guarantee fee rate before fee-reduction rules.
    list_fee_rate: Mapped[Decimal] = mapped_column(Rate)
    #: What the enterprise pays a year after the rules.
    guarantee_fee_rate: Mapped[Decimal] = mapped_column(Rate)
    #: The part of the reduction the fiscal fund pays the agency (降费奖补).
    fee_subsidy_rate: Mapped[Decimal] = mapped_column(Rate)
    #: interest_rate + guarantee_fee_rate: the enterprise's 综合融资成本.
    all_in_rate: Mapped[Decimal] = mapped_column(Rate)
    applied_rules: Mapped[list[dict]] = mapped_column(JSON, default=list)

    request: Mapped[FinancingRequest] = relationship(back_populates="offers")

    @property
    def product_display_name(self) -> str:
        return in_reader_language(self.product_name, self.product_name_en)

    @property
    def bank_display_name(self) -> str:
        return in_reader_language(self.bank_name, self.bank_name_en)

    @property
    def total_cost(self) -> Decimal:
        """What the loan costs over its term at the all-in rate on the whole amount (interest and guarantee fee, as
        when interest is paid monthly and the principal at the end; less when principal is repaid along the way),
        to the fen, half up."""
        return (self.amount * self.all_in_rate * self.term_months / 12).quantize(Decimal("0.01"), ROUND_HALF_UP)


class Application(Audited, Base):
    """A request routed to the bank of the offer the enterprise selected."""

    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_bank_status", "bank_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("financing_requests.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus, "application_status", 30),
                                                      default=ApplicationStatus.SUBMITTED)
    approved_amount: Mapped[Decimal | None]
    rate_spread_bp: Mapped[int | None]
    #: LPR in force at approval + the approved spread: the loan's rate.
    interest_rate: Mapped[Decimal | None] = mapped_column(Rate)
    reason: Mapped[str | None] = mapped_column(String(1000))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    #: The business date by which the bank owes an answer (RESPONSE_WORKING_DAYS working days after routing).
    respond_by: Mapped[dt.date | None] = mapped_column(Date)
    #: Deadline reminders already sent: "near", "passed" (each once).
    reminded: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[FinancingRequest] = relationship(back_populates="applications", lazy="joined", innerjoin=True)
    offer: Mapped[Offer] = relationship(lazy="joined", innerjoin=True)
    bank: Mapped[Bank] = relationship(lazy="joined", innerjoin=True)
    loan: Mapped[Loan | None] = relationship(back_populates="application", lazy="selectin")
    guarantee: Mapped[Guarantee | None] = relationship(primaryjoin="Application.id == Guarantee.application_id",
                                                       viewonly=True, lazy="selectin")
    counter: Mapped[CounterOffer | None] = relationship(back_populates="application", lazy="selectin")


class CounterOffer(Base):
    """Terms the bank approved that differ from the offer's: nothing is reserved and no loan exists until the
    enterprise accepts them. The application's status says where it stands (countered, approved, declined, lapsed)."""

    __tablename__ = "counter_offers"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    amount: Mapped[Decimal]
    rate_spread_bp: Mapped[int]
    #: LPR in force when the bank countered + the countered spread.
    interest_rate: Mapped[Decimal] = mapped_column(Rate)
    list_fee_rate: Mapped[Decimal] = mapped_column(Rate)
    #: The guarantee fee at the countered amount (0 without a guarantee), after the fee-reduction rules.
    guarantee_fee_rate: Mapped[Decimal] = mapped_column(Rate)
    fee_subsidy_rate: Mapped[Decimal] = mapped_column(Rate)
    all_in_rate: Mapped[Decimal] = mapped_column(Rate)
    applied_rules: Mapped[list[dict]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(1000))
    #: The last business date the enterprise may accept it.
    expires_on: Mapped[dt.date] = mapped_column(Date)
    made_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    made_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None]
    #: The enterprise's reason for declining, when it gives one.
    answer_reason: Mapped[str | None] = mapped_column(String(1000))

    application: Mapped[Application] = relationship(back_populates="counter")


class Loan(Audited, Base):
    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint("principal > 0 AND outstanding >= 0 AND outstanding <= principal", name="amounts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    principal: Mapped[Decimal]
    outstanding: Mapped[Decimal]
    term_months: Mapped[int]
    interest_rate: Mapped[Decimal] = mapped_column(Rate)
    status: Mapped[LoanStatus] = mapped_column(enum_column(LoanStatus, "loan_status"), default=LoanStatus.APPROVED)
    disbursed_on: Mapped[dt.date | None] = mapped_column(Date)
    #: The bank's loan contract number (借款合同编号), given at disbursement.
    contract_no: Mapped[str | None] = mapped_column(String(60))
    #: How it is repaid, fixed at disbursement (the product type's default unless the bank chose another).
    repayment_method: Mapped[Method | None] = mapped_column(enum_column(Method, "repayment_method"))
    #: What the repayments have paid so far, split as they were applied (oldest period first, interest first).
    interest_paid: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    principal_repaid: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    #: The loan this one renews (无还本续贷): it closed into this one.
    renews_loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="loan")


class LoanEvent(Audited, Base):
    """What happened to a loan, as reported by its bank: kept for the record, in order."""

    __tablename__ = "loan_events"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),
                      UniqueConstraint("loan_id", "idempotency_key", name="uq_loan_events_loan_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    type: Mapped[LoanEventType] = mapped_column(enum_column(LoanEventType, "loan_event_type"))
    amount: Mapped[Decimal]
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    #: How a repayment was applied: interest first, then principal.
    interest: Mapped[Decimal | None]
    principal: Mapped[Decimal | None]
    #: A renewal's new loan.
    new_loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    #: The bank's key for the event (its Idempotency-Key or callback event id): a replay applies nothing.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
