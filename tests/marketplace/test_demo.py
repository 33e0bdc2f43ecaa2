"""The demo world that `make run` seeds."""

from sqlalchemy import func, select

from marketplace import db
from marketplace.auth.models import User
from marketplace.fees.models import FeeRule
from marketplace.ledger.models import JournalEntry
from marketplace.ledger.reports import verify
from marketplace.orgs.models import Organization
from products.models import Product, ProductStatus, ProductType


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (User, Organization, Product, FeeRule, JournalEntry))


def test_seeding_twice_duplicates_nothing(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        after_first = _counts()
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with app.app_context():
        assert _counts() == after_first == (6, 6, 9, 2, 1)  # the pool's seed deposit is one journal entry
        assert verify() == []


def test_the_demo_world_has_published_products_of_every_type_and_prints_its_logins(app, client):
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    for username in ("admin", "bank", "bank2", "agency", "enterprise", "enterprise2"):
        assert f"  {username} " in result.output
    with app.app_context():
        published = db.session.scalars(select(Product).where(Product.status == ProductStatus.PUBLISHED)).all()
    assert {p.product_type for p in published} == set(ProductType)
    token = client.post("/api/v1/auth/token", json={"username": "enterprise", "password": "demo-password"})
    listed = client.get("/api/v1/products", headers={"Authorization": f"Bearer {token.json['access_token']}"})
    assert listed.headers["X-Total-Count"] == "9"
    assert client.get("/api/v1/lpr", headers={"Authorization": f"Bearer {token.json['access_token']}"}).json[
        "lpr_1y"] == "0.0300"


def test_the_demo_is_never_seeded_in_production(app):
    app.config["PROFILE"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["demo", "seed"])
    finally:
        app.config["PROFILE"] = "test"
    assert result.exit_code != 0
    assert "never seeded in production" in result.output


def test_the_demo_server_starts_holding_no_transaction_even_without_a_sandbox_bank(app, monkeypatch):
    """An open read would keep SQLite's lock for as long as the server runs, and every write would fail (a
    generated province has no sandbox bank, so nothing was committed after looking for one)."""
    import werkzeug.serving

    from marketplace.scheduler import runner

    seen = []
    monkeypatch.setattr(werkzeug.serving, "run_simple",
                        lambda *args, **kwargs: seen.append(db.session().in_transaction()))
    monkeypatch.setattr(runner, "build", lambda app: type("Clock", (), {
        "start": lambda self: None, "shutdown": lambda self, wait: None, "get_jobs": lambda self: []})())
    result = app.test_cli_runner().invoke(args=["demo", "serve", "--port", "5999"])
    assert result.exit_code == 0, result.output
    assert seen == [False]
