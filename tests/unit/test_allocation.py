"""How a loss on default and a recovery after it are shared (allocation.py), on plain data: no database, no app.

The worked examples use the usual 总对总 split, bank 0.20 / agency 0.40 / re-guarantee 0.20 / risk pool 0.20, on
a loss of 1,000,000.00, so each figure can be checked by hand. The properties draw shares, losses, cap room, pool
cash and the pool's cap per loss, and check the identities the API promises (API.md, loans' `defaults`), with a
model of the largest-remainder split in integer fen kept here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from marketplace.ledger.allocation import LossAllocation, Shares, allocate_loss, allocate_recovery
from marketplace.money import FEN, MAX_AMOUNT, to_fen

USUAL = Shares(bank=Decimal("0.20"), agency=Decimal("0.40"), reguarantee=Decimal("0.20"), risk_pool=Decimal("0.20"))
LOSS = Decimal("1000000.00")
AMPLE = Decimal("10000000.00")
FIGURES = ("loss", "bank_borne", "beyond_cap", "agency_compensation", "agency_net", "reguarantee", "risk_pool_paid",
           "risk_pool_claim")


def figures(allocation: LossAllocation) -> dict[str, Decimal]:
    return {name: getattr(allocation, name) for name in FIGURES}


# Worked examples ------------------------------------------------------------------------------------------------

def test_with_room_under_the_cap_and_cash_in_the_pool_each_party_bears_its_share():
    allocation = allocate_loss(LOSS, USUAL, cap_room=AMPLE, pool_cash=AMPLE)
    # The bank keeps 0.20 of 1,000,000.00; the agency compensates the other 800,000.00, of which it is reimbursed
    # 0.20 / 0.80 by the re-guarantor and 0.20 / 0.80 by the pool.
    assert figures(allocation) == {
        "loss": Decimal("1000000.00"), "bank_borne": Decimal("200000.00"), "beyond_cap": Decimal("0.00"),
        "agency_compensation": Decimal("800000.00"), "agency_net": Decimal("400000.00"),
        "reguarantee": Decimal("200000.00"), "risk_pool_paid": Decimal("200000.00"),
        "risk_pool_claim": Decimal("0.00")}


def test_beyond_the_compensation_cap_the_bank_bears_the_loss_and_the_rest_is_shared_as_usual():
    allocation = allocate_loss(LOSS, USUAL, cap_room=Decimal("300000.00"), pool_cash=AMPLE)
    # The agency would compensate 800,000.00 but the cap leaves room for 300,000.00: the other 500,000.00 stays
    # with the bank, on top of its own 200,000.00. The 300,000.00 is shared 0.40 : 0.20 : 0.20.
    assert figures(allocation) == {
        "loss": Decimal("1000000.00"), "bank_borne": Decimal("700000.00"), "beyond_cap": Decimal("500000.00"),
        "agency_compensation": Decimal("300000.00"), "agency_net": Decimal("150000.00"),
        "reguarantee": Decimal("75000.00"), "risk_pool_paid": Decimal("75000.00"),
        "risk_pool_claim": Decimal("0.00")}


def test_a_pool_short_of_cash_pays_what_it_has_and_owes_the_rest_as_a_claim():
    allocation = allocate_loss(LOSS, USUAL, cap_room=AMPLE, pool_cash=Decimal("50000.00"))
    # The pool's share is 200,000.00; it has 50,000.00, so it owes 150,000.00. Nobody else's share changes.
    assert figures(allocation) == {
        "loss": Decimal("1000000.00"), "bank_borne": Decimal("200000.00"), "beyond_cap": Decimal("0.00"),
        "agency_compensation": Decimal("800000.00"), "agency_net": Decimal("400000.00"),
        "reguarantee": Decimal("200000.00"), "risk_pool_paid": Decimal("50000.00"),
        "risk_pool_claim": Decimal("150000.00")}


def test_the_pool_pays_no_more_than_its_cap_per_loss_and_the_agency_bears_the_rest():
    allocation = allocate_loss(LOSS, USUAL, cap_room=AMPLE, pool_cash=AMPLE, pool_cap_per_loss=Decimal("120000.00"))
    # The pool's share is 200,000.00, its cap 120,000.00: the 80,000.00 above the cap stays with the agency
    # (400,000.00 + 80,000.00), not with the re-guarantor or the bank. The agency still compensates 800,000.00.
    assert figures(allocation) == {
        "loss": Decimal("1000000.00"), "bank_borne": Decimal("200000.00"), "beyond_cap": Decimal("0.00"),
        "agency_compensation": Decimal("800000.00"), "agency_net": Decimal("480000.00"),
        "reguarantee": Decimal("200000.00"), "risk_pool_paid": Decimal("120000.00"),
        "risk_pool_claim": Decimal("0.00")}


def test_a_cap_per_loss_above_the_pools_share_changes_nothing():
    uncapped = allocate_loss(LOSS, USUAL, cap_room=AMPLE, pool_cash=AMPLE)
    for cap in (Decimal("200000.00"), Decimal("250000.00")):  # exactly the pool's share, and above it
        assert allocate_loss(LOSS, USUAL, cap_room=AMPLE, pool_cash=AMPLE, pool_cap_per_loss=cap) == uncapped


def test_a_capped_pool_short_of_cash_owes_only_up_to_its_cap():
    allocation = allocate_loss(LOSS, USUAL, cap_room=AMPLE, pool_cash=Decimal("50000.00"),
                               pool_cap_per_loss=Decimal("120000.00"))
    # The cap applies first (120,000.00, the agency bearing 80,000.00 more), then the cash: 50,000.00 paid and
    # 70,000.00 owed, not the 150,000.00 an uncapped pool would owe.
    assert (allocation.agency_net, allocation.risk_pool_paid, allocation.risk_pool_claim) == (
        Decimal("480000.00"), Decimal("50000.00"), Decimal("70000.00"))


def test_the_cap_per_loss_applies_to_the_pools_share_of_what_the_compensation_cap_allowed():
    allocation = allocate_loss(LOSS, USUAL, cap_room=Decimal("300000.00"), pool_cash=AMPLE,
                               pool_cap_per_loss=Decimal("60000.00"))
    # Of the 300,000.00 compensated the pool's share is 75,000.00; capped at 60,000.00, the agency bears
    # 150,000.00 + 15,000.00.
    assert (allocation.beyond_cap, allocation.agency_net, allocation.reguarantee, allocation.risk_pool_paid) == (
        Decimal("500000.00"), Decimal("165000.00"), Decimal("75000.00"), Decimal("60000.00"))


def test_a_recovery_is_shared_back_in_proportion_to_what_each_party_bore():
    capped = allocate_loss(LOSS, USUAL, cap_room=Decimal("300000.00"), pool_cash=AMPLE)
    borne = [capped.bank_borne, capped.agency_net, capped.reguarantee, capped.risk_pool]
    # 700,000.00 : 150,000.00 : 75,000.00 : 75,000.00 of a 1,000,000.00 loss, so 0.70 : 0.15 : 0.075 : 0.075.
    assert allocate_recovery(Decimal("100000.00"), borne) == [
        Decimal("70000.00"), Decimal("15000.00"), Decimal("7500.00"), Decimal("7500.00")]


def test_the_fen_left_over_from_a_recovery_go_to_the_largest_remainders_ties_to_the_earlier_party():
    # 3 fen at 0.20 : 0.40 : 0.20 : 0.20 is 0.6 : 1.2 : 0.6 : 0.6 fen: rounded down 0, 1, 0, 0, and the two fen
    # left over go to the remainders of 0.6, the bank's and the re-guarantor's (earlier than the pool's).
    borne = [Decimal("200000.00"), Decimal("400000.00"), Decimal("200000.00"), Decimal("200000.00")]
    assert allocate_recovery(Decimal("0.03"), borne) == [
        Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("0.00")]


# Properties -----------------------------------------------------------------------------------------------------

#: Shares are drawn in millionths, the six places a Rate column keeps.
MICRO = 1_000_000
#: (bank, agency, re-guarantee, risk pool): the usual 总对总 splits, whose round numbers make remainders tie.
USUAL_SHARES = ((200_000, 400_000, 200_000, 200_000), (400_000, 400_000, 100_000, 100_000),
                (200_000, 800_000, 0, 0), (200_000, 500_000, 0, 300_000), (200_000, 300_000, 300_000, 200_000))
MAX_FEN = to_fen(MAX_AMOUNT)


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def fen_of(amount: Decimal) -> int:
    return int(amount * 100)


def largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` fen in parts proportional to `weights`: each part rounded down, then the fen left over one each to
    the largest remainders, ties to the earlier part. Integer arithmetic, so remainders compare exactly."""
    total = sum(weights)
    parts = [amount * weight // total for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for index in by_remainder[:amount - sum(parts)]:
        parts[index] += 1
    return parts


@dataclass(frozen=True)
class Default:
    """What settle_default passes allocate_loss, in fen and millionths."""

    loss: int
    shares: tuple[int, int, int, int]
    cap_room: int
    pool_cash: int
    pool_cap: int | None

    def allocate(self, *, capped: bool = True) -> LossAllocation:
        bank, agency, reguarantee, risk_pool = (Decimal(s).scaleb(-6) for s in self.shares)
        cap = self.pool_cap if capped else None
        return allocate_loss(yuan(self.loss), Shares(bank, agency, reguarantee, risk_pool),
                             cap_room=yuan(self.cap_room), pool_cash=yuan(self.pool_cash),
                             pool_cap_per_loss=None if cap is None else yuan(cap))


@st.composite
def drawn_shares(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """Shares that sum to one with the bank keeping at least a fifth, as an agreement must."""
    bank = draw(st.integers(200_000, MICRO))
    rest = MICRO - bank
    reguarantee = draw(st.one_of(st.just(0), st.integers(0, rest)))
    risk_pool = draw(st.one_of(st.just(0), st.integers(0, rest - reguarantee)))
    return bank, rest - reguarantee - risk_pool, reguarantee, risk_pool


def around(loss: int, *, least: int = 0) -> st.SearchStrategy[int]:
    """Cap room, cash or a cap: the least there can be, up to the loss (binding or not), or anything at all."""
    return st.one_of(st.just(least), st.integers(least, max(least, loss)), st.integers(least, MAX_FEN))


@st.composite
def defaults(draw: st.DrawFn) -> Default:
    loss = draw(st.one_of(st.integers(1, 10_000), st.integers(1, 10**10), st.integers(1, MAX_FEN)))
    return Default(loss=loss, shares=draw(st.one_of(st.sampled_from(USUAL_SHARES), drawn_shares())),
                   cap_room=draw(around(loss)), pool_cash=draw(around(loss)),
                   pool_cap=draw(st.one_of(st.none(), around(loss, least=1))))  # a cap is above zero


#: Every limit binding at once: of 1,000,000.00 the cap room allows 300,000.00, the pool's 75,000.00 share is capped
#: at 60,000.00, and it has 50,000.00.
WORKED = Default(loss=100_000_000, shares=USUAL_SHARES[0], cap_room=30_000_000, pool_cash=5_000_000,
                 pool_cap=6_000_000)
examples = settings(max_examples=300, derandomize=True, database=None)


@examples
@example(WORKED)
@given(default=defaults())
def test_the_bank_bears_its_share_of_the_loss_plus_everything_beyond_the_cap(default):
    allocation = default.allocate()
    bank_share = allocation.bank_borne - allocation.beyond_cap
    exact = Fraction(default.loss * default.shares[0], MICRO)
    assert bank_share >= 0 and abs(fen_of(bank_share) - exact) < 1


@examples
@example(WORKED)
@given(default=defaults())
def test_what_the_bank_bears_and_what_the_agency_compensates_add_up_to_the_loss(default):
    allocation = default.allocate()
    assert allocation.loss == yuan(default.loss)
    assert allocation.bank_borne + allocation.agency_compensation == allocation.loss


@examples
@example(WORKED)
@given(default=defaults())
def test_the_agency_compensates_what_the_bank_does_not_keep_up_to_the_cap_room(default):
    allocation = default.allocate()
    wanted = allocation.loss - (allocation.bank_borne - allocation.beyond_cap)
    assert allocation.agency_compensation == min(wanted, yuan(default.cap_room))
    assert allocation.beyond_cap == wanted - allocation.agency_compensation


@examples
@example(WORKED)
@given(default=defaults())
def test_the_agency_the_reguarantor_and_the_pool_share_exactly_the_compensation(default):
    allocation = default.allocate()
    assert allocation.agency_net + allocation.reguarantee + allocation.risk_pool_paid + \
        allocation.risk_pool_claim == allocation.agency_compensation


@examples
@example(WORKED)
@given(default=defaults())
def test_no_figure_is_negative_and_every_figure_is_in_whole_fen(default):
    for name, amount in figures(default.allocate()).items():
        assert amount >= 0, name
        assert amount == amount.quantize(FEN), name


@examples
@example(WORKED)
@given(default=defaults())
def test_the_pool_pays_no_more_than_its_cash_and_owes_the_rest_as_a_claim(default):
    allocation = default.allocate()
    assert allocation.risk_pool_paid <= yuan(default.pool_cash)
    assert allocation.risk_pool_claim == 0 or allocation.risk_pool_paid == yuan(default.pool_cash)


@examples
@example(WORKED)
@given(default=defaults())
def test_the_pool_bears_no_more_than_its_cap_per_loss_and_the_agency_bears_the_excess(default):
    capped, uncapped = default.allocate(), default.allocate(capped=False)
    if default.pool_cap is not None:
        assert capped.risk_pool_paid + capped.risk_pool_claim <= yuan(default.pool_cap)
    limit = uncapped.risk_pool if default.pool_cap is None else yuan(default.pool_cap)
    assert capped.risk_pool == min(uncapped.risk_pool, limit)
    assert capped.agency_net + capped.risk_pool == uncapped.agency_net + uncapped.risk_pool
    assert (capped.bank_borne, capped.beyond_cap, capped.agency_compensation, capped.reguarantee) == (
        uncapped.bank_borne, uncapped.beyond_cap, uncapped.agency_compensation, uncapped.reguarantee)


@st.composite
def recoveries(draw: st.DrawFn) -> tuple[Default, int]:
    """A default and what is recovered after it, from nothing to the whole loss."""
    default = draw(defaults())
    return default, draw(st.one_of(st.integers(0, 100), st.integers(0, default.loss)))


@examples
@example((WORKED, 3))
@given(recovery=recoveries())
def test_a_recovery_is_shared_exactly_and_in_proportion_to_what_each_party_bore(recovery):
    default, recovered = recovery
    allocation = default.allocate()
    borne = [allocation.bank_borne, allocation.agency_net, allocation.reguarantee, allocation.risk_pool]
    amount = yuan(recovered)
    shares = allocate_recovery(amount, borne)
    assert sum(shares) == amount
    assert [fen_of(s) for s in shares] == largest_remainder(fen_of(amount), [fen_of(b) for b in borne])
    for share, bore in zip(shares, borne, strict=True):
        assert abs(fen_of(share) - Fraction(fen_of(amount) * fen_of(bore), default.loss)) < 1
        assert share == share.quantize(FEN) and share >= 0
