"""The one way money enters the ledger: `post` (one entry) and `post_many` (a batch) both go through `_write`.

An entry is checked before anything is written: two or more postings in whole fen that sum to zero. Its
idempotency key makes a replay post nothing (the first entry is returned). Account balances are updated in the
same transaction as the postings, in ascending account id, so two transactions touching the same hot accounts
queue rather than deadlock. On PostgreSQL one entry takes one round trip (the function ledger_post_entry, migration
0007), a deferred constraint trigger re-checks every entry at commit, and postings cannot be updated or deleted
(migration 0006).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select, text, update

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.errors import Conflict, NotFound
from marketplace.ledger.models import Account, EntryKind, JournalEntry, Party, Posting, Purpose
from marketplace.money import FEN, to_fen

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
    db.session.execute(db.upsert(Account).values(
        code=f"{party.value}:{party_id}:{purpose.value}", party=party, party_id=party_id, purpose=purpose,
        balance=Decimal("0.00"), created_at=db.utcnow()).on_conflict_do_nothing())
    return db.session.scalar(query)


def post(entry: Entry) -> tuple[int, bool]:
    """Post one entry; → (its id, True) or, when its key was posted before, (that entry's id, False)."""
    [(entry_id, posted)] = _write([entry])
    return entry_id, posted


def post_many(entries: Iterable[Entry]) -> list[tuple[int, bool]]:
    """Post entries in one go (a handful of statements for any number); replays post nothing."""
    return _write(list(entries))


def _write(entries: list[Entry]) -> list[tuple[int, bool]]:
    if len({e.key for e in entries}) != len(entries):
        raise UnbalancedEntry("the same idempotency key twice in one batch")
    if db.session.get_bind().dialect.name != "postgresql":
        new_ids = _write_in_steps(entries)
    elif len(entries) == 1:
        new_ids = _write_one_pg(entries[0])
    else:
        new_ids = _write_many_pg(entries)
    replayed = [e for e in entries if e.key not in new_ids]
    existing = _existing({e.key for e in replayed}) if replayed else {}
    for entry in replayed:
        if existing[entry.key][1] != entry.merged:
            raise Conflict(_("Idempotency key %(key)s was already posted with other amounts.", key=entry.key))
    for account_id in {account_id for e in entries if e.key in new_ids for account_id in e.merged}:
        # Account rows this session already holds are now stale.
        if (loaded := db.session.identity_map.get(db.session.identity_key(Account, account_id))) is not None:
            db.session.expire(loaded, ["balance"])
    return [(new_ids[e.key], True) if e.key in new_ids else (existing[e.key][0], False) for e in entries]


def _fresh_postings(entries: list[Entry], new_ids: dict[str, int]) -> tuple[list[tuple[int, int, Decimal]],
                                                                             list[tuple[int, Decimal]]]:
    """The postings of the entries just inserted, and the change to each account's balance in ascending id."""
    postings = [(new_ids[e.key], account_id, amount) for e in entries if e.key in new_ids
                for account_id, amount in e.merged.items()]
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    for _entry_id, account_id, amount in postings:
        deltas[account_id] += amount
    return postings, [(account_id, deltas[account_id]) for account_id in sorted(deltas) if deltas[account_id]]


# SQLite (one writer at a time): read the keys, insert what is new, update the balances.

def _write_in_steps(entries: list[Entry]) -> dict[str, int]:
    known = set(db.session.scalars(select(JournalEntry.idempotency_key)
                                   .where(JournalEntry.idempotency_key.in_(sorted(e.key for e in entries)))))
    fresh = [e for e in entries if e.key not in known]
    new_ids = _insert_entries(fresh)
    if fresh:
        _write_postings(*_fresh_postings(fresh, new_ids))
    return new_ids


def _insert_entries(entries: list[Entry]) -> dict[str, int]:
    if not entries:
        return {}
    now = db.utcnow()
    ids = db.session.execute(
        insert(JournalEntry).returning(JournalEntry.id, sort_by_parameter_order=True),
        [{"idempotency_key": e.key, "kind": e.kind, "ref": e.ref, "occurred_on": e.occurred_on, "memo": e.memo,
          "reverses_id": e.reverses_id, "created_at": now} for e in entries]).scalars().all()
    return {e.key: entry_id for e, entry_id in zip(entries, ids, strict=True)}


def _write_postings(postings: list[tuple[int, int, Decimal]], deltas: list[tuple[int, Decimal]]) -> None:
    db.session.execute(insert(Posting), [{"entry_id": e, "account_id": a, "amount": m} for e, a, m in postings])
    table = Account.__table__
    db.session.connection().execute(
        update(table).where(table.c.id == bindparam("account_id"))
        .values(balance=table.c.balance + bindparam("delta", type_=Account.balance.type)),
        [{"account_id": account_id, "delta": delta} for account_id, delta in deltas])


# PostgreSQL: one entry in one round trip (migration 0007's function, the same steps as below), or a batch in
# four set-based statements from arrays. Either way a key already there is skipped, and a concurrent post of the
# same key waits for the first, then skips it.
_ONE_PG = text("SELECT entry_id, posted FROM ledger_post_entry(:key, :kind, :ref, :occurred_on, :memo, :reverses_id, "
               ":now, CAST(:accounts AS integer[]), CAST(:amounts AS bigint[]))")
_ENTRIES_PG = text("""
INSERT INTO journal_entries (idempotency_key, kind, ref, occurred_on, memo, reverses_id, created_at)
SELECT key, kind, ref, occurred_on, memo, reverses_id, :now
FROM unnest(CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:refs AS text[]), CAST(:dates AS date[]),
            CAST(:memos AS text[]), CAST(:reverses AS integer[])) AS e(key, kind, ref, occurred_on, memo, reverses_id)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key, id""")
_POSTINGS_PG = text("""
INSERT INTO postings (entry_id, account_id, amount)
SELECT * FROM unnest(CAST(:entries AS integer[]), CAST(:accounts AS integer[]), CAST(:amounts AS bigint[]))""")
#: The accounts are locked in ascending id, in a statement of its own, before any is changed: writers sharing hot
#: accounts queue, never deadlock (an UPDATE alone takes its row locks in whatever order its plan visits them).
#: NO KEY UPDATE, as the UPDATE itself takes: it does not wait on the KEY SHARE locks that other writers' postings
#: hold on the same accounts through their foreign key.
_LOCK_PG = text("SELECT id FROM ledger_accounts WHERE id = ANY(CAST(:accounts AS integer[])) ORDER BY id "
                "FOR NO KEY UPDATE")
_BALANCES_PG = text("""
UPDATE ledger_accounts a SET balance = a.balance + d.fen
FROM unnest(CAST(:accounts AS integer[]), CAST(:deltas AS bigint[])) AS d(id, fen) WHERE a.id = d.id""")


def _write_one_pg(entry: Entry) -> dict[str, int]:
    entry_id, posted = db.session.execute(_ONE_PG, {
        "key": entry.key, "kind": entry.kind.value, "ref": entry.ref, "occurred_on": entry.occurred_on,
        "memo": entry.memo, "reverses_id": entry.reverses_id, "now": db.utcnow(), "accounts": list(entry.merged),
        "amounts": [to_fen(amount) for amount in entry.merged.values()]}).one()
    return {entry.key: entry_id} if posted else {}


def _write_many_pg(entries: list[Entry]) -> dict[str, int]:
    new_ids = dict(db.session.execute(_ENTRIES_PG, {
        "now": db.utcnow(), "keys": [e.key for e in entries], "kinds": [e.kind.value for e in entries],
        "refs": [e.ref for e in entries], "dates": [e.occurred_on for e in entries],
        "memos": [e.memo for e in entries], "reverses": [e.reverses_id for e in entries]}).all())
    if not new_ids:
        return new_ids
    postings, deltas = _fresh_postings(entries, new_ids)
    db.session.execute(_POSTINGS_PG, {"entries": [e for e, _a, _m in postings],
                                      "accounts": [a for _e, a, _m in postings],
                                      "amounts": [to_fen(m) for _e, _a, m in postings]})
    if deltas:
        accounts = [a for a, _d in deltas]
        db.session.execute(_LOCK_PG, {"accounts": accounts})
        db.session.execute(_BALANCES_PG, {"accounts": accounts, "deltas": [to_fen(d) for _a, d in deltas]})
    return new_ids


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
    entry_id, posted = post(Entry(key=key, kind=EntryKind.REVERSAL, ref=original.ref, occurred_on=occurred_on,
                                  lines=[(p.account_id, -p.amount) for p in original.postings], memo=memo,
                                  reverses_id=original.id))
    if posted:
        audit.record("journal_entry.reversed", "journal_entry", original.id, {"reversal_id": entry_id, "memo": memo})
    return db.session.get(JournalEntry, entry_id), posted
