"""The admin's pages for fee rules, risk pools and the ledger: server-rendered, CSRF-protected, admin only."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest

from marketplace.dates import business_today
from marketplace.ledger.reports import EXPORT_COLUMNS
from marketplace.orgs.models import AgencyKind
from tests.pages import csrf_token, post_form

TODAY = business_today()
PRODUCT = {"name": "专精特新担保贷", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "5000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "required"}
PAGES = ["/admin/fee-rules", "/admin/fee-rules/preview", "/admin/risk-pools", "/admin/ledger"]


def rule_form(**changes):
    return {"name": "SRDI fee cap", "priority": "10", "stackable": ["false", "true"],
            "valid_from": (TODAY - dt.timedelta(days=30)).isoformat(), "valid_to": "", "budget": "",
            "tiers": ["srdi", "little_giant"], "region_prefixes": "33, 3301", "product_types": ["credit"],
            "amount_max": "5000000.00", "effect_kind": "cap_fee_rate", "effect_value": "0.0050", **changes}


def rules_of(as_role):
    return as_role("admin").get("/api/v1/fee-rules").json


def pool_of(as_role, pool_id):
    return as_role("admin").get(f"/api/v1/risk-pools/{pool_id}").json


def entries_of(as_role, ref):
    return int(as_role("admin").get(f"/api/v1/ledger/journal?ref={ref}").headers["X-Total-Count"])


def deposit_form(page: str, pool_id: int) -> dict:
    """The pool's deposit form as rendered: its CSRF token and hidden key."""
    form = re.search(rf'<form method="post" action="/admin/risk-pools/{pool_id}/deposits.*?</form>', page,
                     re.S).group(0)
    return {"csrf_token": csrf_token(form), "key": re.search(r'name="key" value="([0-9a-f]{32})"', form).group(1)}


@pytest.fixture
def pool(as_role):
    created = as_role("admin").post("/api/v1/risk-pools", json={"name": "Zhejiang SRDI pool", "region_code": "33"})
    assert created.status_code == 201, created.json
    return created.json


@pytest.fixture
def agreement(world, make, as_role, pool):
    """An active agreement of world.agency with world.bank: fee rate 1 %, a fifth of each loss to the pool."""
    created = as_role("agency").post("/api/v1/agreements", json={
        "code": "ZJ-LEDGER", "bank_id": world.bank.id, "valid_from": TODAY.isoformat(),
        "valid_to": (TODAY + dt.timedelta(days=365)).isoformat(), "total_quota": "20000000.00",
        "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
        "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
        "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
        "compensation_cap_rate": "0.05", "eligible_tiers": ["srdi", "little_giant"],
        "eligible_product_types": ["credit"]})
    assert created.status_code == 201, created.json
    as_role("bank").post(f"/api/v1/agreements/{created.json['id']}/countersign")
    return created.json


@pytest.fixture
def disbursed(world, as_role, agreement):
    """Rules (SRDI cap 0.50 %, half the waived fee subsidised within a 2,500.00 budget) and one loan of
    1,000,000.00 for 12 months under the agreement, disbursed on 2026-03-02: fee 5,000.00, subsidy 2,500.00."""
    admin, bank, agency = as_role("admin"), as_role("bank"), as_role("agency")
    start = (TODAY - dt.timedelta(days=400)).isoformat()
    for rule in ({"name": "SRDI fee cap", "priority": 10, "valid_from": start,
                  "conditions": {"tiers": ["srdi", "little_giant"]},
                  "effect": {"kind": "cap_fee_rate", "value": "0.0050"}},
                 {"name": "降费奖补", "priority": 20, "valid_from": start, "budget": "2500.00",
                  "conditions": {"tiers": ["srdi", "little_giant"]},
                  "effect": {"kind": "fiscal_subsidy_share", "value": "0.5"}}):
        assert admin.post("/api/v1/fee-rules", json=rule).status_code == 201
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    request = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Working capital"}).json
    offer = next(o for o in request["offers"] if o["agreement_id"] == agreement["id"])
    application = as_role("enterprise").post(f"/api/v1/financing-requests/{request['id']}/select",
                                             json={"offer_id": offer["id"]}).json["application"]
    bank.post(f"/api/v1/applications/{application['id']}/decision", json={"decision": "approved"})
    (batch,) = agency.get(f"/api/v1/batches?status=open&agreement_id={agreement['id']}").json
    agency.post(f"/api/v1/batches/{batch['id']}/submit")
    (loan_id,) = [i["loan_id"] for i in agency.post(f"/api/v1/batches/{batch['id']}/decision",
                                                     json={"exclusions": []}).json["items"]]
    event = bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "disbursed", "occurred_on": "2026-03-02"})
    assert event.status_code == 201, event.json
    return {"loan_id": loan_id, "agreement_id": agreement["id"]}


