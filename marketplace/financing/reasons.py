"""Why products were left out of a request: kept as codes with their figures and product ids, put into words when
read, in the reader's language (a request filed in Chinese reads in English to an English reader, names included).

A stored reason is JSON: {"code": "amount_low", "products": [12, 15], "more": 2, "amount": "500000.00"}, with only
the keys the reason has (`limit` as money too, `term_months`, `tier`). Reasons stored as sentences, before there
were codes, are {"code": "text", "text": "..."} and read as they were written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import g
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from marketplace import db
from marketplace.i18n import wan
from marketplace.matching import Reason
from marketplace.money import format_amount
from products.models import Product

if TYPE_CHECKING:
    from marketplace.financing.models import FinancingRequest

#: The code of a reason kept as the sentence it was written in.
TEXT = "text"
#: The products already read for this request (app context): one query for every reason of a request or a page.
_LOADED = "_reason_products"


def tier_words(tier: str) -> str:
    return {"none": _("not certified"), "innovative": _("innovative SME (创新型)"), "srdi": _("SRDI (专精特新)"),
            "little_giant": _("little giant (小巨人)")}[tier]


# Storing ------------------------------------------------------------------------------------------------------------

def stored(reason: Reason) -> dict[str, Any]:
    """The reason as a request keeps it: its code, the ids of the products it names, and the figures it has."""
    entry: dict[str, Any] = {"code": reason.code}
    if reason.products:
        entry["products"] = list(reason.products)
    if reason.more:
        entry["more"] = reason.more
    for key in ("amount", "limit"):
        if (value := getattr(reason, key)) is not None:
            entry[key] = format_amount(value)
    for key in ("term_months", "tier"):
        if (value := getattr(reason, key)) is not None:
            entry[key] = value
    return entry


def _reason(entry: dict[str, Any]) -> Reason:
    money = {key: Decimal(entry[key]) for key in ("amount", "limit") if entry.get(key) is not None}
    return Reason(entry["code"], tuple(entry.get("products", ())), entry.get("more", 0), **money,
                  term_months=entry.get("term_months"), tier=entry.get("tier"))


# Reading ------------------------------------------------------------------------------------------------------------

def _product_ids(request: FinancingRequest) -> set[int]:
    return {pid for entry in request.unmatched_reasons or () if isinstance(entry, dict)
            for pid in entry.get("products", ())}


def preload(requests: Iterable[FinancingRequest]) -> None:
    """Read the products that the reasons of these requests name, with their banks, in one query."""
    loaded: dict[int, Product | None] = g.setdefault(_LOADED, {})
    wanted = set().union(*(_product_ids(request) for request in requests)) - loaded.keys()
    if not wanted:
        return
    loaded.update(dict.fromkeys(wanted))  # a product that is gone is counted, not named
    loaded.update({product.id: product for product in db.session.scalars(
        select(Product).where(Product.id.in_(wanted))  # the bank comes joined; tiers and regions are not needed
        .options(lazyload(Product.tier_rows), lazyload(Product.region_rows)))})


def sentences(request: FinancingRequest) -> list[str]:
    """The request's reasons in the reader's language."""
    preload([request])
    loaded: dict[int, Product | None] = g.get(_LOADED)
    out = []
    for entry in request.unmatched_reasons or ():
        if isinstance(entry, str) or entry.get("code") == TEXT:
            out.append(entry if isinstance(entry, str) else entry["text"])
        else:
            out.append(sentence(_reason(entry), [loaded[pid] for pid in entry.get("products", ())]))
    return out


def names(product: Product) -> tuple[str, str]:
    """The bank's name and the product's, as the reader reads them."""
    return product.bank.display_name, product.display_name


def _who(products: list[Product], more: int) -> str:
    """“A”; “A and B”; “A, B and C”; “A, B, C and 4 more products”, each “Bank's “Product””."""
    parts = []
    for product in products:
        bank, name = names(product)
        parts.append(_("%(bank)s's “%(product)s”", bank=bank, product=name))
    if more:
        parts.append(ngettext("%(num)d more product", "%(num)d more products", more))
    if len(parts) <= 1:
        return "".join(parts)
    listed = parts[0]
    for part in parts[1:-1]:
        listed = _("%(list)s, %(next)s", list=listed, next=part)
    return _("%(first)s and %(last)s", first=listed, last=parts[-1])


