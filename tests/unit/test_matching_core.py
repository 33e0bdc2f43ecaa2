"""The matching core on plain data: pricing, guarantee attachment, ranking and reasons."""

from decimal import Decimal as D

import pytest

from marketplace.matching import Candidate, GuaranteeTerms, NearMiss, Need, Rates, Reason, explain, rank_offers, why_not

RATES = Rates(D("0.0300"), D("0.0350"))
NEED = Need(amount=D("2000000.00"), term_months=12, tier="srdi", region_code="330106")


def candidate(pid, spread, guarantee="none", agreements=(), bank="Bank"):
    return Candidate(product_id=pid, product_name=f"P{pid}", product_type="credit", bank_id=1, bank_name=bank,
                     spread_bp=spread, guarantee=guarantee, agreements=tuple(agreements))


def terms(agreement_id, fee, list_fee=None, subsidy="0"):
    return GuaranteeTerms(agreement_id=agreement_id, list_fee_rate=D(list_fee or fee), fee_rate=D(fee),
                          subsidy_rate=D(subsidy))


def near(pid, amount_min="100000", amount_max="10000000", terms_=(6, 36), tiers=("srdi",), regions=()):
    return NearMiss(product_id=pid, amount_min=D(amount_min), amount_max=D(amount_max), term_min_months=terms_[0],
                    term_max_months=terms_[1], tiers=frozenset(tiers), region_prefixes=tuple(regions))


@pytest.mark.parametrize("term, spread, expected", [(12, 30, "0.0330"), (60, -25, "0.0275"), (61, 0, "0.0350"),
                                                    (360, 100, "0.0450"), (1, 0, "0.0300")])
def test_interest_is_lpr_for_the_term_plus_spread(term, spread, expected):
    assert RATES.interest(term, spread) == D(expected)


def test_offers_rank_by_all_in_then_interest_then_product_then_agreement():
    offers, reasons = rank_offers(NEED, [
        candidate(3, 50), candidate(1, 80),
        candidate(2, 0, "required", [terms(9, "0.0050"), terms(7, "0.0040")]),
        candidate(4, 50),
    ], RATES)
    assert [(o.candidate.product_id, o.agreement_id) for o in offers] == [(2, 7), (2, 9), (3, None), (4, None),
                                                                          (1, None)]
    assert [o.rank for o in offers] == [1, 2, 3, 4, 5]
    assert offers[0].all_in_rate == D("0.0340") and offers[0].interest_rate == D("0.0300")
    assert offers[1].all_in_rate == offers[2].all_in_rate == D("0.0350")  # tie: lower interest first
    assert reasons == []


def test_a_tie_on_all_in_goes_to_the_lower_interest():
    offers, _ = rank_offers(NEED, [candidate(1, 70), candidate(2, 20, "required", [terms(5, "0.0050")])], RATES)
    assert [o.candidate.product_id for o in offers] == [2, 1]
    assert offers[0].all_in_rate == offers[1].all_in_rate == D("0.0370")


def test_an_offer_carries_the_agreements_fee_terms():
    (offer,), _ = rank_offers(NEED, [candidate(1, 30, "required", [terms(4, "0.0050", "0.0100", "0.0025")])], RATES)
    assert (offer.list_fee_rate, offer.guarantee_fee_rate, offer.fee_subsidy_rate) == (
        D("0.0100"), D("0.0050"), D("0.0025"))
    assert offer.all_in_rate == offer.interest_rate + offer.guarantee_fee_rate


def test_an_offer_without_a_guarantee_has_no_fees():
    (offer,), _ = rank_offers(NEED, [candidate(1, 30)], RATES)
    assert offer.agreement_id is None
    assert (offer.list_fee_rate, offer.guarantee_fee_rate, offer.fee_subsidy_rate) == (D(0), D(0), D(0))
    assert offer.all_in_rate == offer.interest_rate == D("0.0330")


def test_an_optional_guarantee_is_offered_both_ways_when_accepted():
    offers, _ = rank_offers(NEED, [candidate(1, 30, "optional", [terms(3, "0.0050")])], RATES)
    assert [o.agreement_id for o in offers] == [None, 3]


def test_an_optional_guarantee_is_left_off_when_refused():
    need = Need(**{**NEED.__dict__, "accept_guarantee": False})
    offers, reasons = rank_offers(need, [candidate(1, 30, "optional", [terms(3, "0.0050")])], RATES)
    assert [o.agreement_id for o in offers] == [None] and reasons == []


