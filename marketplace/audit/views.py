"""/admin/audit: the trail with filters."""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, select

from guarantees.models import RiskPool
from marketplace import db
from marketplace.audit import queries, wording
from marketplace.audit.models import AuditEntry
from marketplace.audit.schemas import AuditQuery
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.errors import flatten_messages
from marketplace.i18n import OBJECT_WORDS, object_word
from marketplace.listing import read_order
from marketplace.orgs.models import Bank, Organization
from marketplace.scheduler.runner import JOBS, SANDBOX

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
    names = _names(entries)
    return render_template("audit/audit.html", entries=entries, total=total, page=page, page_size=PAGE_SIZE,
                           values=typed, order=order, errors=errors, words=_words(entries, names), names=names,
                           wording=wording, choices=_choices(typed.get("action")),
                           page_args=typed | ({"order": order} if order != "newest" else {})), 422 if errors else 200


def _names(entries: list[AuditEntry]) -> wording.Names:
    """The organisations and pools the page's entries name, by id, in the reader's language (two queries)."""
    organisations = {entry.organization_id for entry in entries if entry.organization_id is not None} | \
        wording.referenced(entries, wording.ORGANISATION_FIELDS)
    pools = wording.referenced(entries, wording.POOL_FIELDS)
    return wording.Names(
        dict(db.session.execute(select(Organization.id, Organization.display_name)
                                .where(Organization.id.in_(organisations))).all()) if organisations else {},
        dict(db.session.execute(select(RiskPool.id, RiskPool.display_name)
                                .where(RiskPool.id.in_(pools))).all()) if pools else {})


def _words(entries: list[AuditEntry], names: wording.Names) -> dict[int, dict[str, str]]:
    """Each entry's actor and organisation in the reader's words."""
    banks = dict(db.session.execute(select(Bank.code, Bank.display_name)).all()) \
        if any(entry.actor.startswith("system:") for entry in entries) else {}
    jobs = {job.name: _(job.description) for job in (*JOBS.values(), SANDBOX)}
    return {entry.id: {"actor": wording.actor_words(entry.actor, banks, jobs),
                       "organisation": wording.organisation_words(entry, names.organisations)}
            for entry in entries}


def _choices(action: str | None) -> dict[str, list[tuple[str, str]]]:
    """The objects and actions to filter by, in words: every action on an object ("product."), or one by name; an
    action chosen by its code in the address is listed too."""
    objects = sorted(((code, _capitalised(object_word(code))) for code in OBJECT_WORDS), key=lambda o: o[1])
    actions = [(f"{code}.", _("Every action on: %(object)s", object=word)) for code, word in objects]
    actions += sorted(((code, _(words)) for code, words in wording.ACTION_WORDS.items()), key=lambda a: a[1])
    if action and action not in dict(actions):
        actions.insert(0, (action, wording.action_words(action)))
    return {"object_type": [("", _("All objects")), *objects], "action": [("", _("All actions")), *actions]}


def _capitalised(words: str) -> str:
    return words[:1].upper() + words[1:]
