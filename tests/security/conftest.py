"""Fixtures of the authorization matrix (test_api_authorization.py, test_page_authorization.py): its world, built
once per run in a database of its own (tests/security/authz_world.py), and a rolled-back transaction per cell."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask_migrate import upgrade

from marketplace import create_app, db
from tests.security.authz_world import MatrixWorld, build_world


@pytest.fixture(scope="session")
def matrix_world(databases) -> Iterator[MatrixWorld]:
    """The matrix's app, on a database of its own, with the world committed in it."""
    app = create_app({"PROFILE": "test", "TESTING": True, "DATABASE_URL": databases.fresh("authz_matrix"),
                      "SECRET_KEY": "authz-matrix-" + uuid.uuid4().hex})
    with app.app_context():
        upgrade()
    yield build_world(app)
    db.engine_of(app).dispose()


@pytest.fixture
def matrix(matrix_world: MatrixWorld) -> Iterator[MatrixWorld]:
    """The world, for one cell: everything the cell changes is rolled back afterwards."""
    connection = db.engine_of(matrix_world.app).connect()
    transaction = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield matrix_world
    finally:
        db.session.remove()
        db.session.configure(bind=None)
        transaction.rollback()
        connection.close()
