"""Compensation claims through the API (issue 20, API.md §Compensation claims): under an agreement whose claims the
agency reviews, a default books the bank's loss and files a claim instead of compensating at once; the bank attaches
its evidence; the agency pays it, which posts to the fen what an automatic default posts, or refuses it with a reason
the bank reads, and the bank may file again. Recovery before payment shrinks the claim, or withdraws it. Other
tenants see none of it, and `flask ledger verify` stays clean."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from decimal import Decimal

import pytest

from guarantees.models import Claim
from marketplace import db
from marketplace.auth.models import Role
from marketplace.dates import business_today, working_days_after
from marketplace.orgs.models import AgencyKind
from marketplace.verify import problems
from tests.guarantees.terms import PRODUCT

#: A minimal PDF, as filetype recognises one.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
#: The PNG signature and an IHDR chunk: a PNG by its content.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
#: A 1,000,000.00 loan's loss under 0.40 / 0.20 / 0.20 / 0.20 with no binding cap, the pool holding 100,000.00:
#: the bank keeps its fifth, the agency compensates the rest and is reimbursed by the re-guarantor and the pool,
#: whose cash pays half of its share and owes the other half as a claim.
SHARED = {"loss": "1000000.00", "bank_borne": "200000.00", "beyond_cap": "0.00", "agency_compensation": "800000.00",
          "agency_net": "400000.00", "reguarantee": "200000.00", "risk_pool_paid": "100000.00",
          "risk_pool_claim": "100000.00"}


def agreement_with_loans(as_role, world, make, *, claim_mode: str = "review", count: int = 1, review_days: int = 10,
                         pool_cash: str = "100000.00", code: str = "ZJ-CLAIMS-1", cap: str = "1.00",
                         disbursed_on: dt.date | None = None) -> tuple[dict, list[int]]:
    """An active agreement between the world's agency and bank (shares agency 0.40, bank 0.20, re-guarantee 0.20,
    risk pool 0.20, its own pool holding `pool_cash`), and `count` loans of 1,000,000.00 for 12 months to the world's
    enterprise guaranteed under it, disbursed on `disbursed_on` (yesterday by default).
    → (the agreement as the API shows it, the loan ids)"""
    admin, agency, bank, enterprise = as_role("admin"), as_role("agency"), as_role("bank"), as_role("enterprise")
    today = business_today()
    pool = admin.post("/api/v1/risk-pools", json={"name": f"Pool {code}", "region_code": "33"}).json
    if pool_cash:
        assert admin.post(f"/api/v1/risk-pools/{pool['id']}/deposits", json={"amount": pool_cash}).status_code == 201
    terms = {"code": code, "bank_id": world.bank.id, "valid_from": (today - dt.timedelta(days=400)).isoformat(),
             "valid_to": (today + dt.timedelta(days=365)).isoformat(), "total_quota": "10000000.00",
             "per_enterprise_cap": "8000000.00", "per_loan_cap": "3000000.00", "fee_rate": "0.0100",
             "shares": {"agency": "0.40", "bank": "0.20", "reguarantee": "0.20", "risk_pool": "0.20"},
             "reguarantor_id": make.agency(AgencyKind.PROVINCIAL).id, "risk_pool_id": pool["id"],
             "compensation_cap_rate": cap, "eligible_tiers": ["srdi", "little_giant"],
             "eligible_product_types": ["credit"]}
    if claim_mode is not None:
        terms |= {"claim_mode": claim_mode, "claim_review_days": review_days}
    # Made 400 days ago (the loans below were disbursed under it then): history, which the API does not make now.
    agreement = agency.get(f"/api/v1/agreements/{make.agreement(world.agency.id, terms)}").json
    assert bank.post(f"/api/v1/agreements/{agreement['id']}/countersign").status_code == 200
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    for _ in range(count):
        request = enterprise.post("/api/v1/financing-requests", json={
            "amount": "1000000.00", "term_months": 12, "purpose": "Expansion"}).json
        offer = next(o for o in request["offers"] if o["agreement_id"] == agreement["id"])
        application = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                      json={"offer_id": offer["id"]}).json["application"]
        assert bank.post(f"/api/v1/applications/{application['id']}/decision",
                         json={"decision": "approved"}).status_code == 200
    (batch,) = agency.get(f"/api/v1/batches?status=open&agreement_id={agreement['id']}").json
    agency.post(f"/api/v1/batches/{batch['id']}/submit")
    decided = agency.post(f"/api/v1/batches/{batch['id']}/decision", json={"exclusions": []}).json
    loans = [item["loan_id"] for item in decided["items"]]
    day = (disbursed_on or today - dt.timedelta(days=1)).isoformat()
    for loan_id in loans:
        assert bank.post(f"/api/v1/loans/{loan_id}/events", json={
            "type": "disbursed", "occurred_on": day}).status_code == 201
    return agreement, loans


def report(as_role, loan_id: int, *kinds: str, day: dt.date | None = None, **body) -> None:
    """The bank reports the loan's events (today unless `day`)."""
    for kind in kinds:
        answer = as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json={
            "type": kind, "occurred_on": (day or business_today()).isoformat(), **body})
        assert answer.status_code == 201, answer.json


