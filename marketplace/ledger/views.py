"""The admin's ledger pages: the trial balance, the journal by reference and dates (with CSV and XLSX downloads),
`verify`, and each agreement's statement. They read the session, not a bearer token, so they have routes of
their own beside the API's."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from guarantees import statements
from guarantees.models import Agreement, RiskPool
from guarantees.services import get_agreement, pool_names
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.errors import flatten_messages
from marketplace.ledger import reports, summaries
from marketplace.ledger.schemas import JournalQuery
from marketplace.listing import read_order

bp = Blueprint("ledger", __name__, template_folder="templates")

PAGE_SIZE = 50
#: The search form's inputs, named as in the API's query (`?ref=loan:42&from=2026-01-01&to=2026-12-31`).
SEARCH_INPUTS = ("ref", "from", "to")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "entry_kind_labels": {"fee": _("Guarantee fee"), "pool_deposit": _("Pool deposit"), "default": _("Default"),
                              "claim_payment": _("Pool claims paid"), "recovery": _("Recovery"),
                              "reversal": _("Reversal")},
        "agreement_status_labels": {
            "pending_bank": _("Awaiting the bank's countersignature"), "returned": _("Returned by the bank"),
            "active": _("Active"), "suspended": _("Suspended"), "expired": _("Expired"),
            "terminated": _("Terminated")},
        "party_labels": {"agency": _("Agency"), "bank": _("Bank"), "enterprise": _("Enterprise"),
                         "risk_pool": _("Risk pool"), "reguarantor": _("Re-guarantor"),
                         "fiscal_fund": _("Fiscal fund")},
        "purpose_labels": summaries.purposes(), "summary": summaries.shown,
    }


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


def _search(args: MultiDict) -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """(what was typed, JournalQuery's result, errors by input name)."""
    typed = {name: value for name in SEARCH_INPUTS if (value := args.get(name, "").strip())}
    try:
        return typed, JournalQuery().load(typed), {}
    except ma.ValidationError as error:
        return typed, {}, flatten_messages(error.messages)


def _render(typed: dict[str, str], query: dict[str, Any], errors: dict[str, list[str]],
            verification: list[str] | None = None):
    user = current_user._get_current_object()
    with db.reports_replica():
        trial = reports.trial_balance(user, pool_names())
        owners = {a["id"]: a["owner"] for a in trial["accounts"]}
        entries, total, page = [], 0, _page()
        order, order_errors = read_order("oldest")
        if order_errors:
            errors = {**errors, "order": order_errors}
        if not errors:
            journal = reports.journal(user, query.get("ref"), query.get("date_from"), query.get("date_to"),
                                      newest_first=order == "newest")
            total = db.session.scalar(select(func.count()).select_from(journal.order_by(None).subquery()))
            entries = db.session.scalars(journal.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
        agreements = db.session.scalars(select(Agreement).order_by(Agreement.code)).all()
        references = _references({entry.ref for entry in entries}, agreements)
    accounts, account_args, account_errors = _accounts_shown(trial["accounts"])
    range_args = {name: typed[name] for name in ("ref", "from", "to") if name in typed and not errors}
    return render_template("ledger/ledger.html", trial=trial, owners=owners, entries=entries, total=total,
                           references=references, page=page, page_size=PAGE_SIZE, values=typed, errors=errors,
                           range_args=range_args,
                           search_args={k: v for k, v in typed.items() if not errors} | (
                               {"order": order} if order != "oldest" else {}), order=order, agreements=agreements,
                           verification=verification, accounts=accounts, account_args=account_args,
                           both_args={k: v for k, v in typed.items() if not errors} | account_args | (
                               {"order": order} if order != "oldest" else {}),
                           account_errors=account_errors), 422 if errors else 200


def _references(refs: set[str], agreements: list[Agreement]) -> dict[str, str]:
    """What each entry is about, as a reader names it: 贷款 #42, the risk pool's name, the agreement's code."""
    kinds: dict[str, set[int]] = {}
    for ref in refs:
        kind, _sep, number = ref.partition(":")
        if number.isdigit():
            kinds.setdefault(kind, set()).add(int(number))
    pool_ids = kinds.get("risk_pool", set())
    pools = dict(db.session.execute(select(RiskPool.id, RiskPool.display_name).where(RiskPool.id.in_(pool_ids)))
                 .all()) if pool_ids else {}
    codes = {a.id: a.code for a in agreements}
    named = {f"loan:{n}": _("Loan #%(id)d", id=n) for n in kinds.get("loan", ())}
    named |= {f"risk_pool:{n}": pools[n] for n in pool_ids if n in pools}
    named |= {f"agreement:{n}": _("Agreement %(code)s", code=codes[n])
              for n in kinds.get("agreement", ()) if n in codes}
    return named


#: The trial balance's own inputs, named apart from the journal's so that both searches keep each other.
ACCOUNT_INPUTS = ("account", "party")
ACCOUNT_PAGE_SIZE = 50


def _accounts_shown(accounts: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """The trial balance's accounts for this page: searched by code or owner, filtered by party, 50 at a time (the
    totals above always cover every account)."""
    typed = {name: value for name in ACCOUNT_INPUTS if (value := request.args.get(name, "").strip())}
    errors: dict[str, list[str]] = {}
    shown = accounts
    if "party" in typed:
        if typed["party"] in _labels()["party_labels"]:
            shown = [a for a in shown if a["party"] == typed["party"]]
        else:
            errors["party"] = [_("Choose one of the listed values.")]
    for word in typed.get("account", "").lower().split():
        shown = [a for a in shown if word in a["code"].lower() or word in (a["owner"] or "").lower()
                 or word in summaries.purpose(a["purpose"]).lower()]
    last = max((len(shown) - 1) // ACCOUNT_PAGE_SIZE + 1, 1)
    page = min(max(request.args.get("apage", 1, type=int) or 1, 1), last)
    return ({"rows": shown[(page - 1) * ACCOUNT_PAGE_SIZE:page * ACCOUNT_PAGE_SIZE], "total": len(shown),
             "page": page, "page_size": ACCOUNT_PAGE_SIZE}, typed, errors)


@bp.get("/admin/ledger")
@page_roles(Role.ADMIN)
def ledger():
    return _render(*_search(request.args))


@bp.post("/admin/ledger/verify")
@page_roles(Role.ADMIN)
def verify():
    """Recompute every invariant from the postings (reads only; a POST so that no link or prefetch runs it)."""
    return _render(*_search(request.args), verification=reports.verify())


@bp.get("/admin/ledger/journal.<any(csv, xlsx):fmt>")
@page_roles(Role.ADMIN)
def journal_export(fmt: str):
    """The journal for the chosen reference and date range, one row per posting, as the API's export makes it."""
    typed, query, errors = _search(request.args)
    if errors:
        return _render(typed, query, errors)
    return reports.journal_download(current_user._get_current_object(), pool_names(), query, fmt)


@bp.get("/admin/ledger/agreements/<int:agreement_id>")
@page_roles(Role.ADMIN)
def agreement_statement(agreement_id: int):
    with db.reports_replica():
        agreement = get_agreement(current_user._get_current_object(), agreement_id)
        statement = statements.agreement_statement(agreement)
    return render_template("ledger/statement.html", agreement=agreement, statement=statement)


@bp.get("/admin/ledger/agreements/<int:agreement_id>/statement.<any(csv, xlsx):fmt>")
@page_roles(Role.ADMIN)
def statement_export(agreement_id: int, fmt: str):
    with db.reports_replica():
        statement = statements.agreement_statement(get_agreement(current_user._get_current_object(), agreement_id))
    return statements.statement_download(statement, fmt)
