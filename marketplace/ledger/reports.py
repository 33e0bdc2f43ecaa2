"""Reading the ledger: trial balance, journal, account entries, exports, and `verify`, which recomputes every
invariant from the postings. (An agreement's statement is guarantees' report: guarantees/statements.py.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Response
from flask_babel import gettext as _
from sqlalchemy import BigInteger, Select, String, and_, case, exists, func, literal, or_, select, type_coerce
from sqlalchemy.sql import Subquery

from marketplace import db, spreadsheets
from marketplace.auth.models import Role, User
from marketplace.ledger.models import Account, JournalEntry, Party, Posting, Purpose
from marketplace.money import from_fen
from marketplace.orgs.models import Organization

ZERO = Decimal("0.00")


def _owned_by(user: User) -> Any:
    """The accounts a user may read: the admin all, a party its own (an agency also as re-guarantor)."""
    if user.role is Role.ADMIN:
        return literal(True)
    parties = {Role.AGENCY: (Party.AGENCY, Party.REGUARANTOR), Role.BANK: (Party.BANK,),
               Role.ENTERPRISE: (Party.ENTERPRISE,)}.get(user.role, ())
    return and_(Account.party.in_(parties), Account.party_id == user.organization_id)


#: The risk pools' names as (id, name) rows. Pools are guarantees' and the ledger never reads them itself; the edge
#: that asks for a report passes them (guarantees.services.pool_names()).
PoolNames = Subquery


def _owner_names(pools: PoolNames) -> Any:
    """The account owner's name: the organisation, the risk pool, or the fiscal fund (per row, for joined reads)."""
    org = select(Organization.display_name).where(Organization.id == Account.party_id).scalar_subquery()
    pool = select(pools.c.name).where(pools.c.id == Account.party_id).scalar_subquery()
    fund = literal(_("Fiscal fund"))
    return case((Account.party == Party.RISK_POOL, pool), (Account.party == Party.FISCAL_FUND, fund), else_=org)


def trial_balance(user: User, pools: PoolNames) -> dict[str, Any]:
    """Balances as kept with the postings (one read of the accounts, whatever the postings count)."""
    # The owners by two outer joins (hashed once) rather than a subquery per account; plain columns, no enum or
    # money processing per row: a province's chart has an account per enterprise, and this is read often.
    owner = case((Account.party == Party.RISK_POOL, pools.c.name),
                 (Account.party == Party.FISCAL_FUND, literal(_("Fiscal fund"))), else_=Organization.display_name)
    rows = db.session.execute(
        select(Account.id, Account.code, type_coerce(Account.party, String), Account.party_id,
               type_coerce(Account.purpose, String), type_coerce(Account.balance, BigInteger), owner)
        .outerjoin(Organization, and_(Account.party.not_in([Party.RISK_POOL, Party.FISCAL_FUND]),
                                      Organization.id == Account.party_id))
        .outerjoin(pools, and_(Account.party == Party.RISK_POOL, pools.c.id == Account.party_id))
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


def loan_entries(loan_id: int, pools: PoolNames) -> tuple[list[JournalEntry], dict[int, str]]:
    """One loan's entries (its guarantee fee, default, compensation and recoveries), oldest first, with the names of
    their accounts' owners: for the loan's page, whose reader the caller has checked may read the loan."""
    entries = list(db.session.scalars(select(JournalEntry).where(JournalEntry.ref == f"loan:{loan_id}")
                                      .order_by(JournalEntry.occurred_on, JournalEntry.id)))
    ids = {posting.account_id for entry in entries for posting in entry.postings}
    owners = dict(db.session.execute(select(Account.id, _owner_names(pools)).where(db.among(Account.id, ids))
                                     ).all()) if ids else {}
    return entries, owners


EXPORT_COLUMNS = ("entry_id", "occurred_on", "kind", "ref", "idempotency_key", "account", "owner", "debit", "credit")


def journal_table(user: User, pools: PoolNames, date_from: dt.date | None, date_to: dt.date | None,
                  ref: str | None = None) -> spreadsheets.Table:
    """One row per posting of the entries in the date range (and of `ref`, when given), for CSV and XLSX."""
    entries = journal(user, ref, date_from, date_to).subquery()
    rows = db.session.execute(
        select(entries.c.id, entries.c.occurred_on, entries.c.kind, entries.c.ref, entries.c.idempotency_key,
               Account.code, _owner_names(pools), Posting.amount)
        .join(Posting, Posting.entry_id == entries.c.id).join(Account, Account.id == Posting.account_id)
        .order_by(entries.c.occurred_on, entries.c.id, Posting.id))
    return spreadsheets.Table("journal", EXPORT_COLUMNS, [
        (entry_id, day.isoformat(), kind.value if hasattr(kind, "value") else kind, ref, key, code, owner,
         amount if amount > 0 else None, -amount if amount < 0 else None)
        for entry_id, day, kind, ref, key, code, owner, amount in rows])


def journal_download(user: User, pools: PoolNames, query: dict[str, Any], fmt: str) -> Response:
    """The journal export of the API and the admin's page: `journal_{from}_{to}`.csv or .xlsx."""
    with db.reports_replica():
        table = journal_table(user, pools, query.get("date_from"), query.get("date_to"), query.get("ref"))
    span = f"{query.get('date_from') or 'start'}_{query.get('date_to') or 'today'}"
    return spreadsheets.download(table, fmt, f"journal_{span}")


# verify ---------------------------------------------------------------------------------------------------------

def verify() -> list[str]:
    """The ledger's own invariants (DESIGN.md §Ledger), recomputed from the postings: every entry balances, every
    account keeps the sum of its postings, no pool cash below zero, the trial balance balances; → the violations
    (none when sound). What the ledger's figures must agree with elsewhere (pools, allocations, fee budgets) is
    checked by the package that owns those rows (`marketplace.verify` runs them all)."""
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
    return problems
