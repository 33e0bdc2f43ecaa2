"""One suite, two databases: MARKETPLACE_TEST_DB=sqlite (default) or postgresql.

The schema is built once per run by the Alembic migrations, in a database made for the run; every test
then runs inside a transaction on one connection that is rolled back afterwards (the app's commits
become savepoint releases), so tests never see each other's data.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from stdnum.cn import uscc
from werkzeug.security import generate_password_hash

from guarantees.schemas import AgreementIn
from guarantees.services import create_agreement
from marketplace import create_app, db
from marketplace.auth.models import Role, User
from marketplace.lpr.services import set_rates
from marketplace.orgs.models import Agency, AgencyKind, Bank, Enterprise, EnterpriseSize, Tier
from marketplace.orgs.services import certify, create_agency, create_bank, create_enterprise
from tests.pages import PASSWORD, sign_in

BACKEND = os.environ.get("MARKETPLACE_TEST_DB", "sqlite")
PG_URL = os.environ.get("MARKETPLACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_report_header(config: pytest.Config) -> str:
    return f"marketplace test database: {BACKEND}" + (f" via {PG_URL}" if BACKEND == "postgresql" else "")


class Databases:
    """Makes a fresh, empty database per name for this run and drops them at the end."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.run_id = uuid.uuid4().hex[:8]
        self.created: list[str] = []
        self._admin = None
        if BACKEND == "postgresql":
            self._admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                                           isolation_level="AUTOCOMMIT")
            try:
                with self._admin.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
            except sa.exc.OperationalError as error:
                message = f"PostgreSQL at {PG_URL} is unreachable: {error.orig}"
                if os.environ.get("CI") == "true":
                    pytest.fail(message, pytrace=False)
                pytest.skip(message)

    def fresh(self, name: str) -> str:
        if BACKEND == "sqlite":
            return f"sqlite:///{self.tmp_dir / name}.db"
        database = f"mkt_{self.run_id}_{name}"
        with self._admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        self.created.append(database)
        return PG_URL.rsplit("/", 1)[0] + "/" + database

    def drop_all(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as connection:
            for database in self.created:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    made = Databases(tmp_path_factory.mktemp("databases"))
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def app(databases: Databases) -> Iterator[Flask]:
    application = create_app({"PROFILE": "test", "TESTING": True, "DATABASE_URL": databases.fresh("suite"),
                              "SECRET_KEY": "test-secret"})
    with application.app_context():
        upgrade()
    yield application
    db.engine_of(application).dispose()


@pytest.fixture(autouse=True)
def _rolled_back(request: pytest.FixtureRequest) -> Iterator[None]:
    if "app" not in request.fixturenames:
        yield
        return
    application: Flask = request.getfixturevalue("app")
    connection = db.engine_of(application).connect()
    transaction = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        db.session.remove()
        db.session.configure(bind=None)
        transaction.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request: pytest.FixtureRequest) -> None:
    """Failed sign-ins counted in one test never throttle the next (they share one app and its memory store)."""
    if "app" in request.fixturenames:
        from marketplace.extensions import limiter

        with request.getfixturevalue("app").app_context():
            limiter.reset()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


# Factories -----------------------------------------------------------------------------------------

# A cheap hash keeps the suite fast; the production hashing (scrypt) has a test of its own.
_FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


