"""A write that finds the database locked for longer than it waits is refused with 503 and a Retry-After, rolled
back with nothing changed, never a 500: problem+json under /api/, an error page for a form. Reads go on meanwhile.
Only a lock does that: a database that cannot be reached stays a 500.

These tests hold the write lock from a second connection to the app's SQLite file, so each builds its own app and
file (with a busy timeout of 0.2 s) instead of running inside the suite's rolled-back transaction."""

import os
import sqlite3
import uuid
from contextlib import contextmanager
from decimal import Decimal

import psycopg.errors
import pytest
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from marketplace import create_app, db
from marketplace.auth.models import User
from marketplace.auth.services import issue_token
from marketplace.errors import is_lock_conflict
from tests.guarantees.test_quota_concurrency import PASSWORD, world_with_routed_applications
from tests.pages import csrf_token

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "sqlite",
                                reason="holds SQLite's write lock from a second connection; runs in the SQLite pass")


@pytest.fixture
def busy(databases):
    """An app on its own SQLite file, waiting 0.2 s for a lock, with an application routed to its bank."""
    app = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh(f"busy_{uuid.uuid4().hex[:6]}"),
                      "SECRET_KEY": "busy", "SQLITE_BUSY_TIMEOUT_MS": 200})
    with app.app_context():
        upgrade()
    agreement_id, applications = world_with_routed_applications(app, one_enterprise=True)
    with app.app_context():
        token, _ = issue_token(db.session.scalar(select(User).where(User.username == "race.bank")), 3600)
        db.session.commit()
    yield app, agreement_id, applications[0], {"Authorization": f"Bearer {token}"}
    db.engine_of(app).dispose()


@contextmanager
def write_lock_held(app):
    """Another process's write transaction on the app's SQLite file, open while the block runs."""
    holder = sqlite3.connect(db.engine_of(app).url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_api_write_that_finds_the_database_locked_is_a_503_problem_to_retry(busy):
    app, agreement_id, application_id, headers = busy
    client = app.test_client()
    decision = f"/api/v1/applications/{application_id}/decision"

    with write_lock_held(app):
        refused = client.post(decision, json={"decision": "approved"}, headers=headers)
        read = client.get(f"/api/v1/applications/{application_id}", headers=headers)

    assert refused.status_code == 503
    assert refused.mimetype == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    assert refused.json["type"].endswith("/busy") and refused.json["status"] == 503
    assert read.status_code == 200 and read.json["status"] == "submitted"  # readers do not queue behind the writer
    agreement = client.get(f"/api/v1/agreements/{agreement_id}", headers=headers).json
    assert Decimal(agreement["quota_reserved"]) == 0
    assert client.post(decision, json={"decision": "approved"}, headers=headers).status_code == 200


def test_a_form_post_that_finds_the_database_locked_is_a_503_page_with_nothing_changed(busy):
    app, agreement_id, application_id, headers = busy
    browser = app.test_client()
    signed_in = browser.post("/login", data={"username": "race.bank", "password": PASSWORD,
                                             "csrf_token": csrf_token(browser.get("/login").text)})
    assert signed_in.status_code == 302
    token = csrf_token(browser.get("/bank/applications").text)

    with write_lock_held(app):
        refused = browser.post(f"/bank/applications/{application_id}/decision",
                               data={"decision": "approved", "csrf_token": token})

    assert refused.status_code == 503
    assert refused.mimetype == "text/html"
    assert refused.headers["Retry-After"] == "1"
    assert "503" in refused.text and "Busy: try again in a moment" in refused.text
    application = app.test_client().get(f"/api/v1/applications/{application_id}", headers=headers).json
    assert application["status"] == "submitted"


def test_a_database_that_cannot_be_opened_is_a_500_not_busy(tmp_path):
    app = create_app({"PROFILE": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-folder' / 'm.db'}",
                      "SECRET_KEY": "gone"})
    response = app.test_client().post("/api/v1/applications/1/decision", json={"decision": "approved"},
                                      headers={"Authorization": "Bearer some-token"})
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize(("original", "busy"), [
    (sqlite3.OperationalError("database is locked"), True),
    (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), True),
    (psycopg.errors.SerializationFailure("could not serialize access due to concurrent update"), True),
    (psycopg.errors.DeadlockDetected("deadlock detected"), True),
    (sqlite3.OperationalError("unable to open database file"), False),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
    (psycopg.OperationalError("connection refused"), False),
])
def test_only_locks_held_by_others_count_as_busy(original, busy):
    assert is_lock_conflict(OperationalError("UPDATE …", {}, original)) is busy
    assert is_lock_conflict(DBAPIError("UPDATE …", {}, original)) is busy
