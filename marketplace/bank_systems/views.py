"""The admin's outbox page: hand-offs to banks' systems by status, every try, and re-driving a dead message."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.bank_systems import outbox
from marketplace.bank_systems.api import get_message, messages
from marketplace.errors import DomainError
from marketplace.listing import read_order
from marketplace.orgs.models import Bank
from marketplace.outbox import MessageStatus, OutboxMessage

bp = Blueprint("outbox", __name__, template_folder="templates")

PAGE_SIZE = 50


@bp.get("/admin/outbox")
@page_roles(Role.ADMIN)
def outbox_page():
    status = request.args.get("status", MessageStatus.DEAD.value)
    status = status if status in {s.value for s in MessageStatus} else ""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    banks = dict(db.session.execute(select(Bank.id, Bank.name).where(
        Bank.id.in_(select(OutboxMessage.bank_id).distinct())).order_by(Bank.name)).all())
    errors: dict[str, list[str]] = {}
    bank_id = request.args.get("bank_id", type=int)
    if request.args.get("bank_id") and bank_id not in banks:
        errors["bank_id"], bank_id = [_("Choose one of the listed values.")], None
    order, order_errors = read_order("newest")
    if order_errors:
        errors["order"] = order_errors
    query = messages(status or None, bank_id)
    if order == "oldest":
        query = query.order_by(None).order_by(OutboxMessage.id)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    shown = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    page_args = {"status": status} | ({"bank_id": bank_id} if bank_id else {}) | (
        {"order": order} if order != "newest" else {})
    return render_template("bank_systems/outbox.html", messages=shown, status=status, counts=counts, page=page,
                           page_size=PAGE_SIZE, total=total, banks=banks, bank_id=bank_id, order=order,
                           errors=errors, page_args=page_args)


@bp.post("/admin/outbox/<int:message_id>/redrive")
@page_roles(Role.ADMIN)
def redrive(message_id: int):
    try:
        message = outbox.redrive(get_message(message_id), current_user)
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(_("Message %(id)d to %(bank)s will be sent again within seconds.", id=message.id,
                bank=message.bank.display_name if message.bank else message.path))
    return redirect(url_for("outbox.outbox_page", status=request.args.get("status", MessageStatus.DEAD.value)))