class Make:
    """Builds what a test needs through the same services the app uses, committed like a request would."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def bank(self, name: str | None = None, code: str | None = None) -> Bank:
        n = self._next()
        with self.app.app_context():
            bank = create_bank(name or f"Bank {n}", code or f"BANK{n}")
            db.session.commit()
            return bank

    def agency(self, kind: AgencyKind = AgencyKind.LOCAL) -> Agency:
        n = self._next()
        with self.app.app_context():
            agency = create_agency(f"Agency {n}", f"AG{n}", kind)
            db.session.commit()
            return agency

    def enterprise(self, tier: Tier = Tier.SRDI, region_code: str = "330106",
                   valid_until: dt.date | None = dt.date(2099, 12, 31)) -> Enterprise:
        """A registered enterprise; certified with `tier` unless that is none."""
        n = self._next()
        base = f"91330106MA{n:07d}"
        with self.app.app_context():
            enterprise = create_enterprise(
                name=f"Enterprise {n}", uscc=base + uscc.calc_check_digit(base), region_code=region_code,
                industry_code="C3811", size=EnterpriseSize.SMALL, annual_revenue=Decimal("50000000.00"),
                rd_expense=Decimal("4000000.00"), employees=120)
            if tier is not Tier.NONE:
                certify(enterprise.uscc, tier, valid_until)
            db.session.commit()
            return enterprise

    def user(self, role: Role, organization_id: int | None = None, username: str | None = None,
             org_admin: bool = False) -> User:
        with self.app.app_context():
            user = User(username=username or f"{role.value}{self._next()}", password_hash=_FAST_HASH, role=role,
                        organization_id=organization_id, org_admin=org_admin)
            db.session.add(user)
            db.session.commit()
            return user

    def agreement(self, agency_id: int, body: dict) -> int:
        """An agreement proposed with the API's body, through the service, where its start may lie in the past:
        history (an agreement made before today), which the API refuses to make now. → its id."""
        with self.app.app_context():
            agreement = create_agreement(agency_id, _HistoricAgreementIn().load(body))
            db.session.commit()
            return agreement.id

    def lpr(self, lpr_1y: str = "0.0300", lpr_5y: str = "0.0350", effective_on: dt.date = dt.date(2025, 9, 22)):
        with self.app.app_context():
            rates = set_rates(effective_on, Decimal(lpr_1y), Decimal(lpr_5y))
            db.session.commit()
            return rates


class _HistoricAgreementIn(AgreementIn):
    def _not_in_the_past(self, value, **kwargs):  # undecorated: the rule is not this schema's
        pass


@pytest.fixture
def make(app: Flask) -> Make:
    return Make(app)


class ApiClient:
    """The test client speaking JSON with a bearer token, as a bank's system or a portal would."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __getattr__(self, method: str):
        def call(path: str, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(path, headers=headers, **kwargs)

        return call


@pytest.fixture
def login_api(client: FlaskClient):
    """login_api(user) → an ApiClient holding a token got from POST /api/v1/auth/token."""

    def login(user: User, password: str = PASSWORD) -> ApiClient:
        response = client.post("/api/v1/auth/token", json={"username": user.username, "password": password})
        assert response.status_code == 200, response.json
        return ApiClient(client, response.json["access_token"])

    return login


@pytest.fixture
def world(make: Make):
    """The usual cast: admin, two banks with an officer each, an agency and two enterprises, and the LPR."""
    bank, bank2 = make.bank(), make.bank()
    agency = make.agency()
    enterprise, enterprise2 = make.enterprise(), make.enterprise(Tier.LITTLE_GIANT)
    make.lpr()
    return SimpleNamespace(
        bank=bank, bank2=bank2, agency=agency, enterprise=enterprise, enterprise2=enterprise2,
        admin_user=make.user(Role.ADMIN),
        bank_user=make.user(Role.BANK, bank.id), bank2_user=make.user(Role.BANK, bank2.id),
        agency_user=make.user(Role.AGENCY, agency.id),
        enterprise_user=make.user(Role.ENTERPRISE, enterprise.id),
        enterprise2_user=make.user(Role.ENTERPRISE, enterprise2.id),
    )


@pytest.fixture
def as_role(world, login_api):
    """as_role("bank") → an ApiClient signed in as that member of the world."""
    return lambda who: login_api(getattr(world, f"{who}_user"))


@pytest.fixture
def browser_of(app):
    """browser_of(user) → a test client signed in through /login, with its own cookies."""
    return lambda user: sign_in(app, user)
