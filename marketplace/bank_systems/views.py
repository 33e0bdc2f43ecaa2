"""The admin's outbox page: hand-offs to banks' systems by status, every try, and re-driving a dead message."""

from __future__ import annotations

import re

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
from marketplace.i18n import N_, locale_name
from marketplace.listing import read_order
from marketplace.orgs.models import Bank
from marketplace.outbox import APPLICATION_SUBMITTED, MessageStatus, OutboxMessage

bp = Blueprint("outbox", __name__, template_folder="templates")

PAGE_SIZE = 50
#: What a message carries, by topic (an e-mail shows its subject).
TOPIC_WORDS = {APPLICATION_SUBMITTED: N_("Application %(id)s handed to the bank's system")}
#: A try's error as recorded (in English, for support) → its words: the first pattern that matches.
ERROR_WORDS = [
    (re.compile(r"^timed out"), N_("The bank's system did not answer in time.")),
    (re.compile(r"^connection failed"), N_("The bank's system could not be reached.")),
    (re.compile(r"^request failed"), N_("The request could not be sent to the bank's system.")),
    (re.compile(r"^not called"), N_("Not sent: the bank's system address is not allowed.")),
    (re.compile(r"^HTTP (?P<code>3\d\d)"), N_("The bank's system answered with a redirect (HTTP %(code)s), which is "
                                            "not followed.")),
    (re.compile(r"^HTTP (?P<code>4\d\d)"), N_("The bank's system refused the message (HTTP %(code)s).")),
    (re.compile(r"^HTTP (?P<code>\d+)"), N_("The bank's system answered with an error (HTTP %(code)s).")),
    (re.compile(r"^the answer was not JSON"), N_("Delivered, though the bank's answer was not in the agreed format.")),
    (re.compile(r"^no SMTP server configured"), N_("No mail server is set up: the e-mail was written to the log.")),
    (re.compile(r"^SMTP failed"), N_("The mail server could not be reached.")),
    (re.compile(r"^SMTP (?P<code>\d+)"), N_("The mail server refused the e-mail (SMTP %(code)s).")),
    (re.compile(r"^No outcome was recorded"), N_("The last try's outcome was never recorded.")),
]
CJK = re.compile(r"[\u3400-\u9fff]")


def error_words(error: str | None) -> str:
    """A recorded error in the reader's words (the error itself stays in the page's title attribute)."""
    if not error:
        return ""
    for pattern, words in ERROR_WORDS:
        if found := pattern.match(error):
            return _(words, **found.groupdict())
    if CJK.search(error) and locale_name() == "zh_Hans":
        return error  # written in Chinese when it was recorded
    return _("The hand-off failed.")


def topic_words(message: OutboxMessage) -> str:
    """What the message hands over: "Application 47 handed to the bank's system"."""
    application = message.payload.get("application_id") if isinstance(message.payload, dict) else None
    if message.topic in TOPIC_WORDS and application is not None:
        return _(TOPIC_WORDS[message.topic], id=application)
    return _("Message to the bank's system")


@bp.get("/admin/outbox")
@page_roles(Role.ADMIN)
def outbox_page():
    status = request.args.get("status", MessageStatus.DEAD.value)
    status = status if status in {s.value for s in MessageStatus} else ""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    banks = dict(db.session.execute(select(Bank.id, Bank.display_name).where(
        Bank.id.in_(select(OutboxMessage.bank_id).distinct())).order_by(Bank.display_name)).all())
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
                           errors=errors, page_args=page_args, error_words=error_words, topic_words=topic_words)


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
