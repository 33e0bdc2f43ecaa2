"""The dashboards' figures: grouped sums and counts read straight from the tables that hold the business's state
(agreements, batches, applications, loans, loss allocations, fee rules and the ledger), one query per figure, in
plain dicts and lists. Months are business months (Asia/Shanghai), "YYYY-MM"."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)

from guarantees.models import (
    Agreement,
    AgreementStatus,
    Batch,
    BatchStatus,
    Claim,
    ClaimStatus,
    Guarantee,
    LossAllocation,
    RiskPool,
)
from guarantees.services import BatchAge, batch_age
from marketplace import db
from marketplace.dates import SHANGHAI, working_days_after, working_days_between
from marketplace.fees.models import FeeRule
from marketplace.financing.models import Application, ApplicationStatus, FinancingRequest, Loan, LoanStatus, Offer
from marketplace.i18n import in_reader_language
from marketplace.ledger.models import Account, JournalEntry, Party, Posting, Purpose
from marketplace.lpr.models import LprRate
from marketplace.money import from_fen
from marketplace.orgs.models import Agency, Bank
from marketplace.timeline import WITHDRAWN, TimelineEvent
from products.models import Product

ZERO = Decimal("0.00")
RATE = Decimal("0.000001")
#: How far back the charts over time reach.
MONTHS = 24
#: The longest lists drawn as bars (the rest are summed up in the table's caption).
TOP = 10


def months(today: dt.date, count: int = MONTHS) -> list[str]:
    """The `count` business months up to and including today's, oldest first."""
    year, month = today.year, today.month
    shown = []
    for _ in range(count):
        shown.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return shown[::-1]


