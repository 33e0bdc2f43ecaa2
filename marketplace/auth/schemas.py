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
    org_admin = fields.Boolean(load_default=False)


class PasswordIn(ma.Schema):
    current_password = Text(required=True, load_only=True, min_length=1, max_length=200)
    new_password = Text(required=True, load_only=True, max_length=200)


class OrgUserIn(ma.Schema):
    """A user an administrator adds to an organisation: the role is the organisation's kind, and the password a
    temporary one the user changes at the first sign-in."""
    username = Text(required=True, max_length=80, validate=USERNAME)
    password = Text(required=True, load_only=True, max_length=200)
    email = Text(load_default=None, allow_none=True, max_length=254, validate=EMAIL)
    org_admin = fields.Boolean(load_default=False)


class TemporaryPasswordOut(ma.Schema):
    temporary_password = fields.String()


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
    org_admin = fields.Boolean()
    must_change_password = fields.Boolean()
    email = fields.String(allow_none=True)
    email_notifications = fields.Boolean()
