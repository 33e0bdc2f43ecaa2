"""On PostgreSQL, two tier-expiry runs at the same moment withdraw each open request once: one run withdraws it and
keeps why (as a code, read in words), the other finds it no longer open once it has locked it and leaves it.

The runs commit for real on their own connections, so the test builds its own database."""

import datetime as dt
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from flask_babel import force_locale
from flask_migrate import upgrade
from sqlalchemy import func, select
from stdnum.cn import uscc

from marketplace import create_app, db
from marketplace.auth.models import Role
from marketplace.auth.services import create_user
from marketplace.dates import SHANGHAI, business_today
from marketplace.financing import reasons
from marketplace.financing.models import FinancingRequest, RequestStatus
from marketplace.financing.services import create_request
from marketplace.lpr.services import set_rates
from marketplace.orgs.models import EnterpriseSize, Tier
from marketplace.orgs.services import certify, create_bank, create_enterprise
from marketplace.scheduler import jobs
from marketplace.timeline import WITHDRAWN, TimelineEvent
from products.models import ProductStatus, ProductType
from products.services import change_status, create_product

pytestmark = pytest.mark.skipif(os.environ.get("MARKETPLACE_TEST_DB", "sqlite") != "postgresql",
                                reason="row locks and concurrent writers are PostgreSQL's; runs in the PostgreSQL pass")

REQUESTS = 6
AMOUNT = Decimal("1000000.00")


@pytest.fixture
def lapsed(databases):
    """Six open requests priced for SRDI enterprises whose certification has since been withdrawn (now none)."""
    app = create_app({"PROFILE": "test", "DATABASE_URL": databases.fresh(f"tier_race_{uuid.uuid4().hex[:6]}"),
                      "SECRET_KEY": "race"})
    with app.app_context():
        upgrade()
        set_rates(dt.date(2025, 9, 22), Decimal("0.0300"), Decimal("0.0350"))
        bank = create_bank("Race Bank", "RACE")
        product = create_product(bank.id, {
            "name": "Race loan", "product_type": ProductType.CREDIT, "amount_min": AMOUNT, "amount_max": AMOUNT,
            "term_min_months": 12, "term_max_months": 12, "rate_spread_bp": 30, "eligible_tiers": [Tier.SRDI],
            "eligible_regions": [], "guarantee": "none", "description": ""})
        change_status(product, ProductStatus.PUBLISHED)
        ids = []
        for n in range(REQUESTS):
            base = f"91330106MB{n:07d}"
            enterprise = create_enterprise(
                name=f"赛跑企业{n}", uscc=base + uscc.calc_check_digit(base), region_code="330106",
                industry_code="C3811", size=EnterpriseSize.SMALL, annual_revenue=Decimal("1"),
                rd_expense=Decimal("1"), employees=1)
            certify(enterprise.uscc, Tier.SRDI, business_today() + dt.timedelta(days=365))
            user = create_user(f"tier.racer{n}", "concurrency-password", Role.ENTERPRISE, enterprise.id)
            ids.append(create_request(user, {"amount": AMOUNT, "term_months": 12, "purpose": "race",
                                             "accept_guarantee": False, "product_types": None}).id)
            certify(enterprise.uscc, Tier.NONE, None)
        db.session.commit()
    yield app, ids
    db.engine_of(app).dispose()


def test_two_tier_expiry_runs_at_once_withdraw_each_request_once_saying_why(lapsed):
    app, ids = lapsed
    start = threading.Barrier(2)
    now = dt.datetime.now(SHANGHAI)

    def run():
        with app.app_context():
            start.wait(timeout=10)
            result = jobs.tier_expiry(now)
            time.sleep(0.3)  # still uncommitted while the other run reaches the same rows
            db.session.commit()
            return result["requests"]

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (future.result() for future in [pool.submit(run), pool.submit(run)])

    assert sorted(first + second) == ids  # each request by one run only
    with app.app_context():
        requests = db.session.scalars(select(FinancingRequest).where(FinancingRequest.id.in_(ids))).all()
        assert {request.status for request in requests} == {RequestStatus.WITHDRAWN}
        assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
            TimelineEvent.event == WITHDRAWN, TimelineEvent.request_id.in_(ids))) == REQUESTS
        with app.test_request_context(), force_locale("zh_Hans"):
            said = {reasons.status_words(request) for request in requests}
    assert said == {f"平台已于 {now.date()} 撤回：这些报价按认定等级“专精特新”定价，贵企业目前的认定等级为“未认定”。"
                    "请重新发起需求，查看当前适用的报价。"}
