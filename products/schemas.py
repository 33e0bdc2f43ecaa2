"""Product validation, written once and used by the API and the bank's web form alike."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from marketplace.fields import EnglishName, Id, Money, Rate, Text, file_chosen
from marketplace.orgs import codes
from marketplace.orgs.models import Tier
from marketplace.registry.schemas import RowErrorOut
from products.models import TERM_LIMIT_MONTHS, GuaranteeNeed, ProductStatus, ProductType

TERM = validate.Range(min=1, max=TERM_LIMIT_MONTHS, error=_l("A term is 1 to %(n)d months.", n=TERM_LIMIT_MONTHS))
#: More region prefixes than China has counties is a mistake, not a product.
MAX_REGIONS = 3000
SPREAD = validate.Range(min=-300, max=3000, error=_l("A spread is between -300 and 3000 basis points."))
REGION_PREFIX = validate.Regexp(r"^\d{2}(\d{2}){0,2}$", error=_l(
    "A region is a GB/T 2260 code or prefix of 2, 4 or 6 digits, such as 33 or 3301."))


def listed_prefix(value: str) -> None:
    """Zhejiang (33), one of its cities (3301) or one of its districts and counties (330106), as listed today."""
    REGION_PREFIX(value)
    if not codes.is_prefix(value):
        raise ma.ValidationError(_("%(code)s is not Zhejiang, one of its cities or one of its districts and "
                                   "counties: choose the regions from the list.", code=value))


def range_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    """The rules between fields: a minimum is above zero and not above its maximum."""
    errors: dict[str, list[str]] = {}
    amount_min, amount_max = data.get("amount_min"), data.get("amount_max")
    if amount_min is not None and amount_min <= 0:
        errors["amount_min"] = [_("The minimum amount must be above zero.")]
    elif amount_min is not None and amount_max is not None and amount_min > amount_max:
        errors["amount_min"] = [_("The minimum amount cannot be above the maximum amount.")]
    term_min, term_max = data.get("term_min_months"), data.get("term_max_months")
    if term_min is not None and term_max is not None and term_min > term_max:
        errors["term_min_months"] = [_("The shortest term cannot be longer than the longest term.")]
    return errors


class ProductIn(ma.Schema):
    name = Text(required=True, min_length=1, max_length=200)
    name_en = EnglishName()
    product_type = fields.Enum(ProductType, by_value=True, required=True)
    amount_min = Money(required=True)
    amount_max = Money(required=True)
    term_min_months = fields.Integer(required=True, strict=True, validate=TERM)
    term_max_months = fields.Integer(required=True, strict=True, validate=TERM)
    rate_spread_bp = fields.Integer(required=True, strict=True, validate=SPREAD)
    eligible_tiers = fields.List(fields.Enum(Tier, by_value=True), required=True,
                                 validate=[validate.Length(min=1, error=_l("Choose at least one tier.")),
                                           validate.Length(max=len(Tier))])
    eligible_regions = fields.List(Text(max_length=6, validate=listed_prefix), load_default=list,
                                   validate=validate.Length(max=MAX_REGIONS),
                                   metadata={"description": "Region prefixes; empty means anywhere."})
    guarantee = fields.Enum(GuaranteeNeed, by_value=True, load_default=GuaranteeNeed.NONE)
    description = Text(load_default="", max_length=2000, multiline=True)

    @ma.pre_load
    def _strip_name(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            data = {**data, "name": data["name"].strip()}
        return data

    @ma.validates_schema(skip_on_field_errors=False)
    def _ranges(self, data: dict[str, Any], **kwargs: Any) -> None:
        if errors := range_errors(data):
            raise ma.ValidationError(errors)


class ProductPatch(ProductIn):
    """Any subset of the product's fields; the rules between fields are checked on the merged result."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)

    @ma.validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ma.ValidationError(_("Send at least one field to change."))


