"""Shared by the bank-systems tests: a bank with its own system, routing applications to it, dispatching."""

import datetime as dt

import pytest
from sqlalchemy import update

from marketplace import db
from marketplace.bank_systems.outbox import dispatch
from marketplace.orgs.models import Bank
from marketplace.outbox import OutboxMessage

BANK_URL = "https://bank-one.example/api"
APPLICATIONS = f"{BANK_URL}/applications"
PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}


@pytest.fixture
def wired(app, world):
    """The first bank has its own system at BANK_URL."""
    with app.app_context():
        db.session.get(Bank, world.bank.id).api_base_url = BANK_URL
        db.session.commit()
    return world.bank


@pytest.fixture
def route(as_role):
    """route() → the id of the application made when the enterprise selects the bank's offer."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    enterprise = as_role("enterprise")

    def make():
        request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
        response = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                   json={"offer_id": request["offers"][0]["id"]})
        assert response.status_code == 200, response.json
        return response.json["application"]["id"]

    return make


def run(app):
    with app.app_context():
        return dispatch()


def due_now(app):
    """Let the clock run past every back-off."""
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=db.utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
