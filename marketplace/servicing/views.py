"""Loans after approval, on pages: the bank's loans and what it reports on one (disbursement, repayments, overdue,
default, renewal, recovery, and its compensation claims), the enterprise's loans, their schedule and its download.

Every event form asks before it changes anything. Its first POST previews: `record_event` runs inside a savepoint
that is then rolled back, so the summary says exactly what the event would do, to how much money (how a repayment
splits, the fee posted, the claim filed), and refuses what `record_event` would refuse, with nothing of it reaching
the database. The Confirm button posts the same fields again with confirm=1. Each form carries a random key made
when the page was drawn (as the risk pools' deposit form does) and the event is recorded under it, so a double click
or a confirmation sent twice records once.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, case, false, literal, select
from sqlalchemy.orm import selectinload

from guarantees import claims
from guarantees.models import Agreement, Claim, ClaimMode, ClaimStatus, Guarantee, LossAllocation
from guarantees.schemas import ClaimIn
from guarantees.services import guarantee_of_loan, pool_names
from marketplace import db, spreadsheets
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role, User
from marketplace.dates import business_today
from marketplace.errors import DomainError
from marketplace.fields import file_present
from marketplace.financing import loans, services, story
from marketplace.financing.loans import Details, event_word, record_event
from marketplace.financing.models import Loan, LoanEvent, LoanEventType, LoanStatus
from marketplace.financing.schedule import Standing
from marketplace.financing.schemas import LoanEventIn
from marketplace.forms import failed, load_form
from marketplace.i18n import N_, percent, yuan
from marketplace.ledger import reports, summaries
from marketplace.listing import Choice, Listing, Search, Sort
from marketplace.orgs.models import Bank, Enterprise
from marketplace.scheduler.jobs import DEFAULT_AFTER_DAYS

bp = Blueprint("servicing", __name__, template_folder="templates")

#: The events a bank reports from a loan's page, in the order their forms appear.
ACTIONS = (LoanEventType.DISBURSED, LoanEventType.REPAYMENT, LoanEventType.OVERDUE, LoanEventType.DEFAULT,
           LoanEventType.RENEWED, LoanEventType.RECOVERY)
#: The hidden key of an event form: uuid4 hex, made when the form is drawn.
FORM_KEY = re.compile(r"[0-9a-f]{32}")
#: Keys from the pages are kept apart from the API's Idempotency-Key values.
KEY_PREFIX = "page:"
#: "Due this week": the next due date within this many days from today.
WEEK = dt.timedelta(days=7)
ZERO = Decimal("0.00")


def loan_status_labels() -> dict[str, str]:
    return {"approved": _("Approved, not yet disbursed"), "disbursed": _("Disbursed"), "repaying": _("Repaying"),
            "repaid": _("Repaid"), "overdue": _("Overdue"), "defaulted": _("Defaulted"),
            "recovering": _("Recovering after default"), "closed": _("Closed")}


def method_labels() -> dict[str, str]:
    return {"equal_installment": _("Equal instalments · 等额本息"), "equal_principal": _("Equal principal · 等额本金"),
            "interest_monthly": _("Monthly interest, principal at maturity · 按月付息到期还本"),
            "revolving": _("Draw and repay any time · 随借随还")}


def period_status_labels() -> dict[str, str]:
    return {"paid": _("Paid in full"), "partly_paid": _("Partly paid"), "overdue": _("Overdue"),
            "due": _("Due next"), "upcoming": _("Upcoming")}


def event_labels() -> dict[str, str]:
    return {kind.value: event_word(kind) for kind in LoanEventType}


def claim_status_labels() -> dict[str, str]:
    return {"filed": _("Awaiting the agency's decision"), "paid": _("Paid by the agency"),
            "rejected": _("Refused by the agency"), "withdrawn": _("Withdrawn: recovered in full")}


def entry_kind_labels() -> dict[str, str]:
    """The journal entries a loan makes, as the ledger's page names them."""
    return {"fee": _("Guarantee fee"), "default": _("Default"), "recovery": _("Recovery"),
            "claim_payment": _("Pool claims paid"), "reversal": _("Reversal")}


