"""Fee-reduction rules: keeping them (admin), pricing with them (matching, preview) and granting their fiscal
subsidies at disbursement, within budget. Services flush; views commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import exists, or_, select

from marketplace import db
from marketplace.dates import business_today
from marketplace.errors import NotFound
from marketplace.fees import rules
from marketplace.fees.models import EffectKind, FeeRule
from marketplace.financing.models import Loan


def create_rule(data: dict[str, Any]) -> FeeRule:
    rule = FeeRule(**_columns(data))
    db.session.add(rule)
    db.session.flush()
    return rule


def update_rule(rule: FeeRule, data: dict[str, Any]) -> FeeRule:
    """Change a rule. Guarantees already priced keep what they were priced with."""
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


def is_first_loan(enterprise_id: int) -> bool:
    """Whether the enterprise has never had a loan disbursed through the marketplace."""
    return not db.session.scalar(select(exists().where(Loan.enterprise_id == enterprise_id,
                                                       Loan.disbursed_on.is_not(None))))


def grant_subsidies(trail: list[dict], principal: Decimal, days: int) -> tuple[Decimal, list[dict]]:
    """At disbursement: each subsidy rule of the trail grants its part of the fiscal subsidy, as far as its
    budget still allows (the rule rows are locked so concurrent disbursements cannot overspend a budget).
    → (the subsidy granted, the trail with what each rule granted and, where short, why)."""
    ids = sorted(step["rule_id"] for step in trail
                 if step["outcome"] == rules.APPLIED and step["effect"]["kind"] == rules.SUBSIDY)
    locked = {r.id: r for r in db.session.scalars(select(FeeRule).where(FeeRule.id.in_(ids))
                                                  .order_by(FeeRule.id).with_for_update())} if ids else {}
    total, updated = Decimal("0.00"), []
    for step in trail:
        rule = locked.get(step["rule_id"]) if step["effect"]["kind"] == rules.SUBSIDY else None
        if rule is None or step["outcome"] != rules.APPLIED:
            updated.append(step)
            continue
        wanted = rules.fee_amount(principal, Decimal(step["subsidy_rate_part"]), days)
        left = None if rule.budget is None else rule.budget - rule.subsidy_granted
        granted = wanted if left is None else max(min(wanted, left), Decimal("0.00"))
        rule.subsidy_granted += granted
        total += granted
        step = {**step, "granted": f"{granted:.2f}"}
        if granted < wanted:
            step["outcome"] = rules.BUDGET_EXHAUSTED
            step["note"] = _("The rule's budget of %(budget)s is exhausted: %(granted)s of %(wanted)s granted.",
                             budget=f"{rule.budget:,.2f}", granted=f"{granted:,.2f}", wanted=f"{wanted:,.2f}")
        updated.append(step)
    db.session.flush()
    return total, updated
