"""The enterprise's request pages, the offer comparison and the bank's queue, server-rendered with CSRF."""

import re

import pytest
from stdnum.cn import uscc

from marketplace.auth.models import Role
from marketplace.orgs.models import Tier
from tests.pages import csrf_token, post_form

PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}


@pytest.fixture
def published(as_role):
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    return product


def test_an_enterprise_files_a_request_and_sees_ranked_offers(browser_of, world, published):
    browser = browser_of(world.enterprise_user)
    response = post_form(browser, "/enterprise/requests/new", {
        "amount": "2000000.00", "term_months": "12", "purpose": "New CNC line", "accept_guarantee": ["false", "true"]})
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).text
    assert 'id="offers"' in page and "Plain credit" in page and "3.30%" in page
    assert "Open: choose an offer" in page
    # Issue 22: the total cost in yuan beside the rate: 2,000,000.00 at 3.30 % for 12 months.
    assert re.search(r'data-total-cost[^>]*>¥66,000\.00<', page)


def test_the_total_cost_is_the_all_in_rate_on_the_amount_for_the_term_to_the_fen(browser_of, world, published):
    browser = browser_of(world.enterprise_user)
    response = post_form(browser, "/enterprise/requests/new", {
        "amount": "1234567.89", "term_months": "7", "purpose": "Tooling", "accept_guarantee": "false"})
    page = browser.get(response.headers["Location"]).text
    # 1,234,567.89 × 3.30 % × 7 / 12 = 23,765.4318825 → ¥23,765.43
    assert re.search(r'data-total-cost[^>]*>¥23,765\.43<', page)


def test_a_bad_request_form_keeps_what_was_typed_and_marks_the_field(browser_of, world, published):
    browser = browser_of(world.enterprise_user)
    response = post_form(browser, "/enterprise/requests/new", {"amount": "2000000.005", "term_months": "12",
                                                               "purpose": "x", "accept_guarantee": "false"})
    assert response.status_code == 422
    assert 'id="amount-error">Use at most two decimal places (fen).' in response.text
    assert 'value="2000000.005"' in response.text
    assert 'id="accept_guarantee" name="accept_guarantee" value="true" >' in response.text  # stays unticked


def test_choosing_an_offer_sends_it_to_the_bank_which_approves_it(browser_of, world, published):
    enterprise = browser_of(world.enterprise_user)
    location = post_form(enterprise, "/enterprise/requests/new", {
        "amount": "2000000.00", "term_months": "12", "purpose": "New CNC line"}).headers["Location"]
    request_page = enterprise.get(location).text
    offer_id = re.search(r'data-offer-id="(\d+)"', request_page).group(1)
    chosen = enterprise.post(f"{location}/select", data={"offer_id": offer_id, "csrf_token": csrf_token(request_page)},
                             follow_redirects=True)
    assert "Sent to" in chosen.text and "With the bank" in chosen.text

    bank = browser_of(world.bank_user)
    queue = bank.get("/bank/applications").text
    application_id = re.search(r'data-application-id="(\d+)"', queue).group(1)
    declined_without_reason = bank.post(f"/bank/applications/{application_id}/decision", data={
        "decision": "declined", "approved_amount": "2000000.00", "rate_spread_bp": "30", "reason": "",
        "csrf_token": csrf_token(queue)})
    assert declined_without_reason.status_code == 422
    assert 'id="reason-error">Tell the enterprise why the application is declined.' in declined_without_reason.text
    approved = bank.post(f"/bank/applications/{application_id}/decision", data={
        "decision": "approved", "approved_amount": "2000000.00", "rate_spread_bp": "30", "reason": "",
        "csrf_token": csrf_token(queue)}, follow_redirects=True)
    assert f"Application {application_id} approved." in approved.text
    outcome = enterprise.get(location).text
    assert "Approved" in outcome
    assert re.search(r"Loan #\d+: ¥2,000,000.00 for 12 months at 3.30% a year \(LPR \+30 bp\)", outcome)
    assert f'data-application-id="{application_id}"' in bank.get("/bank/applications?status=approved").text


def test_another_bank_sees_nothing_in_its_queue_and_cannot_decide(browser_of, world, published, as_role):
    created = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "2000000.00", "term_months": 12, "purpose": "x"}).json
    routed = as_role("enterprise").post(f"/api/v1/financing-requests/{created['id']}/select",
                                        json={"offer_id": created["offers"][0]["id"]}).json
    other = browser_of(world.bank2_user)
    queue = other.get("/bank/applications").text
    assert "data-application-id" not in queue
    decision = other.post(f"/bank/applications/{routed['application']['id']}/decision",
                          data={"decision": "approved", "csrf_token": csrf_token(queue)})
    assert decision.status_code == 404


def test_another_enterprises_request_page_is_404(browser_of, world, published, as_role):
    created = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "2000000.00", "term_months": 12, "purpose": "x"}).json
    assert browser_of(world.enterprise2_user).get(f"/enterprise/requests/{created['id']}").status_code == 404


def test_the_request_pages_are_for_enterprises(client, browser_of, world):
    assert client.get("/enterprise/requests/new").headers["Location"].startswith("/login")
    assert browser_of(world.bank_user).get("/enterprise/requests/new").status_code == 403
    assert browser_of(world.enterprise_user).get("/bank/applications").status_code == 403


def test_an_empty_request_list_says_what_to_do(browser_of, world):
    page = browser_of(world.enterprise_user).get("/enterprise/requests").text
    assert "You have not asked for financing yet" in page


# Registration page ------------------------------------------------------------------------------------------

def valid_uscc(seed: str = "91330106MA2CFE1K3") -> str:
    return seed + uscc.calc_check_digit(seed)


def registration(**changes):
    return {"name": "Qiantang Robotics", "uscc": valid_uscc(), "region_code": "330106", "industry_code": "C3491",
            "size": "small", "annual_revenue": "42000000.00", "rd_expense": "3800000.00", "employees": "96",
            "username": "qiantang.owner", "password": "a-long-password", **changes}


def test_an_enterprise_registers_on_the_page_and_is_signed_in(client):
    response = post_form(client, "/enterprise/register", registration())
    assert response.status_code == 302 and response.headers["Location"] == "/enterprise/requests/new"
    assert client.get("/enterprise/requests/new").status_code == 200


def test_a_wrong_check_character_is_shown_beside_the_code(client):
    bad = valid_uscc()[:-1] + ("1" if valid_uscc()[-1] != "1" else "2")
    response = post_form(client, "/enterprise/register", registration(uscc=bad))
    assert response.status_code == 422
    assert 'id="uscc-error">The check character does not match' in response.text
    assert 'value="Qiantang Robotics"' in response.text and "a-long-password" not in response.text


def test_an_uncertified_enterprise_is_told_how_to_get_certified(browser_of, make, world, published):
    """Issue 22: it was told to try another amount or term, which could never help."""
    uncertified = make.enterprise(Tier.NONE)
    browser = browser_of(make.user(Role.ENTERPRISE, uncertified.id))
    response = post_form(browser, "/enterprise/requests/new", {
        "amount": "2000000.00", "term_months": "12", "purpose": "New CNC line", "accept_guarantee": "false"})
    page = browser.get(response.headers["Location"]).text
    assert 'id="get-certified"' in page and "department of economy and information technology of your city" in page
    assert "another amount or term" not in page