def defaulted(as_role, loan_id: int) -> dict:
    """The loan goes overdue and defaults today: → the claim that filed, as the bank reads it."""
    report(as_role, loan_id, "overdue", "default")
    (claim,) = [c for c in as_role("bank").get("/api/v1/claims?status=filed").json if c["loan_id"] == loan_id]
    return claim


def decide(as_role, claim_id: int, key: str | None = None, who: str = "agency", **body):
    headers = {"Idempotency-Key": key} if key else {}
    return as_role(who).post(f"/api/v1/claims/{claim_id}/decision", json=body, headers=headers)


def attach(as_role, claim_id: int, content: bytes, name: str = "evidence.pdf", content_type: str = "application/pdf",
           who: str = "bank"):
    return as_role(who).post(f"/api/v1/claims/{claim_id}/documents", content_type="multipart/form-data",
                             data={"file": (io.BytesIO(content), name, content_type)})


def journal(as_role, loan_id: int) -> list[dict]:
    return as_role("admin").get(f"/api/v1/ledger/journal?ref=loan:{loan_id}").json


def loss_lines(as_role, loan_id: int) -> Counter:
    """The default's postings on the loan's journal (its default and claim-payment entries), each as (party,
    purpose, amount): what a loss moves between whom, whatever the accounts' owners."""
    accounts = {a["id"]: (a["party"], a["purpose"])
                for a in as_role("admin").get("/api/v1/ledger/trial-balance").json["accounts"]}
    return Counter((*accounts[p["account_id"]], p["amount"]) for entry in journal(as_role, loan_id)
                   if entry["kind"] == "default" for p in entry["postings"])


def notices(client, kind: str) -> list[dict]:
    return [n for n in client.get("/api/v1/notifications?page_size=500").json if n["kind"] == kind]


def verified(app) -> None:
    """`flask ledger verify` exits 0, and the checks behind it find nothing."""
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, (result.output, result.exception)
    with app.app_context():
        assert problems() == []


@pytest.fixture
def filed(as_role, world, make):
    """→ (the review agreement, the claim filed when its one loan defaulted today)."""
    agreement, (loan_id,) = agreement_with_loans(as_role, world, make, review_days=7)
    return agreement, defaulted(as_role, loan_id)


# The agreement's terms ---------------------------------------------------------------------------------------------

