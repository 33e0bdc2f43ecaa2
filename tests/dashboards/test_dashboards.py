"""Each role's dashboard (issue 9): it renders on an empty marketplace with a helpful empty state, on the demo world,
and on a generated province, where its figures agree with what the rest of the marketplace says."""

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from guarantees.models import Agreement, RiskPool
from marketplace import create_app, db
from marketplace.auth.models import Role, User
from marketplace.dashboards.queries import months
from marketplace.dates import business_today
from marketplace.demo import DEMO_PASSWORD, seed
from marketplace.financing.models import Application, Loan
from marketplace.lpr.models import LprRate
from tests.pages import csrf_token

DASHBOARDS = {Role.AGENCY: "/agency/dashboard", Role.BANK: "/bank/dashboard", Role.ADMIN: "/admin/dashboard"}


def _signed_in(app: Flask, username: str, password: str):
    browser = app.test_client()
    response = browser.post("/login", data={"username": username, "password": password,
                                            "csrf_token": csrf_token(browser.get("/login").text)})
    assert response.status_code == 302, response.text
    return browser


def _figure(html: str, key: str) -> str:
    return re.search(rf'data-figure="{key}"><dt>.*?</dt><dd>(.*?)</dd>', html).group(1)


def _chart(html: str, key: str) -> str:
    return re.search(rf'<figure class="chart" data-chart="{re.escape(key)}">(.*?)</figure>', html, re.S).group(1)


def _table(html: str, key: str) -> dict[str, list[Decimal | None]]:
    """A chart's figures table: {category: [value of each series]}, exact."""
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', _chart(html, key), re.S)
    return {category: [Decimal(v) if v else None for v in re.findall(r'data-value="([^"]*)"', cells)]
            for category, cells in rows}


# An empty marketplace -----------------------------------------------------------------------------------------

def test_on_an_empty_marketplace_each_dashboard_says_what_to_do_first(world, browser_of):
    agency = browser_of(world.agency_user).get("/agency/dashboard")
    assert agency.status_code == 200
    assert "You have no 总对总 agreement yet" in agency.text
    assert 'href="/agency/agreements/new"' in agency.text

    bank = browser_of(world.bank_user).get("/bank/dashboard")
    assert bank.status_code == 200
    assert "No application has reached you yet" in bank.text
    assert 'href="/bank/products"' in bank.text

    admin = browser_of(world.admin_user).get("/admin/dashboard")
    assert admin.status_code == 200
    assert "No loan has been disbursed through the marketplace yet" in admin.text
    assert "No fee rule has a subsidy budget yet" in _chart(admin.text, "subsidies")
    assert "No risk pool has been funded yet" in _chart(admin.text, "pool_balances")
    assert _figure(admin.text, "lent") == "¥0.00"
    assert "<svg class=\"chart-svg" not in admin.text  # nothing drawn from nothing


def test_each_dashboard_is_for_its_role_only(world, browser_of):
    for role, path in DASHBOARDS.items():
        for user in (world.admin_user, world.bank_user, world.agency_user, world.enterprise_user):
            expected = 200 if user.role is role else 403
            assert browser_of(user).get(path).status_code == expected, (user.role, path)


def test_the_dashboards_are_in_chinese_by_default_with_amounts_in_wan(app, world, browser_of):
    app.config["BABEL_DEFAULT_LOCALE"] = "zh_Hans"
    try:
        page = browser_of(world.admin_user).get("/admin/dashboard").text
    finally:
        app.config["BABEL_DEFAULT_LOCALE"] = "en"
    assert "<h1>看板</h1>" in page
    assert _figure(page, "lent") == "0.00 万元"


# The demo world -----------------------------------------------------------------------------------------------

def test_the_demo_dashboards_show_the_demo_agreement_budgets_and_pool(app):
    with app.app_context():
        seed()
        db.session.commit()
        agreement = db.session.scalar(select(Agreement))
        pool = db.session.scalar(select(RiskPool))
        total_quota, pool_balance = agreement.total_quota, pool.balance

    agency = _signed_in(app, "agency", DEMO_PASSWORD).get("/agency/dashboard").text
    assert f'data-agreement="{agreement.code}"' in agency
    assert _figure(agency, "total") == f"¥{total_quota:,.2f}"
    assert "No batch is waiting for your review" in agency

    bank = _signed_in(app, "bank", DEMO_PASSWORD).get("/bank/dashboard").text
    assert "No application has reached you yet" in bank

    admin = _signed_in(app, "admin", DEMO_PASSWORD).get("/admin/dashboard").text
    budgets = _table(admin, "subsidies")
    assert budgets and all(budget is not None for budget, _granted in budgets.values())
    balances = _table(admin, "pool_balances")
    assert list(balances.values())[-1] == [pool_balance]  # this month's end: today's balance
    assert _figure(admin, "pool_cash") == f"¥{pool_balance:,.2f}"


