"""The message centre: a bell with the unread count on every page, the list, mark read, mark all read, and the
user's e-mail settings."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.auth.schemas import EMAIL
from marketplace.auth.services import update_me
from marketplace.fields import Text
from marketplace.forms import load_form
from marketplace.notifications import services

bp = Blueprint("notifications", __name__, template_folder="templates")


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    if current_user.is_authenticated:
        return {"unread_notifications": services.unread_count(current_user)}
    return {}


class SettingsForm(ma.Schema):
    email = Text(load_default=None, allow_none=True, max_length=254, validate=EMAIL)
    email_notifications = ma.fields.Boolean(load_default=False)

    @ma.pre_load
    def _blank_is_none(self, data, **kwargs):
        data = dict(data)
        if not (data.get("email") or "").strip():
            data["email"] = None
        return data


PAGE_SIZE = 50


def _page(errors: dict[str, list[str]] | None = None, status: int = 200):
    unread = request.args.get("unread") == "true"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    query = services.of_user(current_user, unread=unread)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    shown = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    values = request.form if errors else {"email": current_user.email or "",
                                          "email_notifications": current_user.email_notifications}
    return render_template("notifications/list.html", notifications=shown, unread=unread, page=page,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), total=total, errors=errors or {},
                           values=values), status


@bp.get("/notifications")
@page_roles(*Role)
def message_centre():
    return _page()


@bp.post("/notifications/<int:notification_id>/read")
@page_roles(*Role)
def read(notification_id: int):
    notification = services.mark_read(current_user, notification_id)
    if request.form.get("open") and notification.link and notification.link.startswith("/"):
        return redirect(notification.link)
    return redirect(url_for("notifications.message_centre"))


@bp.post("/notifications/read-all")
@page_roles(*Role)
def read_all():
    marked = services.mark_all_read(current_user)
    flash(_("%(n)d notifications marked read.", n=marked))
    return redirect(url_for("notifications.message_centre"))


@bp.post("/notifications/settings")
@page_roles(*Role)
def settings():
    data, errors = load_form(SettingsForm(), request.form)
    if data is None:
        return _page(errors, 422)
    update_me(current_user, data)
    flash(_("Your e-mail settings are saved."))
    return redirect(url_for("notifications.message_centre"))
