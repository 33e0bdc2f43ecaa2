"""Configuration comes from MARKETPLACE_* variables; production fails fast."""

from pathlib import Path

import pytest

from marketplace import create_app
from marketplace.config import ConfigurationError


def test_production_refuses_to_start_without_secret_key_and_database_url(monkeypatch):
    monkeypatch.delenv("MARKETPLACE_SECRET_KEY", raising=False)
    monkeypatch.delenv("MARKETPLACE_DATABASE_URL", raising=False)
    monkeypatch.setenv("MARKETPLACE_PROFILE", "production")
    with pytest.raises(ConfigurationError, match="MARKETPLACE_SECRET_KEY and MARKETPLACE_DATABASE_URL"):
        create_app()


def test_production_starts_with_both_and_secures_the_session_cookie(monkeypatch, tmp_path):
    monkeypatch.setenv("MARKETPLACE_PROFILE", "production")
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY", "s3cret-from-the-vault")
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", f"sqlite:///{tmp_path}/prod.db")
    app = create_app()
    assert app.config["SECRET_KEY"] == "s3cret-from-the-vault"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_the_demo_profile_defaults_to_a_sqlite_file_under_instance(monkeypatch):
    monkeypatch.delenv("MARKETPLACE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MARKETPLACE_PROFILE", raising=False)
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{Path(app.instance_path) / 'marketplace.db'}"
    assert Path(app.instance_path).name == "instance"


def test_an_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("MARKETPLACE_PROFILE", "staging")
    with pytest.raises(ConfigurationError, match="MARKETPLACE_PROFILE"):
        create_app()