# Access -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [*PAGES, "/admin/fee-rules/1/edit", "/admin/ledger/journal.csv",
                                  "/admin/ledger/journal.xlsx", "/admin/ledger/agreements/1"])
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_pages_render_for_the_admin_and_refuse_everyone_else(browser_of, world, as_role, agreement, disbursed):
    rule_id = rules_of(as_role)[0]["id"]
    paths = [*PAGES, f"/admin/fee-rules/{rule_id}/edit", "/admin/ledger/journal.csv", "/admin/ledger/journal.xlsx",
             f"/admin/ledger/agreements/{agreement['id']}"]
    admin = browser_of(world.admin_user)
    for path in paths:
        assert admin.get(path).status_code == 200, path
    token = csrf_token(admin.get("/admin/ledger").text)
    assert admin.post("/admin/ledger/verify", data={"csrf_token": token}).status_code == 200

    for user in (world.bank_user, world.agency_user, world.enterprise_user):
        other = browser_of(user)
        for path in paths:
            assert other.get(path).status_code == 403, (user.username, path)
        token = csrf_token(other.get("/admin/ledger").text)  # the 403 page has the sign-out form
        for path in ("/admin/fee-rules", f"/admin/fee-rules/{rule_id}/edit", "/admin/risk-pools",
                     "/admin/risk-pools/1/deposits", "/admin/ledger/verify"):
            assert other.post(path, data={**rule_form(), "csrf_token": token}).status_code == 403, path
    assert len(rules_of(as_role)) == 2


def test_the_admin_nav_links_to_the_pages(browser_of, world):
    page = browser_of(world.admin_user).get("/admin/ledger").text
    for href, label in (("/admin/fee-rules", "Fee rules"), ("/admin/risk-pools", "Risk pools"),
                        ("/admin/ledger", "Ledger"), ("/admin/tier-registry", "Tier registry")):
        assert f'href="{href}">{label}</a>' in page
    assert 'href="/admin/ledger"' not in browser_of(world.bank_user).get("/bank/products").text


def test_a_post_without_its_csrf_token_is_400_and_changes_nothing(browser_of, world, as_role, pool):
    admin = browser_of(world.admin_user)
    admin.get("/admin/fee-rules")
    assert admin.post("/admin/fee-rules", data=rule_form()).status_code == 400
    assert rules_of(as_role) == []
    form = deposit_form(admin.get("/admin/risk-pools").text, pool["id"])
    response = admin.post(f"/admin/risk-pools/{pool['id']}/deposits",
                          data={"key": form["key"], "amount": "1000.00", "deposited_on": TODAY.isoformat()})
    assert response.status_code == 400
    assert pool_of(as_role, pool["id"])["balance"] == "0.00"
    assert admin.post("/admin/ledger/verify").status_code == 400
    assert admin.post("/admin/risk-pools", data={"name": "Another pool", "region_code": "32"}).status_code == 400


# Fee rules ----------------------------------------------------------------------------------------------------

def test_empty_fee_rules_page_says_what_to_do(browser_of, world):
    page = browser_of(world.admin_user).get("/admin/fee-rules").text
    assert "No fee rule yet" in page and 'name="effect_kind"' in page and 'name="tiers" value="srdi"' in page


