"""The agency's pages for compensation claims (代偿申请, DESIGN.md §Lifecycles): the queue of claims to decide, oldest
deadline first, and a claim's page with the loan, the agreement's shares and cap room, the bank's evidence, and the
decision.

A decision takes two posts: the first shows what will happen and to how much money (for a payment, the loss shared
as it would be shared now), the second (confirm=1) decides. guarantees.claims.decide locks the claim and refuses one
no longer filed, so a confirmation sent twice has one effect; the second is told so on the page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from guarantees import claims
from guarantees.models import Agreement, Claim, ClaimStatus, RiskPool
from guarantees.schemas import ClaimDecisionIn
from guarantees.settlement import cap_room
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.dates import business_today, working_days_after, working_days_between
from marketplace.errors import IllegalTransition, ValidationFailed
from marketplace.financing.models import Loan
from marketplace.forms import load_form
from marketplace.i18n import N_, yuan
from marketplace.ledger.allocation import LossAllocation, Shares, allocate_loss
from marketplace.listing import Choice, Listing, Search, Sort
from marketplace.orgs.models import Enterprise

bp = Blueprint("claims", __name__, template_folder="templates")

ZERO = Decimal("0.00")
#: A filed claim this many working days or fewer from its deadline is flagged as due soon (queue and dashboards).
NEAR_WORKING_DAYS = 2

Standing = Literal["on_time", "near", "overdue"]


@dataclass(frozen=True)
class Deadline:
    """Where a filed claim stands on its deadline: working days left (0: due today), or working days late."""
    standing: Standing
    days: int


def deadline(claim: Claim, today: dt.date) -> Deadline | None:
    """None once decided. Late past `due_by`, or once the scheduler flagged it (`overdue_on`)."""
    if claim.status is not ClaimStatus.FILED:
        return None
    if claim.due_by < today or claim.overdue_on is not None:
        return Deadline("overdue", working_days_between(claim.due_by, today))
    left = working_days_between(today, claim.due_by)
    return Deadline("near" if left <= NEAR_WORKING_DAYS else "on_time", left)


def near_horizon(today: dt.date) -> dt.date:
    """The earliest deadline not yet due soon: a deadline from `today` on is due soon exactly when it is before this
    day (as financing.deadlines.near_horizon reasons)."""
    return working_days_after(today, NEAR_WORKING_DAYS + 1)


def claim_status_labels() -> dict[str, str]:
    return {"filed": _("Awaiting decision"), "paid": _("Paid"), "rejected": _("Refused"),
            "withdrawn": _("Withdrawn: recovered in full")}


@bp.app_context_processor  # the agreement pages (and the bank's loan pages) name claim modes and statuses too
def _labels() -> dict[str, Any]:
    return {
        "claim_status_labels": claim_status_labels(),
        "claim_mode_labels": {"automatic": _("Automatic"), "review": _("Claim reviewed by the agency")},
        "claim_mode_hints": {"automatic": _("A default settles at once."),
                             "review": _("The bank files a claim; the agency pays or refuses it.")},
    }


def _loan_status_words() -> dict[str, str]:
    return {"approved": _("Approved"), "disbursed": _("Disbursed"), "repaying": _("Repaying"), "repaid": _("Repaid"),
            "overdue": _("Overdue"), "defaulted": _("Defaulted"), "recovering": _("Recovering"),
            "closed": _("Closed")}


# The queue ------------------------------------------------------------------------------------------------------

def _enterprise_named_like(word: str) -> Any:
    return Claim.loan_id.in_(select(Loan.id).join(Enterprise, Enterprise.id == Loan.enterprise_id)
                             .where(func.lower(Enterprise.name).contains(word, autoescape=True)))


@bp.get("/agency/claims")
@page_roles(Role.AGENCY)
def agency_claims():
    listing = Listing(
        sorts={"due": Sort(N_("Deadline"), (Claim.due_by, Claim.id)),
               "filed": Sort(N_("Filed"), (Claim.filed_on, Claim.id)),
               "amount": Sort(N_("Amount"), (Claim.amount, Claim.id), descending_first=True),
               "claim": Sort(N_("Claim"), (Claim.id,))},
        default_sort="due",
        filters=[Search(N_("Agreement code or enterprise"), (Agreement.code, _enterprise_named_like)),
                 Choice("status", N_("Status"), Claim.status, claim_status_labels(), N_("All statuses"),
                        default=ClaimStatus.FILED.value)],
    ).read(claims.visible_claims(current_user))
    today = business_today()
    return render_template("claims/queue.html", listing=listing, claims=listing.items,
                           loans=_loans([c.loan_id for c in listing.items]),
                           deadlines={c.id: deadline(c, today) for c in listing.items})


def _loans(loan_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The claims' loans with their enterprises' names: one query for the page."""
    if not loan_ids:
        return {}
    rows = db.session.execute(
        select(Loan.id, Loan.application_id, Loan.principal, Loan.outstanding, Loan.status, Loan.disbursed_on,
               Loan.term_months, Enterprise.name)
        .join(Enterprise, Enterprise.id == Loan.enterprise_id).where(Loan.id.in_(loan_ids)))
    return {row.id: {"application_id": row.application_id, "principal": row.principal,
                     "outstanding": row.outstanding, "status": row.status.value, "disbursed_on": row.disbursed_on,
                     "term_months": row.term_months, "enterprise": row.name} for row in rows}


