"""Financing requests through to loans. Services flush; the request, job or command commits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, String, cast, func, insert, literal, or_, select
from sqlalchemy.orm import lazyload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from guarantees import services as guarantees
from guarantees.models import Batch
from guarantees.services import GuaranteeUnavailable, Outcome, Placement, approve_backed, reserve
from marketplace import db, outbox, states, timeline
from marketplace.auth.models import Role, User
from marketplace.dates import business_today, working_days_after
from marketplace.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, one_or_404
from marketplace.fees.rules import Subject, price
from marketplace.fees.services import rules_in_force
from marketplace.financing import matching as loader
from marketplace.financing.loans import create_loans, is_first_loan
from marketplace.financing.models import (
    APPLICATION_TRANSITIONS,
    REQUEST_TRANSITIONS,
    Application,
    ApplicationStatus,
    CounterOffer,
    FinancingRequest,
    Loan,
    Offer,
    RequestStatus,
)
from marketplace.financing.reasons import stored
from marketplace.i18n import N_, Names, percent, state_word, yuan
from marketplace.lpr.services import rates_on
from marketplace.matching import Need, Rates, explain, guarantee_terms, rank_offers
from marketplace.notifications.services import notify, notify_each
from marketplace.orgs.models import Enterprise, Tier
from marketplace.timeline import TimelineEvent


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
        lpr_effective_on=lpr.effective_on, unmatched_reasons=[stored(r) for r in reasons + guarantee_reasons])
    db.session.add(request)
    db.session.flush()
    made = []
    if offers:  # one statement inserts all offers and returns them, on every backend (NULLs rendered, not grouped)
        made = db.session.scalars(insert(Offer).returning(Offer).execution_options(render_nulls=True), [dict(
            request_id=request.id, rank=o.rank, product_id=o.candidate.product_id,
            product_name=o.candidate.product_name, product_name_en=o.candidate.product_name_en,
            product_type=o.candidate.product_type, bank_id=o.candidate.bank_id, bank_name=o.candidate.bank_name,
            bank_name_en=o.candidate.bank_name_en, agreement_id=o.agreement_id,
            amount=need.amount, term_months=need.term_months, rate_spread_bp=o.candidate.spread_bp,
            interest_rate=o.interest_rate, list_fee_rate=o.list_fee_rate, guarantee_fee_rate=o.guarantee_fee_rate,
            fee_subsidy_rate=o.fee_subsidy_rate, all_in_rate=o.all_in_rate, applied_rules=list(o.applied_rules))
            for o in offers]).all()
    set_committed_value(request, "offers", sorted(made, key=lambda offer: offer.rank))  # no query to read them back
    set_committed_value(request, "applications", [])  # a new request has none: no query to find that out
    timeline.record(timeline.FILED, by=user, request_id=request.id, amount=request.amount,
                    term_months=request.term_months, offers=len(made))
    return request


def _refuse(target: RequestStatus) -> Callable[[RequestStatus], str]:
    return lambda status: _("A request that is %(status)s cannot become %(target)s.", status=state_word(status),
                            target=state_word(target))


def _move(request: FinancingRequest, target: RequestStatus) -> None:
    states.move(request, target, REQUEST_TRANSITIONS, refuse=_refuse(target))


def select_offer(request: FinancingRequest, offer_id: int, user: User | None = None) -> Application:
    """Route the request to the bank of the chosen offer, as an application in that bank's queue. After a decline, a
    refused guarantee or a counter-offer declined or lapsed, the enterprise may choose another offer of the same
    request, while the offers are valid."""
    db.lock(request)
    offer = next((o for o in request.offers if o.id == offer_id), None)
    if offer is None:
        raise ValidationFailed(errors={"offer_id": [_("Choose one of this request's offers.")]})
    if request.status in (RequestStatus.OPEN, RequestStatus.DECLINED) and business_today() > request.offers_valid_until:
        raise Conflict(_("These offers were valid until %(day)s. File a new request to see today's offers.",
                         day=request.offers_valid_until.isoformat()))
    if (tier := request.enterprise.tier) is not request.tier_at_request:
        raise Conflict(_("These offers were made for a %(then)s enterprise; its certified tier is now %(now)s (a "
                         "certification expired or changed). Ask again to see the offers that apply today.",
                         then=request.tier_at_request.value, now=tier.value))
    _move(request, RequestStatus.ROUTED)
    if any(application.offer_id == offer.id for application in request.applications):
        raise ValidationFailed(errors={"offer_id": [_(
            "%(bank)s has already answered this offer; choose another.", bank=offer.bank_name)]})
    today = business_today()
    application = Application(request=request, offer=offer, bank_id=offer.bank_id, respond_by=working_days_after(
        today, current_app.config["RESPONSE_WORKING_DAYS"]))
    db.session.add(application)
    db.session.flush()
    for nothing_yet in ("loan", "guarantee", "counter"):  # a new application has none: no query to find that out
        set_committed_value(application, nothing_yet, None)
    timeline.record(timeline.OFFER_CHOSEN, by=user, request_id=request.id, application_id=application.id,
                    bank=offer.bank_name, product=offer.product_name, all_in_rate=offer.all_in_rate)
    notify("application.submitted", offer.bank_id, N_("New application %(id)d from %(enterprise)s"),
           N_("%(enterprise)s applies for %(amount)s over %(months)d months (%(product)s). Answer by %(day)s."),
           f"/bank/applications/{application.id}", id=application.id, enterprise=request.enterprise,
           amount=yuan(request.amount), months=request.term_months,
           product=Names(offer.product_name, offer.product_name_en),
           day=application.respond_by.isoformat())
    outbox.enqueue(application.bank, outbox.APPLICATION_SUBMITTED, str(application.id), "/applications",
                   outbox.application_payload(application))
    return application


LIVE = (ApplicationStatus.SUBMITTED, ApplicationStatus.COUNTERED)


def withdraw(request: FinancingRequest, *, only_from: RequestStatus | None = None,
             user: User | None = None, reason: dict[str, Any] | None = None) -> FinancingRequest:
    """The enterprise withdraws before the bank decides (or instead of answering its counter-offer); a live
    application leaves the bank's queue. `only_from`: withdraw only a request still in that status once locked (the
    scheduler's tier expiry), saying why in `reason` (a code, see `reasons.status_sentence`)."""
    live = request.application if request.application is not None and request.application.status in LIVE else None
    db.lock(request, *([live] if live is not None else []))
    if only_from is not None and request.status is not only_from:
        raise IllegalTransition(_refuse(RequestStatus.WITHDRAWN)(request.status))
    _move(request, RequestStatus.WITHDRAWN)
    if live is not None:
        states.move(live, ApplicationStatus.WITHDRAWN, APPLICATION_TRANSITIONS)
    if reason is not None:
        request.status_reason = json.dumps(reason)
    timeline.record(timeline.WITHDRAWN, by=user, request_id=request.id, reason=reason or request.status_reason)
    db.session.flush()
    return request


