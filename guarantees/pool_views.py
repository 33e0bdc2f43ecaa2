"""The admin's page for risk-compensation pools (风险补偿资金池): their money, setting one up, and deposits.

A deposit form carries a random key made when the page is rendered; the deposit is recorded under that key, so a
double click or a resubmitted form deposits once."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from guarantees import services
from guarantees.models import PoolDeposit, RiskPool
from guarantees.schemas import DepositIn, RiskPoolIn
from guarantees.settlement import claims_outstanding, deposit
from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.dates import business_today
from marketplace.errors import Conflict, DomainError
from marketplace.forms import failed, load_form
from marketplace.i18n import N_
from marketplace.listing import Listing, Search, Sort

bp = Blueprint("risk_pools", __name__, template_folder="templates")

#: The hidden key of a deposit form: uuid4 hex, made when the form is rendered.
FORM_KEY = re.compile(r"[0-9a-f]{32}")
#: Keys from the page are kept apart from the API's Idempotency-Key values.
KEY_PREFIX = "page:"


def new_key() -> str:
    return uuid.uuid4().hex


def _render(create_errors: dict[str, list[str]] | None = None, create_values: dict[str, Any] | None = None,
            deposit_pool: int | None = None, deposit_errors: dict[str, list[str]] | None = None,
            deposit_values: dict[str, Any] | None = None):
    listing = Listing(
        sorts={"name": Sort(N_("Name"), (RiskPool.name, RiskPool.id)),
               "balance": Sort(N_("Balance"), (RiskPool.balance, RiskPool.id), descending_first=True),
               "paid_out": Sort(N_("Paid out"), (RiskPool.paid_out, RiskPool.id), descending_first=True)},
        default_sort="name", filters=[Search(N_("Name or region code"), (RiskPool.name, RiskPool.region_code))],
    ).read(select(RiskPool), endpoint="risk_pools.risk_pools")
    pools = listing.items
    today = business_today().isoformat()
    # One form per pool, each with a fresh key, except the one posted with errors: it keeps what was typed.
    forms = {pool.id: {"values": {"deposited_on": today, "key": new_key()}, "errors": {}} for pool in pools}
    if deposit_pool in forms:
        forms[deposit_pool] = {"values": deposit_values or {}, "errors": deposit_errors or {}}
    errors = bool(create_errors or deposit_errors)
    return render_template("guarantees/risk_pools.html", listing=listing, pools=pools, forms=forms,
                           claims={pool.id: claims_outstanding(pool.id) for pool in pools},
                           errors=create_errors or {}, values=create_values or {},
                           failed_pool=deposit_pool if deposit_errors else None), 422 if errors else 200


@bp.get("/admin/risk-pools")
@page_roles(Role.ADMIN)
def risk_pools():
    return _render()


@bp.post("/admin/risk-pools")
@page_roles(Role.ADMIN)
def create_pool():
    data, errors = load_form(RiskPoolIn(), request.form)
    if data is not None:
        try:
            pool = services.create_risk_pool(data)
        except DomainError as error:
            errors = failed(error)
        else:
            flash(_("Risk pool %(name)s is set up. Deposit money into it below; agreements can now name it.",
                    name=pool.display_name))
            return redirect(url_for("risk_pools.risk_pools"))
    return _render(create_errors=errors, create_values=request.form.to_dict())


def _deposit_key(form: MultiDict) -> str | None:
    key = form.get("key", "").strip()
    return KEY_PREFIX + key if FORM_KEY.fullmatch(key) else None


@bp.post("/admin/risk-pools/<int:pool_id>/deposits")
@page_roles(Role.ADMIN)
def make_deposit(pool_id: int):
    pool = services.get_risk_pool(pool_id)
    values = request.form.to_dict()
    data, errors = load_form(DepositIn(), request.form)
    key = _deposit_key(request.form)
    if key is None:
        errors = {**errors, "_schema": [_("This form is out of date. It has been renewed: check the amount and "
                                          "deposit again.")]}
        values["key"] = new_key()
    if not errors:
        replayed = db.session.scalar(select(PoolDeposit.id).where(PoolDeposit.pool_id == pool.id,
                                                                  PoolDeposit.idempotency_key == key)) is not None
        try:
            made = deposit(pool.id, current_user._get_current_object(), data["amount"],
                           data["deposited_on"] or business_today(), key)
        except Conflict as error:
            db.session.rollback()
            # The key was used for another amount: that form was already submitted. A fresh form, on purpose.
            errors = {"_schema": [error.detail, _("Nothing more was deposited. To make another deposit, "
                                                  "submit this renewed form.")]}
            values["key"] = new_key()
        except DomainError as error:
            errors = failed(error)
        else:
            if replayed:
                flash(_("This deposit of ¥%(amount)s into %(name)s was already recorded; nothing more was deposited.",
                        amount=f"{made.amount:,.2f}", name=pool.display_name))
            elif made.claims_paid:
                flash(_("Deposited ¥%(amount)s into %(name)s; ¥%(paid)s of it paid the pool's earlier claims.",
                        amount=f"{made.amount:,.2f}", name=pool.display_name, paid=f"{made.claims_paid:,.2f}"))
            else:
                flash(_("Deposited ¥%(amount)s into %(name)s.", amount=f"{made.amount:,.2f}", name=pool.display_name))
            return redirect(url_for("risk_pools.risk_pools"))
    return _render(deposit_pool=pool.id, deposit_errors=errors, deposit_values=values)