def test_a_required_guarantee_that_is_refused_or_unavailable_is_explained():
    refused_need = Need(**{**NEED.__dict__, "accept_guarantee": False})
    offers, reasons = rank_offers(refused_need, [candidate(1, 30, "required", [terms(3, "0.0050")])], RATES)
    assert offers == [] and [r.code for r in reasons] == ["guarantee_refused"]
    offers, reasons = rank_offers(NEED, [candidate(1, 30, "required")], RATES)
    assert offers == [] and reasons == [Reason("guarantee_unavailable", (1,))]


@pytest.mark.parametrize("product, expected", [
    (near(1, amount_max="1000000"), "amount_high"),
    (near(1, amount_min="3000000"), "amount_low"),
    (near(1, terms_=(24, 60)), "term"),
    (near(1, terms_=(1, 6)), "term"),
    (near(1, tiers=("little_giant",)), "tier"),
    (near(1, regions=("3302",)), "region"),
    (near(1, regions=("3302", "3301")), ""),
    (near(1, regions=("330106",)), ""),
    (near(1), ""),
    (near(1, amount_max="1000000", tiers=("little_giant",)), "amount_high"),  # the first failing requirement
])
def test_why_not_names_the_first_requirement_missed(product, expected):
    assert why_not(NEED, product) == expected


def test_amount_and_term_bounds_are_inclusive():
    exact = near(1, amount_min="2000000", amount_max="2000000", terms_=(12, 12))
    assert why_not(NEED, exact) == ""


def test_nothing_published_is_said_plainly():
    assert explain(NEED, [], offered=0, any_published=False, largest_amount=None, smallest_amount=None) == [
        Reason("nothing_published")]


def test_a_request_above_every_maximum_names_the_amount_and_the_largest_loan():
    need = Need(**{**NEED.__dict__, "amount": D("90000000.00")})
    reasons = explain(need, [near(1)], offered=0, any_published=True, largest_amount=D("50000000.00"),
                      smallest_amount=D("100000.00"))
    assert reasons == [Reason("amount_above_all", amount=D("90000000.00"), limit=D("50000000.00"))]


def test_a_request_below_every_minimum_names_the_smallest_loan():
    need = Need(**{**NEED.__dict__, "amount": D("1000.00")})
    reasons = explain(need, [], offered=0, any_published=True, largest_amount=D("5000000"), smallest_amount=D("50000"))
    assert reasons[0].code == "amount_below_all" and reasons[0].limit == D("50000")


def test_near_misses_are_grouped_by_reason_in_a_fixed_order_naming_three_and_counting_the_rest():
    misses = [near(i, tiers=("little_giant",)) for i in range(5)] + [near(9, amount_max="500000")]
    reasons = explain(NEED, misses, offered=2, any_published=True, largest_amount=D("10000000"),
                      smallest_amount=D("100000"))
    assert [r.code for r in reasons] == ["amount_high", "tier"]
    tier = reasons[1]
    assert tier.products == (0, 1, 2) and tier.more == 2  # product ids: their names are read in the reader's language
    assert tier.tier == "srdi"


def test_with_no_offers_and_no_near_miss_the_reason_is_general():
    reasons = explain(NEED, [], offered=0, any_published=True, largest_amount=D("10000000"),
                      smallest_amount=D("100000"))
    assert [r.code for r in reasons] == ["nothing_fits"]


def facts(agreement_id, bank_id=1, tiers=("srdi",), types=("credit",), available="100000000", per_loan="5000000",
          room="10000000", fee="0.0100"):
    from marketplace.matching import AgreementFacts

    return AgreementFacts(agreement_id=agreement_id, bank_id=bank_id, fee_rate=D(fee), tiers=frozenset(tiers),
                          product_types=frozenset(types), quota_available=D(available), per_loan_cap=D(per_loan),
                          enterprise_room=D(room))


@pytest.mark.parametrize("agreement, offered", [
    (facts(1), True),
    (facts(1, bank_id=2), False),
    (facts(1, tiers=("little_giant",)), False),
    (facts(1, types=("term",)), False),
    (facts(1, available="1999999.99"), False),
    (facts(1, available="2000000.00", per_loan="2000000.00", room="2000000.00"), True),
    (facts(1, per_loan="1999999.99"), False),
    (facts(1, room="1999999.99"), False),
])
def test_an_agreement_guarantees_a_loan_it_covers_and_has_quota_for(agreement, offered):
    from marketplace.matching import guarantee_terms

    terms_ = guarantee_terms(NEED, 1, "credit", [agreement])
    assert bool(terms_) is offered
    if offered:
        assert terms_[0].fee_rate == terms_[0].list_fee_rate == D("0.0100")
