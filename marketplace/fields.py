"""marshmallow fields for exact money and rates, shared by every schema (API and forms alike)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from marketplace.money import MAX_AMOUNT, format_amount, format_rate


class _TranslatedField(ma.fields.Field):
    def make_error(self, key: str, **kwargs: Any) -> ma.ValidationError:
        # Messages are lazy translations; marshmallow needs them as plain strings, resolved now.
        return ma.ValidationError(str(self.error_messages[key]))


def _to_decimal(value: Any, field: ma.fields.Field) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise field.make_error("invalid")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise field.make_error("invalid") from exc
    if not number.is_finite():
        raise field.make_error("invalid")
    return number


class Money(_TranslatedField):
    """CNY as a decimal string with at most two places ("3000000.00"); never negative."""

    default_error_messages = {
        "invalid": _l("Enter an amount in yuan as a decimal string, such as \"3000000.00\"."),
        "places": _l("Use at most two decimal places (fen)."),
        "negative": _l("The amount cannot be negative."),
        "too_large": _l("The amount cannot exceed %(max)s.", max=MAX_AMOUNT),
    }

    def _serialize(self, value: Decimal | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_amount(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        number = _to_decimal(value, self)
        if number.as_tuple().exponent < -2:
            raise self.make_error("places")
        if number < 0:
            raise self.make_error("negative")
        if number > MAX_AMOUNT:
            raise self.make_error("too_large")
        return number.quantize(Decimal("0.01"))


class Rate(_TranslatedField):
    """A rate or share as a decimal fraction string ("0.0345" = 3.45 %), 0 to 1, at most six places."""

    default_error_messages = {
        "invalid": _l("Enter a rate as a decimal fraction string, such as \"0.0345\" for 3.45 %%."),
        "places": _l("Use at most six decimal places."),
        "range": _l("A rate is a fraction between 0 and 1."),
    }

    def _serialize(self, value: Decimal | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_rate(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        number = _to_decimal(value, self)
        if number.as_tuple().exponent < -6:
            raise self.make_error("places")
        if not 0 <= number <= 1:
            raise self.make_error("range")
        return number


def _plain_messages() -> None:
    """marshmallow's stock messages, reworded once for the people who read them on forms and in API errors."""
    ma.fields.Field.default_error_messages.update({
        "required": "This field is required.", "null": "This field cannot be empty."})
    ma.fields.Integer.default_error_messages.update({"invalid": "Enter a whole number."})
    ma.fields.Date.default_error_messages.update({"invalid": "Enter a date as YYYY-MM-DD, such as 2027-12-31."})
    ma.fields.Boolean.default_error_messages.update({"invalid": "Use true or false."})
    ma.fields.String.default_error_messages.update({"invalid": "Enter text."})


_plain_messages()
