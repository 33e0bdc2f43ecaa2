"""On PostgreSQL, concurrent approvals never oversubscribe an agreement's quota or an enterprise's cap.

This test commits for real (many connections at once), so it builds its own database instead of running inside the
suite's rolled-back transaction. SQLite serialises every write and has no row locks, so it is not the subject here.
"""

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from flask_migrate import upgrade
from stdnum.cn import uscc

from guarantees.models import AgreementStatus
from guarantees.services import change_status, create_agreement
from marketplace import create_app, db
from marketplace.auth.models import Role
from marketplace.auth.services import create_user
from marketplace.dates import business_today
from marketplace.financing.services import create_request, select_offer
from marketplace.lpr.services import set_rates
from marketplace.orgs.models import AgencyKind, EnterpriseSize, Tier
from marketplace.orgs.services import certify, create_agency, create_bank, create_enterprise
from products.models import ProductStatus, ProductType
from products.services import change_status as change_product_status
from products.services import create_product

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="row locks and concurrent writers are PostgreSQL's; runs in the PostgreSQL pass")

APPROVALS = 40
AMOUNT = Decimal("1000000.00")
PASSWORD = "concurrency-password"


def world_with_routed_applications(app, *, one_enterprise: bool) -> tuple[int, list[int]]:
    """An active agreement whose binding limit fits exactly 10 loans, and 40 applications routed to its bank."""
    with app.app_context():
        set_rates(dt.date(2025, 9, 22), Decimal("0.0300"), Decimal("0.0350"))
        bank = create_bank("Race Bank", "RACE")
        agency = create_agency("Race Agency", "RAG", AgencyKind.LOCAL)
        create_user("race.bank", PASSWORD, Role.BANK, bank.id)
        today = business_today()
        limits = ({"total_quota": AMOUNT * 100, "per_enterprise_cap": AMOUNT * 10} if one_enterprise
                  else {"total_quota": AMOUNT * 10, "per_enterprise_cap": AMOUNT * 5})
        agreement = create_agreement(agency.id, {
            "code": "RACE-1", "bank_id": bank.id, "valid_from": today - dt.timedelta(days=1),
            "valid_to": today + dt.timedelta(days=365), "per_loan_cap": AMOUNT * 5, "fee_rate": Decimal("0.01"),
            "shares": {"agency": Decimal("0.8"), "bank": Decimal("0.2"), "reguarantee": Decimal("0"),
                       "risk_pool": Decimal("0")}, "reguarantor_id": None, "risk_pool_id": None,
            "compensation_cap_rate": Decimal("0.03"), "eligible_tiers": [Tier.SRDI],
            "eligible_product_types": [ProductType.CREDIT], "batch_max_size": 500, "auto_approve_below": None,
            "review_sla_days": None, **limits})
        change_status(agreement, AgreementStatus.ACTIVE)
        product = create_product(bank.id, {
            "name": "Race loan", "product_type": ProductType.CREDIT, "amount_min": AMOUNT, "amount_max": AMOUNT,
            "term_min_months": 12, "term_max_months": 12, "rate_spread_bp": 30, "eligible_tiers": [Tier.SRDI],
            "eligible_regions": [], "guarantee": "required", "description": ""})
        change_product_status(product, ProductStatus.PUBLISHED)
        applications = []
        enterprise_users = []
        for n in range(1 if one_enterprise else APPROVALS):
            base = f"91330106MA{n:07d}"
            enterprise = create_enterprise(
                name=f"Racer {n}", uscc=base + uscc.calc_check_digit(base), region_code="330106",
                industry_code="C3811", size=EnterpriseSize.SMALL, annual_revenue=Decimal("1"),
                rd_expense=Decimal("1"), employees=1)
            certify(enterprise.uscc, Tier.SRDI, today + dt.timedelta(days=365))
            enterprise_users.append(create_user(f"racer{n}", PASSWORD, Role.ENTERPRISE, enterprise.id))
        for n in range(APPROVALS):
            request = create_request(enterprise_users[n % len(enterprise_users)], {
                "amount": AMOUNT, "term_months": 12, "purpose": "race", "accept_guarantee": True,
                "product_types": None})
            (offer,) = request.offers
            applications.append(select_offer(request, offer.id).id)
        db.session.commit()
        return agreement.id, applications


@pytest.mark.parametrize("limit", ["total quota", "per-enterprise cap"])
def test_forty_concurrent_approvals_against_room_for_ten(databases, limit):
    app = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh(f"race_{limit.split()[0].replace('-', '')}"),
                      "SECRET_KEY": "race"})
    with app.app_context():
        upgrade()
    agreement_id, applications = world_with_routed_applications(app, one_enterprise=limit == "per-enterprise cap")
    token = app.test_client().post("/api/v1/auth/token", json={"username": "race.bank", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json['access_token']}"}

    def approve(application_id):
        response = app.test_client().post(f"/api/v1/applications/{application_id}/decision",
                                          json={"decision": "approved"}, headers=headers)
        return response.status_code

    with ThreadPoolExecutor(max_workers=APPROVALS) as pool:
        statuses = list(pool.map(approve, applications))

    assert sorted(statuses).count(200) == 10, statuses
    assert statuses.count(409) == 30, statuses
    assert all(status < 500 for status in statuses)
    client = app.test_client()
    agreement = client.get(f"/api/v1/agreements/{agreement_id}", headers=headers).json
    assert Decimal(agreement["quota_reserved"]) == AMOUNT * 10
    assert Decimal(agreement["quota_reserved"]) + Decimal(agreement["quota_outstanding"]) <= Decimal(
        agreement["total_quota"])
    unavailable = client.get("/api/v1/applications?status=guarantee_unavailable&page_size=100", headers=headers)
    assert unavailable.headers["X-Total-Count"] == "30"
    db.engine_of(app).dispose()
