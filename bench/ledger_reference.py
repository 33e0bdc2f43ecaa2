"""The issue's yardstick measured again on this machine, in the same run: raw psycopg on plain tables.

Issue 5 sets its posting targets beside figures taken on another machine ("raw psycopg does about 1,300 entries/s
at one transaction per entry and about 11,900/s batched in executemany"). Machines differ by more than the gap
between a target and a result, so `bench.ledger` repeats that measurement here, on the same entries: one held
connection, no SQLAlchemy, three plain tables (accounts, entries, postings: primary keys, the unique key and the
two foreign keys, no triggers), per entry an INSERT … RETURNING, an executemany of its postings and one of its
balance updates in ascending account id, then COMMIT; batched, the same three executemany calls for 1,000 entries
and one COMMIT. Dividing by the issue's figures gives this machine's speed relative to the one the targets were set
on.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import psycopg

from marketplace.ledger.posting import Entry
from marketplace.money import to_fen

#: What the issue measured with raw psycopg, entries/s.
ISSUE_SINGLE_PER_S = 1300.0
ISSUE_BATCHED_PER_S = 11900.0

SCHEMA = """
DROP TABLE IF EXISTS ref_postings, ref_entries, ref_accounts;
CREATE TABLE ref_accounts (id integer PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE ref_entries (id serial PRIMARY KEY, key text NOT NULL UNIQUE, kind text NOT NULL, ref text NOT NULL,
                          occurred_on date NOT NULL, memo text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE ref_postings (id bigserial PRIMARY KEY, entry_id integer NOT NULL REFERENCES ref_entries,
                           account_id integer NOT NULL REFERENCES ref_accounts, amount bigint NOT NULL);
CREATE INDEX ON ref_postings (entry_id);
CREATE INDEX ON ref_postings (account_id, entry_id);
"""
INSERT_ENTRY = ("INSERT INTO ref_entries (key, kind, ref, occurred_on, memo, created_at) "
                "VALUES (%s, %s, %s, %s, %s, now()) RETURNING id")
INSERT_POSTING = "INSERT INTO ref_postings (entry_id, account_id, amount) VALUES (%s, %s, %s)"
UPDATE_BALANCE = "UPDATE ref_accounts SET balance = balance + %s WHERE id = %s"


def _row(entry: Entry) -> tuple[Any, ...]:
    return entry.key, entry.kind.value, entry.ref, entry.occurred_on, entry.memo


def _deltas(entries: list[Entry]) -> list[tuple[int, int]]:
    deltas: dict[int, int] = defaultdict(int)
    for entry in entries:
        for account_id, amount in entry.merged.items():
            deltas[account_id] += to_fen(amount)
    return [(deltas[account_id], account_id) for account_id in sorted(deltas)]


def _single(connection: psycopg.Connection, entries: list[Entry]) -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for entry in entries:
            cursor.execute(INSERT_ENTRY, _row(entry))
            [entry_id] = cursor.fetchone()
            cursor.executemany(INSERT_POSTING, [(entry_id, account_id, to_fen(amount))
                                                for account_id, amount in entry.merged.items()])
            cursor.executemany(UPDATE_BALANCE, _deltas([entry]))
            connection.commit()
    return len(entries) / (time.perf_counter() - started)


def _batched(connection: psycopg.Connection, entries: list[Entry], batch: int) -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(0, len(entries), batch):
            chunk = entries[start:start + batch]
            cursor.executemany(INSERT_ENTRY, [_row(entry) for entry in chunk], returning=True)
            ids = []
            while True:
                ids.append(cursor.fetchone()[0])
                if not cursor.nextset():
                    break
            cursor.executemany(INSERT_POSTING, [(entry_id, account_id, to_fen(amount))
                                                for entry_id, entry in zip(ids, chunk, strict=True)
                                                for account_id, amount in entry.merged.items()])
            cursor.executemany(UPDATE_BALANCE, _deltas(chunk))
            connection.commit()
    return len(entries) / (time.perf_counter() - started)


def measure(url: str, accounts: list[int], single: list[Entry], batched: list[Entry], batch: int) -> dict[str, Any]:
    """Raw psycopg rates on plain tables (made, then dropped, in the database at `url`), and this machine's speed
    relative to the issue's."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(SCHEMA)
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO ref_accounts (id) VALUES (%s)", [(account_id,) for account_id in accounts])
        connection.execute("ANALYZE ref_accounts")
        connection.commit()
        warm = len(single) // 10
        _single(connection, single[:warm])
        single_per_s = _single(connection, single[warm:])
        batched_per_s = _batched(connection, batched, batch)
        connection.execute("DROP TABLE ref_postings, ref_entries, ref_accounts")
        connection.commit()
    return {
        "single_entries_per_s": round(single_per_s, 1), "batched_entries_per_s": round(batched_per_s, 1),
        "issue_single_entries_per_s": ISSUE_SINGLE_PER_S, "issue_batched_entries_per_s": ISSUE_BATCHED_PER_S,
        "speed_vs_issue_single": round(single_per_s / ISSUE_SINGLE_PER_S, 3),
        "speed_vs_issue_batched": round(batched_per_s / ISSUE_BATCHED_PER_S, 3),
    }
