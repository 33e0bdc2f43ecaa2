"""Loans after approval, on the pages (issue 20): the bank reports what happens to a loan, each report shown with
what it will do before it is recorded and recorded once however often it is confirmed; under an agreement that
reviews claims a default files a claim that the bank backs with evidence; the enterprise reads its schedule, what it
is late with, and downloads the schedule; both find their loans in a list they can filter."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from guarantees.models import Guarantee
from marketplace import db
from marketplace.dates import business_today
from marketplace.financing.models import Loan, LoanEvent, LoanEventType
from marketplace.financing.schedule import nominal_date, roll_forward
from marketplace.orgs.models import AgencyKind
from tests.guarantees.terms import PRODUCT as GUARANTEED_PRODUCT
from tests.pages import csrf_token

#: A minimal PDF: what filetype recognises as application/pdf.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PLAIN_PRODUCT = {**GUARANTEED_PRODUCT, "name": "Plain credit", "guarantee": "none"}


# The world --------------------------------------------------------------------------------------------------------

def guaranteed_loans(as_role, world, make, count: int = 1, claim_mode: str = "automatic") -> list[int]:
    """An active agreement between the world's agency and bank (fee 1 % a year, claims settled `claim_mode`), and
    `count` loans of 1,000,000.00 for 12 months to the world's enterprise guaranteed under it, approved and not yet
    disbursed. → the loan ids"""
    admin, agency, bank, enterprise = as_role("admin"), as_role("agency"), as_role("bank"), as_role("enterprise")
    today = business_today()
    pool = admin.post("/api/v1/risk-pools", json={"name": f"Pool {claim_mode}", "region_code": "33"}).json
    agreement = agency.post("/api/v1/agreements", json={
        "code": f"ZJ-LOANS-{claim_mode}", "bank_id": world.bank.id,
        "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
        "per_enterprise_cap": "8000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
        "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
        "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
        "eligible_tiers": ["srdi", "little_giant"], "eligible_product_types": ["credit"], "claim_mode": claim_mode})
    assert agreement.status_code == 201, agreement.json
    bank.post(f"/api/v1/agreements/{agreement.json['id']}/countersign")
    product = bank.post("/api/v1/products", json=GUARANTEED_PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    for _ in range(count):
        request = enterprise.post("/api/v1/financing-requests", json={
            "amount": "1000000.00", "term_months": 12, "purpose": "Expansion"}).json
        offer = next(o for o in request["offers"] if o["agreement_id"] == agreement.json["id"])
        application = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                      json={"offer_id": offer["id"]}).json["application"]
        assert bank.post(f"/api/v1/applications/{application['id']}/decision",
                         json={"decision": "approved"}).status_code == 200
    (batch,) = agency.get(f"/api/v1/batches?status=open&agreement_id={agreement.json['id']}").json
    agency.post(f"/api/v1/batches/{batch['id']}/submit")
    decided = agency.post(f"/api/v1/batches/{batch['id']}/decision", json={"exclusions": []}).json
    return [item["loan_id"] for item in decided["items"]]


def plain_loans(as_role, count: int = 1, who: str = "enterprise") -> list[int]:
    """`count` loans of 1,000,000.00 for 12 months without a guarantee, from the world's bank to `who`, approved."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PLAIN_PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    made = []
    for _ in range(count):
        request = as_role(who).post("/api/v1/financing-requests", json={
            "amount": "1000000.00", "term_months": 12, "purpose": "Moulds"}).json
        offer = next(o for o in request["offers"] if o["product_id"] == product["id"])
        application = as_role(who).post(f"/api/v1/financing-requests/{request['id']}/select",
                                        json={"offer_id": offer["id"]}).json["application"]
        made.append(bank.post(f"/api/v1/applications/{application['id']}/decision",
                              json={"decision": "approved"}).json["loan_id"])
    return made


def disburse(as_role, loan_id: int, day: dt.date | None = None) -> None:
    answer = as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json={
        "type": "disbursed", "occurred_on": (day or business_today()).isoformat()})
    assert answer.status_code == 201, answer.json


