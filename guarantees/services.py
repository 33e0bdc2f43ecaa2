"""Agreements, batches, guarantees and risk pools. Services flush; the request, job or command commits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, Select, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import lazyload
from sqlalchemy.sql import Subquery

from guarantees.models import (
    AGREEMENT_TRANSITIONS,
    BATCH_TRANSITIONS,
    GUARANTEE_TRANSITIONS,
    HOLDING_QUOTA,
    Agreement,
    AgreementStatus,
    Batch,
    BatchStatus,
    Guarantee,
    GuaranteeStatus,
    RiskPool,
)
from guarantees.settlement import LoanFacts, cap_room, charge_fee, tell_suspended
from marketplace import db, states, timeline
from marketplace.audit import trail as audit
from marketplace.auth.models import Role, User
from marketplace.dates import business_today, local_day, working_days_after, working_days_between
from marketplace.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, one_or_404
from marketplace.i18n import N_, percent, state_word, yuan
from marketplace.notifications.services import notify
from marketplace.orgs.models import Agency, AgencyKind, Bank


def create_risk_pool(data: dict[str, Any]) -> RiskPool:
    if db.session.scalar(select(RiskPool.id).where(RiskPool.name == data["name"])) is not None:
        raise Conflict(_("A risk pool named %(name)s exists.", name=data["name"]), {"name": [_("Already taken.")]})
    pool = RiskPool(**data)
    db.session.add(pool)
    db.session.flush()
    return pool


def create_agreement(agency_id: int, data: dict[str, Any]) -> Agreement:
    """An agency proposes a 总对总 agreement to a bank; it waits for the bank's countersignature."""
    terms = _checked_terms(data)
    if db.session.scalar(select(Agreement.id).where(Agreement.code == data["code"])) is not None:
        raise Conflict(_("An agreement coded %(code)s exists.", code=data["code"]), {"code": [_("Already taken.")]})
    agreement = Agreement(agency_id=agency_id, **terms)
    db.session.add(agreement)
    db.session.flush()
    _ask_to_countersign(agreement, N_("%(agency)s proposes the 总对总 agreement %(code)s: quota %(quota)s at a "
                                      "guarantee fee of %(fee)s a year, from %(start)s to %(end)s."))
    return agreement


def _checked_terms(data: dict[str, Any]) -> dict[str, Any]:
    """AgreementIn's data as the agreement's columns (the shares one a column each); 422 on each field naming a bank,
    re-guarantor or risk pool that does not fit the shares."""
    data = dict(data)
    shares = data.pop("shares")
    errors: dict[str, list[str]] = {}
    if "bank_id" in data and db.session.get(Bank, data["bank_id"]) is None:
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
    return {**data, "share_agency": shares["agency"], "share_bank": shares["bank"],
            "share_reguarantee": shares["reguarantee"], "share_risk_pool": shares["risk_pool"],
            "eligible_tiers": [t.value for t in data["eligible_tiers"]],
            "eligible_product_types": [t.value for t in data["eligible_product_types"]]}


def _ask_to_countersign(agreement: Agreement, body: str) -> None:
    notify("agreement.awaiting_countersign", agreement.bank_id, N_("Agreement %(code)s awaits your countersignature"),
           body, f"/bank/agreements/{agreement.id}", code=agreement.code,
           agency=db.session.get(Agency, agreement.agency_id), quota=yuan(agreement.total_quota),
           fee=percent(agreement.fee_rate), start=agreement.valid_from.isoformat(),
           end=agreement.valid_to.isoformat())


def return_agreement(agreement: Agreement, reason: str) -> Agreement:
    """The named bank sends a pending agreement back to its agency with a reason, instead of countersigning it
    (pending_bank → returned). The row is locked before its status is read: of a return and a countersignature sent
    at once, one stands."""
    db.lock(agreement)
    if agreement.status is not AgreementStatus.PENDING_BANK:
        raise IllegalTransition(_("Only an agreement awaiting your countersignature can be returned; agreement "
                                  "%(code)s is %(status)s.", code=agreement.code,
                                  status=state_word(agreement.effective_status)))
    states.move(agreement, AgreementStatus.RETURNED, AGREEMENT_TRANSITIONS)
    agreement.return_reason = reason
    agreement.returned_at = db.utcnow()
    db.session.flush()
    notify("agreement.returned", agreement.agency_id, N_("%(bank)s returned agreement %(code)s"),
           N_("%(bank)s did not countersign the 总对总 agreement %(code)s and returned it to you, saying: "
              "“%(reason)s”. Amend its terms and submit it again, or terminate it."),
           "/agency/agreements", code=agreement.code, bank=agreement.bank, reason=reason)
    return agreement


