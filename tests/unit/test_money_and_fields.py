"""Exact money and rates, and the shared marshmallow fields, without a database."""

from decimal import Decimal

import marshmallow as ma
import pytest
from werkzeug.datastructures import MultiDict

from marketplace.errors import flatten_messages
from marketplace.fields import Money, Rate
from marketplace.forms import form_to_data
from marketplace.money import format_rate, from_fen, quantize, to_fen


class MoneyRate(ma.Schema):
    amount = Money(required=True)
    rate = Rate()


def test_money_converts_to_and_from_fen_exactly():
    assert to_fen(Decimal("3000000.01")) == 300000001
    assert from_fen(300000001) == Decimal("3000000.01")
    assert from_fen(5) == Decimal("0.05")


def test_to_fen_refuses_amounts_that_would_need_rounding():
    with pytest.raises(ValueError):
        to_fen(Decimal("0.005"))


def test_quantize_rounds_half_up_to_the_fen():
    assert quantize(Decimal("0.005")) == Decimal("0.01")
    assert quantize(Decimal("2.675")) == Decimal("2.68")


@pytest.mark.parametrize("raw, expected", [("3000000.00", "3000000.00"), ("12", "12.00"), (7, "7.00"),
                                           (Decimal("1.5"), "1.50")])
def test_money_field_accepts_decimal_strings_and_whole_numbers(raw, expected):
    assert MoneyRate().load({"amount": raw})["amount"] == Decimal(expected)


@pytest.mark.parametrize("raw, message", [
    ("1.005", "two decimal places"), ("-1.00", "negative"), ("NaN", "decimal string"),
    ("Infinity", "decimal string"), ("99999999999999.00", "cannot exceed"), (1.5, "decimal string"),
    (True, "decimal string"), ("abc", "decimal string"), ("", "decimal string"),
    # ASCII digits only, as API.md writes an amount (issue 21): Python's Decimal alone takes each of these.
    ("1_000", "decimal string"), ("١٠٠٠", "decimal string"), ("１０００", "decimal string"), ("1e3", "decimal string"),
    ("1e309", "decimal string"), ("+5", "decimal string"), ("1,000.00", "decimal string"),
])
def test_money_field_rejects_what_is_not_an_exact_amount(raw, message):
    with pytest.raises(ma.ValidationError) as error:
        MoneyRate().load({"amount": raw})
    assert message in error.value.messages["amount"][0]


def test_money_field_dumps_exactly_two_places():
    assert MoneyRate().dump({"amount": Decimal("5"), "rate": Decimal("0.035")}) == {"amount": "5.00",
                                                                                   "rate": "0.0350"}


@pytest.mark.parametrize("raw", ["1.5", "-0.01", "0.1234567", "NaN"])
def test_rate_field_rejects_out_of_range_or_too_precise_rates(raw):
    with pytest.raises(ma.ValidationError):
        MoneyRate().load({"amount": "1", "rate": raw})


def test_rates_print_with_at_least_four_places():
    assert format_rate(Decimal("0.03")) == "0.0300"
    assert format_rate(Decimal("0.003750")) == "0.00375"
    assert format_rate(Decimal("0.123456")) == "0.123456"


def test_nested_validation_messages_flatten_to_field_paths():
    assert flatten_messages({"json": {"amount": ["bad"], "tiers": {1: ["unknown"]}}}) == {
        "amount": ["bad"], "tiers.1": ["unknown"]}


class FormShape(ma.Schema):
    name = ma.fields.String()
    months = ma.fields.Integer(strict=True)
    tags = ma.fields.List(ma.fields.String())


def test_form_values_become_what_the_schema_expects():
    form = MultiDict([("name", " Loan "), ("months", "12"), ("tags", "33, 3301，330106"), ("ignored", "x")])
    assert form_to_data(FormShape(), form) == {"name": "Loan", "months": 12, "tags": ["33", "3301", "330106"]}


def test_blank_and_non_numeric_form_values_are_left_for_the_schema_to_judge():
    data = form_to_data(FormShape(), MultiDict([("name", "  "), ("months", "twelve")]))
    assert data == {"months": "twelve"}
    with pytest.raises(ma.ValidationError) as error:
        FormShape().load(data)
    assert "months" in error.value.messages