def due_labels() -> dict[str, str]:
    return {"overdue": _("A period is overdue"), "this_week": _("Due within 7 days")}


def owing(standing: Standing) -> Decimal:
    """What is left to pay of a period."""
    return standing.period.total - standing.paid


@bp.context_processor
def _words() -> dict[str, Any]:
    return {"loan_status_labels": loan_status_labels(), "method_labels": method_labels(),
            "period_status_labels": period_status_labels(), "event_labels": event_labels(),
            "claim_status_labels": claim_status_labels(), "entry_kind_labels": entry_kind_labels(),
            "percent": percent, "owing": owing, "purpose_label": summaries.purpose, "summary": summaries.shown}


# Lists -------------------------------------------------------------------------------------------------------------

def _due_ids(scope: Select, today: dt.date) -> dict[str, set[int]]:
    """Of the loans in `scope` that are being repaid, those with a period overdue (or reported overdue) and those
    whose next due date falls within the week. Worked out from their schedules: no column holds a next due date."""
    found: dict[str, set[int]] = {"overdue": set(), "this_week": set()}
    performing = scope.where(Loan.status.in_(loans.PERFORMING)).options(selectinload(Loan.application))
    for loan in db.session.scalars(performing):
        view = loans.schedule_of(loan, today)
        if loan.status is LoanStatus.OVERDUE or any(s.status == "overdue" for s in view.periods):
            found["overdue"].add(loan.id)
        if view.next_due is not None and today <= view.next_due.period.due_on <= today + WEEK:
            found["this_week"].add(loan.id)
    return found


def _due_column(scope: Select, today: dt.date) -> Any:
    """The `due` filter's column: equal to the value asked for on the loans that fit it (the schedules are only
    read when the filter is used)."""
    wanted = request.args.get("due", "").strip()
    if wanted not in due_labels():
        return literal("")  # not filtered, or refused by the Choice with its message
    ids = _due_ids(scope, today)[wanted]
    return case((db.among(Loan.id, ids) if ids else false(), wanted), else_="")


def _loan_list(scope: Select, other: str, other_label: str, other_name: Any, search_label: str, reader: str):
    """A list of loans (the bank's or the enterprise's: `reader`), `other` being the party on the other side."""
    today = business_today()
    listing = Listing(
        sorts={"loan": Sort(N_("Loan"), (Loan.id,), descending_first=True),
               "principal": Sort(N_("Principal"), (Loan.principal, Loan.id), descending_first=True),
               "outstanding": Sort(N_("Outstanding"), (Loan.outstanding, Loan.id), descending_first=True),
               other: Sort(other_label, (other_name, Loan.id))},
        default_sort="loan", default_descending=True,
        filters=[Search(search_label, (other_name, Loan.contract_no)),
                 Choice("status", N_("Status"), Loan.status, loan_status_labels(), N_("All statuses")),
                 # Not "Due": the catalogue has it as an application's answer being due (应答复).
                 Choice("due", N_("Next due"), _due_column(scope, today), due_labels(), N_("Any due date"))],
    ).read(scope.options(selectinload(Loan.application)))
    rows = [(loan, _next_due(loan, today)) for loan in listing.items]
    return render_template("servicing/loans.html", listing=listing, rows=rows, loans=listing.items, today=today,
                           reader=reader)


def _next_due(loan: Loan, today: dt.date) -> Standing | None:
    return loans.schedule_of(loan, today).next_due if loan.status in loans.PERFORMING else None


@bp.get("/bank/loans")
@page_roles(Role.BANK)
def bank_loans():
    enterprise = select(Enterprise.name).where(Enterprise.id == Loan.enterprise_id).scalar_subquery()
    return _loan_list(select(Loan).where(Loan.bank_id == current_user.organization_id), "enterprise",
                      N_("Enterprise"), enterprise, N_("Enterprise or contract number"), "bank")


