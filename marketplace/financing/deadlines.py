"""The bank's answer deadline: an application routed to a bank is answered by its `respond_by` date
(RESPONSE_WORKING_DAYS working days after routing). The scheduler reminds the bank once when the deadline is near
(DEADLINE_NEAR_WORKING_DAYS working days or fewer away) and once when it has passed, while the bank still owes an
answer (the application is submitted); `standing` says the same for the pages that flag the queue.

Each reminder is sent once however many runs overlap: the applications due one are locked in id order and read
afresh (`SELECT … FOR UPDATE`: one another run has just reminded, or the bank has just decided, no longer matches),
then marked by a conditional UPDATE that names the same conditions, and only the rows it hit are notified, in the
same transaction. Services flush; the job commits."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import current_app
from sqlalchemy import ColumnElement, and_, select, update

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.dates import business_today, working_days_after, working_days_between
from marketplace.financing.models import Application, ApplicationStatus
from marketplace.i18n import N_
from marketplace.notifications.services import notify

NEAR = "near"
PASSED = "passed"

Standing = Literal["on_time", "near", "overdue"]


def near_days() -> int:
    return current_app.config["DEADLINE_NEAR_WORKING_DAYS"]


def standing(application: Application, today: dt.date, near: int | None = None) -> Standing | None:
    """Where a bank stands with its answer on `today`: "overdue" past respond_by, "near" within `near` working
    days of it (DEADLINE_NEAR_WORKING_DAYS unless given; respond_by itself included), "on_time" otherwise. None when
    the bank owes no answer (the application is no longer submitted) or it has no deadline (routed before there
    were any). Reads no database."""
    if application.status is not ApplicationStatus.SUBMITTED or application.respond_by is None:
        return None
    if application.respond_by < today:
        return "overdue"
    if working_days_between(today, application.respond_by) <= (near_days() if near is None else near):
        return "near"
    return "on_time"


def near_horizon(today: dt.date, near: int | None = None) -> dt.date:
    """The earliest respond_by not yet near on `today`: a deadline on or after `today` is near exactly when it is
    before this day. (At most N working days after `today` up to respond_by ⇔ respond_by comes before the
    (N+1)th working day after `today`: working_days_between grows by one on each working day and only then.)"""
    return working_days_after(today, (near_days() if near is None else near) + 1)


def remind(today: dt.date | None = None) -> dict[str, list[int]]:
    """Remind banks of their answer deadlines (the scheduler, daily): "deadline.near" once for each submitted
    application whose respond_by is today or within DEADLINE_NEAR_WORKING_DAYS working days, "deadline.passed" once
    for each whose respond_by is before `today`. → the applications reminded, by reminder."""
    today = today or business_today()
    waiting = Application.status == ApplicationStatus.SUBMITTED
    near = and_(waiting, Application.reminded.is_(None), Application.respond_by >= today,
                Application.respond_by < near_horizon(today))
    passed = and_(waiting, Application.reminded.is_distinct_from(PASSED), Application.respond_by < today)
    return {
        NEAR: _mark(near, NEAR, "deadline.near", N_("Application %(id)d is due by %(day)s"),
                    N_("Answer %(enterprise)s's application %(id)d by %(day)s.")),
        PASSED: _mark(passed, PASSED, "deadline.passed", N_("Application %(id)d is overdue"),
                      N_("The answer to %(enterprise)s's application %(id)d was due by %(day)s. It is still "
                         "waiting for your decision.")),
    }


def _mark(due: ColumnElement[bool], reminder: str, kind: str, title: str, body: str) -> list[int]:
    """Lock the applications `due` selects (in id order, so overlapping runs queue rather than deadlock), mark
    them `reminder` with an UPDATE that must still find them due, and notify their banks of those it marked."""
    db.session.flush()  # pending ORM changes first: the rows are read afresh below
    before = dict(db.session.execute(select(Application.id, Application.reminded).where(due)
                                     .order_by(Application.id).with_for_update(of=Application)).all())
    if not before:
        return []
    table = Application.__table__
    marked = sorted(db.session.scalars(
        update(table).where(db.among(table.c.id, before), due).values(reminded=reminder).returning(table.c.id)))
    audit.record_many("application.updated", "application",
                      [(application_id, {"reminded": [before[application_id], reminder]}) for application_id in marked])
    applications = db.session.scalars(select(Application).where(db.among(Application.id, marked))
                                      .order_by(Application.id).execution_options(populate_existing=True)).all()
    for application in applications:
        notify(kind, application.bank_id, title, body, f"/bank/applications/{application.id}", id=application.id,
               enterprise=application.request.enterprise, day=application.respond_by.isoformat())
    return marked
