"""The agency's agreement and batch pages and the bank's countersignature page, server-rendered with CSRF."""

import datetime as dt
import re

import pytest
import time_machine

from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.orgs.models import AgencyKind
from tests.pages import csrf_token, post_form

PRODUCT = {"name": "Guaranteed credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "required"}


@pytest.fixture
def parties(world, make, as_role):
    pool = as_role("admin").post("/api/v1/risk-pools", json={"name": "Zhejiang SRDI pool", "region_code": "33"}).json
    return {"reguarantor": make.agency(AgencyKind.PROVINCIAL), "pool": pool}


@pytest.fixture
def agreement_terms(world, parties):
    today = business_today()
    return {"code": "ZJ-B-1", "bank_id": world.bank.id, "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
            "per_enterprise_cap": "5000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
            "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
            "reguarantor_id": parties["reguarantor"].id, "risk_pool_id": parties["pool"]["id"],
            "eligible_tiers": ["srdi", "little_giant"], "eligible_product_types": ["credit"], "review_sla_days": 5}


@pytest.fixture
def active_agreement(as_role, agreement_terms):
    created = as_role("agency").post("/api/v1/agreements", json=agreement_terms)
    assert created.status_code == 201, created.json
    as_role("bank").post(f"/api/v1/agreements/{created.json['id']}/countersign")
    product = as_role("bank").post("/api/v1/products", json=PRODUCT).json
    as_role("bank").post(f"/api/v1/products/{product['id']}/publish")
    return created.json


@pytest.fixture
def approve(as_role, route):
    """approve(amount, who) → the bank's decision on a freshly routed request, on the offer with a guarantee."""

    def approved(amount, who="enterprise"):
        decision = as_role("bank").post(f"/api/v1/applications/{route(amount, who)}/decision",
                                        json={"decision": "approved"})
        assert decision.status_code == 200, decision.json
        return decision.json

    return approved


@pytest.fixture
def submitted_batch(as_role, active_agreement, approve):
    """A submitted batch with two items: (batch id, kept item's guarantee id, the other's)."""
    kept, other = approve("2000000.00"), approve("1000000.00", who="enterprise2")
    (batch,) = as_role("agency").get(f"/api/v1/batches?agreement_id={active_agreement['id']}").json
    assert as_role("agency").post(f"/api/v1/batches/{batch['id']}/submit").status_code == 200
    return batch["id"], kept["guarantee_id"], other["guarantee_id"]


def quota(as_role, agreement_id):
    body = as_role("agency").get(f"/api/v1/agreements/{agreement_id}").json
    return body["quota_reserved"], body["quota_outstanding"], body["quota_available"]


# Access ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/agency/agreements", "/agency/agreements/new", "/agency/batches",
                                  "/agency/batches/1", "/bank/agreements"])
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_each_page_is_for_its_role(browser_of, world):
    bank, agency, enterprise = (browser_of(world.bank_user), browser_of(world.agency_user),
                                browser_of(world.enterprise_user))
    for path in ("/agency/agreements", "/agency/agreements/new", "/agency/batches"):
        assert bank.get(path).status_code == 403
        assert enterprise.get(path).status_code == 403
    assert agency.get("/bank/agreements").status_code == 403
    assert enterprise.get("/bank/agreements").status_code == 403


def test_nav_links_lead_to_the_pages(browser_of, world):
    agency_nav = browser_of(world.agency_user).get("/agency/agreements").text
    assert 'href="/agency/agreements">Agreements</a>' in agency_nav
    assert 'href="/agency/batches">Batches</a>' in agency_nav
    assert 'href="/bank/agreements">Agreements</a>' in browser_of(world.bank_user).get("/bank/agreements").text


def test_empty_pages_say_what_to_do_next(browser_of, world):
    agency = browser_of(world.agency_user)
    assert "You have no agreements yet" in agency.get("/agency/agreements").text
    assert "No batches yet" in agency.get("/agency/batches").text
    filtered = agency.get("/agency/batches?status=decided").text
    assert "Nothing matches these filters" in filtered and 'href="/agency/batches">Clear the filters' in filtered
    assert "No guarantee agency has proposed an agreement" in browser_of(world.bank_user).get("/bank/agreements").text