# The forms, as a browser fills them in ------------------------------------------------------------------------------

def _form(page: str, form_id: str) -> str:
    return re.search(rf'<form [^>]*id="{form_id}".*?</form>', page, re.S).group(0)


def _hidden(form: str) -> dict[str, str]:
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)}


def preview(browser, loan_id: int, kind: str, **fields: str):
    """Open the loan's page and send its `kind` form with `fields` (and the key the form carries)."""
    page = browser.get(f"/bank/loans/{loan_id}").text
    return browser.post(f"/bank/loans/{loan_id}/events", data={
        **_hidden(_form(page, f"form-{kind}")), "occurred_on": business_today().isoformat(), **fields})


def confirm(browser, loan_id: int, asked: str):
    """Press Confirm on a confirmation page: its hidden fields again, with confirm=1."""
    return browser.post(f"/bank/loans/{loan_id}/events", data={**_hidden(_form(asked, "confirm-form")),
                                                               "confirm": "1"})


def events(app, loan_id: int, kind: LoanEventType) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoanEvent)
                                 .where(LoanEvent.loan_id == loan_id, LoanEvent.type == kind))


def loan_row(app, loan_id: int) -> Loan:
    with app.app_context():
        return db.session.get(Loan, loan_id)


# The bank reports ---------------------------------------------------------------------------------------------------

def test_the_bank_disburses_an_approved_loan_after_reading_what_it_will_do(app, browser_of, world, make, as_role):
    (loan_id,) = guaranteed_loans(as_role, world, make)
    bank = browser_of(world.bank_user)
    page = bank.get(f"/bank/loans/{loan_id}").text
    assert "Approved, not yet disbursed" in page and 'id="form-disbursed"' in page
    assert 'id="form-repayment"' not in page and 'data-empty' in page  # no schedule before the money goes out

    asked = preview(bank, loan_id, "disbursed", contract_no="JK-2025-0042", repayment_method="equal_principal")
    assert asked.status_code == 200 and 'data-confirm="disbursed"' in asked.text
    summary = re.search(r'id="confirm".*?</section>', asked.text, re.S).group(0)
    assert "Approved, not yet disbursed → <strong>Disbursed</strong>" in summary
    assert "¥1,000,000.00 is paid out to the enterprise" in summary and "JK-2025-0042" in summary
    fee = re.search(r"its fee is posted to the agency: (¥[\d,.]+) for (\d+) days", summary)
    assert fee, summary
    assert 'name="confirm" value="1"' in summary and 'name="edit" value="1"' in summary
    assert loan_row(app, loan_id).status.value == "approved"  # nothing yet

    done = confirm(bank, loan_id, asked.text)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/bank/loans/{loan_id}")
    page = bank.get(f"/bank/loans/{loan_id}").text
    assert "Disbursement of ¥1,000,000.00 on" in page and 'data-status="disbursed"' in page
    assert 'data-contract>JK-2025-0042<' in page and 'data-method="equal_principal"' in page
    assert len(re.findall(r'<tr data-period="\d+"', page)) == 12
    assert re.search(r'<tr data-period="1" data-period-status="due"', page)
    with app.app_context():
        guarantee = db.session.scalar(select(Guarantee).where(Guarantee.loan_id == loan_id))
        assert fee.groups() == (f"¥{guarantee.fee_charged:,.2f}", str(guarantee.fee_days))  # what the preview said
    assert 'id="form-disbursed"' not in page and 'id="form-repayment"' in page


def test_change_on_the_confirmation_brings_back_the_form_as_filled_in(browser_of, world, as_role):
    (loan_id,) = plain_loans(as_role)
    bank = browser_of(world.bank_user)
    asked = preview(bank, loan_id, "disbursed", contract_no="JK-CHANGE-1")
    changed = bank.post(f"/bank/loans/{loan_id}/events", data={**_hidden(_form(asked.text, "confirm-form")),
                                                               "edit": "1"})
    assert changed.status_code == 200 and 'id="confirm"' not in changed.text
    assert 'value="JK-CHANGE-1"' in _form(changed.text, "form-disbursed")


