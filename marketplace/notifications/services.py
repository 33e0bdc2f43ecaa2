"""Telling people: `notify` writes one notification for each active user of the organisation concerned, in that
user's language, in the caller's transaction; users who want e-mail get it through the outbox (marketplace/outbox.py)
when mail is configured, so it is sent once, retried, and never lost with a rolled-back change.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Select, String, func, insert, literal, select, update

from marketplace import db, outbox
from marketplace.auth.models import Role, User
from marketplace.db import UTCDateTime
from marketplace.errors import NotFound
from marketplace.i18n import locale_name
from marketplace.notifications.models import KINDS, Notification


def notify(kind: str, organization_id: int | None, title: str, body: str | tuple[str, ...], link: str | None = None,
           **params: Any) -> int:
    """`title` and `body` are messages marked with N_ (the body may be several, read one after the other) and their
    `params` (already worded amounts; names as what has a `display_name`, an organisation or `i18n.Names`); each
    recipient reads them in their own language. `organization_id` None: the finance office (admin users). → how many
    users were told."""
    assert kind in KINDS, kind
    recipients = db.session.scalars(select(User).where(
        User.active.is_(True),
        User.organization_id == organization_id if organization_id is not None else User.role == Role.ADMIN,
    ).order_by(User.locale, User.id)).all()
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    now = db.utcnow()
    mail_on = mail_enabled()
    for locale, users in groupby(recipients, key=lambda user: user.locale or default):
        users = list(users)
        with force_locale(locale):
            worded = _in_reader_language(params)
            words = (_(title, **worded)[:200], _words(body, worded)[:2000])
            footer = _("Open it in the marketplace: %(url)s", url=site_url(link)) if link else ""
        made = dict(db.session.execute(
            insert(Notification).returning(Notification.user_id, Notification.id, sort_by_parameter_order=True), [
                {"user_id": user.id, "kind": kind, "title": words[0], "body": words[1], "link": link, "at": now}
                for user in users]).all())
        if mail_on:
            for user in users:
                notification_id = made[user.id]
                if user.email and user.email_notifications:
                    outbox.enqueue_mail(user.email, words[0], "\n\n".join(filter(None, (words[1], footer))),
                                        key=f"notification:{notification_id}", locale=locale)
    return len(recipients)


def _in_reader_language(params: dict[str, Any]) -> dict[str, Any]:
    """The params with each name (anything with a `display_name`) in the language of the locale in force."""
    return {key: getattr(value, "display_name", value) for key, value in params.items()}


def _words(body: str | tuple[str, ...], params: dict[str, Any]) -> str:
    """The body's sentences in the reader's language, each ended (a reason quoted last may lack its full stop)."""
    chinese = locale_name() == "zh_Hans"
    sentences = [_(part, **params).strip() for part in ((body,) if isinstance(body, str) else body)]
    ended = [s if s.endswith(("。", "！", "？", ".", "!", "?")) else s + ("。" if chinese else ".")
             for s in sentences[:-1]] + sentences[-1:]
    return ("" if chinese else " ").join(ended)


def notify_each(kind: str, targets: Select[tuple[int, str]], title: str, body: str, **params: Any) -> None:
    """The same words to the users of every organisation `targets` selects, each about its own link (organisation
    id, link): set-based, for a batch of thousands. Mail as `notify` does."""
    assert kind in KINDS, kind
    pairs = targets.subquery()
    org, link = pairs.c[0], pairs.c[1]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    now = db.utcnow()
    locales = db.session.scalars(select(func.coalesce(User.locale, default)).distinct().where(
        User.organization_id.in_(select(org)), User.active.is_(True))).all()
    for locale in locales:
        with force_locale(locale):
            worded = _in_reader_language(params)
            words = (_(title, **worded)[:200], _(body, **worded)[:2000])
        made = db.session.execute(insert(Notification).from_select(
            ("user_id", "kind", "title", "body", "link", "at"),
            select(User.id, literal(kind, String()), literal(words[0], String()), literal(words[1], String()), link,
                   literal(now, UTCDateTime()))
            .join(pairs, User.organization_id == org)
            .where(User.active.is_(True), func.coalesce(User.locale, default) == locale))
            .returning(Notification.id, Notification.user_id, Notification.link)).all()
        if mail_enabled() and made:
            wanting = dict(db.session.execute(select(User.id, User.email).where(
                User.id.in_({user_id for _id, user_id, _link in made}), User.email.is_not(None),
                User.email_notifications.is_(True))).all())
            for notification_id, user_id, target in made:
                if user_id in wanting:
                    with force_locale(locale):
                        footer = _("Open it in the marketplace: %(url)s", url=site_url(target))
                    outbox.enqueue_mail(wanting[user_id], words[0], f"{words[1]}\n\n{footer}",
                                        key=f"notification:{notification_id}", locale=locale)


def mail_enabled() -> bool:
    """E-mail is sent when SMTP is configured; the demo writes it to the console and the admin's outbox page."""
    return bool(current_app.config.get("SMTP_URL")) or current_app.config["PROFILE"] == "demo"


def site_url(link: str | None) -> str:
    return current_app.config["SITE_URL"].rstrip("/") + (link or "/")


# Reading and marking, each user their own ------------------------------------------------------------------

def of_user(user: User, *, unread: bool = False) -> Select[tuple[Notification]]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.id.desc())


def unread_count(user: User) -> int:
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def get(user: User, notification_id: int) -> Notification:
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise NotFound(_("No notification %(id)d.", id=notification_id))
    return notification


def mark_read(user: User, notification_id: int) -> Notification:
    """Idempotent: a notification read already keeps the time it was first read."""
    notification = get(user, notification_id)
    db.session.execute(update(Notification).where(Notification.id == notification.id,
                                                  Notification.read_at.is_(None)).values(read_at=db.utcnow()))
    db.session.refresh(notification)
    return notification


def mark_all_read(user: User) -> int:
    """→ how many were unread."""
    return db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=db.utcnow())).rowcount
