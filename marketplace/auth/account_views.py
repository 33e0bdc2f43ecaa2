"""Account pages: one's own password, and the users of an organisation for its administrator (any organisation's
for the provincial admin). The API's rules, through the same services (marketplace.auth.accounts)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from marketplace import db
from marketplace.auth import accounts
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role, User
from marketplace.auth.schemas import OrgUserIn, PasswordIn
from marketplace.auth.services import MIN_PASSWORD_LENGTH
from marketplace.auth.views import SESSION_TOKEN, home_url
from marketplace.errors import DomainError, NotFound
from marketplace.forms import failed, load_form
from marketplace.orgs.models import Organization, OrgKind

bp = Blueprint("accounts", __name__)

#: Where a user whose password is temporary may go before changing it.
_WHILE_TEMPORARY = frozenset({"accounts.change_password", "auth.logout", "auth.choose_language", "static"})
ACTIONS = ("disable", "enable", "reset-password")


@bp.before_app_request
def temporary_password_first():
    """A user signed in with a temporary password chooses their own before any other page."""
    if (current_user.is_authenticated and current_user.must_change_password
            and request.endpoint not in _WHILE_TEMPORARY and not request.path.startswith("/api/")):
        return redirect(url_for("accounts.change_password"))
    return None


@bp.route("/account/password", methods=["GET", "POST"])
@page_roles()
def change_password():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(PasswordIn(), request.form)
        if data is None:
            pass
        elif request.form.get("confirm_password", "") != data["new_password"]:
            errors = {"confirm_password": [_("The two new passwords differ; type the same one twice.")]}
        else:
            try:
                accounts.change_password(current_user._get_current_object(), data["current_password"],
                                         data["new_password"], keep_session=session.get(SESSION_TOKEN))
            except DomainError as error:
                errors = failed(error)
            else:
                flash(_("Your password is changed. You stay signed in here; everywhere else you are signed out, "
                        "and your API tokens no longer work."))
                return redirect(home_url())
    return render_template("auth/password.html", errors=errors, min_length=MIN_PASSWORD_LENGTH), (
        422 if errors else 200)


@bp.get("/admin/organizations")
@page_roles(Role.ADMIN)
def organizations():
    """The banks and guarantee agencies, with how many people each has, for the admin to manage their users."""
    people = (select(User.organization_id, func.count(User.id).label("people"))
              .where(User.username.not_like("system:%")).group_by(User.organization_id).subquery())
    rows = db.session.execute(
        select(Organization, func.coalesce(people.c.people, 0))
        .outerjoin(people, people.c.organization_id == Organization.id)
        .where(Organization.kind.in_([OrgKind.BANK, OrgKind.AGENCY]))
        .order_by(Organization.kind, Organization.name)).all()
    return render_template("auth/organizations.html", rows=rows)


@bp.get("/organizations/<int:organization_id>/users")
@page_roles()
def organization_users(organization_id: int):
    organization = accounts.managed_organization(current_user, organization_id)
    return _users_page(organization, {}, {})


@bp.post("/organizations/<int:organization_id>/users")
@page_roles()
def add_user(organization_id: int):
    organization = accounts.managed_organization(current_user, organization_id)
    data, errors = load_form(OrgUserIn(), request.form)
    if data is not None:
        try:
            user = accounts.add_user(current_user._get_current_object(), organization, **data)
        except DomainError as error:
            errors = failed(error)
        else:
            flash(_("%(name)s is added. Give them the password you chose; they choose their own at the first "
                    "sign-in.", name=user.username))
            return redirect(url_for("accounts.organization_users", organization_id=organization.id))
    values = {k: v for k, v in request.form.items() if k not in ("password", "csrf_token")}
    return _users_page(organization, errors, values), 422


@bp.post("/organizations/<int:organization_id>/users/<int:user_id>/<any(disable, enable, 'reset-password'):action>")
@page_roles()
def user_action(organization_id: int, user_id: int, action: str):
    """Disable, re-enable or reset: first a confirmation saying what will happen, then (confirm=1) done."""
    actor = current_user._get_current_object()
    organization = accounts.managed_organization(actor, organization_id)
    user = accounts.managed_user(actor, user_id)
    if user.organization_id != organization.id:
        raise NotFound(_("No user %(id)d.", id=user_id))
    back = url_for("accounts.organization_users", organization_id=organization.id)
    if request.form.get("confirm") != "1":
        return render_template("auth/confirm_user_action.html", organization=organization, user=user, action=action)
    try:
        if action == "reset-password":
            temporary = accounts.reset_password(actor, user)
            response = render_template("auth/temporary_password.html", organization=organization, user=user,
                                       temporary=temporary)
            return response, 200, {"Cache-Control": "no-store"}
        changed = accounts.set_active(actor, user, action == "enable")
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
        return redirect(back)
    if changed:
        flash(_("%(name)s is re-enabled and can sign in again.", name=user.username) if action == "enable" else
              _("%(name)s is disabled: signed out everywhere, and their API tokens no longer work.",
                name=user.username))
    return redirect(back)


def _users_page(organization: Organization, errors: dict[str, list[str]], values: dict[str, str]):
    users = db.session.scalars(accounts.organization_users(organization)).all()
    return render_template("auth/users.html", organization=organization, users=users, errors=errors,
                           values=values, min_length=MIN_PASSWORD_LENGTH,
                           has_admins=organization.kind in (OrgKind.BANK, OrgKind.AGENCY))