def resubmit_agreement(agreement: Agreement, data: dict[str, Any]) -> Agreement:
    """The agency amends a returned agreement's terms (checked as a new agreement's are) and sends it to the bank
    again (returned → pending_bank); its code and bank stay."""
    terms = _checked_terms(data)
    db.lock(agreement)
    if agreement.status is not AgreementStatus.RETURNED:
        raise IllegalTransition(_("Only a returned agreement can be submitted again; agreement %(code)s is "
                                  "%(status)s.", code=agreement.code, status=state_word(agreement.effective_status)))
    states.move(agreement, AgreementStatus.PENDING_BANK, AGREEMENT_TRANSITIONS)
    for name, value in terms.items():
        setattr(agreement, name, value)
    db.session.flush()
    _ask_to_countersign(agreement, N_("%(agency)s amended the 总对总 agreement %(code)s you returned and submits it "
                                      "again: quota %(quota)s at a guarantee fee of %(fee)s a year, from %(start)s "
                                      "to %(end)s."))
    return agreement


def change_status(agreement: Agreement, target: AgreementStatus,
                  source: AgreementStatus | None = None) -> Agreement:
    """Countersign (bank: pending_bank → active), suspend and resume (agency), along the agreement's lifecycle.
    `source`, when given, is the only status the move may start from (a countersignature never lifts a
    suspension). The row is locked before its status is read: a concurrent suspension and resumption queue."""
    db.lock(agreement)
    current = agreement.effective_status
    if target is AgreementStatus.ACTIVE and current is AgreementStatus.EXPIRED:
        raise IllegalTransition(_("This agreement ended on %(day)s.", day=agreement.valid_to.isoformat()))
    if target not in AGREEMENT_TRANSITIONS[current] or (source is not None and current is not source):
        raise IllegalTransition(_("An agreement that is %(status)s cannot become %(target)s this way.",
                                  status=state_word(current), target=state_word(target)))
    if current is AgreementStatus.SUSPENDED and target is AgreementStatus.ACTIVE and cap_room(agreement) == 0 \
            and agreement.guaranteed_total:
        raise IllegalTransition(_("Agreement %(code)s has reached its compensation cap (%(rate)s of %(cap)s) and "
                                  "cannot take new guarantees.", code=agreement.code,
                                  rate=f"{agreement.compensation_rate:.4f}",
                                  cap=f"{agreement.compensation_cap_rate:.4f}"))
    if current is AgreementStatus.PENDING_BANK and target is AgreementStatus.ACTIVE:
        agreement.countersigned_at = db.utcnow()
    states.move(agreement, target, AGREEMENT_TRANSITIONS)
    db.session.flush()
    if target is AgreementStatus.SUSPENDED:
        tell_suspended(agreement, N_("The agency suspended agreement %(code)s: it takes no new guarantees until it "
                                     "is resumed."))
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


def pool_names() -> Subquery:
    """The risk pools as (id, name) rows, for reports that name a pool's ledger accounts."""
    return select(RiskPool.id, RiskPool.display_name.label("name")).subquery("risk_pool_names")


def get_risk_pool(pool_id: int) -> RiskPool:
    pool = db.session.get(RiskPool, pool_id)
    if pool is None:
        raise NotFound(_("No risk pool %(id)d.", id=pool_id))
    return pool


# Reservation, batches and their decisions ------------------------------------------------------------------

class GuaranteeUnavailable(Conflict):
    slug = "guarantee-unavailable"
    title = N_("The guarantee agreement cannot take this loan")
    keeps_changes = True  # the application stays guarantee_unavailable, whatever the answer


@dataclass(frozen=True)
class Placement:
    """What a bank's approval asks an agreement to guarantee: the application's figures, as plain data."""
    application_id: int
    agreement_id: int
    enterprise_id: int
    amount: Decimal
    term_months: int
    #: The pricing the enterprise accepted with its offer.
    list_fee_rate: Decimal
    fee_rate: Decimal
    subsidy_rate: Decimal
    applied_rules: list[dict]


