"""Claims (代偿申请, issue 20) on the dashboards: the agency's claims by status and, those awaiting it, by where they
stand on their deadlines; the bank's overdue loans and its claims; the finance office's claims past the agencies'
deadlines. Each agrees with the claims queue."""

from __future__ import annotations

import datetime as dt
import re

from marketplace.dates import business_today
from tests.guarantees.test_claim_pages import default_and_claim, guaranteed_loans, move_deadline
from tests.guarantees.test_claims_api import report
from tests.pages import post_form


def _figure(html: str, key: str) -> str:
    return re.search(rf'data-figure="{key}"><dt>.*?</dt><dd>(.*?)</dd>', html).group(1)


def _decide(browser, claim_id: int, **fields) -> None:
    path = f"/agency/claims/{claim_id}"
    assert post_form(browser, f"{path}/decision", {**fields, "confirm": "1"}, form_page=path).status_code == 302


def _claims_world(app, as_role, world, make, browser_of):
    """Six guaranteed loans under a reviewing agreement: five default, of whose claims the agency pays one, refuses
    one and leaves three filed (one past its deadline, one due today, one with its ten working days ahead); the sixth
    is only overdue. → (the claims, the overdue loan's id)"""
    _agreement, loans = guaranteed_loans(as_role, world, make, count=6)
    claims = [default_and_claim(as_role, loan_id) for loan_id in loans[:5]]
    report(as_role, loans[5], "overdue")
    today = business_today()
    move_deadline(app, claims[0]["id"], today - dt.timedelta(days=14))
    move_deadline(app, claims[1]["id"], today)
    agency = browser_of(world.agency_user)
    _decide(agency, claims[3]["id"], decision="pay")
    _decide(agency, claims[4]["id"], decision="reject", reason="Collateral not enforced")
    return claims, loans[5]


def test_the_agency_dashboard_counts_claims_by_status_and_deadline(app, as_role, world, make, browser_of):
    claims, _overdue = _claims_world(app, as_role, world, make, browser_of)
    page = browser_of(world.agency_user).get("/agency/dashboard").text
    assert [_figure(page, key) for key in ("claims_filed", "claims_within", "claims_soon", "claims_past",
                                           "claims_paid", "claims_rejected")] == ["3", "1", "1", "1", "1", "1"]
    assert "Due within 2 working days" in page
    oldest = (business_today() - dt.timedelta(days=14)).isoformat()
    assert f'data-claims-oldest="{oldest}"' in page and "1 is past its deadline, the oldest since " + oldest in page
    queue = browser_of(world.agency_user).get("/agency/claims").text  # the queue agrees
    assert queue.count('data-deadline="overdue"') == 1 and queue.count("<tr data-claim-id=") == 3


def test_the_bank_dashboard_shows_its_overdue_loans_and_claims(app, as_role, world, make, browser_of):
    _claims_world(app, as_role, world, make, browser_of)
    page = browser_of(world.bank_user).get("/bank/dashboard").text
    assert _figure(page, "overdue_loans") == "1" and _figure(page, "overdue_outstanding") == "¥1,000,000.00"
    assert [_figure(page, key) for key in ("claims_filed", "claims_past", "claims_paid", "claims_rejected")] == [
        "3", "1", "1", "1"]
    other = browser_of(world.bank2_user).get("/bank/dashboard").text  # another bank's figures are its own
    assert 'data-figure="claims_filed"' not in other


def test_the_admin_dashboard_lists_claims_past_their_deadline_by_agency(app, as_role, world, make, browser_of):
    page = browser_of(world.admin_user).get("/admin/dashboard").text
    assert "No agency has a claim undecided past its deadline." in page
    _claims_world(app, as_role, world, make, browser_of)
    page = browser_of(world.admin_user).get("/admin/dashboard").text
    row = re.search(rf'<tr data-agency="{world.agency.name}">.*?</tr>', page, re.S).group(0)
    assert 'data-col="count">1<' in row and "Amount claimed (CNY)" in page and ">1,000,000.00<" in row
    assert (business_today() - dt.timedelta(days=14)).isoformat() in row


def test_without_claims_the_dashboards_say_so(as_role, world, make, browser_of):
    guaranteed_loans(as_role, world, make)
    agency = browser_of(world.agency_user).get("/agency/dashboard").text
    assert "No claim has been filed." in agency
    bank = browser_of(world.bank_user).get("/bank/dashboard").text
    assert "You have filed no claim." in bank and _figure(bank, "overdue_loans") == "0"
