"""Wiring (knows every package): `flask verify` assembled from the checks each package owns."""

from __future__ import annotations

from collections.abc import Callable

from guarantees import checks as guarantee_checks
from marketplace.fees import checks as fee_checks
from marketplace.financing import checks as financing_checks
from marketplace.ledger import reports

#: Each package's checks, in the order they run: the ledger's, then the domain's from the bottom layer up.
CHECKS: dict[str, tuple[Callable[[], list[str]], ...]] = {
    "ledger": (reports.verify,),
    "fees": fee_checks.CHECKS,
    "guarantees": guarantee_checks.CHECKS,
    "financing": financing_checks.CHECKS,
}


def all_checks() -> list[tuple[str, list[str]]]:
    """Run every check; → (package.check, its violations) for each, in order, an empty list when it holds."""
    return [(f"{package}.{check.__name__}", check()) for package, checks in CHECKS.items() for check in checks]


def problems() -> list[str]:
    """Every violation, ledger and domain, each prefixed by the check that found it; none when sound."""
    return [f"[{name}] {problem}" for name, found in all_checks() for problem in found]


def described() -> list[tuple[str, str]]:
    """(package.check, what it checks): the first line of each check's docstring, for the command's report."""
    return [(f"{package}.{check.__name__}", (check.__doc__ or "").strip().splitlines()[0])
            for package, checks in CHECKS.items() for check in checks]
