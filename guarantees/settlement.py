"""Where guarantees become money (DESIGN.md §Ledger): the fee at disbursement, deposits into risk pools and the
claims they pay, losses on default up to the compensation cap (熔断), and recoveries shared back.

Every function posts exactly one journal entry per business event (a deposit or recovery that also pays earlier
pool claims posts a second), keyed so that replaying the event posts nothing. Rows are locked in one order,
agreement → risk pool → pool claims → fee rules → ledger accounts, so concurrent events queue, never deadlock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from guarantees.models import (
    GUARANTEE_TRANSITIONS,
    Agreement,
    AgreementStatus,
    Guarantee,
    GuaranteeStatus,
    LossAllocation,
    PoolClaim,
    PoolDeposit,
    RecoveryAllocation,
    RiskPool,
)
from marketplace import db, states
from marketplace.auth.models import User
from marketplace.caps import compensation_room
from marketplace.errors import Conflict
from marketplace.fees import rules
from marketplace.fees.services import grant_subsidies
from marketplace.i18n import N_, percent
from marketplace.ledger import summaries
from marketplace.ledger.allocation import Shares, allocate_loss, allocate_recovery
from marketplace.ledger.models import EntryKind, Party, Purpose
from marketplace.ledger.posting import FISCAL_FUND_ID, Entry, account, post
from marketplace.notifications.services import notify

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LoanFacts:
    """A loan as guarantees and the ledger need to know it; financing owns the loan and hands these over."""
    id: int
    bank_id: int
    enterprise_id: int
    principal: Decimal


def _locked_agreement(agreement_id: int) -> Agreement:
    return db.session.scalar(select(Agreement).where(Agreement.id == agreement_id).with_for_update(of=Agreement)
                             .execution_options(populate_existing=True))


def _locked_pool(pool_id: int) -> RiskPool:
    return db.session.scalar(select(RiskPool).where(RiskPool.id == pool_id).with_for_update()
                             .execution_options(populate_existing=True))


def _lines(*moves: tuple[tuple[Party, int, Purpose], tuple[Party, int, Purpose], Decimal]
           ) -> list[tuple[int, Decimal]]:
    """Each move pays `amount` from the first account (credit) to the second (debit); zero moves are left out."""
    lines = []
    for source, target, amount in moves:
        if amount:
            lines += [(account(*source), -amount), (account(*target), amount)]
    return lines


# The fee, at disbursement ------------------------------------------------------------------------------------

def charge_fee(guarantee: Guarantee, agency_id: int, loan: LoanFacts, disbursed_on: dt.date) -> None:
    """Fix the guarantee fee (amount × rate × days of the term ÷ 365) and post it: the enterprise's part and the
    fiscal subsidy (降费奖补), both to the agency. Rates and rules are the ones the guarantee was priced with."""
    days = rules.term_days(disbursed_on, guarantee.term_months)
    principal = loan.principal
    subsidy, trail = grant_subsidies(list(guarantee.applied_rules or []), principal, days)
    guarantee.fee_days = days
    guarantee.list_fee = rules.fee_amount(principal, guarantee.list_fee_rate, days)
    guarantee.fee_charged = rules.fee_amount(principal, guarantee.fee_rate, days)
    guarantee.fiscal_subsidy = subsidy
    guarantee.applied_rules = trail
    lines = _lines(
        ((Party.ENTERPRISE, loan.enterprise_id, Purpose.FEE), (Party.AGENCY, agency_id, Purpose.FEE_INCOME),
         guarantee.fee_charged),
        ((Party.FISCAL_FUND, FISCAL_FUND_ID, Purpose.FEE_SUBSIDY), (Party.AGENCY, agency_id, Purpose.FEE_SUBSIDY),
         subsidy))
    if lines:
        post(Entry(key=f"loan:{loan.id}:fee", kind=EntryKind.FEE, ref=f"loan:{loan.id}", occurred_on=disbursed_on,
                   lines=lines, memo=summaries.memo("fee", days=days)))


# Risk pools ---------------------------------------------------------------------------------------------------

def deposit(pool_id: int, user: User, amount: Decimal, deposited_on: dt.date, key: str | None) -> PoolDeposit:
    """Government money into a risk pool; it pays the pool's outstanding claims first, oldest first."""
    pool = _locked_pool(pool_id)
    key = key or uuid.uuid4().hex
    earlier = db.session.scalar(select(PoolDeposit).where(PoolDeposit.pool_id == pool.id,
                                                          PoolDeposit.idempotency_key == key))
    if earlier is not None:
        if earlier.amount != amount:
            raise Conflict(_("This key was used for a deposit of %(amount)s.", amount=f"{earlier.amount:,.2f}"))
        return earlier
    made = PoolDeposit(pool_id=pool.id, idempotency_key=key, amount=amount, deposited_on=deposited_on,
                       created_by_id=user.id)
    db.session.add(made)
    db.session.flush()
    post(Entry(key=f"pool-deposit:{made.id}", kind=EntryKind.POOL_DEPOSIT, ref=f"risk_pool:{pool.id}",
               occurred_on=deposited_on, memo=summaries.memo("deposit", pool=pool.name),
               lines=_lines(((Party.FISCAL_FUND, FISCAL_FUND_ID, Purpose.POOL_FUNDING),
                             (Party.RISK_POOL, pool.id, Purpose.CASH), amount))))
    pool.balance += amount
    pool.deposited += amount
    made.claims_paid = _pay_claims(pool, deposited_on, key=f"pool-deposit:{made.id}:claims")
    db.session.flush()
    return made


