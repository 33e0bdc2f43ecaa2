"""marshmallow fields shared by every schema (API and forms alike): exact money and rates, and the bounded text,
ids and dates that any value a client sends must fit before it gets near the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.money import MAX_AMOUNT, format_amount, format_rate

#: The largest id a client may name: ids are 32-bit integer columns on PostgreSQL (and a larger number overflows
#: SQLite's 64-bit integers long before it could name a row).
MAX_ID = 2**31 - 1
#: Business dates outside these years are typing mistakes, and date arithmetic near 9999-12-31 overflows.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)

#: C0 and C1 control characters and lone surrogates (no database column can store those; PostgreSQL refuses NUL).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: The same, but line breaks and tabs are allowed, as in text typed into a textarea.
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class _TranslatedField(ma.fields.Field):
    def make_error(self, key: str, **kwargs: Any) -> ma.ValidationError:
        # Messages are lazy translations; marshmallow needs them as plain strings, resolved now.
        return ma.ValidationError(str(self.error_messages[key]))


def _validators(*parts: Callable | Iterable[Callable] | None) -> list[Callable]:
    found: list[Callable] = []
    for part in parts:
        if callable(part):
            found.append(part)
        elif part is not None:
            found.extend(part)
    return found


class Text(_TranslatedField, ma.fields.String):
    """A string a client typed: at most `max_length` characters, and no control characters (line breaks and tabs
    only when `multiline`). Every stored string goes through it, so its bound matches the column's."""

    default_error_messages = {
        "control": _l("Remove control characters; only plain text is accepted."),
        "control_multiline": _l("Remove control characters; plain text and line breaks are accepted."),
    }

    def __init__(self, *, max_length: int, min_length: int | None = None, multiline: bool = False,
                 validate: Callable | Iterable[Callable] | None = None, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(validate=_validators(ma.validate.Length(min=min_length, max=max_length), validate),
                         **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if (_CONTROL_MULTILINE if self.multiline else _CONTROL).search(text):
            raise self.make_error("control_multiline" if self.multiline else "control")
        return text


class Id(_TranslatedField, ma.fields.Integer):
    """The id of a row: a whole number from 1 to MAX_ID (strict in JSON bodies; pass strict=False in a query)."""

    def __init__(self, *, strict: bool = True, validate: Callable | Iterable[Callable] | None = None,
                 **kwargs: Any) -> None:
        bounds = ma.validate.Range(min=1, max=MAX_ID, error=_l("An id is a whole number from 1 to %(max)d.",
                                                                 max=MAX_ID))
        super().__init__(strict=strict, validate=_validators(bounds, validate), **kwargs)


class BusinessDate(_TranslatedField, ma.fields.Date):
    """A business date, YYYY-MM-DD, from 1900-01-01 to 2999-12-31."""

    default_error_messages = {"range": _l("Enter a date from %(first)s to %(last)s.", first=FIRST_DAY.isoformat(),
                                          last=LAST_DAY.isoformat())}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise self.make_error("range")
        return day


#: A decimal as the API writes one: ASCII digits, an optional sign and point. Python's Decimal alone would also take
#: "1_000", "١٠٠٠" (Arabic-Indic digits), "1e3" and "Infinity".
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _to_decimal(value: Any, field: ma.fields.Field) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise field.make_error("invalid")
    if isinstance(value, str):
        value = value.strip()
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise field.make_error("invalid")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise field.make_error("invalid") from exc
    if not number.is_finite():
        raise field.make_error("invalid")
    return number


class Money(_TranslatedField):
    """CNY as a decimal string with at most two places ("3000000.00"); never negative."""

    #: How the OpenAPI document describes it (marketplace.api registers it): what is sent, and what comes back.
    OPENAPI = {"type": "string", "pattern": r"^\d{1,13}(\.\d{1,2})?$", "example": "3000000.00"}

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
        return _unsigned_zero(number).quantize(Decimal("0.01"))


class Rate(_TranslatedField):
    """A rate or share as a decimal fraction string ("0.0345" = 3.45 %), 0 to 1, at most six places."""

    OPENAPI = {"type": "string", "pattern": r"^[01](\.\d{1,6})?$", "example": "0.0345"}

    default_error_messages = {
        "invalid": _l("Enter a rate as a decimal fraction string, such as \"0.0345\" for 3.45 %."),
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
        return _unsigned_zero(number)


def _unsigned_zero(number: Decimal) -> Decimal:
    # "-0" is a valid decimal; kept as is, it would come back as "-0.00".
    return number.copy_abs() if number.is_zero() else number


def _plain_messages() -> None:
    """marshmallow's stock messages, reworded once for the people who read them on forms and in API errors."""
    ma.fields.Field.default_error_messages.update({
        "required": "This field is required.", "null": "This field cannot be empty."})
    ma.fields.Integer.default_error_messages.update({"invalid": "Enter a whole number."})
    ma.fields.Date.default_error_messages.update({"invalid": "Enter a date as YYYY-MM-DD, such as 2027-12-31."})
    ma.fields.Boolean.default_error_messages.update({"invalid": "Use true or false."})
    ma.fields.String.default_error_messages.update({"invalid": "Enter text."})


_plain_messages()


#: An uploaded file's name is kept and shown back, so it is held to what any text field is.
_FILENAME = Text(max_length=255)


def file_chosen(value: Any) -> None:
    """Validate an Upload: a form submitted with no file chosen still sends the part, with an empty file name."""
    if not getattr(value, "filename", None):
        raise ma.ValidationError(_("Choose a CSV or XLSX file to upload."))
    _FILENAME.deserialize(value.filename)


def file_present(value: Any) -> None:
    """Validate an Upload of any kind: a file must be chosen, and its name is held to what any text field is."""
    if not getattr(value, "filename", None):
        raise ma.ValidationError(_("Choose a file to upload."))
    _FILENAME.deserialize(value.filename)


class EnglishName(Text):
    """The optional English name of something named in Chinese (`name`): shown in the English interface. Blank or
    null means none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=200, load_default=None, allow_none=True, metadata={
            "description": "An optional English name, shown instead of `name` in the English interface."}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        return super()._deserialize(value, attr, data, **kwargs).strip() or None

    def _validate(self, value: Any) -> None:
        if value is not None:  # a blank name is none, not a name too short
            super()._validate(value)