@dataclass(frozen=True)
class Terms:
    """What an approval lends at: the offer's terms, or a counter-offer's."""
    amount: Decimal
    spread_bp: int
    interest_rate: Decimal
    list_fee_rate: Decimal
    fee_rate: Decimal
    subsidy_rate: Decimal
    applied_rules: list[dict]


def decide(application: Application, user: User, data: dict[str, Any]) -> Application:
    """The bank's decision. A decline says why. An approval at the offer's amount and spread goes on at once
    (`_approve`); any other approval is a counter-offer the enterprise answers, with nothing reserved until it
    accepts."""
    db.lock(application.request, application)  # a concurrent decision or withdrawal waits, then finds it decided
    if application.status is not ApplicationStatus.SUBMITTED:
        raise IllegalTransition(_("This application is already %(status)s.", status=state_word(application.status)))
    request, offer = application.request, application.offer
    application.decided_by_id, application.decided_at = user.id, db.utcnow()
    application.reason = (data.get("reason") or "").strip() or None
    if data["decision"] == "declined":
        states.move(application, ApplicationStatus.DECLINED, APPLICATION_TRANSITIONS)
        _move(request, RequestStatus.DECLINED)
        timeline.record(timeline.DECLINED, by=user, request_id=request.id, application_id=application.id,
                        reason=application.reason)
        _tell_enterprise_ended(application, N_("%(bank)s declined application %(id)d"),
                               N_("%(bank)s declined: %(reason)s"))
        db.session.flush()
        return application

    amount = data.get("approved_amount") or offer.amount
    spread = data["rate_spread_bp"] if data.get("rate_spread_bp") is not None else offer.rate_spread_bp
    if amount > offer.amount:
        raise ValidationFailed(errors={"approved_amount": [
            _("The approved amount cannot exceed the %(amount)s offered.", amount=f"{offer.amount:,.2f}")]})
    lpr = rates_on(business_today())
    rate = Rates(lpr.lpr_1y, lpr.lpr_5y).interest(request.term_months, spread)
    if amount == offer.amount and spread == offer.rate_spread_bp:
        timeline.record(timeline.APPROVED, by=user, request_id=request.id, application_id=application.id,
                        amount=amount, interest_rate=rate, reason=application.reason)
        return _approve(application, user, Terms(amount, spread, rate, offer.list_fee_rate, offer.guarantee_fee_rate,
                                                 offer.fee_subsidy_rate, list(offer.applied_rules or [])))
    if application.reason is None:
        raise ValidationFailed(errors={"reason": [_(
            "Other terms than the offer's are a counter-offer: tell the enterprise why.")]})
    return _counter(application, user, amount, spread, rate)


