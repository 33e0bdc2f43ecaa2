"""Guarantee-backed approvals reserve quota; agencies submit and decide batches; the quota figures stay true."""

from decimal import Decimal

import pytest

from tests.guarantees.terms import PRODUCT

FEN = Decimal("0.01")


def quota(as_role, agreement_id):
    body = as_role("agency").get(f"/api/v1/agreements/{agreement_id}").json
    return body["quota_reserved"], body["quota_outstanding"], body["quota_available"]


def open_batch(as_role, agreement_id):
    (batch,) = as_role("agency").get(f"/api/v1/batches?status=open&agreement_id={agreement_id}").json
    return batch


def test_approval_reserves_quota_and_places_a_pending_guarantee_in_the_open_batch(as_role, active_agreement, approve):
    agreement = active_agreement()
    decision = approve("2000000.00")
    assert decision.status_code == 200, decision.json
    assert decision.json["status"] == "approved" and decision.json["loan_id"] is None
    assert decision.json["guarantee_id"] is not None
    assert quota(as_role, agreement["id"]) == ("2000000.00", "0.00", "8000000.00")
    batch = as_role("agency").get(f"/api/v1/batches/{open_batch(as_role, agreement['id'])['id']}").json
    assert (batch["status"], batch["item_count"], batch["total_amount"]) == ("open", 1, "2000000.00")
    (item,) = batch["items"]
    assert item["status"] == "pending" and item["tier"] == "srdi" and item["fee_rate"] == "0.0100"
    assert item["loan_id"] is None and item["amount"] == "2000000.00"


def test_one_open_batch_per_agreement_collects_every_approval(as_role, active_agreement, approve):
    agreement = active_agreement()
    approve("1000000.00")
    approve("1500000.00", who="enterprise2")
    batch = open_batch(as_role, agreement["id"])
    assert (batch["item_count"], batch["total_amount"]) == (2, "2500000.00")


def test_deciding_excludes_some_approves_the_rest_and_releases_quota(as_role, active_agreement, approve):
    agreement = active_agreement()
    kept = approve("2000000.00").json
    excluded = approve("1000000.00", who="enterprise2").json
    agency = as_role("agency")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    assert agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": []}).status_code == 409
    assert agency.post(f"/api/v1/batches/{batch_id}/submit").json["status"] == "submitted"
    decided = agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": [
        {"guarantee_id": excluded["guarantee_id"], "reason": "Sector over our concentration limit"}]})
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "decided"
    items = {item["guarantee_id"]: item for item in decided.json["items"]}
    assert items[excluded["guarantee_id"]]["status"] == "rejected"
    assert items[excluded["guarantee_id"]]["reason"] == "Sector over our concentration limit"
    approved = items[kept["guarantee_id"]]
    assert approved["status"] == "approved" and approved["loan_id"] is not None
    assert quota(as_role, agreement["id"]) == ("2000000.00", "0.00", "8000000.00")
    loan = as_role("bank").get(f"/api/v1/loans/{approved['loan_id']}").json
    assert (loan["principal"], loan["status"], loan["interest_rate"]) == ("2000000.00", "approved", "0.0330")
    rejected_app = as_role("bank").get(f"/api/v1/applications/{excluded['id']}").json
    assert rejected_app["status"] == "guarantee_unavailable"


def test_a_repeated_decision_with_the_same_key_changes_nothing(as_role, active_agreement, approve):
    agreement = active_agreement()
    approve("2000000.00")
    agency = as_role("agency")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    agency.post(f"/api/v1/batches/{batch_id}/submit")
    first = agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": []},
                        headers={"Idempotency-Key": "batch-decision-1"})
    again = agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": []},
                        headers={"Idempotency-Key": "batch-decision-1"})
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    without_key = agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": []})
    assert without_key.status_code == 409


def test_other_agencies_get_404_and_banks_get_403(as_role, active_agreement, approve, make, login_api):
    from marketplace.auth.models import Role

    agreement = active_agreement()
    approve("2000000.00")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    other = login_api(make.user(Role.AGENCY, make.agency().id))
    assert other.get(f"/api/v1/batches/{batch_id}").status_code == 404
    assert other.post(f"/api/v1/batches/{batch_id}/submit").status_code == 404
    assert as_role("bank").post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": []}).status_code == 403


def test_excluding_an_item_of_another_batch_is_422(as_role, active_agreement, approve):
    agreement = active_agreement()
    approve("2000000.00")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    as_role("agency").post(f"/api/v1/batches/{batch_id}/submit")
    response = as_role("agency").post(f"/api/v1/batches/{batch_id}/decision",
                                      json={"exclusions": [{"guarantee_id": 999999, "reason": "x"}]})
    assert response.status_code == 422 and "exclusions" in response.json["errors"]