def _month_end(month: str) -> dt.date:
    year, number = map(int, month.split("-"))
    first_of_next = dt.date(year + number // 12, number % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def month_of(column: Any, timestamp: bool = False) -> ColumnElement[str]:
    """"YYYY-MM" of a date column, or of a UTC timestamp column read in Asia/Shanghai (a fixed +8, no DST)."""
    # Formats as SQL literals, not bound parameters: PostgreSQL only matches the SELECT's expression to the GROUP
    # BY's when they are written the same, and two bound parameters are two placeholders.
    if db.session.get_bind().dialect.name == "postgresql":
        local = func.timezone(literal_column("'Asia/Shanghai'"), column) if timestamp else column
        return func.to_char(local, literal_column("'YYYY-MM'"))
    if timestamp:
        return func.strftime(literal_column("'%Y-%m'"), column, literal_column("'+8 hours'"))
    return func.strftime(literal_column("'%Y-%m'"), column)


def day_of(column: Any) -> ColumnElement[dt.date]:
    """The business date (Asia/Shanghai) of a UTC timestamp column."""
    if db.session.get_bind().dialect.name == "postgresql":
        # The cast is a no-op on timestamptz; a column migrated as a plain timestamp (timeline_events.at, by 0017)
        # holds the UTC moment in the session's time zone, which the cast reads it back in.
        moment = cast(column, DateTime(timezone=True))
        return cast(func.timezone(literal_column("'Asia/Shanghai'"), moment), Date)
    return type_coerce(func.date(column, literal_column("'+8 hours'")), Date)


def since(month: str) -> dt.datetime:
    """The UTC moment the business month "YYYY-MM" begins."""
    year, number = map(int, month.split("-"))
    return dt.datetime(year, number, 1, tzinfo=SHANGHAI).astimezone(dt.UTC)


def _deadline(respond_by: dt.date | None, routed: dt.date, response_days: int) -> dt.date:
    """The application's deadline; one routed before deadlines were recorded (or generated without one) is given
    `response_days` working days after the day it was routed, as routing gives them today."""
    return respond_by if respond_by is not None else working_days_after(routed, response_days)


def _median(counted: dict[int, int]) -> Decimal | None:
    """The median of values given with how many times each occurs (the middle two averaged for an even count)."""
    total = sum(counted.values())
    if not total:
        return None
    middle, seen, low = ((total - 1) // 2, total // 2), 0, None
    for value in sorted(counted):
        seen += counted[value]
        if low is None and seen > middle[0]:
            low = value
        if seen > middle[1]:
            return (Decimal(low) + Decimal(value)) / 2
    raise AssertionError("unreachable")


def _cumulative(by_month: dict[str, Decimal], shown: list[str]) -> list[Decimal]:
    """Running totals at the end of each shown month, counting everything before the first."""
    total, out, earlier = ZERO, [], sorted(m for m in by_month if m < shown[0])
    total += sum((by_month[m] for m in earlier), ZERO)
    for month in shown:
        total += by_month.get(month, ZERO)
        out.append(total)
    return out


def _sums(rows: Iterable[tuple[Any, ...]]) -> dict[Any, dict[str, Decimal]]:
    """(key, month, amount) rows → {key: {month: amount}}."""
    out: dict[Any, dict[str, Decimal]] = defaultdict(dict)
    for key, month, amount in rows:
        out[key][month] = amount or ZERO
    return out


# Agency --------------------------------------------------------------------------------------------------------

def agency_agreements(agency_id: int) -> list[Agreement]:
    """The agency's own agreements that hold or may hold quota (not those ended), by code."""
    return list(db.session.scalars(
        select(Agreement).where(Agreement.agency_id == agency_id,
                                Agreement.status.not_in((AgreementStatus.TERMINATED,)))
        .order_by(Agreement.code)))


def compensation_history(agreement_ids: list[int], shown: list[str]) -> dict[int, list[Decimal | None]]:
    """Each agreement's compensation rate (代偿率: compensated ÷ guaranteed, both since the start) at the end of each
    month; None before anything was guaranteed. Guaranteed counts a loan's principal when it is disbursed, as the
    agreement's running total does, so the last month ends on the rate the agreement shows today."""
    if not agreement_ids:
        return {}
    guaranteed = _sums(db.session.execute(
        select(Guarantee.agreement_id, month_of(Loan.disbursed_on), func.sum(Loan.principal))
        .join(Loan, Loan.id == Guarantee.loan_id)
        .where(Guarantee.agreement_id.in_(agreement_ids), Loan.disbursed_on.is_not(None))
        .group_by(Guarantee.agreement_id, month_of(Loan.disbursed_on))))
    compensated = _sums(db.session.execute(
        select(LossAllocation.agreement_id, month_of(LossAllocation.occurred_on),
               func.sum(LossAllocation.agency_compensation))
        .where(LossAllocation.agreement_id.in_(agreement_ids))
        .group_by(LossAllocation.agreement_id, month_of(LossAllocation.occurred_on))))
    history = {}
    for agreement_id in agreement_ids:
        paid = _cumulative(compensated.get(agreement_id, {}), shown)
        lent = _cumulative(guaranteed.get(agreement_id, {}), shown)
        history[agreement_id] = [(c / g).quantize(RATE, rounding=ROUND_HALF_UP) if g else None
                                 for c, g in zip(paid, lent, strict=True)]
    return history


def batches_in_review(agency_id: int, today: dt.date) -> list[tuple[Batch, BatchAge]]:
    """The agency's batches submitted and not yet decided, longest waiting first."""
    batches = db.session.scalars(
        select(Batch).join(Agreement, Agreement.id == Batch.agreement_id)
        .where(Agreement.agency_id == agency_id, Batch.status == BatchStatus.SUBMITTED)
        .order_by(Batch.submitted_at, Batch.id))
    return [(batch, age) for batch in batches if (age := batch_age(batch, today)) is not None]


# Bank ----------------------------------------------------------------------------------------------------------

def applications_by_status(bank_id: int) -> dict[str, int]:
    counts = dict(db.session.execute(select(Application.status, func.count())
                                     .where(Application.bank_id == bank_id).group_by(Application.status)).all())
    return {status.value: counts.get(status, 0) for status in ApplicationStatus}


def decisions_by_month(bank_id: int, shown: list[str]) -> dict[str, dict[str, int]]:
    """Approved and declined applications by the month of the bank's decision."""
    decided = month_of(Application.decided_at, timestamp=True)
    rows = db.session.execute(
        select(Application.status, decided, func.count())
        .where(Application.bank_id == bank_id, Application.decided_at.is_not(None), decided >= shown[0],
               Application.status.in_((ApplicationStatus.APPROVED, ApplicationStatus.DECLINED)))
        .group_by(Application.status, decided))
    out: dict[str, dict[str, int]] = {"approved": {}, "declined": {}}
    for status, month, count in rows:
        out[status.value][month] = count
    return out


def lending_by_month(shown: list[str], bank_id: int | None = None) -> dict[str, dict[str, Decimal]]:
    """Principal disbursed by month, with a guarantee and without (one bank's, or everyone's)."""
    month = month_of(Loan.disbursed_on)
    guaranteed = Guarantee.id.is_not(None)  # a loan has at most one guarantee
    query = (select(guaranteed, month, func.sum(Loan.principal))
             .outerjoin(Guarantee, Guarantee.loan_id == Loan.id)
             .where(Loan.disbursed_on.is_not(None), month >= shown[0]).group_by(guaranteed, month))
    if bank_id is not None:
        query = query.where(Loan.bank_id == bank_id)
    out: dict[str, dict[str, Decimal]] = {"guaranteed": {}, "unguaranteed": {}}
    for guaranteed, month_, amount in db.session.execute(query):
        out["guaranteed" if guaranteed else "unguaranteed"][month_] = amount
    return out


def product_uptake(bank_id: int) -> list[dict[str, Any]]:
    """The bank's products by applications received, most first: applications, approvals and principal lent."""
    approved = func.sum(case((Application.status == ApplicationStatus.APPROVED, 1), else_=0))
    rows = db.session.execute(
        select(Offer.product_name, Offer.product_name_en, func.count(Application.id), approved,
               func.coalesce(func.sum(type_coerce(Loan.principal, BigInteger)), 0))
        .select_from(Application).join(Offer, Offer.id == Application.offer_id)
        .outerjoin(Loan, Loan.application_id == Application.id)
        .where(Application.bank_id == bank_id)
        .group_by(Offer.product_name, Offer.product_name_en)
        .order_by(func.count(Application.id).desc(), Offer.product_name))
    return [{"name": in_reader_language(name, name_en), "applications": count, "approved": int(approved or 0),
             "lent": from_fen(int(fen))} for name, name_en, count, approved, fen in rows]


def deadlines(bank_id: int, today: dt.date, horizon: dt.date) -> dict[str, int]:
    """The bank's applications awaiting its decision past their deadline, and those whose deadline is near (today or
    later, before `horizon`: financing.deadlines.near_horizon), as its queue flags them and the reminders see them;
    one without a deadline (routed before there were any) is neither."""
    waiting = and_(Application.bank_id == bank_id, Application.status == ApplicationStatus.SUBMITTED)
    overdue = func.sum(case((Application.respond_by < today, 1), else_=0))
    near = func.sum(case((and_(Application.respond_by >= today, Application.respond_by < horizon), 1), else_=0))
    passed, soon = db.session.execute(select(overdue, near).where(waiting)).one()
    return {"overdue": int(passed or 0), "due_soon": int(soon or 0)}


# Admin ---------------------------------------------------------------------------------------------------------

def bank_response(start: dt.datetime, today: dt.date, response_days: int) -> list[dict[str, Any]]:
    """How each bank answered the applications routed to it since `start`, by bank name: one grouped query (by the
    day routed, the day decided, the deadline, the status and, for a withdrawal before any answer, the day of the
    withdrawal from the timeline), whose rows are bounded by banks × days rather than by applications; the rest is
    counted here, where the working-day calendar is.

    An answer is a decision (decided_at: approved, declined, countered, or approved into an unavailable guarantee),
    on time when made on or before the deadline's business date. The rate's denominator ("due") leaves out the
    applications still waiting whose deadline has not passed, and those the enterprise withdrew before an answer
    and by the deadline (or at an unknown time); one withdrawn unanswered after its deadline was missed. The time
    to a decision is in working days after the day routed (0: answered the same day), over the answered ones."""
    unanswered = and_(Application.status == ApplicationStatus.WITHDRAWN, Application.decided_at.is_(None))
    withdrawn_at = (select(func.min(TimelineEvent.at))  # looked up for those only, by the timeline's request index
                    .where(TimelineEvent.request_id == Application.request_id, TimelineEvent.event == WITHDRAWN)
                    .scalar_subquery())
    each = (select(Application.bank_id, Application.status, day_of(Application.created_at).label("routed"),
                   day_of(Application.decided_at).label("decided"), Application.respond_by,
                   case((unanswered, withdrawn_at), else_=None).label("withdrawn_at"))
            .where(Application.created_at >= start).subquery())
    withdrawn = day_of(each.c.withdrawn_at)
    key = (each.c.bank_id, Bank.name, Bank.name_en, each.c.status, each.c.routed, each.c.decided, each.c.respond_by,
           withdrawn)
    rows = db.session.execute(select(*key, func.count()).join(Bank, Bank.id == each.c.bank_id).group_by(*key))
    banks: dict[int, dict[str, Any]] = {}
    due_by, lag = cache(_deadline), cache(working_days_between)  # many rows share their days
    for bank_id, name, name_en, status, routed_on, decided_on, respond_by, withdrawn_on, count in rows:
        bank = banks.setdefault(bank_id, {"name": in_reader_language(name, name_en), "received": 0, "due": 0,
                                          "on_time": 0, "overdue": 0, "decided": 0, "approved": 0,
                                          "days": defaultdict(int)})
        deadline = due_by(respond_by, routed_on, response_days)
        bank["received"] += count
        if decided_on is not None:
            bank["due"] += count
            bank["decided"] += count
            bank["on_time"] += count if decided_on <= deadline else 0
            bank["approved"] += count if status is ApplicationStatus.APPROVED else 0
            bank["days"][lag(routed_on, decided_on)] += count
        elif status is ApplicationStatus.SUBMITTED:
            if deadline < today:
                bank["due"] += count
                bank["overdue"] += count
        elif withdrawn_on is not None and withdrawn_on > deadline:
            bank["due"] += count
    out = []
    for bank_id, bank in sorted(banks.items(), key=lambda item: (item[1]["name"], item[0])):
        days = bank.pop("days")
        out.append({**bank, "id": bank_id, "median_days": _median(days),
                    "pick_up_rate": _share(bank["on_time"], bank["due"]),
                    "approval_rate": _share(bank["approved"], bank["decided"])})
    return out


#: Rates shown to a tenth of a percent, rounded here (half up) so no page rounds a float.
SHOWN_RATE = Decimal("0.001")


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(SHOWN_RATE, rounding=ROUND_HALF_UP) if whole else None


def lending_by_tier() -> dict[str, Decimal]:
    """Principal disbursed by the enterprise's certified tier when it asked."""
    return dict(db.session.execute(
        select(FinancingRequest.tier_at_request, func.sum(Loan.principal))
        .select_from(Loan).join(Application, Application.id == Loan.application_id)
        .join(FinancingRequest, FinancingRequest.id == Application.request_id)
        .where(Loan.disbursed_on.is_not(None)).group_by(FinancingRequest.tier_at_request)).all())


def lending_by_product_type() -> dict[str, Decimal]:
    return dict(db.session.execute(
        select(Product.product_type, func.sum(Loan.principal)).join(Product, Product.id == Loan.product_id)
        .where(Loan.disbursed_on.is_not(None)).group_by(Product.product_type)).all())


def first_time_borrowers(shown: list[str]) -> tuple[dict[str, int], int]:
    """Enterprises by the month of their first disbursed loan on the marketplace, and all borrowers so far."""
    first = (select(Loan.enterprise_id, func.min(Loan.disbursed_on).label("first"))
             .where(Loan.disbursed_on.is_not(None)).group_by(Loan.enterprise_id).subquery())
    month = month_of(first.c.first)
    by_month = dict(db.session.execute(select(month, func.count()).select_from(first)
                                       .where(month >= shown[0]).group_by(month)).all())
    return by_month, db.session.scalar(select(func.count()).select_from(first)) or 0


def all_in_rate_by_month(shown: list[str]) -> dict[str, Decimal]:
    """The principal-weighted average all-in rate (interest plus the guarantee fee the enterprise pays, after
    subsidies) of the loans disbursed each month, as their offers priced them."""
    month = month_of(Loan.disbursed_on)
    fen = type_coerce(Loan.principal, BigInteger)
    rows = db.session.execute(
        select(month, func.sum(fen * Offer.all_in_rate), func.sum(fen))
        .select_from(Loan).join(Application, Application.id == Loan.application_id)
        .join(Offer, Offer.id == Application.offer_id)
        .where(Loan.disbursed_on.is_not(None), month >= shown[0]).group_by(month))
    return {m: (Decimal(str(weighted)) / Decimal(total)).quantize(RATE, rounding=ROUND_HALF_UP)
            for m, weighted, total in rows if total}


def lpr_by_month(shown: list[str]) -> list[Decimal | None]:
    """The one-year LPR in force at each month's end."""
    rates = db.session.execute(select(LprRate.effective_on, LprRate.lpr_1y).order_by(LprRate.effective_on)).all()
    out = []
    for month in shown:
        end = _month_end(month)
        out.append(next((rate for day, rate in reversed(rates) if day <= end), None))
    return out


def subsidy_budgets() -> list[FeeRule]:
    """Fee rules that have granted a fiscal subsidy or have a budget for one, biggest budget first."""
    return list(db.session.scalars(
        select(FeeRule).where((FeeRule.budget.is_not(None)) | (FeeRule.subsidy_granted > 0))
        .order_by(FeeRule.budget.desc().nulls_last(), FeeRule.name)))


def risk_pools() -> list[RiskPool]:
    return list(db.session.scalars(select(RiskPool).order_by(RiskPool.name)))


def pool_balances(shown: list[str]) -> dict[int, list[Decimal]]:
    """Each risk pool's cash at each month's end, from the ledger's postings to the pool's cash account."""
    month = month_of(JournalEntry.occurred_on)
    moves = _sums(db.session.execute(
        select(Account.party_id, month, func.sum(Posting.amount))
        .select_from(Posting).join(Account, Account.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Account.party == Party.RISK_POOL, Account.purpose == Purpose.CASH)
        .group_by(Account.party_id, month)))
    return {pool_id: _cumulative(by_month, shown) for pool_id, by_month in moves.items()}


def pool_claims(shown: list[str]) -> dict[int, dict[str, Decimal]]:
    """The pools' share of each month's losses (paid at once or owed as a claim), by pool."""
    month = month_of(LossAllocation.occurred_on)
    rows = db.session.execute(
        select(Agreement.risk_pool_id, month,
               func.sum(type_coerce(LossAllocation.risk_pool_paid, BigInteger)
                        + type_coerce(LossAllocation.risk_pool_claim, BigInteger)))
        .join(Agreement, Agreement.id == LossAllocation.agreement_id)
        .where(Agreement.risk_pool_id.is_not(None), month >= shown[0])
        .group_by(Agreement.risk_pool_id, month))
    return _sums((pool_id, month_, from_fen(int(fen or 0))) for pool_id, month_, fen in rows)


# Claims (代偿申请) and overdue loans -------------------------------------------------------------------------------

#: Where a filed claim stands on its deadline (the claims queue's flags): past it (or flagged by the scheduler),
#: due soon (before the horizon), or within it; a decided claim is none of these.
CLAIM_STANDINGS = ("within", "soon", "past")


def _claims(scope: ColumnElement[bool], today: dt.date, horizon: dt.date) -> dict[str, Any]:
    """Claims by status and, the filed ones, by where they stand on their deadlines, with their amounts and the
    earliest deadline of each: one grouped query over a subquery that names each claim's standing once (a bound
    date written in both SELECT and GROUP BY would be two placeholders to PostgreSQL)."""
    filed = Claim.status == ClaimStatus.FILED
    standing = case((and_(filed, or_(Claim.due_by < today, Claim.overdue_on.is_not(None))), "past"),
                    (and_(filed, Claim.due_by < horizon), "soon"), (filed, "within"), else_="decided")
    each = (select(Claim.status, standing.label("standing"), Claim.due_by, Claim.amount)
            .join(Agreement, Agreement.id == Claim.agreement_id).where(scope).subquery())
    rows = db.session.execute(
        select(each.c.status, each.c.standing, func.count(), func.sum(each.c.amount), func.min(each.c.due_by))
        .group_by(each.c.status, each.c.standing))
    out: dict[str, Any] = {"by_status": {status.value: 0 for status in ClaimStatus},
                           "filed": {key: 0 for key in CLAIM_STANDINGS}, "filed_amount": ZERO,
                           "oldest_due": None, "oldest_past_due": None}
    for status, where, count, amount, earliest in rows:
        out["by_status"][status.value] += count
        if where in CLAIM_STANDINGS:
            out["filed"][where] += count
            out["filed_amount"] += amount or ZERO
            out["oldest_due"] = min(filter(None, (out["oldest_due"], earliest)), default=None)
            if where == "past":
                out["oldest_past_due"] = earliest
    return out


def agency_claims(agency_id: int, today: dt.date, horizon: dt.date) -> dict[str, Any]:
    """The claims on the agency's agreements (see `_claims`); `horizon`: guarantees.claim_views.near_horizon."""
    return _claims(Agreement.agency_id == agency_id, today, horizon)


def bank_claims(bank_id: int, today: dt.date, horizon: dt.date) -> dict[str, Any]:
    """The claims the bank filed (see `_claims`)."""
    return _claims(Claim.bank_id == bank_id, today, horizon)


def overdue_loans(bank_id: int) -> dict[str, Any]:
    """The bank's loans reported overdue and not yet defaulted: how many, and the principal they still owe."""
    count, outstanding = db.session.execute(
        select(func.count(), func.sum(Loan.outstanding))
        .where(Loan.bank_id == bank_id, Loan.status == LoanStatus.OVERDUE)).one()
    return {"count": count, "outstanding": outstanding or ZERO}


def claims_past_deadline(today: dt.date) -> list[dict[str, Any]]:
    """Filed claims past their deadlines (or flagged), by agency, most first: how many, how much, the earliest
    deadline."""
    late = and_(Claim.status == ClaimStatus.FILED, or_(Claim.due_by < today, Claim.overdue_on.is_not(None)))
    rows = db.session.execute(
        select(Agency.id, Agency.name, Agency.name_en, func.count(), func.sum(Claim.amount), func.min(Claim.due_by))
        .select_from(Claim).join(Agreement, Agreement.id == Claim.agreement_id)
        .join(Agency, Agency.id == Agreement.agency_id).where(late)
        .group_by(Agency.id, Agency.name, Agency.name_en).order_by(func.count().desc(), Agency.name))
    return [{"id": agency_id, "name": in_reader_language(name, name_en), "count": count, "amount": amount or ZERO,
             "oldest_due": oldest} for agency_id, name, name_en, count, amount, oldest in rows]