def test_adding_a_fee_rule_through_the_form(browser_of, world, as_role):
    admin = browser_of(world.admin_user)
    saved = post_form(admin, "/admin/fee-rules", rule_form())
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/fee-rules"
    (rule,) = rules_of(as_role)
    assert rule["name"] == "SRDI fee cap" and rule["priority"] == 10 and rule["stackable"] is True
    assert rule["conditions"] == {"tiers": ["srdi", "little_giant"], "region_prefixes": ["33", "3301"],
                                  "product_types": ["credit"], "amount_max": "5000000.00", "first_loan": None}
    assert rule["effect"] == {"kind": "cap_fee_rate", "value": "0.0050"} and rule["valid_to"] is None

    page = admin.get("/admin/fee-rules").text
    assert "Fee rule “SRDI fee cap” added." in page
    row = re.search(rf'<tr data-rule-id="{rule["id"]}">.*?</tr>', page, re.S).group(0)
    assert "SRDI · 专精特新, Little giant · 小巨人" in row and "Region: Zhejiang, Hangzhou" in row
    assert "Loans up to ¥5,000,000.00" in row and "Fee capped at 0.50 % a year" in row
    edit = admin.get(f"/admin/fee-rules/{rule['id']}/edit").text
    assert '<option value="33" selected>' in edit and '<option value="3301" selected>' in edit
    assert "In force" in row and "open-ended" in row and "No limit" in row

    subsidy = post_form(admin, "/admin/fee-rules", rule_form(
        name="降费奖补", priority="20", stackable=["false"], tiers=[], region_prefixes="", product_types=[],
        amount_max="", first_loan="true", effect_kind="fiscal_subsidy_share", effect_value="0.5",
        budget="1000000.00", valid_to=(TODAY + dt.timedelta(days=365)).isoformat()))
    assert subsidy.status_code == 302
    second = rules_of(as_role)[1]
    assert second["stackable"] is False and second["budget"] == "1000000.00" and second["budget_left"] == "1000000.00"
    assert second["conditions"]["first_loan"] is True and second["conditions"]["tiers"] == []
    row = re.search(rf'<tr data-rule-id="{second["id"]}">.*?</tr>', admin.get("/admin/fee-rules").text,
                    re.S).group(0)
    assert "First loan only" in row and "50.00 % of the fee waived" in row and "1,000,000.00" in row


@pytest.mark.parametrize("changes, field, message", [
    ({"valid_to": (TODAY - dt.timedelta(days=31)).isoformat()}, "valid_to", "The rule cannot end before it starts."),
    ({"effect_kind": "fiscal_subsidy_share", "effect_value": "1.5"}, "effect_value",
     "A subsidy share is a fraction above 0 and at most 1"),
    ({"effect_value": "0.2"}, "effect_value", "A fee cap is a rate from 0 to 0.03"),
    ({"effect_kind": "reduce_fee_rate_bp", "effect_value": "2.5"}, "effect_value", "A reduction is 1 to 300"),
    ({"effect_value": ""}, "effect_value", "This field is required."),
    ({"name": ""}, "name", "This field is required."),
    ({"priority": "first"}, "priority", "Enter a whole number."),
    ({"region_prefixes": "33, 3"}, "region_prefixes", "A region is a GB/T 2260 code or prefix"),
    ({"budget": "100.00"}, "budget", "Only a fiscal-subsidy rule has a budget."),
    ({"amount_max": "12.345"}, "amount_max", "Use at most two decimal places"),
    ({"valid_from": "tomorrow"}, "valid_from", "Enter a date as YYYY-MM-DD"),
])
def test_a_bad_fee_rule_is_shown_again_with_the_message_and_creates_nothing(browser_of, world, as_role,
                                                                             changes, field, message):
    response = post_form(browser_of(world.admin_user), "/admin/fee-rules", rule_form(**changes))
    assert response.status_code == 422
    assert f'id="{field}-error">{message}' in response.text
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', response.text) or field in ("tiers", "product_types")
    assert 'value="SRDI fee cap"' in response.text or field == "name"  # what was typed stays
    assert 'name="tiers" value="srdi" checked' in response.text
    assert rules_of(as_role) == []


def test_editing_a_rule_keeps_priced_guarantees_and_refuses_a_budget_below_what_it_granted(
        browser_of, world, as_role, disbursed):
    admin = browser_of(world.admin_user)
    cap, subsidy = rules_of(as_role)
    assert subsidy["subsidy_granted"] == "2500.00" and subsidy["budget_left"] == "0.00"
    listing = admin.get("/admin/fee-rules").text
    row = re.search(rf'<tr data-rule-id="{subsidy["id"]}">.*?</tr>', listing, re.S).group(0)
    assert "2,500.00" in row and '<span class="over-cap">0.00</span>' in row

    path = f"/admin/fee-rules/{cap['id']}/edit"
    page = admin.get(path).text
    assert "Guarantees already priced keep their terms" in page
    assert 'value="SRDI fee cap"' in page and 'value="0.5%"' in page and 'name="tiers" value="srdi" checked' in page
    bad = post_form(admin, path, rule_form(effect_value="0.04", tiers=["srdi"], region_prefixes="", product_types=[],
                                           amount_max=""))
    assert bad.status_code == 422 and 'id="effect_value-error">A fee cap is a rate from 0 to 0.03' in bad.text
    assert rules_of(as_role)[0]["effect"]["value"] == "0.0050"
    saved = post_form(admin, path, rule_form(name="SRDI fee cap 2027", effect_value="0.40 %", tiers=["srdi"],
                                             region_prefixes="", product_types=[], amount_max=""))
    assert saved.status_code == 302
    assert "saved. Guarantees already priced keep their terms." in admin.get("/admin/fee-rules").text
    changed = rules_of(as_role)[0]
    assert changed["name"] == "SRDI fee cap 2027" and changed["effect"]["value"] == "0.0040"
    assert changed["conditions"]["tiers"] == ["srdi"] and changed["conditions"]["amount_max"] is None
    guarantee = as_role("bank").get(f"/api/v1/loans/{disbursed['loan_id']}").json["guarantee"]
    assert guarantee["fee_charged"] == "5000.00"  # priced before: keeps its terms

    path = f"/admin/fee-rules/{subsidy['id']}/edit"
    low = post_form(admin, path, rule_form(name="降费奖补", effect_kind="fiscal_subsidy_share", effect_value="0.5",
                                           budget="1000.00"))
    assert low.status_code == 422
    assert 'id="budget-error">This rule has already granted ¥2,500.00; the budget cannot be lower.' in low.text
    assert rules_of(as_role)[1]["budget"] == "2500.00"
    assert admin.get("/admin/fee-rules/999999/edit").status_code == 404


