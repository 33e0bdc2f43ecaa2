"""Pages: the agency's agreements and batch reviews, and the bank's countersignature."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from guarantees import reports, services
from guarantees.claims import paid_on_time
from guarantees.models import Agreement, AgreementStatus, Batch, Guarantee, RiskPool
from guarantees.schemas import AgreementIn, AgreementTermsIn, BatchDecisionIn, ReturnIn
from marketplace import db, spreadsheets
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.errors import DomainError, Forbidden, flatten_messages
from marketplace.financing import services as financing
from marketplace.forms import failed, form_to_data, rate_as_typed, typed_rate
from marketplace.i18n import N_
from marketplace.listing import Choice, DateRange, Listing, Search, Sort, named_like
from marketplace.orgs.models import Agency, AgencyKind, Bank, Tier
from products.models import GuaranteeNeed, Product, ProductStatus, ProductType

bp = Blueprint("guarantees", __name__, template_folder="templates")

SHARE_KEYS = ("agency", "bank", "reguarantee", "risk_pool")
#: A batch's items are all on one page (the decision covers every one), sorted by one of these.
ITEM_SORTS = {"added": "guarantee_id", "enterprise": "enterprise_name", "amount": "amount"}
#: action → (target, the status it starts from)
AGENCY_ACTIONS = {"suspend": (AgreementStatus.SUSPENDED, AgreementStatus.ACTIVE),
                  "resume": (AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED),
                  "terminate": (AgreementStatus.TERMINATED, AgreementStatus.RETURNED)}


@bp.app_context_processor  # the application pages (financing) name guarantee statuses too
def _labels() -> dict[str, Any]:
    return {
        "agreement_status_labels": {
            "pending_bank": _("Awaiting the bank's countersignature"), "returned": _("Returned by the bank"),
            "active": _("Active"),
            "suspended": _("Suspended"), "expired": _("Expired"), "terminated": _("Terminated")},
        "batch_status_labels": {"open": _("Open"), "submitted": _("Submitted for review"), "decided": _("Decided")},
        "guarantee_status_labels": {
            "pending": _("Pending review"), "approved": _("Approved"), "rejected": _("Excluded"),
            "active": _("Active"), "released": _("Released"), "defaulted": _("Defaulted"),
            "compensated": _("Compensated"), "closed": _("Closed")},
        "share_labels": {"agency": _("Agency"), "bank": _("Bank"), "reguarantee": _("Re-guarantee"),
                         "risk_pool": _("Risk pool")},
        "quota_parts": quota_parts,
        "action_labels_for": _agency_actions,
    }


def quota_parts(agreement: Agreement) -> list[dict[str, Any]]:
    """The quota bar's three segments, in order, with their share of the total quota in per cent (for widths)."""
    total = agreement.total_quota or Decimal("1")
    parts = [("reserved", _("Reserved"), agreement.quota_reserved),
             ("outstanding", _("Outstanding"), agreement.quota_outstanding),
             ("available", _("Available"), agreement.quota_available)]
    return [{"key": key, "label": label, "amount": amount, "percent": amount * 100 / total}
            for key, label, amount in parts]


def _agency_actions(agreement: Agreement) -> list[tuple[str, str]]:
    status = agreement.effective_status
    if status is AgreementStatus.ACTIVE:
        return [("suspend", _("Suspend"))]
    if status is AgreementStatus.SUSPENDED:
        return [("resume", _("Resume"))]
    if status is AgreementStatus.RETURNED:
        return [("terminate", _("Terminate"))]
    return []


# Agency: agreements ----------------------------------------------------------------------------------------

@bp.get("/agency/agreements")
@page_roles(Role.AGENCY)
def agency_agreements():
    listing = _agreement_listing(Bank, Agreement.bank_id, N_("Bank")).read(services.visible_agreements(current_user))
    return render_template("guarantees/agency_agreements.html", listing=listing, agreements=listing.items,
                           own_id=current_user.organization_id,
                           on_time=paid_on_time([a.id for a in listing.items]))