def test_an_agreement_reviews_claims_in_its_working_days_and_is_automatic_by_default(as_role, world, make):
    agency = as_role("agency")
    terms = {"bank_id": world.bank.id, "valid_from": business_today().isoformat(),
             "valid_to": (business_today() + dt.timedelta(days=30)).isoformat(), "total_quota": "1000000.00",
             "per_enterprise_cap": "1000000.00", "per_loan_cap": "1000000.00", "fee_rate": "0.0100",
             "shares": {"agency": "0.80", "bank": "0.20", "reguarantee": "0", "risk_pool": "0"},
             "eligible_tiers": ["srdi"], "eligible_product_types": ["credit"]}
    review = agency.post("/api/v1/agreements", json={**terms, "code": "ZJ-R7", "claim_mode": "review",
                                                     "claim_review_days": 7})
    assert review.status_code == 201, review.json
    assert (review.json["claim_mode"], review.json["claim_review_days"]) == ("review", 7)
    assert review.json["claims_paid_on_time"] == {"paid": 0, "on_time": 0, "share": None}
    plain = agency.post("/api/v1/agreements", json={**terms, "code": "ZJ-AUTO"}).json
    assert (plain["claim_mode"], plain["claim_review_days"]) == ("automatic", 10)
    wrong = agency.post("/api/v1/agreements", json={**terms, "code": "ZJ-BAD", "claim_mode": "later",
                                                    "claim_review_days": 61})
    assert wrong.status_code == 422 and {"claim_mode", "claim_review_days"} <= set(wrong.json["errors"])


# Filing ------------------------------------------------------------------------------------------------------------

def test_a_default_files_a_claim_and_books_only_the_banks_loss(as_role, world, filed, app):
    agreement, claim = filed
    today = business_today()
    assert claim == {**claim, "agreement_id": agreement["id"], "amount": "1000000.00", "filed_on": today.isoformat(),
                     "due_by": working_days_after(today, 7).isoformat(), "status": "filed", "decided_at": None,
                     "reason": None, "documents": [], "allocation": None, "overdue": False,
                     "bank_id": world.bank.id, "agency_id": world.agency.id}
    loan = as_role("bank").get(f"/api/v1/loans/{claim['loan_id']}").json
    assert (loan["status"], loan["defaults"], loan["guarantee"]["status"]) == ("defaulted", [], "defaulted")
    assert [c["id"] for c in loan["claims"]] == [claim["id"]]
    # No compensation yet: the default entry moves the loss from the enterprise's debt to the bank, nothing else.
    (default,) = [e for e in journal(as_role, claim["loan_id"]) if e["kind"] == "default"]
    assert sorted(p["amount"] for p in default["postings"]) == ["-1000000.00", "1000000.00"]
    assert loss_lines(as_role, claim["loan_id"]) == Counter({("bank", "credit_loss", "-1000000.00"): 1,
                                                              ("enterprise", "defaulted_principal", "1000000.00"): 1})
    terms = as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json
    assert (terms["compensated_total"], terms["quota_outstanding"]) == ("0.00", "0.00")
    [told] = notices(as_role("agency"), "claim.filed")
    assert told["link"] == f"/agency/claims/{claim['id']}" and claim["due_by"] in told["body"]
    verified(app)


def test_the_agency_and_the_bank_list_claims_by_status_and_agreement(as_role, world, make):
    agreement, loans = agreement_with_loans(as_role, world, make, count=2)
    first, second = (defaulted(as_role, loan_id) for loan_id in loans)
    assert decide(as_role, second["id"], decision="reject", reason="No court filing").status_code == 200
    for who in ("agency", "bank", "admin"):
        client = as_role(who)
        assert [c["id"] for c in client.get("/api/v1/claims").json] == [first["id"], second["id"]]
        assert [c["id"] for c in client.get("/api/v1/claims?status=filed").json] == [first["id"]]
        assert [c["id"] for c in client.get("/api/v1/claims?status=rejected").json] == [second["id"]]
        assert [c["id"] for c in client.get(f"/api/v1/claims?agreement_id={agreement['id']}").json] == [
            first["id"], second["id"]]
        assert client.get(f"/api/v1/claims?agreement_id={agreement['id'] + 1000}").json == []
    assert as_role("agency").get("/api/v1/claims?status=pending").status_code == 422


# Evidence ----------------------------------------------------------------------------------------------------------

