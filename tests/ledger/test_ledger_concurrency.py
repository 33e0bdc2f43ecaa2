"""On PostgreSQL, with real commits from many connections at once: hot accounts posted in every order never
deadlock, balances stay exact, the deferred balance check passes every commit, and a deposit replayed concurrently
under one key is posted once.

Like tests/guarantees/test_quota_concurrency.py, this builds its own database instead of running inside the
suite's rolled-back transaction.
"""

import datetime as dt
import os
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from guarantees.models import RiskPool
from marketplace import create_app, db
from marketplace.demo import DEMO_PASSWORD, POOL_DEPOSIT, seed
from marketplace.ledger.models import Account, EntryKind, JournalEntry, Party, Purpose
from marketplace.ledger.posting import Entry, account, post
from marketplace.ledger.reports import verify

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="row locks and concurrent writers are PostgreSQL's; runs in the PostgreSQL pass")

WRITERS = 16
ENTRIES_EACH = 25


@pytest.fixture(scope="module")
def race_app(databases):
    application = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh("ledger_race"),
                              "SECRET_KEY": "race"})
    with application.app_context():
        upgrade()
        seed()
        db.session.commit()
    yield application
    db.engine_of(application).dispose()


def test_writers_posting_to_the_same_hot_accounts_in_every_order_never_deadlock(race_app):
    with race_app.app_context():
        hot = [account(Party.FISCAL_FUND, 0, Purpose.FEE_SUBSIDY)] + [
            account(Party.AGENCY, n, Purpose.FEE_SUBSIDY) for n in range(1, 6)]
        db.session.commit()

    def writer(n: int) -> Decimal:
        rng = random.Random(n)
        moved = Decimal("0.00")
        with race_app.app_context():
            for i in range(ENTRIES_EACH):
                targets = rng.sample(hot[1:], rng.randint(1, 4))
                amounts = [Decimal(rng.randint(1, 10**6)) / 100 for _ in targets]
                lines = [(t, a) for t, a in zip(targets, amounts, strict=True)] + [(hot[0], -sum(amounts))]
                rng.shuffle(lines)  # callers hand lines in any order; the ledger locks in id order
                post(Entry(key=f"race-{n}-{i}", kind=EntryKind.FEE, ref=f"race:{n}", occurred_on=dt.date(2026, 3, 2),
                           lines=lines))
                db.session.commit()
                moved += sum(amounts)
            db.session.remove()
        return moved

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        moved = sum(pool.map(writer, range(WRITERS)))

    with race_app.app_context():
        fund = db.session.get(Account, hot[0])
        assert fund.balance == -moved
        assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.ref.like("race:%"))) == \
            WRITERS * ENTRIES_EACH
        assert verify() == []


def test_a_deposit_replayed_concurrently_under_one_key_is_posted_once(race_app):
    client = race_app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": DEMO_PASSWORD}).json
    headers = {"Authorization": f"Bearer {token['access_token']}", "Idempotency-Key": "one-deposit"}
    with race_app.app_context():
        pool_id = db.session.scalar(select(RiskPool.id))

    def deposit(_):
        return race_app.test_client().post(f"/api/v1/risk-pools/{pool_id}/deposits", json={"amount": "1234.56"},
                                      headers=headers).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(deposit, range(12)))
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses  # 409: the first is still running
    with race_app.app_context():
        assert db.session.get(RiskPool, pool_id).balance == POOL_DEPOSIT + Decimal("1234.56")
        assert verify() == []
