"""The agency's claim pages (issue 20): under an agreement that reviews claims, a default files a claim; the agency
finds it in its queue with its deadline, reads the loan, the agreement's cap room and the bank's evidence, and pays
it (seeing first how the loss will be shared) or refuses it with a reason the bank reads. The agreement form sets how
claims are handled."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from guarantees.models import Claim
from marketplace import db
from marketplace.auth.models import Role
from marketplace.dates import business_today, working_days_after
from tests.guarantees.test_claims_api import agreement_with_loans, defaulted
from tests.pages import post_form

#: A minimal PDF: what filetype recognises as application/pdf.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def guaranteed_loans(as_role, world, make, count: int = 1, review_days: int = 10, pool_cash: str = "100000.00",
                     code: str = "ZJ-REVIEW-1") -> tuple[dict, list[int]]:
    """An active agreement whose claims the agency reviews (cap 0.03), and `count` loans of 1,000,000.00 guaranteed
    under it and disbursed yesterday (see test_claims_api.agreement_with_loans)."""
    return agreement_with_loans(as_role, world, make, count=count, review_days=review_days, pool_cash=pool_cash,
                                code=code, cap="0.03")


def default_and_claim(as_role, loan_id: int) -> dict:
    """The loan goes overdue and defaults, which files a claim: → the claim, as the bank reads it."""
    return defaulted(as_role, loan_id)


def move_deadline(app, claim_id: int, due_by: dt.date) -> None:
    with app.app_context():
        db.session.get(Claim, claim_id).due_by = due_by
        db.session.commit()


@pytest.fixture
def filed(as_role, world, make):
    """→ (the agreement, the claim filed when its loan defaulted today)."""
    agreement, (loan_id,) = guaranteed_loans(as_role, world, make)
    return agreement, default_and_claim(as_role, loan_id)


def _row(html: str, claim_id: int) -> str:
    return re.search(rf'<tr data-claim-id="{claim_id}".*?</tr>', html, re.S).group(0)


def test_the_queue_lists_the_filed_claim_with_its_deadline(browser_of, world, filed):
    agreement, claim = filed
    agency = browser_of(world.agency_user)
    queue = agency.get("/agency/claims")
    assert queue.status_code == 200
    row = _row(queue.text, claim["id"])
    due_by = working_days_after(business_today(), 10)
    assert claim["due_by"] == due_by.isoformat()
    assert f"Loan #{claim['loan_id']}" in row and world.enterprise.name in row and world.bank.name in row
    assert agreement["code"] in row and "1,000,000.00" in row and due_by.isoformat() in row
    assert 'data-deadline="on_time"' in row and "10 working days left" in row and "Awaiting decision" in row
    assert 'href="/agency/claims"' in agency.get("/agency/dashboard").text  # the nav's link
    assert f'data-claim-id="{claim["id"]}"' not in agency.get("/agency/claims?status=paid").text
    assert f'data-claim-id="{claim["id"]}"' in agency.get("/agency/claims?status=all").text


def test_the_claim_page_shows_the_loan_the_cap_room_and_the_evidence(app, browser_of, world, filed, as_role,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_DIR", str(tmp_path))
    _agreement, claim = filed
    document = as_role("bank").post(f"/api/v1/claims/{claim['id']}/documents", content_type="multipart/form-data",
                                    data={"file": (io.BytesIO(PDF), "overdue-notice.pdf", "application/pdf")})
    assert document.status_code == 201, document.json
    agency = browser_of(world.agency_user)
    page = agency.get(f"/agency/claims/{claim['id']}").text
    loan = re.search(r'<section class="card" id="loan">.*?</section>', page, re.S).group(0)
    assert loan.count("¥1,000,000.00") == 2  # the principal, and what is still owed
    terms = re.search(r'<section class="card" id="agreement">.*?</section>', page, re.S).group(0)
    assert "Agency 40.00%" in terms and "Bank 20.00%" in terms
    assert 'data-cap-room="30000.00"' in terms  # cap 0.03 of 1,000,000.00 guaranteed, nothing compensated yet
    link = f'/agency/claims/{claim["id"]}/documents/{document.json["id"]}'
    assert f'href="{link}"' in page and "overdue-notice.pdf" in page
    download = agency.get(link)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert 'id="pay"' in page and 'id="refuse"' in page


def test_paying_shows_the_sharing_first_then_pays_once_and_posts_the_ledger(browser_of, world, filed, as_role):
    _agreement, claim = filed
    agency = browser_of(world.agency_user)
    path = f"/agency/claims/{claim['id']}"
    asked = post_form(agency, f"{path}/decision", {"decision": "pay"}, form_page=path)
    assert asked.status_code == 200 and 'data-confirm="pay"' in asked.text
    confirm = re.search(r'id="confirm".*?</section>', asked.text, re.S).group(0)
    # Loss 1,000,000.00: the bank keeps its fifth; the cap (3 % of 1,000,000.00) lets the agency compensate
    # 30,000.00, shared 2:1:1 with the re-guarantor and the pool, whose cash pays its part.
    for part, amount in (("loss", "¥1,000,000.00"), ("bank_share", "¥200,000.00"), ("beyond_cap", "¥770,000.00"),
                         ("agency_compensation", "¥30,000.00"), ("reguarantee", "¥7,500.00"),
                         ("risk_pool_paid", "¥7,500.00"), ("agency_net", "¥15,000.00")):
        assert re.search(rf'data-part="{part}">(?:<strong>)?{re.escape(amount)}<', confirm), part
    assert 'name="confirm" value="1"' in confirm
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["status"] == "filed"  # nothing yet

    paid = post_form(agency, f"{path}/decision", {"decision": "pay", "reason": "", "confirm": "1"}, form_page=path)
    assert paid.status_code == 302 and paid.headers["Location"].endswith(path)
    page = agency.get(path).text
    assert f"Claim {claim['id']} is paid" in page and 'id="outcome"' in page and 'id="pay"' not in page
    assert re.search(r'data-part="agency_compensation"><strong>¥30,000.00<', page)
    seen = as_role("bank").get(f"/api/v1/claims/{claim['id']}").json
    assert seen["status"] == "paid" and seen["allocation"]["agency_compensation"] == "30000.00"
    journal = as_role("admin").get(f"/api/v1/ledger/journal?ref=loan:{claim['loan_id']}").json
    assert [e["idempotency_key"] for e in journal].count(f"claim:{claim['id']}:paid") == 1

    again = post_form(agency, f"{path}/decision", {"decision": "pay", "confirm": "1"}, form_page=path)
    assert again.status_code == 409 and 'id="conflict"' in again.text and "nothing was changed" in again.text
    assert as_role("admin").get(f"/api/v1/ledger/journal?ref=loan:{claim['loan_id']}").json == journal
    assert "100.00% of 1 claim paid on time" in agency.get("/agency/agreements").text


def test_refusing_without_a_reason_is_an_inline_error_and_changes_nothing(browser_of, world, filed, as_role):
    _agreement, claim = filed
    agency = browser_of(world.agency_user)
    path = f"/agency/claims/{claim['id']}"
    for confirmed in ({}, {"confirm": "1"}):
        refused = post_form(agency, f"{path}/decision", {"decision": "reject", "reason": "  ", **confirmed},
                            form_page=path)
        assert refused.status_code == 422
        assert 'id="reason-error"' in refused.text and "Say why the claim is refused" in refused.text
        assert 'id="confirm"' not in refused.text
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["status"] == "filed"


def test_a_refusal_confirmed_with_its_reason_reaches_the_bank(browser_of, world, filed, as_role):
    _agreement, claim = filed
    agency = browser_of(world.agency_user)
    path = f"/agency/claims/{claim['id']}"
    reason = "No proof of the collection effort: attach the court filing."
    asked = post_form(agency, f"{path}/decision", {"decision": "reject", "reason": reason}, form_page=path)
    assert asked.status_code == 200 and 'data-confirm="reject"' in asked.text
    assert f'<input type="hidden" name="reason" value="{reason}">' in asked.text
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["status"] == "filed"
    refused = post_form(agency, f"{path}/decision", {"decision": "reject", "reason": reason, "confirm": "1"},
                        form_page=path)
    assert refused.status_code == 302
    seen = as_role("bank").get(f"/api/v1/claims/{claim['id']}").json
    assert (seen["status"], seen["reason"], seen["allocation"]) == ("rejected", reason, None)
    page = agency.get(path).text
    assert "Refused on" in page and reason in page and 'id="refuse"' not in page


def test_another_agency_gets_404_for_the_claim_and_its_evidence(app, browser_of, world, make, filed, as_role,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_DIR", str(tmp_path))
    _agreement, claim = filed
    document = as_role("bank").post(f"/api/v1/claims/{claim['id']}/documents", content_type="multipart/form-data",
                                    data={"file": (io.BytesIO(PDF), "notice.pdf", "application/pdf")}).json
    other = browser_of(make.user(Role.AGENCY, make.agency().id))
    assert other.get(f"/agency/claims/{claim['id']}").status_code == 404
    assert other.get(f"/agency/claims/{claim['id']}/documents/{document['id']}").status_code == 404
    assert post_form(other, f"/agency/claims/{claim['id']}/decision", {"decision": "pay", "confirm": "1"},
                     form_page="/agency/claims").status_code == 404
    assert f'data-claim-id="{claim["id"]}"' not in other.get("/agency/claims?status=all").text
    assert browser_of(world.bank_user).get(f"/agency/claims/{claim['id']}").status_code == 403
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["status"] == "filed"


def test_a_claim_past_its_deadline_shows_as_late(app, browser_of, world, filed):
    _agreement, claim = filed
    today = business_today()
    move_deadline(app, claim["id"], today - dt.timedelta(days=14))  # two weeks: ten working days at least
    agency = browser_of(world.agency_user)
    row = _row(agency.get("/agency/claims").text, claim["id"])
    assert 'data-deadline="overdue"' in row and "working days late" in row and "overdue-row" in row
    assert 'data-deadline="overdue"' in agency.get(f"/agency/claims/{claim['id']}").text
    move_deadline(app, claim["id"], today)
    assert "Due today" in _row(agency.get("/agency/claims").text, claim["id"])


def test_the_agreement_form_creates_an_agreement_whose_claims_are_reviewed_in_7_working_days(browser_of, world,
                                                                                               as_role):
    agency = browser_of(world.agency_user)
    form = agency.get("/agency/agreements/new").text
    assert '<option value="automatic" selected>' in form and 'name="claim_review_days"' in form
    today = business_today()
    fields = {"code": "ZJ-FORM-7", "bank_id": str(world.bank.id), "valid_from": today.isoformat(),
              "valid_to": (today + dt.timedelta(days=364)).isoformat(), "total_quota": "100000000.00",
              "per_enterprise_cap": "10000000.00", "per_loan_cap": "5000000.00", "fee_rate": "0.0100",
              "compensation_cap_rate": "0.03", "share_agency": "0.80", "share_bank": "0.20",
              "share_reguarantee": "0", "share_risk_pool": "0", "reguarantor_id": "", "risk_pool_id": "",
              "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"], "batch_max_size": "500",
              "review_sla_days": "5", "auto_approve_below": "", "claim_mode": "review"}
    too_long = post_form(agency, "/agency/agreements/new", {**fields, "claim_review_days": "61"})
    assert too_long.status_code == 422 and 'id="claim_review_days-error"' in too_long.text
    assert '<option value="review" selected>' in too_long.text  # what was chosen stays chosen
    made = post_form(agency, "/agency/agreements/new", {**fields, "claim_review_days": "7"})
    assert made.status_code == 302, made.text
    (agreement,) = [a for a in as_role("agency").get("/api/v1/agreements").json if a["code"] == "ZJ-FORM-7"]
    assert (agreement["claim_mode"], agreement["claim_review_days"]) == ("review", 7)
    for browser, path in ((agency, "/agency/agreements"), (browser_of(world.bank_user), "/bank/agreements")):
        row = re.search(rf'<tr data-agreement-id="{agreement["id"]}".*?</tr>', browser.get(path).text, re.S).group(0)
        assert 'data-claim-mode="review"' in row and "Decided within 7 working days" in row
        assert "No claim paid yet" in row
