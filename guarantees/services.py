"""Agreements and risk pools. Services flush; views commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, insert, literal, or_, select, true, update
from sqlalchemy.orm import lazyload

from guarantees.models import (
    AGREEMENT_TRANSITIONS,
    HOLDING_QUOTA,
    Agreement,
    AgreementStatus,
    Batch,
    BatchStatus,
    Guarantee,
    GuaranteeStatus,
    RiskPool,
)
from guarantees.settlement import cap_room, charge_fee
from marketplace import db, spreadsheets
from marketplace.auth.models import Role, User
from marketplace.dates import business_today, local_day, working_days_after, working_days_between
from marketplace.db import UTCDateTime
from marketplace.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, one_or_404
from marketplace.financing.models import (
    Application,
    ApplicationStatus,
    FinancingRequest,
    Loan,
    LoanStatus,
    Offer,
    RequestStatus,
)
from marketplace.i18n import N_
from marketplace.orgs.models import Agency, AgencyKind, Bank, Enterprise


def create_risk_pool(data: dict[str, Any]) -> RiskPool:
    if db.session.scalar(select(RiskPool.id).where(RiskPool.name == data["name"])) is not None:
        raise Conflict(_("A risk pool named %(name)s exists.", name=data["name"]), {"name": [_("Already taken.")]})
    pool = RiskPool(**data)
    db.session.add(pool)
    db.session.flush()
    return pool


def create_agreement(agency_id: int, data: dict[str, Any]) -> Agreement:
    """An agency proposes a 总对总 agreement to a bank; it waits for the bank's countersignature."""
    shares = data.pop("shares")
    errors: dict[str, list[str]] = {}
    if db.session.get(Bank, data["bank_id"]) is None:
        errors["bank_id"] = [_("No bank %(id)d.", id=data["bank_id"])]
    if shares["reguarantee"] > 0:
        reguarantor = db.session.get(Agency, data["reguarantor_id"]) if data["reguarantor_id"] else None
        if reguarantor is None or reguarantor.agency_kind is not AgencyKind.PROVINCIAL:
            errors["reguarantor_id"] = [_("A re-guarantee share needs a provincial agency as re-guarantor.")]
    elif data["reguarantor_id"] is not None:
        errors["reguarantor_id"] = [_("Without a re-guarantee share there is no re-guarantor; leave this out.")]
    if shares["risk_pool"] > 0:
        if data["risk_pool_id"] is None or db.session.get(RiskPool, data["risk_pool_id"]) is None:
            errors["risk_pool_id"] = [_("A risk-pool share needs an existing risk pool.")]
    elif data["risk_pool_id"] is not None:
        errors["risk_pool_id"] = [_("Without a risk-pool share there is no risk pool; leave this out.")]
    if errors:
        raise ValidationFailed(errors=errors)
    if db.session.scalar(select(Agreement.id).where(Agreement.code == data["code"])) is not None:
        raise Conflict(_("An agreement coded %(code)s exists.", code=data["code"]), {"code": [_("Already taken.")]})
    agreement = Agreement(
        agency_id=agency_id, share_agency=shares["agency"], share_bank=shares["bank"],
        share_reguarantee=shares["reguarantee"], share_risk_pool=shares["risk_pool"],
        **{**data, "eligible_tiers": [t.value for t in data["eligible_tiers"]],
           "eligible_product_types": [t.value for t in data["eligible_product_types"]]})
    db.session.add(agreement)
    db.session.flush()
    return agreement


