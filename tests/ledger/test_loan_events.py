"""Loan events follow the loan's lifecycle; bad amounts are 422 and change nothing; a key is applied once."""

from decimal import Decimal

import pytest

DISBURSE = {"type": "disbursed", "occurred_on": "2026-03-02"}


@pytest.fixture
def loan(scheme, as_role):
    loan_id = scheme(loans=1)["loans"][0]
    as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json=DISBURSE)
    return loan_id


def event(as_role, loan_id, key=None, **body):
    headers = {"Idempotency-Key": key} if key else {}
    return as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json={"occurred_on": "2026-09-01", **body},
                                headers=headers)


def test_a_loan_defaults_only_once_overdue_and_recovers_only_after_default(as_role, loan):
    assert event(as_role, loan, type="default").status_code == 409
    assert event(as_role, loan, type="recovery", amount="1.00").status_code == 409
    assert event(as_role, loan, type="overdue").status_code == 201
    assert event(as_role, loan, type="overdue").status_code == 409
    wrong = event(as_role, loan, type="default", amount="1.00")
    assert wrong.status_code == 422 and "1,000,000.00" in wrong.json["errors"]["amount"][0]
    assert event(as_role, loan, type="default").status_code == 201
    assert event(as_role, loan, type="repayment", amount="1.00").status_code == 409
    too_much = event(as_role, loan, type="recovery", amount="1000000.01")
    assert too_much.status_code == 422 and "amount" in too_much.json["errors"]
    assert event(as_role, loan, type="recovery", amount="999999.99").status_code == 201
    assert as_role("bank").get(f"/api/v1/loans/{loan}").json["status"] == "recovering"
    assert event(as_role, loan, type="recovery", amount="0.01").status_code == 201
    closed = as_role("bank").get(f"/api/v1/loans/{loan}").json
    assert (closed["status"], closed["outstanding"], closed["guarantee"]["status"]) == ("closed", "0.00", "closed")
    assert sum(float(r["amount"]) for r in closed["recoveries"]) == 1000000


def test_an_overdue_loan_repaid_in_full_is_repaid(as_role, loan):
    event(as_role, loan, type="overdue")
    assert event(as_role, loan, type="repayment", amount="400000.00").status_code == 201
    assert as_role("bank").get(f"/api/v1/loans/{loan}").json["status"] == "overdue"  # five instalments were due
    plan = as_role("bank").get(f"/api/v1/loans/{loan}/schedule").json
    owed = sum(Decimal(p["total"]) for p in plan["periods"]) - Decimal("400000.00")
    event(as_role, loan, type="repayment", amount=f"{owed}")
    assert as_role("bank").get(f"/api/v1/loans/{loan}").json["status"] == "repaid"


def test_an_event_before_the_disbursement_date_is_refused(as_role, loan):
    early = event(as_role, loan, type="overdue", occurred_on="2026-03-01")
    assert early.status_code == 422 and "occurred_on" in early.json["errors"]


def test_one_key_is_one_event_and_another_event_under_it_is_a_conflict(as_role, loan):
    first = event(as_role, loan, key="bank-evt-1", type="repayment", amount="100.00")
    assert event(as_role, loan, key="bank-evt-1", type="repayment", amount="100.00").json == first.json
    assert event(as_role, loan, key="bank-evt-1", type="repayment", amount="200.00").status_code == 409
    repaid = as_role("bank").get(f"/api/v1/loans/{loan}").json  # once: 100.00 of the first period's interest
    assert (repaid["interest_paid"], repaid["principal_repaid"], repaid["outstanding"]) == ("100.00", "0.00",
                                                                                           "1000000.00")


def test_a_loan_without_a_guarantee_leaves_the_whole_loss_with_the_bank(as_role, world):
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json={
        "name": "Plain credit", "product_type": "credit", "amount_min": "100000.00", "amount_max": "900000.00",
        "term_min_months": 6, "term_max_months": 24, "rate_spread_bp": 80, "eligible_tiers": ["srdi"],
        "guarantee": "none"}).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    request = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "500000.00", "term_months": 12, "purpose": "Stock", "accept_guarantee": False}).json
    routed = as_role("enterprise").post(f"/api/v1/financing-requests/{request['id']}/select",
                                        json={"offer_id": request["offers"][0]["id"]}).json
    loan_id = bank.post(f"/api/v1/applications/{routed['application']['id']}/decision",
                        json={"decision": "approved"}).json["loan_id"]
    for body in (DISBURSE, {"type": "overdue"}, {"type": "default"}):
        assert event(as_role, loan_id, **body).status_code == 201
    (loss,) = bank.get(f"/api/v1/loans/{loan_id}").json["defaults"]
    assert (loss["loss"], loss["bank_borne"], loss["agency_compensation"]) == ("500000.00", "500000.00", "0.00")
    event(as_role, loan_id, type="recovery", amount="50000.00")
    (recovery,) = bank.get(f"/api/v1/loans/{loan_id}").json["recoveries"]
    assert (recovery["bank"], recovery["agency"]) == ("50000.00", "0.00")
    trial = as_role("admin").get("/api/v1/ledger/trial-balance").json
    assert trial["balanced"] and next(a for a in trial["accounts"] if a["code"] ==
                                      f"bank:{world.bank.id}:credit_loss")["balance"] == "-500000.00"