def test_the_preview_shows_the_fee_before_and_after_and_each_rules_outcome(browser_of, world, as_role, agreement):
    admin = browser_of(world.admin_user)
    for form in (rule_form(region_prefixes="", product_types=[], amount_max="", valid_from="2026-01-01"),
                 rule_form(name="降费奖补", priority="20", effect_kind="fiscal_subsidy_share", effect_value="0.5",
                           budget="100.00", region_prefixes="", product_types=[], amount_max="",
                           valid_from="2026-01-01")):
        assert post_form(admin, "/admin/fee-rules", form).status_code == 302
    blank = admin.get("/admin/fee-rules/preview")
    assert blank.status_code == 200 and "ZJ-LEDGER" in blank.text and 'id="trail"' not in blank.text

    page = admin.get("/admin/fee-rules/preview", query_string={
        "enterprise_id": world.enterprise.id, "agreement_id": agreement["id"], "amount": "1000000.00",
        "term_months": "12", "product_type": "credit", "disbursed_on": "2026-03-02"})  # 365 days
    assert page.status_code == 200, page.text
    text = page.text
    assert re.search(r'data-line="before">.*?1.00 %.*?10,000.00', text, re.S)
    assert re.search(r'data-line="after">.*?0.50 %.*?5,000.00', text, re.S)
    assert re.search(r'data-line="subsidy">.*?0.25 %.*?100.00', text, re.S)
    trail = re.findall(r'<tr data-rule-id="\d+" data-outcome="(\w+)">', text)
    assert trail == ["applied", "budget_exhausted"]
    assert "Budget exhausted" in text and "wanted ¥2500.00" in text and "SRDI fee cap" in text

    bad = admin.get("/admin/fee-rules/preview", query_string={
        "enterprise_id": "999999", "agreement_id": agreement["id"], "amount": "-5", "term_months": "12"})
    assert bad.status_code == 422 and 'id="amount-error">' in bad.text
    unknown = admin.get("/admin/fee-rules/preview", query_string={
        "enterprise_id": "999999", "agreement_id": agreement["id"], "amount": "1000.00", "term_months": "12"})
    assert unknown.status_code == 422 and 'id="enterprise_id-error">No enterprise 999999.' in unknown.text


# Risk pools ---------------------------------------------------------------------------------------------------

def test_setting_up_a_pool_through_the_form(browser_of, world, as_role, pool):
    admin = browser_of(world.admin_user)
    assert "Zhejiang SRDI pool" in admin.get("/admin/risk-pools").text
    taken = post_form(admin, "/admin/risk-pools", {"name": "Zhejiang SRDI pool", "region_code": "33"})
    assert taken.status_code == 422 and 'id="name-error">Already taken.' in taken.text
    bad = post_form(admin, "/admin/risk-pools", {"name": "Hangzhou pool", "region_code": "3", "cap_per_loss": "0"})
    assert bad.status_code == 422 and 'id="region_code-error">A region is a GB/T 2260 code' in bad.text
    assert 'value="Hangzhou pool"' in bad.text
    zero = post_form(admin, "/admin/risk-pools", {"name": "Hangzhou pool", "region_code": "3301", "cap_per_loss": "0"})
    assert zero.status_code == 422 and 'id="cap_per_loss-error">A cap is above zero' in zero.text
    assert len(as_role("admin").get("/api/v1/risk-pools").json) == 1

    saved = post_form(admin, "/admin/risk-pools", {"name": "Hangzhou pool", "region_code": "3301",
                                                   "cap_per_loss": "500000.00"})
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/risk-pools"
    page = admin.get("/admin/risk-pools").text
    assert "Risk pool Hangzhou pool is set up." in page and "500,000.00" in page
    (created,) = [p for p in as_role("admin").get("/api/v1/risk-pools").json if p["name"] == "Hangzhou pool"]
    assert (created["region_code"], created["cap_per_loss"]) == ("3301", "500000.00")


