"""Status changes, one way for every lifecycle: lock the row, read its status afresh, check the move against the
lifecycle's transition table, then make it. Set-based moves are conditional UPDATEs that must hit every row they
name (the rows' status is part of the WHERE, so a row another transaction moved first is not moved again), and
they write one audit entry a row, as the ORM's own changes do.

Each package owns its tables and calls these for its own rows only (STYLE.md: each state has one owning package).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.errors import IllegalTransition
from marketplace.i18n import object_word, state_word

S = TypeVar("S", bound=enum.Enum)
Transitions = Mapping[S, Collection[S]]


def sources(transitions: Transitions, target: S) -> list[S]:
    """The statuses from which `target` may be reached."""
    return [status for status, targets in transitions.items() if target in targets]


def move(instance: Any, target: S, transitions: Transitions, *,
         refuse: Callable[[S], str] | None = None) -> S:
    """Lock `instance`'s row, then move it to `target` if its lifecycle allows it from the status it has now;
    → the status it had. `refuse(current)` words the IllegalTransition (a generic sentence otherwise)."""
    db.lock(instance)
    current = instance.status
    if target not in transitions[current]:
        raise IllegalTransition(refuse(current) if refuse else _(
            "This %(object)s is %(status)s and cannot become %(target)s.",
            object=object_word(audit.object_type(instance)), status=state_word(current), target=state_word(target)))
    instance.status = target
    return current


def move_rows(model: type, ids: Collection[int], target: S, transitions: Transitions, *,
              per_row: Mapping[int, Mapping[str, Any]] | None = None, **values: Any) -> None:
    """Move every row of `model` named by `ids` to `target` in one conditional UPDATE (and, where columns differ by
    row, one executemany of `per_row`), each from a status its lifecycle allows; IllegalTransition when any of them
    is no longer in such a status (another transaction moved it first), and the caller's transaction is then to be
    rolled back. One audit entry a row, as the ORM writes for its own changes."""
    ids = sorted(set(ids))
    if not ids:
        return
    allowed = sources(transitions, target)
    table = model.__table__
    db.session.flush()  # pending ORM changes first: the session's copies are expired below
    moved = set(db.session.scalars(
        update(table).where(db.among(table.c.id, ids), table.c.status.in_(allowed))
        .values(status=target, **values).returning(table.c.id)))
    if len(moved) != len(ids):
        stuck = ", ".join(str(row_id) for row_id in ids if row_id not in moved)
        raise IllegalTransition(_("%(object)s %(ids)s cannot become %(target)s from the status they are in now.",
                                  object=object_word(audit.object_type_of(model)), ids=stuck,
                                  target=state_word(target)))
    # One source status is known for certain; with several, the trail says where the rows went.
    change = {"status": [allowed[0] if len(allowed) == 1 else None, target], **values}
    object_type = audit.object_type_of(model)
    if per_row:
        columns = sorted({column for row in per_row.values() for column in row})
        db.session.execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values({column: bindparam(f"new_{column}") for column in columns}),
            [{"row_id": row_id, **{f"new_{column}": row.get(column) for column in columns}}
             for row_id, row in per_row.items()])
        audit.record_many(f"{object_type}.{target.value}", object_type,
                          [(row_id, {**change, **per_row.get(row_id, {})}) for row_id in ids])
    else:
        audit.record_selected(f"{object_type}.{target.value}", object_type,
                              select(table.c.id).where(db.among(table.c.id, ids)), change)
    db.session.expire_all()  # what the session holds of these rows predates the UPDATE
