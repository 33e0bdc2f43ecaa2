"""The database: declarative base, the request-scoped session, and exact column types."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Select,
    String,
    bindparam,
    create_engine,
    event,
    exc,
    func,
    inspect,
    select,
    types,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, scoped_session, sessionmaker

from marketplace.i18n import in_reader_language, locale_name
from marketplace.money import from_fen, to_fen

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(types.TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no offset, so it is stored as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use marketplace.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Money(types.TypeDecorator):
    """CNY as a `Decimal` with two places in Python, stored as integer fen so sums are exact everywhere."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Any) -> int | None:
        return None if value is None else to_fen(value)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else from_fen(value)


#: Annual rates and shares as fractions ("0.0345" = 3.45 %), six places.
Rate = Numeric(10, 6, asdecimal=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), Decimal: Money()}


class Audited:
    """Mixin: every insert, update and delete of the model is written to the audit trail (marketplace.audit)."""


class Bilingual:
    """Mixin for what people name: `name` is the Chinese name (the official one, shown by default), `name_en` an
    optional English one, shown instead to a reader of the English interface."""

    name: Any
    name_en: Mapped[str | None] = mapped_column(String(200))

    @hybrid_property
    def display_name(self) -> str:
        return in_reader_language(self.name, self.name_en)

    @display_name.inplace.expression
    @classmethod
    def _display_name_in_sql(cls) -> Any:
        return func.coalesce(cls.name_en, cls.name) if locale_name() == "en" else cls.name


def _scope() -> int:
    # One session per application context (so per request), per thread outside one.
    if has_app_context():
        return id(g._get_current_object())
    return threading.get_ident()


class _AppSession(Session):
    """Binds to the current application's engine unless given a connection explicitly (tests do); inside
    `reports_replica()` reads go to the reports replica when one is configured."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        if self.bind is None and has_app_context():
            replica = current_app.extensions["marketplace.db.reports"]
            if replica is not None and g.get(_ON_REPLICA) and not self._flushing:
                return replica
            return current_app.extensions["marketplace.db"]
        return super().get_bind(*args, **kwargs)


_ON_REPLICA = "_marketplace_db_on_replica"


@contextmanager
def reports_replica() -> Iterator[None]:
    """Run a report's reads on the reports replica (`MARKETPLACE_REPORTS_DATABASE_URL`), or on the primary when none
    is set. Only for what is shown, never for what decides a write: a replica lags the primary by its replication
    delay. Writes inside still go to the primary."""
    previous = g.get(_ON_REPLICA, False)
    setattr(g, _ON_REPLICA, True)
    try:
        yield
    finally:
        setattr(g, _ON_REPLICA, previous)


def on_reports_replica(view: Callable) -> Callable:
    """Decorate a report's view function (innermost, below its role check: who asks is read on the primary)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reports_replica():
            return view(*args, **kwargs)

    return wrapper


#: The session every service uses. Services flush; views, jobs and CLI commands commit.
session = scoped_session(sessionmaker(class_=_AppSession, expire_on_commit=False), scopefunc=_scope)


_LOCKED = "marketplace.locked"  # session.info: identity keys of the rows this transaction holds locked


@event.listens_for(_AppSession, "after_transaction_end")
def _forget_locks(session_: Session, _transaction: Any) -> None:
    # Any end, a savepoint's too (rolling back to one releases what it locked): at worst a row is locked twice.
    session_.info.pop(_LOCKED, None)


def locking(query: Select) -> Select:
    """The query with its rows locked for this transaction as they are read (SELECT … FOR UPDATE OF the entity on
    PostgreSQL) and read afresh; pass what it loads to `locked()` so that a later `lock()` of it costs nothing."""
    entity = query.column_descriptions[0]["entity"]
    return query.with_for_update(of=entity).execution_options(populate_existing=True)


def locked(*instances: Any) -> None:
    """Note that these rows were loaded by a `locking()` query in this transaction."""
    session.info.setdefault(_LOCKED, set()).update(inspect(instance).identity_key for instance in instances)


def lock(*instances: Any) -> None:
    """Lock each row for this transaction (SELECT … FOR UPDATE on PostgreSQL), in the order given, and read its
    columns afresh.

    Call it before checking a status that the change depends on: under READ COMMITTED two requests would otherwise
    both read the same status and both act on it. Lock parents before children (a request before its
    application, a loan before its agreement), so that writers queue and never deadlock. Only the key is selected
    and the columns are expired (the statement autoflushes first, so no pending change is lost): the next read of
    one reloads them in one plain SELECT, without the eager joins a whole-object reload would repeat."""
    held = session.info.setdefault(_LOCKED, set())
    for instance in instances:
        state = inspect(instance)
        if state.identity_key in held:
            continue  # loaded under lock by this transaction (`locking`), or locked above
        mapper = state.mapper
        key = mapper.primary_key[0]
        session.execute(select(key).where(key == getattr(instance, key.key)).with_for_update())
        session.expire(instance, [column.key for column in mapper.column_attrs])
        held.add(state.identity_key)


