"""The application factory: the one place that wires everything together."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, send_from_directory, session
from sqlalchemy import exc as sa_exc
from werkzeug.middleware.proxy_fix import ProxyFix

from marketplace import config, db, errors, guards, i18n, security
from marketplace.api import Api, ExactJSONProvider
from marketplace.audit import trail as audit_trail
from marketplace.dates import SHANGHAI
from marketplace.extensions import csrf, limiter, login_manager, migrate

# SQLite stores our six-place rates through float; exact to well beyond six places, so the warning is noise.
warnings.filterwarnings("ignore", message=".*support Decimal objects natively.*", category=sa_exc.SAWarning)


class Marketplace(Flask):
    """Flask with one transaction per request, as indico's request handler keeps it: what the view did is committed
    when it returns and rolled back when it raises, so services only flush and no view commits by hand. A
    `DomainError` with `keeps_changes` (an approval whose guarantee is unavailable stays recorded as such) is
    committed before it is answered."""

    def dispatch_request(self) -> Any:
        try:
            answer = super().dispatch_request()
            db.session.commit()
            return answer
        except Exception as error:
            if getattr(error, "keeps_changes", False):
                try:
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    raise
            else:
                db.session.rollback()
            raise


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Marketplace(__name__, instance_relative_config=True)
    app.json_provider_class = ExactJSONProvider
    app.json = ExactJSONProvider(app)
    config.load(app, test_config)

    db.init_app(app)
    i18n.init_app(app)
    app.jinja_env.globals.update(shanghai=SHANGHAI)
    csrf.init_app(app)
    guards.init_app(app)
    security.init_app(app)
    audit_trail.init_app(app)
    _init_login(app)
    limiter.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    migrate.init_app(app, db.migrate_handle, directory=str(_migrations_dir()))
    _init_api(app)
    errors.register(app)  # after the Api, so pages stay HTML

    from guarantees.claim_views import bp as claim_pages
    from guarantees.pool_views import bp as risk_pool_pages
    from guarantees.views import bp as guarantee_pages
    from marketplace.audit.views import bp as audit_pages
    from marketplace.auth.account_views import bp as account_pages
    from marketplace.auth.views import bp as auth_pages
    from marketplace.bank_systems.views import bp as outbox_pages
    from marketplace.dashboards.views import bp as dashboard_pages
    from marketplace.fees.views import bp as fee_pages
    from marketplace.financing.views import bp as financing_pages
    from marketplace.ledger.views import bp as ledger_pages
    from marketplace.notifications.views import bp as notification_pages
    from marketplace.orgs.views import bp as orgs_pages
    from marketplace.registry.views import bp as registry_pages
    from marketplace.scheduler.views import bp as jobs_pages
    from marketplace.servicing.views import bp as servicing_pages
    from products.views import bp as product_pages

    app.register_blueprint(auth_pages)
    app.register_blueprint(account_pages)
    app.register_blueprint(product_pages)
    app.register_blueprint(financing_pages)
    app.register_blueprint(guarantee_pages)
    app.register_blueprint(orgs_pages)
    app.register_blueprint(registry_pages)
    app.register_blueprint(fee_pages)
    app.register_blueprint(risk_pool_pages)
    app.register_blueprint(claim_pages)
    app.register_blueprint(servicing_pages)
    app.register_blueprint(ledger_pages)
    app.register_blueprint(outbox_pages)
    app.register_blueprint(jobs_pages)
    app.register_blueprint(audit_pages)
    app.register_blueprint(dashboard_pages)
    app.register_blueprint(notification_pages)
    if app.config["PROFILE"] != "production":
        from marketplace.bank_systems.sandbox import bp as sandbox_bank

        app.register_blueprint(sandbox_bank)
        csrf.exempt(sandbox_bank)  # another "system" calls it, with JSON, never a browser

    from marketplace import cli

    cli.register(app)
    return app


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"


def _init_login(app: Flask) -> None:
    from marketplace.auth.models import User
    from marketplace.auth.services import web_session_is_live
    from marketplace.auth.views import SESSION_TOKEN

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        """The signed-in user, while the browser's WebSession is live (signing out ends it everywhere at once)."""
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        if user is None or not user.active or not web_session_is_live(user.id, session.get(SESSION_TOKEN)):
            return None
        audit_trail.act_as(user)
        return user


def _init_api(app: Flask) -> None:
    from guarantees.api import blp as guarantees_api
    from marketplace.audit.api import blp as audit_api
    from marketplace.auth.api import blp as auth_api
    from marketplace.bank_systems.api import blp as bank_systems_api
    from marketplace.fees.api import blp as fees_api
    from marketplace.financing.api import blp as financing_api
    from marketplace.health import blp as health
    from marketplace.ledger.api import blp as ledger_api
    from marketplace.lpr.api import blp as lpr_api
    from marketplace.notifications.api import blp as notifications_api
    from marketplace.orgs.api import blp as orgs_api
    from marketplace.registry.api import blp as registry_api
    from products.api import blp as products_api
    from products.api import bounds_blp as pricing_bounds_api

    # flask-smorest's Api holds one app's OpenAPI document, so each app gets its own.
    api = Api(app, spec_kwargs={"security": [{"bearerAuth": []}]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(health)
    for blueprint in (auth_api, orgs_api, lpr_api, products_api, pricing_bounds_api, financing_api, guarantees_api,
                      registry_api, fees_api, ledger_api, bank_systems_api, audit_api, notifications_api):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # bearer tokens, never cookies, authenticate the API

    # Swagger UI's files come from the swagger-ui-bundle package, so the docs work without a CDN.
    @app.get("/api/v1/docs/assets/<path:filename>")
    def swagger_ui_assets(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
