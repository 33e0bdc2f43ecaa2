import marshmallow as ma
from marshmallow import fields, validate

from marketplace.auth.models import Role

USERNAME = validate.Regexp(r"^[A-Za-z0-9_.@-]{3,80}$", error="Use 3 to 80 letters, digits, '.', '_', '-' or '@'.")


class TokenIn(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TokenOut(ma.Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class UserIn(ma.Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200))
    role = fields.Enum(Role, by_value=True, required=True)
    organization_id = fields.Integer(load_default=None, allow_none=True, strict=True)


class UserOut(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    role = fields.Enum(Role, by_value=True)
    organization_id = fields.Integer(allow_none=True)
    organization_name = fields.Function(lambda u: u.organization.name if u.organization else None)
    active = fields.Boolean()