def among(column: Any, values: Collection[int]) -> Any:
    """`column IN values` for a set of any size: one array parameter on PostgreSQL (`= ANY(:values)`, not ten
    thousand placeholders to render and bind), the expanding IN elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == func.any(bindparam(None, sorted(values), postgresql.ARRAY(Integer)))
    return column.in_(sorted(values))


def upsert(model: Any) -> Any:
    """An INSERT into `model` that can say what to do ON CONFLICT (nothing, or update), in the dialect of the
    database in use: how a row that concurrent requests may all create is created once."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def engine() -> Engine:
    return engine_of(current_app)


def engine_of(app: Flask) -> Engine:
    return app.extensions["marketplace.db"]


#: Milliseconds a SQLite write waits for another's transaction to end before it gives up (as a 503, "busy, retry");
#: the app's `SQLITE_BUSY_TIMEOUT_MS` overrides it.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: A connection's execution option: the SQLite transaction it begins only reads, so it begins deferred even outside a
#: read-only request (the "busy" page of a POST reads who is signed in while another connection holds the lock).
READS_ONLY = "marketplace_reads_only"


def make_engine(url: str, sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        new = create_engine(url, connect_args={"timeout": sqlite_busy_timeout_ms / 1000})
        _make_sqlite_transactional(new, sqlite_busy_timeout_ms)
        return new
    postgresql = create_engine(url)
    _ping_when_idle(postgresql)
    return postgresql


# A connection back from a request less than this long ago is used without a ping.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(pg_engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that have sat idle: one that has waited in the pool longer
    than PING_AFTER_IDLE_S is pinged (SELECT 1) before use and, if the server is gone, replaced by a new one (the
    pool retries the checkout). Under load a connection comes back within milliseconds, so the ping — a round trip
    on every checkout with `pool_pre_ping` — is skipped where it would cost most and tell least. If the server
    restarts, the first statement on a recently used connection fails (as one in flight would); SQLAlchemy then
    invalidates the whole pool, so the next checkout connects afresh."""

    @event.listens_for(pg_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pg_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_S:
            return  # new, or back from use a moment ago
        # In autocommit, so that the ping opens no transaction: the connection must come out as it went in (idle),
        # or it could not be switched to autocommit after checkout (advisory locks, migrations) and a transaction
        # would start before its first statement.
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as error:
            raise exc.DisconnectionError() from error
        finally:
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False


def _make_sqlite_transactional(sqlite_engine: Engine, busy_timeout_ms: int) -> None:
    """SQLAlchemy owns the transactions (pysqlite's own handling breaks SAVEPOINT), a file database is in WAL mode,
    and every transaction that may write begins IMMEDIATE, taking the one write lock before its first read.

    A deferred transaction asks for the write lock at its first write; if another connection holds it, SQLite
    answers "database is locked" at once rather than wait (the snapshot it has read from would be stale by then):
    of 40 approvals sent at once to the demo server, over 30 failed with HTTP 500. Begun IMMEDIATE, writers queue for
    up to the busy timeout instead. Read-only web requests (GET, HEAD, OPTIONS) begin deferred: in WAL mode they read
    a snapshot and never queue behind a writer, nor a writer behind them."""
    url = sqlite_engine.url
    in_memory = not url.database or ":memory:" in url.database or url.query.get("mode") == "memory"

    @event.listens_for(sqlite_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        if not in_memory:  # the journal mode of a file is kept in the file; an in-memory database has no WAL
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(sqlite_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Scheduler jobs, CLI commands and anything else outside a request may write: IMMEDIATE too.
        reads_only = connection.get_execution_options().get(READS_ONLY) or (
            has_request_context() and request.method in ("GET", "HEAD", "OPTIONS"))
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    app.extensions["marketplace.db"] = make_engine(
        app.config["DATABASE_URL"], int(app.config.get("SQLITE_BUSY_TIMEOUT_MS", SQLITE_BUSY_TIMEOUT_MS)))
    replica = app.config.get("REPORTS_DATABASE_URL")
    app.extensions["marketplace.db.reports"] = make_engine(replica) if replica else None

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        session.remove()


class _MigrateHandle:
    """What Flask-Migrate needs from a `db` object: the metadata, and an engine for env.py."""

    metadata = Base.metadata

    @staticmethod
    def get_engine() -> Engine:
        return engine()


migrate_handle = _MigrateHandle()
