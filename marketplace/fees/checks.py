"""Invariants of the fee rules, for `flask verify`."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from marketplace import db
from marketplace.fees.models import FeeRule


def rules_within_budgets() -> list[str]:
    """No fee-reduction rule has granted more subsidy (降费奖补) than its budget."""
    rows = db.session.execute(select(FeeRule.id, FeeRule.name, FeeRule.subsidy_granted, FeeRule.budget).where(
        FeeRule.budget.is_not(None), FeeRule.subsidy_granted > FeeRule.budget).order_by(FeeRule.id)).all()
    return [f"Fee rule {name} (id {rule_id}) granted {granted:.2f}, more than its budget of {budget:.2f}."
            for rule_id, name, granted, budget in rows]


CHECKS: tuple[Callable[[], list[str]], ...] = (rules_within_budgets,)