def test_a_deposit_form_submitted_twice_deposits_once(browser_of, world, as_role, pool):
    admin = browser_of(world.admin_user)
    page = admin.get("/admin/risk-pools").text
    form = {**deposit_form(page, pool["id"]), "amount": "100000.00", "deposited_on": TODAY.isoformat()}
    first = admin.post(f"/admin/risk-pools/{pool['id']}/deposits", data=form)
    assert first.status_code == 302 and first.headers["Location"] == "/admin/risk-pools"
    assert "Deposited ¥100,000.00 into Zhejiang SRDI pool." in admin.get("/admin/risk-pools").text
    again = admin.post(f"/admin/risk-pools/{pool['id']}/deposits", data=form, follow_redirects=True)
    assert again.status_code == 200 and "was already recorded; nothing more was deposited" in again.text

    assert (pool_of(as_role, pool["id"])["balance"], pool_of(as_role, pool["id"])["deposited"]) == \
        ("100000.00", "100000.00")
    assert entries_of(as_role, f"risk_pool:{pool['id']}") == 1
    assert len(as_role("admin").get(f"/api/v1/risk-pools/{pool['id']}/deposits").json) == 1

    # The same form with another amount (say, edited after going back) deposits nothing either.
    changed = admin.post(f"/admin/risk-pools/{pool['id']}/deposits", data={**form, "amount": "200000.00"})
    assert changed.status_code == 422 and "This key was used for a deposit of 100,000.00." in changed.text
    assert pool_of(as_role, pool["id"])["balance"] == "100000.00"

    # A fresh page has a fresh key: that is a second deposit.
    fresh = deposit_form(admin.get("/admin/risk-pools").text, pool["id"])
    assert fresh["key"] != form["key"]
    admin.post(f"/admin/risk-pools/{pool['id']}/deposits",
               data={**fresh, "amount": "50000.00", "deposited_on": TODAY.isoformat()})
    assert pool_of(as_role, pool["id"])["balance"] == "150000.00"
    assert entries_of(as_role, f"risk_pool:{pool['id']}") == 2
    row = re.search(rf'<tr data-pool-id="{pool["id"]}".*?</tr>', admin.get("/admin/risk-pools").text, re.S).group(0)
    assert 'data-figure="balance">150,000.00' in row and 'data-figure="deposited">150,000.00' in row
    assert 'data-figure="claims_outstanding"><span class="">0.00' in row


@pytest.mark.parametrize("changes, field, message", [
    ({"amount": "0"}, "amount", "Deposit an amount above zero."),
    ({"amount": ""}, "amount", "This field is required."),
    ({"amount": "12.345"}, "amount", "Use at most two decimal places"),
    ({"deposited_on": "31/12/2026"}, "deposited_on", "Enter a date as YYYY-MM-DD"),
])
def test_a_bad_deposit_is_shown_again_beside_its_pool_and_deposits_nothing(browser_of, world, as_role, pool,
                                                                           changes, field, message):
    admin = browser_of(world.admin_user)
    form = {**deposit_form(admin.get("/admin/risk-pools").text, pool["id"]), "amount": "1000.00",
            "deposited_on": TODAY.isoformat(), **changes}
    response = admin.post(f"/admin/risk-pools/{pool['id']}/deposits", data=form)
    assert response.status_code == 422
    assert f'id="{field}-{pool["id"]}-error">{message}' in response.text
    assert deposit_form(response.text, pool["id"])["key"] == form["key"]  # the corrected form deposits once
    assert pool_of(as_role, pool["id"])["balance"] == "0.00" and entries_of(as_role, f"risk_pool:{pool['id']}") == 0


def test_a_deposit_without_its_key_asks_to_submit_the_renewed_form(browser_of, world, as_role, pool):
    admin = browser_of(world.admin_user)
    token = csrf_token(admin.get("/admin/risk-pools").text)
    response = admin.post(f"/admin/risk-pools/{pool['id']}/deposits",
                          data={"csrf_token": token, "amount": "1000.00", "deposited_on": TODAY.isoformat()})
    assert response.status_code == 422 and "This form is out of date" in response.text
    assert deposit_form(response.text, pool["id"])["key"]
    assert pool_of(as_role, pool["id"])["balance"] == "0.00"
    assert admin.post("/admin/risk-pools/999999/deposits", data={"csrf_token": token}).status_code == 404


