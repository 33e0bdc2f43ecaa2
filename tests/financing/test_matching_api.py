"""Financing requests get ranked, explained offers (issue acceptance: products A–E)."""

import datetime as dt

import pytest

from marketplace.dates import business_today
from marketplace.orgs.models import Tier

BASE = {"product_type": "credit", "amount_min": "100000.00", "amount_max": "10000000.00", "term_min_months": 6,
        "term_max_months": 36, "guarantee": "none", "eligible_regions": []}
ALL_TIERS = ["none", "innovative", "srdi", "little_giant"]
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "Buy a CNC line"}


@pytest.fixture
def catalogue(as_role):
    """A: srdi + little giant at 30 bp; B: every tier at 80 bp; C: lends too little; D: a draft; E: little giant."""
    bank = as_role("bank")

    def product(name, publish=True, **fields):
        created = bank.post("/api/v1/products", json={**BASE, "name": name, **fields})
        assert created.status_code == 201, created.json
        if publish:
            bank.post(f"/api/v1/products/{created.json['id']}/publish")
        return created.json["id"]

    return {
        "A": product("A", rate_spread_bp=30, eligible_tiers=["srdi", "little_giant"]),
        "B": product("B", rate_spread_bp=80, eligible_tiers=ALL_TIERS),
        "C": product("C", rate_spread_bp=10, eligible_tiers=ALL_TIERS, amount_max="1000000.00"),
        "D": product("D", publish=False, rate_spread_bp=5, eligible_tiers=ALL_TIERS),
        "E": product("E", rate_spread_bp=0, eligible_tiers=["little_giant"]),
    }


def enterprise_client(make, login_api, tier, **kwargs):
    from marketplace.auth.models import Role

    enterprise = make.enterprise(tier, **kwargs)
    return login_api(make.user(Role.ENTERPRISE, enterprise.id))


def test_an_srdi_enterprise_gets_a_then_b_priced_at_lpr_plus_spread(catalogue, as_role):
    response = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "open" and body["tier"] == "srdi"
    offers = body["offers"]
    assert [o["product_id"] for o in offers] == [catalogue["A"], catalogue["B"]]
    assert [o["rank"] for o in offers] == [1, 2]
    assert [o["interest_rate"] for o in offers] == ["0.0330", "0.0380"]  # 1-year LPR 3.00 % + 30 / 80 bp
    first = offers[0]
    assert first["agreement_id"] is None
    assert (first["guarantee_fee_rate"], first["list_fee_rate"], first["fee_subsidy_rate"]) == ("0.0000",) * 3
    assert first["all_in_rate"] == first["interest_rate"]
    assert first["amount"] == "2000000.00" and first["term_months"] == 12
    reasons = " ".join(body["unmatched_reasons"])
    assert "“C” lends less than the ¥2,000,000.00 you asked for" in reasons
    assert "“E” is for other tiers" in reasons
    assert "“D”" not in reasons  # a draft is nobody's business


def test_a_term_over_60_months_prices_against_the_5_year_lpr(catalogue, as_role, make):
    bank = as_role("bank")
    long_id = bank.post("/api/v1/products", json={**BASE, "name": "Long", "term_max_months": 120,
                                                  "rate_spread_bp": 40, "eligible_tiers": ["srdi"]}).json["id"]
    bank.post(f"/api/v1/products/{long_id}/publish")
    offers = as_role("enterprise").post("/api/v1/financing-requests",
                                        json={**REQUEST, "term_months": 84}).json["offers"]
    assert [(o["product_name"], o["interest_rate"]) for o in offers] == [("Long", "0.0390")]


def test_an_uncertified_enterprise_gets_b_only(catalogue, make, login_api):
    client = enterprise_client(make, login_api, Tier.NONE)
    body = client.post("/api/v1/financing-requests", json=REQUEST).json
    assert [o["product_id"] for o in body["offers"]] == [catalogue["B"]]
    assert body["tier"] == "none"


def test_an_srdi_certification_that_expired_yesterday_counts_as_none(catalogue, make, login_api):
    yesterday = business_today() - dt.timedelta(days=1)
    client = enterprise_client(make, login_api, Tier.SRDI, valid_until=yesterday)
    body = client.post("/api/v1/financing-requests", json=REQUEST).json
    assert body["tier"] == "none"
    assert [o["product_id"] for o in body["offers"]] == [catalogue["B"]]


def test_a_certification_valid_until_today_still_counts(catalogue, make, login_api):
    client = enterprise_client(make, login_api, Tier.SRDI, valid_until=business_today())
    assert client.post("/api/v1/financing-requests", json=REQUEST).json["tier"] == "srdi"


def test_a_request_above_every_maximum_gets_no_offers_and_a_reason_naming_the_amount(catalogue, as_role):
    body = as_role("enterprise").post("/api/v1/financing-requests",
                                      json={**REQUEST, "amount": "50000000.00"}).json
    assert body["offers"] == []
    assert body["unmatched_reasons"] == [
        "You asked for ¥50,000,000.00, more than any published product lends: the largest loan on offer is "
        "¥10,000,000.00. Try a smaller amount."]


