"""Issue 5's worked example, to the fen, through the API: fees with the SRDI cap and 降费奖补, a pool deposit,
two defaults (the second one hits the 5 % compensation cap and suspends the agreement), a deposit that pays the
pool's claims first, and a recovery shared back. After every step the trial balance balances, `flask ledger
verify` exits 0, and replaying the step's request with its key changes nothing."""

from decimal import Decimal

import pytest

DISBURSED_ON = "2026-03-02"


@pytest.fixture
def example(scheme):
    return scheme(loans=10)


def check(app, as_role):
    """The trial balance balances and `flask ledger verify` exits 0."""
    trial = as_role("admin").get("/api/v1/ledger/trial-balance").json
    assert trial["balanced"] is True and trial["total_debits"] == trial["total_credits"]
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, (result.output, result.exception)
    return trial


def step(client, path, body, key):
    """POST with an Idempotency-Key, then replay it: the replay answers the same and posts nothing."""
    first = client.post(path, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.json
    return first.json


def replayed_changes_nothing(app, as_role, client, path, body, key):
    before = as_role("admin").get("/api/v1/ledger/journal?page_size=500").headers["X-Total-Count"]
    trial = as_role("admin").get("/api/v1/ledger/trial-balance").json
    again = client.post(path, json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert as_role("admin").get("/api/v1/ledger/journal?page_size=500").headers["X-Total-Count"] == before
    assert as_role("admin").get("/api/v1/ledger/trial-balance").json == trial


def with_interest(bank, loan_id, principal):
    """`principal` plus the interest accrued on the line by 2026-09-02: its first six monthly periods' (03-02 on)."""
    periods = bank.get(f"/api/v1/loans/{loan_id}/schedule").json["periods"]
    return f"{sum(Decimal(p['interest']) for p in periods[:6]) + Decimal(principal)}"


def balance_of(trial, code):
    return next(a["balance"] for a in trial["accounts"] if a["code"] == code)


def test_the_worked_example_holds_to_the_fen(app, as_role, example, world):
    admin, bank, agency = as_role("admin"), as_role("bank"), as_role("agency")
    agreement_id, pool_id, loans = example["agreement"]["id"], example["pool"]["id"], example["loans"]

    # Ten loans of 1,000,000.00 for 12 months, disbursed on 2026-03-02 (365 days), as 随借随还 lines: a repayment
    # pays the interest accrued to its day, then principal, so that principal can be repaid to the fen.
    for n, loan_id in enumerate(loans):
        path, body = f"/api/v1/loans/{loan_id}/events", {"type": "disbursed", "occurred_on": DISBURSED_ON,
                                                         "repayment_method": "revolving"}
        step(bank, path, body, f"disburse-{n}")
        replayed_changes_nothing(app, as_role, bank, path, body, f"disburse-{n}")
        guarantee = bank.get(f"/api/v1/loans/{loan_id}").json["guarantee"]
        assert (guarantee["fee_days"], guarantee["list_fee"], guarantee["fee_charged"], guarantee["fiscal_subsidy"],
                guarantee["agency_fee_income"]) == (365, "10000.00", "5000.00", "2500.00", "7500.00")
        check(app, as_role)
    statement = agency.get(f"/api/v1/agreements/{agreement_id}/statement").json
    assert statement["guaranteed_total"] == "10000000.00"
    assert (statement["fees_charged"], statement["fiscal_subsidies"], statement["agency_fee_income"]) == \
        ("50000.00", "25000.00", "75000.00")

    # Pool deposit 100,000.00.
    deposit = f"/api/v1/risk-pools/{pool_id}/deposits"
    step(admin, deposit, {"amount": "100000.00"}, "deposit-1")
    replayed_changes_nothing(app, as_role, admin, deposit, {"amount": "100000.00"}, "deposit-1")
    assert admin.get(f"/api/v1/risk-pools/{pool_id}").json["balance"] == "100000.00"
    check(app, as_role)

    # Loan 1: 400,000.00 repaid, then overdue, then default with 600,000.00 outstanding.
    loan1, loan2 = loans[0], loans[1]
    step(bank, f"/api/v1/loans/{loan1}/events", {"type": "repayment", "amount": with_interest(bank, loan1, "400000.00"),
                                                 "occurred_on": "2026-09-02"}, "repay-1")
    step(bank, f"/api/v1/loans/{loan1}/events", {"type": "overdue", "occurred_on": "2026-10-02"}, "overdue-1")
    path, body = f"/api/v1/loans/{loan1}/events", {"type": "default", "occurred_on": "2026-12-31"}
    step(bank, path, body, "default-1")
    replayed_changes_nothing(app, as_role, bank, path, body, "default-1")
    (loss,) = bank.get(f"/api/v1/loans/{loan1}").json["defaults"]
    assert loss == {"loan_id": loan1, "occurred_on": "2026-12-31", "loss": "600000.00", "bank_borne": "120000.00",
                    "beyond_cap": "0.00", "agency_compensation": "480000.00", "agency_net": "240000.00",
                    "reguarantee": "120000.00", "risk_pool_paid": "100000.00", "risk_pool_claim": "20000.00"}
    agreement = agency.get(f"/api/v1/agreements/{agreement_id}").json
    assert (agreement["compensation_rate"], agreement["status"]) == ("0.0480", "active")
    check(app, as_role)

    # Loan 2: default with 100,000.00 outstanding; the cap allows 20,000.00 more compensation.
    step(bank, f"/api/v1/loans/{loan2}/events", {"type": "repayment", "amount": with_interest(bank, loan2, "900000.00"),
                                                 "occurred_on": "2026-09-02"}, "repay-2")
    step(bank, f"/api/v1/loans/{loan2}/events", {"type": "overdue", "occurred_on": "2026-10-02"}, "overdue-2")
    path, body = f"/api/v1/loans/{loan2}/events", {"type": "default", "occurred_on": "2027-01-02"}
    step(bank, path, body, "default-2")
    replayed_changes_nothing(app, as_role, bank, path, body, "default-2")
    (loss,) = bank.get(f"/api/v1/loans/{loan2}").json["defaults"]
    assert {k: loss[k] for k in ("loss", "agency_compensation", "bank_borne", "beyond_cap", "agency_net",
                                 "reguarantee", "risk_pool_paid", "risk_pool_claim")} == {
        "loss": "100000.00", "agency_compensation": "20000.00", "bank_borne": "80000.00", "beyond_cap": "60000.00",
        "agency_net": "10000.00", "reguarantee": "5000.00", "risk_pool_paid": "0.00", "risk_pool_claim": "5000.00"}
    agreement = agency.get(f"/api/v1/agreements/{agreement_id}").json
    assert (agreement["compensation_rate"], agreement["status"]) == ("0.0500", "suspended")
    pool = admin.get(f"/api/v1/risk-pools/{pool_id}").json
    assert (pool["balance"], pool["claims_outstanding"]) == ("0.00", "25000.00")
    check(app, as_role)

    # A suspended agreement gets no new offers; the agency cannot resume it past the cap.
    request = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "More"}).json
    assert all(o["agreement_id"] != agreement_id for o in request["offers"])
    assert agency.post(f"/api/v1/agreements/{agreement_id}/resume").status_code == 409

    # Pool deposit 50,000.00: the 25,000.00 of claims are paid first.
    step(admin, deposit, {"amount": "50000.00"}, "deposit-2")
    replayed_changes_nothing(app, as_role, admin, deposit, {"amount": "50000.00"}, "deposit-2")
    pool = admin.get(f"/api/v1/risk-pools/{pool_id}").json
    assert (pool["balance"], pool["claims_outstanding"], pool["deposited"], pool["paid_out"]) == \
        ("25000.00", "0.00", "150000.00", "125000.00")
    check(app, as_role)

    # Recovery of 60,000.00 on loan 1, shared as the loss was borne.
    path, body = f"/api/v1/loans/{loan1}/events", {"type": "recovery", "amount": "60000.00",
                                                   "occurred_on": "2027-03-01"}
    step(bank, path, body, "recovery-1")
    replayed_changes_nothing(app, as_role, bank, path, body, "recovery-1")
    (recovery,) = bank.get(f"/api/v1/loans/{loan1}").json["recoveries"]
    assert {k: recovery[k] for k in ("amount", "bank", "agency", "reguarantee", "risk_pool")} == {
        "amount": "60000.00", "bank": "12000.00", "agency": "24000.00", "reguarantee": "12000.00",
        "risk_pool": "12000.00"}
    assert admin.get(f"/api/v1/risk-pools/{pool_id}").json["balance"] == "37000.00"
    trial = check(app, as_role)
    assert balance_of(trial, f"risk_pool:{pool_id}:cash") == "37000.00"
    assert balance_of(trial, f"agency:{world.agency.id}:fee_income") == "50000.00"
    assert balance_of(trial, f"agency:{world.agency.id}:fee_subsidy") == "25000.00"


def test_offers_show_the_fee_after_the_rules_and_the_rules_that_applied(scheme, as_role):
    agreement_id = scheme(loans=0)["agreement"]["id"]
    request = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Working capital"}).json
    offer = next(o for o in request["offers"] if o["agreement_id"] == agreement_id)
    assert (offer["list_fee_rate"], offer["guarantee_fee_rate"], offer["fee_subsidy_rate"]) == \
        ("0.0100", "0.0050", "0.0025")
    assert offer["all_in_rate"] == "0.0380"  # LPR 0.0300 + 30 bp + the 0.0050 fee
    assert [(r["name"], r["effect"]) for r in offer["applied_rules"]] == [
        ("SRDI fee cap", {"kind": "cap_fee_rate", "value": "0.0050"}),
        ("降费奖补", {"kind": "fiscal_subsidy_share", "value": "0.5000"})]