# Ledger -------------------------------------------------------------------------------------------------------

def deposit(as_role, pool_id, amount, day):
    made = as_role("admin").post(f"/api/v1/risk-pools/{pool_id}/deposits", json={"amount": amount,
                                                                                 "deposited_on": day})
    assert made.status_code == 201, made.json


def test_the_ledger_shows_the_trial_balance_and_finds_entries(browser_of, world, as_role, disbursed, pool):
    deposit(as_role, pool["id"], "100000.00", "2026-04-01")
    admin = browser_of(world.admin_user)
    page = admin.get("/admin/ledger").text
    # Fee 5,000.00 and subsidy 2,500.00 to the agency, 100,000.00 into the pool: 107,500.00 each side.
    assert '<dd data-total="debits">¥107,500.00</dd>' in page
    assert '<dd data-total="credits">¥107,500.00</dd>' in page
    assert "Yes: debits equal credits" in page
    assert re.search(rf'data-account="agency:{world.agency.id}:fee_income">.*?Fee income.*?5,000.00', page, re.S)
    assert re.search(r'data-account="fiscal_fund:0:pool_funding">.*?Fiscal fund.*?<td class="num"></td>\s*'
                     r'<td class="num">100,000.00</td>', page, re.S)
    assert "2 entries, oldest first." in page
    assert f'href="/admin/ledger/agreements/{disbursed["agreement_id"]}">ZJ-LEDGER</a>' in page

    loan = admin.get("/admin/ledger", query_string={"ref": f"loan:{disbursed['loan_id']}"}).text
    (entry,) = re.findall(r'<tbody data-entry-id="\d+">.*?</tbody>', loan, re.S)
    assert "Guarantee fee" in entry and "2026-03-02" in entry and entry.count("<tr>") == 4
    assert f"enterprise:{world.enterprise.id}:fee" in entry and "fiscal_fund:0:fee_subsidy" in entry

    dated = admin.get("/admin/ledger", query_string={"from": "2026-03-03", "to": "2026-12-31"}).text
    assert "1 entry, oldest first." in dated and "Pool deposit" in dated
    assert 'href="/admin/ledger/journal.csv?from=2026-03-03&amp;to=2026-12-31"' in dated
    assert "No journal entry matches" in admin.get("/admin/ledger", query_string={"ref": "loan:999999"}).text

    wrong = admin.get("/admin/ledger", query_string={"from": "2026-12-31", "to": "2026-01-01"})
    assert wrong.status_code == 422 and 'id="to-error">The range cannot end before it starts.' in wrong.text
    assert 'value="2026-12-31"' in wrong.text
    bad_date = admin.get("/admin/ledger", query_string={"from": "yesterday"})
    assert bad_date.status_code == 422 and 'id="from-error">Enter a date as YYYY-MM-DD' in bad_date.text


def test_the_journal_is_paginated(browser_of, world, as_role, pool):
    for n in range(51):
        deposit(as_role, pool["id"], f"{n + 1}.00", "2026-05-01")
    admin = browser_of(world.admin_user)
    first = admin.get("/admin/ledger", query_string={"ref": f"risk_pool:{pool['id']}"}).text
    assert len(re.findall(r"<tbody data-entry-id=", first)) == 50 and "Page 1 of 2" in first
    assert f'href="/admin/ledger?page=2&amp;ref=risk_pool:{pool["id"]}"' in first
    second = admin.get("/admin/ledger", query_string={"ref": f"risk_pool:{pool['id']}", "page": 2}).text
    assert len(re.findall(r"<tbody data-entry-id=", second)) == 1 and "Page 2 of 2" in second


def test_the_trial_balance_filters_its_accounts_and_keeps_the_totals_of_all(browser_of, world, as_role, disbursed,
                                                                             pool):
    deposit(as_role, pool["id"], "100000.00", "2026-04-01")
    admin = browser_of(world.admin_user)
    everything = admin.get("/admin/ledger").text
    totals = re.search(r'data-total="debits">(.*?)<', everything).group(1)
    every_account = re.findall(r'<tr data-account="([^"]+)"', everything)
    assert len(every_account) > 2

    pools = admin.get("/admin/ledger?party=risk_pool&ref=loan:1").text
    assert set(re.findall(r'<tr data-account="([^"]+)"', pools)) == {
        a for a in every_account if a.startswith("risk_pool:")}
    assert re.search(r'data-total="debits">(.*?)<', pools).group(1) == totals  # totals still cover every account
    assert '<input type="hidden" name="ref" value="loan:1">' in pools  # the journal's search is kept
    assert 'value="risk_pool" selected' in admin.get("/admin/ledger?party=risk_pool").text

    by_owner = admin.get("/admin/ledger", query_string={"account": world.enterprise.name}).text
    assert {a.split(":")[0] for a in re.findall(r'<tr data-account="([^"]+)"', by_owner)} == {"enterprise"}
    assert 'id="party-error">Choose one of the listed values.' in admin.get("/admin/ledger?party=martian").text


