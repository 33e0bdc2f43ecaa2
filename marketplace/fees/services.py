"""Fee-reduction rules: keeping them (admin), pricing with them (matching, preview) and granting their fiscal
subsidies at disbursement, within budget. Services flush; views commit. The preview works on facts its caller
loads (the agreement's fee rate, the enterprise's tier and region), so fees reads no agreement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from marketplace import db
from marketplace.dates import business_today
from marketplace.errors import NotFound, ValidationFailed
from marketplace.fees import rules
from marketplace.fees.models import EffectKind, FeeRule


def create_rule(data: dict[str, Any]) -> FeeRule:
    rule = FeeRule(**_columns(data))
    db.session.add(rule)
    db.session.flush()
    return rule


def update_rule(rule: FeeRule, data: dict[str, Any]) -> FeeRule:
    """Change a rule. Guarantees already priced keep what they were priced with. The rule is locked before its
    subsidies granted are read: a disbursement granting from it meanwhile waits, or is waited for."""
    db.lock(rule)
    if data.get("budget") is not None and data["budget"] < rule.subsidy_granted:
        raise ValidationFailed(errors={"budget": [_(
            "This rule has already granted ¥%(granted)s; the budget cannot be lower.",
            granted=f"{rule.subsidy_granted:,.2f}")]})
    for name, value in _columns(data).items():
        setattr(rule, name, value)
    db.session.flush()
    return rule


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    columns = {k: v for k, v in data.items() if k not in ("conditions", "effect")}
    if "conditions" in data:
        c = data["conditions"]
        columns["conditions"] = {
            "tiers": [str(t) for t in c.get("tiers") or []],
            "region_prefixes": list(c.get("region_prefixes") or []),
            "product_types": [str(t) for t in c.get("product_types") or []],
            "amount_max": None if c.get("amount_max") is None else f"{c['amount_max']:.2f}",
            "first_loan": c.get("first_loan"),
        }
    if "effect" in data:
        columns["effect_kind"] = EffectKind(data["effect"]["kind"])
        columns["effect_value"] = data["effect"]["value"]
    return columns


def get_rule(rule_id: int) -> FeeRule:
    rule = db.session.get(FeeRule, rule_id)
    if rule is None:
        raise NotFound(_("No fee rule %(id)d.", id=rule_id))
    return rule


def rules_in_force(day: dt.date | None = None) -> list[rules.Rule]:
    """The rules that count on `day`, in the order they are evaluated: one query."""
    day = day or business_today()
    return [r.as_rule() for r in db.session.scalars(
        select(FeeRule).where(FeeRule.valid_from <= day, or_(FeeRule.valid_to.is_(None), FeeRule.valid_to >= day))
        .order_by(FeeRule.priority, FeeRule.id))]


def grant_subsidies(trail: list[dict], principal: Decimal, days: int) -> tuple[Decimal, list[dict]]:
    """At disbursement: each subsidy rule of the trail grants its part of the fiscal subsidy, as far as its
    budget still allows; the rule rows are locked, so concurrent disbursements cannot overspend a budget.
    → (the subsidy granted, the trail with what each rule granted and, where short, that its budget ran out)."""
    ids = sorted({step["rule_id"] for step in trail
                  if step["outcome"] == rules.APPLIED and step["effect"]["kind"] == rules.SUBSIDY})
    locked = {r.id: r for r in db.session.scalars(select(FeeRule).where(FeeRule.id.in_(ids))
                                                  .order_by(FeeRule.id).with_for_update())} if ids else {}
    total, steps = rules.grant(trail, principal, days, {
        rule_id: None if rule.budget is None else rule.budget - rule.subsidy_granted
        for rule_id, rule in locked.items()})
    for step in steps:
        if "granted" in step and step["rule_id"] in locked:
            rule = locked[step["rule_id"]]
            rule.subsidy_granted += Decimal(step["granted"])
            if step["outcome"] == rules.BUDGET_EXHAUSTED:
                step["note"] = _("The rule's budget of %(budget)s is exhausted: %(granted)s of %(wanted)s granted.",
                                 budget=f"{rule.budget:,.2f}", granted=f"{Decimal(step['granted']):,.2f}",
                                 wanted=f"{Decimal(step['wanted']):,.2f}")
    db.session.flush()
    return total, steps


@dataclass(frozen=True)
class PreviewFacts:
    """What a fee preview needs to know of the agreement and the enterprise; the caller loads them."""

    #: The agreement's fee rate: the fee before the rules.
    fee_rate: Decimal
    #: The enterprise's tier on the disbursement day.
    tier: str
    region_code: str
    #: Whether the enterprise has never had a loan disbursed.
    first_loan: bool


def preview(facts: PreviewFacts, amount: Decimal, term_months: int, day: dt.date,
            product_type: str = "") -> dict[str, Any]:
    """The fee for a loan disbursed on `day`, before and after the rules in force then, with the trail; changes
    nothing."""
    subject = rules.Subject(tier=facts.tier, region_code=facts.region_code, product_type=product_type,
                            amount=amount, first_loan=facts.first_loan)
    in_force = rules_in_force(day)
    pricing = rules.price(facts.fee_rate, subject, in_force)
    days = rules.term_days(day, term_months)
    subsidy, trail = rules.grant(pricing.trail, amount, days, {r.id: r.budget_left for r in in_force})
    fee = rules.fee_amount(amount, pricing.fee_rate, days)
    return {"list_fee_rate": pricing.list_fee_rate, "fee_rate": pricing.fee_rate,
            "fee_subsidy_rate": pricing.subsidy_rate, "days": days,
            "list_fee": rules.fee_amount(amount, pricing.list_fee_rate, days), "fee": fee,
            "fiscal_subsidy": subsidy, "agency_fee_income": fee + subsidy, "trail": trail}