def _agreement_listing(other: type[Bank] | type[Agency], other_id: Any, other_label: str) -> Listing:
    """Agreements by code, the other party, validity or quota; searched by code or the other party's name."""
    name = select(other.name).where(other.id == other_id).scalar_subquery()
    available = Agreement.total_quota - Agreement.quota_reserved - Agreement.quota_outstanding
    return Listing(
        sorts={"proposed": Sort(N_("Proposed"), (Agreement.id,)),
               "code": Sort(N_("Code"), (Agreement.code, Agreement.id)),
               "party": Sort(other_label, (name, Agreement.id)),
               "valid_to": Sort(N_("Valid to"), (Agreement.valid_to, Agreement.id)),
               "available": Sort(N_("Quota available"), (available, Agreement.id), descending_first=True)},
        default_sort="proposed",
        filters=[Search(N_("Code or name"), (Agreement.code, named_like(other_id, other, other.name))),
                 Choice("status", N_("Status"), Agreement.status, _labels()["agreement_status_labels"],
                        N_("All statuses"))])


@bp.post("/agency/agreements/<int:agreement_id>/<any(suspend, resume, terminate):action>")
@page_roles(Role.AGENCY)
def change_agreement_status(agreement_id: int, action: str):
    agreement = services.get_agreement(current_user, agreement_id)
    if agreement.agency_id != current_user.organization_id:
        raise Forbidden(_("Only the agency that proposed agreement %(code)s can do this.", code=agreement.code))
    try:
        services.change_status(agreement, *AGENCY_ACTIONS[action])
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        if action == "suspend":
            flash(_("Agreement %(code)s is suspended: it takes no new guarantees until you resume it.",
                    code=agreement.code))
        elif action == "terminate":
            flash(_("Agreement %(code)s is terminated: it will not be submitted to %(bank)s again.",
                    code=agreement.code, bank=agreement.bank.display_name))
        else:
            flash(_("Agreement %(code)s is active again.", code=agreement.code))
    return redirect(url_for("guarantees.agency_agreements"))


def load_agreement_form(form: MultiDict, schema: ma.Schema | None = None
                        ) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """AgreementIn (or `schema`) from the form: the nested shares come from inputs share_agency, share_bank, … and
    their errors go back to those inputs ("shares" itself holds the errors about the shares together)."""
    schema = schema or AgreementIn()
    data = form_to_data(schema, form)
    data.pop("shares", None)
    data["shares"] = {key: typed_rate(raw) for key in SHARE_KEYS if (raw := form.get(f"share_{key}", "").strip())}
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        errors: dict[str, list[str]] = {}
        for path, messages in flatten_messages(error.messages).items():
            head, _dot, rest = path.partition(".")
            name = f"share_{rest}" if head == "shares" and rest in SHARE_KEYS else head
            field_messages = errors.setdefault(name, [])
            field_messages.extend(m for m in messages if m not in field_messages)
        return None, errors


def _agreement_choices() -> dict[str, Any]:
    return {
        "banks": db.session.scalars(select(Bank).order_by(Bank.name)).all(),
        "reguarantors": db.session.scalars(select(Agency).where(Agency.agency_kind == AgencyKind.PROVINCIAL)
                                           .order_by(Agency.name)).all(),
        "pools": db.session.scalars(select(RiskPool).order_by(RiskPool.name)).all(),
        "all_tiers": [t for t in Tier if t is not Tier.NONE], "all_product_types": list(ProductType),
        "share_keys": SHARE_KEYS,
    }


def _default_values() -> dict[str, Any]:
    today = business_today()
    return {"valid_from": today.isoformat(), "valid_to": (today + dt.timedelta(days=364)).isoformat(),
            "compensation_cap_rate": "3%", "batch_max_size": "500", "claim_mode": "automatic",
            "claim_review_days": "10",
            "eligible_tiers": [Tier.SRDI.value, Tier.LITTLE_GIANT.value], "eligible_product_types": []}


