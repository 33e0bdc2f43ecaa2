"""A request's timeline in words: what happened, when, by whom, for whoever reads it, in their language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from marketplace import timeline
from marketplace.financing import reasons
from marketplace.financing.models import FinancingRequest
from marketplace.i18n import percent, yuan


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    event: str
    by: str
    title: str
    detail: str
    data: dict[str, Any]


def titles() -> dict[str, str]:
    return {
        timeline.FILED: _("Request filed"),
        timeline.OFFER_CHOSEN: _("Offer chosen"),
        timeline.HANDED_OFF: _("Handed to the bank's system"),
        timeline.APPROVED: _("Approved by the bank"),
        timeline.DECLINED: _("Declined by the bank"),
        timeline.COUNTERED: _("Counter-offer from the bank"),
        timeline.COUNTER_ACCEPTED: _("Counter-offer accepted"),
        timeline.COUNTER_DECLINED: _("Counter-offer declined"),
        timeline.COUNTER_LAPSED: _("Counter-offer lapsed"),
        timeline.WITHDRAWN: _("Request withdrawn"),
        timeline.GUARANTEE_PLACED: _("Guarantee placed in the agency's batch"),
        timeline.GUARANTEE_UNAVAILABLE: _("Guarantee unavailable"),
        timeline.BATCH_SUBMITTED: _("Batch submitted to the agency"),
        timeline.GUARANTEE_APPROVED: _("Guarantee approved"),
        timeline.GUARANTEE_EXCLUDED: _("Guarantee refused by the agency"),
        timeline.LOAN_CREATED: _("Loan made"),
        "loan.disbursed": _("Loan disbursed"),
        "loan.repayment": _("Repayment"),
        "loan.overdue": _("Loan overdue"),
        "loan.default": _("Loan defaulted"),
        "loan.recovery": _("Recovery"),
        "loan.renewed": _("Renewed without repaying principal (无还本续贷)"),
        timeline.CLAIM_FILED: _("Compensation claim filed"),
        timeline.CLAIM_PAID: _("Compensation claim paid"),
        timeline.CLAIM_REJECTED: _("Compensation claim refused"),
    }


def _detail(event: str, d: dict[str, Any]) -> str:
    reason = d.get("reason")
    if event == timeline.FILED:
        return _("%(amount)s over %(months)d months; %(n)d offers.", amount=yuan(d.get("amount")),
                 months=int(d.get("term_months") or 0), n=int(d.get("offers") or 0))
    if event == timeline.OFFER_CHOSEN:
        return _("%(bank)s, %(product)s, all-in %(rate)s a year.", bank=d.get("bank", ""),
                 product=d.get("product", ""), rate=percent(d.get("all_in_rate")))
    if event == timeline.HANDED_OFF:
        return _("The bank's reference: %(ref)s.", ref=d["bank_ref"]) if d.get("bank_ref") else ""
    if event == timeline.APPROVED:
        return _("%(amount)s at %(rate)s a year.", amount=yuan(d.get("amount")), rate=percent(d.get("interest_rate")))
    if event == timeline.COUNTERED:
        return _("%(amount)s at %(rate)s a year (all-in %(all_in)s), answer by %(day)s: %(reason)s",
                 amount=yuan(d.get("amount")), rate=percent(d.get("interest_rate")),
                 all_in=percent(d.get("all_in_rate")), day=d.get("expires_on", ""), reason=reason or "")
    if event == timeline.COUNTER_ACCEPTED:
        return _("%(amount)s at %(rate)s a year.", amount=yuan(d.get("amount")), rate=percent(d.get("interest_rate")))
    if event == timeline.COUNTER_LAPSED:
        return _("Unanswered by %(day)s.", day=d.get("expires_on", ""))
    if event == timeline.GUARANTEE_PLACED:
        return _("Batch %(batch)s, fee %(fee)s a year.", batch=d.get("batch_id", ""), fee=percent(d.get("fee_rate")))
    if event == timeline.BATCH_SUBMITTED:
        return _("Batch %(batch)s of agreement %(code)s.", batch=d.get("batch_id", ""), code=d.get("agreement", ""))
    if event == timeline.GUARANTEE_APPROVED and d.get("automatic"):
        return _("Under the agreement's 见贷即保 threshold: approved on submission.")
    if event == "loan.renewed":
        return _("%(amount)s carried into loan %(loan)s on %(day)s.", amount=yuan(d.get("amount")),
                 loan=d.get("new_loan_id", ""), day=d.get("occurred_on", ""))
    if event in (timeline.CLAIM_FILED, timeline.CLAIM_PAID):
        return _("Claim %(id)s for %(amount)s.", id=d.get("claim_id", ""), amount=yuan(d.get("amount")))
    if event.startswith(timeline.LOAN) and d.get("amount"):
        return _("%(amount)s on %(day)s.", amount=yuan(d.get("amount")), day=d.get("occurred_on", ""))
    if isinstance(reason, dict):
        reason = reasons.status_sentence(reason)
    return _("Reason: %(reason)s", reason=reason) if reason else ""


def _by(event: timeline.TimelineEvent) -> str:
    actor = event.actor
    if actor is None:
        return _("The marketplace")
    if actor.organization is None:
        return _("Provincial finance office")
    if actor.username.startswith("system:"):
        return _("%(organization)s (its system)", organization=actor.organization.display_name)
    return actor.organization.display_name


def entries(request: FinancingRequest) -> list[Entry]:
    """The request's timeline, oldest first."""
    words = titles()
    return [Entry(at=e.at, event=e.event, by=_by(e), title=words.get(e.event, e.event),
                  detail=_detail(e.event, e.detail), data=e.detail)
            for e in timeline.of_request(request.id, [a.id for a in request.applications])]