@bp.get("/enterprise/loans")
@page_roles(Role.ENTERPRISE)
def enterprise_loans():
    bank = select(Bank.name).where(Bank.id == Loan.bank_id).scalar_subquery()
    return _loan_list(select(Loan).where(Loan.enterprise_id == current_user.organization_id), "bank", N_("Bank"),
                      bank, N_("Bank or contract number"), "enterprise")


# One loan, as both parties read it ----------------------------------------------------------------------------------

def _events(loan: Loan) -> list[LoanEvent]:
    return list(db.session.scalars(select(LoanEvent).where(LoanEvent.loan_id == loan.id)
                                   .order_by(LoanEvent.occurred_on, LoanEvent.id)))


def _renewed_into(loan: Loan) -> int | None:
    return db.session.scalar(select(LoanEvent.new_loan_id).where(LoanEvent.loan_id == loan.id,
                                                                 LoanEvent.type == LoanEventType.RENEWED))


def _common(loan: Loan, today: dt.date) -> dict[str, Any]:
    guarantee = guarantee_of_loan(loan.id)
    return {"loan": loan, "today": today, "view": loans.schedule_of(loan, today), "events": _events(loan),
            "guarantee": guarantee,
            "agreement": db.session.get(Agreement, guarantee.agreement_id) if guarantee is not None else None,
            "method": loans.method_of(loan).value, "renewed_into": _renewed_into(loan),
            "entries": story.entries(loan.application.request)}


@dataclass(frozen=True)
class Arrears:
    """What the enterprise is late with: shown as a warning on its loan page."""
    amount: Decimal
    #: The first day overdue.
    since: dt.date
    days: int
    #: The day it defaults if still overdue (DEFAULT_AFTER_DAYS days overdue).
    defaults_on: dt.date


def _arrears(loan: Loan, periods: list[Standing], today: dt.date, events: list[LoanEvent]) -> Arrears | None:
    if loan.status not in loans.PERFORMING:
        return None
    late = [s for s in periods if s.status == "overdue"]
    if late:
        since = late[0].period.due_on + dt.timedelta(days=1)
        amount = sum((owing(s) for s in late), ZERO)
    elif loan.status is LoanStatus.OVERDUE:  # reported by the bank before a period ran late
        reported = [e for e in events if e.type is LoanEventType.OVERDUE]
        if not reported:
            return None
        since, amount = reported[-1].occurred_on, reported[-1].amount
    else:
        return None
    return Arrears(amount=amount, since=since, days=max((today - since).days + 1, 0),
                   defaults_on=since + dt.timedelta(days=DEFAULT_AFTER_DAYS))


@bp.get("/enterprise/loans/<int:loan_id>")
@page_roles(Role.ENTERPRISE)
def enterprise_loan(loan_id: int):
    loan = services.get_loan(current_user, loan_id)
    today = business_today()
    words = _common(loan, today)
    return render_template("servicing/enterprise_loan.html", **words,
                           arrears=_arrears(loan, words["view"].periods, today, words["events"]))


@bp.get("/enterprise/loans/<int:loan_id>/schedule.xlsx")
@page_roles(Role.ENTERPRISE)
def schedule_download(loan_id: int):
    loan = services.get_loan(current_user, loan_id)
    view = loans.schedule_of(loan, business_today())
    labels = period_status_labels()
    rows = [[s.period.number, s.period.due_on, _fen(s.period.principal), _fen(s.period.interest),
             _fen(s.period.total), _fen(s.period.outstanding_after), _fen(s.paid), labels[s.status]]
            for s in view.periods]
    totals = [_("Total"), None, *(_fen(sum((getattr(s.period, name) for s in view.periods), ZERO))
                                  for name in ("principal", "interest", "total")),
              None, _fen(sum((s.paid for s in view.periods), ZERO)), None]
    table = spreadsheets.Table(
        title=_("Loan %(id)d schedule", id=loan.id),
        header=[_("Period"), _("Due on"), _("Principal"), _("Interest"), _("Total"), _("Remaining principal"),
                _("Paid so far"), _("Status")],
        rows=rows, totals=totals if rows else None)
    return spreadsheets.download(table, "xlsx", f"loan-{loan.id}-schedule")


