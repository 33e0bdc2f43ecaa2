"""The ledger in the reader's language: journal entries' summaries (摘要) and accounts' names (科目).

An entry's `memo` is stored as written, in English, from one of the sentences below; the pages read it back
through the same sentence and show it translated, with its amounts grouped by thousands. A memo that matches no
sentence (a person's words on a reversal, an entry older than these sentences) is shown as it was written."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache

from flask_babel import gettext

from marketplace.i18n import N_

#: Every summary the marketplace writes; the pattern of each is its sentence with the %(name)s places as groups.
SENTENCES = {
    "fee": N_("Guarantee fee, %(days)s days"),
    "fee_agency_book": N_("Guarantee fee, %(days)s days (agency book, %(code)s)"),
    "fee_refunded": N_("Guarantee cancelled before drawdown: fee refunded"),
    "deposit": N_("Deposit into %(pool)s"),
    "claims_paid": N_("Earlier claims paid, oldest first"),
    "default": N_("Default: loss %(amount)s"),
    "default_claim_filed": N_("Default: loss %(amount)s, claim filed"),
    "claim_paid": N_("Claim paid: loss %(amount)s"),
    "recovery": N_("Recovery %(amount)s"),
}
#: What each account of a party is for, as its name (科目) reads: the owner's name, then this.
PURPOSES = {
    "fee": N_("Guarantee fees paid"), "fee_income": N_("Fee income"), "fee_subsidy": N_("Fee subsidy (降费奖补)"),
    "pool_funding": N_("Risk pool funding"), "cash": N_("Cash"), "claims": N_("Claims owed"),
    "credit_loss": N_("Credit losses"), "defaulted_principal": N_("Defaulted principal"),
    "compensation": N_("Compensation (代偿)"), "reguarantee": N_("Re-guarantee"),
    "pool_reimbursement": N_("Pool reimbursements"), "pool_claim": N_("Claims on risk pools"),
    "recovery": N_("Recoveries (追偿)"),
}
_PLACE = re.compile(r"%\((\w+)\)s")


def memo(sentence: str, **values: object) -> str:
    """The memo to store: one of SENTENCES with its values (amounts as plain decimals, 1234.50)."""
    return SENTENCES[sentence] % {name: _plain(value) for name, value in values.items()}


def shown(stored: str) -> str:
    """A stored memo in the reader's language."""
    for sentence, pattern in _patterns():
        if found := pattern.fullmatch(stored):
            return gettext(sentence, **{name: _grouped(value) for name, value in found.groupdict().items()})
    return stored


def purpose(value: str) -> str:
    """An account's purpose, as its name reads: "fee_income" → 担保费收入."""
    return gettext(PURPOSES[value]) if value in PURPOSES else value


def purposes() -> dict[str, str]:
    return {value: gettext(label) for value, label in PURPOSES.items()}


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    def pattern(sentence: str) -> re.Pattern[str]:
        parts = _PLACE.split(sentence)  # text, name, text, name, ..., text
        return re.compile("".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>.+?)"
                                  for n, part in enumerate(parts)))
    # The longer sentences first: "Default: loss %(amount)s, claim filed" before "Default: loss %(amount)s".
    return [(s, pattern(s)) for s in sorted(SENTENCES.values(), key=len, reverse=True)]


def _plain(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, Decimal) else str(value)


def _grouped(value: str) -> str:
    """1234567.80 → 1,234,567.80; anything else as it is."""
    if not re.fullmatch(r"-?\d+\.\d{2}", value):
        return value
    try:
        return f"{Decimal(value):,.2f}"
    except InvalidOperation:  # pragma: no cover - the pattern above admits only decimals
        return value
