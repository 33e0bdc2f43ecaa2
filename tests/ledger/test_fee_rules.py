"""Fee-reduction rules: kept by the admin, applied in priority order, stopping at a non-stackable rule, within a
subsidy budget; a guarantee keeps the terms it was priced with."""

import datetime as dt
from decimal import Decimal

import pytest

from marketplace.fees.rules import Rule, Subject, add_months, fee_amount, price, term_days
from tests.ledger.conftest import FEE_CAP, SUBSIDY

SRDI = Subject(tier="srdi", region_code="330106", product_type="credit", amount=Decimal("1000000.00"),
               first_loan=True)


def rule(n, kind, value, **conditions):
    return Rule(id=n, name=f"rule {n}", kind=kind, value=Decimal(value), **conditions)


def test_rules_apply_in_order_and_a_non_stackable_one_ends_the_evaluation():
    rules = [rule(1, "reduce_fee_rate_bp", "20"), rule(2, "cap_fee_rate", "0.0060", stackable=False),
             rule(3, "fiscal_subsidy_share", "0.5")]
    pricing = price(Decimal("0.0100"), SRDI, rules)
    assert (pricing.fee_rate, pricing.subsidy_rate) == (Decimal("0.006000"), Decimal("0"))
    assert [step["rule_id"] for step in pricing.applied_rules] == [1, 2]


@pytest.mark.parametrize("conditions, applies", [
    ({"tiers": frozenset({"little_giant"})}, False),
    ({"tiers": frozenset({"srdi"})}, True),
    ({"region_prefixes": ("3301",)}, True),
    ({"region_prefixes": ("44",)}, False),
    ({"product_types": frozenset({"ip_pledge"})}, False),
    ({"amount_max": Decimal("999999.99")}, False),
    ({"amount_max": Decimal("1000000.00")}, True),
    ({"first_loan": True}, True),
])
def test_a_rule_applies_only_when_all_its_conditions_hold(conditions, applies):
    pricing = price(Decimal("0.0100"), SRDI, [rule(1, "cap_fee_rate", "0.0050", **conditions)])
    assert (pricing.fee_rate == Decimal("0.0050")) is applies


def test_a_repeat_borrower_misses_a_first_loan_rule():
    repeat = Subject(**{**SRDI.__dict__, "first_loan": False})
    assert price(Decimal("0.0100"), repeat, [rule(1, "cap_fee_rate", "0.0050", first_loan=True)]).fee_rate == \
        Decimal("0.0100")


def test_a_subsidy_rule_with_its_budget_spent_is_in_the_trail_but_pays_nothing():
    pricing = price(Decimal("0.0100"), SRDI, [rule(1, "cap_fee_rate", "0.0050"),
                                               rule(2, "fiscal_subsidy_share", "0.5", budget_left=Decimal("0"))])
    assert pricing.subsidy_rate == 0 and pricing.trail[1]["outcome"] == "budget_exhausted"
    assert [step["rule_id"] for step in pricing.applied_rules] == [1]


def test_the_fee_counts_the_days_of_the_term():
    assert term_days(dt.date(2026, 3, 2), 12) == 365
    assert term_days(dt.date(2027, 3, 2), 12) == 366  # through 29 February 2028
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert fee_amount(Decimal("1000000.00"), Decimal("0.0050"), 365) == Decimal("5000.00")
    assert fee_amount(Decimal("333333.33"), Decimal("0.0075"), 181) == Decimal("1239.73")


# Through the API -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"effect": {"kind": "cap_fee_rate", "value": "0.5"}}, "effect"),
    ({"effect": {"kind": "reduce_fee_rate_bp", "value": "2.5"}}, "effect"),
    ({"effect": {"kind": "fiscal_subsidy_share", "value": "1.5"}}, "effect"),
    ({"effect": {"kind": "fiscal_subsidy_share", "value": 0.5}}, "effect"),
    ({"effect": {"kind": "waive_everything", "value": "1"}}, "effect"),
    ({"valid_to": "2025-12-31"}, "valid_to"),
    ({"budget": "-1.00"}, "budget"),
    ({"conditions": {"tiers": ["gold"]}}, "conditions"),
    ({"name": ""}, "name"),
])
def test_a_bad_rule_is_422_with_the_field_and_nothing_is_created(as_role, changes, field):
    admin = as_role("admin")
    response = admin.post("/api/v1/fee-rules", json={**SUBSIDY, **changes})
    assert response.status_code == 422, response.json
    assert any(key == field or key.startswith(f"{field}.") for key in response.json["errors"]), response.json
    assert admin.get("/api/v1/fee-rules").json == []


def test_only_the_admin_keeps_rules(as_role):
    assert as_role("bank").post("/api/v1/fee-rules", json=FEE_CAP).status_code == 403
    assert as_role("enterprise").get("/api/v1/fee-rules").status_code == 200