def _fen(amount: Decimal) -> Decimal:
    """Two places, so the sheet shows it as money."""
    return amount.quantize(Decimal("0.01"))


# The bank's loan page ----------------------------------------------------------------------------------------------

@dataclass
class FormState:
    """A form on the loan page: what it shows in its fields, and why it was refused."""
    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)


def new_key() -> str:
    return uuid.uuid4().hex


def _form_key(form: Any) -> str | None:
    key = form.get("key", "").strip()
    return KEY_PREFIX + key if FORM_KEY.fullmatch(key) else None


def _posted() -> dict[str, str]:
    return {name: value for name, value in request.form.items() if name not in ("csrf_token", "confirm", "edit")}


def _may_file_again(loan: Loan, loan_claims: list[Claim]) -> bool:
    """After a refusal the bank may file again, while no claim waits and none was paid."""
    statuses = {claim.status for claim in loan_claims}
    return (loan.status in (LoanStatus.DEFAULTED, LoanStatus.RECOVERING) and ClaimStatus.REJECTED in statuses
            and not statuses & {ClaimStatus.FILED, ClaimStatus.PAID})


def _forms(loan: Loan, today: dt.date, loan_claims: list[Claim]) -> dict[str, FormState]:
    """The forms the loan's status allows, each with a fresh key."""
    day = today.isoformat()
    defaults = {
        LoanEventType.DISBURSED: {"occurred_on": day, "contract_no": loan.contract_no or "",
                                  "repayment_method": loans.method_of(loan).value},
        LoanEventType.REPAYMENT: {"occurred_on": day, "amount": ""},
        LoanEventType.OVERDUE: {"occurred_on": day},
        LoanEventType.DEFAULT: {"occurred_on": day},
        LoanEventType.RENEWED: {"occurred_on": day, "new_loan_id": ""},
        LoanEventType.RECOVERY: {"occurred_on": day, "amount": ""},
    }
    forms = {kind.value: FormState({**defaults[kind], "key": new_key()})
             for kind in ACTIONS if loan.status in loans.ALLOWED_FROM[kind]}
    if _may_file_again(loan, loan_claims):
        forms["claim"] = FormState({"amount": f"{loan.outstanding:.2f}", "note": ""})
    for claim in loan_claims:
        if claim.status is ClaimStatus.FILED:
            forms[f"evidence-{claim.id}"] = FormState({})
    return forms


def _renewal_candidates(loan: Loan) -> list[Loan]:
    """The bank's approved loans to the same enterprise for the principal still owed: what may renew this one."""
    return list(db.session.scalars(select(Loan).where(
        Loan.bank_id == loan.bank_id, Loan.enterprise_id == loan.enterprise_id, Loan.id != loan.id,
        Loan.status == LoanStatus.APPROVED, Loan.principal == loan.outstanding).order_by(Loan.id)))


def _bank_page(loan: Loan, failed_form: str | None = None, state: FormState | None = None, status: int = 200):
    today = business_today()
    words = _common(loan, today)
    loan_claims = claims.claims_of_loan(loan.id)
    forms = _forms(loan, today, loan_claims)
    page_errors: dict[str, list[str]] = {}
    if state is not None:
        if failed_form in forms:
            forms[failed_form] = state
        else:  # a form the loan's status no longer offers (another officer acted meanwhile)
            page_errors = state.errors
    owed = loans.owed_on(loan, today) if "repayment" in forms else None
    ledger_entries, ledger_owners = reports.loan_entries(loan.id, pool_names())
    return render_template(
        "servicing/bank_loan.html", **words, forms=forms, failed_form=failed_form, page_errors=page_errors,
        owed=owed, claims=loan_claims, renewal_candidates=_renewal_candidates(loan) if "renewed" in forms else [],
        claim_mode=_claim_mode(words["agreement"]), ledger_entries=ledger_entries,
        ledger_owners=ledger_owners), status