def change_status(agreement: Agreement, target: AgreementStatus,
                  source: AgreementStatus | None = None) -> Agreement:
    """Countersign (bank: pending_bank → active), suspend and resume (agency), along the agreement's lifecycle.
    `source`, when given, is the only status the move may start from (a countersignature never lifts a
    suspension)."""
    current = agreement.effective_status
    if target is AgreementStatus.ACTIVE and current is AgreementStatus.EXPIRED:
        raise IllegalTransition(_("This agreement ended on %(day)s.", day=agreement.valid_to.isoformat()))
    if target not in AGREEMENT_TRANSITIONS[current] or (source is not None and current is not source):
        raise IllegalTransition(_("An agreement that is %(status)s cannot become %(target)s this way.",
                                  status=current.value, target=target.value))
    if current is AgreementStatus.SUSPENDED and target is AgreementStatus.ACTIVE and cap_room(agreement) == 0 \
            and agreement.guaranteed_total:
        raise IllegalTransition(_("Agreement %(code)s has reached its compensation cap (%(rate)s of %(cap)s) and "
                                  "cannot take new guarantees.", code=agreement.code,
                                  rate=f"{agreement.compensation_rate:.4f}",
                                  cap=f"{agreement.compensation_cap_rate:.4f}"))
    if current is AgreementStatus.PENDING_BANK and target is AgreementStatus.ACTIVE:
        agreement.countersigned_at = db.utcnow()
    agreement.status = target
    db.session.flush()
    return agreement


def visible_agreements(user: User) -> Select[tuple[Agreement]]:
    """The admin sees all; an agency its own and those it re-guarantees; a bank those naming it."""
    query = select(Agreement)
    if user.role is Role.AGENCY:
        return query.where(or_(Agreement.agency_id == user.organization_id,
                               Agreement.reguarantor_id == user.organization_id))
    if user.role is Role.BANK:
        return query.where(Agreement.bank_id == user.organization_id)
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_agreement(user: User, agreement_id: int) -> Agreement:
    return one_or_404(visible_agreements(user).where(Agreement.id == agreement_id),
                      _("No agreement %(id)d.", id=agreement_id))


def active_agreements_of(bank_ids: set[int]) -> list[Agreement]:
    """Agreements that can guarantee new loans today for these banks, in one query (their own columns: matching
    needs no bank or agency joined in)."""
    if not bank_ids:
        return []
    today = business_today()
    return list(db.session.scalars(select(Agreement).where(
        Agreement.bank_id.in_(sorted(bank_ids)), Agreement.status == AgreementStatus.ACTIVE,
        Agreement.valid_from <= today, Agreement.valid_to >= today)
        .options(lazyload(Agreement.agency), lazyload(Agreement.bank))))


def get_risk_pool(pool_id: int) -> RiskPool:
    pool = db.session.get(RiskPool, pool_id)
    if pool is None:
        raise NotFound(_("No risk pool %(id)d.", id=pool_id))
    return pool


# Reservation, batches and their decisions ------------------------------------------------------------------

class GuaranteeUnavailable(Conflict):
    slug = "guarantee-unavailable"
    title = N_("The guarantee agreement cannot take this loan")


def _locked(agreement_id: int) -> Agreement:
    """The agreement row, locked for this transaction (SELECT … FOR UPDATE on PostgreSQL), read afresh."""
    # OF agreements: the eagerly joined bank and agency rows must not be locked too (that deadlocks).
    return db.session.scalar(select(Agreement).where(Agreement.id == agreement_id).with_for_update(of=Agreement)
                             .execution_options(populate_existing=True))


def enterprise_exposure(agreement_id: int, enterprise_id: int) -> Decimal:
    return db.session.scalar(select(func.coalesce(func.sum(Guarantee.exposure), 0)).where(
        Guarantee.agreement_id == agreement_id, Guarantee.enterprise_id == enterprise_id,
        Guarantee.status.in_(HOLDING_QUOTA))) or Decimal("0.00")