def _pay_claims(pool: RiskPool, day: dt.date, key: str) -> Decimal:
    """Pay the pool's open claims from its cash, oldest first, as far as the cash goes."""
    claims = db.session.scalars(select(PoolClaim).where(PoolClaim.pool_id == pool.id, PoolClaim.settled.is_(False))
                                .order_by(PoolClaim.id).with_for_update())
    cash, per_agency = pool.balance, defaultdict(lambda: ZERO)
    for claim in claims:
        if cash <= 0:
            break
        payment = min(claim.amount - claim.paid, cash)
        claim.paid += payment
        claim.settled = claim.paid == claim.amount
        cash -= payment
        per_agency[claim.agency_id] += payment
    paid = pool.balance - cash
    if not paid:
        return ZERO
    lines = _lines(((Party.RISK_POOL, pool.id, Purpose.CASH), (Party.RISK_POOL, pool.id, Purpose.CLAIMS), paid))
    for agency_id, amount in sorted(per_agency.items()):
        lines += _lines(((Party.AGENCY, agency_id, Purpose.POOL_CLAIM),
                         (Party.AGENCY, agency_id, Purpose.POOL_REIMBURSEMENT), amount))
    post(Entry(key=key, kind=EntryKind.CLAIM_PAYMENT, ref=f"risk_pool:{pool.id}", occurred_on=day, lines=lines,
               memo=summaries.memo("claims_paid")))
    pool.balance -= paid
    pool.paid_out += paid
    return paid


def claims_outstanding(pool_id: int) -> Decimal:
    rows = db.session.execute(select(PoolClaim.amount, PoolClaim.paid).where(PoolClaim.pool_id == pool_id,
                                                                            PoolClaim.settled.is_(False)))
    return sum((amount - paid for amount, paid in rows), ZERO)


# Defaults and recoveries --------------------------------------------------------------------------------------

def cap_room(agreement: Agreement) -> Decimal:
    """What the compensation cap still allows the agency to compensate: cap × guaranteed − compensated."""
    return compensation_room(agreement.compensation_cap_rate, agreement.guaranteed_total,
                             agreement.compensated_total)


def tell_suspended(agreement: Agreement, reason: str) -> None:
    """The bank and the agency of a suspended agreement hear of it (`reason`: already worded, in the reader's
    terms: an N_ message that may name the agreement's code, its compensation rate and cap)."""
    for organization_id, link in ((agreement.bank_id, "/bank/agreements"), (agreement.agency_id, "/agency/agreements")):
        notify("agreement.suspended", organization_id, N_("Agreement %(code)s is suspended"), reason, link,
               code=agreement.code, rate=percent(agreement.compensation_rate),
               cap=percent(agreement.compensation_cap_rate))


