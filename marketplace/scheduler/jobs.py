"""What the scheduler's jobs do. Each takes the moment it runs for (`now`, aware), works in the session and returns
what it did as a code and its figures (put into words when read: scheduler.wording), or None when it had nothing to
do; `runner.run_job` wraps it in a transaction, the advisory lock and the run record.
Each is idempotent: run twice for the same moment, the second finds nothing left to do."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select

from guarantees.claims import flag_overdue
from guarantees.models import AGREEMENT_TRANSITIONS, Agreement, AgreementStatus, Batch, BatchStatus, Guarantee
from marketplace import db, states
from marketplace.auth.services import system_user
from marketplace.bank_systems import outbox
from marketplace.dates import local_day, working_day, working_days_after
from marketplace.errors import IllegalTransition
from marketplace.fees.models import SubsidySettlement
from marketplace.financing import deadlines, reasons
from marketplace.financing.loans import arrears, record_event
from marketplace.financing.models import FinancingRequest, Loan, LoanEvent, LoanEventType, LoanStatus, RequestStatus
from marketplace.financing.services import decide_batch, lapse_counters, submit_batch, withdraw
from marketplace.ledger.models import Account, JournalEntry, Party, Posting, Purpose

#: 金融资产风险分类办法 (2023): a loan 90 days overdue is in default.
DEFAULT_AFTER_DAYS = 90


#: What a job did: {"code": …, figures…}, or None for nothing done.
Result = dict[str, Any] | None


def dispatch_outbox(_now: dt.datetime) -> Result:
    report = outbox.dispatch()
    if not report.sent:
        return None
    return {"code": "outbox_sent", "delivered": len(report.delivered), "retrying": len(report.retrying),
            "dead": len(report.dead)}


def sandbox_bank(_now: dt.datetime) -> Result:
    from marketplace.bank_systems import sandbox

    sent, refused = sandbox.tick()
    return {"code": "sandbox_callbacks", "sent": sent, "refused": refused} if sent or refused else None


def batch_cutoff(now: dt.datetime) -> Result:
    """16:00 on working days: every open batch with items is submitted for the agency's review."""
    day = local_day(now)
    works, note = working_day(day)
    if not works:
        return {"code": "no_cutoff", "day": day.isoformat(), "assumed_weekdays": bool(note)}
    has_items = exists().where(Guarantee.batch_id == Batch.id)
    # Locked as read (a row another transaction submitted meanwhile no longer matches), so submit finds them open.
    batches = db.session.scalars(db.locking(select(Batch).where(Batch.status == BatchStatus.OPEN, has_items)
                                            .order_by(Batch.id))).all()
    db.locked(*batches)
    for batch in batches:
        submit_batch(batch)
    return {"code": "batches_submitted", "day": day.isoformat(), "batches": [b.id for b in batches],
            "assumed_weekdays": bool(note)}


def batch_sla(now: dt.datetime) -> Result:
    """Submitted batches past their agreement's review SLA (working days after submission): under a 见贷即保
    agreement the agency's silence approves them; otherwise they are flagged for the admin."""
    day = local_day(now)
    approved, flagged = [], []
    batches = db.session.scalars(
        select(Batch).join(Agreement).where(Batch.status == BatchStatus.SUBMITTED,
                                            Agreement.review_sla_days.is_not(None)).order_by(Batch.id)).all()
    for batch in batches:
        due = working_days_after(local_day(batch.submitted_at), batch.agreement.review_sla_days)
        if day <= due:
            continue
        if batch.agreement.auto_approve_below is not None:
            try:  # decide_batch locks the batch before it reads its status: the agency may have decided it since
                decide_batch(batch, system_user(batch.agreement.agency), [])
            except IllegalTransition:
                continue
            approved.append(batch.id)
        else:
            db.lock(batch)
            if batch.status is BatchStatus.SUBMITTED and batch.sla_breached_on is None:
                batch.sla_breached_on = day
                flagged.append(batch.id)
    return {"code": "batch_sla", "day": day.isoformat(), "approved": approved, "flagged": flagged}


