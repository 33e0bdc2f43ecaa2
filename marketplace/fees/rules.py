"""Fee-reduction rules, evaluated on plain data (DESIGN.md §Fee-reduction rules).

Rules run in priority order. `cap_fee_rate` holds the fee at most at its value, `reduce_fee_rate_bp` takes basis
points off, and `fiscal_subsidy_share` has the fiscal fund pay the agency that share of what was waived so far
(降费奖补). A rule that is not stackable ends the evaluation once it applies; a rule with a budget stops applying
once its subsidies reach it. The trail says what each matching rule did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from marketplace.money import FEN, format_rate, quantize

BASIS_POINT = Decimal("0.0001")
RATE_PLACES = Decimal("0.000001")
ZERO = Decimal("0")
DAYS_IN_YEAR = 365

CAP = "cap_fee_rate"
REDUCE = "reduce_fee_rate_bp"
SUBSIDY = "fiscal_subsidy_share"
KINDS = (CAP, REDUCE, SUBSIDY)

APPLIED = "applied"
BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: str
    value: Decimal
    stackable: bool = True
    tiers: frozenset[str] = frozenset()
    region_prefixes: tuple[str, ...] = ()
    product_types: frozenset[str] = frozenset()
    amount_max: Decimal | None = None
    first_loan: bool | None = None
    #: What is left of the rule's subsidy budget; None when it has none.
    budget_left: Decimal | None = None

    def covers(self, subject: Subject) -> bool:
        """Every condition given holds (an empty condition holds for everyone)."""
        return ((not self.tiers or subject.tier in self.tiers)
                and (not self.region_prefixes or any(subject.region_code.startswith(p)
                                                      for p in self.region_prefixes))
                and (not self.product_types or subject.product_type in self.product_types)
                and (self.amount_max is None or subject.amount <= self.amount_max)
                and (not self.first_loan or subject.first_loan))

    @property
    def effect(self) -> dict[str, str]:
        value = str(int(self.value)) if self.kind == REDUCE else format_rate(self.value)
        return {"kind": self.kind, "value": value}


@dataclass(frozen=True)
class Subject:
    """Who borrows what, as the rules' conditions see it."""

    tier: str
    region_code: str
    product_type: str
    amount: Decimal
    first_loan: bool


@dataclass(frozen=True)
class Pricing:
    list_fee_rate: Decimal
    fee_rate: Decimal
    subsidy_rate: Decimal = ZERO
    #: One entry per rule whose conditions held: rule_id, name, effect, outcome, and the rates after it.
    trail: tuple[dict, ...] = field(default=())

    @property
    def applied_rules(self) -> tuple[dict, ...]:
        return tuple(step for step in self.trail if step["outcome"] == APPLIED)


def price(list_fee_rate: Decimal, subject: Subject, rules: list[Rule]) -> Pricing:
    """The guarantee fee the enterprise pays and the share the fiscal fund makes up, after `rules` (in order)."""
    fee, subsidy, trail = list_fee_rate, ZERO, []
    for rule in rules:
        if not rule.covers(subject):
            continue
        step = {"rule_id": rule.id, "name": rule.name, "effect": rule.effect, "outcome": APPLIED}
        if rule.kind == SUBSIDY and rule.budget_left is not None and rule.budget_left <= 0:
            trail.append({**step, "outcome": BUDGET_EXHAUSTED, "fee_rate": _rate(fee), "subsidy_rate": _rate(subsidy)})
            continue
        if rule.kind == CAP:
            fee = min(fee, rule.value)
        elif rule.kind == REDUCE:
            fee = max(fee - rule.value * BASIS_POINT, ZERO)
        else:
            part = min(_quantize_rate((list_fee_rate - fee) * rule.value), list_fee_rate - fee - subsidy)
            step["subsidy_rate_part"] = _rate(part)
            subsidy += part
        trail.append({**step, "fee_rate": _rate(fee), "subsidy_rate": _rate(subsidy)})
        if not rule.stackable:
            break
    return Pricing(list_fee_rate, _quantize_rate(fee), _quantize_rate(subsidy), tuple(trail))


def _quantize_rate(rate: Decimal) -> Decimal:
    return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _rate(rate: Decimal) -> str:
    return format_rate(_quantize_rate(rate))


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate_day in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate_day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def term_days(start: dt.date, term_months: int) -> int:
    """Days of the term: from the disbursement date to the same date `term_months` later."""
    return (add_months(start, term_months) - start).days


def fee_amount(principal: Decimal, rate: Decimal, days: int) -> Decimal:
    """amount × rate × days ÷ 365, to the fen (国融担〔2020〕23号)."""
    return quantize(principal * rate * days / DAYS_IN_YEAR) if rate else Decimal("0.00").quantize(FEN)


def grant(trail: tuple[dict, ...] | list[dict], principal: Decimal, days: int,
          budget_left: dict[int, Decimal | None]) -> tuple[Decimal, list[dict]]:
    """What each subsidy rule of the trail grants for a loan, within what is left of its budget
    (`budget_left[rule_id]`, None for no budget). → (the total, the trail with `granted` on subsidy steps and,
    where a budget fell short, the outcome budget_exhausted)."""
    total, steps = Decimal("0.00"), []
    for step in trail:
        if step["outcome"] != APPLIED or step["effect"]["kind"] != SUBSIDY:
            steps.append(step)
            continue
        wanted = fee_amount(principal, Decimal(step["subsidy_rate_part"]), days)
        left = budget_left.get(step["rule_id"])
        granted = wanted if left is None else max(min(wanted, left), Decimal("0.00"))
        total += granted
        step = {**step, "granted": f"{granted:.2f}"}
        if granted < wanted:
            step["outcome"] = BUDGET_EXHAUSTED
            step["wanted"] = f"{wanted:.2f}"
        steps.append(step)
    return total, steps
