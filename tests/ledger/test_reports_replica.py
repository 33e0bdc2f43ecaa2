"""MARKETPLACE_REPORTS_DATABASE_URL: the ledger's reports and the audit trail read the replica; who asks, and every
write, are the primary's. Two databases stand for a primary and a replica that has not caught up yet."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from flask import Flask
from flask_migrate import upgrade
from werkzeug.security import generate_password_hash

from marketplace import create_app, db
from marketplace.auth.models import Role, User
from marketplace.auth.services import issue_token
from marketplace.ledger.models import EntryKind, JournalEntry, Party, Purpose
from marketplace.ledger.posting import Entry, account, post

DAY = dt.date(2026, 3, 2)


def _app(primary: str, replica: str | None = None) -> Flask:
    return create_app({"PROFILE": "test", "DATABASE_URL": primary, "REPORTS_DATABASE_URL": replica,
                       "SECRET_KEY": "replica-test"})


def _deposit(key: str, amount: str) -> None:
    fund, pool = account(Party.FISCAL_FUND, 0, Purpose.POOL_FUNDING), account(Party.RISK_POOL, 1, Purpose.CASH)
    post(Entry(key=key, kind=EntryKind.POOL_DEPOSIT, ref=key, occurred_on=DAY,
               lines=[(fund, -Decimal(amount)), (pool, Decimal(amount))]))


@pytest.fixture
def primary_and_replica(databases):
    """The primary holds the admin and a 100.00 deposit; the replica only a 40.00 one (it lags)."""
    suffix = uuid.uuid4().hex[:6]
    primary, replica = databases.fresh(f"primary_{suffix}"), databases.fresh(f"replica_{suffix}")
    for url, key, amount in ((primary, "primary-deposit", "100.00"), (replica, "replica-deposit", "40.00")):
        app = _app(url)
        with app.app_context():
            upgrade()
            _deposit(key, amount)
            if url == primary:
                admin = User(username="office", role=Role.ADMIN,
                             password_hash=generate_password_hash("x", method="pbkdf2:sha256:1000"))
                db.session.add(admin)
                db.session.flush()
                token, _ = issue_token(admin, 3600)
            db.session.commit()
        db.engine_of(app).dispose()
    yield primary, replica, {"Authorization": f"Bearer {token}"}


def test_reports_read_the_replica_and_who_asks_is_read_on_the_primary(primary_and_replica):
    primary, replica, headers = primary_and_replica
    app = _app(primary, replica)
    client = app.test_client()

    # The admin and the token exist only on the primary: a 200 means the role check read the primary.
    trial = client.get("/api/v1/ledger/trial-balance", headers=headers)
    assert trial.status_code == 200
    assert (trial.json["total_debits"], trial.json["balanced"]) == ("40.00", True)
    assert [e["ref"] for e in client.get("/api/v1/ledger/journal", headers=headers).json] == ["replica-deposit"]
    # Creating the admin was audited on the primary; the replica has no entry yet.
    assert client.get("/api/v1/audit", headers=headers).json == []

    reversal = {"memo": "Entered twice", "occurred_on": DAY.isoformat()}
    reversed_ = client.post("/api/v1/ledger/journal/1/reverse", json=reversal, headers=headers)
    assert reversed_.status_code == 201 and reversed_.json["ref"] == "primary-deposit"  # the primary's entry 1
    with app.app_context():
        assert db.session.query(JournalEntry).count() == 2  # written to the primary
    with _app(replica).app_context():
        assert db.session.query(JournalEntry).count() == 1  # the replica untouched
    db.engine_of(app).dispose()


def test_without_a_replica_the_reports_read_the_primary(primary_and_replica):
    primary, _replica, headers = primary_and_replica
    app = _app(primary)
    client = app.test_client()
    assert client.get("/api/v1/ledger/trial-balance", headers=headers).json["total_debits"] == "100.00"
    assert [e["ref"] for e in client.get("/api/v1/ledger/journal", headers=headers).json] == ["primary-deposit"]
    assert [e["action"] for e in client.get("/api/v1/audit", headers=headers).json] != []
    db.engine_of(app).dispose()
