"""The scheduler tests build on issue 5's worked-example scheme (tests/ledger/conftest.py)."""

from tests.ledger.conftest import scheme  # noqa: F401 (fixture)