def test_a_repayment_shows_its_split_and_is_recorded_once_however_often_it_is_confirmed(app, browser_of, world,
                                                                                        as_role):
    (loan_id,) = plain_loans(as_role)
    disburse(as_role, loan_id)
    first = as_role("bank").get(f"/api/v1/loans/{loan_id}/schedule").json["periods"][0]
    bank = browser_of(world.bank_user)
    page = bank.get(f"/bank/loans/{loan_id}").text
    assert 'id="owed"' in _form(page, "form-repayment")  # what settles the loan, beside the form
    assert f'<p class="note good" id="next-due" data-next-due="{first["due_on"]}">' in page

    asked = preview(bank, loan_id, "repayment", amount=first["total"])
    assert asked.status_code == 200 and 'data-confirm="repayment"' in asked.text
    split = (f"Of ¥{Decimal(first['total']):,.2f}, ¥{Decimal(first['interest']):,.2f} pays interest and "
             f"¥{Decimal(first['principal']):,.2f} principal")
    assert split in asked.text
    assert events(app, loan_id, LoanEventType.REPAYMENT) == 0

    recorded = confirm(bank, loan_id, asked.text)
    assert recorded.status_code == 302
    assert f"Repayment of ¥{Decimal(first['total']):,.2f} recorded" in bank.get(f"/bank/loans/{loan_id}").text
    again = confirm(bank, loan_id, asked.text)  # a double click, or the browser sending the form again
    assert again.status_code == 302
    assert "This repayment was already recorded; nothing more was recorded." in bank.get(f"/bank/loans/{loan_id}").text
    assert events(app, loan_id, LoanEventType.REPAYMENT) == 1
    assert loan_row(app, loan_id).principal_repaid == Decimal(first["principal"])


def test_paying_more_than_is_owed_is_an_inline_error_and_changes_nothing(app, browser_of, world, as_role):
    (loan_id,) = plain_loans(as_role)
    disburse(as_role, loan_id)
    bank = browser_of(world.bank_user)
    refused = preview(bank, loan_id, "repayment", amount="5000000.00")
    assert refused.status_code == 422 and 'id="confirm"' not in refused.text
    form = _form(refused.text, "form-repayment")
    assert 'id="amount-error"' in form and "Only" in form and "is owed" in form
    assert 'value="5000000.00"' in form  # what was typed stays typed
    refused_confirmed = bank.post(f"/bank/loans/{loan_id}/events", data={
        **_hidden(form), "occurred_on": business_today().isoformat(), "amount": "5000000.00", "confirm": "1"})
    assert refused_confirmed.status_code == 422
    assert events(app, loan_id, LoanEventType.REPAYMENT) == 0
    assert loan_row(app, loan_id).outstanding == Decimal("1000000.00")


def test_a_form_without_its_key_or_already_used_is_renewed_and_records_nothing(app, browser_of, world, as_role):
    (loan_id,) = plain_loans(as_role)
    disburse(as_role, loan_id)
    bank = browser_of(world.bank_user)
    missing = preview(bank, loan_id, "repayment", amount="1000.00", key="")
    assert missing.status_code == 422 and "This form is out of date" in missing.text
    renewed = _hidden(_form(missing.text, "form-repayment"))["key"]
    assert re.fullmatch(r"[0-9a-f]{32}", renewed)
    assert 'value="1000.00"' in _form(missing.text, "form-repayment")

    asked = preview(bank, loan_id, "repayment", amount="1000.00", key=renewed)
    assert confirm(bank, loan_id, asked.text).status_code == 302
    stale = preview(bank, loan_id, "repayment", amount="2000.00", key=renewed)  # the used form, sent for more
    assert stale.status_code == 409 and "This form was already sent" in stale.text
    assert _hidden(_form(stale.text, "form-repayment"))["key"] != renewed
    assert events(app, loan_id, LoanEventType.REPAYMENT) == 1