def overdue_scan(now: dt.datetime) -> Result:
    """A loan with a period unpaid the day after its due date is overdue (its enterprise and agency are told); a loan
    90 days overdue defaults: the outstanding principal is the loss, shared as the agreement says (or claimed)."""
    day = local_day(now)
    went_overdue = []
    performing = select(Loan).where(Loan.status.in_([LoanStatus.DISBURSED, LoanStatus.REPAYING]),
                                    Loan.disbursed_on < day).order_by(Loan.id)
    for loan in db.session.scalars(performing).all():
        late = arrears(loan, day)
        if late is None:
            continue
        try:  # record_event locks the loan before it reads its status: the bank may have reported it meanwhile
            record_event(loan, system_user(loan.application.bank), LoanEventType.OVERDUE, None,
                         late.due_on + dt.timedelta(days=1), key=f"scheduler:overdue:{late.due_on.isoformat()}")
        except IllegalTransition:
            continue
        went_overdue.append(loan.id)
    since = func.min(LoanEvent.occurred_on).label("since")
    overdue = (select(Loan, since).join(LoanEvent, LoanEvent.loan_id == Loan.id)
               .where(Loan.status == LoanStatus.OVERDUE, LoanEvent.type == LoanEventType.OVERDUE)
               .group_by(Loan.id).having(since <= day - dt.timedelta(days=DEFAULT_AFTER_DAYS)).order_by(Loan.id))
    defaulted = []
    for loan, overdue_since in db.session.execute(overdue).all():
        try:
            record_event(loan, system_user(loan.application.bank), LoanEventType.DEFAULT, None,
                         overdue_since + dt.timedelta(days=DEFAULT_AFTER_DAYS), key="scheduler:default")
        except IllegalTransition:
            continue
        defaulted.append(loan.id)
    return {"code": "overdue_scan", "day": day.isoformat(), "overdue": went_overdue, "defaulted": defaulted,
            "after_days": DEFAULT_AFTER_DAYS}


def claim_deadlines(now: dt.datetime) -> Result:
    """Claims still undecided past their agreement's working days are flagged, and both parties told, once."""
    day = local_day(now)
    late = flag_overdue(day)
    return {"code": "claims_late", "day": day.isoformat(), "claims": list(late)}


def subsidy_settlement(now: dt.datetime) -> Result:
    """On the 1st: the month before's 降费奖补, per agency, from the ledger's postings to agencies' fee-subsidy
    accounts (a reversal in the month nets out), as what the fiscal fund owes each agency."""
    first = local_day(now).replace(day=1)
    start = (first - dt.timedelta(days=1)).replace(day=1)
    month = start.strftime("%Y-%m")
    owed = db.session.execute(
        select(Account.party_id, func.count(Posting.id), func.sum(Posting.amount))
        .join(Posting, Posting.account_id == Account.id).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Account.party == Party.AGENCY, Account.purpose == Purpose.FEE_SUBSIDY,
               JournalEntry.occurred_on >= start, JournalEntry.occurred_on < first)
        .group_by(Account.party_id).order_by(Account.party_id)).all()
    settled = set(db.session.scalars(select(SubsidySettlement.agency_id).where(SubsidySettlement.month == month)))
    made = [SubsidySettlement(agency_id=agency_id, month=month, entries=entries, amount=amount)
            for agency_id, entries, amount in owed if agency_id not in settled and amount]
    db.session.add_all(made)
    total = sum((s.amount for s in made), Decimal("0.00"))
    return {"code": "subsidies_settled", "month": month, "total": f"{total:.2f}", "agencies": len(made)}


def tier_expiry(now: dt.datetime) -> Result:
    """Open requests whose offers were priced for a tier the enterprise no longer holds (its certification expired
    or changed) are withdrawn, saying why: their offers can no longer be selected, and asking again shows today's."""
    day = local_day(now)
    candidates = [request for request in db.session.scalars(
        select(FinancingRequest).where(FinancingRequest.status == RequestStatus.OPEN).order_by(FinancingRequest.id))
        if request.enterprise.tier_on(day) is not request.tier_at_request]
    stale = []
    for request in candidates:
        why = reasons.tier_changed(day, request.tier_at_request.value, request.enterprise.tier_on(day).value)
        try:  # locked before its status is read again: the enterprise may have chosen an offer since
            withdraw(request, only_from=RequestStatus.OPEN, reason=why)
        except IllegalTransition:
            continue
        stale.append(request)
    return {"code": "requests_withdrawn", "day": day.isoformat(), "requests": [r.id for r in stale]}


def agreement_expiry(now: dt.datetime) -> Result:
    """Agreements past their valid_to become expired (they already take no new guarantees)."""
    day = local_day(now)
    ended = db.session.scalars(db.locking(select(Agreement).where(
        Agreement.status.in_([AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED]), Agreement.valid_to < day)
        .order_by(Agreement.id))).all()
    db.locked(*ended)
    for agreement in ended:
        states.move(agreement, AgreementStatus.EXPIRED, AGREEMENT_TRANSITIONS)
    return {"code": "agreements_expired", "day": day.isoformat(), "agreements": [a.code for a in ended]}


def counter_offer_lapse(now: dt.datetime) -> Result:
    """Counter-offers the enterprise left unanswered past their expiry date lapse, like a decline: the enterprise
    may choose another of its offers, and both sides are told."""
    day = local_day(now)
    lapsed = lapse_counters(day)
    return {"code": "counters_lapsed", "day": day.isoformat(), "applications": list(lapsed)}


def response_deadlines(now: dt.datetime) -> Result:
    """Banks are reminded, once each, of an application whose answer deadline is near, and of one it has passed."""
    day = local_day(now)
    sent = deadlines.remind(day)
    return {"code": "deadline_reminders", "day": day.isoformat(), "near": list(sent[deadlines.NEAR]),
            "passed": list(sent[deadlines.PASSED])}
