"""The bank's page of one agreement (every term, countersign or return with a reason) and the agency's resubmission
form (issue 22)."""

import datetime as dt
import re

import pytest

from marketplace.dates import business_today
from tests.guarantees.test_agreement_return import REASON
from tests.pages import csrf_token


@pytest.fixture
def bank(browser_of, world):
    return browser_of(world.bank_user)


@pytest.fixture
def agency(browser_of, world):
    return browser_of(world.agency_user)


def test_the_countersign_page_shows_every_term_and_both_actions(bank, pending):
    page = bank.get(f"/bank/agreements/{pending['id']}")
    assert page.status_code == 200
    html = page.text
    for term, shown in (("total_quota", "¥100,000,000.00"), ("per_enterprise_cap", "¥10,000,000.00"),
                        ("per_loan_cap", "¥5,000,000.00"), ("fee_rate", "1.00%"), ("compensation_cap_rate", "3.00%"),
                        ("claim_mode", "Automatic"), ("batch_max_size", "500 loans")):
        assert re.search(rf'data-term="{term}">[^<]*{re.escape(shown)}', html), term
    assert "Bank 80.00%" not in html and "Agency 80.00%" in html and "Bank 20.00%" in html
    form = re.search(r'<form [^>]*id="countersign"[^>]*>', html, re.S).group(0)
    assert "data-confirm=" in form and "¥100,000,000.00" in form and "cannot be undone" in form
    assert re.search(r'<form [^>]*id="return"[^>]*data-confirm="[^"]*\{reason\}', html, re.S)


def test_a_return_without_a_reason_comes_back_with_the_error_beside_the_reason(bank, pending, as_role):
    page = bank.get(f"/bank/agreements/{pending['id']}").text
    response = bank.post(f"/bank/agreements/{pending['id']}/return", data={"csrf_token": csrf_token(page),
                                                                          "reason": "  "})
    assert response.status_code == 422
    assert 'id="reason-error">Say why you return the agreement' in response.text
    assert as_role("bank").get(f"/api/v1/agreements/{pending['id']}").json["status"] == "pending_bank"


def test_returned_the_agency_reads_the_reason_and_resubmits_from_a_form_holding_the_terms(bank, agency, pending,
                                                                                        as_role):
    page = bank.get(f"/bank/agreements/{pending['id']}").text
    returned = bank.post(f"/bank/agreements/{pending['id']}/return",
                         data={"csrf_token": csrf_token(page), "reason": REASON}, follow_redirects=True)
    assert "You returned agreement ZJ-RET-1" in returned.text and REASON in returned.text
    listing = agency.get("/agency/agreements").text
    assert REASON in listing and "Returned by the bank" in listing
    assert f"/agency/agreements/{pending['id']}/resubmit" in listing
    assert f"/agency/agreements/{pending['id']}/terminate" in listing
    form = agency.get(f"/agency/agreements/{pending['id']}/resubmit")
    assert form.status_code == 200 and REASON in form.text
    assert 'value="100000000.00"' in form.text and 'value="1%"' in form.text and 'name="code"' not in form.text
    values = {"csrf_token": csrf_token(form.text), "valid_from": pending["valid_from"],
              "valid_to": pending["valid_to"], "total_quota": "100000000.00", "per_enterprise_cap": "10000000.00",
              "per_loan_cap": "5000000.00", "fee_rate": "0.008", "compensation_cap_rate": "0.03",
              "share_agency": "0.8", "share_bank": "0.2", "share_reguarantee": "0", "share_risk_pool": "0",
              "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"], "batch_max_size": "500",
              "claim_mode": "automatic", "claim_review_days": "10"}
    bad = agency.post(f"/agency/agreements/{pending['id']}/resubmit", data={**values, "share_agency": "0.9",
                                                                               "share_bank": "0.1"})
    assert bad.status_code == 422 and 'id="share_bank-error"' in bad.text
    done = agency.post(f"/agency/agreements/{pending['id']}/resubmit", data=values, follow_redirects=True)
    assert "is submitted to" in done.text
    agreement = as_role("agency").get(f"/api/v1/agreements/{pending['id']}").json
    assert (agreement["status"], agreement["fee_rate"]) == ("pending_bank", "0.0080")
    signed = bank.post(f"/bank/agreements/{pending['id']}/countersign", data={"csrf_token": csrf_token(page)},
                       follow_redirects=True)
    assert "You countersigned agreement ZJ-RET-1" in signed.text


def test_the_agency_terminates_a_returned_agreement(bank, agency, pending, as_role):
    as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    listing = agency.get("/agency/agreements").text
    form = re.search(rf'<form [^>]*action="/agency/agreements/{pending["id"]}/terminate"[^>]*>', listing, re.S)
    assert form and "cannot be undone" in form.group(0)
    ended = agency.post(f"/agency/agreements/{pending['id']}/terminate", data={"csrf_token": csrf_token(listing)},
                        follow_redirects=True)
    assert "Agreement ZJ-RET-1 is terminated" in ended.text
    assert as_role("agency").get(f"/api/v1/agreements/{pending['id']}").json["status"] == "terminated"
    again = agency.get(f"/agency/agreements/{pending['id']}/resubmit", follow_redirects=True)
    assert "was not returned by the bank" in again.text


def test_a_resubmission_starting_before_today_is_refused_beside_its_start_date(agency, pending, as_role):
    as_role("bank").post(f"/api/v1/agreements/{pending['id']}/return", json={"reason": REASON})
    form = agency.get(f"/agency/agreements/{pending['id']}/resubmit").text
    yesterday = (business_today() - dt.timedelta(days=1)).isoformat()
    values = {"csrf_token": csrf_token(form), "valid_from": yesterday, "valid_to": pending["valid_to"],
              "total_quota": "100000000.00", "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00",
              "fee_rate": "0.008", "share_agency": "0.8", "share_bank": "0.2", "share_reguarantee": "0",
              "share_risk_pool": "0", "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"]}
    refused = agency.post(f"/agency/agreements/{pending['id']}/resubmit", data=values)
    assert refused.status_code == 422 and 'id="valid_from-error">The start date cannot be before today' in refused.text
    assert as_role("agency").get(f"/api/v1/agreements/{pending['id']}").json["status"] == "returned"