# Claims under an agreement that reviews them -------------------------------------------------------------------------

@pytest.fixture
def claimed(browser_of, world, make, as_role):
    """A loan disbursed under a review agreement, reported overdue then defaulted on its page. → (loan id, page)"""
    (loan_id,) = guaranteed_loans(as_role, world, make, claim_mode="review")
    disburse(as_role, loan_id)
    bank = browser_of(world.bank_user)
    overdue = preview(bank, loan_id, "overdue")
    assert overdue.status_code == 200 and "Disbursed → <strong>Overdue</strong>" in overdue.text
    assert confirm(bank, loan_id, overdue.text).status_code == 302
    default = preview(bank, loan_id, "default")
    assert default.status_code == 200
    assert "a compensation claim for ¥1,000,000.00 is filed with the agency" in default.text
    assert confirm(bank, loan_id, default.text).status_code == 302
    return loan_id, bank


def _claim_section(page: str) -> tuple[int, str]:
    found = re.search(r'<section class="card claim" id="claim-(\d+)".*?</section>', page, re.S)
    return int(found.group(1)), found.group(0)


def test_overdue_then_default_under_a_review_agreement_files_a_claim_on_the_loan_page(claimed, as_role):
    loan_id, bank = claimed
    page = bank.get(f"/bank/loans/{loan_id}").text
    assert 'data-status="defaulted"' in page and 'data-claim-mode="review"' in page
    claim_id, section = _claim_section(page)
    (claim,) = as_role("bank").get("/api/v1/claims?status=filed").json
    assert claim["id"] == claim_id and claim["loan_id"] == loan_id
    assert "Awaiting the agency&#39;s decision" in section and "¥1,000,000.00" in section
    assert claim["due_by"] in section and f'id="evidence-{claim_id}"' in section
    assert 'enctype="multipart/form-data"' in section
    assert [row for row in re.findall(r'data-event-type="(\w+)"', page)] == ["disbursed", "overdue", "default"]
    assert 'id="form-recovery"' in page and 'id="form-claim"' not in page  # may file again only after a refusal


def test_evidence_is_attached_as_a_pdf_and_a_text_file_is_refused_beside_the_field(app, claimed, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setitem(app.config, "FILES_DIR", str(tmp_path))
    loan_id, bank = claimed
    claim_id, _section = _claim_section(bank.get(f"/bank/loans/{loan_id}").text)
    token = csrf_token(bank.get(f"/bank/loans/{loan_id}").text)
    attached = bank.post(f"/bank/claims/{claim_id}/documents", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(PDF), "court-filing.pdf", "application/pdf")})
    assert attached.status_code == 302 and attached.headers["Location"].endswith(f"#claim-{claim_id}")
    page = bank.get(f"/bank/loans/{loan_id}").text
    _claim_id, section = _claim_section(page)
    assert "court-filing.pdf is attached" in page
    link = re.search(rf'href="(/bank/claims/{claim_id}/documents/\d+)"', section).group(1)
    download = bank.get(link)
    assert download.status_code == 200 and download.data == PDF

    refused = bank.post(f"/bank/claims/{claim_id}/documents", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(b"just words"), "notes.txt", "text/plain")})
    assert refused.status_code == 422
    _claim_id, section = _claim_section(refused.text)
    assert f'id="file-{claim_id}-error"' in section and "Attach a PDF, JPEG or PNG file." in section
    assert section.count("data-document-id") == 1


