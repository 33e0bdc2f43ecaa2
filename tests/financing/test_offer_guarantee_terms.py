"""Issue 22 item 7: on the enterprise's offers, a guaranteed offer names its guarantee agency and says what the
guarantee costs, what the fee subsidy is and why the subsidy is not in the all-in rate."""

from decimal import ROUND_HALF_UP, Decimal

import pytest

from marketplace.dates import business_today
from marketplace.fees.rules import term_days
from tests.ledger.conftest import FEE_CAP, SUBSIDY
from tests.pages import in_chinese
from tests.products.test_product_detail import agreement  # noqa: F401 (fixture)

PRODUCT = {"name": "担保信用贷", "name_en": "Guaranteed credit", "product_type": "credit",
           "amount_min": "100000.00", "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36,
           "rate_spread_bp": 30, "eligible_tiers": ["srdi", "little_giant"], "guarantee": "optional"}


@pytest.fixture
def guaranteed_request(as_role, agreement):  # noqa: F811
    def filed(rules: tuple[dict, ...]) -> int:
        for rule in rules:
            assert as_role("admin").post("/api/v1/fee-rules", json=rule).status_code == 201
        product = as_role("bank").post("/api/v1/products", json=PRODUCT).json
        as_role("bank").post(f"/api/v1/products/{product['id']}/publish")
        created = as_role("enterprise").post("/api/v1/financing-requests", json={
            "amount": "2000000.00", "term_months": 12, "purpose": "Expansion"}).json
        assert [o["agreement_id"] is not None for o in created["offers"]] == [False, True]
        return created["id"]

    return filed


def fee(rate: str) -> str:
    """2,000,000.00 at `rate` a year for the days of a 12-month term starting today, to the fen."""
    days = term_days(business_today(), 12)
    return f"¥{(Decimal('2000000.00') * Decimal(rate) * days / 365).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


def guarantee_terms(html: str) -> str:
    return html.split('id="guarantee-terms"')[1].split("</section>")[0]


def test_a_guaranteed_offer_names_its_agency_its_fee_and_subsidy_and_why_the_subsidy_is_left_out(
        browser_of, world, guaranteed_request):
    request_id = guaranteed_request((FEE_CAP, SUBSIDY))  # the fee capped at 0.50 %, half the waived 0.50 % subsidised
    html = in_chinese(browser_of(world.enterprise_user), f"/enterprise/requests/{request_id}").text
    terms = guarantee_terms(html)
    assert f"由{world.agency.name}提供担保" in terms
    assert "担保费率 0.50%/年（原费率 1.00%" in terms and f"担保费 {fee('0.005')}" in terms
    assert "担保费补贴（降费奖补）：0.25%/年" in terms and f"共 {fee('0.0025')}" in terms
    assert "由财政资金支付给担保机构" in terms
    assert "不计入综合年化成本" in terms and "3.30% + 担保费率 0.50% = 3.80%" in terms
    assert terms.count("<li") == 1  # the offer without a guarantee has nothing to explain


def test_without_a_subsidy_the_page_says_so_and_the_fee_is_the_agreements(browser_of, world, guaranteed_request):
    request_id = guaranteed_request(())
    terms = guarantee_terms(browser_of(world.enterprise_user).get(f"/enterprise/requests/{request_id}").text)
    assert f"guaranteed by {world.agency.name}." in terms
    assert "Guarantee fee rate: 1.00% a year;" in terms and fee("0.01") in terms
    assert "No fee subsidy applies to this offer" in terms and "3.30% + guarantee fee 1.00% = 4.30%" in terms


def test_offers_without_a_guarantee_have_no_guarantee_section(browser_of, world, as_role):
    product = as_role("bank").post("/api/v1/products", json={**PRODUCT, "guarantee": "none"}).json
    as_role("bank").post(f"/api/v1/products/{product['id']}/publish")
    created = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "2000000.00", "term_months": 12, "purpose": "Expansion"}).json
    assert 'id="guarantee-terms"' not in browser_of(world.enterprise_user).get(
        f"/enterprise/requests/{created['id']}").text
