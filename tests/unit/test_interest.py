"""Interest = LPR for the term + spread, exactly (API.md: 1-year LPR up to 60 months, 5-year above)."""

from decimal import Decimal

import pytest

from marketplace.lpr.models import LprRate
from marketplace.lpr.services import interest_rate

RATES = LprRate(lpr_1y=Decimal("0.0300"), lpr_5y=Decimal("0.0350"))


@pytest.mark.parametrize("term, spread, expected", [
    (12, 30, "0.0330"), (60, 0, "0.0300"), (61, 0, "0.0350"), (120, -10, "0.0340"), (1, 1, "0.0301"),
])
def test_interest_is_the_lpr_for_the_term_plus_the_spread(term, spread, expected):
    assert interest_rate(RATES, term, spread) == Decimal(expected)
