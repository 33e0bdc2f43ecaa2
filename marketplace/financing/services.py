"""Financing requests through to loans. Services flush; the request, job or command commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, insert, select
from sqlalchemy.orm import lazyload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from guarantees import services as guarantees
from guarantees.models import Batch
from guarantees.services import GuaranteeUnavailable, Outcome, Placement, approve_backed, reserve
from marketplace import db, outbox, states
from marketplace.auth.models import Role, User
from marketplace.dates import business_today
from marketplace.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, one_or_404
from marketplace.fees.services import rules_in_force
from marketplace.financing import matching as loader
from marketplace.financing.loans import create_loans, is_first_loan
from marketplace.financing.models import (
    APPLICATION_TRANSITIONS,
    REQUEST_TRANSITIONS,
    Application,
    ApplicationStatus,
    FinancingRequest,
    Loan,
    Offer,
    RequestStatus,
)
from marketplace.financing.reasons import sentence
from marketplace.lpr.services import rates_on
from marketplace.matching import Need, Rates, explain, guarantee_terms, rank_offers
from marketplace.orgs.models import Enterprise, Tier


def create_request(user: User, data: dict[str, Any]) -> FinancingRequest:
    """File a request and match it: ranked, priced offers and the reasons for what was left out."""
    enterprise = db.session.get(Enterprise, user.organization_id)
    today = business_today()
    lpr = rates_on(today)
    if lpr is None:
        raise Conflict(_("No LPR is recorded yet, so loans cannot be priced; the finance office must publish it."))
    types = data.get("product_types")
    need = Need(amount=data["amount"], term_months=data["term_months"], tier=enterprise.tier_on(today).value,
                region_code=enterprise.region_code, accept_guarantee=data["accept_guarantee"],
                product_types=frozenset(t.value for t in types) if types else None)

    candidates = loader.load_candidates(need)
    if need.accept_guarantee:
        wanting = [c for c in candidates if c.guarantee != "none"]
        facts = loader.load_agreement_facts({c.bank_id for c in wanting}, enterprise.id)
        fee_rules = rules_in_force(today) if facts else []
        if any(rule.first_loan for rule in fee_rules):
            need = replace(need, first_loan=is_first_loan(enterprise.id))
        candidates = [replace(c, agreements=guarantee_terms(need, c.bank_id, c.product_type, facts, fee_rules))
                      if c.guarantee != "none" else c for c in candidates]
    offers, guarantee_reasons = rank_offers(need, candidates, Rates(lpr.lpr_1y, lpr.lpr_5y))
    offers = offers[:loader.OFFER_LIMIT]
    worst_spread = max((o.candidate.spread_bp for o in offers), default=None)
    largest, smallest = loader.amount_bounds(need)
    reasons = explain(need, loader.load_near_misses(need, worst_spread), offered=len(offers),
                      any_published=largest is not None, largest_amount=largest, smallest_amount=smallest)

    request = FinancingRequest(
        enterprise_id=enterprise.id, created_by_id=user.id, amount=need.amount, term_months=need.term_months,
        purpose=data["purpose"], accept_guarantee=need.accept_guarantee,
        product_types=sorted(need.product_types) if need.product_types else None, tier_at_request=Tier(need.tier),
        lpr_effective_on=lpr.effective_on, unmatched_reasons=[sentence(r) for r in reasons + guarantee_reasons])
    db.session.add(request)
    db.session.flush()
    made = []
    if offers:  # one statement inserts all offers and returns them, on every backend (NULLs rendered, not grouped)
        made = db.session.scalars(insert(Offer).returning(Offer).execution_options(render_nulls=True), [dict(
            request_id=request.id, rank=o.rank, product_id=o.candidate.product_id,
            product_name=o.candidate.product_name, product_type=o.candidate.product_type,
            bank_id=o.candidate.bank_id, bank_name=o.candidate.bank_name, agreement_id=o.agreement_id,
            amount=need.amount, term_months=need.term_months, rate_spread_bp=o.candidate.spread_bp,
            interest_rate=o.interest_rate, list_fee_rate=o.list_fee_rate, guarantee_fee_rate=o.guarantee_fee_rate,
            fee_subsidy_rate=o.fee_subsidy_rate, all_in_rate=o.all_in_rate, applied_rules=list(o.applied_rules))
            for o in offers]).all()
    set_committed_value(request, "offers", sorted(made, key=lambda offer: offer.rank))  # no query to read them back
    set_committed_value(request, "application", None)  # a new request has none: no query to find that out
    return request


def _refuse(target: RequestStatus) -> Callable[[RequestStatus], str]:
    return lambda status: _("A request that is %(status)s cannot become %(target)s.", status=status.value,
                            target=target.value)


def _move(request: FinancingRequest, target: RequestStatus) -> None:
    states.move(request, target, REQUEST_TRANSITIONS, refuse=_refuse(target))


def select_offer(request: FinancingRequest, offer_id: int) -> Application:
    """Route the request to the bank of the chosen offer, as an application in that bank's queue."""
    db.lock(request)
    offer = next((o for o in request.offers if o.id == offer_id), None)
    if offer is None:
        raise ValidationFailed(errors={"offer_id": [_("Choose one of this request's offers.")]})
    if (tier := request.enterprise.tier) is not request.tier_at_request:
        raise Conflict(_("These offers were made for a %(then)s enterprise; its certified tier is now %(now)s (a "
                         "certification expired or changed). Ask again to see the offers that apply today.",
                         then=request.tier_at_request.value, now=tier.value))
    _move(request, RequestStatus.ROUTED)
    application = Application(request=request, offer=offer, bank_id=offer.bank_id)
    db.session.add(application)
    db.session.flush()
    for nothing_yet in ("loan", "guarantee"):  # a new application has neither: no query to find that out
        set_committed_value(application, nothing_yet, None)
    outbox.enqueue(application.bank, outbox.APPLICATION_SUBMITTED, str(application.id), "/applications",
                   outbox.application_payload(application))
    return application