def test_items_under_the_auto_approve_threshold_are_approved_at_submission(as_role, active_agreement, approve):
    agreement = active_agreement(auto_approve_below="1500000.00")
    small = approve("1000000.00").json
    large = approve("2000000.00", who="enterprise2").json
    batch_id = open_batch(as_role, agreement["id"])["id"]
    submitted = as_role("agency").post(f"/api/v1/batches/{batch_id}/submit").json
    statuses = {item["guarantee_id"]: item["status"] for item in submitted["items"]}
    assert statuses == {small["guarantee_id"]: "approved", large["guarantee_id"]: "pending"}


def test_a_full_batch_is_submitted_by_itself(as_role, active_agreement, approve):
    agreement = active_agreement(batch_max_size=2)
    approve("1000000.00")
    approve("1000000.00", who="enterprise2")
    batches = as_role("agency").get(f"/api/v1/batches?agreement_id={agreement['id']}").json
    assert [(b["status"], b["item_count"]) for b in batches] == [("submitted", 2)]


def test_not_enough_quota_is_409_and_the_application_becomes_guarantee_unavailable(as_role, active_agreement,
                                                                                  route, decide):
    agreement = active_agreement(total_quota="3000000.00", per_enterprise_cap="3000000.00")
    first, second = route("2000000.00"), route("1500000.00", who="enterprise2")  # both offered while quota lasts
    assert decide(first).status_code == 200
    refused = decide(second)
    assert refused.status_code == 409
    assert "quota" in refused.json["detail"]
    applications = as_role("bank").get("/api/v1/applications?status=guarantee_unavailable").json
    assert len(applications) == 1
    assert quota(as_role, agreement["id"]) == ("2000000.00", "0.00", "1000000.00")


def test_the_per_enterprise_cap_holds_across_loans(as_role, active_agreement, route, decide, approve):
    agreement = active_agreement(per_enterprise_cap="3000000.00")
    first, second = route("2000000.00"), route("1500000.00")
    assert decide(first).status_code == 200
    assert decide(second).status_code == 409  # same enterprise: 3,500,000 > 3,000,000
    assert approve("1500000.00", who="enterprise2").status_code == 200
    assert quota(as_role, agreement["id"])[0] == "3500000.00"




def test_matching_counts_what_the_enterprise_already_holds_under_the_agreement(as_role, active_agreement, approve):
    active_agreement(per_enterprise_cap="3000000.00")
    assert approve("2000000.00").status_code == 200
    again = as_role("enterprise").post("/api/v1/financing-requests", json={"amount": "1500000.00", "term_months": 12,
                                                                          "purpose": "More"}).json
    assert again["offers"] == []
    other = as_role("enterprise2").post("/api/v1/financing-requests", json={"amount": "1500000.00", "term_months": 12,
                                                                           "purpose": "More"}).json
    assert [o["agreement_id"] is not None for o in other["offers"]] == [True]


def test_quota_moves_by_exactly_the_approved_disbursed_excluded_and_repaid_amounts(as_role, active_agreement,
                                                                                  approve):
    agreement = active_agreement()
    kept = approve("2000000.00").json
    excluded = approve("1234567.89", who="enterprise2").json
    assert quota(as_role, agreement["id"]) == ("3234567.89", "0.00", "6765432.11")
    agency, bank = as_role("agency"), as_role("bank")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    agency.post(f"/api/v1/batches/{batch_id}/submit")
    decided = agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": [
        {"guarantee_id": excluded["guarantee_id"], "reason": "Concentration"}]}).json
    assert quota(as_role, agreement["id"]) == ("2000000.00", "0.00", "8000000.00")
    loan_id = next(i["loan_id"] for i in decided["items"] if i["guarantee_id"] == kept["guarantee_id"])

    disbursed = bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "disbursed", "occurred_on": "2026-11-30"},
                          headers={"Idempotency-Key": f"disb-{loan_id}"})
    assert disbursed.status_code == 201 and disbursed.json["amount"] == "2000000.00"
    replay = bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "disbursed", "occurred_on": "2026-11-30"},
                       headers={"Idempotency-Key": f"disb-{loan_id}"})
    assert replay.json == disbursed.json
    assert quota(as_role, agreement["id"]) == ("0.00", "2000000.00", "8000000.00")
    assert agency.get(f"/api/v1/agreements/{agreement['id']}").json["guaranteed_total"] == "2000000.00"

    # A repayment pays interest first: only its principal part releases quota, to the fen.
    repaid = bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "repayment", "amount": "500000.01",
                                                               "occurred_on": "2027-05-30"}).json
    principal = Decimal(repaid["principal"])
    assert Decimal(repaid["interest"]) + principal == Decimal("500000.01") and 0 < principal < Decimal("500000.01")
    assert quota(as_role, agreement["id"]) == ("0.00", f"{Decimal('2000000.00') - principal}",
                                               f"{Decimal('8000000.00') + principal}")
    loan = bank.get(f"/api/v1/loans/{loan_id}").json
    assert (loan["status"], loan["outstanding"]) == ("repaying", f"{Decimal('2000000.00') - principal}")
    assert loan["guarantee"]["status"] == "active" and loan["guarantee"]["agreement_id"] == agreement["id"]

    plan = bank.get(f"/api/v1/loans/{loan_id}/schedule").json
    owed = sum(Decimal(p["total"]) for p in plan["periods"]) - Decimal("500000.01")
    too_much = bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "repayment", "amount": f"{owed + FEN}",
                                                                 "occurred_on": "2027-06-30"})
    assert too_much.status_code == 422 and f"{owed:,.2f}" in too_much.json["errors"]["amount"][0]
    bank.post(f"/api/v1/loans/{loan_id}/events", json={"type": "repayment", "amount": f"{owed}",
                                                      "occurred_on": "2027-11-30"})
    assert quota(as_role, agreement["id"]) == ("0.00", "0.00", "10000000.00")
    loan = bank.get(f"/api/v1/loans/{loan_id}").json
    assert (loan["status"], loan["outstanding"], loan["guarantee"]["status"]) == ("repaid", "0.00", "released")


