"""The Idempotency-Key header (API.md): the same key and body replay the first response; the same key with
another body is a 409. Built once; every money-moving or record-creating POST uses `idempotent(blp)`.

The key is scoped to the user. The record is written in the same transaction as the view's own changes, so a
request either happened (and its response is kept) or left nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from flask_babel import gettext as _
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from marketplace import db
from marketplace.auth.access import api_user
from marketplace.db import Base, utcnow
from marketplace.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_records_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    #: SHA-256 of method, path, query and the canonical body (JSON, or a form's fields and files): "the same request".
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: None until the first response is stored (only visible after a crash between commit and store).
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _fingerprint() -> str:
    body = request.get_json(silent=True)
    if body is not None:
        canonical = json.dumps(body, sort_keys=True, default=str)
    elif request.files or request.form:  # parsed already, so the raw body is gone: its fields and files' digests
        # str(): a part without a name or file name has None there (the guards refuse it later, with a 4xx).
        fields = sorted((str(name), str(value)) for name, value in request.form.items(multi=True))
        files = sorted((str(name), str(upload.filename), _digest(upload))
                       for name, upload in request.files.items(multi=True))
        canonical = json.dumps({"form": fields, "files": files})
    else:
        canonical = request.get_data(as_text=True)
    return hashlib.sha256(f"{request.method} {request.path}?{request.query_string.decode()}\n{canonical}"
                          .encode()).hexdigest()


def _digest(upload: Any) -> str:
    """SHA-256 of an uploaded file, leaving it to be read again from the start."""
    digest = hashlib.file_digest(upload.stream, "sha256").hexdigest()
    upload.stream.seek(0)
    return digest


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Conflict(_("This Idempotency-Key was used with a different request; use a new key."),
                       {HEADER: [_("Already used with another body.")]})
    if record.response_status is None:
        raise Conflict(_("The first request with this Idempotency-Key has not finished; retry shortly."))
    response = current_app.response_class(record.response_body, status=record.response_status,
                                          mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(user_id: int, key: str, fingerprint: str) -> int | None:
    """Record the key for this request in one statement; → the record's id, or None when an earlier request holds
    the key. A concurrent first request with the key makes this wait until it commits or rolls back."""
    return db.session.scalar(
        db.upsert(IdempotencyRecord).values(user_id=user_id, key=key, fingerprint=fingerprint, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(IdempotencyRecord.id))


def _existing(user_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id,
                                                             IdempotencyRecord.key == key))


def idempotent(blp: Any) -> Callable:
    """Decorate an API view (below its role check) to honour the Idempotency-Key header."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(HEADER)
            if key is None:
                return view(*args, **kwargs)
            if not key.strip() or len(key) > MAX_KEY_LENGTH:
                raise ValidationFailed(errors={HEADER: [_("Use 1 to %(n)d characters.", n=MAX_KEY_LENGTH)]})
            user_id, fingerprint = api_user().id, _fingerprint()
            if (record_id := _claim(user_id, key, fingerprint)) is None:
                db.session.rollback()
                return _replay(_existing(user_id, key), fingerprint)
            response = current_app.make_response(view(*args, **kwargs))
            # Kept with the view's work: the request's one transaction commits both, or neither.
            db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id).values(
                response_status=response.status_code, response_body=response.get_data(as_text=True)))
            return response

        return blp.doc(parameters=[{
            "in": "header", "name": HEADER, "required": False, "schema": {"type": "string", "maxLength": 255},
            "description": "Same key and body replay the first response; same key, other body → 409."}])(wrapper)

    return decorator
