"""The deal as agreed on the pages: the bank counters from its application page, the enterprise sees old and new
terms side by side and answers, reasons and the timeline show on both sides, and the message centre tells them."""

import datetime as dt
import re

import pytest

from marketplace import db
from marketplace.dates import business_today
from marketplace.financing.models import Application
from tests.pages import csrf_token, post_form

PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}


@pytest.fixture
def routed(as_role):
    """→ (request id, application id): a request routed to the bank on its plain-credit offer."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    enterprise = as_role("enterprise")
    request = enterprise.post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Moulds"}).json
    selected = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                               json={"offer_id": request["offers"][0]["id"]}).json
    return request["id"], selected["application"]["id"]


def test_the_bank_counters_on_its_page_and_the_enterprise_accepts_on_its_own(browser_of, world, routed):
    request_id, application_id = routed
    bank = browser_of(world.bank_user)
    page = bank.get(f"/bank/applications/{application_id}")
    assert page.status_code == 200 and 'id="decision"' in page.text and 'id="timeline"' in page.text
    no_reason = post_form(bank, f"/bank/applications/{application_id}/decision", {
        "decision": "approved", "approved_amount": "800000.00", "rate_spread_bp": "250", "reason": "",
        "back": "detail"}, form_page=f"/bank/applications/{application_id}")
    assert no_reason.status_code == 422 and 'id="reason-' in no_reason.text and "counter-offer" in no_reason.text
    countered = post_form(bank, f"/bank/applications/{application_id}/decision", {
        "decision": "approved", "approved_amount": "800000.00", "rate_spread_bp": "250",
        "reason": "Order book covers 800 thousand", "back": "detail"}, form_page=f"/bank/applications/{application_id}")
    assert countered.status_code == 302
    assert countered.headers["Location"].endswith(f"/bank/applications/{application_id}")
    after = bank.get(f"/bank/applications/{application_id}").text
    assert 'id="counter-terms"' in after and "¥800,000.00" in after and 'id="decision"' not in after

    enterprise = browser_of(world.enterprise_user)
    mine = enterprise.get(f"/enterprise/requests/{request_id}").text
    terms = re.search(r'<table class="compare" id="counter-terms">.*?</table>', mine, re.S).group(0)
    assert "¥1,000,000.00" in terms and "¥800,000.00" in terms  # offered and countered, side by side
    assert "3.30%" in terms and "5.50%" in terms
    assert "Order book covers 800 thousand" in mine
    assert 'data-event="application.countered"' in mine
    accepted = post_form(enterprise, f"/enterprise/applications/{application_id}/counter-offer/accept", {},
                         form_page=f"/enterprise/requests/{request_id}")
    assert accepted.status_code == 302
    done = enterprise.get(f"/enterprise/requests/{request_id}").text
    assert "Loan #" in done and "¥800,000.00" in done and 'data-event="counter.accepted"' in done
    messages = bank.get("/notifications").text
    assert "accepted your counter-offer" in messages


def test_declining_a_counter_lets_the_enterprise_choose_again_and_a_blank_reason_is_fine(browser_of, world, routed,
                                                                                          as_role):
    request_id, application_id = routed
    as_role("bank").post(f"/api/v1/applications/{application_id}/decision", json={
        "decision": "approved", "rate_spread_bp": 400, "reason": "Sector risk"})
    enterprise = browser_of(world.enterprise_user)
    declined = post_form(enterprise, f"/enterprise/applications/{application_id}/counter-offer/decline",
                         {"reason": ""}, form_page=f"/enterprise/requests/{request_id}")
    assert declined.status_code == 302
    page = enterprise.get(f"/enterprise/requests/{request_id}").text
    assert "Counter-offer declined" in page and 'id="offers-valid"' in page
    assert 'data-event="counter.declined"' in page


def test_someone_elses_application_is_404_on_every_page(browser_of, world, routed):
    request_id, application_id = routed
    other_enterprise = browser_of(world.enterprise2_user)
    page = other_enterprise.get("/enterprise/requests/new").text
    assert other_enterprise.post(f"/enterprise/applications/{application_id}/counter-offer/accept",
                                 data={"csrf_token": csrf_token(page)}).status_code == 404
    assert browser_of(world.bank2_user).get(f"/bank/applications/{application_id}").status_code == 404
    assert browser_of(world.agency_user).get(f"/agency/applications/{application_id}").status_code == 404


def test_the_message_centre_lists_marks_read_and_saves_the_email_settings(browser_of, world, routed):
    bank = browser_of(world.bank_user)
    page = bank.get("/notifications").text
    assert "New application" in page and 'class="count" data-unread>1<' in page
    marked = post_form(bank, "/notifications/read-all", {}, form_page="/notifications")
    assert marked.status_code == 302
    page = bank.get("/notifications").text
    assert "data-unread" not in page and 'class="message read"' in page
    bad = post_form(bank, "/notifications/settings", {"email": "not-an-address", "email_notifications": "true"},
                    form_page="/notifications")
    assert bad.status_code == 422 and 'value="not-an-address"' in bad.text
    good = post_form(bank, "/notifications/settings", {"email": "credit@bank.example"}, form_page="/notifications")
    assert good.status_code == 302
    page = bank.get("/notifications").text
    assert 'value="credit@bank.example"' in page and 'name="email_notifications" value="true" >' in page


def test_the_queue_flags_an_application_past_its_deadline_and_one_due_soon(app, browser_of, world, routed):
    _request_id, application_id = routed
    bank = browser_of(world.bank_user)
    assert 'data-deadline="on_time"' in bank.get("/bank/applications").text
    with app.app_context():
        db.session.get(Application, application_id).respond_by = business_today() - dt.timedelta(days=1)
        db.session.commit()
    queue = bank.get("/bank/applications").text
    assert 'data-deadline="overdue"' in queue and "Past its deadline" in queue
    assert 'data-deadline="overdue"' in bank.get(f"/bank/applications/{application_id}").text
    with app.app_context():
        db.session.get(Application, application_id).respond_by = business_today()
        db.session.commit()
    assert 'data-deadline="near"' in bank.get("/bank/applications").text


def test_a_watched_page_sees_its_version_change_when_the_deal_moves(browser_of, world, routed, as_role):
    request_id, application_id = routed
    enterprise, bank = browser_of(world.enterprise_user), browser_of(world.bank_user)
    page = enterprise.get(f"/enterprise/requests/{request_id}").text
    drawn = re.search(r'data-version="([^"]+)"', page).group(1)
    assert enterprise.get(f"/enterprise/requests/{request_id}/version").json == {"version": drawn}
    assert bank.get(f"/applications/{application_id}/version").json == {"version": drawn}
    as_role("bank").post(f"/api/v1/applications/{application_id}/decision",
                         json={"decision": "declined", "reason": "Outside our sector limits"})
    moved = enterprise.get(f"/enterprise/requests/{request_id}/version").json["version"]
    assert moved != drawn
    assert f'data-version="{moved}"' in enterprise.get(f"/enterprise/requests/{request_id}").text
    assert 'src="/static/watch.js"' in page
