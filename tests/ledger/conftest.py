"""A 总对总 scheme as issue 5's worked example sets it up: an agreement (fee 0.0100; shares agency 0.40, bank 0.20,
re-guarantee 0.20, risk pool 0.20; cap 0.05), the "SRDI fee cap" and "降费奖补" rules, a guaranteed product, and
loans of 1,000,000.00 for 12 months to `srdi` enterprises, approved in one batch."""

import datetime as dt

import pytest

from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.orgs.models import AgencyKind, Tier

PRODUCT = {"name": "专精特新担保贷", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "required"}
FEE_CAP = {"name": "SRDI fee cap", "priority": 10, "stackable": True, "valid_from": "2026-01-01",
           "conditions": {"tiers": ["srdi", "little_giant"]}, "effect": {"kind": "cap_fee_rate", "value": "0.0050"}}
SUBSIDY = {"name": "降费奖补", "priority": 20, "valid_from": "2026-01-01",
           "conditions": {"tiers": ["srdi", "little_giant"]},
           "effect": {"kind": "fiscal_subsidy_share", "value": "0.5"}}


@pytest.fixture
def scheme(world, make, as_role, login_api):
    """scheme(loans=n, rules=[...]) → {"agreement", "pool", "loans": [loan ids], "rules": [rule bodies]}."""

    def build(loans: int, rules: tuple[dict, ...] = (FEE_CAP, SUBSIDY)) -> dict:
        admin, agency, bank = as_role("admin"), as_role("agency"), as_role("bank")
        today = business_today()
        pool = admin.post("/api/v1/risk-pools", json={"name": "Zhejiang SRDI pool", "region_code": "33"}).json
        agreement = agency.post("/api/v1/agreements", json={
            "code": "ZJ-EXAMPLE", "bank_id": world.bank.id,
            "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "20000000.00",
            "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
            "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
            "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
            "compensation_cap_rate": "0.05", "eligible_tiers": ["srdi", "little_giant"],
            "eligible_product_types": ["credit"]}).json
        bank.post(f"/api/v1/agreements/{agreement['id']}/countersign")
        made_rules = []
        for rule in rules:
            created = admin.post("/api/v1/fee-rules", json=rule)
            assert created.status_code == 201, created.json
            made_rules.append(created.json)
        product = bank.post("/api/v1/products", json=PRODUCT).json
        bank.post(f"/api/v1/products/{product['id']}/publish")
        for _ in range(loans):
            enterprise = make.enterprise(Tier.SRDI)
            portal = login_api(make.user(Role.ENTERPRISE, enterprise.id))
            request = portal.post("/api/v1/financing-requests", json={
                "amount": "1000000.00", "term_months": 12, "purpose": "Working capital"}).json
            offer = next(o for o in request["offers"] if o["agreement_id"] == agreement["id"])
            application = portal.post(f"/api/v1/financing-requests/{request['id']}/select",
                                      json={"offer_id": offer["id"]}).json["application"]
            bank.post(f"/api/v1/applications/{application['id']}/decision", json={"decision": "approved"})
        loan_ids = []
        if loans:
            (batch,) = agency.get(f"/api/v1/batches?status=open&agreement_id={agreement['id']}").json
            agency.post(f"/api/v1/batches/{batch['id']}/submit")
            decided = agency.post(f"/api/v1/batches/{batch['id']}/decision", json={"exclusions": []}).json
            loan_ids = [item["loan_id"] for item in decided["items"]]
        return {"agreement": agreement, "pool": pool, "loans": loan_ids, "rules": made_rules}

    return build