def _bank_loss(loan: LoanFacts, loss: Decimal) -> list[tuple[int, Decimal]]:
    """The lender loses the principal the enterprise defaulted on; compensation then moves part of it away."""
    return _lines(((Party.BANK, loan.bank_id, Purpose.CREDIT_LOSS),
                   (Party.ENTERPRISE, loan.enterprise_id, Purpose.DEFAULTED_PRINCIPAL), loss))


def _release_exposure(agreement: Agreement, guarantee: Guarantee) -> None:
    agreement.quota_outstanding -= guarantee.exposure
    guarantee.exposure = ZERO


def _share_loss(loan: LoanFacts, guarantee: Guarantee, loss: Decimal, day: dt.date
                ) -> tuple[LossAllocation, list[tuple[int, Decimal]]]:
    """The agency compensates the bank all but the bank's share, up to the compensation cap (the bank bears what is
    beyond it); the re-guarantor and the risk pool reimburse the agency their shares, and what the pool cannot pay
    becomes its claim. Reaching the cap suspends the agreement for new guarantees (熔断)."""
    agreement = _locked_agreement(guarantee.agreement_id)
    pool = _locked_pool(agreement.risk_pool_id) if agreement.risk_pool_id else None
    shares = Shares(bank=agreement.share_bank, agency=agreement.share_agency,
                    reguarantee=agreement.share_reguarantee, risk_pool=agreement.share_risk_pool)
    split = allocate_loss(loss, shares, cap_room=cap_room(agreement), pool_cash=pool.balance if pool else ZERO,
                          pool_cap_per_loss=pool.cap_per_loss if pool else None)
    record = LossAllocation(loan_id=loan.id, agreement_id=agreement.id, occurred_on=day, loss=loss,
                            bank_borne=split.bank_borne, beyond_cap=split.beyond_cap,
                            agency_compensation=split.agency_compensation, agency_net=split.agency_net,
                            reguarantee=split.reguarantee, risk_pool_paid=split.risk_pool_paid,
                            risk_pool_claim=split.risk_pool_claim)
    agency = (Party.AGENCY, agreement.agency_id)
    lines = _lines(((*agency, Purpose.COMPENSATION), (Party.BANK, loan.bank_id, Purpose.COMPENSATION),
                    split.agency_compensation))
    if split.reguarantee:
        lines += _lines(((Party.REGUARANTOR, agreement.reguarantor_id, Purpose.REGUARANTEE),
                         (*agency, Purpose.REGUARANTEE), split.reguarantee))
    if pool is not None:
        lines += _lines(((Party.RISK_POOL, pool.id, Purpose.CASH), (*agency, Purpose.POOL_REIMBURSEMENT),
                         split.risk_pool_paid),
                        ((Party.RISK_POOL, pool.id, Purpose.CLAIMS), (*agency, Purpose.POOL_CLAIM),
                         split.risk_pool_claim))
        pool.balance -= split.risk_pool_paid
        pool.paid_out += split.risk_pool_paid
        if split.risk_pool_claim:
            db.session.add(PoolClaim(pool_id=pool.id, agency_id=agreement.agency_id, loan_id=loan.id,
                                     amount=split.risk_pool_claim))
    agreement.compensated_total += split.agency_compensation
    _release_exposure(agreement, guarantee)
    target = GuaranteeStatus.COMPENSATED if split.agency_compensation else GuaranteeStatus.DEFAULTED
    if guarantee.status is not target:
        states.move(guarantee, target, GUARANTEE_TRANSITIONS)
    if cap_room(agreement) == 0 and agreement.status is AgreementStatus.ACTIVE:
        agreement.status = AgreementStatus.SUSPENDED  # 熔断: no new guarantees under this agreement
        tell_suspended(agreement, N_("Agreement %(code)s reached its compensation cap (%(rate)s of %(cap)s) and "
                                    "suspended itself: it takes no new guarantees."))
    return record, lines