def test_the_journal_downloads_as_csv_and_xlsx(browser_of, world, as_role, disbursed, pool):
    deposit(as_role, pool["id"], "100000.00", "2026-04-01")
    deposit(as_role, pool["id"], "30000.00", "2026-06-01")
    admin = browser_of(world.admin_user)

    everything = admin.get("/admin/ledger/journal.csv")
    assert everything.status_code == 200 and everything.mimetype == "text/csv"
    assert "attachment; filename=journal_start_today.csv" == everything.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(everything.data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert len(rows) == 1 + 4 + 2 + 2  # fee (4 postings), two deposits (2 each)

    ranged = admin.get("/admin/ledger/journal.csv", query_string={"from": "2026-03-03", "to": "2026-05-01"})
    header, *body = csv.reader(io.StringIO(ranged.data.decode("utf-8-sig")))
    assert ranged.headers["Content-Disposition"] == "attachment; filename=journal_2026-03-03_2026-05-01.csv"
    assert [(r[1], r[2], r[3], r[5], r[7], r[8]) for r in body] == [
        ("2026-04-01", "pool_deposit", f"risk_pool:{pool['id']}", "fiscal_fund:0:pool_funding", "", "100000.00"),
        ("2026-04-01", "pool_deposit", f"risk_pool:{pool['id']}", f"risk_pool:{pool['id']}:cash", "100000.00", "")]
    assert body[0][6] == "Fiscal fund" and body[1][6] == "Zhejiang SRDI pool"

    xlsx = admin.get("/admin/ledger/journal.xlsx", query_string={"from": "2026-03-01", "to": "2026-03-31"})
    assert xlsx.status_code == 200
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data), read_only=True)["journal"]
    header, *body = [row + (None,) * (len(EXPORT_COLUMNS) - len(row)) for row in sheet.values]  # blank ends trimmed
    assert header == EXPORT_COLUMNS and len(body) == 4
    assert {row[2] for row in body} == {"fee"} and {row[3] for row in body} == {f"loan:{disbursed['loan_id']}"}
    debits = sum(row[7] or 0 for row in body)
    assert debits == sum(row[8] or 0 for row in body) and float(debits) == 7500.0

    bad = admin.get("/admin/ledger/journal.xlsx", query_string={"from": "2026-12-31", "to": "2026-01-01"})
    assert bad.status_code == 422 and 'id="to-error">' in bad.text


def test_verify_says_the_ledger_is_sound(browser_of, world, as_role, disbursed, pool):
    deposit(as_role, pool["id"], "100000.00", "2026-04-01")
    admin = browser_of(world.admin_user)
    page = admin.get("/admin/ledger").text
    assert 'id="verification"' not in page
    checked = admin.post("/admin/ledger/verify", data={"csrf_token": csrf_token(page)})
    assert checked.status_code == 200
    assert 'id="verification" data-sound="true">The ledger is sound' in checked.text
    assert '<dd data-total="debits">¥107,500.00</dd>' in checked.text


def test_the_agreement_statement(browser_of, world, as_role, disbursed):
    admin = browser_of(world.admin_user)
    page = admin.get(f"/admin/ledger/agreements/{disbursed['agreement_id']}")
    assert page.status_code == 200
    text = page.text
    assert "Statement of agreement ZJ-LEDGER" in text and world.bank.name in text and world.agency.name in text
    for figure, shown in (("loans_charged", "1"), ("list_fees", "¥10,000.00"), ("fees_charged", "¥5,000.00"),
                          ("fiscal_subsidies", "¥2,500.00"), ("agency_fee_income", "¥7,500.00"),
                          ("guaranteed_total", "¥1,000,000.00"), ("compensated_total", "¥0.00"),
                          ("compensation_room", "¥50,000.00")):
        assert f'data-figure="{figure}">{shown}<' in text, figure
    assert re.search(r'data-figure="compensation_rate"><span class="">0.00%</span> <small class="muted">cap 5.00%',
                     text)
    assert "No loan under this agreement has defaulted." in text
    assert admin.get("/admin/ledger/agreements/999999").status_code == 404


