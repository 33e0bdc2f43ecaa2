"""The schema is made by the Alembic migrations alone, and they agree with the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

import marketplace.models  # noqa: F401  (every model on the metadata)
from marketplace import create_app, db
from marketplace.db import Base


def _diff(engine: sa.Engine) -> list:
    # Only reads: on SQLite it need not wait for the write lock the suite's own transaction holds.
    with engine.connect().execution_options(**{db.READS_ONLY: True}) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_models_and_migrations_agree(app):
    assert _diff(db.engine_of(app)) == []


def test_upgrade_builds_an_empty_database_to_the_head_revision(databases):
    app = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh("empty"), "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        head = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_current_head()
        engine = db.engine_of(app)
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == head
            assert connection.scalar(sa.text("SELECT count(*) FROM products")) == 0
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
        assert _diff(engine) == []
    engine.dispose()
