"""The admin's pricing bounds per product type, and the check every product meets when it is saved and published:
an interest rate above zero, a spread within the bounds (default −150…+600 bp), amounts and terms within the
type's ranges. This module owns the `pricing_bounds` rows. Services flush; callers commit."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.errors import ValidationFailed
from marketplace.i18n import percent, yuan
from marketplace.lpr.services import interest_rate, rates_on
from products.models import PricingBounds, ProductType


@dataclass(frozen=True)
class Bounds:
    spread_min_bp: int
    spread_max_bp: int
    amount_min: Decimal
    amount_max: Decimal
    term_min_months: int
    term_max_months: int


#: What a type has until the admin sets its own: DESIGN's spread, and amounts and terms wide enough for every real
#: SRDI product (1万 to 5亿 yuan, 1 to 120 months) but not ¥0.01 or 1万亿.
DEFAULT = Bounds(spread_min_bp=-150, spread_max_bp=600, amount_min=Decimal("10000.00"),
                 amount_max=Decimal("500000000.00"), term_min_months=1, term_max_months=120)
NAMES = tuple(f.name for f in fields(Bounds))


def bounds_for(product_type: ProductType | str) -> Bounds:
    row = db.session.get(PricingBounds, ProductType(product_type))
    return DEFAULT if row is None else Bounds(**{name: getattr(row, name) for name in NAMES})


def all_bounds() -> dict[ProductType, Bounds]:
    """Every product type's bounds, in the types' order."""
    rows = {row.product_type: row for row in db.session.scalars(select(PricingBounds))}
    return {kind: (Bounds(**{name: getattr(rows[kind], name) for name in NAMES}) if kind in rows else DEFAULT)
            for kind in ProductType}


def set_bounds(product_type: ProductType, data: dict[str, Any]) -> Bounds:
    """The admin's new bounds for a type (all six values), replacing what it had. Concurrent saves of one type queue on
    its row: the last one stands, whole (never half of one and half of another)."""
    row = db.session.get(PricingBounds, product_type)
    if row is None:
        db.session.execute(db.upsert(PricingBounds).values(product_type=product_type, **vars(DEFAULT),
                                                            updated_at=db.utcnow())
                           .on_conflict_do_nothing(index_elements=["product_type"]))
        row = db.session.get(PricingBounds, product_type)
    db.lock(row)
    for name in NAMES:
        setattr(row, name, data[name])
    db.session.flush()
    audit.record("pricing_bounds.set", "pricing_bounds", None, {"product_type": product_type.value,
                                                                 **{n: data[n] for n in NAMES}})
    return bounds_for(product_type)


def bounds_errors(product: dict[str, Any]) -> dict[str, list[str]]:
    """Where a product (its fields as a dict) leaves its type's bounds, by field; empty when it keeps within them."""
    kind = product.get("product_type")
    if kind is None:
        return {}
    bounds, errors = bounds_for(kind), {}
    spread = product.get("rate_spread_bp")
    if spread is not None and not bounds.spread_min_bp <= spread <= bounds.spread_max_bp:
        errors["rate_spread_bp"] = [_("The spread over the LPR is %(min)s to %(max)s basis points for this product "
                                      "type.", min=f"{bounds.spread_min_bp:+d}", max=f"{bounds.spread_max_bp:+d}")]
    elif spread is not None and product.get("term_min_months") and (rates := rates_on()) is not None:
        rate = interest_rate(rates, product["term_min_months"], spread)
        if rate <= 0:
            errors["rate_spread_bp"] = [_("LPR plus this spread is %(rate)s; the interest rate must be above zero.",
                                          rate=percent(rate))]
    if (low := product.get("amount_min")) is not None and low < bounds.amount_min:
        errors["amount_min"] = [_("The smallest loan of this product type is at least %(min)s.",
                                  min=yuan(bounds.amount_min))]
    if (high := product.get("amount_max")) is not None and high > bounds.amount_max:
        errors["amount_max"] = [_("The largest loan of this product type is at most %(max)s.",
                                  max=yuan(bounds.amount_max))]
    if (short := product.get("term_min_months")) is not None and short < bounds.term_min_months:
        errors["term_min_months"] = [_("A term of this product type is at least %(n)d months.",
                                       n=bounds.term_min_months)]
    if (long := product.get("term_max_months")) is not None and long > bounds.term_max_months:
        errors["term_max_months"] = [_("A term of this product type is at most %(n)d months.",
                                       n=bounds.term_max_months)]
    return errors


def check(product: dict[str, Any]) -> None:
    """422 on each field that leaves its type's bounds."""
    if errors := bounds_errors(product):
        raise ValidationFailed(errors=errors)
