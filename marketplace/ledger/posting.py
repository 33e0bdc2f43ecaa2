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
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace import db
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
    dialect_insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(dialect_insert(Account).values(
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
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    # PostgreSQL inserts first and skips the keys already there (a concurrent same-key post waits, then replays);
    # elsewhere the keys are read first.
    if postgresql:
        new_ids = _insert_entries_pg(entries)
        existing = _existing({e.key for e in entries if e.key not in new_ids}) if len(new_ids) < len(entries) else {}
    else:
        existing = _existing({e.key for e in entries})
        new_ids = _insert_entries([e for e in entries if e.key not in existing])
    for entry in entries:
        if entry.key not in new_ids and existing[entry.key][1] != entry.merged:
            raise Conflict(_("Idempotency key %(key)s was already posted with other amounts.", key=entry.key))
    fresh = [e for e in entries if e.key in new_ids]
    if fresh:
        postings = [(new_ids[e.key], account_id, amount) for e in fresh for account_id, amount in e.merged.items()]
        deltas: dict[int, Decimal] = defaultdict(Decimal)
        for _entry_id, account_id, amount in postings:
            deltas[account_id] += amount
        changed = sorted(account_id for account_id, delta in deltas.items() if delta)
        if postgresql:
            _write_postings_pg(postings, [(account_id, deltas[account_id]) for account_id in changed])
        else:
            _write_postings(postings, [(account_id, deltas[account_id]) for account_id in changed])
        for account_id in deltas:  # Account rows this session already holds are now stale
            if (loaded := db.session.identity_map.get(db.session.identity_key(Account, account_id))) is not None:
                db.session.expire(loaded, ["balance"])
    return [(new_ids[e.key], True) if e.key in new_ids else (existing[e.key][0], False) for e in entries]


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


# PostgreSQL: one set-based statement each for entries, postings and balances, from arrays.
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


def _insert_entries_pg(entries: list[Entry]) -> dict[str, int]:
    rows = db.session.execute(_ENTRIES_PG, {
        "now": db.utcnow(), "keys": [e.key for e in entries], "kinds": [e.kind.value for e in entries],
        "refs": [e.ref for e in entries], "dates": [e.occurred_on for e in entries],
        "memos": [e.memo for e in entries], "reverses": [e.reverses_id for e in entries]})
    return dict(rows.all())


def _write_postings_pg(postings: list[tuple[int, int, Decimal]], deltas: list[tuple[int, Decimal]]) -> None:
    db.session.execute(_POSTINGS_PG, {"entries": [e for e, _a, _m in postings],
                                      "accounts": [a for _e, a, _m in postings],
                                      "amounts": [to_fen(m) for _e, _a, m in postings]})
    if deltas:
        accounts = [a for a, _d in deltas]
        db.session.execute(_LOCK_PG, {"accounts": accounts})
        db.session.execute(_BALANCES_PG, {"accounts": accounts, "deltas": [to_fen(d) for _a, d in deltas]})


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
    return db.session.get(JournalEntry, entry_id), posted
