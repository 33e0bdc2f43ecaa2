"""Loans after approval through the API (issue 20, API.md §Loans after approval): the disbursement fixes the contract
and the repayment method (the product type's by default), and GET /loans/{id}/schedule draws the schedule to the fen;
repayments pay the oldest period first, interest before principal, and more than is owed is refused; a revolving
line accrues interest by the day; the scheduler finds a loan overdue the day after an unpaid due date, and paying
the arrears cures it; a renewal (无还本续贷) closes the loan into a new one and releases its guarantee.

The figures are the acceptance figures of tests/unit/test_schedule.py: 1,200,000.00 at 3.30 % (LPR 3.00 % + 30 bp)
for 12 months from 2026-01-15, and a revolving line of 1,000,000.00 at 3.60 % (100.00 a day)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from marketplace.dates import SHANGHAI
from marketplace.scheduler.runner import JOBS, run_job
from tests.guarantees.test_claims_api import agreement_with_loans
from tests.scheduler.helpers import said

START = "2026-01-15"
#: Where each period falls due: the 15th, or the next working day (Spring Festival runs 02-15 to 02-23; 03-15,
#: 08-15 and 11-15 are weekend days).
DUE = ["2026-02-24", "2026-03-16", "2026-04-15", "2026-05-15", "2026-06-15", "2026-07-15", "2026-08-17",
       "2026-09-15", "2026-10-15", "2026-11-16", "2026-12-15", "2027-01-15"]
#: 等额本息: the annuity P·r(1+r)^12 / ((1+r)^12 − 1) at r = 0.0330 / 12 is 101,796.50; interest on the balance
#: before each period, the last period taking what is left. (principal, interest) per period.
EQUAL_INSTALLMENT = [
    ("98496.50", "3300.00"), ("98767.37", "3029.13"), ("99038.98", "2757.52"), ("99311.33", "2485.17"),
    ("99584.44", "2212.06"), ("99858.30", "1938.20"), ("100132.91", "1663.59"), ("100408.27", "1388.23"),
    ("100684.39", "1112.11"), ("100961.28", "835.22"), ("101238.92", "557.58"), ("101517.31", "279.17")]
#: 等额本金: 100,000.00 a month, interest on the balance before it: 3,300.00, 3,025.00, … 275.00.
EQUAL_PRINCIPAL = [("100000.00", f"{3300 - 275 * k}.00") for k in range(12)]
#: Everything an equal-principal loan asks for: the principal and 275.00 × (12 + 11 + … + 1) of interest.
EQUAL_PRINCIPAL_OWED = Decimal("1221450.00")


def by_hand(method: str, principal: Decimal = Decimal("1200000.00"), rate: Decimal = Decimal("0.0330"),
            months: int = 12) -> list[tuple[str, str]]:
    """The textbook schedule, worked here apart from the marketplace's code: the monthly rate is the annual ÷ 12,
    interest is the balance before the period × the monthly rate, every figure half-up to the fen, and the last period
    repays what is left. 等额本息 pays P·r(1+r)^n / ((1+r)^n − 1) a month; 等额本金 repays P / n a month."""
    fen, monthly = Decimal("0.01"), rate / 12
    growth = (1 + monthly) ** months
    instalment = (principal * monthly * growth / (growth - 1)).quantize(fen, ROUND_HALF_UP)
    balance, rows = principal, []
    for number in range(1, months + 1):
        interest = (balance * monthly).quantize(fen, ROUND_HALF_UP)
        if number == months:
            repaid = balance
        elif method == "equal_principal":
            repaid = (principal / months).quantize(fen, ROUND_HALF_UP)
        else:
            repaid = instalment - interest
        balance -= repaid
        rows.append((f"{repaid:.2f}", f"{interest:.2f}"))
    return rows


def test_the_figures_below_are_the_textbook_formulas():
    assert by_hand("equal_installment") == EQUAL_INSTALLMENT
    assert by_hand("equal_principal") == EQUAL_PRINCIPAL


def product(bank, product_type: str = "credit", spread: int = 30, name: str | None = None) -> int:
    """A published product without a guarantee, lending 100,000.00 to 10,000,000.00 for 1 to 36 months."""
    made = bank.post("/api/v1/products", json={
        "name": name or f"Plain {product_type}", "product_type": product_type, "amount_min": "100000.00",
        "amount_max": "10000000.00", "term_min_months": 1, "term_max_months": 36, "rate_spread_bp": spread,
        "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"})
    assert made.status_code == 201, made.json
    assert bank.post(f"/api/v1/products/{made.json['id']}/publish").status_code == 200
    return made.json["id"]


def lend(as_role, product_id: int, amount: str = "1200000.00", term: int = 12, who: str = "enterprise",
         bank: str = "bank") -> int:
    """A request of `who`'s, on `product_id`'s offer, approved by `bank`: → the loan (approved, not disbursed)."""
    enterprise = as_role(who)
    request = enterprise.post("/api/v1/financing-requests", json={
        "amount": amount, "term_months": term, "purpose": "Working capital", "accept_guarantee": False}).json
    offer = next(o for o in request["offers"] if o["product_id"] == product_id)
    routed = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select", json={"offer_id": offer["id"]})
    decided = as_role(bank).post(f"/api/v1/applications/{routed.json['application']['id']}/decision",
                                 json={"decision": "approved"})
    assert decided.status_code == 200 and decided.json["loan_id"], decided.json
    return decided.json["loan_id"]


def event(as_role, loan_id: int, key: str | None = None, **body):
    headers = {"Idempotency-Key": key} if key else {}
    return as_role("bank").post(f"/api/v1/loans/{loan_id}/events", json=body, headers=headers)


def disbursed(as_role, loan_id: int, **body) -> dict:
    answer = event(as_role, loan_id, type="disbursed", occurred_on=START, **body)
    assert answer.status_code == 201, answer.json
    return answer.json


def schedule(as_role, loan_id: int, on: str | None = None, who: str = "bank") -> dict:
    """The schedule as `who` reads it, on the business date `on` (today when None)."""
    if on is None:
        return as_role(who).get(f"/api/v1/loans/{loan_id}/schedule").json
    with time_machine.travel(dt.datetime.combine(dt.date.fromisoformat(on), dt.time(10), SHANGHAI), tick=False):
        return as_role(who).get(f"/api/v1/loans/{loan_id}/schedule").json


def loan(as_role, loan_id: int) -> dict:
    return as_role("bank").get(f"/api/v1/loans/{loan_id}").json


@pytest.fixture
def credit(as_role, world) -> int:
    """A credit product at LPR + 30 bp = 3.30 %."""
    return product(as_role("bank"))


@pytest.fixture
def equal_principal(as_role, credit) -> int:
    """1,200,000.00 for 12 months, disbursed 2026-01-15 to be repaid in equal principal."""
    loan_id = lend(as_role, credit)
    disbursed(as_role, loan_id, repayment_method="equal_principal")
    return loan_id


# Disbursement and the schedule -----------------------------------------------------------------------------------

def test_the_disbursement_fixes_the_contract_and_the_equal_installment_schedule(as_role, credit):
    loan_id = lend(as_role, credit)
    answer = disbursed(as_role, loan_id, contract_no="JK-2026-000123", repayment_method="equal_installment")
    assert (answer["type"], answer["amount"], answer["occurred_on"]) == ("disbursed", "1200000.00", START)
    shown = loan(as_role, loan_id)
    assert (shown["status"], shown["contract_no"], shown["repayment_method"], shown["disbursed_on"]) == (
        "disbursed", "JK-2026-000123", "equal_installment", START)
    plan = schedule(as_role, loan_id, on=START)
    assert (plan["method"], plan["annual_rate"], plan["disbursed_on"]) == ("equal_installment", "0.0330", START)
    assert [p["period"] for p in plan["periods"]] == list(range(1, 13))
    assert [p["due_on"] for p in plan["periods"]] == DUE
    assert [(p["principal"], p["interest"]) for p in plan["periods"]] == EQUAL_INSTALLMENT
    assert {p["total"] for p in plan["periods"][:-1]} == {"101796.50"} and plan["periods"][-1]["total"] == "101796.48"
    assert sum(Decimal(p["principal"]) for p in plan["periods"]) == Decimal("1200000.00")
    balance = Decimal("1200000.00")
    for period in plan["periods"]:
        balance -= Decimal(period["principal"])
        assert period["outstanding_after"] == f"{balance:.2f}"
    assert balance == 0
    assert [(p["paid"], p["status"]) for p in plan["periods"][:2]] == [("0.00", "due"), ("0.00", "upcoming")]
    assert plan["next_due"]["period"] == 1
    # The enterprise reads the same schedule; another bank or enterprise finds no such loan.
    assert schedule(as_role, loan_id, on=START, who="enterprise") == plan
    for outsider in ("bank2", "enterprise2"):
        assert as_role(outsider).get(f"/api/v1/loans/{loan_id}/schedule").status_code == 404
    assert as_role("agency").get(f"/api/v1/loans/{loan_id}/schedule").status_code == 403


def test_the_equal_principal_schedule_repays_a_twelfth_a_month(as_role, equal_principal):
    plan = schedule(as_role, equal_principal)
    assert plan["method"] == "equal_principal"
    assert [p["due_on"] for p in plan["periods"]] == DUE
    assert [(p["principal"], p["interest"]) for p in plan["periods"]] == EQUAL_PRINCIPAL
    assert [p["outstanding_after"] for p in plan["periods"]] == [f"{1200000 - 100000 * k}.00" for k in range(1, 13)]
    assert sum(Decimal(p["principal"]) for p in plan["periods"]) == Decimal("1200000.00")
    assert sum(Decimal(p["total"]) for p in plan["periods"]) == EQUAL_PRINCIPAL_OWED


@pytest.mark.parametrize(("product_type", "method"), [
    ("credit", "equal_installment"), ("term", "equal_principal"), ("renewal", "interest_monthly"),
    ("revolving", "revolving")])
def test_without_a_method_the_disbursement_takes_the_product_types(as_role, world, product_type, method):
    loan_id = lend(as_role, product(as_role("bank"), product_type))
    before = schedule(as_role, loan_id)
    assert (before["method"], before["periods"], before["next_due"]) == (method, [], None)  # nothing drawn yet
    disbursed(as_role, loan_id)
    assert loan(as_role, loan_id)["repayment_method"] == method
    plan = schedule(as_role, loan_id)
    assert plan["method"] == method and len(plan["periods"]) == 12
    assert sum(Decimal(p["principal"]) for p in plan["periods"]) == Decimal("1200000.00")
    if method == "interest_monthly":  # 按月付息到期还本: 3,300.00 a month, the principal at the end
        assert {p["interest"] for p in plan["periods"]} == {"3300.00"}
        assert [p["principal"] for p in plan["periods"]] == ["0.00"] * 11 + ["1200000.00"]


def test_a_method_the_bank_names_overrides_the_product_types(as_role, world):
    loan_id = lend(as_role, product(as_role("bank"), "term"))
    disbursed(as_role, loan_id, repayment_method="interest_monthly")
    assert schedule(as_role, loan_id)["method"] == "interest_monthly"


# Repayments --------------------------------------------------------------------------------------------------------

def test_repayments_pay_the_oldest_period_first_and_interest_before_principal(as_role, equal_principal):
    first = event(as_role, equal_principal, type="repayment", amount="50000.00", occurred_on="2026-02-10")
    assert first.status_code == 201, first.json
    assert (first.json["amount"], first.json["interest"], first.json["principal"]) == (
        "50000.00", "3300.00", "46700.00")
    # 53,300.00 finishes period 1, then period 2's interest (3,025.00) before 43,675.00 of its principal.
    second = event(as_role, equal_principal, type="repayment", amount="100000.00", occurred_on="2026-03-05")
    assert (second.json["interest"], second.json["principal"]) == ("3025.00", "96975.00")
    shown = loan(as_role, equal_principal)
    assert (shown["status"], shown["interest_paid"], shown["principal_repaid"], shown["outstanding"]) == (
        "repaying", "6325.00", "143675.00", "1056325.00")
    plan = schedule(as_role, equal_principal, on="2026-03-10")
    assert (plan["interest_paid"], plan["principal_repaid"]) == ("6325.00", "143675.00")
    assert [(p["paid"], p["status"]) for p in plan["periods"][:4]] == [
        ("103300.00", "paid"), ("46700.00", "partly_paid"), ("0.00", "upcoming"), ("0.00", "upcoming")]
    assert plan["next_due"]["period"] == 2
    # Once period 2's due date (03-16) has passed unpaid, it is overdue and still the one to pay next.
    late = schedule(as_role, equal_principal, on="2026-04-20")
    assert [p["status"] for p in late["periods"][:5]] == ["paid", "overdue", "overdue", "due", "upcoming"]
    assert late["next_due"]["period"] == 2


def test_more_than_is_owed_is_422_and_changes_nothing(as_role, equal_principal):
    event(as_role, equal_principal, type="repayment", amount="1000.00", occurred_on="2026-02-01")
    before, plan = loan(as_role, equal_principal), schedule(as_role, equal_principal)
    owed = EQUAL_PRINCIPAL_OWED - Decimal("1000.00")
    too_much = event(as_role, equal_principal, type="repayment", amount=f"{owed + Decimal('0.01')}",
                     occurred_on="2026-02-20", key="too-much")
    assert too_much.status_code == 422 and too_much.mimetype == "application/problem+json"
    assert too_much.json["errors"] == {"amount": [
        "Only 1,220,450.00 is owed (interest 20,450.00, principal 1,200,000.00)."]}
    assert loan(as_role, equal_principal) == before and schedule(as_role, equal_principal) == plan
    # Exactly what is owed repays the loan, every period paid (the refused call did not burn its key).
    paid_up = event(as_role, equal_principal, type="repayment", amount=f"{owed}", occurred_on="2026-02-20",
                    key="too-much")
    assert paid_up.status_code == 201
    assert (paid_up.json["interest"], paid_up.json["principal"]) == ("20450.00", "1200000.00")
    shown = loan(as_role, equal_principal)
    assert (shown["status"], shown["outstanding"]) == ("repaid", "0.00")
    done = schedule(as_role, equal_principal)
    assert {p["status"] for p in done["periods"]} == {"paid"} and done["next_due"] is None
    assert event(as_role, equal_principal, type="repayment", amount="0.01",
                 occurred_on="2026-02-21").status_code == 409
    refused = as_role("bank").post(f"/api/v1/loans/{equal_principal}/events", headers={"Accept-Language": "zh-CN"},
                                   json={"type": "repayment", "amount": "0.01", "occurred_on": "2026-02-21"})
    assert refused.status_code == 409 and "状态为“已还清”的贷款不能登记“还款”。" in refused.json["detail"]


def test_a_repayment_key_replays_the_first_answer_and_pays_once(as_role, equal_principal):
    first = event(as_role, equal_principal, key="bank-pay-77", type="repayment", amount="103300.00",
                  occurred_on="2026-02-24")
    again = event(as_role, equal_principal, key="bank-pay-77", type="repayment", amount="103300.00",
                  occurred_on="2026-02-24")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = event(as_role, equal_principal, key="bank-pay-77", type="repayment", amount="1.00",
                  occurred_on="2026-02-24")
    assert other.status_code == 409
    shown = loan(as_role, equal_principal)
    assert (shown["interest_paid"], shown["principal_repaid"]) == ("3300.00", "100000.00")
    assert schedule(as_role, equal_principal)["periods"][0]["status"] == "paid"


# Revolving -----------------------------------------------------------------------------------------------------------

def test_a_revolving_line_pays_interest_by_the_day_on_the_drawn_balance(as_role, world):
    loan_id = lend(as_role, product(as_role("bank"), "revolving", spread=60), amount="1000000.00", term=3)
    disbursed(as_role, loan_id)
    plan = schedule(as_role, loan_id)
    assert (plan["method"], plan["annual_rate"]) == ("revolving", "0.0360")
    # Untouched: 31, 28 and 31 days at 1,000,000.00 × 0.0360 / 360 = 100.00 a day; the principal at the end.
    assert [(p["due_on"], p["principal"], p["interest"]) for p in plan["periods"]] == [
        ("2026-02-24", "0.00", "3100.00"), ("2026-03-16", "0.00", "2800.00"), ("2026-04-15", "1000000.00", "3100.00")]
    # On 02-01, 17 days have accrued 1,700.00: the repayment pays it first, then 400,000.00 of principal.
    repaid = event(as_role, loan_id, type="repayment", amount="401700.00", occurred_on="2026-02-01")
    assert (repaid.json["interest"], repaid.json["principal"]) == ("1700.00", "400000.00")
    plan = schedule(as_role, loan_id, on="2026-02-10")
    # From 02-01 the balance is 600,000.00 (60.00 a day): period 1 is 17 days at 100.00 and 14 at 60.00.
    assert [(p["principal"], p["interest"], p["outstanding_after"]) for p in plan["periods"]] == [
        ("400000.00", "2540.00", "600000.00"), ("0.00", "1680.00", "600000.00"), ("600000.00", "1860.00", "0.00")]
    assert [(p["paid"], p["status"]) for p in plan["periods"]] == [
        ("401700.00", "partly_paid"), ("0.00", "upcoming"), ("0.00", "upcoming")]
    # On 03-01: period 1 (2,540.00) and 14 days at 60.00 (840.00) have accrued, 1,700.00 of it paid.
    over = event(as_role, loan_id, type="repayment", amount="601680.01", occurred_on="2026-03-01")
    assert over.status_code == 422
    assert over.json["errors"]["amount"] == ["Only 601,680.00 is owed (interest 1,680.00, principal 600,000.00)."]
    settled = event(as_role, loan_id, type="repayment", amount="601680.00", occurred_on="2026-03-01")
    assert (settled.json["interest"], settled.json["principal"]) == ("1680.00", "600000.00")
    shown = loan(as_role, loan_id)
    assert (shown["status"], shown["outstanding"], shown["interest_paid"]) == ("repaid", "0.00", "3380.00")
    plan = schedule(as_role, loan_id)
    assert [(p["principal"], p["interest"], p["status"]) for p in plan["periods"]] == [
        ("400000.00", "2540.00", "paid"), ("600000.00", "840.00", "paid")]


# Overdue -------------------------------------------------------------------------------------------------------

def _scan(app, day: str) -> str:
    run = run_job(app, JOBS["overdue_scan"], dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0, 30), SHANGHAI))
    return said(app, run)


def test_the_scheduler_finds_a_loan_overdue_the_day_after_an_unpaid_due_date_and_paying_the_arrears_cures_it(
        app, as_role, equal_principal):
    assert _scan(app, "2026-02-24").startswith("2026-02-24: 0 loans overdue")  # due today: not late yet
    assert loan(as_role, equal_principal)["status"] == "disbursed"
    assert _scan(app, "2026-02-25").startswith(f"2026-02-25: 1 loan overdue with a period unpaid ({equal_principal})")
    shown = loan(as_role, equal_principal)
    assert shown["status"] == "overdue"
    assert schedule(as_role, equal_principal, on="2026-02-25")["periods"][0]["status"] == "overdue"
    [notice] = [n for n in as_role("enterprise").get("/api/v1/notifications").json if n["kind"] == "loan.overdue"]
    assert "2026-02-25" in notice["body"]
    assert _scan(app, "2026-02-26").startswith("2026-02-26: 0 loans overdue")  # once
    # Less than the arrears leaves it overdue; the rest of them makes it performing again.
    assert event(as_role, equal_principal, type="repayment", amount="3300.00",
                 occurred_on="2026-02-26").status_code == 201
    assert loan(as_role, equal_principal)["status"] == "overdue"
    assert event(as_role, equal_principal, type="repayment", amount="100000.00",
                 occurred_on="2026-02-27").status_code == 201
    assert loan(as_role, equal_principal)["status"] == "repaying"
    plan = schedule(as_role, equal_principal, on="2026-02-27")
    assert [p["status"] for p in plan["periods"][:2]] == ["paid", "due"]
    # The next unpaid due date (03-16) passes too: overdue again on 03-17.
    assert _scan(app, "2026-03-16").startswith("2026-03-16: 0 loans overdue")
    assert _scan(app, "2026-03-17").startswith("2026-03-17: 1 loan overdue")


# Renewal (无还本续贷) ------------------------------------------------------------------------------------------------

@pytest.fixture
def renewal(as_role, world, make):
    """A guaranteed loan of 1,000,000.00 (automatic agreement) disbursed on 2026-01-15, and the renewal product."""
    agreement, (old,) = agreement_with_loans(as_role, world, make, claim_mode="automatic", code="ZJ-RENEW",
                                             disbursed_on=dt.date(2026, 1, 15))
    return agreement, old, product(as_role("bank"), "renewal", name="无还本续贷")


def test_a_renewal_disburses_the_new_loan_closes_the_old_and_releases_its_guarantee(as_role, renewal):
    agreement, old, renewal_product = renewal
    new = lend(as_role, renewal_product, amount="1000000.00")
    assert as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json["quota_outstanding"] == "1000000.00"
    renewed = event(as_role, old, key="renew-1", type="renewed", new_loan_id=new, occurred_on="2027-01-15")
    assert renewed.status_code == 201, renewed.json
    assert (renewed.json["type"], renewed.json["amount"], renewed.json["new_loan_id"]) == (
        "renewed", "1000000.00", new)
    closed, renewing = loan(as_role, old), loan(as_role, new)
    assert (closed["status"], closed["outstanding"], closed["guarantee"]["status"]) == ("closed", "0.00", "released")
    assert (renewing["status"], renewing["disbursed_on"], renewing["renews_loan_id"], renewing["outstanding"]) == (
        "disbursed", "2027-01-15", old, "1000000.00")
    assert schedule(as_role, new)["method"] == "interest_monthly"
    terms = as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json
    assert terms["quota_outstanding"] == "0.00"
    again = event(as_role, old, key="renew-1", type="renewed", new_loan_id=new, occurred_on="2027-01-15")
    assert again.json == renewed.json and again.headers["Idempotent-Replayed"] == "true"
    assert event(as_role, old, type="renewed", new_loan_id=new, occurred_on="2027-01-15").status_code == 409


def test_a_renewal_must_be_the_same_banks_approved_loan_to_the_same_enterprise_for_what_is_owed(
        as_role, world, renewal):
    agreement, old, renewal_product = renewal
    other_bank = lend(as_role, product(as_role("bank2"), "renewal"), amount="1000000.00", bank="bank2")
    other_enterprise = lend(as_role, renewal_product, amount="1000000.00", who="enterprise2")
    smaller = lend(as_role, renewal_product, amount="900000.00")
    disbursed_already = lend(as_role, renewal_product, amount="1000000.00")
    disbursed(as_role, disbursed_already)
    before = loan(as_role, old)
    for new_loan_id, message in (
            (other_bank, "Name another of your loans: the renewal."),
            (old, "Name another of your loans: the renewal."),
            (987654, "Name another of your loans: the renewal."),
            (other_enterprise, "A renewal is a loan to the same enterprise."),
            (smaller, f"Loan {smaller} is for 900,000.00, but 1,000,000.00 is owed on the loan it would renew.")):
        refused = event(as_role, old, type="renewed", new_loan_id=new_loan_id, occurred_on="2027-01-15")
        assert refused.status_code == 422, (new_loan_id, refused.json)
        assert refused.json["errors"] == {"new_loan_id": [message]}
    carried = event(as_role, old, type="renewed", new_loan_id=smaller, amount="900000.00", occurred_on="2027-01-15")
    assert carried.status_code == 422 and "1,000,000.00" in carried.json["errors"]["amount"][0]
    not_approved = event(as_role, old, type="renewed", new_loan_id=disbursed_already, occurred_on="2027-01-15")
    assert not_approved.status_code == 409
    assert loan(as_role, old) == before
    for new_loan_id in (other_bank, other_enterprise, smaller):
        assert as_role("admin").get(f"/api/v1/loans/{new_loan_id}").json["status"] == "approved"
    assert as_role("agency").get(f"/api/v1/agreements/{agreement['id']}").json["quota_outstanding"] == "1000000.00"


# What the events say, field by field -----------------------------------------------------------------------------

def test_bad_fields_are_422_each_on_its_own_field(as_role, credit):
    loan_id = lend(as_role, credit)
    for body, field in (
            ({"type": "disbursed", "occurred_on": START, "repayment_method": "balloon"}, "repayment_method"),
            ({"type": "disbursed", "occurred_on": "2026-02-30"}, "occurred_on"),
            ({"type": "disbursed", "occurred_on": "15/01/2026"}, "occurred_on"),
            ({"type": "disbursed", "occurred_on": START, "contract_no": "J" * 61}, "contract_no"),
            ({"type": "renewed", "occurred_on": START}, "new_loan_id"),
            ({"type": "renewed", "occurred_on": START, "new_loan_id": "two"}, "new_loan_id"),
            ({"type": "split", "occurred_on": START}, "type")):
        answer = event(as_role, loan_id, **body)
        assert answer.status_code == 422, (body, answer.json)
        assert list(answer.json["errors"]) == [field], (body, answer.json)
    renewal = event(as_role, loan_id, type="renewed", occurred_on=START)
    assert renewal.json["errors"]["new_loan_id"] == ["Name the loan that renews this one."]
    assert loan(as_role, loan_id)["status"] == "approved"