def withdraw(request: FinancingRequest, *, only_from: RequestStatus | None = None) -> FinancingRequest:
    """The enterprise withdraws before the bank decides; a routed application leaves the bank's queue.
    `only_from`: withdraw only a request still in that status once locked (the scheduler's tier expiry)."""
    db.lock(request, *([request.application] if request.application is not None else []))
    if only_from is not None and request.status is not only_from:
        raise IllegalTransition(_refuse(RequestStatus.WITHDRAWN)(request.status))
    _move(request, RequestStatus.WITHDRAWN)
    if request.application is not None:
        states.move(request.application, ApplicationStatus.WITHDRAWN, APPLICATION_TRANSITIONS)
    db.session.flush()
    return request


def decide(application: Application, user: User, data: dict[str, Any]) -> Application:
    """The bank's decision. Approving an offer without a guarantee creates the loan at once; with a guarantee it
    reserves the agreement's quota and places a pending guarantee in the agreement's open batch, or, when the
    quota or caps do not allow it, marks the application guarantee_unavailable and raises GuaranteeUnavailable
    (which keeps that outcome: the transaction commits before the 409 is answered)."""
    db.lock(application.request, application)  # a concurrent decision or withdrawal waits, then finds it decided
    if application.status is not ApplicationStatus.SUBMITTED:
        raise IllegalTransition(_("This application is already %(status)s.", status=application.status.value))
    request, offer = application.request, application.offer
    application.decided_by_id, application.decided_at = user.id, db.utcnow()
    application.reason = data.get("reason")
    if data["decision"] == "declined":
        states.move(application, ApplicationStatus.DECLINED, APPLICATION_TRANSITIONS)
        _move(request, RequestStatus.DECLINED)
        db.session.flush()
        return application

    amount = data.get("approved_amount") or request.amount
    spread = data["rate_spread_bp"] if data.get("rate_spread_bp") is not None else offer.rate_spread_bp
    if amount > request.amount:
        raise ValidationFailed(errors={"approved_amount": [
            _("The approved amount cannot exceed the %(amount)s requested.", amount=f"{request.amount:,.2f}")]})
    lpr = rates_on(business_today())
    application.approved_amount, application.rate_spread_bp = amount, spread
    application.interest_rate = Rates(lpr.lpr_1y, lpr.lpr_5y).interest(request.term_months, spread)
    if offer.agreement_id is None:
        states.move(application, ApplicationStatus.APPROVED, APPLICATION_TRANSITIONS)
        _move(request, RequestStatus.APPROVED)
        db.session.flush()
        create_loans([application.id])
        db.session.expire(application, ["loan"])
        return application
    try:
        _guarantee, submitted = reserve(Placement(
            application_id=application.id, agreement_id=offer.agreement_id, enterprise_id=request.enterprise_id,
            amount=amount, term_months=request.term_months, list_fee_rate=offer.list_fee_rate,
            fee_rate=offer.guarantee_fee_rate, subsidy_rate=offer.fee_subsidy_rate,
            applied_rules=list(offer.applied_rules or [])))
    except GuaranteeUnavailable as error:
        states.move(application, ApplicationStatus.GUARANTEE_UNAVAILABLE, APPLICATION_TRANSITIONS)
        application.reason = error.detail
        _move(request, RequestStatus.DECLINED)
        db.session.flush()
        raise
    states.move(application, ApplicationStatus.APPROVED, APPLICATION_TRANSITIONS)
    _move(request, RequestStatus.APPROVED)
    db.session.flush()
    apply_guarantee_outcome(submitted)  # this approval filled the batch, which was submitted (见贷即保 approvals)
    db.session.expire(application, ["guarantee", "loan"])
    return application