def _counter(application: Application, user: User, amount: Decimal, spread: int, rate: Decimal) -> Application:
    request, offer = application.request, application.offer
    list_fee, fee, subsidy, rules = offer.list_fee_rate, offer.guarantee_fee_rate, offer.fee_subsidy_rate, \
        list(offer.applied_rules or [])
    if offer.agreement_id is not None and amount != offer.amount:  # the fee-reduction rules may see another amount
        pricing = price(offer.list_fee_rate, Subject(
            tier=request.tier_at_request.value, region_code=request.enterprise.region_code,
            product_type=offer.product_type, amount=amount, first_loan=is_first_loan(request.enterprise_id)),
            rules_in_force(business_today()))
        fee, subsidy, rules = pricing.fee_rate, pricing.subsidy_rate, list(pricing.applied_rules)
    counter = CounterOffer(
        application_id=application.id, amount=amount, rate_spread_bp=spread, interest_rate=rate,
        list_fee_rate=list_fee, guarantee_fee_rate=fee if offer.agreement_id else Decimal("0"),
        fee_subsidy_rate=subsidy if offer.agreement_id else Decimal("0"), applied_rules=rules,
        all_in_rate=rate + (fee if offer.agreement_id else Decimal("0")), reason=application.reason,
        expires_on=working_days_after(business_today(), current_app.config["COUNTER_OFFER_WORKING_DAYS"]),
        made_by_id=user.id)
    db.session.add(counter)
    states.move(application, ApplicationStatus.COUNTERED, APPLICATION_TRANSITIONS)
    db.session.flush()
    application.counter = counter
    timeline.record(timeline.COUNTERED, by=user, request_id=request.id, application_id=application.id,
                    amount=amount, spread_bp=spread, interest_rate=rate, all_in_rate=counter.all_in_rate,
                    reason=counter.reason, expires_on=counter.expires_on)
    notify("application.countered", request.enterprise_id, N_("%(bank)s offers other terms"),
           N_("%(bank)s would lend %(amount)s at %(rate)s a year (all-in %(all_in)s) instead of the offer's terms: "
              "%(reason)s. Accept or decline by %(day)s."),
           f"/enterprise/requests/{request.id}", bank=Names(offer.bank_name, offer.bank_name_en), amount=yuan(amount),
           rate=percent(rate),
           all_in=percent(counter.all_in_rate), reason=counter.reason, day=counter.expires_on.isoformat())
    return application


