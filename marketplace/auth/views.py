"""Signing in and out of the web pages."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from marketplace import db
from marketplace.auth.models import Role
from marketplace.auth.services import authenticate

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {
    Role.BANK: "products.bank_products",
    Role.ENTERPRISE: "financing.my_requests",
    Role.AGENCY: "guarantees.agency_batches",
    Role.ADMIN: "products.catalogue",
}


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host, never a scheme-relative URL."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_url() -> str:
    return url_for(HOME_BY_ROLE[current_user.role])


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_url())
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = authenticate(username, request.form.get("password", ""))
        if user is None:
            error = _("Wrong user name or password.")
        else:
            session.clear()  # a new session on every login
            login_user(user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")) or home_url())
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, username=username), status


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))
