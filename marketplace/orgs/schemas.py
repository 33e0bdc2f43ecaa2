import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from stdnum.cn import uscc

from marketplace.auth.schemas import USERNAME
from marketplace.fields import BusinessDate, EnglishName, Money, Text
from marketplace.orgs import codes
from marketplace.orgs.models import AgencyKind, EnterpriseSize, Tier

CODE = validate.Regexp(r"^[A-Za-z0-9_-]{2,40}$", error="Use 2 to 40 letters, digits, '-' or '_'.")


class BankIn(ma.Schema):
    name = Text(required=True, min_length=1, max_length=200)
    name_en = EnglishName()
    code = Text(required=True, max_length=40, validate=CODE)
    api_base_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                              require_tld=False, validate=validate.Length(max=500))


class BankOut(ma.Schema):
    """What anyone signed in sees of a bank."""

    id = fields.Integer()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    code = fields.String()


class BankAdminOut(BankOut):
    api_base_url = fields.String(allow_none=True)


class BankCreatedOut(BankAdminOut):
    #: Returned once, at creation; the bank signs its callbacks with it.
    callback_secret = fields.String()


class AgencyIn(ma.Schema):
    name = Text(required=True, min_length=1, max_length=200)
    name_en = EnglishName()
    code = Text(required=True, max_length=40, validate=CODE)
    kind = fields.Enum(AgencyKind, by_value=True, required=True, attribute="agency_kind")


class AgencyOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    code = fields.String()
    kind = fields.Enum(AgencyKind, by_value=True, attribute="agency_kind")


def validate_uscc(value: str) -> None:
    """统一社会信用代码: 18 characters, mod-31 check character (python-stdnum), issued to an enterprise (9…)."""
    try:
        uscc.validate(value)
    except uscc.InvalidChecksum as error:
        raise ma.ValidationError(_("The check character does not match; copy the code from the business licence.")
                                 ) from error
    except uscc.ValidationError as error:
        raise ma.ValidationError(_("A Unified Social Credit Code has 18 letters and digits.")) from error
    if not value.startswith("9"):
        raise ma.ValidationError(_("Only enterprise codes, beginning with 9, are accepted here."))


class UsccField(Text):
    """A USCC, cleaned of spaces and dashes and upper-cased before it is checked."""

    def __init__(self, **kwargs):
        super().__init__(max_length=40, **kwargs)  # 18 characters, with room for the spaces people copy along

    def _deserialize(self, value, attr, data, **kwargs):
        return uscc.compact(super()._deserialize(value, attr, data, **kwargs))


#: The marketplace is Zhejiang's: an enterprise registers with a Zhejiang region (GB/T 2260 codes 33xxxx).
ZHEJIANG_REGION = validate.Regexp(r"^33\d{4}$", error=_l(
    "This is Zhejiang's marketplace: give the 6-digit GB/T 2260 code of the Zhejiang region where the enterprise "
    "is registered (it begins 33, such as 330106)."))
INDUSTRY_CODE = validate.Regexp(r"^[A-T]\d{2,4}$", error=_l(
    "An industry is a GB/T 4754 code: a section letter and 2 to 4 digits, such as C3811."))


def listed_region(value: str) -> None:
    """One of Zhejiang's districts, counties or county-level cities as GB/T 2260 lists them today."""
    ZHEJIANG_REGION(value)
    if not codes.is_county(value):
        raise ma.ValidationError(_("%(code)s is not a district, county or county-level city of Zhejiang: choose the "
                                   "one where the enterprise is registered from the list.", code=value))


def listed_industry(value: str) -> None:
    """A GB/T 4754-2017 division (C38) or a finer code within a division of its own section (C3811)."""
    INDUSTRY_CODE(value)
    if codes.division_of(value) is None:
        raise ma.ValidationError(_("%(code)s is not an industry of GB/T 4754-2017: choose the enterprise's industry "
                                   "from the list.", code=value))


class EnterpriseIn(ma.Schema):
    uscc = UsccField(required=True, validate=validate_uscc)
    name = Text(required=True, min_length=1, max_length=200)
    name_en = EnglishName()
    region_code = Text(required=True, max_length=6, validate=listed_region)
    industry_code = Text(required=True, max_length=5, validate=listed_industry)
    size = fields.Enum(EnterpriseSize, by_value=True, required=True)
    annual_revenue = Money(required=True)
    rd_expense = Money(required=True)
    employees = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10_000_000))


class RegistrationIn(EnterpriseIn):
    username = Text(required=True, max_length=80, validate=USERNAME)
    password = Text(required=True, load_only=True, max_length=200)


class RegistrationOut(ma.Schema):
    id = fields.Integer()
    uscc = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    tier = fields.Enum(Tier, by_value=True)
    user_id = fields.Integer()


class TierIn(ma.Schema):
    tier = fields.Enum(Tier, by_value=True, required=True)
    valid_until = BusinessDate(load_default=None, allow_none=True)

    @ma.validates_schema
    def _valid_until_for_certified_tiers(self, data, **kwargs):
        if data.get("tier") not in (None, Tier.NONE) and data.get("valid_until") is None:
            raise ma.ValidationError({"valid_until": [_("A certified tier needs the date it is valid until.")]})


class EnterpriseOut(ma.Schema):
    id = fields.Integer()
    uscc = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    region_code = fields.String()
    region_name = fields.Function(lambda e: codes.region_full_name(e.region_code), metadata={
        "description": "The region by name in the language of Accept-Language (杭州市西湖区)."})
    industry_code = fields.String()
    industry_name = fields.Function(lambda e: codes.industry_name(e.industry_code), metadata={
        "description": "The industry's GB/T 4754-2017 division by name in the language of Accept-Language."})
    size = fields.Enum(EnterpriseSize, by_value=True)
    annual_revenue = Money()
    rd_expense = Money()
    employees = fields.Integer()
    tier = fields.Enum(Tier, by_value=True, metadata={"description": "The tier in force today (expired → none)."})
    certified_tier = fields.Function(lambda e: e.certification.tier.value if e.certification else None)
    tier_valid_until = fields.Function(
        lambda e: e.certification.valid_until.isoformat() if e.certification and e.certification.valid_until
        else None)
