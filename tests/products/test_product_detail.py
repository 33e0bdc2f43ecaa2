"""Issue 22 item 7: each published product of the catalogue has a page of its own, with an 申请 button that opens a
financing request filled in for it."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from marketplace.dates import business_today
from marketplace.orgs.models import AgencyKind
from tests.pages import csrf_token, in_chinese

PRODUCT = {"name": "专精特新担保贷", "name_en": "SRDI Guaranteed Loan", "product_type": "credit",
           "amount_min": "500000.00", "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36,
           "rate_spread_bp": 25, "eligible_tiers": ["srdi", "little_giant"], "eligible_regions": ["3301", "330383"],
           "guarantee": "required", "description": "面向杭州专精特新企业的流动资金贷款。"}


@pytest.fixture
def product(as_role):
    created = as_role("bank").post("/api/v1/products", json=PRODUCT)
    assert created.status_code == 201, created.json
    as_role("bank").post(f"/api/v1/products/{created.json['id']}/publish")
    return created.json


@pytest.fixture
def agreement(world, make, as_role):
    today = business_today()
    pool = as_role("admin").post("/api/v1/risk-pools", json={"name": "Pool", "region_code": "33"}).json
    created = as_role("agency").post("/api/v1/agreements", json={
        "code": "ZJ-HZ-7", "bank_id": world.bank.id, "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
        "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
        "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
        "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
        "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"]})
    assert created.status_code == 201, created.json
    as_role("bank").post(f"/api/v1/agreements/{created.json['id']}/countersign")
    return created.json


def test_the_page_shows_the_terms_the_regions_by_name_and_the_guaranteeing_agency(browser_of, world, product,
                                                                                  agreement):
    page = in_chinese(browser_of(world.enterprise_user), f"/products/{product['id']}")
    assert page.status_code == 200
    html = page.text
    assert "专精特新担保贷" in html and "面向杭州专精特新企业的流动资金贷款。" in html
    assert f"{world.bank.name}" in html
    assert "50.00 万元 – 500.00 万元" in html and "6 – 36 个月" in html
    assert re.search(r'title="3301">杭州市</span>、<span title="330383">龙港市</span>', html)
    assert "专精特新" in html.split('id="tiers"')[1].split("</dd>")[0]
    # 1-year LPR 3.00 % in the world, + 25 basis points
    assert "年利率 3.25%（1 年期 LPR 3.00% +25 个基点）" in html
    guarantee = html.split('id="guarantee"')[1].split("</dd>")[0]
    assert world.agency.name in guarantee and "1.00%" in guarantee
    assert "ZJ-HZ-7" not in html  # an agreement code is the agency's and the bank's own (tests/security)


def test_a_draft_or_a_suspended_product_has_no_page(browser_of, world, as_role, product):
    draft = as_role("bank").post("/api/v1/products", json={**PRODUCT, "name": "Draft loan"}).json
    assert browser_of(world.enterprise_user).get(f"/products/{draft['id']}").status_code == 404
    assert browser_of(world.bank_user).get(f"/products/{draft['id']}").status_code == 404  # even for its bank
    as_role("bank").post(f"/api/v1/products/{product['id']}/suspend")
    assert browser_of(world.enterprise_user).get(f"/products/{product['id']}").status_code == 404
    assert browser_of(world.enterprise_user).get("/products/999999").status_code == 404


def test_the_catalogue_links_each_row_to_its_page(browser_of, world, product):
    catalogue = browser_of(world.enterprise_user).get("/products").text
    assert f'href="/products/{product["id"]}"' in catalogue


def test_apply_opens_the_request_form_filled_in_for_the_product(browser_of, world, product):
    enterprise = browser_of(world.enterprise_user)
    page = enterprise.get(f"/products/{product['id']}").text
    apply_url = re.search(r'href="([^"]+)" id="apply"', page).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(apply_url).query)
    assert urlsplit(apply_url).path == "/enterprise/requests/new"
    assert query["amount"] == ["1000000.00"] and query["term_months"] == ["12"]  # within 50万–500万, 6–36 months
    assert query["product_types"] == ["credit"]
    form = enterprise.get(apply_url).text
    assert 'value="1000000.00"' in form and 'value="12"' in form
    assert 'value="Working capital (applying for “SRDI Guaranteed Loan” of Bank' in form
    assert re.search(r'value="credit"\s+checked', form)


def test_apply_moves_the_usual_amount_and_term_into_the_products_ranges(browser_of, world, as_role):
    big = as_role("bank").post("/api/v1/products", json={
        **PRODUCT, "name": "Big loan", "amount_min": "2000000.00", "amount_max": "9000000.00",
        "term_min_months": 24, "term_max_months": 120}).json
    as_role("bank").post(f"/api/v1/products/{big['id']}/publish")
    page = browser_of(world.enterprise_user).get(f"/products/{big['id']}").text
    query = parse_qs(urlsplit(re.search(r'href="([^"]+)" id="apply"', page).group(1).replace("&amp;", "&")).query)
    assert query["amount"] == ["2000000.00"] and query["term_months"] == ["24"]
    assert "3.75% a year (5-year LPR 3.50% +25 bp)" in page  # terms above 60 months are priced on the 5-year LPR


def test_a_visitor_sees_the_page_and_apply_signs_them_in_first_then_opens_the_form(app, world, product):
    visitor = app.test_client()
    page = visitor.get(f"/products/{product['id']}")
    assert page.status_code == 200
    apply_url = re.search(r'href="([^"]+)" id="apply"', page.text).group(1).replace("&amp;", "&")
    assert urlsplit(apply_url).path == "/login"
    back = parse_qs(urlsplit(apply_url).query)["next"][0]
    assert back.startswith("/enterprise/requests/new?") and "amount=1000000.00" in back
    signed_in = visitor.post(apply_url, data={"username": world.enterprise_user.username,
                                              "password": "correct-horse-battery",
                                              "csrf_token": csrf_token(visitor.get(apply_url).text)})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == back


def test_a_bank_officer_sees_the_page_without_an_apply_button(browser_of, world, product):
    page = browser_of(world.bank2_user).get(f"/products/{product['id']}").text
    assert 'id="apply"' not in page and "Enterprises apply for it here." in page


def test_the_bank_opens_its_published_product_as_enterprises_see_it(browser_of, world, as_role, product):
    draft = as_role("bank").post("/api/v1/products", json={**PRODUCT, "name": "Draft loan"}).json
    listing = browser_of(world.bank_user).get("/bank/products").text
    assert f'href="/products/{product["id"]}" title="As enterprises see it"' in listing
    assert f'href="/products/{draft["id"]}"' not in listing
