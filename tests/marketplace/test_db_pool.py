"""On PostgreSQL a pooled connection that has sat idle is pinged before use and replaced if the server dropped it;
one back from use a moment ago is used as it is, and if that one turns out dead the pool starts afresh."""

import os
import time

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import exc, text

from marketplace import db
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="the pool's disconnect handling is for PostgreSQL; runs in the PostgreSQL pass")


@pytest.fixture
def pg_engine(databases):  # `databases` fails the run in CI when PostgreSQL is unreachable
    engine = db.make_engine(PG_URL)
    yield engine
    engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT pg_backend_pid()"))


def terminate(pid: int) -> None:
    killer = db.make_engine(PG_URL)
    with killer.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
    killer.dispose()
    time.sleep(0.2)  # the backend goes away


def test_an_idle_connection_the_server_dropped_is_replaced_without_an_error(pg_engine, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.05)
    first = backend_pid(pg_engine)
    terminate(first)  # the sleep in terminate() leaves it idle past the threshold

    second = backend_pid(pg_engine)

    assert second != first


def test_a_connection_back_a_moment_ago_is_used_without_a_ping_and_a_dead_one_resets_the_pool(pg_engine,
                                                                                              monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 60)
    first = backend_pid(pg_engine)
    terminate(first)

    with pytest.raises(exc.OperationalError) as failure:
        backend_pid(pg_engine)  # not pinged: the statement meets the dead connection, as one in flight would
    assert failure.value.connection_invalidated

    assert backend_pid(pg_engine) not in {first, None}


def test_a_healthy_idle_connection_is_reused(pg_engine, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.05)
    first = backend_pid(pg_engine)
    time.sleep(0.1)

    assert backend_pid(pg_engine) == first


def test_the_ping_leaves_the_connection_idle_so_it_can_switch_to_autocommit(pg_engine, monkeypatch):
    """The scheduler's advisory locks take a connection in autocommit: a ping that opened a transaction made that
    switch fail after a second idle, and stopped every job (found by bench/scale_out.py)."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.05)
    backend_pid(pg_engine)
    time.sleep(0.1)

    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        assert connection.scalar(text("SELECT pg_try_advisory_lock(4242)")) is True
        assert connection.scalar(text("SELECT pg_advisory_unlock(4242)")) is True

    time.sleep(0.1)
    with pg_engine.connect() as connection:  # pinged, and still outside any transaction until the first statement
        assert connection.connection.dbapi_connection.info.transaction_status is TransactionStatus.IDLE
