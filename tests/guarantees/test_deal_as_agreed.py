"""The deal as agreed under a 总对总 agreement: a counter-offer reserves nothing until the enterprise accepts it, the
agency's exclusion reason reaches the enterprise and the bank, and the timeline tells a guaranteed loan's story."""

import datetime as dt

from marketplace.dates import business_today
from tests.guarantees.test_batches_api import open_batch, quota


def test_a_counter_at_230_bp_over_the_offer_reserves_nothing_until_the_enterprise_accepts(
        as_role, active_agreement, route):
    agreement = active_agreement()
    application_id = route("2000000.00")
    bank, enterprise = as_role("bank"), as_role("enterprise")
    offered = bank.get(f"/api/v1/applications/{application_id}").json
    countered = bank.post(f"/api/v1/applications/{application_id}/decision", json={
        "decision": "approved", "rate_spread_bp": offered["offered_rate_spread_bp"] + 230,
        "reason": "Receivables concentrated on one customer"})
    assert countered.status_code == 200, countered.json
    assert countered.json["status"] == "countered"
    assert countered.json["loan_id"] is None and countered.json["guarantee_id"] is None
    counter = countered.json["counter"]
    assert counter["rate_spread_bp"] == offered["offered_rate_spread_bp"] + 230
    assert counter["guarantee_fee_rate"] == offered["offered_guarantee_fee_rate"]
    assert counter["all_in_rate"] == f"{float(counter['interest_rate']) + float(counter['guarantee_fee_rate']):.4f}"
    assert quota(as_role, agreement["id"]) == ("0.00", "0.00", "10000000.00")
    assert as_role("agency").get(f"/api/v1/batches?status=open&agreement_id={agreement['id']}").json == []

    accepted = enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept")
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "approved" and accepted.json["guarantee_id"] is not None
    assert quota(as_role, agreement["id"]) == ("2000000.00", "0.00", "8000000.00")
    batch = as_role("agency").get(f"/api/v1/batches/{open_batch(as_role, agreement['id'])['id']}").json
    assert [item["application_id"] for item in batch["items"]] == [application_id]


def test_accepting_when_the_quota_is_gone_is_409_and_the_application_guarantee_unavailable(
        as_role, active_agreement, route):
    active_agreement(total_quota="2500000.00", per_enterprise_cap="2500000.00", per_loan_cap="2500000.00")
    first, second = route("2000000.00"), route("2000000.00", who="enterprise2")
    bank = as_role("bank")
    bank.post(f"/api/v1/applications/{first}/decision", json={
        "decision": "approved", "rate_spread_bp": 200, "reason": "Higher risk"})
    assert bank.post(f"/api/v1/applications/{second}/decision", json={"decision": "approved"}).status_code == 200
    accepted = as_role("enterprise").post(f"/api/v1/applications/{first}/counter-offer/accept")
    assert accepted.status_code == 409
    assert bank.get(f"/api/v1/applications/{first}").json["status"] == "guarantee_unavailable"


def test_the_agencys_exclusion_reason_reaches_the_enterprise_and_the_bank(as_role, active_agreement, route):
    agreement = active_agreement()
    application_id = route("2000000.00")
    bank, agency, enterprise = as_role("bank"), as_role("agency"), as_role("enterprise")
    bank.post(f"/api/v1/applications/{application_id}/decision", json={"decision": "approved"})
    batch = open_batch(as_role, agreement["id"])
    agency.post(f"/api/v1/batches/{batch['id']}/submit")
    guarantee_id = agency.get(f"/api/v1/batches/{batch['id']}").json["items"][0]["guarantee_id"]
    reason = "Related-party guarantees exceed our limit"
    decided = agency.post(f"/api/v1/batches/{batch['id']}/decision",
                          json={"exclusions": [{"guarantee_id": guarantee_id, "reason": reason}]})
    assert decided.status_code == 200, decided.json

    application = bank.get(f"/api/v1/applications/{application_id}").json
    assert application["status"] == "guarantee_unavailable" and application["reason"] == reason
    assert agency.get(f"/api/v1/applications/{application_id}").json["reason"] == reason
    request = enterprise.get(f"/api/v1/financing-requests/{application['request_id']}").json
    assert request["status"] == "declined"
    assert request["applications"][0]["reason"] == reason
    excluded = [e for e in request["timeline"] if e["event"] == "guarantee.excluded"]
    assert len(excluded) == 1 and reason in excluded[0]["detail"]
    kinds = {n["kind"] for n in enterprise.get("/api/v1/notifications").json}
    assert "application.decided" in kinds
    assert "guarantee.excluded" in {n["kind"] for n in bank.get("/api/v1/notifications").json}
    assert "batch.submitted" in {n["kind"] for n in agency.get("/api/v1/notifications").json}
    # Another agency, and a bank that is not the one asked, see nothing of it.
    assert as_role("bank2").get(f"/api/v1/applications/{application_id}").status_code == 404


def test_a_guaranteed_loans_timeline_from_filing_to_disbursement(as_role, active_agreement, route):
    agreement = active_agreement()
    application_id = route("2000000.00")
    bank, agency, enterprise = as_role("bank"), as_role("agency"), as_role("enterprise")
    bank.post(f"/api/v1/applications/{application_id}/decision", json={"decision": "approved"})
    batch = open_batch(as_role, agreement["id"])
    agency.post(f"/api/v1/batches/{batch['id']}/submit")
    agency.post(f"/api/v1/batches/{batch['id']}/decision", json={"exclusions": []})
    application = bank.get(f"/api/v1/applications/{application_id}").json
    disbursed = bank.post(f"/api/v1/loans/{application['loan_id']}/events", json={
        "type": "disbursed", "amount": "2000000.00", "occurred_on": business_today().isoformat()})
    assert disbursed.status_code == 201, disbursed.json

    timeline = enterprise.get(f"/api/v1/financing-requests/{application['request_id']}").json["timeline"]
    assert [e["event"] for e in timeline] == [
        "request.filed", "offer.chosen", "application.approved", "guarantee.placed", "batch.submitted",
        "guarantee.approved", "loan.created", "loan.disbursed"]
    times = [dt.datetime.fromisoformat(e["at"]) for e in timeline]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    by = {e["event"]: e["by"] for e in timeline}
    assert by["request.filed"] == by["offer.chosen"] == org_name(as_role, "enterprise")
    assert by["application.approved"] == by["guarantee.placed"] == by["loan.disbursed"] == org_name(as_role, "bank")
    assert by["guarantee.approved"] == org_name(as_role, "agency")
    assert all(e["by"] and e["title"] for e in timeline)
    # The bank and the agency read the same story on the application.
    assert [e["event"] for e in bank.get(f"/api/v1/applications/{application_id}").json["timeline"]] == \
        [e["event"] for e in timeline]
    assert [e["event"] for e in agency.get(f"/api/v1/applications/{application_id}").json["timeline"]] == \
        [e["event"] for e in timeline]
    # … and the enterprise and the bank on the loan.
    for who in (enterprise, bank):
        assert who.get(f"/api/v1/loans/{application['loan_id']}").json["timeline"] == timeline


def org_name(as_role, role):
    return as_role(role).get("/api/v1/auth/me").json["organization_name"]