def test_with_nothing_published_the_reason_says_so(as_role):
    body = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json
    assert body["offers"] == []
    assert body["unmatched_reasons"] == [
        "No bank has published a product yet, so there is nothing to offer. Please try again later."]


def test_region_and_term_exclusions_are_explained(as_role):
    bank = as_role("bank")
    for name, fields in [("Ningbo only", {"eligible_regions": ["3302"]}), ("Short", {"term_max_months": 6}),
                         ("Hangzhou", {"eligible_regions": ["3301"]})]:
        created = bank.post("/api/v1/products", json={**BASE, "name": name, "rate_spread_bp": 20,
                                                      "eligible_tiers": ALL_TIERS, **fields}).json
        bank.post(f"/api/v1/products/{created['id']}/publish")
    body = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json  # region 330106
    assert [o["product_name"] for o in body["offers"]] == ["Hangzhou"]
    assert any("“Ningbo only” is only for enterprises in other regions" in r for r in body["unmatched_reasons"])
    assert any("“Short” does not lend for 12 months" in r for r in body["unmatched_reasons"])


def test_product_type_filter_and_guarantee_needs(as_role):
    bank = as_role("bank")
    for name, fields in [("Guaranteed", {"guarantee": "required"}), ("Park", {"product_type": "park"}),
                         ("Plain", {})]:
        created = bank.post("/api/v1/products", json={**BASE, "name": name, "rate_spread_bp": 20,
                                                      "eligible_tiers": ALL_TIERS, **fields}).json
        bank.post(f"/api/v1/products/{created['id']}/publish")
    enterprise = as_role("enterprise")
    body = enterprise.post("/api/v1/financing-requests", json={**REQUEST, "product_types": ["credit"]}).json
    assert [o["product_name"] for o in body["offers"]] == ["Plain"]
    assert any("“Guaranteed” needs a guarantee, and no guarantee agency" in r for r in body["unmatched_reasons"])
    refused = enterprise.post("/api/v1/financing-requests", json={**REQUEST, "accept_guarantee": False}).json
    assert any("“Guaranteed” needs a guarantee, and you chose not to accept one" in r
               for r in refused["unmatched_reasons"])


def test_ties_rank_by_interest_then_product_id(as_role):
    bank = as_role("bank")
    ids = []
    for name in ("First", "Second"):
        created = bank.post("/api/v1/products", json={**BASE, "name": name, "rate_spread_bp": 25,
                                                      "eligible_tiers": ALL_TIERS}).json
        bank.post(f"/api/v1/products/{created['id']}/publish")
        ids.append(created["id"])
    offers = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json["offers"]
    assert [o["product_id"] for o in offers] == ids


@pytest.mark.parametrize("field, value", [("amount", "0.00"), ("amount", "1.001"), ("term_months", 0),
                                          ("term_months", 361), ("purpose", ""), ("product_types", ["loan"])])
def test_bad_requests_are_422_per_field(as_role, field, value):
    response = as_role("enterprise").post("/api/v1/financing-requests", json={**REQUEST, field: value})
    assert response.status_code == 422
    assert any(key.split(".")[0] == field for key in response.json["errors"])


def test_only_enterprises_file_requests(as_role, client):
    assert as_role("bank").post("/api/v1/financing-requests", json=REQUEST).status_code == 403
    assert client.post("/api/v1/financing-requests", json=REQUEST).status_code == 401


def test_another_enterprises_request_is_404(catalogue, as_role):
    created = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json
    assert as_role("enterprise2").get(f"/api/v1/financing-requests/{created['id']}").status_code == 404
    assert as_role("enterprise").get(f"/api/v1/financing-requests/{created['id']}").json == created


def test_a_matched_request_keeps_the_product_version_it_matched(catalogue, as_role):
    created = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json
    bank = as_role("bank")
    draft = bank.patch(f"/api/v1/products/{catalogue['A']}", json={"rate_spread_bp": 99}).json
    bank.post(f"/api/v1/products/{draft['id']}/publish")
    again = as_role("enterprise").get(f"/api/v1/financing-requests/{created['id']}").json
    assert again["offers"][0]["product_id"] == catalogue["A"]
    assert again["offers"][0]["interest_rate"] == "0.0330"


def test_several_products_with_one_reason_are_named_together(as_role):
    bank = as_role("bank")
    for name in ("Short A", "Short B", "Short C", "Short D"):
        created = bank.post("/api/v1/products", json={**BASE, "name": name, "rate_spread_bp": 20,
                                                      "term_max_months": 6, "eligible_tiers": ALL_TIERS}).json
        bank.post(f"/api/v1/products/{created['id']}/publish")
    reasons = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json["unmatched_reasons"]
    bank_name = "Bank 1's"
    assert reasons == [f"{bank_name} “Short A”, {bank_name} “Short B”, {bank_name} “Short C” and 1 more product "
                       "do not lend for 12 months."]