def _claim_mode(agreement: Agreement | None) -> str:
    """How a default of this loan is settled: "review" (a claim is filed), "automatic", or "none" (no guarantee)."""
    if agreement is None:
        return "none"
    return "review" if agreement.claim_mode is ClaimMode.REVIEW else "automatic"


@bp.get("/bank/loans/<int:loan_id>")
@page_roles(Role.BANK)
def bank_loan(loan_id: int):
    return _bank_page(services.get_loan(current_user, loan_id))


@dataclass(frozen=True)
class Preview:
    """What an event would do, as its confirmation step shows it."""
    event_type: LoanEventType
    amount: Decimal
    occurred_on: dt.date
    status_before: LoanStatus
    status_after: LoanStatus
    outstanding_before: Decimal
    outstanding_after: Decimal
    #: Sentences on what else follows (the split, the fee, the claim), in the reader's language.
    lines: list[str]


def _preview(loan: Loan, user: User, data: dict[str, Any], details: Details) -> Preview:
    """Record the event in a savepoint, read what it did, and roll it back: the summary is record_event's own
    arithmetic and checks (a DomainError is what confirming would meet), and nothing reaches the database."""
    db.lock(loan)  # in the request's transaction: on PostgreSQL a row lock taken inside a savepoint ends with it
    before = (loan.status, loan.outstanding)
    savepoint = db.session.begin_nested()
    try:
        event = record_event(loan, user, data["type"], data["amount"], data["occurred_on"], details=details)
        return Preview(event_type=event.type, amount=event.amount, occurred_on=event.occurred_on,
                       status_before=before[0], status_after=loan.status, outstanding_before=before[1],
                       outstanding_after=loan.outstanding, lines=_consequences(loan, event))
    finally:
        savepoint.rollback()


def _consequences(loan: Loan, event: LoanEvent) -> list[str]:
    """What else the event does, read while it is recorded (inside the preview's savepoint)."""
    guarantee = guarantee_of_loan(loan.id)
    day = event.occurred_on.isoformat()
    if event.type is LoanEventType.DISBURSED:
        periods = loans.periods_of(loan)
        lines = [_("%(amount)s is paid out to the enterprise on %(day)s, under contract %(contract)s.",
                   amount=yuan(event.amount), day=day, contract=loan.contract_no or "—"),
                 _("It is repaid as %(method)s in %(n)d monthly periods; the first, %(first)s, falls due on %(due)s.",
                   method=method_labels()[loans.method_of(loan).value], n=len(periods),
                   first=yuan(periods[0].total), due=periods[0].due_on.isoformat())]
        if guarantee is not None:
            lines.append(_("The guarantee becomes active and its fee is posted to the agency: %(fee)s for %(days)d "
                           "days, of which the fiscal subsidy pays %(subsidy)s.", fee=yuan(guarantee.fee_charged),
                           days=guarantee.fee_days or 0, subsidy=yuan(guarantee.fiscal_subsidy or ZERO)))
        return lines
    if event.type is LoanEventType.REPAYMENT:
        lines = [_("Of %(amount)s, %(interest)s pays interest and %(principal)s principal, the oldest period "
                   "first and interest before principal.", amount=yuan(event.amount), interest=yuan(event.interest),
                   principal=yuan(event.principal))]
        if loan.status is LoanStatus.REPAID:
            lines.append(_("This repays the loan in full."))
        if guarantee is not None and event.principal:
            lines.append(_("The principal repaid releases as much of the guarantee agreement's quota."))
        return lines
    if event.type is LoanEventType.OVERDUE:
        return [_("The loan is reported overdue from %(day)s with %(amount)s outstanding. The enterprise is told "
                  "today, and so is the guaranteeing agency.", day=day, amount=yuan(event.amount)),
                _("%(days)d days overdue, the loan defaults.", days=DEFAULT_AFTER_DAYS)]
    if event.type is LoanEventType.DEFAULT:
        lines = [_("The loss is the outstanding principal, %(amount)s.", amount=yuan(event.amount))]
        claim = db.session.scalar(select(Claim).where(Claim.loan_id == loan.id, Claim.status == ClaimStatus.FILED))
        allocation = db.session.scalar(select(LossAllocation).where(LossAllocation.loan_id == loan.id))
        if claim is not None:
            lines.append(_("Its guarantee agreement reviews claims: a compensation claim for %(amount)s is filed with "
                           "the agency, which decides by %(day)s. Attach your evidence to it on this page.",
                           amount=yuan(claim.amount), day=claim.due_by.isoformat()))
        elif allocation is not None and allocation.agreement_id is not None:
            lines.append(_("It is shared at once as the guarantee agreement says: the agency compensates "
                           "%(agency)s and the bank bears %(bank)s.", agency=yuan(allocation.agency_compensation),
                           bank=yuan(allocation.bank_borne + allocation.beyond_cap)))
        else:
            lines.append(_("No guarantee covers the loan: the bank bears the whole loss."))
        return lines
    if event.type is LoanEventType.RENEWED:
        return [_("Loan %(new)d is disbursed on %(day)s for %(amount)s and takes this loan's place; this loan closes "
                  "without principal changing hands.", new=event.new_loan_id, day=day, amount=yuan(event.amount))]
    lines = [_("%(amount)s recovered on %(day)s.", amount=yuan(event.amount), day=day)]
    if guarantee is not None:
        lines.append(_("It is shared back in proportion to what each party bore of the loss."))
    return lines


