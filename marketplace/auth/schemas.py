import marshmallow as ma
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from marketplace.auth.models import Role
from marketplace.fields import Id, Text

EMAIL = validate.Email(error=_l("Give an e-mail address such as name@bank.example."))
USERNAME = validate.Regexp(r"^[A-Za-z0-9_.@-]{3,80}$", error="Use 3 to 80 letters, digits, '.', '_', '-' or '@'.")


class TokenIn(ma.Schema):
    username = Text(required=True, min_length=1, max_length=80)
    password = Text(required=True, min_length=1, max_length=200)


class TokenOut(ma.Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class UserIn(ma.Schema):
    username = Text(required=True, max_length=80, validate=USERNAME)
    password = Text(required=True, load_only=True, max_length=200)
    role = fields.Enum(Role, by_value=True, required=True)
    organization_id = Id(load_default=None, allow_none=True)
    email = Text(load_default=None, allow_none=True, max_length=254, validate=EMAIL)


class MeIn(ma.Schema):
    """What a user may change of their own account."""
    email = Text(allow_none=True, max_length=254, validate=EMAIL)
    email_notifications = fields.Boolean()


class UserOut(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    role = fields.Enum(Role, by_value=True)
    organization_id = fields.Integer(allow_none=True)
    organization_name = fields.Function(lambda u: u.organization.name if u.organization else None)
    active = fields.Boolean()
    email = fields.String(allow_none=True)
    email_notifications = fields.Boolean()