def _approve(application: Application, user: User, terms: Terms) -> Application:
    """An approval at `terms`. Without a guarantee it creates the loan at once; with one it reserves the
    agreement's quota and places a pending guarantee in the agreement's open batch, or, when the quota or caps do
    not allow it, marks the application guarantee_unavailable and raises GuaranteeUnavailable (which keeps that
    outcome: the transaction commits before the 409 is answered)."""
    request, offer = application.request, application.offer
    application.approved_amount, application.rate_spread_bp = terms.amount, terms.spread_bp
    application.interest_rate = terms.interest_rate
    if offer.agreement_id is None:
        states.move(application, ApplicationStatus.APPROVED, APPLICATION_TRANSITIONS)
        _move(request, RequestStatus.APPROVED)
        db.session.flush()
        create_loans([application.id])
        db.session.expire(application, ["loan"])
        _tell_enterprise_approved(application)
        return application
    try:
        guarantee, submitted = reserve(Placement(
            application_id=application.id, agreement_id=offer.agreement_id, enterprise_id=request.enterprise_id,
            amount=terms.amount, term_months=request.term_months, list_fee_rate=terms.list_fee_rate,
            fee_rate=terms.fee_rate, subsidy_rate=terms.subsidy_rate, applied_rules=terms.applied_rules))
    except GuaranteeUnavailable as error:
        states.move(application, ApplicationStatus.GUARANTEE_UNAVAILABLE, APPLICATION_TRANSITIONS)
        application.reason = error.detail
        _move(request, RequestStatus.DECLINED)
        timeline.record(timeline.GUARANTEE_UNAVAILABLE, by=user, request_id=request.id,
                        application_id=application.id, reason=error.detail)
        _tell_enterprise_ended(application, N_("No guarantee for application %(id)d"),
                               N_("%(bank)s approved, but the guarantee agreement cannot take the loan: %(reason)s"))
        db.session.flush()
        raise
    states.move(application, ApplicationStatus.APPROVED, APPLICATION_TRANSITIONS)
    _move(request, RequestStatus.APPROVED)
    timeline.record(timeline.GUARANTEE_PLACED, by=user, request_id=request.id, application_id=application.id,
                    batch_id=guarantee.batch_id, amount=terms.amount, fee_rate=terms.fee_rate)
    db.session.flush()
    apply_guarantee_outcome(submitted)  # this approval filled the batch, which was submitted (见贷即保 approvals)
    db.session.expire(application, ["guarantee", "loan"])
    _tell_enterprise_approved(application)
    return application


def accept_counter(application: Application, user: User) -> Application:
    """The enterprise accepts the bank's counter-offer: the application goes on as an approval at its terms."""
    counter = _answerable(application)
    counter.answered_by_id, counter.answered_at = user.id, db.utcnow()
    timeline.record(timeline.COUNTER_ACCEPTED, by=user, request_id=application.request_id,
                    application_id=application.id, amount=counter.amount, interest_rate=counter.interest_rate)
    _tell_bank_answered(application, N_("%(enterprise)s accepted your counter-offer"),
                        N_("%(enterprise)s accepted %(amount)s at %(rate)s a year for application %(id)d."))
    return _approve(application, user, Terms(counter.amount, counter.rate_spread_bp, counter.interest_rate,
                                             counter.list_fee_rate, counter.guarantee_fee_rate,
                                             counter.fee_subsidy_rate, list(counter.applied_rules or [])))


def decline_counter(application: Application, user: User, reason: str | None) -> Application:
    """The enterprise declines the counter-offer; it may then choose another offer of its request."""
    counter = _answerable(application)
    counter.answered_by_id, counter.answered_at = user.id, db.utcnow()
    counter.answer_reason = (reason or "").strip() or None
    states.move(application, ApplicationStatus.COUNTER_DECLINED, APPLICATION_TRANSITIONS)
    _move(application.request, RequestStatus.DECLINED)
    timeline.record(timeline.COUNTER_DECLINED, by=user, request_id=application.request_id,
                    application_id=application.id, reason=counter.answer_reason)
    _tell_bank_answered(application, N_("%(enterprise)s declined your counter-offer"),
                        N_("%(enterprise)s declined %(amount)s at %(rate)s a year for application %(id)d."))
    db.session.flush()
    return application


