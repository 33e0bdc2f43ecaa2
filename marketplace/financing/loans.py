"""Loan events reported by the bank, along the loan's lifecycle (DESIGN.md §Lifecycles):
approved → disbursed → repaying → repaid | overdue → defaulted → recovering → closed.

Disbursement fixes and posts the guarantee fee and turns reserved quota into outstanding; repayments release it;
a default shares the loss and a recovery shares it back (guarantees.settlement). An event that carries a key
(the bank's Idempotency-Key or callback event id) is applied once: replaying it returns the first event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import exists, insert, literal, select

from guarantees.models import GuaranteeStatus
from guarantees.services import agreement_of, guarantee_of_loan, on_closed, on_disbursed, on_repaid
from guarantees.settlement import LoanFacts, settle_default, settle_recovery
from marketplace import db, states, timeline
from marketplace.audit import trail as audit
from marketplace.auth.models import User
from marketplace.db import UTCDateTime
from marketplace.errors import Conflict, IllegalTransition, ValidationFailed
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
from marketplace.i18n import N_, yuan
from marketplace.notifications.services import notify


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
}


def record_event(loan: Loan, user: User, event_type: LoanEventType, amount: Decimal | None,
                 occurred_on: dt.date, key: str | None = None) -> LoanEvent:
    db.lock(loan)  # events of one loan queue: each sees the status and outstanding the one before left
    if key is not None and (earlier := _earlier(loan.id, key)) is not None:
        if earlier.type is not event_type or (amount is not None and amount != earlier.amount):
            raise Conflict(_("Event key %(key)s was already used for another event of this loan.", key=key))
        return earlier
    if loan.status not in ALLOWED_FROM[event_type]:
        raise IllegalTransition(_("A loan that is %(status)s cannot be reported %(event)s.",
                                  status=loan.status.value, event=event_type.value))
    if amount is not None and amount <= 0:
        raise ValidationFailed(errors={"amount": [_("Give an amount above zero.")]})
    if loan.disbursed_on is not None and occurred_on < loan.disbursed_on:
        raise ValidationFailed(errors={"occurred_on": [_("The loan was disbursed on %(day)s; this cannot be earlier.",
                                                         day=loan.disbursed_on.isoformat())]})
    amount = _APPLY[event_type](loan, amount, occurred_on)
    event = LoanEvent(loan_id=loan.id, type=event_type, amount=amount, occurred_on=occurred_on,
                      idempotency_key=key, created_by_id=user.id)
    db.session.add(event)
    db.session.flush()
    if event_type is LoanEventType.RECOVERY:
        settle_recovery(facts(loan), amount, occurred_on, event.id)
    timeline.record(timeline.LOAN + event_type.value, by=user, application_id=loan.application_id, loan_id=loan.id,
                    amount=amount, occurred_on=occurred_on)
    if event_type is LoanEventType.OVERDUE:
        _tell_overdue(loan, amount, occurred_on)
    return event


def _tell_overdue(loan: Loan, amount: Decimal, occurred_on: dt.date) -> None:
    """The enterprise, and the agency guaranteeing the loan, hear of an overdue loan the day it is reported."""
    words = {"id": loan.id, "amount": yuan(amount), "day": occurred_on.isoformat()}
    request_id = loan.application.request_id
    notify("loan.overdue", loan.enterprise_id, N_("Loan %(id)d is overdue"),
           N_("Your bank reports loan %(id)d overdue since %(day)s, with %(amount)s outstanding. Repay or talk to "
              "your bank soon: 90 days overdue, the loan defaults."),
           f"/enterprise/requests/{request_id}", **words)
    if (guarantee := guarantee_of_loan(loan.id)) is not None:
        agreement = agreement_of(guarantee)
        notify("loan.overdue", agreement.agency_id, N_("Guaranteed loan %(id)d is overdue"),
               N_("The bank reports loan %(id)d under agreement %(code)s overdue since %(day)s, with %(amount)s "
                  "outstanding."), f"/agency/applications/{loan.application_id}", code=agreement.code, **words)


def _earlier(loan_id: int, key: str) -> LoanEvent | None:
    return db.session.scalar(select(LoanEvent).where(LoanEvent.loan_id == loan_id, LoanEvent.idempotency_key == key))


def _disburse(loan: Loan, amount: Decimal | None, occurred_on: dt.date) -> Decimal:
    amount = amount or loan.principal
    if amount != loan.principal:
        raise ValidationFailed(errors={"amount": [_("A loan is disbursed in full: %(principal)s.",
                                                    principal=f"{loan.principal:,.2f}")]})
    guarantee = guarantee_of_loan(loan.id)
    if guarantee is not None and guarantee.status is not GuaranteeStatus.APPROVED:
        raise IllegalTransition(_("The loan's guarantee is %(status)s, not approved.", status=guarantee.status.value))
    loan.status, loan.disbursed_on = LoanStatus.DISBURSED, occurred_on
    if guarantee is not None:
        on_disbursed(guarantee, facts(loan), occurred_on)
    states.move(loan.application.request, RequestStatus.FUNDED, REQUEST_TRANSITIONS)
    return amount


def _repay(loan: Loan, amount: Decimal | None, occurred_on: dt.date) -> Decimal:
    if amount is None:
        raise ValidationFailed(errors={"amount": [_("Give the principal repaid.")]})
    _at_most_outstanding(loan, amount)
    if (guarantee := guarantee_of_loan(loan.id)) is not None:
        on_repaid(guarantee, amount)
    loan.outstanding -= amount
    if loan.outstanding == 0:
        loan.status = LoanStatus.REPAID
    elif loan.status is not LoanStatus.OVERDUE:
        loan.status = LoanStatus.REPAYING
    return amount


def _overdue(loan: Loan, amount: Decimal | None, occurred_on: dt.date) -> Decimal:
    """Payments are late: no money moves yet; 90 days on, the loan defaults."""
    loan.status = LoanStatus.OVERDUE
    return loan.outstanding if amount is None else _at_most_outstanding(loan, amount)


def _default(loan: Loan, amount: Decimal | None, occurred_on: dt.date) -> Decimal:
    """The loss is the outstanding principal (the coverage base), shared as the agreement says."""
    if amount is not None and amount != loan.outstanding:
        raise ValidationFailed(errors={"amount": [_("The loss on default is the outstanding principal, %(amount)s.",
                                                    amount=f"{loan.outstanding:,.2f}")]})
    loan.status = LoanStatus.DEFAULTED
    settle_default(facts(loan), guarantee_of_loan(loan.id), loan.outstanding, occurred_on)
    return loan.outstanding


def _recover(loan: Loan, amount: Decimal | None, occurred_on: dt.date) -> Decimal:
    """Money recovered from the enterprise after default; what is still owed shrinks by it."""
    if amount is None:
        raise ValidationFailed(errors={"amount": [_("Give the amount recovered.")]})
    _at_most_outstanding(loan, amount)
    loan.outstanding -= amount
    loan.status = LoanStatus.CLOSED if loan.outstanding == 0 else LoanStatus.RECOVERING
    if loan.status is LoanStatus.CLOSED and (guarantee := guarantee_of_loan(loan.id)) is not None:
        on_closed(guarantee)
    return amount


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
}