class ProductOut(ma.Schema):
    id = fields.Integer()
    bank_id = fields.Integer()
    bank_name = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    product_type = fields.Enum(ProductType, by_value=True)
    amount_min = Money()
    amount_max = Money()
    term_min_months = fields.Integer()
    term_max_months = fields.Integer()
    rate_spread_bp = fields.Integer()
    indicative_rate = Rate(allow_none=True, metadata={
        "description": "LPR in force for the shortest term plus the spread; null until an LPR is recorded."})
    eligible_tiers = fields.List(fields.Enum(Tier, by_value=True))
    eligible_regions = fields.List(fields.String())
    guarantee = fields.Enum(GuaranteeNeed, by_value=True)
    description = fields.String()
    status = fields.Enum(ProductStatus, by_value=True)
    version = fields.Integer()
    family_id = fields.Integer(metadata={"description": "The id of version 1, shared by every version."})
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)


class ProductQuery(ma.Schema):
    product_type = fields.Enum(ProductType, by_value=True)
    tier = fields.Enum(Tier, by_value=True)
    bank_id = Id(strict=False)
    status = fields.Enum(ProductStatus, by_value=True,
                         metadata={"description": "Banks and the admin only; others see published products."})


class ExportQuery(ProductQuery):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class TemplateQuery(ma.Schema):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["csv", "xlsx"]))


class ImportQuery(ma.Schema):
    publish = fields.Boolean(load_default=False, metadata={
        "description": "Publish each good row at once (default: keep them as drafts to review)."})


class ImportUpload(ma.Schema):
    """The upload, used by the API and the bank's page alike."""

    class Meta:
        unknown = ma.EXCLUDE

    file = Upload(required=True, validate=file_chosen, metadata={
        "description": "Products, one a row: .csv (UTF-8) or .xlsx (first worksheet), the template's header in row 1 "
                       "(name, product_type, amount_min, amount_max, term_min_months, term_max_months, "
                       "rate_spread_bp, eligible_tiers; optional eligible_regions, guarantee, description; lists "
                       "comma-separated); at most 2,000 rows."})


class ImportOut(ma.Schema):
    rows_total = fields.Integer()
    rows_ok = fields.Integer()
    rows_failed = fields.Integer()
    product_ids = fields.List(fields.Integer(), metadata={"description": "The products made, in row order."})
    errors = fields.List(fields.Nested(RowErrorOut))


class PricingBoundsIn(ma.Schema):
    """A product type's bounds, all six values (a PUT replaces them)."""
    spread_min_bp = fields.Integer(required=True, strict=True, validate=SPREAD)
    spread_max_bp = fields.Integer(required=True, strict=True, validate=SPREAD)
    amount_min = Money(required=True)
    amount_max = Money(required=True)
    term_min_months = fields.Integer(required=True, strict=True, validate=TERM)
    term_max_months = fields.Integer(required=True, strict=True, validate=TERM)

    @ma.validates_schema(skip_on_field_errors=True)
    def _ranges(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data["spread_min_bp"] > data["spread_max_bp"]:
            errors["spread_min_bp"] = [_("The lowest spread cannot be above the highest.")]
        if data["amount_min"] <= 0:
            errors["amount_min"] = [_("The minimum amount must be above zero.")]
        elif data["amount_min"] > data["amount_max"]:
            errors["amount_min"] = [_("The minimum amount cannot be above the maximum amount.")]
        if data["term_min_months"] > data["term_max_months"]:
            errors["term_min_months"] = [_("The shortest term cannot be longer than the longest term.")]
        if errors:
            raise ma.ValidationError(errors)


class PricingBoundsOut(ma.Schema):
    product_type = fields.Enum(ProductType, by_value=True)
    spread_min_bp = fields.Integer()
    spread_max_bp = fields.Integer()
    amount_min = Money()
    amount_max = Money()
    term_min_months = fields.Integer()
    term_max_months = fields.Integer()
