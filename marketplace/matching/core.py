"""Pricing, ranking and explaining offers for one financing request.

The database does the indexed prefilter (DESIGN.md §Matching step 1) and hands over plain candidates; this module
attaches guarantee terms, prices each offer (interest = LPR for the term + spread; all-in = interest + the
guarantee fee the enterprise pays), ranks them, and says, as data, why products were left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from marketplace.fees.rules import Rule, Subject, price

BASIS_POINT = Decimal("0.0001")
ONE_YEAR_LPR_MAX_TERM = 60
ZERO = Decimal("0")


@dataclass(frozen=True)
class Rates:
    lpr_1y: Decimal
    lpr_5y: Decimal

    def interest(self, term_months: int, spread_bp: int) -> Decimal:
        """LPR (1-year for terms up to 60 months, 5-year above) + spread, exactly."""
        base = self.lpr_1y if term_months <= ONE_YEAR_LPR_MAX_TERM else self.lpr_5y
        return base + spread_bp * BASIS_POINT


@dataclass(frozen=True)
class Need:
    """What the enterprise asks for, and who it is."""

    amount: Decimal
    term_months: int
    tier: str
    region_code: str
    accept_guarantee: bool = True
    product_types: frozenset[str] | None = None
    #: Never had a loan disbursed through the marketplace (a fee-rule condition).
    first_loan: bool = False


@dataclass(frozen=True)
class GuaranteeTerms:
    """An active 总对总 agreement that can guarantee this loan, priced after fee-reduction rules."""

    agreement_id: int
    list_fee_rate: Decimal
    fee_rate: Decimal
    subsidy_rate: Decimal = ZERO
    applied_rules: tuple[dict, ...] = ()


@dataclass(frozen=True)
class AgreementFacts:
    """What matching needs to know of an active 总对总 agreement of the candidate's bank."""

    agreement_id: int
    bank_id: int
    fee_rate: Decimal
    tiers: frozenset[str]
    product_types: frozenset[str]
    quota_available: Decimal
    per_loan_cap: Decimal
    #: The per-enterprise cap less what this enterprise already has reserved or outstanding under the agreement.
    enterprise_room: Decimal


def guarantee_terms(need: Need, bank_id: int, product_type: str, agreements: list[AgreementFacts],
                    fee_rules: list[Rule] = ()) -> tuple[GuaranteeTerms, ...]:
    """The agreements of the bank that cover the enterprise's tier and the product type and still have quota for
    the amount (total, per enterprise, per loan), priced at the agreement's fee rate after the fee-reduction
    rules."""
    subject = Subject(tier=need.tier, region_code=need.region_code, product_type=product_type, amount=need.amount,
                      first_loan=need.first_loan)
    terms = []
    for a in sorted(agreements, key=lambda a: a.agreement_id):
        if a.bank_id == bank_id and need.tier in a.tiers and product_type in a.product_types \
                and need.amount <= min(a.quota_available, a.per_loan_cap, a.enterprise_room):
            pricing = price(a.fee_rate, subject, list(fee_rules))
            terms.append(GuaranteeTerms(agreement_id=a.agreement_id, list_fee_rate=a.fee_rate,
                                        fee_rate=pricing.fee_rate, subsidy_rate=pricing.subsidy_rate,
                                        applied_rules=pricing.applied_rules))
    return tuple(terms)


@dataclass(frozen=True)
class Candidate:
    """A published product version that passed the prefilter (amount, term, tier, region)."""

    product_id: int
    product_name: str
    product_type: str
    bank_id: int
    bank_name: str
    spread_bp: int
    guarantee: str  # "none" | "optional" | "required"
    agreements: tuple[GuaranteeTerms, ...] = ()
    product_name_en: str | None = None
    bank_name_en: str | None = None


@dataclass(frozen=True)
class NearMiss:
    """A published product that did not pass the prefilter, with what is needed to say why."""

    product_id: int
    amount_min: Decimal
    amount_max: Decimal
    term_min_months: int
    term_max_months: int
    tiers: frozenset[str]
    region_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class OfferTerms:
    rank: int
    candidate: Candidate
    agreement_id: int | None
    interest_rate: Decimal
    list_fee_rate: Decimal
    guarantee_fee_rate: Decimal
    fee_subsidy_rate: Decimal
    all_in_rate: Decimal
    applied_rules: tuple[dict, ...] = field(default=())