@dataclass(frozen=True)
class Refusal:
    application_id: int
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What a guarantee decision means for the applications behind it. Guarantees decides guarantees only; the
    caller hands this to financing, the only writer of applications, requests and loans."""
    #: Applications whose guarantee is now approved: each gets its loan.
    backed: tuple[int, ...] = ()
    #: Applications whose guarantee was refused, with the agency's reason.
    refused: tuple[Refusal, ...] = ()

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.backed + other.backed, self.refused + other.refused)


NOTHING = Outcome()


def _locked(agreement_id: int) -> Agreement:
    """The agreement row, locked for this transaction (SELECT … FOR UPDATE on PostgreSQL), read afresh."""
    # OF agreements: the eagerly joined bank and agency rows must not be locked too (that deadlocks).
    return db.session.scalar(db.locking(select(Agreement).where(Agreement.id == agreement_id)))


def enterprise_exposure(agreement_id: int, enterprise_id: int) -> Decimal:
    return db.session.scalar(select(func.coalesce(func.sum(Guarantee.exposure), 0)).where(
        Guarantee.agreement_id == agreement_id, Guarantee.enterprise_id == enterprise_id,
        Guarantee.status.in_(HOLDING_QUOTA))) or Decimal("0.00")


def reserve(placement: Placement) -> tuple[Guarantee, Outcome]:
    """Place a pending guarantee in the agreement's open batch and reserve its quota, atomically: the agreement
    row stays locked until the caller commits, so concurrent approvals queue instead of oversubscribing. A batch
    this fills is submitted at once: → the guarantee and what that submission decided (见贷即保 approvals)."""
    agreement = _locked(placement.agreement_id)
    amount = placement.amount
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
    elif enterprise_exposure(agreement.id, placement.enterprise_id) + amount > agreement.per_enterprise_cap:
        problem = _("The enterprise would pass the agreement's per-enterprise cap of %(cap)s.",
                    cap=f"{agreement.per_enterprise_cap:,.2f}")
    if problem:
        raise GuaranteeUnavailable(problem)

    # Locked, so that the cut-off cannot submit the batch between this read and the insert below (it locks the
    # open batch too); a batch it submitted first no longer matches, and a new one is opened.
    batch = db.session.scalar(db.locking(select(Batch).where(Batch.agreement_id == agreement.id,
                                                             Batch.status == BatchStatus.OPEN)))
    if batch is None:
        batch = Batch(agreement=agreement)
        db.session.add(batch)
        db.session.flush()
    db.locked(batch)
    guarantee = Guarantee(agreement_id=agreement.id, batch_id=batch.id, application_id=placement.application_id,
                          enterprise_id=placement.enterprise_id, amount=amount, exposure=amount,
                          term_months=placement.term_months, list_fee_rate=placement.list_fee_rate,
                          fee_rate=placement.fee_rate, subsidy_rate=placement.subsidy_rate,
                          applied_rules=list(placement.applied_rules or []))
    db.session.add(guarantee)
    agreement.quota_reserved += amount
    db.session.flush()
    if _item_count(batch.id) >= agreement.batch_max_size:
        return guarantee, submit_batch(batch)
    return guarantee, NOTHING


def _item_count(batch_id: int) -> int:
    return db.session.scalar(select(func.count(Guarantee.id)).where(Guarantee.batch_id == batch_id))


def submit_batch(batch: Batch) -> Outcome:
    """Close an open batch for review; loans under the agreement's 见贷即保 threshold are backed at once (their
    guarantees become approved when financing has made their loans: `approve_backed`)."""
    states.move(batch, BatchStatus.SUBMITTED, BATCH_TRANSITIONS, refuse=lambda status: _(
        "Batch %(id)d is already %(status)s.", id=batch.id, status=state_word(status)))
    batch.submitted_at = db.utcnow()
    db.session.flush()
    timeline.record_for(timeline.BATCH_SUBMITTED, select(Guarantee.application_id).where(
        Guarantee.batch_id == batch.id), by=None, batch_id=batch.id, agreement=batch.agreement.code)
    count, total = batch_totals([batch.id]).get(batch.id, (0, Decimal("0.00")))
    notify("batch.submitted", batch.agreement.agency_id, N_("Batch %(id)d is ready for review"),
           N_("Batch %(id)d of agreement %(code)s: %(count)d guarantees, %(total)s in all. Review it within the "
              "agreement's %(sla)s working days."),
           f"/agency/batches/{batch.id}", id=batch.id, code=batch.agreement.code, count=count, total=yuan(total),
           sla=batch.agreement.review_sla_days if batch.agreement.review_sla_days is not None else "—")
    threshold = batch.agreement.auto_approve_below
    if threshold is None:
        return NOTHING
    backed = tuple(db.session.scalars(select(Guarantee.application_id).where(
        Guarantee.batch_id == batch.id, Guarantee.status == GuaranteeStatus.PENDING, Guarantee.amount < threshold)
        .order_by(Guarantee.id)))
    timeline.record_for(timeline.GUARANTEE_APPROVED, select(Guarantee.application_id).where(
        Guarantee.batch_id == batch.id, Guarantee.status == GuaranteeStatus.PENDING, Guarantee.amount < threshold),
        by=None, batch_id=batch.id, automatic=True)
    return Outcome(backed=backed)


def decide_batch(batch: Batch, user: User, exclusions: list[dict[str, Any]]) -> Outcome:
    """The agency's decision: the excluded items are rejected with their reasons and their quota released; every
    other pending item is backed, and becomes approved when financing has made its loan (`approve_backed`, in the
    same transaction). Set-based: a handful of statements whatever the batch size. The agreement, then the batch,
    are locked before anything is read, so a second decision (a double click, the SLA job) waits and then finds
    the batch decided."""
    agreement = _locked(batch.agreement_id)
    states.move(batch, BatchStatus.DECIDED, BATCH_TRANSITIONS, refuse=lambda status: _(
        "Only a submitted batch can be decided; batch %(id)d is %(status)s.", id=batch.id, status=state_word(status)))
    now = db.utcnow()
    batch.decided_at, batch.decided_by_id = now, user.id
    reasons = {item["guarantee_id"]: item["reason"] for item in exclusions}
    pending = dict(db.session.execute(select(Guarantee.id, Guarantee.application_id).where(
        Guarantee.batch_id == batch.id, Guarantee.status == GuaranteeStatus.PENDING)).all())
    if unknown := sorted(set(reasons) - set(pending)):
        raise ValidationFailed(errors={"exclusions": [_("Not pending items of this batch: %(ids)s.",
                                                        ids=", ".join(map(str, unknown)))]})
    if reasons:
        released = db.session.scalar(select(func.sum(Guarantee.amount)).where(Guarantee.id.in_(reasons)))
        states.move_rows(Guarantee, reasons, GuaranteeStatus.REJECTED, GUARANTEE_TRANSITIONS,
                         per_row={gid: {"reason": reason} for gid, reason in reasons.items()},
                         exposure=Decimal("0.00"), decided_at=now)
        agreement.quota_reserved -= released
    db.session.flush()
    timeline.record_each(timeline.GUARANTEE_EXCLUDED, ((pending[gid], {"batch_id": batch.id, "reason": reason})
                                                       for gid, reason in reasons.items()), by=user)
    timeline.record_for(timeline.GUARANTEE_APPROVED, select(Guarantee.application_id).where(
        Guarantee.batch_id == batch.id, Guarantee.status == GuaranteeStatus.PENDING), by=user, batch_id=batch.id)
    notify("batch.decided", agreement.bank_id, N_("Batch %(id)d is decided"),
           N_("%(agency)s decided batch %(id)d of agreement %(code)s: %(approved)d guarantees approved, %(excluded)d "
              "excluded."), "/bank/applications?status=approved", id=batch.id, code=agreement.code,
           agency=agreement.agency, approved=len(pending) - len(reasons), excluded=len(reasons))
    return Outcome(backed=tuple(application for gid, application in pending.items() if gid not in reasons),
                   refused=tuple(Refusal(pending[gid], reason) for gid, reason in reasons.items()))


def approve_backed(loan_of_application: dict[int, int]) -> None:
    """The backed guarantees (pending, of these applications) become approved, each with the loan financing made
    for it (application id → loan id): status and loan in one statement on PostgreSQL (the pairs as two arrays),
    an executemany on SQLite; one audit entry a guarantee. IllegalTransition if any is no longer pending."""
    if not loan_of_application:
        return
    table, now = Guarantee.__table__, db.utcnow()
    applications, loans = (list(column) for column in zip(*sorted(loan_of_application.items()), strict=True))
    pending = table.c.status == GuaranteeStatus.PENDING
    approved = {"status": GuaranteeStatus.APPROVED, "decided_at": now}
    if db.session.get_bind().dialect.name == "postgresql":
        pairs = select(func.unnest(bindparam("applications", applications, ARRAY(Integer))).label("application"),
                       func.unnest(bindparam("loans", loans, ARRAY(Integer))).label("loan")).subquery()
        moved = list(db.session.scalars(update(table).where(table.c.application_id == pairs.c.application, pending)
                                        .values(loan_id=pairs.c.loan, **approved).returning(table.c.id)))
    else:
        db.session.execute(update(table).where(table.c.application_id == bindparam("application"), pending)
                           .values(loan_id=bindparam("loan"), **approved),
                           [{"application": a, "loan": loan} for a, loan in zip(applications, loans, strict=True)])
        moved = list(db.session.scalars(select(table.c.id).where(
            table.c.application_id.in_(applications), table.c.status == GuaranteeStatus.APPROVED,
            table.c.decided_at == now)))
    if len(moved) != len(applications):
        raise IllegalTransition(_("%(object)s %(ids)s cannot become %(target)s from the status they are in now.",
                                  object="guarantees", ids=", ".join(map(str, applications)),
                                  target=state_word(GuaranteeStatus.APPROVED)))
    audit.record_selected("guarantee.approved", "guarantee", select(table.c.id).where(db.among(table.c.id, moved)),
                          {"status": [GuaranteeStatus.PENDING, GuaranteeStatus.APPROVED], "decided_at": now})
    db.session.expire_all()  # what the session holds of these guarantees predates the UPDATE


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


# Loan events that move the quota ------------------------------------------------------------------------------

def applications_of_agency(agency_id: int) -> Select[tuple[int]]:
    """The applications whose guarantee an agency was asked for (any outcome)."""
    return select(Guarantee.application_id).join(Agreement, Agreement.id == Guarantee.agreement_id).where(
        Agreement.agency_id == agency_id)


def guarantee_of_loan(loan_id: int) -> Guarantee | None:
    # Read afresh: the caller holds the loan's lock, and an object loaded earlier may predate it.
    return db.session.scalar(select(Guarantee).where(Guarantee.loan_id == loan_id)
                             .execution_options(populate_existing=True))


def on_disbursed(guarantee: Guarantee, loan: LoanFacts, disbursed_on: dt.date) -> None:
    """Reserved quota becomes outstanding; the principal counts towards the agreement's guaranteed total; the
    guarantee fee is fixed and posted."""
    agreement = _locked(guarantee.agreement_id)
    states.move(guarantee, GuaranteeStatus.ACTIVE, GUARANTEE_TRANSITIONS, refuse=lambda status: _(
        "The loan's guarantee is %(status)s, not approved.", status=state_word(status)))
    agreement.quota_reserved -= guarantee.amount
    agreement.quota_outstanding += loan.principal
    agreement.guaranteed_total += loan.principal
    guarantee.exposure = loan.principal
    charge_fee(guarantee, agreement.agency_id, loan, disbursed_on)
    db.session.flush()


def on_repaid(guarantee: Guarantee, principal_repaid: Decimal) -> None:
    """Outstanding quota is released by exactly the principal repaid; a fully repaid loan releases its guarantee."""
    agreement = _locked(guarantee.agreement_id)
    db.lock(guarantee)
    agreement.quota_outstanding -= principal_repaid
    guarantee.exposure -= principal_repaid
    if guarantee.exposure == 0:
        states.move(guarantee, GuaranteeStatus.RELEASED, GUARANTEE_TRANSITIONS)
    db.session.flush()


def on_closed(guarantee: Guarantee) -> None:
    """The defaulted loan is settled in full (recovered): its guarantee closes."""
    states.move(guarantee, GuaranteeStatus.CLOSED, GUARANTEE_TRANSITIONS)
    db.session.flush()