@bp.route("/agency/agreements/new", methods=["GET", "POST"])
@page_roles(Role.AGENCY)
def new_agreement():
    errors: dict[str, list[str]] = {}
    values = _default_values()
    if request.method == "POST":
        data, errors = load_agreement_form(request.form)
        if data is not None:
            try:
                agreement = services.create_agreement(current_user.organization_id, data)
            except DomainError as error:
                errors = failed(error)
            else:
                flash(_("Agreement %(code)s sent to %(bank)s. It takes effect once the bank countersigns it.",
                        code=agreement.code, bank=agreement.bank.display_name))
                return redirect(url_for("guarantees.agency_agreements"))
        values = _posted_values()
    return render_template("guarantees/agreement_form.html", values=values, errors=errors, agreement=None,
                           **_agreement_choices()), 422 if errors else 200


def _posted_values() -> dict[str, Any]:
    return {**request.form.to_dict(), "eligible_tiers": request.form.getlist("eligible_tiers"),
            "eligible_product_types": request.form.getlist("eligible_product_types")}


def _terms_of(agreement: Agreement) -> dict[str, Any]:
    """The agreement's terms as the form's inputs hold them: what a resubmission starts from."""
    return {
        "valid_from": agreement.valid_from.isoformat(), "valid_to": agreement.valid_to.isoformat(),
        **{name: f"{getattr(agreement, name):.2f}" for name in ("total_quota", "per_enterprise_cap", "per_loan_cap")},
        "fee_rate": rate_as_typed(agreement.fee_rate),
        "compensation_cap_rate": rate_as_typed(agreement.compensation_cap_rate),
        **{f"share_{key}": rate_as_typed(getattr(agreement, f"share_{key}")) for key in SHARE_KEYS},
        "reguarantor_id": str(agreement.reguarantor_id or ""), "risk_pool_id": str(agreement.risk_pool_id or ""),
        "eligible_tiers": list(agreement.eligible_tiers),
        "eligible_product_types": list(agreement.eligible_product_types),
        "batch_max_size": str(agreement.batch_max_size), "review_sla_days": str(agreement.review_sla_days or ""),
        "auto_approve_below": "" if agreement.auto_approve_below is None else f"{agreement.auto_approve_below:.2f}",
        "claim_mode": agreement.claim_mode.value, "claim_review_days": str(agreement.claim_review_days),
    }


@bp.route("/agency/agreements/<int:agreement_id>/resubmit", methods=["GET", "POST"])
@page_roles(Role.AGENCY)
def resubmit_agreement(agreement_id: int):
    """The form of a returned agreement, holding its terms and the bank's reason, to amend and submit again."""
    agreement = services.get_agreement(current_user, agreement_id)
    if agreement.agency_id != current_user.organization_id:
        raise Forbidden(_("Only the agency that proposed agreement %(code)s can do this.", code=agreement.code))
    if request.method == "GET" and agreement.effective_status is not AgreementStatus.RETURNED:
        flash(_("Agreement %(code)s was not returned by the bank: there is nothing to submit again.",
                code=agreement.code), "error")
        return redirect(url_for("guarantees.agency_agreements"))
    errors: dict[str, list[str]] = {}
    values = _terms_of(agreement)
    if request.method == "POST":
        data, errors = load_agreement_form(request.form, AgreementTermsIn())
        if data is not None:
            try:
                services.resubmit_agreement(agreement, data)
            except DomainError as error:
                if error.status != 422:
                    db.session.rollback()
                    flash(error.detail, "error")
                    return redirect(url_for("guarantees.agency_agreements"))
                errors = failed(error)
            else:
                flash(_("Agreement %(code)s is submitted to %(bank)s again, with the terms you amended. It takes "
                        "effect once the bank countersigns it.", code=agreement.code,
                        bank=agreement.bank.display_name))
                return redirect(url_for("guarantees.agency_agreements"))
        values = _posted_values()
        agreement = services.get_agreement(current_user, agreement_id)
    return render_template("guarantees/agreement_form.html", values=values, errors=errors, agreement=agreement,
                           **_agreement_choices()), 422 if errors else 200


# Bank: countersignature ------------------------------------------------------------------------------------

@bp.get("/bank/agreements")
@page_roles(Role.BANK)
def bank_agreements():
    listing = _agreement_listing(Agency, Agreement.agency_id, N_("Agency")).read(
        services.visible_agreements(current_user))
    return render_template("guarantees/bank_agreements.html", listing=listing, agreements=listing.items,
                           on_time=paid_on_time([a.id for a in listing.items]))