def _answerable(application: Application) -> CounterOffer:
    db.lock(application.request, application)
    counter = application.counter
    if application.status is not ApplicationStatus.COUNTERED or counter is None:
        raise IllegalTransition(_("There is no counter-offer waiting for an answer: application %(id)d is "
                                  "%(status)s.", id=application.id, status=state_word(application.status)))
    if business_today() > counter.expires_on:
        raise IllegalTransition(_("This counter-offer lapsed on %(day)s.", day=counter.expires_on.isoformat()))
    return counter


def lapse_counters(today: dt.date | None = None) -> list[int]:
    """Counter-offers unanswered past their expiry date lapse like a decline (the scheduler, daily). Each is locked
    and checked afresh: one the enterprise answered meanwhile is left alone. → the applications lapsed."""
    today = today or business_today()
    due = db.session.scalars(select(Application.id).join(CounterOffer).where(
        Application.status == ApplicationStatus.COUNTERED, CounterOffer.expires_on < today)
        .order_by(Application.id)).all()
    lapsed = []
    for application_id in due:
        application = db.session.get(Application, application_id)
        db.lock(application.request, application)
        if application.status is not ApplicationStatus.COUNTERED:
            continue
        states.move(application, ApplicationStatus.COUNTER_LAPSED, APPLICATION_TRANSITIONS)
        _move(application.request, RequestStatus.DECLINED)
        counter = application.counter
        timeline.record(timeline.COUNTER_LAPSED, by=None, request_id=application.request_id,
                        application_id=application.id, expires_on=counter.expires_on)
        words = {"id": application.id, "bank": application.offer.bank_name, "day": counter.expires_on.isoformat(),
                 "enterprise": application.request.enterprise.name}
        notify("counter.lapsed", application.request.enterprise_id, N_("A counter-offer lapsed"),
               N_("%(bank)s's counter-offer for application %(id)d lapsed unanswered on %(day)s. You may choose "
                  "another of your offers while they are valid."),
               f"/enterprise/requests/{application.request_id}", **words)
        notify("counter.lapsed", application.bank_id, N_("A counter-offer lapsed"),
               N_("%(enterprise)s did not answer your counter-offer for application %(id)d by %(day)s."),
               f"/bank/applications/{application.id}", **words)
        lapsed.append(application.id)
    db.session.flush()
    return lapsed


def _tell_enterprise_approved(application: Application) -> None:
    request = application.request
    pending = application.offer.agreement_id is not None and application.loan is None
    notify("application.decided", request.enterprise_id, N_("%(bank)s approved application %(id)d"),
           N_("%(bank)s approved %(amount)s at %(rate)s a year. The guarantee agency reviews the guarantee next.")
           if pending else
           N_("%(bank)s approved %(amount)s at %(rate)s a year; the loan is made."),
           f"/enterprise/requests/{request.id}", bank=_bank_names(application), id=application.id,
           amount=yuan(application.approved_amount), rate=percent(application.interest_rate))


def _bank_names(application: Application) -> Names:
    offer = application.offer
    return Names(offer.bank_name, offer.bank_name_en)


def _tell_enterprise_ended(application: Application, title: str, body: str) -> None:
    request = application.request
    notify("application.decided", request.enterprise_id, title,
           (body, N_("You may choose another of your offers until %(until)s.")),
           f"/enterprise/requests/{request.id}", bank=_bank_names(application), id=application.id,
           reason=application.reason or "", until=request.offers_valid_until.isoformat())


def _tell_bank_answered(application: Application, title: str, body: str) -> None:
    counter = application.counter
    notify("counter.answered", application.bank_id, title, body, f"/bank/applications/{application.id}",
           enterprise=application.request.enterprise, id=application.id, amount=yuan(counter.amount),
           rate=percent(counter.interest_rate))


