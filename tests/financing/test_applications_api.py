"""Selecting an offer routes the request to the bank; the bank decides; approval makes the loan."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from marketplace import db
from marketplace.financing.models import FinancingRequest
from marketplace.orgs.models import TierCertification

PRODUCT = {"name": "Plain credit", "product_type": "credit", "amount_min": "100000.00",
           "amount_max": "10000000.00", "term_min_months": 6, "term_max_months": 36, "rate_spread_bp": 30,
           "eligible_tiers": ["srdi", "little_giant"], "guarantee": "none"}
REQUEST = {"amount": "2000000.00", "term_months": 12, "purpose": "Working capital"}


@pytest.fixture
def offer_request(as_role):
    bank = as_role("bank")
    product = bank.post("/api/v1/products", json=PRODUCT).json
    bank.post(f"/api/v1/products/{product['id']}/publish")
    return as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST).json


@pytest.fixture
def routed(offer_request, as_role):
    response = as_role("enterprise").post(f"/api/v1/financing-requests/{offer_request['id']}/select",
                                          json={"offer_id": offer_request["offers"][0]["id"]})
    assert response.status_code == 200, response.json
    return response.json


def count_requests(app):
    with app.app_context():
        return db.session.scalar(select(func.count(FinancingRequest.id)))


# Idempotency -----------------------------------------------------------------------------------------------

def test_the_same_key_and_body_replay_the_first_response(app, offer_request, as_role):
    enterprise = as_role("enterprise")
    before = count_requests(app)
    first = enterprise.post("/api/v1/financing-requests", json=REQUEST, headers={"Idempotency-Key": "req-42"})
    again = enterprise.post("/api/v1/financing-requests", json=REQUEST, headers={"Idempotency-Key": "req-42"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_requests(app) == before + 1


def test_the_same_key_with_another_body_is_409_and_stores_nothing(app, offer_request, as_role):
    enterprise = as_role("enterprise")
    enterprise.post("/api/v1/financing-requests", json=REQUEST, headers={"Idempotency-Key": "req-43"})
    before = count_requests(app)
    other = enterprise.post("/api/v1/financing-requests", json={**REQUEST, "amount": "3000000.00"},
                            headers={"Idempotency-Key": "req-43"})
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json["errors"]
    assert count_requests(app) == before


def test_keys_belong_to_their_user(offer_request, as_role):
    first = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST, headers={"Idempotency-Key": "k"})
    second = as_role("enterprise2").post("/api/v1/financing-requests", json=REQUEST,
                                         headers={"Idempotency-Key": "k"})
    assert second.status_code == 201 and second.json["id"] != first.json["id"]


def test_a_key_over_255_characters_is_422(as_role, offer_request):
    response = as_role("enterprise").post("/api/v1/financing-requests", json=REQUEST,
                                          headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422


def test_a_rejected_request_does_not_burn_its_key(offer_request, as_role):
    enterprise = as_role("enterprise")
    bad = enterprise.post("/api/v1/financing-requests", json={**REQUEST, "amount": "-1"},
                          headers={"Idempotency-Key": "retry-me"})
    assert bad.status_code == 422
    good = enterprise.post("/api/v1/financing-requests", json=REQUEST, headers={"Idempotency-Key": "retry-me"})
    assert good.status_code == 201


# Selection and the bank's queue ------------------------------------------------------------------------------

def test_selecting_an_offer_routes_the_request_to_its_bank(routed, as_role, world):
    assert routed["status"] == "routed"
    assert routed["application"]["status"] == "submitted"
    queue = as_role("bank").get("/api/v1/applications?status=submitted").json
    assert [a["id"] for a in queue] == [routed["application"]["id"]]
    application = queue[0]
    assert (application["enterprise_id"], application["uscc"]) == (world.enterprise.id, world.enterprise.uscc)
    assert application["product_name"] == "Plain credit" and application["offered_interest_rate"] == "0.0330"
    assert application["amount"] == "2000000.00" and application["tier"] == "srdi"


def test_another_bank_cannot_see_or_decide_the_application(routed, as_role):
    bank2 = as_role("bank2")
    application_id = routed["application"]["id"]
    assert bank2.get("/api/v1/applications").json == []
    assert bank2.get(f"/api/v1/applications/{application_id}").status_code == 404
    decision = bank2.post(f"/api/v1/applications/{application_id}/decision", json={"decision": "approved"})
    assert decision.status_code == 404


def test_selecting_twice_or_an_unknown_offer_is_refused(offer_request, routed, as_role):
    enterprise = as_role("enterprise")
    again = enterprise.post(f"/api/v1/financing-requests/{offer_request['id']}/select",
                            json={"offer_id": offer_request["offers"][0]["id"]})
    assert again.status_code == 409
    other = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    unknown = enterprise.post(f"/api/v1/financing-requests/{other['id']}/select", json={"offer_id": 999999})
    assert unknown.status_code == 422 and "offer_id" in unknown.json["errors"]


def test_approval_at_the_offered_terms_creates_the_loan(routed, as_role, world):
    bank = as_role("bank")
    decision = bank.post(f"/api/v1/applications/{routed['application']['id']}/decision",
                         json={"decision": "approved", "approved_amount": "2000000.00", "rate_spread_bp": 30,
                               "reason": "Strong order book"})
    assert decision.status_code == 200
    assert decision.json["status"] == "approved" and decision.json["guarantee_id"] is None
    assert decision.json["counter"] is None
    loan = bank.get(f"/api/v1/loans/{decision.json['loan_id']}").json
    assert loan["status"] == "approved"
    assert loan["principal"] == loan["outstanding"] == "2000000.00"
    assert loan["interest_rate"] == "0.0330"
    assert loan["guarantee"] is None and loan["defaults"] == [] and loan["recoveries"] == []
    request = as_role("enterprise").get(f"/api/v1/financing-requests/{routed['id']}").json
    assert request["status"] == "approved"
    assert request["application"] == {"id": routed["application"]["id"], "status": "approved",
                                      "loan_id": loan["id"]}
    assert as_role("enterprise").get(f"/api/v1/loans/{loan['id']}").status_code == 200
    assert as_role("enterprise2").get(f"/api/v1/loans/{loan['id']}").status_code == 404
    assert as_role("bank2").get(f"/api/v1/loans/{loan['id']}").status_code == 404


def test_other_terms_are_a_counter_offer_the_enterprise_accepts(app, routed, as_role, world):
    bank, enterprise = as_role("bank"), as_role("enterprise")
    application_id = routed["application"]["id"]
    decision = bank.post(f"/api/v1/applications/{application_id}/decision",
                         json={"decision": "approved", "approved_amount": "1500000.00", "rate_spread_bp": 25,
                               "reason": "Strong order book, thin collateral"})
    assert decision.status_code == 200, decision.json
    assert decision.json["status"] == "countered"
    assert decision.json["loan_id"] is None and decision.json["guarantee_id"] is None
    counter = decision.json["counter"]
    assert (counter["amount"], counter["rate_spread_bp"], counter["interest_rate"]) == ("1500000.00", 25, "0.0325")
    assert counter["all_in_rate"] == "0.0325" and counter["reason"] == "Strong order book, thin collateral"
    request = enterprise.get(f"/api/v1/financing-requests/{routed['id']}").json
    assert request["status"] == "routed" and request["application"]["loan_id"] is None
    [shown] = request["applications"]
    assert shown["status"] == "countered" and shown["counter"] == counter
    assert bank.post(f"/api/v1/applications/{application_id}/counter-offer/accept").status_code == 403
    assert as_role("enterprise2").post(f"/api/v1/applications/{application_id}/counter-offer/accept") \
        .status_code == 404
    accepted = enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept")
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "approved" and accepted.json["loan_id"] is not None
    loan = enterprise.get(f"/api/v1/loans/{accepted.json['loan_id']}").json
    assert (loan["principal"], loan["interest_rate"]) == ("1500000.00", "0.0325")
    again = enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept")
    assert again.status_code == 409
    assert enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/decline", json={}) \
        .status_code == 409
    events = [e["event"] for e in enterprise.get(f"/api/v1/financing-requests/{routed['id']}").json["timeline"]]
    assert events == ["request.filed", "offer.chosen", "application.countered", "counter.accepted",
                      "application.approved", "loan.created"][:2] + events[2:]
    assert events[2:] == ["application.countered", "counter.accepted", "loan.created"]


def test_a_counter_offer_needs_a_reason_and_cannot_lend_more(routed, as_role):
    bank = as_role("bank")
    url = f"/api/v1/applications/{routed['application']['id']}/decision"
    no_reason = bank.post(url, json={"decision": "approved", "rate_spread_bp": 260})
    assert no_reason.status_code == 422 and list(no_reason.json["errors"]) == ["reason"]
    more = bank.post(url, json={"decision": "approved", "approved_amount": "2000000.01", "reason": "More"})
    assert more.status_code == 422 and "approved_amount" in more.json["errors"]
    assert as_role("enterprise").get(f"/api/v1/financing-requests/{routed['id']}").json["applications"][0][
        "status"] == "submitted"


def test_a_declined_counter_leaves_the_enterprise_free_to_choose_another_offer(app, as_role):
    bank, bank2, enterprise = as_role("bank"), as_role("bank2"), as_role("enterprise")
    for who, spread in ((bank, 30), (bank2, 45)):
        product = who.post("/api/v1/products", json={**PRODUCT, "rate_spread_bp": spread}).json
        who.post(f"/api/v1/products/{product['id']}/publish")
    request = enterprise.post("/api/v1/financing-requests", json=REQUEST).json
    first, second = request["offers"][:2]
    assert first["valid_until"] == second["valid_until"] == request["offers_valid_until"]
    application_id = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                     json={"offer_id": first["id"]}).json["application"]["id"]
    bank.post(f"/api/v1/applications/{application_id}/decision",
              json={"decision": "approved", "rate_spread_bp": 260, "reason": "Sector risk"})
    while_countered = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                      json={"offer_id": second["id"]})
    assert while_countered.status_code == 409
    declined = enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/decline",
                               json={"reason": "Too dear"})
    assert declined.status_code == 200 and declined.json["status"] == "counter_declined"
    assert enterprise.post(f"/api/v1/applications/{application_id}/counter-offer/accept").status_code == 409
    same_again = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select",
                                 json={"offer_id": first["id"]})
    assert same_again.status_code == 422 and "offer_id" in same_again.json["errors"]
    other = enterprise.post(f"/api/v1/financing-requests/{request['id']}/select", json={"offer_id": second["id"]})
    assert other.status_code == 200, other.json
    assert other.json["status"] == "routed"
    assert [(a["status"], a["bank_id"]) for a in other.json["applications"]] == [
        ("counter_declined", first["bank_id"]), ("submitted", second["bank_id"])]
    assert other.json["applications"][0]["counter"]["answer_reason"] == "Too dear"
    assert other.json["application"]["id"] == other.json["applications"][1]["id"]


def test_approval_defaults_to_the_requested_amount_and_offered_spread(routed, as_role):
    decision = as_role("bank").post(f"/api/v1/applications/{routed['application']['id']}/decision",
                                    json={"decision": "approved"}).json
    loan = as_role("bank").get(f"/api/v1/loans/{decision['loan_id']}").json
    assert (loan["principal"], loan["interest_rate"]) == ("2000000.00", "0.0330")


def test_a_bank_cannot_approve_more_than_was_asked(routed, as_role):
    response = as_role("bank").post(f"/api/v1/applications/{routed['application']['id']}/decision",
                                    json={"decision": "approved", "approved_amount": "2000000.01"})
    assert response.status_code == 422 and "approved_amount" in response.json["errors"]


def test_declining_needs_a_reason_and_closes_no_loan(routed, as_role):
    bank = as_role("bank")
    application_id = routed["application"]["id"]
    assert bank.post(f"/api/v1/applications/{application_id}/decision",
                     json={"decision": "declined"}).status_code == 422
    declined = bank.post(f"/api/v1/applications/{application_id}/decision",
                         json={"decision": "declined", "reason": "Outside our sector limits"})
    assert declined.json == {"id": application_id, "status": "declined", "loan_id": None, "guarantee_id": None,
                             "counter": None}
    assert as_role("enterprise").get(f"/api/v1/financing-requests/{routed['id']}").json["status"] == "declined"
    again = bank.post(f"/api/v1/applications/{application_id}/decision", json={"decision": "approved"})
    assert again.status_code == 409


def test_withdrawing_takes_the_application_out_of_the_queue(routed, as_role):
    withdrawn = as_role("enterprise").post(f"/api/v1/financing-requests/{routed['id']}/withdraw")
    assert withdrawn.json["status"] == "withdrawn"
    assert as_role("bank").get("/api/v1/applications?status=submitted").json == []
    late = as_role("bank").post(f"/api/v1/applications/{routed['application']['id']}/decision",
                                json={"decision": "approved"})
    assert late.status_code == 409


def test_an_approved_request_cannot_be_withdrawn(routed, as_role):
    as_role("bank").post(f"/api/v1/applications/{routed['application']['id']}/decision", json={"decision": "approved"})
    assert as_role("enterprise").post(f"/api/v1/financing-requests/{routed['id']}/withdraw").status_code == 409


def test_only_banks_decide(routed, as_role):
    response = as_role("enterprise").post(f"/api/v1/applications/{routed['application']['id']}/decision",
                                          json={"decision": "approved"})
    assert response.status_code == 403


def test_offers_made_before_a_tier_expired_cannot_be_selected(app, offer_request, as_role, world):
    with app.app_context():
        certification = db.session.get(TierCertification, world.enterprise.uscc)
        certification.valid_until = dt.date(2020, 12, 31)  # expired since the offers were made
        db.session.commit()
    refused = as_role("enterprise").post(f"/api/v1/financing-requests/{offer_request['id']}/select",
                                         json={"offer_id": offer_request["offers"][0]["id"]})
    assert refused.status_code == 409 and "now none" in refused.json["detail"]
    assert as_role("bank").get("/api/v1/applications").json == []
