"""Reading the trail, newest first, as the API and the admin page filter it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select

from marketplace.audit.models import AuditEntry
from marketplace.dates import SHANGHAI


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)


def entries(filters: dict[str, Any], oldest_first: bool = False) -> Select:
    query = select(AuditEntry).order_by(AuditEntry.id if oldest_first else AuditEntry.id.desc())
    for name in ("actor", "organization_id", "object_type", "object_id", "request_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(AuditEntry, name) == filters[name])
    action = filters.get("action")
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEntry.action == action)
    if filters.get("date_from"):
        query = query.where(AuditEntry.at >= _start_of(filters["date_from"]))
    if filters.get("date_to"):
        query = query.where(AuditEntry.at < _start_of(filters["date_to"] + dt.timedelta(days=1)))
    return query