@bp.get("/bank/agreements/<int:agreement_id>")
@page_roles(Role.BANK)
def bank_agreement(agreement_id: int):
    """Every term of one agreement, in the words and units an officer signs: countersign it, or return it."""
    return _render_bank_agreement(services.get_agreement(current_user, agreement_id))


def _render_bank_agreement(agreement: Agreement, errors: dict[str, list[str]] | None = None, reason: str = "",
                           status: int = 200):
    covered = db.session.scalars(select(Product).where(
        Product.bank_id == agreement.bank_id, Product.status == ProductStatus.PUBLISHED,
        Product.guarantee != GuaranteeNeed.NONE, Product.product_type.in_(agreement.eligible_product_types))
        .order_by(Product.name, Product.id)).all()
    return render_template(
        "guarantees/bank_agreement.html", a=agreement, errors=errors or {}, reason=reason, covered=covered,
        reguarantor=db.session.get(Agency, agreement.reguarantor_id) if agreement.reguarantor_id else None,
        pool=db.session.get(RiskPool, agreement.risk_pool_id) if agreement.risk_pool_id else None), status


@bp.post("/bank/agreements/<int:agreement_id>/return")
@page_roles(Role.BANK)
def return_agreement(agreement_id: int):
    agreement = services.get_agreement(current_user, agreement_id)
    reason = request.form.get("reason", "")
    try:
        data = ReturnIn().load({"reason": reason})
    except ma.ValidationError as error:
        return _render_bank_agreement(agreement, flatten_messages(error.messages), reason, 422)
    try:
        services.return_agreement(agreement, data["reason"])
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
        return redirect(url_for("guarantees.bank_agreement", agreement_id=agreement_id))
    flash(_("You returned agreement %(code)s to %(agency)s with your reason. It takes effect only if the agency "
            "submits it again and you countersign it.", code=agreement.code, agency=agreement.agency.display_name))
    return redirect(url_for("guarantees.bank_agreements"))


@bp.post("/bank/agreements/<int:agreement_id>/countersign")
@page_roles(Role.BANK)
def countersign(agreement_id: int):
    agreement = services.get_agreement(current_user, agreement_id)
    if agreement.effective_status is not AgreementStatus.PENDING_BANK:
        flash(_("Agreement %(code)s is not waiting for a countersignature.", code=agreement.code), "error")
        return redirect(url_for("guarantees.bank_agreements"))
    try:
        services.change_status(agreement, AgreementStatus.ACTIVE, AgreementStatus.PENDING_BANK)
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(_("You countersigned agreement %(code)s with %(agency)s: it is active, and your products can now be "
                "offered with its guarantee.", code=agreement.code, agency=agreement.agency.display_name))
    return redirect(url_for("guarantees.bank_agreements"))


# Agency: batches -------------------------------------------------------------------------------------------

@bp.get("/agency/batches")
@page_roles(Role.AGENCY)
def agency_batches():
    items = select(func.count(Guarantee.id)).where(Guarantee.batch_id == Batch.id).scalar_subquery()
    listing = Listing(
        sorts={"opened": Sort(N_("Opened"), (Batch.id,), descending_first=True),
               "submitted": Sort(N_("Submitted"), (Batch.submitted_at, Batch.id), descending_first=True),
               "items": Sort(N_("Loans"), (items, Batch.id), descending_first=True)},
        default_sort="opened", default_descending=True,  # the newest batch first: the one being worked on
        filters=[Search(N_("Agreement code"), (Agreement.code,)),
                 Choice("status", N_("Status"), Batch.status, _labels()["batch_status_labels"], N_("All statuses")),
                 DateRange(N_("Submitted from"), N_("Submitted to"), Batch.submitted_at, timestamp=True)],
    ).read(services.visible_batches(current_user))
    batches = listing.items
    return render_template("guarantees/batches.html", listing=listing, batches=batches,
                           totals=services.batch_totals([b.id for b in batches]),
                           status=listing.values.get("status", ""),
                           ages={b.id: services.batch_age(b) for b in batches})