def test_after_a_refusal_the_bank_reads_the_reason_and_files_again(browser_of, world, claimed, as_role):
    loan_id, bank = claimed
    claim_id, _section = _claim_section(bank.get(f"/bank/loans/{loan_id}").text)
    reason = "No proof of the collection effort."
    assert as_role("agency").post(f"/api/v1/claims/{claim_id}/decision", json={
        "decision": "reject", "reason": reason}).status_code == 200
    page = bank.get(f"/bank/loans/{loan_id}").text
    assert reason in page and "Refused by the agency" in page and f'id="evidence-{claim_id}"' not in page
    form = _form(page, "form-claim")
    too_much = bank.post(f"/bank/loans/{loan_id}/claims", data={
        "csrf_token": csrf_token(form), "amount": "2000000.00", "note": ""})
    assert too_much.status_code == 422 and 'id="amount-error"' in _form(too_much.text, "form-claim")
    filed = bank.post(f"/bank/loans/{loan_id}/claims", data={
        "csrf_token": csrf_token(form), "amount": "1000000.00", "note": "Court filing attached."})
    assert filed.status_code == 302 and "#claim-" in filed.headers["Location"]
    assert len(as_role("bank").get("/api/v1/claims?status=filed").json) == 1


# The enterprise reads -----------------------------------------------------------------------------------------------

def test_the_enterprise_reads_its_schedule_and_arrears_and_downloads_the_schedule(browser_of, world, as_role):
    (loan_id,) = plain_loans(as_role)
    today = business_today()
    disburse(as_role, loan_id, today - dt.timedelta(days=75))  # the first two periods are past due
    schedule = as_role("enterprise").get(f"/api/v1/loans/{loan_id}/schedule").json["periods"]
    late = [p for p in schedule if p["status"] == "overdue"]
    assert late, schedule
    enterprise = browser_of(world.enterprise_user)
    page = enterprise.get(f"/enterprise/loans/{loan_id}")
    assert page.status_code == 200
    warning = re.search(r'<section class="note" id="arrears".*?</section>', page.text, re.S).group(0)
    owed = sum(Decimal(p["total"]) for p in late)
    since = dt.date.fromisoformat(late[0]["due_on"]) + dt.timedelta(days=1)
    assert f"¥{owed:,.2f} is overdue since {since.isoformat()}" in warning
    assert f"{(today - since).days + 1} days overdue" in warning
    assert (since + dt.timedelta(days=90)).isoformat() in warning
    assert len(re.findall(r'<tr data-period="\d+"', page.text)) == 12
    assert 'id="next-due"' not in page.text and "<form" not in page.text.split("</header>", 1)[1]
    assert f'href="/enterprise/loans/{loan_id}/schedule.xlsx"' in page.text

    download = enterprise.get(f"/enterprise/loans/{loan_id}/schedule.xlsx")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f"attachment; filename=loan-{loan_id}-schedule.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(download.data)).active
    rows = list(sheet.values)
    assert list(rows[0]) == ["Period", "Due on", "Principal", "Interest", "Total", "Remaining principal", "Paid so far",
                             "Status"]
    assert rows[1][0] == 1 and rows[1][1].date().isoformat() == schedule[0]["due_on"]
    assert Decimal(str(rows[1][2])) == Decimal(schedule[0]["principal"]) and rows[1][7] == "Overdue"
    assert rows[-1][0] == "Total" and Decimal(str(rows[-1][2])) == Decimal("1000000.00")


def test_the_request_and_application_pages_lead_to_the_loan_and_the_nav_to_the_lists(app, browser_of, world,
                                                                                      as_role):
    (loan_id,) = plain_loans(as_role)
    with app.app_context():
        application = db.session.get(Loan, loan_id).application
        application_id, request_id = application.id, application.request_id
    enterprise = browser_of(world.enterprise_user)
    assert f'href="/enterprise/loans/{loan_id}"' in enterprise.get(f"/enterprise/requests/{request_id}").text
    listed = enterprise.get("/enterprise/loans").text
    assert 'href="/enterprise/loans"' in listed and f'href="/enterprise/loans/{loan_id}"' in listed
    bank = browser_of(world.bank_user)
    assert f'href="/bank/loans/{loan_id}"' in bank.get(f"/bank/applications/{application_id}").text
    assert 'href="/bank/loans"' in bank.get("/bank/applications").text