def test_the_statement_lists_defaults_and_recoveries(browser_of, world, as_role, disbursed, pool):
    bank, loan_id = as_role("bank"), disbursed["loan_id"]
    deposit(as_role, pool["id"], "100000.00", "2026-04-01")
    for event in ({"type": "repayment", "amount": "400000.00", "occurred_on": "2026-09-02"},
                  {"type": "overdue", "occurred_on": "2026-10-02"},
                  {"type": "default", "occurred_on": "2026-11-02"},
                  {"type": "recovery", "amount": "60000.00", "occurred_on": "2026-11-20"}):
        assert bank.post(f"/api/v1/loans/{loan_id}/events", json=event).status_code == 201
    (loss,) = bank.get(f"/api/v1/loans/{loan_id}").json["defaults"]
    text = browser_of(world.admin_user).get(f"/admin/ledger/agreements/{disbursed['agreement_id']}").text
    default = re.search(rf'<table id="defaults">.*?<tr data-loan-id="{loan_id}">(.*?)</tr>', text, re.S).group(1)
    assert f'href="/admin/ledger?ref=loan:{loan_id}#journal"' in default and "2026-11-02" in default
    shown = re.findall(r'<td class="num">([\d,.]+)</td>', default)
    assert shown == [f"{float(loss[k]):,.2f}" for k in (
        "loss", "bank_borne", "beyond_cap", "agency_compensation", "agency_net", "reguarantee", "risk_pool_paid",
        "risk_pool_claim")]
    assert loss["agency_compensation"] == "50000.00"  # the 5 % cap of 1,000,000.00
    recovery = re.search(rf'<table id="recoveries">.*?<tr data-loan-id="{loan_id}">(.*?)</tr>', text, re.S).group(1)
    assert "2026-11-20" in recovery and "60,000.00" in recovery
    assert 'data-figure="compensated_total">¥50,000.00<' in text and 'data-figure="compensation_room">¥0.00<' in text
    assert '<span class="over-cap">' not in text and "5.00%</span>" in text
    assert "has reached its compensation cap" in text


def test_the_statement_downloads_as_xlsx_and_csv_with_the_apis_figures(browser_of, world, as_role, disbursed, pool):
    bank, loan_id, agreement_id = as_role("bank"), disbursed["loan_id"], disbursed["agreement_id"]
    deposit(as_role, pool["id"], "100000.00", "2026-04-01")
    for event in ({"type": "overdue", "occurred_on": "2026-10-02"}, {"type": "default", "occurred_on": "2026-11-02"},
                  {"type": "recovery", "amount": "60000.00", "occurred_on": "2026-11-20"}):
        assert bank.post(f"/api/v1/loans/{loan_id}/events", json=event).status_code == 201
    api = as_role("agency").get(f"/api/v1/agreements/{agreement_id}/statement").json

    xlsx = as_role("agency").get(f"/api/v1/agreements/{agreement_id}/statement/export")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert xlsx.headers["Content-Disposition"] == "attachment; filename=statement_ZJ-LEDGER.xlsx"
    assert book.sheetnames == ["statement", "defaults", "recoveries"]
    figures = {name: value for name, value in list(book["statement"].values)[1:]}
    assert {k: Decimal(str(v)).quantize(Decimal("0.01")) for k, v in figures.items() if k.endswith(("fees", "total"))} \
        == {k: Decimal(api[k]) for k in figures if k.endswith(("fees", "total"))}
    header, (default_row), totals = list(book["defaults"].values)
    assert default_row[0] == loan_id and Decimal(str(default_row[2])) == Decimal(api["defaults"][0]["loss"])
    assert totals[0] == "Total" and Decimal(str(totals[5])) == Decimal(api["defaults"][0]["agency_compensation"])
    assert len(list(book["recoveries"].values)) == 3

    page = browser_of(world.admin_user)
    assert f"/admin/ledger/agreements/{agreement_id}/statement.csv" in page.get(
        f"/admin/ledger/agreements/{agreement_id}").text
    rows = list(csv.reader(io.StringIO(page.get(f"/admin/ledger/agreements/{agreement_id}/statement.csv")
                                       .data.decode("utf-8-sig"))))
    assert rows[0] == ["section", "loan_id", "occurred_on", "figure", "value"]
    assert ["recoveries", str(loan_id), "2026-11-20", "amount", "60000.00"] in rows
    assert ["statement", "", "", "compensated_total", api["compensated_total"]] in rows
    assert as_role("enterprise").get(f"/api/v1/agreements/{agreement_id}/statement/export").status_code == 403
