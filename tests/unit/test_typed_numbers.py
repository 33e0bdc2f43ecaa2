"""Issue 22: the web forms read numbers as people type them; the API stays strict (tests/security/test_bad_input.py)."""

from decimal import Decimal

import pytest

from marketplace.forms import rate_as_typed, typed_amount, typed_rate


@pytest.mark.parametrize(("typed", "read"), [
    ("1,000,000", "1000000.00"), ("1000000.00", "1000000.00"), ("500万", "5000000.00"), ("500 万元", "5000000.00"),
    ("¥1,234.5", "1234.50"), ("￥12,345,678.90", "12345678.90"), ("1.2亿", "120000000.00"), ("3000元", "3000.00"),
    ("1，000，000", "1000000.00"), ("0.000001万", "0.01"),
])
def test_amounts_as_people_type_them(typed, read):
    assert typed_amount(typed) == read


@pytest.mark.parametrize("typed", ["abc", "1,0,0", "12,34", "1e6", "１００", "500万万", "0.0000001万"])
def test_what_is_no_amount_reaches_the_field_to_be_refused(typed):
    """Left as typed (or, finer than a fen, as exactly what it is), for the field's own message."""
    assert typed_amount(typed) in (typed, "0.0010000")


@pytest.mark.parametrize(("typed", "read"), [("3.45%", "0.0345"), ("3.45 %", "0.0345"), ("1％", "0.01"),
                                             ("0.0345", "0.0345"), ("20%", "0.20"), ("abc%", "abc%")])
def test_rates_in_per_cent_or_as_fractions(typed, read):
    assert typed_rate(typed) == read


@pytest.mark.parametrize("stored, shown", [("0.0125", "1.25%"), ("0.008", "0.8%"), ("0.5", "50%"), ("1", "100%")])
def test_a_stored_rate_is_shown_in_per_cent_and_read_back_as_it_was(stored, shown):
    assert rate_as_typed(Decimal(stored)) == shown
    assert Decimal(typed_rate(shown)) == Decimal(stored)