def _render_batch(batch: Batch, errors: dict[str, list[str]] | None = None, posted: MultiDict | None = None,
                  status: int = 200):
    items = reports.batch_items(batch.id)
    sort = request.args.get("sort", "added")
    sort = sort if sort in ITEM_SORTS else "added"
    descending = request.args.get("order") == "desc"
    items.sort(key=lambda item: (item[ITEM_SORTS[sort]], item["guarantee_id"]), reverse=descending)
    count, amount = services.batch_totals([batch.id]).get(batch.id, (0, Decimal("0.00")))
    return render_template("guarantees/batch_detail.html", batch=batch, items=items, item_count=count,
                           total_amount=amount or Decimal("0.00"), age=services.batch_age(batch), errors=errors or {},
                           ticked={str(v) for v in (posted.getlist("exclude") if posted else [])},
                           sort=sort, descending=descending,
                           posted=posted or MultiDict()), status


@bp.get("/agency/batches/<int:batch_id>")
@page_roles(Role.AGENCY)
def batch_detail(batch_id: int):
    return _render_batch(services.get_batch(current_user, batch_id))


@bp.get("/agency/batches/<int:batch_id>/export.<any(csv, xlsx):fmt>")
@page_roles(Role.AGENCY)
def export_batch(batch_id: int, fmt: str):
    batch = services.get_batch(current_user, batch_id)
    return spreadsheets.download(reports.batch_table(batch), fmt, f"batch_{batch.id}")


@bp.post("/agency/batches/<int:batch_id>/submit")
@page_roles(Role.AGENCY)
def submit_batch(batch_id: int):
    batch = services.get_batch(current_user, batch_id)
    try:
        financing.submit_batch(batch)
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(_("Batch %(id)d is submitted for review. Tick any item you will not guarantee, say why, and approve "
                "the rest.", id=batch.id))
    return redirect(url_for("guarantees.batch_detail", batch_id=batch_id))


def _exclusions(form: MultiDict) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The ticked items with their reasons; a ticked item without a reason is an error beside its reason input."""
    exclusions: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    for guarantee_id in dict.fromkeys(form.getlist("exclude", type=int)):
        reason = form.get(f"reason_{guarantee_id}", "").strip()
        if not reason:
            errors[f"reason_{guarantee_id}"] = [_("Say why this item is excluded; the bank and the enterprise "
                                                  "see the reason.")]
        exclusions.append({"guarantee_id": guarantee_id, "reason": reason})
    if errors:
        return [], errors
    try:
        return BatchDecisionIn().load({"exclusions": exclusions})["exclusions"], {}
    except ma.ValidationError as error:
        for path, messages in flatten_messages(error.messages).items():
            parts = path.split(".")
            if len(parts) == 3 and parts[1].isdigit() and parts[2] == "reason":
                errors[f"reason_{exclusions[int(parts[1])]['guarantee_id']}"] = messages
            else:
                errors.setdefault("_schema", []).extend(messages)
        return [], errors


@bp.post("/agency/batches/<int:batch_id>/decision")
@page_roles(Role.AGENCY)
def decide_batch(batch_id: int):
    batch = services.get_batch(current_user, batch_id)
    exclusions, errors = _exclusions(request.form)
    if not errors:
        try:
            financing.decide_batch(batch, current_user, exclusions)
        except DomainError as error:
            db.session.rollback()
            if error.status != 422:
                flash(error.detail, "error")
                return redirect(url_for("guarantees.batch_detail", batch_id=batch_id))
            errors = {"_schema": sum(error.errors.values(), []) or [error.detail]}
            batch = services.get_batch(current_user, batch_id)
        else:
            approved = sum(1 for item in reports.batch_items(batch.id) if item["status"] != "rejected")
            flash(_("Batch %(id)d is decided: %(approved)d approved, %(excluded)d excluded.", id=batch.id,
                    approved=approved, excluded=len(exclusions)))
            return redirect(url_for("guarantees.batch_detail", batch_id=batch_id))
    return _render_batch(batch, errors, request.form, 422)