def test_the_bank_attaches_a_pdf_and_the_parties_download_it_as_sent(as_role, filed, files):
    _agreement, claim = filed
    sent = attach(as_role, claim["id"], PDF, name="collection-notice.pdf")
    assert sent.status_code == 201, sent.json
    assert {k: sent.json[k] for k in ("name", "size", "content_type")} == {
        "name": "collection-notice.pdf", "size": len(PDF), "content_type": "application/pdf"}
    shown = as_role("agency").get(f"/api/v1/claims/{claim['id']}").json["documents"]
    assert [(d["id"], d["name"], d["size"], d["content_type"]) for d in shown] == [
        (sent.json["id"], "collection-notice.pdf", len(PDF), "application/pdf")]
    for who in ("bank", "agency", "admin"):
        download = as_role(who).get(f"/api/v1/claims/{claim['id']}/documents/{sent.json['id']}")
        assert download.status_code == 200 and download.data == PDF
        assert download.mimetype == "application/pdf"
        assert download.headers["Content-Disposition"].startswith("attachment")
    assert attach(as_role, claim["id"], PNG, name="photo.png", content_type="image/png").status_code == 201
    missing = as_role("bank").get(f"/api/v1/claims/{claim['id']}/documents/{sent.json['id'] + 1000}")
    assert missing.status_code == 404


def test_a_file_whose_content_is_not_its_type_is_refused(as_role, filed, files):
    _agreement, claim = filed
    text = attach(as_role, claim["id"], b"This is not a PDF, only text that says so.", name="evidence.pdf")
    assert text.status_code == 422 and text.mimetype == "application/problem+json"
    assert text.json["errors"]["file"] == ["Attach a PDF, JPEG or PNG file."]
    disguised = attach(as_role, claim["id"], PNG, name="evidence.pdf", content_type="application/pdf")
    assert disguised.status_code == 422
    assert disguised.json["errors"]["file"] == ["The file says it is application/pdf but its content is PNG."]
    assert attach(as_role, claim["id"], b"", name="empty.pdf").status_code == 422
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["documents"] == []
    assert list(files.rglob("*.*")) == []


def test_a_file_over_the_limit_is_413_and_kept_nowhere(app, as_role, filed, files, monkeypatch):
    _agreement, claim = filed
    monkeypatch.setitem(app.config, "CLAIM_FILE_MAX_BYTES", len(PDF))
    assert attach(as_role, claim["id"], PDF).status_code == 201  # at the limit
    too_large = attach(as_role, claim["id"], PDF + b"%")
    assert too_large.status_code == 413 and too_large.mimetype == "application/problem+json"
    assert len(as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["documents"]) == 1


def test_evidence_of_several_megabytes_is_accepted_up_to_the_claims_own_limit(app, as_role, filed, files):
    """Beyond the 1 MiB most bodies may have, up to CLAIM_FILE_MAX_BYTES; one byte more is the view's 413, which
    says what the limit is."""
    _agreement, claim = filed
    limit = app.config["CLAIM_FILE_MAX_BYTES"]
    assert limit == 8 * 1024 * 1024
    at_limit = PDF + b"0" * (limit - len(PDF))
    sent = attach(as_role, claim["id"], at_limit, name="court-filing.pdf")
    assert sent.status_code == 201, sent.get_data(as_text=True)[:300]
    assert as_role("agency").get(f"/api/v1/claims/{claim['id']}/documents/{sent.json['id']}").data == at_limit
    too_large = attach(as_role, claim["id"], at_limit + b"0")
    assert too_large.status_code == 413 and "at most 8.0 MB may be attached" in too_large.json["detail"]


def test_only_the_bank_attaches_and_only_while_the_claim_is_filed(as_role, filed, files):
    _agreement, claim = filed
    assert attach(as_role, claim["id"], PDF, who="agency").status_code == 403
    assert decide(as_role, claim["id"], decision="pay").status_code == 200
    assert attach(as_role, claim["id"], PDF).status_code == 409


# Paying --------------------------------------------------------------------------------------------------------

