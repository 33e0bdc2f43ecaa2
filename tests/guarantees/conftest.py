"""An active 总对总 agreement with a guarantee-requiring product, and routing and approving guaranteed requests."""

import datetime as dt

import pytest

from marketplace.dates import business_today
from marketplace.orgs.models import AgencyKind
from tests.guarantees.terms import PRODUCT


@pytest.fixture
def agreement_terms(world, make, as_role):
    today = business_today()
    pool = as_role("admin").post("/api/v1/risk-pools", json={"name": "Pool", "region_code": "33"}).json
    return {"code": "ZJ-B-1", "bank_id": world.bank.id, "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
            "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
            "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
            "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
            "eligible_tiers": ["srdi", "little_giant"], "eligible_product_types": ["credit"]}


@pytest.fixture
def body(world):
    """A new agreement's terms, from today (tests/guarantees/test_agreement_return*.py)."""
    today = business_today()
    return {"code": "ZJ-RET-1", "bank_id": world.bank.id, "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=364)).isoformat(), "total_quota": "100000000.00",
            "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
            "shares": {"agency": "0.80", "bank": "0.20", "reguarantee": "0", "risk_pool": "0"},
            "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"]}


@pytest.fixture
def pending(as_role, body):
    """Proposed by the agency, awaiting the bank's countersignature."""
    response = as_role("agency").post("/api/v1/agreements", json=body)
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def active_agreement(as_role, agreement_terms):
    def make_agreement(**changes):
        created = as_role("agency").post("/api/v1/agreements", json={**agreement_terms, **changes})
        assert created.status_code == 201, created.json
        as_role("bank").post(f"/api/v1/agreements/{created.json['id']}/countersign")
        product = as_role("bank").post("/api/v1/products", json=PRODUCT).json
        as_role("bank").post(f"/api/v1/products/{product['id']}/publish")
        return created.json

    return make_agreement


@pytest.fixture
def route(as_role):
    """route(amount, who="enterprise") → the id of an application routed to the bank on a guaranteed offer."""

    def routed(amount, who="enterprise"):
        enterprise = as_role(who)
        created = enterprise.post("/api/v1/financing-requests", json={"amount": amount, "term_months": 12,
                                                                     "purpose": "Expansion"}).json
        offer = next(o for o in created["offers"] if o["agreement_id"] is not None)
        return enterprise.post(f"/api/v1/financing-requests/{created['id']}/select",
                               json={"offer_id": offer["id"]}).json["application"]["id"]

    return routed


@pytest.fixture
def decide(as_role):
    return lambda application_id: as_role("bank").post(f"/api/v1/applications/{application_id}/decision",
                                                       json={"decision": "approved"})


@pytest.fixture
def approve(route, decide):
    """approve(amount, who="enterprise") → the bank's decision response on a freshly routed guaranteed request."""
    return lambda amount, who="enterprise": decide(route(amount, who))




@pytest.fixture
def files(app, tmp_path, monkeypatch):
    """Claims' evidence is kept in this test's own folder, not the instance folder."""
    monkeypatch.setitem(app.config, "FILES_DIR", str(tmp_path))
    return tmp_path
