"""The compensation cap (代偿率上限, 熔断) as arithmetic on plain decimals: the one place its formula is written.

An agreement's agency compensates at most cap × guaranteed total over the agreement's life, rounded down to the fen
(so the cap is never exceeded by a rounding); past it the bank bears the loss and the agreement stops taking new
guarantees. Settlement, the agreement's statement and `verify` all ask these two functions.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from marketplace.money import FEN

ZERO = Decimal("0.00")


def compensation_ceiling(cap_rate: Decimal, guaranteed_total: Decimal) -> Decimal:
    """The most the agency may compensate in all: cap × guaranteed total, rounded down to the fen."""
    return (cap_rate * guaranteed_total).quantize(FEN, rounding=ROUND_DOWN)


def compensation_room(cap_rate: Decimal, guaranteed_total: Decimal, compensated_total: Decimal) -> Decimal:
    """What the cap still lets the agency compensate: the ceiling less what it has compensated, never below zero."""
    return max(compensation_ceiling(cap_rate, guaranteed_total) - compensated_total, ZERO)