# Agreements -----------------------------------------------------------------------------------------------------

def agreement_form(world, parties, **changes):
    today = business_today()
    return {"code": "ZJ-PAGE-1", "bank_id": str(world.bank.id), "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=364)).isoformat(), "total_quota": "100000000.00",
            "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
            "compensation_cap_rate": "0.03", "share_agency": "0.40", "share_bank": "0.20",
            "share_reguarantee": "0.20", "share_risk_pool": "0.20", "reguarantor_id": str(parties["reguarantor"].id),
            "risk_pool_id": str(parties["pool"]["id"]), "eligible_tiers": ["srdi", "little_giant"],
            "eligible_product_types": ["credit", "term"], "batch_max_size": "500", "review_sla_days": "5",
            "auto_approve_below": "", **changes}


def test_the_agreement_form_takes_rates_in_per_cent_and_amounts_in_wan(browser_of, world, parties, as_role):
    """Issue 22: agreement, fee and product forms take rates the same way: "1%" or "0.01"."""
    agency = browser_of(world.agency_user)
    saved = post_form(agency, "/agency/agreements/new", agreement_form(
        world, parties, fee_rate="1%", share_agency="40%", share_bank="20%", share_reguarantee="0.20",
        share_risk_pool="20 %", total_quota="1亿", per_enterprise_cap="1,000万", per_loan_cap="500万"))
    assert saved.status_code == 302, saved.text
    (agreement,) = as_role("agency").get("/api/v1/agreements").json
    assert agreement["fee_rate"] == "0.0100" and agreement["shares"]["bank"] == "0.2000"
    assert agreement["total_quota"] == "100000000.00"
    assert agreement["per_loan_cap"] == "5000000.00"


def test_the_agency_fixes_the_shares_then_the_bank_countersigns(browser_of, world, parties, as_role):
    agency = browser_of(world.agency_user)
    form = agency.get("/agency/agreements/new").text
    assert world.bank.name in form and parties["reguarantor"].name in form and "Zhejiang SRDI pool" in form
    assert 'name="share_bank"' in form and 'name="eligible_product_types" value="renewal"' in form

    too_much = post_form(agency, "/agency/agreements/new", agreement_form(world, parties, share_agency="0.41"))
    assert too_much.status_code == 422
    assert 'id="shares-error">The shares must add up to exactly 1; they add up to 1.01.' in too_much.text
    assert 'value="0.41"' in too_much.text and 'value="ZJ-PAGE-1"' in too_much.text
    assert 'value="term" checked' in too_much.text and 'value="renewal" checked' not in too_much.text

    thin_bank = post_form(agency, "/agency/agreements/new", agreement_form(
        world, parties, share_agency="0.50", share_bank="0.10"))
    assert thin_bank.status_code == 422
    assert 'id="share_bank-error">The bank keeps at least 0.20 of each loss' in thin_bank.text
    assert re.search(r'id="share_bank"[^>]*aria-invalid="true"', thin_bank.text)

    missing = post_form(agency, "/agency/agreements/new", agreement_form(world, parties, share_risk_pool=""))
    assert missing.status_code == 422 and 'id="share_risk_pool-error">This field is required.' in missing.text

    no_pool = post_form(agency, "/agency/agreements/new", agreement_form(world, parties, risk_pool_id=""))
    assert no_pool.status_code == 422 and 'id="risk_pool_id-error">A risk-pool share needs' in no_pool.text

    saved = post_form(agency, "/agency/agreements/new", agreement_form(world, parties))
    assert saved.status_code == 302 and saved.headers["Location"] == "/agency/agreements"
    listing = agency.get("/agency/agreements").text
    assert "Agreement ZJ-PAGE-1 sent to" in listing
    assert "ZJ-PAGE-1" in listing and "Awaiting the bank&#39;s countersignature" in listing
    (created,) = as_role("agency").get("/api/v1/agreements").json
    assert created["shares"] == {"agency": "0.4000", "bank": "0.2000", "reguarantee": "0.2000", "risk_pool": "0.2000"}
    assert created["eligible_product_types"] == ["credit", "term"] and created["review_sla_days"] == 5
    assert created["auto_approve_below"] is None and created["status"] == "pending_bank"

    taken = post_form(agency, "/agency/agreements/new", agreement_form(world, parties))
    assert taken.status_code == 422 and 'id="code-error">Already taken.' in taken.text

    bank = browser_of(world.bank_user)
    page = bank.get("/bank/agreements").text
    assert "ZJ-PAGE-1" in page and "Review and countersign" in page
    signed = bank.post(f"/bank/agreements/{created['id']}/countersign", data={"csrf_token": csrf_token(page)},
                       follow_redirects=True)
    assert "You countersigned agreement ZJ-PAGE-1" in signed.text and "Countersign</button>" not in signed.text
    assert as_role("agency").get(f"/api/v1/agreements/{created['id']}").json["status"] == "active"
    again = bank.post(f"/bank/agreements/{created['id']}/countersign", data={"csrf_token": csrf_token(page)},
                      follow_redirects=True)
    assert "is not waiting for a countersignature" in again.text


