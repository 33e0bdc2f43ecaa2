"""Reading the ledger: trial balance, journal, account entries, agreement statements, exports, and `verify`,
which recomputes every invariant from the postings."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import Any

from flask import Response
from flask_babel import gettext as _
from sqlalchemy import BigInteger, Select, String, and_, case, exists, func, literal, or_, select, type_coerce

from guarantees.models import Agreement, Guarantee, LossAllocation, PoolClaim, RecoveryAllocation, RiskPool
from marketplace import db, spreadsheets
from marketplace.auth.models import Role, User
from marketplace.fees.models import FeeRule
from marketplace.ledger.models import Account, JournalEntry, Party, Posting, Purpose
from marketplace.money import FEN, from_fen
from marketplace.orgs.models import Organization

ZERO = Decimal("0.00")


def _owned_by(user: User) -> Any:
    """The accounts a user may read: the admin all, a party its own (an agency also as re-guarantor)."""
    if user.role is Role.ADMIN:
        return literal(True)
    parties = {Role.AGENCY: (Party.AGENCY, Party.REGUARANTOR), Role.BANK: (Party.BANK,),
               Role.ENTERPRISE: (Party.ENTERPRISE,)}.get(user.role, ())
    return and_(Account.party.in_(parties), Account.party_id == user.organization_id)


def _owner_names() -> Any:
    """The account owner's name: the organisation, the risk pool, or the fiscal fund (per row, for joined reads)."""
    org = select(Organization.name).where(Organization.id == Account.party_id).scalar_subquery()
    pool = select(RiskPool.name).where(RiskPool.id == Account.party_id).scalar_subquery()
    fund = literal(_("Fiscal fund"))
    return case((Account.party == Party.RISK_POOL, pool), (Account.party == Party.FISCAL_FUND, fund), else_=org)


def trial_balance(user: User) -> dict[str, Any]:
    """Balances as kept with the postings (one read of the accounts, whatever the postings count)."""
    # The owners by two outer joins (hashed once) rather than a subquery per account; plain columns, no enum or
    # money processing per row: a province's chart has an account per enterprise, and this is read often.
    owner = case((Account.party == Party.RISK_POOL, RiskPool.name),
                 (Account.party == Party.FISCAL_FUND, literal(_("Fiscal fund"))), else_=Organization.name)
    rows = db.session.execute(
        select(Account.id, Account.code, type_coerce(Account.party, String), Account.party_id,
               type_coerce(Account.purpose, String), type_coerce(Account.balance, BigInteger), owner)
        .outerjoin(Organization, and_(Account.party.not_in([Party.RISK_POOL, Party.FISCAL_FUND]),
                                      Organization.id == Account.party_id))
        .outerjoin(RiskPool, and_(Account.party == Party.RISK_POOL, RiskPool.id == Account.party_id))
        .where(_owned_by(user)).order_by(Account.code)).all()
    debit_fen = sum(row[5] for row in rows if row[5] > 0)
    credit_fen = -sum(row[5] for row in rows if row[5] < 0)
    if user.role is Role.ADMIN:  # every account is in rows
        balanced = debit_fen == credit_fen
    else:  # a party's own accounts need not balance; the ledger as a whole must
        balanced = db.session.scalar(select(func.coalesce(func.sum(type_coerce(Account.balance, BigInteger)), 0))) == 0
    return {"total_debits": from_fen(debit_fen), "total_credits": from_fen(credit_fen), "balanced": balanced,
            "accounts": [{"id": account_id, "code": code, "owner": name or code, "party": party, "party_id": party_id,
                          "purpose": purpose, "balance": from_fen(fen)}
                         for account_id, code, party, party_id, purpose, fen, name in rows]}


def visible_account(user: User, account_id: int) -> Account | None:
    return db.session.scalar(select(Account).where(Account.id == account_id, _owned_by(user)))


def account_postings(account_id: int) -> Select:
    return (select(Posting, JournalEntry).join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == account_id).order_by(Posting.entry_id))