def apply_guarantee_outcome(outcome: Outcome) -> None:
    """What the agency (or its 见贷即保 terms) decided, applied to financing's rows: each backed application gets
    its loan (and guarantees then approves its guarantee with that loan); each refused one becomes
    guarantee_unavailable and its request declined. Set-based, one audit entry a row, every move checked against
    its lifecycle."""
    if outcome.refused:
        refused = [refusal.application_id for refusal in outcome.refused]
        states.move_rows(Application, refused, ApplicationStatus.GUARANTEE_UNAVAILABLE, APPLICATION_TRANSITIONS)
        requests = db.session.scalars(select(Application.request_id).where(Application.id.in_(refused))).all()
        states.move_rows(FinancingRequest, requests, RequestStatus.DECLINED, REQUEST_TRANSITIONS)
    if outcome.backed:
        approve_backed(create_loans(outcome.backed))
    db.session.flush()


def submit_batch(batch: Batch) -> Batch:
    """Close an open batch for the agency's review, and give the loans it approves at once (见贷即保) their loans."""
    apply_guarantee_outcome(guarantees.submit_batch(batch))
    return batch


def decide_batch(batch: Batch, user: User, exclusions: list[dict[str, Any]]) -> Batch:
    """The agency's decision on a submitted batch, carried through to the loans and requests behind it."""
    apply_guarantee_outcome(guarantees.decide_batch(batch, user, exclusions))
    return batch


# Reading, scoped to who asks ----------------------------------------------------------------------------

def visible_requests(user: User) -> Select[tuple[FinancingRequest]]:
    # A request's application points back at the request and at one of its offers, both loaded already: read them
    # from the session rather than joining them again (with the enterprise and its certification) in the load.
    query = select(FinancingRequest).options(
        selectinload(FinancingRequest.application).options(lazyload(Application.request), lazyload(Application.offer)))
    if user.role is Role.ENTERPRISE:
        return query.where(FinancingRequest.enterprise_id == user.organization_id)
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_request(user: User, request_id: int, *, for_change: bool = False) -> FinancingRequest:
    """One request the user may see; `for_change` locks its row as it is read (for a selection or withdrawal, which
    would otherwise lock it in a statement of their own)."""
    query = visible_requests(user).where(FinancingRequest.id == request_id)
    request = one_or_404(db.locking(query) if for_change else query, _("No financing request %(id)d.", id=request_id))
    if for_change:
        db.locked(request)
    return request


def visible_applications(user: User) -> Select[tuple[Application]]:
    query = select(Application)
    if user.role is Role.BANK:
        return query.where(Application.bank_id == user.organization_id)
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_application(user: User, application_id: int) -> Application:
    return one_or_404(visible_applications(user).where(Application.id == application_id),
                      _("No application %(id)d.", id=application_id))


def get_loan(user: User, loan_id: int) -> Loan:
    loan = db.session.get(Loan, loan_id)
    visible = loan is not None and (
        user.role is Role.ADMIN
        or (user.role is Role.BANK and loan.bank_id == user.organization_id)
        or (user.role is Role.ENTERPRISE and loan.enterprise_id == user.organization_id))
    if not visible:
        raise NotFound(_("No loan %(id)d.", id=loan_id))
    return loan

