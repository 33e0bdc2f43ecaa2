"""Pages: the enterprise's requests and offer comparison, and the bank's application queue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from guarantees.services import GuaranteeUnavailable
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.errors import DomainError
from marketplace.financing import services
from marketplace.financing.models import Application, ApplicationStatus, FinancingRequest, Offer, RequestStatus
from marketplace.financing.reasons import tier_words
from marketplace.financing.schemas import DecisionIn, FinancingRequestIn
from marketplace.forms import failed, load_form
from marketplace.i18n import N_
from marketplace.listing import Choice, DateRange, Listing, Search, Sort
from marketplace.orgs.models import Enterprise

bp = Blueprint("financing", __name__, template_folder="templates")


def application_status_labels() -> dict[str, str]:
    return {"submitted": _("Awaiting decision"), "approved": _("Approved"), "declined": _("Declined"),
            "guarantee_unavailable": _("Guarantee unavailable"), "withdrawn": _("Withdrawn by the enterprise")}


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "request_status_labels": {
            "open": _("Open: choose an offer"), "routed": _("With the bank"), "approved": _("Approved"),
            "declined": _("Declined"), "withdrawn": _("Withdrawn"), "funded": _("Funded"), "closed": _("Closed")},
        "application_status_labels": application_status_labels(),
        "tier_words": tier_words,
    }


# Enterprise ------------------------------------------------------------------------------------------------

@bp.get("/enterprise/requests")
@page_roles(Role.ENTERPRISE)
def my_requests():
    listing = Listing(
        sorts={"filed": Sort(N_("Filed"), (FinancingRequest.id,), descending_first=True),
               "amount": Sort(N_("Amount"), (FinancingRequest.amount, FinancingRequest.id), descending_first=True),
               "term": Sort(N_("Term"), (FinancingRequest.term_months, FinancingRequest.id))},
        default_sort="filed", default_descending=True,
        filters=[Search(N_("Purpose"), (FinancingRequest.purpose,)),
                 Choice("status", N_("Status"), FinancingRequest.status, _labels()["request_status_labels"],
                        N_("All statuses")),
                 DateRange(N_("Filed from"), N_("Filed to"), FinancingRequest.created_at, timestamp=True)],
    ).read(services.visible_requests(current_user))
    return render_template("financing/request_list.html", listing=listing, requests=listing.items)


@bp.route("/enterprise/requests/new", methods=["GET", "POST"])
@page_roles(Role.ENTERPRISE)
def new_request():
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"accept_guarantee": True, "product_types": []}
    if request.method == "POST":
        data, errors = load_form(FinancingRequestIn(), request.form)
        if data is not None:
            try:
                created = services.create_request(current_user, data)
            except DomainError as error:
                errors = failed(error)
            else:
                return redirect(url_for("financing.request_detail", request_id=created.id))
        values = {**request.form.to_dict(), "product_types": request.form.getlist("product_types"),
                  "accept_guarantee": request.form.getlist("accept_guarantee")[-1:] == ["true"]}
    return render_template("financing/request_form.html", values=values, errors=errors), 422 if errors else 200


@bp.get("/enterprise/requests/<int:request_id>")
@page_roles(Role.ENTERPRISE)
def request_detail(request_id: int):
    financing_request = services.get_request(current_user, request_id)
    return render_template("financing/request_detail.html", req=financing_request,
                           can_select=financing_request.status is RequestStatus.OPEN)


@bp.post("/enterprise/requests/<int:request_id>/select")
@page_roles(Role.ENTERPRISE)
def select_offer(request_id: int):
    financing_request = services.get_request(current_user, request_id, for_change=True)
    try:
        application = services.select_offer(financing_request, request.form.get("offer_id", type=int) or 0,
                                             current_user)
    except DomainError as error:
        db.session.rollback()
        flash(error.detail if not error.errors else " ".join(sum(error.errors.values(), [])), "error")
    else:
        flash(_("Sent to %(bank)s. The bank decides next; you will see its answer here.",
                bank=application.offer.bank_name))
    return redirect(url_for("financing.request_detail", request_id=request_id))


@bp.post("/enterprise/requests/<int:request_id>/withdraw")
@page_roles(Role.ENTERPRISE)
def withdraw(request_id: int):
    financing_request = services.get_request(current_user, request_id, for_change=True)  # 404 for another's request
    try:
        services.withdraw(financing_request, user=current_user)
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(_("Request withdrawn."))
    return redirect(url_for("financing.request_detail", request_id=request_id))


# Bank ------------------------------------------------------------------------------------------------------

@bp.get("/bank/applications")
@page_roles(Role.BANK)
def bank_applications():
    return _applications_page()


def _applications_page(errors: dict[str, list[str]] | None = None, failed_id: int | None = None, status: int = 200):
    amount = select(FinancingRequest.amount).where(FinancingRequest.id == Application.request_id).scalar_subquery()
    enterprise = (select(Enterprise.name).join(FinancingRequest, FinancingRequest.enterprise_id == Enterprise.id)
                  .where(FinancingRequest.id == Application.request_id).scalar_subquery())
    product = select(Offer.product_name).where(Offer.id == Application.offer_id).scalar_subquery()
    listing = Listing(
        sorts={"received": Sort(N_("Received"), (Application.id,)),
               "amount": Sort(N_("Amount"), (amount, Application.id), descending_first=True),
               "enterprise": Sort(N_("Enterprise"), (enterprise, Application.id))},
        default_sort="received",
        filters=[Search(N_("Enterprise or product"), (enterprise, product)),
                 Choice("status", N_("Status"), Application.status, application_status_labels(),
                        default=ApplicationStatus.SUBMITTED.value)],
    ).read(services.visible_applications(current_user), endpoint="financing.bank_applications")
    return render_template("financing/bank_applications.html", listing=listing, applications=listing.items,
                           errors=errors or {}, failed_id=failed_id, posted=request.form), status


@bp.post("/bank/applications/<int:application_id>/decision")
@page_roles(Role.BANK)
def decide(application_id: int):
    application = services.get_application(current_user, application_id)
    data, errors = load_form(DecisionIn(), request.form)
    if data is not None:
        try:
            services.decide(application, current_user, data)
        except GuaranteeUnavailable as error:
            flash(error.detail, "error")
            return redirect(url_for("financing.bank_applications"))
        except DomainError as error:
            errors = failed(error)
        else:
            flash(_("Application %(id)d %(status)s.", id=application.id,
                    status=application_status_labels()[application.status.value].lower()))
            return redirect(url_for("financing.bank_applications"))
    return _applications_page(errors, application_id, 422)