def test_paying_a_claim_posts_to_the_fen_what_an_automatic_default_posts(app, as_role, world, make):
    review, (reviewed_loan,) = agreement_with_loans(as_role, world, make, code="ZJ-REVIEW")
    automatic, (automatic_loan,) = agreement_with_loans(as_role, world, make, claim_mode="automatic",
                                                        code="ZJ-AUTOMATIC")
    claim = defaulted(as_role, reviewed_loan)
    report(as_role, automatic_loan, "overdue", "default")
    assert as_role("bank").get("/api/v1/claims").json == [claim]  # the automatic default filed none

    paid = decide(as_role, claim["id"], decision="pay")
    assert paid.status_code == 200, paid.json
    assert (paid.json["status"], paid.json["reason"]) == ("paid", None) and paid.json["decided_at"]
    settled = as_role("bank").get(f"/api/v1/loans/{automatic_loan}").json["defaults"]
    assert [{k: v for k, v in d.items() if k not in ("loan_id", "occurred_on")} for d in settled] == [SHARED]
    assert {k: v for k, v in paid.json["allocation"].items() if k not in ("loan_id", "occurred_on")} == SHARED
    loan = as_role("bank").get(f"/api/v1/loans/{reviewed_loan}").json
    assert loan["defaults"] == [paid.json["allocation"]]
    assert loan["guarantee"]["status"] == "compensated"
    # The same lines, to the fen: the default's (the bank's loss) and the payment's (the sharing) together.
    assert loss_lines(as_role, reviewed_loan) == loss_lines(as_role, automatic_loan)
    assert [e["idempotency_key"] for e in journal(as_role, reviewed_loan) if e["kind"] == "default"] == [
        f"loan:{reviewed_loan}:default", f"claim:{claim['id']}:paid"]
    agreements = [as_role("agency").get(f"/api/v1/agreements/{a['id']}").json for a in (review, automatic)]
    assert {a["compensated_total"] for a in agreements} == {"800000.00"}
    assert {a["quota_outstanding"] for a in agreements} == {"0.00"}
    pools = [as_role("admin").get(f"/api/v1/risk-pools/{a['risk_pool_id']}").json for a in (review, automatic)]
    assert {(p["balance"], p["paid_out"], p["claims_outstanding"]) for p in pools} == {
        ("0.00", "100000.00", "100000.00")}
    [told] = notices(as_role("bank"), "claim.decided")
    assert told["link"] == f"/bank/loans/{reviewed_loan}" and "1,000,000.00" in told["body"]
    verified(app)


def test_a_decision_replayed_with_its_key_answers_the_same_and_pays_once(app, as_role, filed):
    _agreement, claim = filed
    first = decide(as_role, claim["id"], key="claim-decision-1", decision="pay")
    again = decide(as_role, claim["id"], key="claim-decision-1", decision="pay")
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other_body = decide(as_role, claim["id"], key="claim-decision-1", decision="reject", reason="Changed my mind")
    assert other_body.status_code == 409 and "Idempotency-Key" in other_body.json["errors"]
    assert [e["idempotency_key"] for e in journal(as_role, claim["loan_id"])].count(f"claim:{claim['id']}:paid") == 1
    assert len(as_role("bank").get(f"/api/v1/loans/{claim['loan_id']}").json["defaults"]) == 1
    verified(app)


@pytest.mark.parametrize(("first", "then"), [("pay", "reject"), ("reject", "pay"), ("pay", "pay")])
def test_a_decided_claim_cannot_be_decided_again(as_role, filed, first, then):
    _agreement, claim = filed
    assert decide(as_role, claim["id"], decision=first, reason="Insufficient evidence").status_code == 200
    before = journal(as_role, claim["loan_id"])
    again = decide(as_role, claim["id"], key="another-key", decision=then, reason="Second thoughts")
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    shown = as_role("bank").get(f"/api/v1/claims/{claim['id']}").json
    assert shown["status"] == ("paid" if first == "pay" else "rejected")
    assert journal(as_role, claim["loan_id"]) == before


def test_only_the_agreements_agency_decides(as_role, filed):
    _agreement, claim = filed
    for who, status in (("bank", 403), ("admin", 403), ("enterprise", 403)):
        assert decide(as_role, claim["id"], who=who, decision="pay").status_code == status
    assert decide(as_role, claim["id"], decision="maybe").status_code == 422
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["status"] == "filed"