def _earlier(loan_id: int, key: str) -> LoanEvent | None:
    return db.session.scalar(select(LoanEvent).where(LoanEvent.loan_id == loan_id, LoanEvent.idempotency_key == key))


def _same(event: LoanEvent, data: dict[str, Any]) -> bool:
    """Whether a confirmation asks for the event its key already recorded (record_event's own test)."""
    return event.type is data["type"] and (data["amount"] is None or data["amount"] == event.amount)


@bp.post("/bank/loans/<int:loan_id>/events")
@page_roles(Role.BANK)
def report_event(loan_id: int):
    loan = services.get_loan(current_user, loan_id)
    kind, values, confirmed = request.form.get("type", ""), _posted(), request.form.get("confirm") == "1"
    if request.form.get("edit") == "1":  # "Change" on the confirmation: the form again, as it was filled in
        return _bank_page(loan, kind, FormState(values))
    data, errors = load_form(LoanEventIn(), request.form)
    if data is not None and data["type"] is LoanEventType.DISBURSED and not data["contract_no"]:
        # The API leaves it to banks' systems; an officer reporting a disbursement has the contract in hand.
        errors = {**errors, "contract_no": [_("Give the loan contract's number.")]}
    key = _form_key(request.form)
    if key is None:
        errors = {**errors, "_schema": [_("This form is out of date. It has been renewed: check it and send it "
                                          "again.")]}
        values["key"] = new_key()
    if errors:
        return _bank_page(loan, kind, FormState(values, errors), 422)
    earlier = _earlier(loan.id, key)
    if earlier is not None and (not confirmed or not _same(earlier, data)):
        values["key"] = new_key()  # this form was used: a fresh one, on purpose, for anything more
        return _bank_page(loan, kind, FormState(values, {"_schema": [_(
            "This form was already sent: its %(event)s of %(day)s is recorded (see the loan's events). It has been "
            "renewed: to report something more, check it and send it again.",
            event=event_labels()[earlier.type.value].lower(), day=earlier.occurred_on.isoformat())]}), 409)
    user = current_user._get_current_object()
    details = Details(contract_no=data["contract_no"], repayment_method=data["repayment_method"],
                      new_loan_id=data["new_loan_id"])
    if not confirmed:
        try:
            preview = _preview(loan, user, data, details)
        except DomainError as error:
            return _bank_page(loan, kind, FormState(values, failed(error)), error.status)
        return render_template("servicing/confirm.html", loan=loan, preview=preview, kind=kind,
                               hidden=values.items())
    if earlier is not None:  # the same confirmation again (a double click, a resent form): recorded once
        flash(_("This %(event)s was already recorded; nothing more was recorded.",
                event=event_labels()[earlier.type.value].lower()))
        return redirect(url_for("servicing.bank_loan", loan_id=loan.id))
    try:
        event = record_event(loan, user, data["type"], data["amount"], data["occurred_on"], key=key,
                             details=details)
    except DomainError as error:
        return _bank_page(loan, kind, FormState(values, failed(error)), error.status)
    flash(_recorded(loan, event))
    return redirect(url_for("servicing.bank_loan", loan_id=loan.id))


