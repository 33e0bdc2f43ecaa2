"""Writing the trail. Every insert, update and delete of an `Audited` model is recorded as the session flushes,
in the same transaction (so a rolled-back change leaves no entry, and a committed one always has one), naming
the actor this request or job acts as. Changes made with set-based statements record themselves with `record`."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Flask, Response, g, has_app_context, has_request_context, request
from sqlalchemy import Select, event, insert, inspect, literal, select
from sqlalchemy.orm import Session

from marketplace import db
from marketplace.audit.models import AuditEntry

#: Columns whose values never reach the trail; a change to them shows as "[redacted]".
SECRET_COLUMNS = frozenset({"password_hash", "callback_secret", "previous_callback_secret", "token_hash"})
REDACTED = "[redacted]"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Actor:
    name: str
    user_id: int | None = None
    organization_id: int | None = None
    organization_name: str | None = None


ANONYMOUS = Actor("anonymous")
SYSTEM = Actor("system")
#: The admin role's users belong to no organisation row; the trail names the office they act for.
FINANCE_OFFICE = "Provincial finance office"


def act_as(user: Any) -> None:
    """From here on in this request (or job), changes are recorded as made by `user`."""
    organization = user.organization
    name = organization.name if organization else (FINANCE_OFFICE if user.role == "admin" else None)
    g.audit_actor = Actor(user.username, user.id, user.organization_id, name)


def act_as_system(name: str) -> None:
    """Changes are recorded as made by a process, e.g. `scheduler:batch_cutoff`."""
    g.audit_actor = Actor(name)


def current_actor() -> Actor:
    if has_app_context() and "audit_actor" in g:
        return g.audit_actor
    return ANONYMOUS if has_request_context() else SYSTEM


def record(action: str, object_type: str, object_id: int | None, changes: dict[str, Any] | None = None) -> None:
    """An entry for a change the ORM does not see (a set-based statement, a sign-in)."""
    db.session.execute(insert(AuditEntry), [_entry(action, object_type, object_id, changes or {})])


def record_many(action: str, object_type: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """One entry a row for a set-based change: `rows` are (object id, changes)."""
    if rows:
        common = _entry(action, object_type, None, {})  # who, when and where: the same for every row
        db.session.execute(insert(AuditEntry), [{**common, "object_id": object_id, "changes": _plain(changes)}
                                                for object_id, changes in rows])


def record_selected(action: str, object_type: str, ids: Select, changes: dict[str, Any]) -> None:
    """One entry for each object id `ids` selects, all with the same changes, in one INSERT … SELECT: how a
    set-based change of thousands of rows is recorded without building thousands of rows here."""
    common = {name: value for name, value in _entry(action, object_type, None, changes).items()
              if name != "object_id"}
    columns = AuditEntry.__table__.c
    selected = ids.subquery()
    db.session.execute(insert(AuditEntry).from_select(
        [*common, "object_id"],
        select(*(literal(value, columns[name].type) for name, value in common.items()), *selected.c)))


def _entry(action: str, object_type: str, object_id: int | None, changes: dict[str, Any]) -> dict[str, Any]:
    actor = current_actor()
    in_request = has_request_context()
    return {"at": db.utcnow(), "user_id": actor.user_id, "actor": actor.name[:120],
            "organization_id": actor.organization_id, "organization_name": actor.organization_name,
            "action": action[:80], "object_type": object_type, "object_id": object_id, "changes": _plain(changes),
            "request_id": g.get("request_id") if in_request else None,
            "address": (request.remote_addr or "")[:64] or None if in_request else None}


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it: decimals and dates as strings, enums as their values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (Decimal, dt.date, dt.datetime)):
        return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def object_type(instance: Any) -> str:
    return object_type_of(type(instance))


def object_type_of(model: type) -> str:
    """FinancingRequest → financing_request: how the trail names a model's rows."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()


def _created(state: Any) -> dict[str, Any]:
    return {attr.key: REDACTED if attr.key in SECRET_COLUMNS else state.dict.get(attr.key)
            for attr in state.mapper.column_attrs if state.dict.get(attr.key) is not None}


def _changed(state: Any) -> dict[str, Any]:
    changes = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history  # reads what the flush saw; never loads
        if not (history.added or history.deleted):
            continue
        before = (history.deleted or history.unchanged or [None])[0]
        after = (history.added or [None])[0]
        if before != after:
            changes[attr.key] = REDACTED if attr.key in SECRET_COLUMNS else [before, after]
    return changes


def _identity(state: Any) -> int | None:
    # Read from the row's own values: a row inserted by this flush has no identity key yet.
    value = state.dict.get(state.mapper.primary_key[0].key)
    return value if isinstance(value, int) else None


def _after_flush(session: Session, _context: Any) -> None:
    entries = []
    for instance in session.new:
        if isinstance(instance, db.Audited):
            state = inspect(instance)
            entries.append(_entry(f"{object_type(instance)}.created", object_type(instance), _identity(state),
                                  _created(state)))
    for instance in session.dirty:
        if isinstance(instance, db.Audited):
            state = inspect(instance)
            changes = _changed(state)
            if changes:
                status = changes.get("status")
                verb = _plain(status[1]) if isinstance(status, list) else "updated"
                entries.append(_entry(f"{object_type(instance)}.{verb}", object_type(instance), _identity(state),
                                      changes))
    for instance in session.deleted:
        if isinstance(instance, db.Audited):
            state = inspect(instance)
            entries.append(_entry(f"{object_type(instance)}.deleted", object_type(instance), _identity(state), {}))
    if entries:
        session.connection().execute(insert(AuditEntry), entries)


event.listen(db.session, "after_flush", _after_flush)


def init_app(app: Flask) -> None:
    """Every request gets an id (the caller's X-Request-ID when it is a sane one), echoed in the response."""

    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response