def journal(user: User, ref: str | None = None, date_from: dt.date | None = None,
            date_to: dt.date | None = None, newest_first: bool = False) -> Select[tuple[JournalEntry]]:
    """Entries by reference and date, oldest first (or newest); a party sees the entries that touch its accounts."""
    order = (JournalEntry.occurred_on.desc(), JournalEntry.id.desc()) if newest_first else (
        JournalEntry.occurred_on, JournalEntry.id)
    query = select(JournalEntry).order_by(*order)
    if ref:
        query = query.where(JournalEntry.ref == ref)
    if date_from:
        query = query.where(JournalEntry.occurred_on >= date_from)
    if date_to:
        query = query.where(JournalEntry.occurred_on <= date_to)
    if user.role is not Role.ADMIN:
        mine = select(Posting.entry_id).join(Account, Account.id == Posting.account_id).where(_owned_by(user))
        query = query.where(JournalEntry.id.in_(mine))
    return query


EXPORT_COLUMNS = ("entry_id", "occurred_on", "kind", "ref", "idempotency_key", "account", "owner", "debit", "credit")


def journal_table(user: User, date_from: dt.date | None, date_to: dt.date | None,
                  ref: str | None = None) -> spreadsheets.Table:
    """One row per posting of the entries in the date range (and of `ref`, when given), for CSV and XLSX."""
    entries = journal(user, ref, date_from, date_to).subquery()
    rows = db.session.execute(
        select(entries.c.id, entries.c.occurred_on, entries.c.kind, entries.c.ref, entries.c.idempotency_key,
               Account.code, _owner_names(), Posting.amount)
        .join(Posting, Posting.entry_id == entries.c.id).join(Account, Account.id == Posting.account_id)
        .order_by(entries.c.occurred_on, entries.c.id, Posting.id))
    return spreadsheets.Table("journal", EXPORT_COLUMNS, [
        (entry_id, day.isoformat(), kind.value if hasattr(kind, "value") else kind, ref, key, code, owner,
         amount if amount > 0 else None, -amount if amount < 0 else None)
        for entry_id, day, kind, ref, key, code, owner, amount in rows])


def journal_download(user: User, query: dict[str, Any], fmt: str) -> Response:
    """The journal export of the API and the admin's page: `journal_{from}_{to}`.csv or .xlsx."""
    with db.reports_replica():
        table = journal_table(user, query.get("date_from"), query.get("date_to"), query.get("ref"))
    span = f"{query.get('date_from') or 'start'}_{query.get('date_to') or 'today'}"
    return spreadsheets.download(table, fmt, f"journal_{span}")


def agreement_statement(agreement: Agreement) -> dict[str, Any]:
    """What an agreement has earned and paid: fees, subsidies, defaults, recoveries and the compensation cap."""
    fees = db.session.execute(select(
        func.count(Guarantee.id), func.coalesce(func.sum(Guarantee.list_fee), 0),
        func.coalesce(func.sum(Guarantee.fee_charged), 0), func.coalesce(func.sum(Guarantee.fiscal_subsidy), 0))
        .where(Guarantee.agreement_id == agreement.id, Guarantee.fee_charged.is_not(None))).one()
    defaults = db.session.scalars(select(LossAllocation).where(LossAllocation.agreement_id == agreement.id)
                                  .order_by(LossAllocation.id)).all()
    recoveries = db.session.scalars(select(RecoveryAllocation).where(RecoveryAllocation.agreement_id == agreement.id)
                                    .order_by(RecoveryAllocation.id)).all()
    ceiling = (agreement.compensation_cap_rate * agreement.guaranteed_total).quantize(FEN, rounding=ROUND_DOWN)
    money = Decimal  # sums come back as Decimal (Money) or 0
    return {
        "agreement_id": agreement.id, "code": agreement.code, "status": agreement.effective_status.value,
        "guaranteed_total": agreement.guaranteed_total, "compensated_total": agreement.compensated_total,
        "compensation_rate": agreement.compensation_rate, "compensation_cap_rate": agreement.compensation_cap_rate,
        "compensation_room": max(ceiling - agreement.compensated_total, ZERO),
        "loans_charged": fees[0], "list_fees": money(fees[1]), "fees_charged": money(fees[2]),
        "fiscal_subsidies": money(fees[3]), "agency_fee_income": money(fees[2]) + money(fees[3]),
        "defaults": [allocation_dict(d) for d in defaults],
        "recoveries": [recovery_dict(r) for r in recoveries],
    }