def _recorded(loan: Loan, event: LoanEvent) -> str:
    if event.type is LoanEventType.REPAYMENT:
        return _("Repayment of %(amount)s recorded: %(interest)s interest, %(principal)s principal.",
                 amount=yuan(event.amount), interest=yuan(event.interest), principal=yuan(event.principal))
    if event.type is LoanEventType.RENEWED:
        return _("Loan %(id)d is renewed by loan %(new)d.", id=loan.id, new=event.new_loan_id)
    return _("%(event)s of %(amount)s on %(day)s recorded.", event=event_labels()[event.type.value],
             amount=yuan(event.amount), day=event.occurred_on.isoformat())


# Compensation claims ----------------------------------------------------------------------------------------------

@bp.post("/bank/loans/<int:loan_id>/claims")
@page_roles(Role.BANK)
def file_again(loan_id: int):
    loan = services.get_loan(current_user, loan_id)
    data, errors = load_form(ClaimIn(), request.form)
    status = 422
    if data is not None:
        try:
            claim = loans.file_claim(loan, current_user._get_current_object(), data["amount"], data["note"])
        except DomainError as error:
            errors, status = failed(error), error.status
        else:
            flash(_("Claim %(id)d filed for %(amount)s; the agency decides by %(day)s. Attach your evidence to it.",
                    id=claim.id, amount=yuan(claim.amount), day=claim.due_by.isoformat()))
            return redirect(url_for("servicing.bank_loan", loan_id=loan.id, _anchor=f"claim-{claim.id}"))
    return _bank_page(loan, "claim", FormState(_posted(), errors), status)


@bp.post("/bank/claims/<int:claim_id>/documents")
@page_roles(Role.BANK)
def attach_evidence(claim_id: int):
    claim = claims.get_claim(current_user, claim_id)
    loan = services.get_loan(current_user, claim.loan_id)
    form = f"evidence-{claim.id}"
    upload = request.files.get("file")
    try:
        file_present(upload)
    except ma.ValidationError as error:
        return _bank_page(loan, form, FormState({}, {"file": list(error.messages)}), 422)
    content = upload.read(current_app.config["CLAIM_FILE_MAX_BYTES"] + 1)
    try:
        document = claims.attach(claim, current_user._get_current_object(), upload.filename, upload.mimetype,
                                 content)
    except DomainError as error:
        failed(error)
        return _bank_page(loan, form, FormState({}, error.errors or {"file": [error.detail]}), error.status)
    flash(_("%(name)s is attached to claim %(id)d.", name=document.name, id=claim.id))
    return redirect(url_for("servicing.bank_loan", loan_id=loan.id, _anchor=f"claim-{claim.id}"))


@bp.get("/bank/claims/<int:claim_id>/documents/<int:document_id>")
@page_roles(Role.BANK)
def evidence(claim_id: int, document_id: int):
    return claims.send_document(claims.get_document(current_user, claim_id, document_id))


# Used by the templates' guarantee summary.
__all__ = ["bp", "Guarantee"]