def test_nobody_else_reads_the_loan(app, browser_of, world, as_role):
    (loan_id,) = plain_loans(as_role)
    disburse(as_role, loan_id)
    other = browser_of(world.enterprise2_user)
    assert other.get(f"/enterprise/loans/{loan_id}").status_code == 404
    assert other.get(f"/enterprise/loans/{loan_id}/schedule.xlsx").status_code == 404
    assert f'data-loan-id="{loan_id}"' not in other.get("/enterprise/loans").text
    other_bank = browser_of(world.bank2_user)
    assert other_bank.get(f"/bank/loans/{loan_id}").status_code == 404
    page = browser_of(world.bank_user).get(f"/bank/loans/{loan_id}").text
    refused = other_bank.post(f"/bank/loans/{loan_id}/events", data={
        **_hidden(_form(page, "form-repayment")), "occurred_on": business_today().isoformat(), "amount": "1000.00",
        "csrf_token": csrf_token(other_bank.get("/bank/loans").text), "confirm": "1"})
    assert refused.status_code == 404 and events(app, loan_id, LoanEventType.REPAYMENT) == 0
    assert browser_of(world.bank_user).get(f"/enterprise/loans/{loan_id}").status_code == 403


# The lists ------------------------------------------------------------------------------------------------------

def _within_the_week(today: dt.date) -> dt.date:
    """A disbursement day whose first period falls due within the coming week."""
    for back in range(20, 40):
        start = today - dt.timedelta(days=back)
        if today <= roll_forward(nominal_date(start, 1)) <= today + dt.timedelta(days=7):
            return start
    raise AssertionError("no disbursement day puts the first due date within the week")


def _listed(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'<tr data-loan-id="(\d+)"', page)}


def test_the_lists_filter_by_status_and_by_what_is_due(browser_of, world, as_role):
    today = business_today()
    waiting, late, soon, later = plain_loans(as_role, 4)
    disburse(as_role, late, today - dt.timedelta(days=60))
    disburse(as_role, soon, _within_the_week(today))
    disburse(as_role, later, today)
    bank = browser_of(world.bank_user)
    every = bank.get("/bank/loans")
    assert every.status_code == 200 and _listed(every.text) == {waiting, late, soon, later}
    row = re.search(rf'<tr data-loan-id="{late}".*?</tr>', every.text, re.S).group(0)
    assert "overdue-row" in row and world.enterprise.name in row and "¥1,000,000.00" in row
    assert _listed(bank.get("/bank/loans?status=approved").text) == {waiting}
    assert _listed(bank.get("/bank/loans?status=disbursed").text) == {late, soon, later}
    assert _listed(bank.get("/bank/loans?due=overdue").text) == {late}
    assert _listed(bank.get("/bank/loans?due=this_week").text) == {soon}
    assert _listed(bank.get(f"/bank/loans?q={world.enterprise.name}&status=approved").text) == {waiting}
    refused = bank.get("/bank/loans?due=someday")
    assert refused.status_code == 200 and 'id="due-error"' in refused.text

    enterprise = browser_of(world.enterprise_user)
    assert _listed(enterprise.get("/enterprise/loans").text) == {waiting, late, soon, later}
    assert _listed(enterprise.get("/enterprise/loans?due=overdue").text) == {late}
    assert _listed(browser_of(world.bank2_user).get("/bank/loans").text) == set()
    first_due = roll_forward(nominal_date(_within_the_week(today), 1)).isoformat()
    assert f'data-next-due="{first_due}"' in enterprise.get(f"/enterprise/loans/{soon}").text


def test_the_pages_read_in_chinese(browser_of, world, as_role):
    (loan_id,) = plain_loans(as_role)
    disburse(as_role, loan_id)
    for user, path in ((world.bank_user, f"/bank/loans/{loan_id}"), (world.bank_user, "/bank/loans"),
                       (world.enterprise_user, f"/enterprise/loans/{loan_id}"), (world.enterprise_user,
                                                                                 "/enterprise/loans")):
        browser = browser_of(user)
        browser.post("/language", data={"locale": "zh_Hans", "next": path,
                                        "csrf_token": csrf_token(browser.get(path).text)})
        page = browser.get(path)
        assert page.status_code == 200 and '<html lang="zh-Hans">' in page.text and "在贷余额" in page.text