# A generated province -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def province(databases) -> Iterator[Flask]:
    """A small province with three years of history (generated: requests, loans, defaults, recoveries)."""
    app = create_app({"PROFILE": "test", "TESTING": True, "DATABASE_URL": databases.fresh("dashboards"),
                      "SECRET_KEY": "dashboards"})
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(args=[
        "demo", "generate", "--seed", "5", "--as-of", business_today().isoformat(), "--enterprises", "200",
        "--products", "300", "--agreements", "5", "--postings", "5000", "--banks", "6", "--agencies", "4"])
    assert result.exit_code == 0, result.output
    yield app
    db.engine_of(app).dispose()


def test_an_agencys_compensation_rate_ends_on_each_agreements_rate_today(province):
    with province.app_context():
        agreement = db.session.scalar(select(Agreement).order_by(Agreement.compensated_total.desc()))
        username = db.session.scalar(select(User.username).where(User.organization_id == agreement.agency_id))
        agreements = db.session.scalars(select(Agreement).where(Agreement.agency_id == agreement.agency_id)).all()
        expected = {a.code: (a.compensation_rate, a.compensation_cap_rate) for a in agreements if a.guaranteed_total}
    page = _signed_in(province, username, DEMO_PASSWORD).get("/agency/dashboard").text
    assert expected
    for code, (rate, cap) in expected.items():
        history = _table(page, f"compensation-{code}")
        assert list(history) == months(business_today())
        assert history[months(business_today())[-1]] == [rate]
        assert f"Cap {cap * 100:.2f}%" in _chart(page, f"compensation-{code}")


def test_a_banks_applications_by_status_and_lending_add_up_to_its_books(province):
    with province.app_context():
        bank_id = db.session.scalar(select(Application.bank_id).group_by(Application.bank_id)
                                    .order_by(func.count().desc()))
        username = db.session.scalar(select(User.username).where(User.organization_id == bank_id))
        applications = db.session.scalar(select(func.count()).where(Application.bank_id == bank_id))
        approved = db.session.scalar(select(func.count()).where(Application.bank_id == bank_id,
                                                                 Application.status == "approved"))
        first = months(business_today())[0]
        lent = db.session.scalar(select(func.sum(Loan.principal)).where(
            Loan.bank_id == bank_id, Loan.disbursed_on >= dt.date.fromisoformat(f"{first}-01")))
    page = _signed_in(province, username, DEMO_PASSWORD).get("/bank/dashboard").text
    by_status = _table(page, "statuses")
    assert sum(v[0] or 0 for v in by_status.values()) == applications
    assert by_status["Approved"] == [approved]
    assert _figure(page, "applications") == f"{applications:,}"
    volume = _table(page, "volume")
    assert sum(sum(v or 0 for v in row) for row in volume.values()) == lent
    uptake = _table(page, "products")
    assert all(applied >= (approvals or 0) for applied, approvals in uptake.values())


def test_the_admins_lending_pools_and_rates_agree_with_the_books(province):
    with province.app_context():
        lent = db.session.scalar(select(func.sum(Loan.principal)).where(Loan.disbursed_on.is_not(None)))
        borrowers = db.session.scalar(select(func.count(func.distinct(Loan.enterprise_id)))
                                      .where(Loan.disbursed_on.is_not(None)))
        pools = {(p.name_en or p.name): p.balance for p in db.session.scalars(select(RiskPool))}
        lpr_today = db.session.scalar(select(LprRate.lpr_1y).where(LprRate.effective_on <= business_today())
                                      .order_by(LprRate.effective_on.desc()).limit(1))
    page = _signed_in(province, "admin", DEMO_PASSWORD).get("/admin/dashboard").text
    assert sum(v[0] or 0 for v in _table(page, "tiers").values()) == lent
    assert sum(v[0] or 0 for v in _table(page, "types").values()) == lent
    assert _figure(page, "borrowers") == f"{borrowers:,}"
    balances = _table(page, "pool_balances")
    this_month = balances[months(business_today())[-1]]
    named = re.findall(r'<th class="num">(.*?)</th>', _chart(page, "pool_balances"))
    assert dict(zip(named, this_month, strict=True)) == {name: pools[name] for name in named}
    rates = _table(page, "rates")
    assert rates[months(business_today())[-1]][1] == lpr_today
    assert _figure(page, "lpr") == f"{lpr_today * 100:.2f}%"
    all_in = [a for a, _lpr in rates.values() if a is not None]
    assert all_in and all(Decimal("0") < a < Decimal("0.2") for a in all_in)