# One claim --------------------------------------------------------------------------------------------------------

def preview(claim: Claim) -> LossAllocation:
    """How paying the claim would share its loss now: settlement's own sharing (allocate_loss) with the agreement's
    shares, its cap room and the pool's cash as they stand; the payment recomputes it under the locks."""
    agreement = claim.agreement
    pool = db.session.get(RiskPool, agreement.risk_pool_id) if agreement.risk_pool_id else None
    shares = Shares(bank=agreement.share_bank, agency=agreement.share_agency,
                    reguarantee=agreement.share_reguarantee, risk_pool=agreement.share_risk_pool)
    return allocate_loss(claim.amount, shares, cap_room=cap_room(agreement), pool_cash=pool.balance if pool else ZERO,
                         pool_cap_per_loss=pool.cap_per_loss if pool else None)


def _render(claim: Claim, errors: dict[str, list[str]] | None = None, posted: MultiDict | None = None,
            confirm: dict[str, Any] | None = None, conflict: str | None = None, status: int = 200):
    agreement = claim.agreement
    pool = db.session.get(RiskPool, agreement.risk_pool_id) if agreement.risk_pool_id else None
    return render_template(
        "claims/detail.html", claim=claim, agreement=agreement, loan=_loans([claim.loan_id])[claim.loan_id],
        pool=pool, room=cap_room(agreement), deadline=deadline(claim, business_today()),
        others=[c for c in claims.claims_of_loan(claim.loan_id) if c.id != claim.id],
        loan_status_words=_loan_status_words(), errors=errors or {}, posted=posted or MultiDict(),
        confirm=confirm, conflict=conflict), status


@bp.get("/agency/claims/<int:claim_id>")
@page_roles(Role.AGENCY)
def claim_detail(claim_id: int):
    return _render(claims.get_claim(current_user, claim_id))


@bp.get("/agency/claims/<int:claim_id>/documents/<int:document_id>")
@page_roles(Role.AGENCY)
def claim_document(claim_id: int, document_id: int):
    return claims.send_document(claims.get_document(current_user, claim_id, document_id))


def _already_decided(claim: Claim) -> str:
    return _("Claim %(id)d is no longer awaiting a decision (%(status)s): nothing was changed.", id=claim.id,
             status=claim_status_labels()[claim.status.value])


@bp.post("/agency/claims/<int:claim_id>/decision")
@page_roles(Role.AGENCY)
def decide_claim(claim_id: int):
    claim = claims.get_claim(current_user, claim_id)
    data, errors = load_form(ClaimDecisionIn(), request.form)
    if data is None:
        return _render(claim, errors, request.form, status=422)
    decision, reason = data["decision"], (data["reason"] or "").strip()
    if claim.status is not ClaimStatus.FILED:
        return _render(claim, conflict=_already_decided(claim), status=409)
    if request.form.get("confirm") != "1":
        if decision == "reject" and not reason:
            return _render(claim, {"reason": [_("Say why the claim is refused: the bank reads it.")]}, request.form,
                           status=422)
        return _render(claim, posted=request.form, confirm={
            "decision": decision, "reason": reason, "preview": preview(claim) if decision == "pay" else None})
    try:
        claims.decide(claim, current_user, decision, reason or None)
    except IllegalTransition:  # decided meanwhile (a second click, or a colleague): decide() read it under its lock
        db.session.rollback()
        claim = claims.get_claim(current_user, claim_id)
        return _render(claim, conflict=_already_decided(claim), status=409)
    except ValidationFailed as error:
        db.session.rollback()
        return _render(claims.get_claim(current_user, claim_id), error.errors or {"_schema": [error.detail]},
                       request.form, status=422)
    if claim.status is ClaimStatus.PAID:
        db.session.refresh(claim, ["allocation"])  # decide() set the allocation's id
        flash(_("Claim %(id)d is paid: %(amount)s compensated to %(bank)s, shared as the agreement says.",
                id=claim.id, amount=yuan(claim.allocation.agency_compensation), bank=claim.agreement.bank.display_name))
    else:
        flash(_("Claim %(id)d is refused. %(bank)s reads your reason and may file again with more evidence.",
                id=claim.id, bank=claim.agreement.bank.display_name))
    return redirect(url_for("claims.claim_detail", claim_id=claim.id))
