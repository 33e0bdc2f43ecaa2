"""Loan events reported by the bank: disbursement and repayments (defaults and recoveries come with the ledger)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_babel import gettext as _

from guarantees.models import GuaranteeStatus
from guarantees.services import guarantee_of_loan, on_disbursed, on_repaid
from marketplace import db
from marketplace.auth.models import User
from marketplace.errors import IllegalTransition, ValidationFailed
from marketplace.financing.models import Loan, LoanEvent, LoanEventType, LoanStatus, RequestStatus


def record_event(loan: Loan, user: User, event_type: LoanEventType, amount: Decimal | None,
                 occurred_on: dt.date) -> LoanEvent:
    if event_type is LoanEventType.DISBURSED:
        amount = _disburse(loan, amount, occurred_on)
    else:
        amount = _repay(loan, amount)
    event = LoanEvent(loan_id=loan.id, type=event_type, amount=amount, occurred_on=occurred_on,
                      created_by_id=user.id)
    db.session.add(event)
    db.session.flush()
    return event


def _disburse(loan: Loan, amount: Decimal | None, occurred_on: dt.date) -> Decimal:
    if loan.status is not LoanStatus.APPROVED:
        raise IllegalTransition(_("Loan %(id)d is already %(status)s.", id=loan.id, status=loan.status.value))
    amount = amount or loan.principal
    if amount != loan.principal:
        raise ValidationFailed(errors={"amount": [_("A loan is disbursed in full: %(principal)s.",
                                                    principal=f"{loan.principal:,.2f}")]})
    guarantee = guarantee_of_loan(loan.id)
    if guarantee is not None:
        if guarantee.status is not GuaranteeStatus.APPROVED:
            raise IllegalTransition(_("The loan's guarantee is %(status)s, not approved.",
                                      status=guarantee.status.value))
        on_disbursed(guarantee, amount)
    loan.status, loan.disbursed_on = LoanStatus.DISBURSED, occurred_on
    request = loan.application.request
    request.status = RequestStatus.FUNDED
    return amount


def _repay(loan: Loan, amount: Decimal | None) -> Decimal:
    if loan.status not in (LoanStatus.DISBURSED, LoanStatus.REPAYING):
        raise IllegalTransition(_("Only a disbursed loan is repaid; loan %(id)d is %(status)s.", id=loan.id,
                                  status=loan.status.value))
    if amount is None or amount <= 0:
        raise ValidationFailed(errors={"amount": [_("Give the principal repaid.")]})
    if amount > loan.outstanding:
        raise ValidationFailed(errors={"amount": [_("Only %(outstanding)s is outstanding.",
                                                    outstanding=f"{loan.outstanding:,.2f}")]})
    if (guarantee := guarantee_of_loan(loan.id)) is not None:
        on_repaid(guarantee, amount)
    loan.outstanding -= amount
    loan.status = LoanStatus.REPAID if loan.outstanding == 0 else LoanStatus.REPAYING
    return amount
