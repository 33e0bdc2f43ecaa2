"""Pages: the enterprise's requests and offer comparison, and the bank's application queue."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from guarantees.models import Agreement
from guarantees.services import GuaranteeUnavailable
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.errors import DomainError
from marketplace.fees.rules import fee_amount, term_days
from marketplace.financing import deadlines, reasons, services, story
from marketplace.financing.models import Application, ApplicationStatus, FinancingRequest, Offer, RequestStatus
from marketplace.financing.reasons import sentences, tier_words
from marketplace.financing.schemas import CounterDeclineIn, DecisionIn, FinancingRequestIn
from marketplace.forms import failed, load_form
from marketplace.i18n import N_
from marketplace.listing import Choice, DateRange, Listing, Search, Sort
from marketplace.orgs.models import Enterprise

bp = Blueprint("financing", __name__, template_folder="templates")


def application_status_labels() -> dict[str, str]:
    return {"submitted": _("Awaiting decision"), "approved": _("Approved"), "declined": _("Declined"),
            "guarantee_unavailable": _("Guarantee unavailable"), "withdrawn": _("Withdrawn by the enterprise"),
            "countered": _("Counter-offer awaiting the enterprise"), "counter_declined": _("Counter-offer declined"),
            "counter_lapsed": _("Counter-offer lapsed")}


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "request_status_labels": {
            "open": _("Open: choose an offer"), "routed": _("With the bank"), "approved": _("Approved"),
            "declined": _("Declined: you may choose another offer"), "withdrawn": _("Withdrawn"), "funded": _("Funded"),
            "closed": _("Closed")},
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
    values: dict[str, Any] = _prefilled()
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


def _prefilled() -> dict[str, Any]:
    """The form as a product's 申请 button opens it (amount, term, purpose and product type in the query), or
    empty."""
    values: dict[str, Any] = {name: request.args[name][:500] for name in ("amount", "term_months", "purpose")
                              if name in request.args}
    return {**values, "accept_guarantee": True, "product_types": request.args.getlist("product_types")}


@bp.get("/enterprise/requests/<int:request_id>")
@page_roles(Role.ENTERPRISE)
def request_detail(request_id: int):
    return _request_page(services.get_request(current_user, request_id))


def _request_page(financing_request: FinancingRequest, errors: dict[str, list[str]] | None = None,
                  status: int = 200):
    expired = business_today() > financing_request.offers_valid_until
    can_select = financing_request.status is RequestStatus.OPEN or (
        financing_request.status is RequestStatus.DECLINED and not expired)
    return render_template("financing/request_detail.html", req=financing_request, can_select=can_select,
                           guarantee_notes=_guarantee_notes(financing_request),
                           offers_expired=expired, tried={a.offer_id for a in financing_request.applications},
                           unmatched=sentences(financing_request), why=reasons.status_words(financing_request),
                           entries=story.entries(financing_request), version=services.deal_version(financing_request),
                           errors=errors or {}, posted=request.form), status


@dataclass(frozen=True)
class GuaranteeNote:
    """What a guaranteed offer's guarantee costs and who gives it, for a loan disbursed today."""

    agency: str
    days: int
    #: The fee the enterprise pays over the term, after the fee-reduction rules.
    fee: Decimal
    #: The fiscal fund's subsidy (降费奖补) to the agency over the term, before any budget runs short.
    subsidy: Decimal


def _guarantee_notes(financing_request: FinancingRequest) -> dict[int, GuaranteeNote]:
    """Per guaranteed offer: its agency by name, and the fee and subsidy in yuan as fees are charged (amount × rate ×
    days of the term ÷ 365, the term starting today)."""
    guaranteed = [offer for offer in financing_request.offers if offer.agreement_id is not None]
    if not guaranteed:
        return {}
    agencies = {agreement.id: agreement.agency.display_name for agreement in db.session.scalars(
        select(Agreement).where(Agreement.id.in_({offer.agreement_id for offer in guaranteed})))}
    start = business_today()
    notes = {}
    for offer in guaranteed:
        days = term_days(start, offer.term_months)
        notes[offer.id] = GuaranteeNote(agencies[offer.agreement_id], days,
                                        fee_amount(offer.amount, offer.guarantee_fee_rate, days),
                                        fee_amount(offer.amount, offer.fee_subsidy_rate, days))
    return notes


@bp.get("/enterprise/requests/<int:request_id>/version")
@page_roles(Role.ENTERPRISE)
def request_version(request_id: int):
    return jsonify(version=services.deal_version(services.get_request(current_user, request_id)))


@bp.post("/enterprise/applications/<int:application_id>/counter-offer/<any(accept, decline):answer>")
@page_roles(Role.ENTERPRISE)
def answer_counter(application_id: int, answer: str):
    application = services.get_own_application(current_user, application_id)
    request_id = application.request_id
    try:
        if answer == "accept":
            services.accept_counter(application, current_user)
        else:
            data, errors = load_form(CounterDeclineIn(), request.form)
            if data is None:
                return _request_page(services.get_request(current_user, request_id), errors, 422)
            services.decline_counter(application, current_user, data["reason"])
    except GuaranteeUnavailable as error:
        flash(error.detail, "error")
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(_("You accepted the bank's terms.") if answer == "accept" else
              _("You declined the bank's terms. You may choose another of your offers."))
    return redirect(url_for("financing.request_detail", request_id=request_id))


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
                bank=application.offer.bank_display_name))
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
                           errors=errors or {}, failed_id=failed_id, posted=request.form,
                           standing=_standing()), status


@bp.post("/bank/applications/<int:application_id>/decision")
@page_roles(Role.BANK)
def decide(application_id: int):
    application = services.get_application(current_user, application_id)
    from_detail = request.form.get("back") == "detail"
    back = url_for("financing.bank_application", application_id=application_id) if from_detail else \
        url_for("financing.bank_applications")
    data, errors = load_form(DecisionIn(), request.form)
    if data is not None:
        try:
            services.decide(application, current_user, data)
        except GuaranteeUnavailable as error:
            flash(error.detail, "error")
            return redirect(back)
        except DomainError as error:
            errors = failed(error)
        else:
            flash(_("Application %(id)d %(status)s.", id=application.id,
                    status=application_status_labels()[application.status.value].lower()))
            return redirect(back)
    if from_detail:
        return _application_page(services.get_application(current_user, application_id), errors, 422)
    return _applications_page(errors, application_id, 422)


@bp.get("/bank/applications/<int:application_id>")
@page_roles(Role.BANK)
def bank_application(application_id: int):
    return _application_page(services.get_application(current_user, application_id))


@bp.get("/agency/applications/<int:application_id>")
@page_roles(Role.AGENCY)
def agency_application(application_id: int):
    return _application_page(services.get_application(current_user, application_id))


@bp.get("/applications/<int:application_id>/version")
@page_roles(Role.BANK, Role.AGENCY)
def application_version(application_id: int):
    return jsonify(version=services.deal_version(services.get_application(current_user, application_id).request))


def _standing():
    """Where an application stands against its deadline today, for the queue's flags (as the reminders see it)."""
    today = business_today()
    return lambda application: deadlines.standing(application, today)


def _application_page(application: Application, errors: dict[str, list[str]] | None = None, status: int = 200):
    return render_template(
        "financing/application_detail.html", a=application, entries=story.entries(application.request),
        version=services.deal_version(application.request), standing=_standing(), errors=errors or {},
        posted=request.form, can_decide=current_user.role is Role.BANK
        and application.status is ApplicationStatus.SUBMITTED), status