def allocation_dict(d: LossAllocation) -> dict[str, Any]:
    return {"loan_id": d.loan_id, "occurred_on": d.occurred_on, "loss": d.loss, "bank_borne": d.bank_borne,
            "beyond_cap": d.beyond_cap, "agency_compensation": d.agency_compensation, "agency_net": d.agency_net,
            "reguarantee": d.reguarantee, "risk_pool_paid": d.risk_pool_paid, "risk_pool_claim": d.risk_pool_claim}


def recovery_dict(r: RecoveryAllocation) -> dict[str, Any]:
    return {"loan_id": r.loan_id, "occurred_on": r.occurred_on, "amount": r.amount, "bank": r.bank,
            "agency": r.agency, "reguarantee": r.reguarantee, "risk_pool": r.risk_pool}


STATEMENT_FIGURES = ("guaranteed_total", "loans_charged", "list_fees", "fees_charged", "fiscal_subsidies",
                     "agency_fee_income", "compensated_total", "compensation_rate", "compensation_cap_rate",
                     "compensation_room")
DEFAULT_COLUMNS = ("loan_id", "occurred_on", "loss", "bank_borne", "beyond_cap", "agency_compensation", "agency_net",
                   "reguarantee", "risk_pool_paid", "risk_pool_claim")
RECOVERY_COLUMNS = ("loan_id", "occurred_on", "amount", "bank", "agency", "reguarantee", "risk_pool")


def statement_download(statement: dict[str, Any], fmt: str) -> Response:
    """An agreement's statement: in XLSX a sheet each for the figures, the defaults and the recoveries (each with its
    totals); in CSV one long table, a row per figure (section, loan_id, occurred_on, figure, value)."""
    filename = f"statement_{statement['code']}"
    if fmt == "xlsx":
        return spreadsheets.download([
            spreadsheets.Table("statement", ("figure", "value"),
                               [(figure, statement[figure]) for figure in STATEMENT_FIGURES]),
            _movements("defaults", DEFAULT_COLUMNS, statement["defaults"]),
            _movements("recoveries", RECOVERY_COLUMNS, statement["recoveries"])], fmt, filename)
    rows = [("statement", None, None, figure, statement[figure]) for figure in STATEMENT_FIGURES]
    for section, columns in (("defaults", DEFAULT_COLUMNS), ("recoveries", RECOVERY_COLUMNS)):
        rows += [(section, movement["loan_id"], movement["occurred_on"], column, movement[column])
                 for movement in statement[section] for column in columns[2:]]
    return spreadsheets.download(spreadsheets.Table("statement", ("section", "loan_id", "occurred_on", "figure",
                                                                  "value"), rows), fmt, filename)


def _movements(title: str, columns: tuple[str, ...], movements: list[dict[str, Any]]) -> spreadsheets.Table:
    totals = [_("Total"), None, *(sum((m[c] for m in movements), ZERO) for c in columns[2:])]
    return spreadsheets.Table(title, columns, [tuple(m[c] for c in columns) for m in movements], totals)


# verify ---------------------------------------------------------------------------------------------------------