def test_a_budget_stops_the_subsidy_once_spent_and_the_trail_says_so(scheme, as_role):
    budgeted = {**SUBSIDY, "budget": "5000.00"}
    made = scheme(loans=3, rules=(FEE_CAP, budgeted))
    bank = as_role("bank")
    for loan_id in made["loans"]:
        assert bank.post(f"/api/v1/loans/{loan_id}/events",
                         json={"type": "disbursed", "occurred_on": "2026-03-02"}).status_code == 201
    guarantees = [bank.get(f"/api/v1/loans/{loan_id}").json["guarantee"] for loan_id in made["loans"]]
    assert [g["fiscal_subsidy"] for g in guarantees] == ["2500.00", "2500.00", "0.00"]
    assert [g["fee_charged"] for g in guarantees] == ["5000.00"] * 3  # the enterprise's price never moves
    third = next(step for step in guarantees[2]["applied_rules"] if step["name"] == "降费奖补")
    assert third["outcome"] == "budget_exhausted" and third["granted"] == "0.00" and "exhausted" in third["note"]
    rule = as_role("admin").get(f"/api/v1/fee-rules/{made['rules'][1]['id']}").json
    assert (rule["subsidy_granted"], rule["budget_left"]) == ("5000.00", "0.00")
    trial = as_role("admin").get("/api/v1/ledger/trial-balance").json
    assert next(a for a in trial["accounts"] if a["code"] == "fiscal_fund:0:fee_subsidy")["balance"] == "-5000.00"


def test_a_guarantee_keeps_the_terms_it_was_priced_with(scheme, as_role):
    made = scheme(loans=1)
    admin, bank = as_role("admin"), as_role("bank")
    cap_id = made["rules"][0]["id"]
    changed = admin.patch(f"/api/v1/fee-rules/{cap_id}", json={"effect": {"kind": "cap_fee_rate", "value": "0.0080"}})
    assert changed.status_code == 200, changed.json
    assert changed.json["effect"]["value"] == "0.0080"
    assert changed.json["priority"] == 10  # fields not sent are left as they were
    bank.post(f"/api/v1/loans/{made['loans'][0]}/events", json={"type": "disbursed", "occurred_on": "2026-03-02"})
    guarantee = bank.get(f"/api/v1/loans/{made['loans'][0]}").json["guarantee"]
    assert (guarantee["fee_rate"], guarantee["fee_charged"], guarantee["fiscal_subsidy"]) == \
        ("0.0050", "5000.00", "2500.00")
    request = as_role("enterprise").post("/api/v1/financing-requests", json={
        "amount": "1000000.00", "term_months": 12, "purpose": "Later"}).json
    later = next(o for o in request["offers"] if o["agreement_id"] == made["agreement"]["id"])
    assert (later["guarantee_fee_rate"], later["fee_subsidy_rate"]) == ("0.0080", "0.0010")


def test_the_preview_shows_the_fee_before_and_after_with_the_trail(scheme, as_role, world):
    agreement_id = scheme(loans=0)["agreement"]["id"]
    body = {"enterprise_id": world.enterprise.id, "agreement_id": agreement_id, "amount": "1000000.00",
            "term_months": 12, "disbursed_on": "2026-03-02"}
    preview = as_role("admin").post("/api/v1/fee-rules/preview", json=body)
    assert preview.status_code == 200, preview.json
    assert {k: preview.json[k] for k in ("list_fee", "fee", "fiscal_subsidy", "agency_fee_income", "days")} == {
        "list_fee": "10000.00", "fee": "5000.00", "fiscal_subsidy": "2500.00", "agency_fee_income": "7500.00",
        "days": 365}
    assert [(s["name"], s["outcome"]) for s in preview.json["trail"]] == [("SRDI fee cap", "applied"),
                                                                         ("降费奖补", "applied")]
    assert as_role("bank2").post("/api/v1/fee-rules/preview", json=body).status_code == 422  # not its agreement


def test_banks_and_agencies_preview_only_for_their_own_customers(scheme, as_role, world):
    made = scheme(loans=1)
    customer = as_role("bank").get(f"/api/v1/loans/{made['loans'][0]}").json["enterprise_id"]
    body = {"enterprise_id": customer, "agreement_id": made["agreement"]["id"], "amount": "1000000.00",
            "term_months": 12}
    for who in ("bank", "agency"):
        assert as_role(who).post("/api/v1/fee-rules/preview", json=body).status_code == 200
        stranger = as_role(who).post("/api/v1/fee-rules/preview", json={**body, "enterprise_id": world.enterprise.id})
        assert stranger.status_code == 422
        assert stranger.json["errors"] == {"enterprise_id": [f"No enterprise {world.enterprise.id}."]}
    missing = as_role("admin").post("/api/v1/fee-rules/preview", json={**body, "enterprise_id": 999999})
    assert missing.status_code == 422 and "enterprise_id" in missing.json["errors"]


def test_a_budget_cannot_fall_below_what_the_rule_has_granted(scheme, as_role):
    made = scheme(loans=1)
    as_role("bank").post(f"/api/v1/loans/{made['loans'][0]}/events",
                         json={"type": "disbursed", "occurred_on": "2026-03-02"})
    subsidy_id = made["rules"][1]["id"]
    refused = as_role("admin").patch(f"/api/v1/fee-rules/{subsidy_id}", json={"budget": "2000.00"})
    assert refused.status_code == 422 and "budget" in refused.json["errors"]
    assert as_role("admin").get(f"/api/v1/fee-rules/{subsidy_id}").json["budget"] is None