def test_another_bank_cannot_countersign(browser_of, world, active_agreement):
    other = browser_of(world.bank2_user)
    page = other.get("/bank/agreements").text
    assert "ZJ-B-1" not in page
    response = other.post(f"/bank/agreements/{active_agreement['id']}/countersign",
                          data={"csrf_token": csrf_token(page)})
    assert response.status_code == 404


def test_the_agency_sees_the_quota_bar_and_compensation_rate(browser_of, world, as_role, active_agreement, approve):
    approve("2000000.00")
    page = browser_of(world.agency_user).get("/agency/agreements").text
    assert re.search(r'data-quota="reserved"><dt>.*?Reserved</dt><dd>¥2,000,000.00</dd>', page)
    assert re.search(r'data-quota="outstanding"><dt>.*?Outstanding</dt><dd>¥0.00</dd>', page)
    assert re.search(r'data-quota="available"><dt>.*?Available</dt><dd>¥8,000,000.00</dd>', page)
    assert re.search(r'data-quota="total"><dt>Total quota</dt><dd>¥10,000,000.00</dd>', page)
    assert 'class="quota-seg quota-reserved" x="0.0000" y="0" width="20.0000"' in page
    assert 'class="quota-seg quota-available" x="20.0000" y="0" width="80.0000"' in page
    assert "quota-outstanding\" style" not in page  # an empty segment is left out
    assert "0.00%" in page and "cap 3.00%" in page and "1.00%" in page
    assert "Agency 40.00%" in page and "Risk pool 20.00%" in page


