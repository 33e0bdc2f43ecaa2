"""The matching core's reasons in words an enterprise owner understands."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import ngettext

from marketplace.matching import Reason


def tier_words(tier: str) -> str:
    return {"none": _("not certified"), "innovative": _("innovative SME (创新型)"), "srdi": _("SRDI (专精特新)"),
            "little_giant": _("little giant (小巨人)")}[tier]


def _yuan(amount: Decimal | None) -> str:
    return f"¥{amount:,.2f}"


def _who(reason: Reason) -> str:
    """“A”; “A and B”; “A, B and C”; “A, B, C and 4 more products”."""
    names = list(reason.products)
    if reason.more:
        names.append(ngettext("%(num)d more product", "%(num)d more products", reason.more))
    if len(names) <= 1:
        return "".join(names)
    return _("%(first)s and %(last)s", first=", ".join(names[:-1]), last=names[-1])


def sentence(reason: Reason) -> str:
    count = len(reason.products) + reason.more
    who, amount = _who(reason), _yuan(reason.amount) if reason.amount is not None else ""
    match reason.code:
        case "nothing_published":
            return _("No bank has published a product yet, so there is nothing to offer. Please try again later.")
        case "amount_above_all":
            return _("You asked for %(amount)s, more than any published product lends: the largest loan on offer is "
                     "%(limit)s. Try a smaller amount.", amount=amount, limit=_yuan(reason.limit))
        case "amount_below_all":
            return _("You asked for %(amount)s, less than any published product lends: the smallest loan starts at "
                     "%(limit)s.", amount=amount, limit=_yuan(reason.limit))
        case "amount_high":
            return ngettext("%(who)s lends less than the %(amount)s you asked for.",
                            "%(who)s lend less than the %(amount)s you asked for.", count, who=who, amount=amount)
        case "amount_low":
            return ngettext("%(who)s starts above the %(amount)s you asked for.",
                            "%(who)s start above the %(amount)s you asked for.", count, who=who, amount=amount)
        case "term":
            return ngettext("%(who)s does not lend for %(months)d months.",
                            "%(who)s do not lend for %(months)d months.", count, who=who, months=reason.term_months)
        case "tier":
            return ngettext("%(who)s is for other tiers; your enterprise's certified tier in force is: %(tier)s.",
                            "%(who)s are for other tiers; your enterprise's certified tier in force is: %(tier)s.",
                            count, who=who, tier=tier_words(reason.tier))
        case "region":
            return ngettext("%(who)s is only for enterprises in other regions.",
                            "%(who)s are only for enterprises in other regions.", count, who=who)
        case "guarantee_refused":
            return ngettext("%(who)s needs a guarantee, and you chose not to accept one.",
                            "%(who)s need a guarantee, and you chose not to accept one.", count, who=who)
        case "guarantee_unavailable":
            return ngettext(
                "%(who)s needs a guarantee, and no guarantee agency's agreement with the bank covers your loan now.",
                "%(who)s need a guarantee, and no guarantee agency's agreement with the bank covers your loan now.",
                count, who=who)
        case _:
            return _("No published product fits %(amount)s for %(months)d months for your enterprise's tier and "
                     "region.", amount=amount, months=reason.term_months)
