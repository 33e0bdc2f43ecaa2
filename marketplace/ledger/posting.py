"""The one way money enters the ledger: `post` (one entry) and `post_many` (a batch) both go through `_write`.

An entry is checked before anything is written: two or more postings in whole fen that sum to zero. Its
idempotency key makes a replay post nothing (the first entry is returned). Account balances are updated in the
same transaction as the postings, in ascending account id, so two transactions touching the same hot accounts
queue rather than deadlock. On PostgreSQL a deferred constraint trigger re-checks every entry at commit, and
postings cannot be updated or deleted (migration 0006).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace import db
from marketplace.errors import Conflict, NotFound
from marketplace.ledger.models import Account, EntryKind, JournalEntry, Party, Posting, Purpose
from marketplace.money import FEN

FISCAL_FUND_ID = 0


class UnbalancedEntry(ValueError):
    """A programming error: the code tried to post an entry that does not balance or is not in whole fen."""


@dataclass(frozen=True)
class Entry:
    key: str
    kind: EntryKind
    ref: str
    occurred_on: dt.date
    #: (account id, amount): debits positive, credits negative.
    lines: Sequence[tuple[int, Decimal]]
    memo: str = ""
    reverses_id: int | None = None
    merged: dict[int, Decimal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        merged: dict[int, Decimal] = defaultdict(Decimal)
        for account_id, amount in self.lines:
            if Decimal(amount) != Decimal(amount).quantize(FEN):
                raise UnbalancedEntry(f"{self.key}: {amount} is not a whole number of fen")
            merged[account_id] += Decimal(amount)
        merged = {account_id: amount for account_id, amount in sorted(merged.items()) if amount}
        if len(merged) < 2:
            raise UnbalancedEntry(f"{self.key}: an entry needs two or more postings, got {len(merged)}")
        if sum(merged.values()) != 0:
            raise UnbalancedEntry(f"{self.key}: postings sum to {sum(merged.values())}, not zero")
        object.__setattr__(self, "merged", merged)


def account(party: Party, party_id: int, purpose: Purpose) -> int:
    """The id of the party's account for `purpose`, opened on first use (safely under concurrency)."""
    query = select(Account.id).where(Account.party == party, Account.party_id == party_id,
                                     Account.purpose == purpose)
    if (found := db.session.scalar(query)) is not None:
        return found
    dialect_insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(dialect_insert(Account).values(
        code=f"{party.value}:{party_id}:{purpose.value}", party=party, party_id=party_id, purpose=purpose,
        balance=Decimal("0.00"), created_at=db.utcnow()).on_conflict_do_nothing())
    return db.session.scalar(query)


def post(entry: Entry) -> tuple[JournalEntry, bool]:
    """Post one entry; → (the entry, True) or, when its key was posted before, (that entry, False)."""
    [(journal_entry, posted)] = post_many([entry])
    return journal_entry, posted


def post_many(entries: Iterable[Entry]) -> list[tuple[JournalEntry, bool]]:
    """Post entries in one go (three statements for any number); replays post nothing."""
    entries = list(entries)
    ids = _write(entries)
    loaded = {e.id: e for e in db.session.scalars(select(JournalEntry).where(JournalEntry.id.in_(
        [entry_id for entry_id, _ in ids])))}
    return [(loaded[entry_id], posted) for entry_id, posted in ids]


def post_fast(entries: Iterable[Entry]) -> list[int]:
    """Like `post_many`, returning only the entry ids (no entries loaded back): for bulk loads."""
    return [entry_id for entry_id, _ in _write(list(entries))]


def _write(entries: list[Entry]) -> list[tuple[int, bool]]:
    if len({e.key for e in entries}) != len(entries):
        raise UnbalancedEntry("the same idempotency key twice in one batch")
    existing = _existing({e.key for e in entries})
    fresh = []
    for entry in entries:
        if (earlier := existing.get(entry.key)) is not None:
            if earlier[1] != entry.merged:
                raise Conflict(_("Idempotency key %(key)s was already posted with other amounts.", key=entry.key))
        else:
            fresh.append(entry)
    new_ids: dict[str, int] = {}
    if fresh:
        now = db.utcnow()
        rows = db.session.execute(
            insert(JournalEntry).returning(JournalEntry.id, sort_by_parameter_order=True),
            [{"idempotency_key": e.key, "kind": e.kind, "ref": e.ref, "occurred_on": e.occurred_on,
              "memo": e.memo, "reverses_id": e.reverses_id, "created_at": now} for e in fresh]).scalars().all()
        new_ids = {e.key: entry_id for e, entry_id in zip(fresh, rows, strict=True)}
        db.session.execute(insert(Posting), [
            {"entry_id": new_ids[e.key], "account_id": account_id, "amount": amount}
            for e in fresh for account_id, amount in e.merged.items()])
        deltas: dict[int, Decimal] = defaultdict(Decimal)
        for e in fresh:
            for account_id, amount in e.merged.items():
                deltas[account_id] += amount
        table = Account.__table__
        db.session.connection().execute(
            update(table).where(table.c.id == bindparam("account_id"))
            .values(balance=table.c.balance + bindparam("delta", type_=Account.balance.type)),
            [{"account_id": account_id, "delta": delta} for account_id, delta in sorted(deltas.items()) if delta])
        for account_id in deltas:  # Account rows this session already holds are now stale
            if (loaded := db.session.identity_map.get(db.session.identity_key(Account, account_id))) is not None:
                db.session.expire(loaded, ["balance"])
    return [(new_ids[e.key], True) if e.key in new_ids else (existing[e.key][0], False) for e in entries]


def _existing(keys: set[str]) -> dict[str, tuple[int, dict[int, Decimal]]]:
    """Entries already posted under these keys: key → (id, {account id: amount}). Two indexed reads; the second
    only when a key was seen before (a join would let the planner scan every posting for a large batch)."""
    ids = dict(db.session.execute(select(JournalEntry.idempotency_key, JournalEntry.id)
                                  .where(JournalEntry.idempotency_key.in_(sorted(keys)))).all())
    if not ids:
        return {}
    found: dict[str, tuple[int, dict[int, Decimal]]] = {key: (entry_id, {}) for key, entry_id in ids.items()}
    key_of = {entry_id: key for key, entry_id in ids.items()}
    for entry_id, account_id, amount in db.session.execute(
            select(Posting.entry_id, Posting.account_id, Posting.amount).where(Posting.entry_id.in_(sorted(key_of)))):
        found[key_of[entry_id]][1][account_id] = amount
    return found


def reverse(entry_id: int, key: str, occurred_on: dt.date, memo: str) -> tuple[JournalEntry, bool]:
    """Correct an entry by posting its mirror image; the original stays as it was."""
    original = db.session.get(JournalEntry, entry_id)
    if original is None:
        raise NotFound(_("No journal entry %(id)d.", id=entry_id))
    already = db.session.scalar(select(JournalEntry).where(JournalEntry.reverses_id == entry_id))
    if already is not None and already.idempotency_key != key:
        raise Conflict(_("Journal entry %(id)d was already reversed by entry %(by)d.", id=entry_id, by=already.id))
    return post(Entry(key=key, kind=EntryKind.REVERSAL, ref=original.ref, occurred_on=occurred_on,
                      lines=[(p.account_id, -p.amount) for p in original.postings], memo=memo,
                      reverses_id=original.id))