def verify() -> list[str]:
    """Every invariant of DESIGN.md §Ledger, recomputed from the rows; → the violations (none when sound)."""
    problems: list[str] = []
    unbalanced = db.session.execute(select(Posting.entry_id, func.sum(Posting.amount), func.count())
                                    .group_by(Posting.entry_id)
                                    .having(or_(func.sum(Posting.amount) != 0, func.count() < 2))).all()
    problems += [_("Entry %(id)d does not balance (%(n)d postings, sum %(sum)s).", id=e, n=n, sum=f"{s:.2f}")
                 for e, s, n in unbalanced]
    # NOT EXISTS, an anti-join on the postings' entry index: NOT IN over millions of postings never finishes.
    empty = db.session.scalars(select(JournalEntry.id)
                               .where(~exists().where(Posting.entry_id == JournalEntry.id))).all()
    problems += [_("Entry %(id)d has no postings.", id=e) for e in empty]
    sums = dict(db.session.execute(select(Posting.account_id, func.sum(Posting.amount))
                                  .group_by(Posting.account_id)).all())
    for account in db.session.scalars(select(Account).order_by(Account.id)):
        recomputed = sums.get(account.id, ZERO)
        if recomputed != account.balance:
            problems.append(_("Account %(code)s keeps %(kept)s but its postings sum to %(sum)s.", code=account.code,
                              kept=f"{account.balance:.2f}", sum=f"{recomputed:.2f}"))
        if account.purpose is Purpose.CASH and account.balance < 0:
            problems.append(_("Risk pool cash %(code)s is below zero.", code=account.code))
    total = sum(sums.values(), ZERO)
    if total != 0:
        problems.append(_("The trial balance does not balance: debits exceed credits by %(d)s.", d=f"{total:.2f}"))
    problems += _verify_pools(sums)
    problems += _verify_allocations()
    over = db.session.scalars(select(FeeRule).where(FeeRule.budget.is_not(None),
                                                    FeeRule.subsidy_granted > FeeRule.budget)).all()
    problems += [_("Fee rule %(id)d granted more than its budget.", id=r.id) for r in over]
    return problems


def _verify_pools(sums: dict[int, Decimal]) -> list[str]:
    problems = []
    accounts = {(a.party_id, a.purpose): a.id for a in db.session.scalars(
        select(Account).where(Account.party == Party.RISK_POOL))}
    open_claims = {pool_id: owed - paid for pool_id, owed, paid in db.session.execute(
        select(PoolClaim.pool_id, func.sum(PoolClaim.amount), func.sum(PoolClaim.paid)).group_by(PoolClaim.pool_id))}
    for pool in db.session.scalars(select(RiskPool).order_by(RiskPool.id)):
        cash = sums.get(accounts.get((pool.id, Purpose.CASH)), ZERO)
        if pool.balance != cash or pool.balance < 0:
            problems.append(_("Risk pool %(name)s shows %(shown)s but its cash account holds %(cash)s.",
                              name=pool.name, shown=f"{pool.balance:.2f}", cash=f"{cash:.2f}"))
        if pool.balance != pool.deposited + pool.recovered - pool.paid_out:
            problems.append(_("Risk pool %(name)s: balance is not deposits + recoveries − payouts.", name=pool.name))
        owed, claims = -sums.get(accounts.get((pool.id, Purpose.CLAIMS)), ZERO), open_claims.get(pool.id) or ZERO
        if owed != claims:
            problems.append(_("Risk pool %(name)s owes %(owed)s in its ledger but %(claims)s in open claims.",
                              name=pool.name, owed=f"{owed:.2f}", claims=f"{claims:.2f}"))
    return problems


def _verify_allocations() -> list[str]:
    problems = []
    for d in db.session.scalars(select(LossAllocation)):
        if d.bank_borne + d.agency_compensation != d.loss or d.beyond_cap > d.bank_borne or \
                d.agency_net + d.reguarantee + d.risk_pool_paid + d.risk_pool_claim != d.agency_compensation:
            problems.append(_("The loss of loan %(id)d is not shared out exactly.", id=d.loan_id))
    for r in db.session.scalars(select(RecoveryAllocation)):
        if r.bank + r.agency + r.reguarantee + r.risk_pool != r.amount:
            problems.append(_("A recovery on loan %(id)d is not shared out exactly.", id=r.loan_id))
    compensated = dict(db.session.execute(
        select(LossAllocation.agreement_id, func.sum(LossAllocation.agency_compensation))
        .where(LossAllocation.agreement_id.is_not(None)).group_by(LossAllocation.agreement_id)).all())
    for agreement in db.session.scalars(select(Agreement)):
        if agreement.compensated_total != Decimal(compensated.get(agreement.id) or 0):
            problems.append(_("Agreement %(code)s: compensated total differs from its defaults.", code=agreement.code))
        ceiling = (agreement.compensation_cap_rate * agreement.guaranteed_total).quantize(FEN, rounding=ROUND_DOWN)
        if agreement.compensated_total > ceiling:
            problems.append(_("Agreement %(code)s compensated beyond its cap.", code=agreement.code))
    return problems