def reserve(application: Application, amount: Decimal) -> Guarantee:
    """Place a pending guarantee in the agreement's open batch and reserve its quota, atomically: the agreement
    row stays locked until the caller commits, so concurrent approvals queue instead of oversubscribing."""
    offer = application.offer
    agreement = _locked(offer.agreement_id)
    enterprise_id = application.request.enterprise_id
    today = business_today()
    problem = None
    if agreement.status_on(today) is not AgreementStatus.ACTIVE or today < agreement.valid_from:
        problem = _("Agreement %(code)s is not taking new guarantees.", code=agreement.code)
    elif amount > agreement.per_loan_cap:
        problem = _("%(amount)s is above the agreement's per-loan cap of %(cap)s.", amount=f"{amount:,.2f}",
                    cap=f"{agreement.per_loan_cap:,.2f}")
    elif amount > agreement.quota_available:
        problem = _("Only %(available)s of the agreement's quota is left.",
                    available=f"{agreement.quota_available:,.2f}")
    elif enterprise_exposure(agreement.id, enterprise_id) + amount > agreement.per_enterprise_cap:
        problem = _("The enterprise would pass the agreement's per-enterprise cap of %(cap)s.",
                    cap=f"{agreement.per_enterprise_cap:,.2f}")
    if problem:
        raise GuaranteeUnavailable(problem)

    batch = db.session.scalar(select(Batch).where(Batch.agreement_id == agreement.id,
                                                  Batch.status == BatchStatus.OPEN))
    if batch is None:
        batch = Batch(agreement=agreement)
        db.session.add(batch)
        db.session.flush()
    guarantee = Guarantee(agreement_id=agreement.id, batch_id=batch.id, application_id=application.id,
                          enterprise_id=enterprise_id, amount=amount, exposure=amount,
                          term_months=application.request.term_months, list_fee_rate=offer.list_fee_rate,
                          fee_rate=offer.guarantee_fee_rate, subsidy_rate=offer.fee_subsidy_rate,
                          applied_rules=list(offer.applied_rules or []))
    db.session.add(guarantee)
    agreement.quota_reserved += amount
    db.session.flush()
    if _item_count(batch.id) >= agreement.batch_max_size:
        submit_batch(batch)
    return guarantee


def _item_count(batch_id: int) -> int:
    return db.session.scalar(select(func.count(Guarantee.id)).where(Guarantee.batch_id == batch_id))


def submit_batch(batch: Batch) -> Batch:
    """Close an open batch for review; loans under the agreement's 见贷即保 threshold are approved at once."""
    if batch.status is not BatchStatus.OPEN:
        raise IllegalTransition(_("Batch %(id)d is already %(status)s.", id=batch.id, status=batch.status.value))
    batch.status, batch.submitted_at = BatchStatus.SUBMITTED, db.utcnow()
    threshold = batch.agreement.auto_approve_below
    if threshold is not None:
        _approve(batch, Guarantee.amount < threshold)
    db.session.flush()
    return batch


def decide_batch(batch: Batch, user: User, exclusions: list[dict[str, Any]]) -> Batch:
    """Approve every pending item not excluded; reject the excluded ones with their reasons, releasing quota.
    Set-based: a handful of statements whatever the batch size."""
    if batch.status is not BatchStatus.SUBMITTED:
        raise IllegalTransition(_("Only a submitted batch can be decided; batch %(id)d is %(status)s.",
                                  id=batch.id, status=batch.status.value))
    reasons = {item["guarantee_id"]: item["reason"] for item in exclusions}
    pending = set(db.session.scalars(select(Guarantee.id).where(Guarantee.batch_id == batch.id,
                                                                Guarantee.status == GuaranteeStatus.PENDING)))
    if unknown := sorted(set(reasons) - pending):
        raise ValidationFailed(errors={"exclusions": [_("Not pending items of this batch: %(ids)s.",
                                                        ids=", ".join(map(str, unknown)))]})
    agreement = _locked(batch.agreement_id)
    if reasons:
        released = db.session.scalar(select(func.sum(Guarantee.amount)).where(Guarantee.id.in_(reasons)))
        now = db.utcnow()
        db.session.execute(update(Guarantee), [
            {"id": gid, "status": GuaranteeStatus.REJECTED, "reason": reason, "exposure": Decimal("0.00"),
             "decided_at": now} for gid, reason in reasons.items()])
        applications = select(Guarantee.application_id).where(Guarantee.id.in_(reasons)).scalar_subquery()
        db.session.execute(update(Application).where(Application.id.in_(applications)).values(
            status=ApplicationStatus.GUARANTEE_UNAVAILABLE))
        db.session.execute(update(FinancingRequest).where(FinancingRequest.id.in_(
            select(Application.request_id).where(Application.id.in_(applications)).scalar_subquery())).values(
            status=RequestStatus.DECLINED))
        agreement.quota_reserved -= released
    _approve(batch, Guarantee.id.not_in(reasons) if reasons else true())
    batch.status, batch.decided_at, batch.decided_by_id = BatchStatus.DECIDED, db.utcnow(), user.id
    db.session.flush()
    db.session.expire_all()
    return batch