def test_the_agency_suspends_and_resumes(browser_of, world, as_role, active_agreement):
    agency = browser_of(world.agency_user)
    page = agency.get("/agency/agreements").text
    path = f"/agency/agreements/{active_agreement['id']}"
    suspended = agency.post(f"{path}/suspend", data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "ZJ-B-1 is suspended" in suspended.text and ">Resume</button>" in suspended.text
    assert as_role("agency").get(f"/api/v1/agreements/{active_agreement['id']}").json["status"] == "suspended"
    again = agency.post(f"{path}/suspend", data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "cannot become suspended" in again.text
    resumed = agency.post(f"{path}/resume", data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "ZJ-B-1 is active again" in resumed.text
    assert as_role("agency").get(f"/api/v1/agreements/{active_agreement['id']}").json["status"] == "active"


def test_the_reguarantor_sees_the_agreement_but_cannot_suspend_it(browser_of, make, parties, active_agreement):
    reguarantor = browser_of(make.user(Role.AGENCY, parties["reguarantor"].id))
    page = reguarantor.get("/agency/agreements").text
    assert "ZJ-B-1" in page and "You re-guarantee this agreement" in page and ">Suspend</button>" not in page
    response = reguarantor.post(f"/agency/agreements/{active_agreement['id']}/suspend",
                                data={"csrf_token": csrf_token(page)})
    assert response.status_code == 403


# Batches --------------------------------------------------------------------------------------------------------

def test_the_batch_list_shows_the_newest_batch_first(browser_of, world, as_role, active_agreement, submitted_batch,
                                                     approve):
    """Issue 22: the batch being worked on is the newest; the list opened oldest first."""
    older = submitted_batch[0]
    approve("500000.00")
    batches = as_role("agency").get(f"/api/v1/batches?agreement_id={active_agreement['id']}").json
    (newer,) = [b["id"] for b in batches if b["id"] != older]
    listed = [int(n) for n in re.findall(r'data-batch-id="(\d+)"', browser_of(world.agency_user).get(
        "/agency/batches").text)]
    assert listed == [newer, older]


def test_the_batch_list_shows_counts_totals_and_filters(browser_of, world, as_role, active_agreement, approve):
    approve("2000000.00")
    approve("1000000.00", who="enterprise2")
    agency = browser_of(world.agency_user)
    page = agency.get("/agency/batches").text
    (batch_id,) = re.findall(r'data-batch-id="(\d+)"', page)
    row = page[page.index(f'data-batch-id="{batch_id}"'):]
    row = row[:row.index("</tr>")]
    assert "ZJ-B-1" in row and ">Open<" in row and '<td class="num">2</td>' in row and "3,000,000.00" in row
    assert "Submit for review" in row
    assert "data-batch-id" not in agency.get("/agency/batches?status=submitted").text

    submitted = agency.post(f"/agency/batches/{batch_id}/submit", data={"csrf_token": csrf_token(page)})
    assert submitted.status_code == 302 and submitted.headers["Location"] == f"/agency/batches/{batch_id}"
    listed = agency.get("/agency/batches?status=submitted").text
    today = business_today().isoformat()
    assert f'data-batch-id="{batch_id}"' in listed and today in listed and "0 of 5 working days" in listed
    again = agency.post(f"/agency/batches/{batch_id}/submit", data={"csrf_token": csrf_token(page)},
                        follow_redirects=True)
    assert "is already submitted" in again.text


def test_the_batch_page_lists_every_item(browser_of, world, submitted_batch):
    batch_id, kept, other = submitted_batch
    page = browser_of(world.agency_user).get(f"/agency/batches/{batch_id}").text
    assert "Submitted for review" in page and "Approve all except the ticked" in page
    for gid in (kept, other):
        assert f'name="exclude" value="{gid}"' in page and f'name="reason_{gid}"' in page
    row = page[page.index(f'data-guarantee-id="{kept}"'):]
    row = row[:row.index("</tr>")]
    assert "Enterprise" in row and re.search(r"91330106MA\d{7}\w", row) and "SRDI" in row
    assert "2,000,000.00" in row and "12 months" in row and "Guaranteed credit" in row and "1.00%" in row
    assert world.bank.name in row and "Pending review" in row


def test_the_batch_items_sort_by_a_column_header_and_stay_on_one_page(browser_of, world, submitted_batch):
    batch_id, first, second = submitted_batch
    agency = browser_of(world.agency_user)

    def order(query: str = "") -> list[int]:
        page = agency.get(f"/agency/batches/{batch_id}{query}").text
        return [int(g) for g in re.findall(r'data-guarantee-id="(\d+)"', page)]

    assert order() == [first, second]
    assert order("?sort=added&order=desc") == [second, first]
    assert order("?sort=amount&order=asc") == [second, first]  # 1,000,000.00 before 2,000,000.00
    page = agency.get(f"/agency/batches/{batch_id}?sort=added&order=desc").text
    assert 'name="exclude"' in page and page.count('name="exclude"') == 2  # every item, whatever the order
    assert order("?sort=colour") == [first, second]  # an unknown sort keeps the order they were added in


def test_the_agency_excludes_one_item_with_a_reason_and_approves_the_rest(browser_of, world, as_role,
                                                                         active_agreement, submitted_batch):
    batch_id, kept, other = submitted_batch
    assert quota(as_role, active_agreement["id"]) == ("3000000.00", "0.00", "7000000.00")
    agency = browser_of(world.agency_user)
    page = agency.get(f"/agency/batches/{batch_id}").text
    response = agency.post(f"/agency/batches/{batch_id}/decision", data={
        "csrf_token": csrf_token(page), "exclude": str(other), f"reason_{other}": "Sector over our limit",
        f"reason_{kept}": "typed but not ticked"})
    assert response.status_code == 302 and response.headers["Location"] == f"/agency/batches/{batch_id}"
    decided = agency.get(response.headers["Location"]).text
    assert f"Batch {batch_id} is decided: 1 approved, 1 excluded." in decided
    assert 'id="batch-status">Decided<' in decided and 'name="exclude"' not in decided
    assert "Excluded" in decided and "Sector over our limit" in decided and "Loan #" in decided

    items = {i["guarantee_id"]: i for i in as_role("agency").get(f"/api/v1/batches/{batch_id}").json["items"]}
    assert (items[other]["status"], items[other]["reason"]) == ("rejected", "Sector over our limit")
    assert items[kept]["status"] == "approved" and items[kept]["loan_id"] is not None and items[kept]["reason"] is None
    assert quota(as_role, active_agreement["id"]) == ("2000000.00", "0.00", "8000000.00")
    assert ">Decided<" in agency.get("/agency/batches?status=decided").text

    late = agency.post(f"/agency/batches/{batch_id}/decision", data={"csrf_token": csrf_token(page)},
                       follow_redirects=True)
    assert "Only a submitted batch can be decided" in late.text


def test_a_ticked_item_without_a_reason_is_422_and_nothing_changes(browser_of, world, as_role, active_agreement,
                                                                  submitted_batch):
    batch_id, kept, other = submitted_batch
    agency = browser_of(world.agency_user)
    page = agency.get(f"/agency/batches/{batch_id}").text
    response = agency.post(f"/agency/batches/{batch_id}/decision", data={
        "csrf_token": csrf_token(page), "exclude": [str(kept), str(other)], f"reason_{kept}": "Too concentrated",
        f"reason_{other}": "   "})
    assert response.status_code == 422
    assert f'id="reason_{other}-error">Say why this item is excluded' in response.text
    assert re.search(rf'id="reason_{other}"[^>]*aria-invalid="true"', response.text)
    assert f'reason_{kept}-error' not in response.text and 'value="Too concentrated"' in response.text
    assert f'name="exclude" value="{kept}" aria-label="Exclude Enterprise' in response.text
    assert re.search(rf'value="{kept}" aria-label="[^"]*" checked', response.text)
    assert "Nothing was saved" in response.text
    batch = as_role("agency").get(f"/api/v1/batches/{batch_id}").json
    assert batch["status"] == "submitted" and {i["status"] for i in batch["items"]} == {"pending"}
    assert quota(as_role, active_agreement["id"]) == ("3000000.00", "0.00", "7000000.00")


def test_approving_with_nothing_ticked_approves_everything(browser_of, world, as_role, active_agreement,
                                                          submitted_batch):
    batch_id, _kept, _other = submitted_batch
    agency = browser_of(world.agency_user)
    page = agency.get(f"/agency/batches/{batch_id}").text
    decided = agency.post(f"/agency/batches/{batch_id}/decision", data={"csrf_token": csrf_token(page)},
                          follow_redirects=True)
    assert "2 approved, 0 excluded" in decided.text
    batch = as_role("agency").get(f"/api/v1/batches/{batch_id}").json
    assert {i["status"] for i in batch["items"]} == {"approved"}


def test_another_agencys_batch_is_404(browser_of, make, submitted_batch):
    batch_id, kept, _other = submitted_batch
    stranger = browser_of(make.user(Role.AGENCY, make.agency().id))
    assert stranger.get(f"/agency/batches/{batch_id}").status_code == 404
    page = stranger.get("/agency/batches").text
    assert "data-batch-id" not in page
    for action in ("submit", "decision"):
        assert stranger.post(f"/agency/batches/{batch_id}/{action}",
                             data={"csrf_token": csrf_token(page)}).status_code == 404
    assert browser_of(make.user(Role.AGENCY, make.agency().id)).get("/agency/batches/999999").status_code == 404


def test_forms_posted_without_their_csrf_token_are_400(browser_of, world, as_role, active_agreement,
                                                      submitted_batch, parties):
    batch_id, kept, _other = submitted_batch
    agency = browser_of(world.agency_user)
    assert agency.post(f"/agency/batches/{batch_id}/decision", data={"exclude": str(kept),
                                                                     f"reason_{kept}": "x"}).status_code == 400
    assert agency.post(f"/agency/batches/{batch_id}/submit").status_code == 400
    assert agency.post(f"/agency/agreements/{active_agreement['id']}/suspend").status_code == 400
    assert agency.post("/agency/agreements/new", data=agreement_form(world, parties)).status_code == 400
    assert browser_of(world.bank_user).post(f"/bank/agreements/{active_agreement['id']}/countersign").status_code == 400
    assert as_role("agency").get(f"/api/v1/batches/{batch_id}").json["status"] == "submitted"
    assert as_role("agency").get(f"/api/v1/agreements/{active_agreement['id']}").json["status"] == "active"


def test_the_agency_dashboard_ages_batches_in_review_against_their_sla(app, browser_of, world, as_role,
                                                                       active_agreement, approve):
    agreement = active_agreement
    approve("2000000.00")
    (batch,) = as_role("agency").get(f"/api/v1/batches?agreement_id={agreement['id']}").json
    as_role("agency").post(f"/api/v1/batches/{batch['id']}/submit")
    # A five-working-day SLA, and a batch submitted on Monday 2026-11-16: by Friday 2026-11-27 nine working days
    # have passed (the day of submission does not count); the review was due by Monday 2026-11-23.
    with app.app_context():
        from guarantees.models import Agreement, Batch
        from marketplace import db

        db.session.get(Agreement, agreement["id"]).review_sla_days = 5
        db.session.get(Batch, batch["id"]).submitted_at = dt.datetime(2026, 11, 16, 9, tzinfo=dt.UTC)
        db.session.commit()
    with time_machine.travel(dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC), tick=False):
        page = browser_of(world.agency_user).get("/agency/dashboard").text
        batches = browser_of(world.agency_user).get("/agency/batches?status=submitted").text
    chart = re.search(r'data-chart="ageing">(.*?)</figure>', page, re.S).group(1)
    row = re.search(rf'<th scope="row">Batch {batch["id"]} · ZJ-B-1</th>(.*?)</tr>', chart, re.S).group(1)
    assert re.findall(r'>(\d+)<', row) == ["9", "5"]  # working days waited, the SLA
    assert 'data-figure="overdue"><dt>Past the review SLA</dt><dd>1<' in page
    assert "9 working days · past the SLA of 5" in batches  # the batch list counts the same way


def test_an_agreement_starting_before_today_is_refused_beside_its_start_date(browser_of, world, parties, as_role):
    agency = browser_of(world.agency_user)
    yesterday = (business_today() - dt.timedelta(days=1)).isoformat()
    refused = post_form(agency, "/agency/agreements/new", agreement_form(world, parties, valid_from=yesterday))
    assert refused.status_code == 422
    assert (f'id="valid_from-error">The start date cannot be before today ({business_today().isoformat()}).'
            in refused.text)
    assert f'value="{yesterday}"' in refused.text
    assert as_role("agency").get("/api/v1/agreements").json == []