def _standing(tier: str | None) -> str:
    return {"innovative": _("your enterprise is certified as an innovative SME"),
            "srdi": _("your enterprise is certified as an SRDI SME"),
            "little_giant": _("your enterprise is certified as a little giant")}.get(
        tier or "none", _("your enterprise holds no certification in force"))


def sentence(reason: Reason, products: Sequence[Product | None] = ()) -> str:
    """One reason in words: `products` are those its ids name (None for one no longer there, counted instead)."""
    named = [product for product in products if product is not None]
    more = reason.more + len(products) - len(named)
    count = len(named) + more
    who = _who(named, more)
    amount = wan(reason.amount)
    match reason.code:
        case "nothing_published":
            return _("No bank has published a product yet, so there is nothing to offer. Please try again later.")
        case "amount_above_all":
            return _("You asked for %(amount)s, more than any published product lends: the largest loan on offer is "
                     "%(limit)s. Try a smaller amount.", amount=amount, limit=wan(reason.limit))
        case "amount_below_all":
            return _("You asked for %(amount)s, less than any published product lends: the smallest loan starts at "
                     "%(limit)s.", amount=amount, limit=wan(reason.limit))
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
            return ngettext("%(who)s is for other tiers; %(standing)s.", "%(who)s are for other tiers; %(standing)s.",
                            count, who=who, standing=_standing(reason.tier))
        case "region":
            return ngettext("%(who)s is only for enterprises in other regions.",
                            "%(who)s are only for enterprises in other regions.", count, who=who)
        case "guarantee_refused":
            return ngettext("%(who)s needs a guarantee, and you chose not to accept one.",
                            "%(who)s need a guarantee, and you chose not to accept one.", count, who=who)
        case "guarantee_unavailable":
            return ngettext(
                "%(who)s needs a guarantee, and no guarantee agency's agreement with the bank covers your loan now.",
                "%(who)s need a guarantee, and no guarantee agency's agreement with their banks covers your loan now.",
                count, who=who)
        case _:
            return _("No published product fits %(amount)s for %(months)d months for your enterprise's tier and "
                     "region.", amount=amount, months=reason.term_months)


# Why the marketplace moved a request ---------------------------------------------------------------------------------

#: The code of a request withdrawn because its enterprise's certified tier changed after the offers were priced.
TIER_CHANGED = "tier_changed"


def tier_changed(day: dt.date, then: str, now: str) -> dict[str, str]:
    """The reason a request keeps when its tier changed: {"code": "tier_changed", "day", "then", "now"}."""
    return {"code": TIER_CHANGED, "day": day.isoformat(), "then": then, "now": now}


def status_sentence(reason: dict[str, Any] | str | None) -> str | None:
    """A reason for moving a request (stored as a code, or a sentence from before there were codes) in words."""
    if isinstance(reason, dict) and reason.get("code") == TIER_CHANGED:
        return _("Withdrawn by the marketplace on %(day)s: these offers were priced for an enterprise certified as "
                 "%(then)s, and it is now %(now)s. Ask again to see the offers that apply today.",
                 day=reason["day"], then=tier_words(reason["then"]), now=tier_words(reason["now"]))
    return reason if isinstance(reason, str) or reason is None else None


def status_words(request: FinancingRequest) -> str | None:
    """Why the marketplace moved the request, in the reader's language; None when it did not."""
    stored_reason = request.status_reason
    if stored_reason and stored_reason.startswith("{"):
        return status_sentence(json.loads(stored_reason))
    return stored_reason