def _approve(batch: Batch, condition: Any) -> None:
    """Approve the batch's pending items that meet `condition`: each gets its loan (status approved)."""
    chosen = select(Guarantee.application_id).where(Guarantee.batch_id == batch.id,
                                                    Guarantee.status == GuaranteeStatus.PENDING, condition)
    now = db.utcnow()
    db.session.execute(insert(Loan).from_select(
        ["application_id", "bank_id", "enterprise_id", "product_id", "principal", "outstanding", "term_months",
         "interest_rate", "status", "created_at"],
        select(Application.id, Application.bank_id, FinancingRequest.enterprise_id, Offer.product_id,
               Application.approved_amount, Application.approved_amount, FinancingRequest.term_months,
               Application.interest_rate, literal(LoanStatus.APPROVED.value), literal(now, UTCDateTime()))
        .join(FinancingRequest, FinancingRequest.id == Application.request_id)
        .join(Offer, Offer.id == Application.offer_id)
        .where(Application.id.in_(chosen))))
    loan_of = select(Loan.id).where(Loan.application_id == Guarantee.application_id).scalar_subquery()
    db.session.execute(update(Guarantee).where(Guarantee.batch_id == batch.id,
                                               Guarantee.status == GuaranteeStatus.PENDING, condition)
                       .values(status=GuaranteeStatus.APPROVED, loan_id=loan_of, decided_at=now)
                       .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class BatchAge:
    """How long a batch has waited for the agency's review, in working days, against the agreement's SLA."""
    days: int
    sla: int | None
    #: The last day of the review window (the scheduler flags or approves the batch the day after).
    due: dt.date | None
    overdue: bool


def batch_age(batch: Batch, today: dt.date | None = None) -> BatchAge | None:
    """Working days since submission (until the decision, once decided); None for a batch still open."""
    if batch.submitted_at is None:
        return None
    submitted = local_day(batch.submitted_at)
    end = local_day(batch.decided_at) if batch.decided_at else (today or business_today())
    sla = batch.agreement.review_sla_days
    due = working_days_after(submitted, sla) if sla is not None else None
    return BatchAge(working_days_between(submitted, end), sla, due,
                    due is not None and batch.decided_at is None and end > due)


def visible_batches(user: User) -> Select[tuple[Batch]]:
    query = select(Batch).join(Agreement, Agreement.id == Batch.agreement_id)
    if user.role is Role.AGENCY:
        return query.where(Agreement.agency_id == user.organization_id)
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_batch(user: User, batch_id: int) -> Batch:
    # The agreement is loaded when a caller reads it (deciding does; showing does not).
    return one_or_404(visible_batches(user).where(Batch.id == batch_id).options(lazyload(Batch.agreement)),
                      _("No batch %(id)d.", id=batch_id))


def batch_totals(batch_ids: list[int]) -> dict[int, tuple[int, Decimal]]:
    """Item count and total amount per batch, in one query."""
    rows = db.session.execute(select(Guarantee.batch_id, func.count(Guarantee.id), func.sum(Guarantee.amount))
                              .where(Guarantee.batch_id.in_(batch_ids)).group_by(Guarantee.batch_id))
    return {batch_id: (count, total) for batch_id, count, total in rows}


def batch_items(batch_id: int) -> list[dict[str, Any]]:
    """The batch's items as the agency reviews them: plain columns in one query (no ORM objects to load)."""
    rows = db.session.execute(
        select(Guarantee.id, Guarantee.application_id, Guarantee.loan_id, Enterprise.name, Enterprise.uscc,
               FinancingRequest.tier_at_request, Guarantee.amount, Guarantee.term_months, Offer.product_name,
               Guarantee.fee_rate, Guarantee.status, Guarantee.reason)
        .join(Application, Application.id == Guarantee.application_id)
        .join(FinancingRequest, FinancingRequest.id == Application.request_id)
        .join(Enterprise, Enterprise.id == Guarantee.enterprise_id)
        .join(Offer, Offer.id == Application.offer_id)
        .where(Guarantee.batch_id == batch_id).order_by(Guarantee.id))
    return [{"guarantee_id": gid, "application_id": application_id, "loan_id": loan_id, "enterprise_name": name,
             "uscc": uscc, "tier": tier.value, "amount": amount, "term_months": term, "product_name": product,
             "fee_rate": fee_rate, "status": status.value, "reason": reason}
            for gid, application_id, loan_id, name, uscc, tier, amount, term, product, fee_rate, status, reason in rows]


BATCH_EXPORT_COLUMNS = ("guarantee_id", "application_id", "loan_id", "enterprise_name", "uscc", "tier",
                        "product_name", "amount", "term_months", "fee_rate", "status", "reason")


def batch_table(batch: Batch) -> spreadsheets.Table:
    """The batch's items, one row each, then a totals row: the item count and the amount (as the API's totals)."""
    items = batch_items(batch.id)
    total = sum((item["amount"] for item in items), Decimal("0.00"))
    rows = [tuple(item[column] for column in BATCH_EXPORT_COLUMNS) for item in items]
    totals = [_("Total"), None, None, _("%(n)d items", n=len(items)), None, None, None, total, None, None, None, None]
    return spreadsheets.Table(f"batch {batch.id}", BATCH_EXPORT_COLUMNS, rows, totals)


# Loan events that move the quota ------------------------------------------------------------------------------

def guarantee_of_loan(loan_id: int) -> Guarantee | None:
    # Read afresh: the caller holds the loan's lock, and an object loaded earlier may predate it.
    return db.session.scalar(select(Guarantee).where(Guarantee.loan_id == loan_id)
                             .execution_options(populate_existing=True))


def on_disbursed(guarantee: Guarantee, loan: Loan, disbursed_on: dt.date) -> None:
    """Reserved quota becomes outstanding; the principal counts towards the agreement's guaranteed total; the
    guarantee fee is fixed and posted."""
    agreement = _locked(guarantee.agreement_id)
    agreement.quota_reserved -= guarantee.amount
    agreement.quota_outstanding += loan.principal
    agreement.guaranteed_total += loan.principal
    guarantee.status, guarantee.exposure = GuaranteeStatus.ACTIVE, loan.principal
    charge_fee(guarantee, agreement.agency_id, loan, disbursed_on)
    db.session.flush()


def on_repaid(guarantee: Guarantee, principal_repaid: Decimal) -> None:
    """Outstanding quota is released by exactly the principal repaid; a fully repaid loan releases its guarantee."""
    agreement = _locked(guarantee.agreement_id)
    agreement.quota_outstanding -= principal_repaid
    guarantee.exposure -= principal_repaid
    if guarantee.exposure == 0:
        guarantee.status = GuaranteeStatus.RELEASED
    db.session.flush()
