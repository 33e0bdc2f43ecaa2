"""Configuration from the environment (`MARKETPLACE_*`), failing fast in production."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

DEFAULTS = {
    #: demo (SQLite under instance/, demo logins), production (needs SECRET_KEY and DATABASE_URL), test.
    "PROFILE": "demo",
    "SECRET_KEY": None,
    "DATABASE_URL": None,
    #: A streaming replica of DATABASE_URL for the heavy reports (trial balance, journal and its exports, agreement
    #: statements, the audit trail); unset, they read the primary like everything else.
    "REPORTS_DATABASE_URL": None,
    "TOKEN_TTL_SECONDS": 8 * 3600,
    #: The interface language until a user chooses (marketplace.i18n); the test profile reads English unless told.
    "BABEL_DEFAULT_LOCALE": "zh_Hans",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    # Failed sign-ins (marketplace.auth.throttle): in this process's memory unless MARKETPLACE_RATELIMIT_STORAGE_URI
    # names a shared store (redis://host:6379/0), which every production deployment with several processes needs.
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_STRATEGY": "moving-window",
    "RATELIMIT_HEADERS_ENABLED": True,
    # Behind a reverse proxy, how many X-Forwarded-For hops to trust for the client's address (0: none).
    "TRUSTED_PROXIES": 0,
    # Hand-offs to banks' systems (marketplace.bank_systems.outbox).
    "OUTBOX_CONNECT_TIMEOUT_S": 3.05,
    "OUTBOX_READ_TIMEOUT_S": 10.0,
    "OUTBOX_MAX_ATTEMPTS": 8,
    "OUTBOX_BACKOFF_BASE_S": 5.0,
    "OUTBOX_BACKOFF_CAP_S": 3600.0,
    # The deal as agreed (marketplace.financing): how long offers stay valid (calendar days after filing), working
    # days a bank has to answer an application and an enterprise to answer a counter-offer, and how many working
    # days before a bank's deadline it is reminded.
    "OFFER_VALID_DAYS": 30,
    "RESPONSE_WORKING_DAYS": 3,
    "COUNTER_OFFER_WORKING_DAYS": 5,
    "DEADLINE_NEAR_WORKING_DAYS": 1,
    # Notifications by e-mail (marketplace.notifications): smtp://user:password@host:port (smtps:// for TLS, or
    # ?starttls=true); unset, notifications are in-app only. MAIL_FROM is the sender; the demo writes mail to the
    # console and the admin's outbox page instead.
    "SMTP_URL": None,
    "MAIL_FROM": "noreply@srdi-marketplace.example",
    "SMTP_TIMEOUT_S": 10.0,
    #: Where this marketplace is served, for the links in e-mails.
    "SITE_URL": "http://127.0.0.1:5000",
    # Compensation claims' evidence (guarantees.claims): kept on disk under FILES_DIR (unset: the instance folder's
    # files/), never in the database; each file at most CLAIM_FILE_MAX_BYTES (below MAX_CONTENT_LENGTH, so that the
    # bank reads which limit it passed).
    "FILES_DIR": None,
    "CLAIM_FILE_MAX_BYTES": 8 * 1024 * 1024,
    # The demo's sandbox bank (never in production): seconds before it decides, and before it reports a disbursement.
    "SANDBOX_DECISION_DELAY_S": 5,
    "SANDBOX_DISBURSE_DELAY_S": 10,
    # Banks' systems at private or loopback addresses (marketplace.outbound): None lets the profile decide (allowed
    # in demo and test, whose banks run on this machine; refused in production unless set true).
    "OUTBOUND_ALLOW_PRIVATE": None,
    # Banks' signed callbacks (marketplace.bank_systems.callbacks).
    "CALLBACK_WINDOW_S": 300,
    "CALLBACK_SECRET_GRACE_S": 24 * 3600,
    # flask-smorest and its OpenAPI document.
    "API_TITLE": "SRDI financing and guarantee marketplace",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
}

PROFILES = ("demo", "production", "test")


class ConfigurationError(RuntimeError):
    """The environment does not describe a deployment the app can safely start in."""


def load(app: Flask, test_config: dict | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MARKETPLACE")
    if test_config:
        app.config.update(test_config)

    profile = app.config["PROFILE"]
    if profile == "test" and app.config["BABEL_DEFAULT_LOCALE"] == DEFAULTS["BABEL_DEFAULT_LOCALE"] and not (
            (test_config or {}).get("BABEL_DEFAULT_LOCALE") or os.environ.get("MARKETPLACE_BABEL_DEFAULT_LOCALE")):
        app.config["BABEL_DEFAULT_LOCALE"] = "en"  # the suite's assertions read English; zh_Hans is tested by name
    if profile not in PROFILES:
        raise ConfigurationError(f"MARKETPLACE_PROFILE must be one of {', '.join(PROFILES)}, not {profile!r}")
    if app.config["OUTBOUND_ALLOW_PRIVATE"] is None:
        app.config["OUTBOUND_ALLOW_PRIVATE"] = profile != "production"
    if profile == "production":
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not app.config.get(name)]
        if missing:
            names = " and ".join(f"MARKETPLACE_{name}" for name in missing)
            raise ConfigurationError(f"production refuses to start without {names}")
        app.config["SESSION_COOKIE_SECURE"] = True
        return

    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = f"{profile}-only-secret-key-not-for-production"
    if not app.config["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'marketplace.db'}"