# Refusing and filing again ---------------------------------------------------------------------------------------

def test_a_refusal_needs_a_reason_and_the_bank_reads_it(as_role, filed):
    _agreement, claim = filed
    for reason in (None, "", "   "):
        refused = decide(as_role, claim["id"], decision="reject", **({} if reason is None else {"reason": reason}))
        assert refused.status_code == 422 and list(refused.json["errors"]) == ["reason"]
        assert refused.json["errors"]["reason"] == ["Say why the claim is refused: the bank reads it."]
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["status"] == "filed"
    reason = "No proof of the collection effort: attach the court filing."
    refused = decide(as_role, claim["id"], decision="reject", reason=f"  {reason} ")
    assert refused.status_code == 200
    seen = as_role("bank").get(f"/api/v1/claims/{claim['id']}").json
    assert (seen["status"], seen["reason"], seen["allocation"]) == ("rejected", reason, None)
    [told] = notices(as_role("bank"), "claim.decided")
    assert reason in told["body"]
    assert as_role("bank").get(f"/api/v1/loans/{claim['loan_id']}").json["defaults"] == []


def test_a_refused_claim_may_be_filed_again_once_at_a_time(app, as_role, filed, files):
    agreement, claim = filed
    loan_id = claim["loan_id"]
    bank = as_role("bank")
    while_filed = bank.post(f"/api/v1/loans/{loan_id}/claims", json={"amount": "1000000.00"})
    assert while_filed.status_code == 409
    decide(as_role, claim["id"], decision="reject", reason="Attach the court filing")
    too_much = bank.post(f"/api/v1/loans/{loan_id}/claims", json={"amount": "1000000.01"})
    assert too_much.status_code == 422 and "1,000,000.00" in too_much.json["errors"]["amount"][0]
    again = bank.post(f"/api/v1/loans/{loan_id}/claims", json={"amount": "900000.00", "note": "Court filing attached"},
                      headers={"Idempotency-Key": "refile-1"})
    assert again.status_code == 201, again.json
    today = business_today()
    assert {k: again.json[k] for k in ("loan_id", "agreement_id", "amount", "note", "status", "filed_on", "due_by")} \
        == {"loan_id": loan_id, "agreement_id": agreement["id"], "amount": "900000.00", "note": "Court filing attached",
            "status": "filed", "filed_on": today.isoformat(), "due_by": working_days_after(today, 7).isoformat()}
    replay = bank.post(f"/api/v1/loans/{loan_id}/claims", json={"amount": "900000.00", "note": "Court filing attached"},
                       headers={"Idempotency-Key": "refile-1"})
    assert replay.json == again.json and replay.headers["Idempotent-Replayed"] == "true"
    second = bank.post(f"/api/v1/loans/{loan_id}/claims", json={"amount": "900000.00"})
    assert second.status_code == 409 and second.mimetype == "application/problem+json"
    assert [(c["id"], c["status"]) for c in bank.get(f"/api/v1/loans/{loan_id}").json["claims"]] == [
        (claim["id"], "rejected"), (again.json["id"], "filed")]
    assert attach(as_role, again.json["id"], PDF).status_code == 201
    paid = decide(as_role, again.json["id"], decision="pay")
    assert paid.json["allocation"]["loss"] == "900000.00"
    assert bank.post(f"/api/v1/loans/{loan_id}/claims", json={"amount": "1.00"}).status_code == 409  # paid once
    verified(app)


def test_a_claim_is_filed_again_only_on_a_defaulted_loan_under_review(as_role, world, make):
    _review, (performing,) = agreement_with_loans(as_role, world, make, code="ZJ-REVIEW")
    _automatic, (settled,) = agreement_with_loans(as_role, world, make, claim_mode="automatic", code="ZJ-AUTO")
    report(as_role, settled, "overdue", "default")
    bank = as_role("bank")
    assert bank.post(f"/api/v1/loans/{performing}/claims", json={"amount": "1.00"}).status_code == 409
    assert bank.post(f"/api/v1/loans/{settled}/claims", json={"amount": "1.00"}).status_code == 409
    assert bank.post(f"/api/v1/loans/{settled}/claims", json={}).status_code == 422
    assert bank.get("/api/v1/claims").json == []


