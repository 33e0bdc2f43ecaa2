"""Loan events reported by the bank, along the loan's lifecycle (DESIGN.md §Lifecycles):
approved → disbursed → repaying → repaid | overdue → defaulted → recovering → closed, or closed into a renewal.

Disbursement fixes the repayment method and schedule (financing.schedule), and fixes and posts the guarantee fee and
turns reserved quota into outstanding; repayments pay the schedule oldest period first, interest first, and their
principal releases quota; a default shares the loss, at once or when the agency pays the claim (guarantees.claims),
and a recovery shares it back (guarantees.settlement). An event that carries a key
(the bank's Idempotency-Key or callback event id) is applied once: replaying it returns the first event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import exists, insert, literal, select

from guarantees import claims
from guarantees.models import Agreement, Claim, GuaranteeStatus
from guarantees.services import guarantee_of_loan, on_closed, on_disbursed, on_repaid
from guarantees.settlement import LoanFacts, settle_default, settle_recovery
from marketplace import db, states, timeline
from marketplace.audit import trail as audit
from marketplace.auth.models import User
from marketplace.db import UTCDateTime
from marketplace.errors import Conflict, IllegalTransition, ValidationFailed
from marketplace.financing import schedule
from marketplace.financing.models import (
    REQUEST_TRANSITIONS,
    Application,
    ApplicationStatus,
    FinancingRequest,
    Loan,
    LoanEvent,
    LoanEventType,
    LoanStatus,
    Offer,
    RequestStatus,
)
from marketplace.i18n import N_, state_word, yuan
from marketplace.notifications.services import notify

ZERO = Decimal("0.00")


def create_loans(application_ids: Collection[int]) -> dict[int, int]:
    """The one loan factory: a loan (status approved) for each approved application, at its approved amount and
    rate, in one statement whatever their number (a bank's approval makes one, a batch decision thousands), each
    with its audit entry. → application id → loan id."""
    if not application_ids:
        return {}
    columns = ("application_id", "bank_id", "enterprise_id", "product_id", "principal", "outstanding",
               "term_months", "interest_rate", "status", "created_at")
    made = dict(db.session.execute(insert(Loan).from_select(columns, select(
        Application.id, Application.bank_id, FinancingRequest.enterprise_id, Offer.product_id,
        Application.approved_amount, Application.approved_amount, FinancingRequest.term_months,
        Application.interest_rate, literal(LoanStatus.APPROVED.value), literal(db.utcnow(), UTCDateTime()))
        .join(FinancingRequest, FinancingRequest.id == Application.request_id)
        .join(Offer, Offer.id == Application.offer_id)
        .where(db.among(Application.id, application_ids), Application.status == ApplicationStatus.APPROVED))
        .returning(Loan.application_id, Loan.id)).all())
    if len(made) != len(set(application_ids)):  # the caller's lock should make this impossible; never half a batch
        without = sorted(set(application_ids) - set(made))
        raise IllegalTransition(_("Applications %(ids)s are not approved, so they get no loan.",
                                  ids=", ".join(map(str, without))))
    # The loan's own row holds its figures (from its application); the trail notes that it was made, and by whom.
    audit.record_selected("loan.created", "loan", select(Loan.id).where(db.among(Loan.id, made.values())),
                          {"status": LoanStatus.APPROVED})
    timeline.record_for(timeline.LOAN_CREATED, select(Loan.application_id).where(db.among(Loan.id, made.values())),
                        by=None)
    return made


def is_first_loan(enterprise_id: int) -> bool:
    """Whether the enterprise has never had a loan disbursed through the marketplace (a fee rule's condition)."""
    return not db.session.scalar(select(exists().where(Loan.enterprise_id == enterprise_id,
                                                       Loan.disbursed_on.is_not(None))))


def facts(loan: Loan) -> LoanFacts:
    """What guarantees and the ledger need to know of the loan."""
    return LoanFacts(id=loan.id, bank_id=loan.bank_id, enterprise_id=loan.enterprise_id, principal=loan.principal)

#: The statuses each event may start from.
ALLOWED_FROM: dict[LoanEventType, frozenset[LoanStatus]] = {
    LoanEventType.DISBURSED: frozenset({LoanStatus.APPROVED}),
    LoanEventType.REPAYMENT: frozenset({LoanStatus.DISBURSED, LoanStatus.REPAYING, LoanStatus.OVERDUE}),
    LoanEventType.OVERDUE: frozenset({LoanStatus.DISBURSED, LoanStatus.REPAYING}),
    LoanEventType.DEFAULT: frozenset({LoanStatus.OVERDUE}),
    LoanEventType.RECOVERY: frozenset({LoanStatus.DEFAULTED, LoanStatus.RECOVERING}),
    LoanEventType.RENEWED: frozenset({LoanStatus.DISBURSED, LoanStatus.REPAYING}),
}


@dataclass(frozen=True)
class Details:
    """What some events carry besides an amount: a disbursement's contract and repayment method, a renewal's new
    loan."""
    contract_no: str | None = None
    repayment_method: schedule.Method | None = None
    new_loan_id: int | None = None


#: Each event as a bank officer names it (放款, 还款, …), for the pages and for messages.
EVENT_WORDS: dict[LoanEventType, str] = {
    LoanEventType.DISBURSED: N_("Disbursement"), LoanEventType.REPAYMENT: N_("Repayment"),
    LoanEventType.OVERDUE: N_("Reported overdue"), LoanEventType.DEFAULT: N_("Default"),
    LoanEventType.RECOVERY: N_("Recovery"), LoanEventType.RENEWED: N_("Renewal without repaying the principal"),
}


def event_word(event_type: LoanEventType) -> str:
    return _(EVENT_WORDS[event_type])


def record_event(loan: Loan, user: User, event_type: LoanEventType, amount: Decimal | None,
                 occurred_on: dt.date, key: str | None = None, details: Details = Details()) -> LoanEvent:
    db.lock(loan)  # events of one loan queue: each sees the status and outstanding the one before left
    if key is not None and (earlier := _earlier(loan.id, key)) is not None:
        if earlier.type is not event_type or (amount is not None and amount != earlier.amount):
            raise Conflict(_("Event key %(key)s was already used for another event of this loan.", key=key))
        return earlier
    if loan.status not in ALLOWED_FROM[event_type]:
        raise IllegalTransition(_("A loan that is %(status)s cannot have “%(event)s” recorded.",
                                  status=state_word(loan.status), event=event_word(event_type)))
    if amount is not None and amount <= 0:
        raise ValidationFailed(errors={"amount": [_("Give an amount above zero.")]})
    if loan.disbursed_on is not None and occurred_on < loan.disbursed_on:
        raise ValidationFailed(errors={"occurred_on": [_("The loan was disbursed on %(day)s; this cannot be earlier.",
                                                         day=loan.disbursed_on.isoformat())]})
    event = LoanEvent(loan_id=loan.id, type=event_type, occurred_on=occurred_on, idempotency_key=key,
                      created_by_id=user.id)
    event.amount = _APPLY[event_type](loan, event, amount, details, user)
    db.session.add(event)
    db.session.flush()
    if event_type is LoanEventType.RECOVERY:
        settle_recovery(facts(loan), event.amount, occurred_on, event.id)
    timeline.record(timeline.LOAN + event_type.value, by=user, application_id=loan.application_id, loan_id=loan.id,
                    amount=event.amount, occurred_on=occurred_on, interest=event.interest, principal=event.principal,
                    new_loan_id=event.new_loan_id)
    if event_type is LoanEventType.OVERDUE:
        _tell_overdue(loan, event.amount, occurred_on)
    return event


def _tell_overdue(loan: Loan, amount: Decimal, occurred_on: dt.date) -> None:
    """The enterprise, and the agency guaranteeing the loan, hear of an overdue loan the day it is reported."""
    words = {"id": loan.id, "amount": yuan(amount), "day": occurred_on.isoformat()}
    notify("loan.overdue", loan.enterprise_id, N_("Loan %(id)d is overdue"),
           N_("Your bank reports loan %(id)d overdue since %(day)s, with %(amount)s outstanding. Repay or talk to "
              "your bank soon: 90 days overdue, the loan defaults."),
           f"/enterprise/loans/{loan.id}", **words)
    if (guarantee := guarantee_of_loan(loan.id)) is not None:
        agreement = db.session.get(Agreement, guarantee.agreement_id)
        notify("loan.overdue", agreement.agency_id, N_("Guaranteed loan %(id)d is overdue"),
               N_("The bank reports loan %(id)d under agreement %(code)s overdue since %(day)s, with %(amount)s "
                  "outstanding."), f"/agency/applications/{loan.application_id}", code=agreement.code, **words)


def _earlier(loan_id: int, key: str) -> LoanEvent | None:
    return db.session.scalar(select(LoanEvent).where(LoanEvent.loan_id == loan_id, LoanEvent.idempotency_key == key))


# The repayment schedule -------------------------------------------------------------------------------------------

def method_of(loan: Loan) -> schedule.Method:
    """The method fixed at disbursement, or the product type's default (DESIGN.md §Policy defaults)."""
    return loan.repayment_method or schedule.DEFAULT_METHOD[loan.application.offer.product_type]


def _principal_repayments(loan: Loan) -> list[tuple[dt.date, Decimal]]:
    return [(day, principal) for day, principal in db.session.execute(
        select(LoanEvent.occurred_on, LoanEvent.principal)
        .where(LoanEvent.loan_id == loan.id, LoanEvent.type == LoanEventType.REPAYMENT, LoanEvent.principal > 0)
        .order_by(LoanEvent.occurred_on, LoanEvent.id))]


def periods_of(loan: Loan) -> list[schedule.Period]:
    """The loan's schedule from its disbursement (none before it)."""
    if loan.disbursed_on is None:
        return []
    method = method_of(loan)
    repaid = _principal_repayments(loan) if method is schedule.Method.REVOLVING else ()
    return schedule.build(method, loan.principal, loan.interest_rate, loan.disbursed_on, loan.term_months, repaid)


def standings(loan: Loan, today: dt.date) -> list[schedule.Standing]:
    return schedule.standings(periods_of(loan), interest_paid=loan.interest_paid,
                              principal_paid=loan.principal_repaid, today=today,
                              revolving=method_of(loan) is schedule.Method.REVOLVING)


def owed_on(loan: Loan, day: dt.date) -> tuple[Decimal, Decimal]:
    """(interest, principal) the enterprise would pay to settle the loan on `day`: the rest of the schedule for the
    fixed methods (oldest period first, interest first); for a revolving line, the interest accrued on the drawn
    balance up to `day` and the balance."""
    if method_of(loan) is schedule.Method.REVOLVING:
        accrued = schedule.interest_accrued(loan.principal, loan.interest_rate, loan.disbursed_on, loan.term_months,
                                            _principal_repayments(loan), day)
        return max(accrued - loan.interest_paid, ZERO), loan.outstanding
    periods = periods_of(loan)
    interest = sum((p.interest for p in periods), ZERO) - loan.interest_paid
    return max(interest, ZERO), loan.outstanding


def arrears(loan: Loan, today: dt.date) -> schedule.Period | None:
    """The oldest period due before `today` and not fully paid (none for a revolving line before its maturity)."""
    return schedule.first_unpaid_past_due(periods_of(loan), loan.interest_paid + loan.principal_repaid, today)


# Applying each event ------------------------------------------------------------------------------------------------

def _disburse(loan: Loan, event: LoanEvent, amount: Decimal | None, details: Details, _user: User) -> Decimal:
    amount = amount or loan.principal
    if amount != loan.principal:
        raise ValidationFailed(errors={"amount": [_("A loan is disbursed in full: %(principal)s.",
                                                    principal=f"{loan.principal:,.2f}")]})
    guarantee = guarantee_of_loan(loan.id)
    if guarantee is not None and guarantee.status is not GuaranteeStatus.APPROVED:
        raise IllegalTransition(_("The loan's guarantee is %(status)s, not approved.",
                                  status=state_word(guarantee.status)))
    loan.status, loan.disbursed_on = LoanStatus.DISBURSED, event.occurred_on
    loan.contract_no = details.contract_no or loan.contract_no
    loan.repayment_method = details.repayment_method or method_of(loan)
    if guarantee is not None:
        on_disbursed(guarantee, facts(loan), event.occurred_on)
    states.move(loan.application.request, RequestStatus.FUNDED, REQUEST_TRANSITIONS)
    return amount


def _repay(loan: Loan, event: LoanEvent, amount: Decimal | None, _details: Details, _user: User) -> Decimal:
    """A repayment pays the oldest period first, interest before principal; the principal part releases quota."""
    if amount is None:
        raise ValidationFailed(errors={"amount": [_("Give the amount repaid.")]})
    interest_owed, principal_owed = owed_on(loan, event.occurred_on)
    if amount > interest_owed + principal_owed:
        raise ValidationFailed(errors={"amount": [_(
            "Only %(owed)s is owed (interest %(interest)s, principal %(principal)s).",
            owed=f"{interest_owed + principal_owed:,.2f}", interest=f"{interest_owed:,.2f}",
            principal=f"{principal_owed:,.2f}")]})
    was_late = arrears(loan, event.occurred_on) is not None
    if method_of(loan) is schedule.Method.REVOLVING:
        interest = min(amount, interest_owed)
        split = schedule.Split(interest=interest, principal=amount - interest)
    else:
        split = schedule.apply_payment(periods_of(loan), loan.interest_paid + loan.principal_repaid, amount)
    event.interest, event.principal = split.interest, split.principal
    if split.principal and (guarantee := guarantee_of_loan(loan.id)) is not None:
        on_repaid(guarantee, split.principal)
    loan.interest_paid += split.interest
    loan.principal_repaid += split.principal
    loan.outstanding -= split.principal
    if amount == interest_owed + principal_owed:
        loan.status = LoanStatus.REPAID
    elif loan.status is not LoanStatus.OVERDUE or (was_late and arrears(loan, event.occurred_on) is None):
        loan.status = LoanStatus.REPAYING  # an overdue loan whose arrears are all paid is performing again
    return amount


def _overdue(loan: Loan, event: LoanEvent, amount: Decimal | None, _details: Details, _user: User) -> Decimal:
    """Payments are late: no money moves yet; 90 days on, the loan defaults."""
    loan.status = LoanStatus.OVERDUE
    return loan.outstanding if amount is None else _at_most_outstanding(loan, amount)


def _default(loan: Loan, event: LoanEvent, amount: Decimal | None, _details: Details, user: User) -> Decimal:
    """The loss is the outstanding principal (the coverage base), shared as the agreement says: at once, or when the
    agency pays the claim filed for it under a `review` agreement."""
    if amount is not None and amount != loan.outstanding:
        raise ValidationFailed(errors={"amount": [_("The loss on default is the outstanding principal, %(amount)s.",
                                                    amount=f"{loan.outstanding:,.2f}")]})
    loan.status = LoanStatus.DEFAULTED
    guarantee = guarantee_of_loan(loan.id)
    if claims.reviewed(guarantee):
        claims.on_default(facts(loan), guarantee, loan.outstanding, event.occurred_on, user)
    else:
        settle_default(facts(loan), guarantee, loan.outstanding, event.occurred_on)
    return loan.outstanding


def _recover(loan: Loan, event: LoanEvent, amount: Decimal | None, _details: Details, _user: User) -> Decimal:
    """Money recovered from the enterprise after default; what is still owed shrinks by it, and so does a claim
    still waiting for the agency."""
    if amount is None:
        raise ValidationFailed(errors={"amount": [_("Give the amount recovered.")]})
    _at_most_outstanding(loan, amount)
    claims.on_recovered(loan.id, amount)
    loan.outstanding -= amount
    loan.status = LoanStatus.CLOSED if loan.outstanding == 0 else LoanStatus.RECOVERING
    if loan.status is LoanStatus.CLOSED and (guarantee := guarantee_of_loan(loan.id)) is not None:
        on_closed(guarantee)
    return amount


def _renew(loan: Loan, event: LoanEvent, amount: Decimal | None, details: Details, user: User) -> Decimal:
    """无还本续贷: the new loan (approved, same bank and enterprise, for the principal still owed) is disbursed on the
    day and takes the old one's place; the old loan closes without principal changing hands and its guarantee is
    released. A guarantee carries on when the renewal was itself approved under the agreement."""
    new = db.session.get(Loan, details.new_loan_id) if details.new_loan_id else None
    if new is None or new.id == loan.id or new.bank_id != loan.bank_id:
        raise ValidationFailed(errors={"new_loan_id": [_("Name another of your loans: the renewal.")]})
    if new.enterprise_id != loan.enterprise_id:
        raise ValidationFailed(errors={"new_loan_id": [_("A renewal is a loan to the same enterprise.")]})
    if amount is not None and amount != loan.outstanding:
        raise ValidationFailed(errors={"amount": [_("A renewal carries the principal still owed, %(amount)s.",
                                                    amount=f"{loan.outstanding:,.2f}")]})
    db.lock(new)
    if new.status is not LoanStatus.APPROVED:
        raise IllegalTransition(_("Loan %(id)d is %(status)s: a renewal is a loan approved and not yet disbursed.",
                                  id=new.id, status=state_word(new.status)))
    if new.principal != loan.outstanding:
        raise ValidationFailed(errors={"new_loan_id": [_(
            "Loan %(id)d is for %(principal)s, but %(outstanding)s is owed on the loan it would renew.",
            id=new.id, principal=f"{new.principal:,.2f}", outstanding=f"{loan.outstanding:,.2f}")]})
    carried = loan.outstanding
    record_event(new, user, LoanEventType.DISBURSED, None, event.occurred_on, details=Details())
    new.renews_loan_id = loan.id
    if (guarantee := guarantee_of_loan(loan.id)) is not None and guarantee.exposure:
        on_repaid(guarantee, guarantee.exposure)
    loan.outstanding = ZERO
    loan.status = LoanStatus.CLOSED
    event.new_loan_id = new.id
    return carried


def _at_most_outstanding(loan: Loan, amount: Decimal) -> Decimal:
    if amount > loan.outstanding:
        raise ValidationFailed(errors={"amount": [_("Only %(outstanding)s is outstanding.",
                                                    outstanding=f"{loan.outstanding:,.2f}")]})
    return amount


_APPLY = {
    LoanEventType.DISBURSED: _disburse,
    LoanEventType.REPAYMENT: _repay,
    LoanEventType.OVERDUE: _overdue,
    LoanEventType.DEFAULT: _default,
    LoanEventType.RECOVERY: _recover,
    LoanEventType.RENEWED: _renew,
}


def file_claim(loan: Loan, user: User, amount: Decimal, note: str | None) -> Claim:
    """The bank files a claim again after a refusal (POST /loans/{id}/claims)."""
    db.lock(loan)
    if loan.status not in (LoanStatus.DEFAULTED, LoanStatus.RECOVERING):
        raise IllegalTransition(_("Loan %(id)d is %(status)s: a claim is filed on a defaulted loan.",
                                  id=loan.id, status=state_word(loan.status)))
    return claims.file_again(facts(loan), guarantee_of_loan(loan.id), loan.outstanding, amount, note, user)


@dataclass(frozen=True)
class ScheduleView:
    """A loan's schedule as its parties read it (API.md GET /loans/{id}/schedule)."""
    loan_id: int
    method: str | None
    annual_rate: Decimal
    disbursed_on: dt.date | None
    interest_paid: Decimal
    principal_repaid: Decimal
    periods: list[schedule.Standing]
    next_due: schedule.Standing | None


def schedule_of(loan: Loan, today: dt.date) -> ScheduleView:
    periods = standings(loan, today) if loan.status is not LoanStatus.APPROVED else []
    return ScheduleView(loan_id=loan.id, method=method_of(loan).value, annual_rate=loan.interest_rate,
                        disbursed_on=loan.disbursed_on, interest_paid=loan.interest_paid,
                        principal_repaid=loan.principal_repaid, periods=periods,
                        next_due=schedule.next_due(periods) if loan.status in PERFORMING else None)


#: Loans the enterprise is paying: a next due date is shown for these.
PERFORMING = frozenset({LoanStatus.DISBURSED, LoanStatus.REPAYING, LoanStatus.OVERDUE})