@dataclass(frozen=True)
class Reason:
    """Why something was left out, as data; the request keeps it so and it is put into words when read, in the
    reader's language (the products by id, so that their names are read in that language too).

    `code` is one of: nothing_published, amount_above_all, amount_below_all, amount_high, amount_low, term, tier,
    region, guarantee_refused, guarantee_unavailable, nothing_fits."""

    code: str
    products: tuple[int, ...] = ()  # the ids of the first few products (versions) it is about
    more: int = 0  # how many more products share the reason
    amount: Decimal | None = None  # the amount asked for
    limit: Decimal | None = None  # the largest or smallest amount any product lends
    term_months: int | None = None
    tier: str | None = None


SHOWN_PER_REASON = 3


def rank_offers(need: Need, candidates: list[Candidate], rates: Rates) -> tuple[list[OfferTerms], list[Reason]]:
    """Priced offers ranked by all-in rate (ties: interest, then product id, then agreement id), and the
    reasons for candidates that could not be offered (a guarantee was needed and not available or not accepted)."""
    unpriced: list[tuple[Decimal, Decimal, int, int, Candidate, GuaranteeTerms | None]] = []
    unavailable: list[Candidate] = []
    refused: list[Candidate] = []
    for candidate in candidates:
        interest = rates.interest(need.term_months, candidate.spread_bp)
        if candidate.guarantee != "required":
            unpriced.append((interest, interest, candidate.product_id, 0, candidate, None))
        if candidate.guarantee == "none" or (candidate.guarantee == "optional" and not need.accept_guarantee):
            continue
        if not need.accept_guarantee:
            refused.append(candidate)
            continue
        if candidate.guarantee == "required" and not candidate.agreements:
            unavailable.append(candidate)
        for terms in candidate.agreements:
            unpriced.append((interest + terms.fee_rate, interest, candidate.product_id, terms.agreement_id,
                             candidate, terms))
    unpriced.sort(key=lambda row: row[:4])
    offers = [
        OfferTerms(rank=rank, candidate=candidate, agreement_id=terms.agreement_id if terms else None,
                   interest_rate=interest, list_fee_rate=terms.list_fee_rate if terms else ZERO,
                   guarantee_fee_rate=terms.fee_rate if terms else ZERO,
                   fee_subsidy_rate=terms.subsidy_rate if terms else ZERO, all_in_rate=all_in,
                   applied_rules=terms.applied_rules if terms else ())
        for rank, (all_in, interest, _pid, _aid, candidate, terms) in enumerate(unpriced, start=1)
    ]
    reasons = [_about("guarantee_refused", refused), _about("guarantee_unavailable", unavailable)]
    return offers, [reason for reason in reasons if reason is not None]


def why_not(need: Need, product: NearMiss) -> str:
    """The first requirement the product does not meet (amount_high, amount_low, term, tier, region), or "" when
    it fits."""
    if need.amount > product.amount_max:
        return "amount_high"
    if need.amount < product.amount_min:
        return "amount_low"
    if not product.term_min_months <= need.term_months <= product.term_max_months:
        return "term"
    if need.tier not in product.tiers:
        return "tier"
    if product.region_prefixes and not any(need.region_code.startswith(p) for p in product.region_prefixes):
        return "region"
    return ""


def explain(need: Need, near_misses: list[NearMiss], *, offered: int, any_published: bool,
            largest_amount: Decimal | None, smallest_amount: Decimal | None) -> list[Reason]:
    """What was left out and why. `near_misses` are the best-priced published products that did not fit;
    `largest_amount` and `smallest_amount` bound what any published product lends."""
    if not any_published:
        return [Reason("nothing_published")]
    reasons = []
    if largest_amount is not None and need.amount > largest_amount:
        reasons.append(Reason("amount_above_all", amount=need.amount, limit=largest_amount))
    elif smallest_amount is not None and need.amount < smallest_amount:
        reasons.append(Reason("amount_below_all", amount=need.amount, limit=smallest_amount))
    else:
        groups: dict[str, list[NearMiss]] = defaultdict(list)
        for product in near_misses:
            if code := why_not(need, product):
                groups[code].append(product)
        for code in ("amount_high", "amount_low", "term", "tier", "region"):
            if reason := _about(code, groups.get(code, []), amount=need.amount, term_months=need.term_months,
                                tier=need.tier):
                reasons.append(reason)
    if offered == 0 and not reasons:
        reasons.append(Reason("nothing_fits", amount=need.amount, term_months=need.term_months, tier=need.tier))
    return reasons


def _about(code: str, products: list, **details: object) -> Reason | None:
    if not products:
        return None
    shown = tuple(p.product_id for p in products[:SHOWN_PER_REASON])
    return Reason(code, shown, max(len(products) - SHOWN_PER_REASON, 0), **details)
