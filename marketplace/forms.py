"""Web forms validated by the same marshmallow schemas as the API."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import marshmallow as ma
from werkzeug.datastructures import MultiDict

from marketplace import db
from marketplace.errors import DomainError, flatten_messages
from marketplace.fields import Money, Rate

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_LIST_SEPARATORS = re.compile(r"[\s,，;；]+")
#: An amount as people type it: "1,000,000", "¥1,000,000.00", "500万", "1.2亿元", "3000元" (thousands separators
#: every three digits; an optional 万 or 亿 scale; an optional 元).
_TYPED_AMOUNT = re.compile(r"[¥￥]?\s*(?P<number>-?(?:[0-9]{1,3}(?:[,，][0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)\s*"
                           r"(?P<scale>[万亿])?\s*元?")
_SCALES = {None: Decimal(1), "万": Decimal(10_000), "亿": Decimal(100_000_000)}
#: A rate typed in per cent: "3.45%", "3.45 %", "3.45％".
_TYPED_PERCENT = re.compile(r"(?P<number>-?[0-9]+(\.[0-9]+)?)\s*[%％]")


def typed_amount(raw: str) -> str:
    """An amount typed in a form as the API takes it ("500万" → "5000000", "1,000,000.00" → "1000000.00"); anything
    else unchanged, for the field to refuse with its own message. The API itself stays strict."""
    found = _TYPED_AMOUNT.fullmatch(raw.strip())
    if found is None:
        return raw
    amount = Decimal(re.sub(r"[,，]", "", found["number"])) * _SCALES[found["scale"]]
    fen = amount.quantize(Decimal("0.01"))
    return f"{fen:f}" if fen == amount else f"{amount:f}"  # finer than a fen: the field says so


def typed_rate(raw: str) -> str:
    """A rate typed in per cent as the decimal fraction the API takes ("3.45%" → "0.0345"); a fraction as typed."""
    found = _TYPED_PERCENT.fullmatch(raw.strip())
    return raw if found is None else str(Decimal(found["number"]).scaleb(-2))


def rate_as_typed(rate: Decimal | str | None) -> str:
    """A stored rate as a form shows it, in per cent ("0.0125" → "1.25%"), which `typed_rate` reads back."""
    return "" if rate is None else f"{(Decimal(rate) * 100).normalize():f}%"


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
        if isinstance(field, Money):
            data[name] = typed_amount(raw)
        elif isinstance(field, Rate):
            data[name] = typed_rate(raw)
        elif isinstance(field, ma.fields.Integer) and _WHOLE_NUMBER.fullmatch(raw):
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
