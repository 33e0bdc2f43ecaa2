"""The agency's reading of its batches: each item with the enterprise, tier and product behind it. It joins
financing's tables (requests, applications, offers), so it sits at the edge beside the pages and API that show it,
not in the guarantees domain, which never reads financing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from guarantees.models import Batch, Guarantee
from marketplace import db, spreadsheets
from marketplace.financing.models import Application, FinancingRequest, Offer
from marketplace.i18n import locale_name
from marketplace.orgs.models import Enterprise


def batch_items(batch_id: int) -> list[dict[str, Any]]:
    """The batch's items as the agency reviews them: plain columns in one query (no ORM objects to load)."""
    product = func.coalesce(Offer.product_name_en, Offer.product_name) if locale_name() == "en" else Offer.product_name
    rows = db.session.execute(
        select(Guarantee.id, Guarantee.application_id, Guarantee.loan_id, Enterprise.display_name, Enterprise.uscc,
               FinancingRequest.tier_at_request, Guarantee.amount, Guarantee.term_months,
               product,
               Guarantee.fee_rate, Guarantee.status, Guarantee.reason)
        .join(Application, Application.id == Guarantee.application_id)
        .join(FinancingRequest, FinancingRequest.id == Application.request_id)
        .join(Enterprise, Enterprise.id == Guarantee.enterprise_id)
        .join(Offer, Offer.id == Application.offer_id)
        .where(Guarantee.batch_id == batch_id).order_by(Guarantee.id))
    return [{"guarantee_id": gid, "application_id": application_id, "loan_id": loan_id, "enterprise_name": name,
             "uscc": uscc, "tier": tier.value, "amount": amount, "term_months": term, "product_name": product,
             "fee_rate": fee_rate, "status": status.value, "reason": reason}
            for gid, application_id, loan_id, name, uscc, tier, amount, term, product, fee_rate, status, reason in rows]


BATCH_EXPORT_COLUMNS = ("guarantee_id", "application_id", "loan_id", "enterprise_name", "uscc", "tier",
                        "product_name", "amount", "term_months", "fee_rate", "status", "reason")


def batch_table(batch: Batch) -> spreadsheets.Table:
    """The batch's items, one row each, then a totals row: the item count and the amount (as the API's totals)."""
    items = batch_items(batch.id)
    total = sum((item["amount"] for item in items), Decimal("0.00"))
    rows = [tuple(item[column] for column in BATCH_EXPORT_COLUMNS) for item in items]
    totals = [_("Total"), None, None, _("%(n)d items", n=len(items)), None, None, None, total, None, None, None, None]
    return spreadsheets.Table(f"batch {batch.id}", BATCH_EXPORT_COLUMNS, rows, totals)
