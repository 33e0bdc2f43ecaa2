from decimal import Decimal, InvalidOperation

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from marketplace.fees import rules
from marketplace.fees.models import FeeRule
from marketplace.fields import BusinessDate, EnglishName, Id, Money, Rate, Text
from marketplace.orgs.models import Tier
from products.models import ProductType

MAX_FEE_RATE = Decimal("0.03")
MAX_REDUCTION_BP = 300
MAX_REGIONS = 3000


class ConditionsIn(ma.Schema):
    tiers = fields.List(fields.Enum(Tier, by_value=True), load_default=list, validate=validate.Length(max=len(Tier)))
    region_prefixes = fields.List(Text(max_length=6, validate=validate.Regexp(
        r"^\d{2}(\d{2}){0,2}$", error="A region is a GB/T 2260 code or prefix of 2, 4 or 6 digits.")),
        load_default=list, validate=validate.Length(max=MAX_REGIONS))
    product_types = fields.List(fields.Enum(ProductType, by_value=True), load_default=list,
                                validate=validate.Length(max=len(ProductType)))
    amount_max = Money(load_default=None, allow_none=True)
    first_loan = fields.Boolean(load_default=None, allow_none=True,
                                metadata={"description": "true: only enterprises with no loan disbursed yet."})


class EffectValue(fields.Field):
    """A decimal string (rates, shares) or a whole number (basis points); never a float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ma.ValidationError(_("Give the value as a decimal string, such as \"0.0050\", or whole basis "
                                       "points."))
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise ma.ValidationError(_("Give the value as a decimal string, such as \"0.0050\".")) from exc
        if not number.is_finite():
            raise ma.ValidationError(_("Give a finite number."))
        return number

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class EffectIn(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(rules.KINDS))
    value = EffectValue(required=True)

    @ma.validates_schema
    def _in_range(self, data, **kwargs):
        kind, value = data.get("kind"), data.get("value")
        if value is None or kind is None:
            return
        if kind == rules.CAP and not (0 <= value <= MAX_FEE_RATE and value == value.quantize(Decimal("0.000001"))):
            raise ma.ValidationError({"value": [_(
                "A fee cap is a rate from 0 to %(max)s (%(pct)s %%), such as \"0.0050\" (0.50 %%).",
                max=MAX_FEE_RATE, pct=f"{(MAX_FEE_RATE * 100).normalize():f}")]})
        if kind == rules.REDUCE and not (value == value.to_integral_value() and 1 <= value <= MAX_REDUCTION_BP):
            raise ma.ValidationError({"value": [_("A reduction is 1 to %(max)d whole basis points.",
                                                  max=MAX_REDUCTION_BP)]})
        if kind == rules.SUBSIDY and not (0 < value <= 1 and value == value.quantize(Decimal("0.000001"))):
            raise ma.ValidationError({"value": [_("A subsidy share is a fraction above 0 and at most 1, such as "
                                                  "\"0.5\".")]})


class FeeRuleIn(ma.Schema):
    name = Text(required=True, min_length=1, max_length=200)
    name_en = EnglishName()
    priority = fields.Integer(load_default=100, strict=True, validate=validate.Range(min=0, max=10000))
    stackable = fields.Boolean(load_default=True)
    valid_from = BusinessDate(required=True)
    valid_to = BusinessDate(load_default=None, allow_none=True)
    budget = Money(load_default=None, allow_none=True,
                   metadata={"description": "The most its fiscal subsidies may add up to."})
    conditions = fields.Nested(ConditionsIn, load_default=dict)
    effect = fields.Nested(EffectIn, required=True)

    @ma.validates_schema
    def _consistent(self, data, partial=False, **kwargs):
        errors = {}
        if data.get("valid_from") and data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            errors["valid_to"] = [_("The rule cannot end before it starts.")]
        if data.get("budget") is not None:
            if data["budget"] <= 0:
                errors["budget"] = [_("A budget is above zero.")]
            elif data.get("effect", {}).get("kind") not in (None, rules.SUBSIDY):
                errors["budget"] = [_("Only a fiscal-subsidy rule has a budget.")]
        if errors:
            raise ma.ValidationError(errors)


class FeeRulePatch(FeeRuleIn):
    """The fields to change; conditions and effect are replaced whole."""


class ConditionsOut(ma.Schema):
    tiers = fields.List(fields.String())
    region_prefixes = fields.List(fields.String())
    product_types = fields.List(fields.String())
    amount_max = fields.String(allow_none=True)
    first_loan = fields.Boolean(allow_none=True)


class FeeRuleOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    priority = fields.Integer()
    stackable = fields.Boolean()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    budget = Money(allow_none=True)
    subsidy_granted = Money()
    budget_left = fields.Function(lambda r: None if r.budget is None else f"{r.budget - r.subsidy_granted:.2f}")
    conditions = fields.Nested(ConditionsOut)
    effect = fields.Function(lambda r: r.as_rule().effect)
    updated_at = fields.DateTime()


class PreviewIn(ma.Schema):
    enterprise_id = Id(required=True)
    agreement_id = Id(required=True)
    amount = Money(required=True)
    term_months = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=360))
    product_type = fields.Enum(ProductType, by_value=True, load_default=None, allow_none=True,
                               metadata={"description": "Rules limited to product types apply only when given."})
    disbursed_on = BusinessDate(load_default=None, allow_none=True,
                                metadata={"description": "Counts the term's days from here (default: today)."})

    @ma.validates("amount")
    def _positive(self, value, **kwargs):
        if value <= 0:
            raise ma.ValidationError(_("Give an amount above zero."))


class TrailStep(ma.Schema):
    rule_id = fields.Integer()
    name = fields.String()
    effect = fields.Dict()
    outcome = fields.String(metadata={"description": "applied | budget_exhausted"})
    fee_rate = fields.String()
    subsidy_rate = fields.String()


class PreviewOut(ma.Schema):
    list_fee_rate = Rate()
    fee_rate = Rate()
    fee_subsidy_rate = Rate()
    days = fields.Integer()
    list_fee = Money(metadata={"description": "The fee before the rules."})
    fee = Money(metadata={"description": "The fee the enterprise pays after the rules."})
    fiscal_subsidy = Money()
    agency_fee_income = Money()
    trail = fields.List(fields.Nested(TrailStep))


__all__ = ["FeeRule", "FeeRuleIn", "FeeRuleOut", "FeeRulePatch", "PreviewIn", "PreviewOut"]


class SettlementQuery(ma.Schema):
    month = Text(max_length=7, validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$",
                                                        error=_l("Give the month as YYYY-MM.")))


class SettlementOut(ma.Schema):
    id = fields.Integer()
    agency_id = fields.Integer()
    month = fields.String()
    entries = fields.Integer(metadata={"description": "Journal entries that granted the month's subsidies."})
    amount = Money()
    created_at = fields.DateTime()