def apply_guarantee_outcome(outcome: Outcome) -> None:
    """What the agency (or its 见贷即保 terms) decided, applied to financing's rows: each backed application gets
    its loan (and guarantees then approves its guarantee with that loan); each refused one becomes
    guarantee_unavailable with the agency's reason, and its request declined. Set-based, one audit entry a row, every
    move checked against its lifecycle."""
    if outcome.refused:
        refused = {refusal.application_id: refusal.reason for refusal in outcome.refused}
        states.move_rows(Application, refused, ApplicationStatus.GUARANTEE_UNAVAILABLE, APPLICATION_TRANSITIONS,
                         per_row={application_id: {"reason": reason} for application_id, reason in refused.items()})
        requests = db.session.scalars(select(Application.request_id).where(Application.id.in_(refused))).all()
        states.move_rows(FinancingRequest, requests, RequestStatus.DECLINED, REQUEST_TRANSITIONS)
        for application in db.session.scalars(select(Application).where(Application.id.in_(refused))):
            _tell_enterprise_ended(application, N_("The guarantee for application %(id)d was refused"),
                                   N_("The guarantee agency refused the guarantee: %(reason)s"))
            notify("guarantee.excluded", application.bank_id, N_("Guarantee refused for application %(id)d"),
                   N_("The guarantee agency excluded application %(id)d (%(enterprise)s) from its batch: %(reason)s"),
                   f"/bank/applications/{application.id}", id=application.id,
                   enterprise=application.request.enterprise, reason=application.reason or "")
    if outcome.backed:
        approve_backed(create_loans(outcome.backed))
        notify_each("batch.decided", select(
            FinancingRequest.enterprise_id, literal("/enterprise/requests/") + cast(FinancingRequest.id, String))
            .join(Application, Application.request_id == FinancingRequest.id)
            .where(db.among(Application.id, outcome.backed)),
            N_("Your guarantee is approved"),
            N_("The guarantee agency approved the guarantee of your loan; the bank disburses it next."))
    db.session.flush()


def submit_batch(batch: Batch) -> Batch:
    """Close an open batch for the agency's review, and give the loans it approves at once (见贷即保) their loans."""
    apply_guarantee_outcome(guarantees.submit_batch(batch))
    return batch


def decide_batch(batch: Batch, user: User, exclusions: list[dict[str, Any]]) -> Batch:
    """The agency's decision on a submitted batch, carried through to the loans and requests behind it."""
    apply_guarantee_outcome(guarantees.decide_batch(batch, user, exclusions))
    return batch


def deal_version(request: FinancingRequest) -> str:
    """Changes whenever anything on the request's timeline happens: what a page watching the deal compares."""
    count, last = db.session.execute(select(func.count(TimelineEvent.id), func.max(TimelineEvent.id)).where(
        or_(TimelineEvent.request_id == request.id,
            TimelineEvent.application_id.in_(select(Application.id).where(Application.request_id == request.id))))
    ).one()
    return f"{request.status.value}.{count}.{last or 0}"


# Reading, scoped to who asks ----------------------------------------------------------------------------

def visible_requests(user: User) -> Select[tuple[FinancingRequest]]:
    # A request's application points back at the request and at one of its offers, both loaded already: read them
    # from the session rather than joining them again (with the enterprise and its certification) in the load.
    query = select(FinancingRequest).options(
        selectinload(FinancingRequest.applications).options(lazyload(Application.request), lazyload(Application.offer)))
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
    """A bank's own; an agency's, those it was asked to guarantee; all to the admin."""
    query = select(Application)
    if user.role is Role.BANK:
        return query.where(Application.bank_id == user.organization_id)
    if user.role is Role.AGENCY:
        return query.where(Application.id.in_(guarantees.applications_of_agency(user.organization_id)))
    if user.role is Role.ADMIN:
        return query
    return query.where(False)


def get_application(user: User, application_id: int) -> Application:
    return one_or_404(visible_applications(user).where(Application.id == application_id),
                      _("No application %(id)d.", id=application_id))


def get_own_application(user: User, application_id: int) -> Application:
    """An application of the enterprise's own requests (404 for anyone else's)."""
    return one_or_404(select(Application).join(FinancingRequest, FinancingRequest.id == Application.request_id)
                      .where(Application.id == application_id,
                             FinancingRequest.enterprise_id == user.organization_id),
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