def settle_default(loan: LoanFacts, guarantee: Guarantee | None, loss: Decimal, day: dt.date) -> LossAllocation:
    """Share the loss at once (an unguaranteed loan's is the bank's alone): one journal entry for the default."""
    ref = f"loan:{loan.id}"
    lines = _bank_loss(loan, loss)
    if guarantee is None:
        record = LossAllocation(loan_id=loan.id, occurred_on=day, loss=loss, bank_borne=loss, beyond_cap=ZERO,
                                agency_compensation=ZERO, agency_net=ZERO, reguarantee=ZERO, risk_pool_paid=ZERO,
                                risk_pool_claim=ZERO)
    else:
        record, shared = _share_loss(loan, guarantee, loss, day)
        lines += shared
    post(Entry(key=f"{ref}:default", kind=EntryKind.DEFAULT, ref=ref, occurred_on=day, lines=lines,
               memo=summaries.memo("default", amount=loss)))
    db.session.add(record)
    db.session.flush()
    return record


def book_default(loan: LoanFacts, guarantee: Guarantee, loss: Decimal, day: dt.date) -> None:
    """Under a `review` agreement the default books the bank's loss and takes the loan out of the quota; the
    agency's part waits for the claim (`compensate`)."""
    agreement = _locked_agreement(guarantee.agreement_id)
    _release_exposure(agreement, guarantee)
    states.move(guarantee, GuaranteeStatus.DEFAULTED, GUARANTEE_TRANSITIONS)
    post(Entry(key=f"loan:{loan.id}:default", kind=EntryKind.DEFAULT, ref=f"loan:{loan.id}", occurred_on=day,
               lines=_bank_loss(loan, loss), memo=summaries.memo("default_claim_filed", amount=loss)))


def compensate(loan: LoanFacts, guarantee: Guarantee, loss: Decimal, day: dt.date, key: str) -> LossAllocation:
    """A claim paid: exactly the sharing an automatic default posts, for the loss claimed, as one entry."""
    record, lines = _share_loss(loan, guarantee, loss, day)
    if lines:
        post(Entry(key=key, kind=EntryKind.DEFAULT, ref=f"loan:{loan.id}", occurred_on=day, lines=lines,
                   memo=summaries.memo("claim_paid", amount=loss)))
    db.session.add(record)
    db.session.flush()
    return record


def settle_recovery(loan: LoanFacts, amount: Decimal, day: dt.date, event_id: int) -> RecoveryAllocation:
    """Share a recovery (追偿) back in proportion to what each party bore for the loan."""
    loss = db.session.scalar(select(LossAllocation).where(LossAllocation.loan_id == loan.id))
    if loss is None:  # a claim not yet paid (review mode): the bank has borne the whole loss so far
        agreement, pool = None, None
        bank, agency, reguarantee, to_pool = amount, ZERO, ZERO, ZERO
    else:
        agreement = db.session.get(Agreement, loss.agreement_id) if loss.agreement_id else None
        pool = _locked_pool(agreement.risk_pool_id) if agreement and agreement.risk_pool_id else None
        bank, agency, reguarantee, to_pool = allocate_recovery(amount, [
            loss.bank_borne, loss.agency_net, loss.reguarantee, loss.risk_pool_paid + loss.risk_pool_claim])
    payer = (Party.ENTERPRISE, loan.enterprise_id, Purpose.DEFAULTED_PRINCIPAL)
    lines = _lines((payer, (Party.BANK, loan.bank_id, Purpose.RECOVERY), bank))
    if agreement is not None:
        lines += _lines((payer, (Party.AGENCY, agreement.agency_id, Purpose.RECOVERY), agency),
                        (payer, (Party.REGUARANTOR, agreement.reguarantor_id or 0, Purpose.RECOVERY), reguarantee),
                        (payer, (Party.RISK_POOL, agreement.risk_pool_id or 0, Purpose.CASH), to_pool))
    key = f"loan-event:{event_id}:recovery"
    post(Entry(key=key, kind=EntryKind.RECOVERY, ref=f"loan:{loan.id}", occurred_on=day, lines=lines,
               memo=summaries.memo("recovery", amount=amount)))
    record = RecoveryAllocation(loan_id=loan.id, agreement_id=agreement.id if agreement else None, occurred_on=day,
                                amount=amount, bank=bank, agency=agency, reguarantee=reguarantee, risk_pool=to_pool)
    db.session.add(record)
    if pool is not None and to_pool:
        pool.balance += to_pool
        pool.recovered += to_pool
        _pay_claims(pool, day, key=f"{key}:claims")
    db.session.flush()
    return record
