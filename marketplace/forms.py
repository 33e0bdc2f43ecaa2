"""Web forms validated by the same marshmallow schemas as the API."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from werkzeug.datastructures import MultiDict

from marketplace import db
from marketplace.errors import DomainError, flatten_messages

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_LIST_SEPARATORS = re.compile(r"[\s,，;；]+")


def form_to_data(schema: ma.Schema, form: MultiDict) -> dict[str, Any]:
    """Turn posted strings into what the schema expects: whole numbers as int, lists from many values
    or one comma-separated value; blank inputs are left out so `required` and defaults apply."""
    data: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if field.dump_only or name not in form:
            continue
        if isinstance(field, ma.fields.List):
            data[name] = [part for raw in form.getlist(name) for part in _LIST_SEPARATORS.split(raw) if part]
            continue
        if isinstance(field, ma.fields.Boolean):
            # A checkbox follows a hidden "false" input of the same name; the last value wins.
            data[name] = form.getlist(name)[-1]
            continue
        raw = form.get(name, "").strip()
        if raw == "":
            continue
        if isinstance(field, ma.fields.Integer) and _WHOLE_NUMBER.fullmatch(raw):
            data[name] = int(raw)
        else:
            data[name] = raw
    return data


def load_form(schema: ma.Schema, form: MultiDict) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """(data, {}) when the form is valid, else (None, {field: [messages]}), one entry per form field."""
    try:
        return schema.load(form_to_data(schema, form)), {}
    except ma.ValidationError as error:
        errors: dict[str, list[str]] = {}
        for path, messages in flatten_messages(error.messages).items():
            field_messages = errors.setdefault(path.split(".")[0], [])
            field_messages.extend(m for m in messages if m not in field_messages)
        return None, errors


def failed(error: DomainError) -> dict[str, list[str]]:
    """Undo a service call that refused the form, and say why under its fields (or above the form)."""
    db.session.rollback()
    return error.errors or {"_schema": [error.detail]}
