import marshmallow as ma
from marshmallow import fields, validate

from marketplace.orgs.models import AgencyKind

CODE = validate.Regexp(r"^[A-Za-z0-9_-]{2,40}$", error="Use 2 to 40 letters, digits, '-' or '_'.")
NAME = validate.Length(min=1, max=200)


class BankIn(ma.Schema):
    name = fields.String(required=True, validate=NAME)
    code = fields.String(required=True, validate=CODE)
    api_base_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                              require_tld=False, validate=validate.Length(max=500))


class BankOut(ma.Schema):
    """What anyone signed in sees of a bank."""

    id = fields.Integer()
    name = fields.String()
    code = fields.String()


class BankAdminOut(BankOut):
    api_base_url = fields.String(allow_none=True)


class BankCreatedOut(BankAdminOut):
    #: Returned once, at creation; the bank signs its callbacks with it.
    callback_secret = fields.String()


class AgencyIn(ma.Schema):
    name = fields.String(required=True, validate=NAME)
    code = fields.String(required=True, validate=CODE)
    kind = fields.Enum(AgencyKind, by_value=True, required=True, attribute="agency_kind")


class AgencyOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    code = fields.String()
    kind = fields.Enum(AgencyKind, by_value=True, attribute="agency_kind")