def test_loan_events_are_the_banks_and_follow_the_lifecycle(as_role, routed_loan):
    loan_id = routed_loan
    assert as_role("bank2").post(f"/api/v1/loans/{loan_id}/events",
                                 json={"type": "disbursed", "occurred_on": "2026-11-30"}).status_code == 404
    assert as_role("enterprise").post(f"/api/v1/loans/{loan_id}/events",
                                      json={"type": "disbursed", "occurred_on": "2026-11-30"}).status_code == 403
    early = as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json={"type": "repayment", "amount": "1.00",
                                                                         "occurred_on": "2026-11-30"})
    assert early.status_code == 409
    not_yet_overdue = as_role("bank").post(f"/api/v1/loans/{loan_id}/events",
                                           json={"type": "default", "occurred_on": "2026-11-30"})
    assert not_yet_overdue.status_code == 409 and "approved" in not_yet_overdue.json["detail"]
    assert as_role("bank").post(f"/api/v1/loans/{loan_id}/events",
                                json={"type": "disbursed", "occurred_on": "2026-11-30"}).status_code == 201
    again = as_role("bank").post(f"/api/v1/loans/{loan_id}/events",
                                 json={"type": "disbursed", "occurred_on": "2026-12-01"})
    assert again.status_code == 409
    request = as_role("enterprise").get("/api/v1/financing-requests").json[0]
    assert request["status"] == "funded"


@pytest.fixture
def routed_loan(as_role):
    """A loan without a guarantee, approved by the bank."""
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json={**PRODUCT, "name": "Plain", "guarantee": "none"}).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    created = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "x"}).json
    routed = as_role("enterprise").post(f"/api/v1/financing-requests/{created['id']}/select",
                                        json={"offer_id": created["offers"][0]["id"]}).json
    return bank.post(f"/api/v1/applications/{routed['application']['id']}/decision",
                     json={"decision": "approved"}).json["loan_id"]


def test_a_batch_decision_writes_an_audit_entry_for_each_guarantee_application_and_loan_it_changes(
        as_role, active_agreement, approve):
    agreement = active_agreement()
    kept = [approve("1000000.00").json, approve("1200000.00", who="enterprise2").json]
    excluded = approve("800000.00").json
    agency = as_role("agency")
    batch_id = open_batch(as_role, agreement["id"])["id"]
    agency.post(f"/api/v1/batches/{batch_id}/submit")
    decided = agency.post(f"/api/v1/batches/{batch_id}/decision", json={"exclusions": [
        {"guarantee_id": excluded["guarantee_id"], "reason": "担保物权属不清"}]})
    assert decided.status_code == 200, decided.json
    loans = {item["guarantee_id"]: item["loan_id"] for item in decided.json["items"]}

    entries = as_role("admin").get("/api/v1/audit?page_size=500").json
    by_decision = [entry for entry in entries if entry["request_id"] == decided.headers["X-Request-ID"]]
    seen = sorted((entry["action"], entry["object_id"]) for entry in by_decision)
    assert seen == sorted([
        ("batch.decided", batch_id),
        ("agreement.updated", agreement["id"]),  # the excluded item's quota released
        *[("guarantee.approved", application["guarantee_id"]) for application in kept],
        ("guarantee.rejected", excluded["guarantee_id"]),
        *[("loan.created", loans[application["guarantee_id"]]) for application in kept],
        ("application.guarantee_unavailable", excluded["id"]),
        ("financing_request.declined", as_role("bank").get(
            f"/api/v1/applications/{excluded['id']}").json["request_id"]),
    ]), seen
    rejected = next(entry for entry in by_decision if entry["action"] == "guarantee.rejected")
    assert rejected["changes"]["reason"] == "担保物权属不清"
    assert rejected["changes"]["status"] == ["pending", "rejected"]
    assert {entry["organization_id"] for entry in by_decision} == {agreement["agency_id"]}
