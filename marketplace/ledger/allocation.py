"""Sharing money exactly: losses on default and recoveries after it (DESIGN.md §Ledger), on plain data.

Every split is by largest remainder in whole fen, so the parts always add up to the amount.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from marketplace.money import FEN

ZERO = Decimal("0.00")


def split(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`amount` in parts proportional to `weights`, in whole fen, adding up to `amount` exactly.

    Each part is first rounded down; the fen left over go one each to the largest remainders (ties: earlier
    first). All-zero weights give all-zero parts, unless the amount is not zero."""
    total = sum(weights, Decimal(0))
    if amount == 0:
        return [ZERO for _ in weights]
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"cannot split {amount} by weights {list(weights)}")
    fen = int(amount / FEN)
    exact = [Fraction(fen) * Fraction(w) / Fraction(total) for w in weights]  # exact: ties compare as ties
    parts = [math.floor(e) for e in exact]
    leftover = fen - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))[:leftover]:
        parts[index] += 1
    return [Decimal(p) * FEN for p in parts]


@dataclass(frozen=True)
class Shares:
    bank: Decimal
    agency: Decimal
    reguarantee: Decimal
    risk_pool: Decimal


@dataclass(frozen=True)
class LossAllocation:
    loss: Decimal
    #: What the bank keeps: its share, plus `beyond_cap`.
    bank_borne: Decimal
    #: What the compensation cap kept from the agency's compensation, borne by the bank.
    beyond_cap: Decimal
    #: 代偿: what the agency pays the bank; shared between the agency, the re-guarantor and the risk pool.
    agency_compensation: Decimal
    agency_net: Decimal
    reguarantee: Decimal
    risk_pool_paid: Decimal
    risk_pool_claim: Decimal

    @property
    def risk_pool(self) -> Decimal:
        return self.risk_pool_paid + self.risk_pool_claim


def allocate_loss(loss: Decimal, shares: Shares, *, cap_room: Decimal, pool_cash: Decimal,
                  pool_cap_per_loss: Decimal | None = None) -> LossAllocation:
    """Share a loss on default.

    The bank keeps its share; the agency compensates the rest, but only up to `cap_room` (what the agreement's
    compensation cap still allows): beyond it the bank bears the loss. The compensation is shared between the
    agency, the re-guarantor and the risk pool in proportion to their shares; the pool pays what its cash (and its
    per-loss cap, whose excess stays with the agency) allows and owes the rest as a claim."""
    bank_share = split(loss, [shares.bank, shares.agency + shares.reguarantee + shares.risk_pool])[0]
    wanted = loss - bank_share
    compensation = min(wanted, max(cap_room, ZERO))
    beyond_cap = wanted - compensation
    if shares.agency + shares.reguarantee + shares.risk_pool > 0:
        agency, reguarantee, pool = split(compensation, [shares.agency, shares.reguarantee, shares.risk_pool])
    else:
        agency, reguarantee, pool = compensation, ZERO, ZERO
    if pool_cap_per_loss is not None and pool > pool_cap_per_loss:
        agency, pool = agency + pool - pool_cap_per_loss, pool_cap_per_loss
    paid = min(pool, max(pool_cash, ZERO))
    return LossAllocation(loss=loss, bank_borne=bank_share + beyond_cap, beyond_cap=beyond_cap,
                          agency_compensation=compensation, agency_net=agency, reguarantee=reguarantee,
                          risk_pool_paid=paid, risk_pool_claim=pool - paid)


def allocate_recovery(amount: Decimal, borne: Sequence[Decimal]) -> list[Decimal]:
    """Share a recovery in proportion to what each party bore for the loan (to the fen, adding up exactly)."""
    return split(amount, borne)
