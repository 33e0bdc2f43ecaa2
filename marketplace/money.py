"""Exact money: one rounding policy (half up to the fen) and conversions to and from integer fen."""

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
#: The largest amount a Money column holds: what fits in a signed 64-bit count of fen, with room to sum.
MAX_AMOUNT = Decimal("9999999999999.99")


def quantize(amount: Decimal | int | str) -> Decimal:
    """Round to the fen, half up: the one rounding policy for money."""
    return Decimal(amount).quantize(FEN, rounding=ROUND_HALF_UP)


def to_fen(amount: Decimal | int) -> int:
    value = Decimal(amount)
    if value != value.quantize(FEN):
        raise ValueError(f"{amount} has more than two decimal places; round it explicitly first")
    return int(value * 100)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)


def format_amount(amount: Decimal) -> str:
    """'1234567.80' for the API: exactly two places, no separators."""
    return f"{quantize(amount):.2f}"


def format_rate(rate: Decimal) -> str:
    """A rate as a fraction with at least four places: '0.0350', '0.003750'."""
    rate = Decimal(rate).normalize()
    places = max(4, -rate.as_tuple().exponent) if isinstance(rate.as_tuple().exponent, int) else 4
    return f"{rate:.{places}f}"
