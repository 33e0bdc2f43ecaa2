"""/admin/audit: the trail with filters."""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, render_template, request
from sqlalchemy import func, select

from marketplace import db
from marketplace.audit import queries
from marketplace.audit.schemas import AuditQuery
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.errors import flatten_messages
from marketplace.listing import read_order

bp = Blueprint("audit", __name__, template_folder="templates")

PAGE_SIZE = 50
FILTERS = ("actor", "organization_id", "action", "object_type", "object_id", "request_id", "from", "to")


@bp.get("/admin/audit")
@page_roles(Role.ADMIN)
def audit_page():
    typed = {name: value for name in FILTERS if (value := request.args.get(name, "").strip())}
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    try:
        filters, errors = AuditQuery().load(typed), {}
    except ma.ValidationError as error:
        filters, errors = {}, flatten_messages(error.messages)
    order, order_errors = read_order("newest")
    if order_errors:
        errors["order"] = order_errors
    entries, total = [], 0
    if not errors:
        with db.reports_replica():
            query = queries.entries(filters, oldest_first=order == "oldest")
            total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            entries = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return render_template("audit/audit.html", entries=entries, total=total, page=page, page_size=PAGE_SIZE,
                           values=typed, order=order, errors=errors,
                           page_args=typed | ({"order": order} if order != "newest" else {})), 422 if errors else 200
