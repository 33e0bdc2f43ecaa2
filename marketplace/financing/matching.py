"""Loading what the matching core needs: a constant number of indexed queries, whatever the catalogue size."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import ColumnElement, String, and_, case, exists, func, literal, select, union_all

from guarantees.models import HOLDING_QUOTA, Guarantee
from guarantees.services import active_agreements_of
from marketplace import db
from marketplace.matching import AgreementFacts, Candidate, NearMiss, Need
from marketplace.orgs.models import Organization
from products.models import Product, ProductRegion, ProductStatus, ProductTier

#: How many eligible products (cheapest spread first) are priced for one request, and how many offers are kept.
CANDIDATE_LIMIT = 50
OFFER_LIMIT = 20
#: How many better-priced products that did not fit are explained.
NEAR_MISS_LIMIT = 20


def _published(need: Need) -> list[ColumnElement[bool]]:
    conditions = [Product.status == ProductStatus.PUBLISHED]
    if need.product_types:
        conditions.append(Product.product_type.in_(sorted(need.product_types)))
    return conditions


def _tier_exists(need: Need) -> ColumnElement[bool]:
    # A semi-join: the planner can start from ix_product_tiers_tier when the tier is rare.
    return exists().where(ProductTier.product_id == Product.id, ProductTier.tier == need.tier)


def _tier_per_row(need: Need) -> ColumnElement[bool]:
    # Under NOT an EXISTS cannot be a semi-join, and PostgreSQL would hash all of product_tiers per request.
    return select(func.count()).where(ProductTier.product_id == Product.id,
                                      ProductTier.tier == need.tier).scalar_subquery() > 0


def _region_fits(need: Need) -> ColumnElement[bool]:
    """No region listed, or a listed prefix of the enterprise's code; tested per visited row (a NOT EXISTS … OR
    EXISTS form makes PostgreSQL hash the whole product_regions table on every request)."""
    prefix = ProductRegion.region_prefix
    matches = case((func.substr(literal(need.region_code), 1, func.length(prefix)) == prefix, 1), else_=0)
    return func.coalesce(select(func.max(matches)).where(ProductRegion.product_id == Product.id)
                         .scalar_subquery(), 1) == 1


def _fits(need: Need, tier_test: Callable[[Need], ColumnElement[bool]]) -> ColumnElement[bool]:
    """DESIGN.md §Matching step 1: amount and term ranges contain the request, tier and region are eligible."""
    return and_(
        Product.amount_min <= need.amount, Product.amount_max >= need.amount,
        Product.term_min_months <= need.term_months, Product.term_max_months >= need.term_months,
        tier_test(need), _region_fits(need),
    )


def load_candidates(need: Need) -> list[Candidate]:
    """The cheapest-spread published products that fit, in one query that walks the spread index and stops."""
    # Organization, not Bank: joining the two tables of Bank leads PostgreSQL to list and sort every product.
    rows = db.session.execute(
        select(Product.id, Product.name, Product.name_en, Product.product_type, Product.bank_id, Organization.name,
               Organization.name_en, Product.rate_spread_bp, Product.guarantee)
        .join(Organization, Organization.id == Product.bank_id)
        .where(*_published(need), _fits(need, _tier_exists))
        .order_by(Product.rate_spread_bp, Product.id)
        .limit(CANDIDATE_LIMIT))
    return [Candidate(product_id=pid, product_name=name, product_name_en=name_en, product_type=ptype.value,
                      bank_id=bank_id, bank_name=bank_name, bank_name_en=bank_name_en, spread_bp=spread,
                      guarantee=guarantee.value)
            for pid, name, name_en, ptype, bank_id, bank_name, bank_name_en, spread, guarantee in rows]


def load_near_misses(need: Need, spread_at_most: int | None) -> list[NearMiss]:
    """Published products that do not fit and would have been priced no worse than the offers made: their columns
    in one query, then the tiers and regions of those few in one more (no ORM objects, no eager joins)."""
    query = (select(Product.id, Product.amount_min, Product.amount_max, Product.term_min_months,
                    Product.term_max_months)
             .where(*_published(need), ~_fits(need, _tier_per_row))
             .order_by(Product.rate_spread_bp, Product.id).limit(NEAR_MISS_LIMIT))
    if spread_at_most is not None:
        query = query.where(Product.rate_spread_bp <= spread_at_most)
    rows = db.session.execute(query).all()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    tiers: dict[int, set[str]] = {pid: set() for pid in ids}
    regions: dict[int, list[str]] = {pid: [] for pid in ids}
    listed = union_all(select(ProductTier.product_id, literal("tier"), ProductTier.tier.cast(String))
                       .where(ProductTier.product_id.in_(ids)),
                       select(ProductRegion.product_id, literal("region"), ProductRegion.region_prefix)
                       .where(ProductRegion.product_id.in_(ids)))
    for pid, kind, value in db.session.execute(listed):
        (tiers[pid].add if kind == "tier" else regions[pid].append)(value)
    return [NearMiss(product_id=pid, amount_min=amount_min, amount_max=amount_max, term_min_months=term_min,
                     term_max_months=term_max, tiers=frozenset(tiers[pid]), region_prefixes=tuple(sorted(regions[pid])))
            for pid, amount_min, amount_max, term_min, term_max in rows]


def amount_bounds(need: Need) -> tuple[Decimal | None, Decimal | None]:
    """The largest and smallest amount any published product lends (None, None when nothing is published)."""
    largest, smallest = db.session.execute(
        select(func.max(Product.amount_max), func.min(Product.amount_min)).where(*_published(need))).one()
    return largest, smallest


def load_agreement_facts(bank_ids: set[int], enterprise_id: int) -> list[AgreementFacts]:
    """The active agreements of these banks, with the room left under each one's per-enterprise cap: two queries."""
    agreements = active_agreements_of(bank_ids)
    used = dict(db.session.execute(
        select(Guarantee.agreement_id, func.sum(Guarantee.exposure))
        .where(Guarantee.agreement_id.in_([a.id for a in agreements]), Guarantee.enterprise_id == enterprise_id,
               Guarantee.status.in_(HOLDING_QUOTA))
        .group_by(Guarantee.agreement_id)).all()) if agreements else {}
    return [AgreementFacts(agreement_id=a.id, bank_id=a.bank_id, fee_rate=a.fee_rate, tiers=frozenset(a.eligible_tiers),
                           product_types=frozenset(a.eligible_product_types), quota_available=a.quota_available,
                           per_loan_cap=a.per_loan_cap,
                           enterprise_room=a.per_enterprise_cap - used.get(a.id, Decimal("0.00")))
            for a in agreements]
