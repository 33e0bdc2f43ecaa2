"""总对总 agreements: proposed by the agency, countersigned by the bank, and then offered with guarantees."""

import datetime as dt

import pytest

from marketplace.dates import business_today
from marketplace.orgs.models import AgencyKind

SHARES = {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"}


@pytest.fixture
def parties(world, make, as_role):
    reguarantor = make.agency(AgencyKind.PROVINCIAL)
    pool = as_role("admin").post("/api/v1/risk-pools", json={"name": "Zhejiang SRDI pool", "region_code": "33"})
    assert pool.status_code == 201, pool.json
    return {"reguarantor_id": reguarantor.id, "risk_pool_id": pool.json["id"]}


@pytest.fixture
def agreement_body(world, parties):
    today = business_today()
    return {"code": "ZJ-2026-001", "bank_id": world.bank.id, "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=335)).isoformat(), "total_quota": "100000000.00",
            "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
            "shares": SHARES, "compensation_cap_rate": "0.03", "eligible_tiers": ["srdi", "little_giant"],
            "eligible_product_types": ["credit", "term"], **parties}


@pytest.fixture
def proposed(as_role, agreement_body):
    response = as_role("agency").post("/api/v1/agreements", json=agreement_body)
    assert response.status_code == 201, response.json
    return response.json


def test_the_agency_proposes_and_the_named_bank_countersigns(as_role, proposed, world):
    assert proposed["status"] == "pending_bank" and proposed["agency_id"] == world.agency.id
    assert proposed["shares"] == {"agency": "0.4000", "bank": "0.2000", "reguarantee": "0.2000", "risk_pool": "0.2000"}
    assert (proposed["quota_reserved"], proposed["quota_outstanding"], proposed["quota_available"]) == (
        "0.00", "0.00", "100000000.00")
    assert proposed["compensation_rate"] == "0.0000"
    signed = as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    assert signed.status_code == 200 and signed.json["status"] == "active"
    assert signed.json["countersigned_at"] is not None
    again = as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    assert again.status_code == 409


@pytest.mark.parametrize("shares, field", [
    ({"agency": "0.50", "bank": "0.10", "reguarantee": "0.20", "risk_pool": "0.20"}, "shares.bank"),
    ({"agency": "0.39", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"}, "shares"),
    ({"agency": "0.41", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"}, "shares"),
])
def test_shares_must_sum_to_exactly_one_and_leave_the_bank_a_fifth(as_role, agreement_body, shares, field):
    response = as_role("agency").post("/api/v1/agreements", json={**agreement_body, "shares": shares})
    assert response.status_code == 422
    assert field in response.json["errors"]


@pytest.mark.parametrize("changes, field", [
    ({"fee_rate": "0.0301"}, "fee_rate"), ({"total_quota": "0.00"}, "total_quota"),
    ({"per_loan_cap": "-1.00"}, "per_loan_cap"), ({"valid_to": "2000-01-01"}, "valid_to"),
    ({"eligible_tiers": ["gold"]}, "eligible_tiers"), ({"eligible_product_types": []}, "eligible_product_types"),
    ({"bank_id": 999999}, "bank_id"), ({"risk_pool_id": None}, "risk_pool_id"),
])
def test_agreement_fields_are_validated(as_role, agreement_body, changes, field):
    response = as_role("agency").post("/api/v1/agreements", json={**agreement_body, **changes})
    assert response.status_code == 422
    assert any(key.split(".")[0] == field for key in response.json["errors"]), response.json


def test_the_reguarantor_must_be_a_provincial_agency(as_role, agreement_body, world):
    response = as_role("agency").post("/api/v1/agreements", json={**agreement_body, "reguarantor_id": world.agency.id})
    assert response.status_code == 422 and "reguarantor_id" in response.json["errors"]


def test_no_reguarantee_share_needs_no_reguarantor(as_role, agreement_body):
    shares = {"agency": "0.60", "bank": "0.20", "reguarantee": "0", "risk_pool": "0.20"}
    response = as_role("agency").post("/api/v1/agreements", json={**agreement_body, "shares": shares,
                                                                  "reguarantor_id": None})
    assert response.status_code == 201


def test_only_agencies_propose_and_only_the_named_bank_countersigns(as_role, agreement_body, proposed):
    assert as_role("bank").post("/api/v1/agreements", json=agreement_body).status_code == 403
    assert as_role("bank2").post(f"/api/v1/agreements/{proposed['id']}/countersign").status_code == 404
    assert as_role("agency").post(f"/api/v1/agreements/{proposed['id']}/countersign").status_code == 403
    assert as_role("enterprise").get(f"/api/v1/agreements/{proposed['id']}").status_code == 403


def test_another_agency_cannot_see_the_agreement(as_role, make, login_api, proposed):
    from marketplace.auth.models import Role

    other = login_api(make.user(Role.AGENCY, make.agency().id))
    assert other.get(f"/api/v1/agreements/{proposed['id']}").status_code == 404
    assert other.get("/api/v1/agreements").json == []


def test_the_agency_suspends_and_resumes(as_role, proposed):
    as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    agency = as_role("agency")
    assert agency.post(f"/api/v1/agreements/{proposed['id']}/suspend").json["status"] == "suspended"
    assert agency.post(f"/api/v1/agreements/{proposed['id']}/resume").json["status"] == "active"
    assert as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/suspend").status_code == 403


def test_past_valid_to_an_agreement_counts_as_expired(as_role, agreement_body, make, world):
    yesterday = business_today() - dt.timedelta(days=1)
    body = {**agreement_body, "valid_from": "2024-01-01", "valid_to": yesterday.isoformat()}
    created = as_role("agency").get(f"/api/v1/agreements/{make.agreement(world.agency.id, body)}").json
    assert created["status"] == "pending_bank"  # only a signed agreement runs out
    signed = as_role("bank").post(f"/api/v1/agreements/{created['id']}/countersign")
    assert signed.json["status"] == "expired"
    assert as_role("agency").post(f"/api/v1/agreements/{created['id']}/resume").status_code == 409


@pytest.mark.parametrize("start", [1, 400])
def test_an_agreement_cannot_start_before_today(as_role, agreement_body, start):
    day = business_today() - dt.timedelta(days=start)
    response = as_role("agency").post("/api/v1/agreements", json={**agreement_body, "valid_from": day.isoformat()})
    assert response.status_code == 422
    assert response.json["errors"] == {
        "valid_from": [f"The start date cannot be before today ({business_today().isoformat()})."]}


def test_a_duplicate_code_is_409(as_role, agreement_body, proposed):
    assert as_role("agency").post("/api/v1/agreements", json=agreement_body).status_code == 409


def test_risk_pools_are_created_by_the_admin(as_role):
    assert as_role("agency").post("/api/v1/risk-pools", json={"name": "x", "region_code": "33"}).status_code == 403
    created = as_role("admin").post("/api/v1/risk-pools", json={"name": "Hangzhou pool", "region_code": "3301",
                                                                "cap_per_loss": "2000000.00"})
    assert created.status_code == 201 and created.json["cap_per_loss"] == "2000000.00"
    assert as_role("bank").get(f"/api/v1/risk-pools/{created.json['id']}").json["name"] == "Hangzhou pool"
    bad = as_role("admin").post("/api/v1/risk-pools", json={"name": "Bad", "region_code": "Zhejiang"})
    assert bad.status_code == 422 and "region_code" in bad.json["errors"]


# Matching with guarantees -----------------------------------------------------------------------------------

PRODUCT = {"name": "Guaranteed credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "required"}
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}


@pytest.fixture
def guaranteed_product(as_role):
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    return product


def test_a_pending_agreement_produces_no_offers_until_countersigned(as_role, proposed, guaranteed_product):
    enterprise = as_role("enterprise")
    before = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    assert before["offers"] == []
    assert any("needs a guarantee" in reason for reason in before["unmatched_reasons"])
    as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    after = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    (offer,) = after["offers"]
    assert offer["agreement_id"] == proposed["id"]
    assert offer["list_fee_rate"] == offer["guarantee_fee_rate"] == "0.0100"
    assert offer["interest_rate"] == "0.0330" and offer["all_in_rate"] == "0.0430"


def test_an_agreement_that_does_not_cover_the_loan_is_not_offered(as_role, agreement_body, guaranteed_product):
    agency, bank = as_role("agency"), as_role("bank")
    for code, changes in [("A-TYPE", {"eligible_product_types": ["term"]}), ("A-TIER", {"eligible_tiers": ["none"]}),
                          ("A-LOAN", {"per_loan_cap": "1000000.00"}),
                          # Caps nest (per loan ≤ per enterprise ≤ quota), so these cap the loan too.
                          ("A-ENT", {"per_enterprise_cap": "1500000.00", "per_loan_cap": "1500000.00"}),
                          ("A-QUOTA", {"total_quota": "1999999.99", "per_enterprise_cap": "1999999.99",
                                       "per_loan_cap": "1999999.99"})]:
        created = agency.post("/api/v1/agreements", json={**agreement_body, "code": code, **changes})
        assert created.status_code == 201, created.json
        created = created.json
        bank.post(f"/api/v1/agreements/{created['id']}/countersign")
    assert as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json["offers"] == []


def test_a_suspended_agreement_offers_nothing(as_role, proposed, guaranteed_product):
    as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    as_role("agency").post(f"/api/v1/agreements/{proposed['id']}/suspend")
    assert as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json["offers"] == []


def test_an_enterprise_that_refuses_a_guarantee_gets_no_guaranteed_offer(as_role, proposed, guaranteed_product):
    as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    body = as_role("enterprise").post("/api/v1/financing-requests", json={**REQUEST, "accept_guarantee": False}).json
    assert body["offers"] == []


def test_a_countersignature_never_lifts_a_suspension(as_role, proposed):
    as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    as_role("agency").post(f"/api/v1/agreements/{proposed['id']}/suspend")
    again = as_role("bank").post(f"/api/v1/agreements/{proposed['id']}/countersign")
    assert again.status_code == 409
    assert as_role("agency").get(f"/api/v1/agreements/{proposed['id']}").json["status"] == "suspended"
    assert as_role("agency").post(f"/api/v1/agreements/{proposed['id']}/suspend").status_code == 409


@pytest.mark.parametrize(("caps", "field"), [
    ({"per_loan_cap": "6000000.00", "per_enterprise_cap": "5000000.00"}, "per_loan_cap"),
    ({"per_enterprise_cap": "20000000.00", "total_quota": "10000000.00", "per_loan_cap": "3000000.00"},
     "per_enterprise_cap"),
])
def test_caps_nest_per_loan_within_per_enterprise_within_the_quota(world, as_role, agreement_body, caps, field):
    """Issue 22: a per-loan cap above the per-enterprise cap, or that above the total quota, was accepted."""
    refused = as_role("agency").post("/api/v1/agreements", json={**agreement_body, **caps})
    assert refused.status_code == 422 and list(refused.json["errors"]) == [field], refused.json
    assert as_role("agency").get("/api/v1/agreements").json == []