# Recovery before payment -----------------------------------------------------------------------------------------

def test_recovery_before_payment_shrinks_the_claim_and_in_full_withdraws_it(app, as_role, filed):
    _agreement, claim = filed
    loan_id = claim["loan_id"]
    report(as_role, loan_id, "recovery", amount="400000.00")
    assert as_role("bank").get(f"/api/v1/claims/{claim['id']}").json["amount"] == "600000.00"
    loan = as_role("bank").get(f"/api/v1/loans/{loan_id}").json
    assert (loan["status"], loan["outstanding"]) == ("recovering", "600000.00")
    # Nobody but the bank has borne anything yet, so the bank takes the whole recovery.
    assert [(r["amount"], r["bank"], r["agency"]) for r in loan["recoveries"]] == [("400000.00", "400000.00", "0.00")]
    report(as_role, loan_id, "recovery", amount="600000.00")
    withdrawn = as_role("bank").get(f"/api/v1/claims/{claim['id']}").json
    assert (withdrawn["status"], withdrawn["amount"], withdrawn["allocation"]) == ("withdrawn", "600000.00", None)
    assert withdrawn["reason"] and withdrawn["decided_at"]
    assert decide(as_role, claim["id"], decision="pay").status_code == 409
    assert as_role("bank").get(f"/api/v1/loans/{loan_id}").json["status"] == "closed"
    assert [e["kind"] for e in journal(as_role, loan_id)].count("default") == 1  # the loss booked, never shared
    verified(app)


# Other tenants ---------------------------------------------------------------------------------------------------

def test_other_tenants_get_404_and_enterprises_403(as_role, world, make, login_api, filed, files):
    _agreement, claim = filed
    document = attach(as_role, claim["id"], PDF).json
    other_agency = login_api(make.user(Role.AGENCY, make.agency().id))
    path = f"/api/v1/claims/{claim['id']}"
    for outsider in (as_role("bank2"), other_agency):
        assert outsider.get(path).status_code == 404
        assert outsider.get(f"{path}/documents/{document['id']}").status_code == 404
        assert outsider.get("/api/v1/claims").json == []
    assert other_agency.post(f"{path}/decision", json={"decision": "pay"}).status_code == 404
    assert as_role("bank2").post(f"{path}/documents", content_type="multipart/form-data",
                                 data={"file": (io.BytesIO(PDF), "x.pdf")}).status_code == 404
    assert as_role("bank2").post(f"/api/v1/loans/{claim['loan_id']}/claims",
                                 json={"amount": "1.00"}).status_code == 404
    for who in ("enterprise", "enterprise2"):
        assert as_role(who).get(path).status_code == 403
        assert as_role(who).get("/api/v1/claims").status_code == 403
    assert as_role("bank").get(path).json["status"] == "filed"


# On time -----------------------------------------------------------------------------------------------------------

def test_the_agreement_counts_the_claims_it_paid_on_time(app, as_role, world, make):
    agreement, loans = agreement_with_loans(as_role, world, make, count=3)
    on_time, late, refused = (defaulted(as_role, loan_id) for loan_id in loans)
    with app.app_context():
        db.session.get(Claim, late["id"]).due_by = business_today() - dt.timedelta(days=1)
        db.session.commit()
    assert as_role("agency").get(f"/api/v1/claims/{late['id']}").json["overdue"] is True
    for claim in (on_time, late):
        assert decide(as_role, claim["id"], decision="pay").status_code == 200
    decide(as_role, refused["id"], decision="reject", reason="Fraud suspected")
    shown = as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json
    assert shown["claims_paid_on_time"] == {"paid": 2, "on_time": 1, "share": "0.5000"}
    assert as_role("bank").get(f"/api/v1/agreements/{agreement['id']}").json["claims_paid_on_time"] == \
        shown["claims_paid_on_time"]
    assert Decimal(shown["compensated_total"]) > 0
    verified(app)
