"""Signing in and out of the web pages."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from marketplace import i18n
from marketplace.audit import trail as audit
from marketplace.auth import services
from marketplace.auth.models import Role, User
from marketplace.auth.throttle import throttled

bp = Blueprint("auth", __name__)

#: Where each role lands after signing in: its dashboard (the enterprise, which has none, on its requests).
HOME_BY_ROLE = {
    Role.BANK: "dashboards.bank_dashboard",
    Role.ENTERPRISE: "financing.my_requests",
    Role.AGENCY: "dashboards.agency_dashboard",
    Role.ADMIN: "dashboards.admin_dashboard",
}


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host, never a scheme-relative URL."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 0x20 for char in target):  # browsers take a backslash for a slash
        return None
    return target


def home_url() -> str:
    return url_for(HOME_BY_ROLE[current_user.role])


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links; the marketplace's icon, cached for a day."""
    return current_app.send_static_file("favicon.ico"), 200, {"Cache-Control": "public, max-age=86400"}


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_url())
    return redirect(url_for("auth.login"))


#: The session key holding the token of this browser's WebSession.
SESSION_TOKEN = "web_session"


def sign_in(user: User) -> None:
    """Sign this browser in as `user`, in a new session: nothing from before carries over. The caller commits."""
    chosen = session.get(i18n.SESSION_KEY)
    session.clear()
    if chosen in i18n.LANGUAGES:  # chosen on the sign-in page: the latest choice is the one kept
        user.locale = chosen
    login_user(user)
    audit.act_as(user)
    session[SESSION_TOKEN] = services.start_web_session(user, request.remote_addr)
    audit.record("user.signed_in", "user", user.id)


@bp.route("/login", methods=["GET", "POST"])
@throttled
def login():
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:80]
        user = services.authenticate(username, request.form.get("password", ""))
        if user is None:
            error = _("Wrong user name or password.")
            audit.record("user.sign_in_failed", "user", None, {"username": username})
        else:
            sign_in(user)
            return redirect(_safe_next(request.args.get("next")) or home_url())
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, username=username), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        services.end_web_session(session.get(SESSION_TOKEN))
        audit.record("user.signed_out", "user", current_user.id)
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


@bp.post("/language")
def choose_language():
    """Switch the interface language; a signed-in user keeps the choice, a visitor for this browser session."""
    locale = request.form.get("locale")
    back = _safe_next(request.form.get("next")) or url_for("auth.index")
    if locale not in i18n.LANGUAGES:
        flash(_("Choose one of: %(languages)s.", languages=", ".join(i18n.LANGUAGES.values())), "error")
        return redirect(back)
    if current_user.is_authenticated:
        current_user.locale = locale
    else:
        session[i18n.SESSION_KEY] = locale
    return redirect(back)
