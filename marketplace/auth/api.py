"""Bearer tokens and user accounts."""

from flask import current_app
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.api import Blueprint, page_of, paginate
from marketplace.audit import trail as audit
from marketplace.auth import accounts, schemas, services
from marketplace.auth.access import api_roles, api_token, api_user
from marketplace.auth.models import Role, User
from marketplace.auth.throttle import throttled
from marketplace.errors import NotAuthenticated
from marketplace.idempotency import idempotent

blp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="Tokens and user accounts")


@blp.route("/auth/token")
class Token(MethodView):
    @blp.doc(security=[])
    @throttled
    @blp.arguments(schemas.TokenIn)
    @blp.response(200, schemas.TokenOut)
    @blp.alt_response(401, description="Wrong user name or password.")
    @blp.alt_response(429, description="Over 10 failed attempts in a minute for this user name from this address.")
    def post(self, data):
        """Exchange a user name and password for a bearer token."""
        user = services.authenticate(data["username"], data["password"])
        if user is None:
            audit.record("user.sign_in_failed", "user", None, {"username": data["username"][:80], "via": "api"})
            raise NotAuthenticated(_("Wrong user name or password."))
        ttl = int(current_app.config["TOKEN_TTL_SECONDS"])
        plain, token = services.issue_token(user, ttl)
        audit.act_as(user)
        audit.record("user.token_issued", "user", user.id, {"token_id": token.id})
        return {"access_token": plain, "token_type": "Bearer", "expires_in": ttl}


@blp.route("/auth/token/revoke")
class RevokeToken(MethodView):
    @api_roles()
    @blp.response(204)
    def post(self):
        """Revoke the token this request is made with; it stops working at once."""
        token = api_token()
        if services.revoke_token(token):
            audit.record("user.token_revoked", "user", token.user_id, {"token_id": token.id})


@blp.route("/auth/password")
class Password(MethodView):
    @api_roles()
    @blp.arguments(schemas.PasswordIn)
    @blp.response(204)
    @blp.alt_response(422, description="The current password is wrong, or the policy refuses the new one: at least "
                      "12 characters, not the user name, not a common or guessable password.")
    def post(self, data):
        """Change your own password: every other session and bearer token of yours ends at once; the token this
        request is made with goes on. A temporary password must be changed here before anything else."""
        accounts.change_password(api_user(), data["current_password"], data["new_password"], keep_token=api_token())


@blp.route("/auth/me")
class Me(MethodView):
    @api_roles()
    @blp.response(200, schemas.UserOut)
    def get(self):
        """The user behind the token."""
        return api_user()

    @api_roles()
    @blp.arguments(schemas.MeIn)
    @blp.response(200, schemas.UserOut)
    def patch(self, data):
        """Change your own e-mail address, or whether notifications are also mailed to it."""
        return services.update_me(api_user(), data)


@blp.route("/users")
class Users(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.UserOut(many=True))
    @paginate(blp)
    def get(self, pagination_parameters):
        """List users."""
        return page_of(select(User).order_by(User.id), pagination_parameters)

    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.UserIn)
    @blp.response(201, schemas.UserOut)
    def post(self, data):
        """Create a user with one role in one organisation (none for the admin)."""
        user = services.create_user(**data)
        return user


@blp.route("/organizations/<int:organization_id>/users")
class OrganizationUsers(MethodView):
    @api_roles()
    @blp.response(200, schemas.UserOut(many=True))
    @paginate(blp)
    def get(self, organization_id, pagination_parameters):
        """The users of an organisation: its administrators see their own; the admin any (another's is a 404)."""
        organization = accounts.managed_organization(api_user(), organization_id)
        return page_of(accounts.organization_users(organization), pagination_parameters)

    @api_roles()
    @idempotent(blp)
    @blp.arguments(schemas.OrgUserIn)
    @blp.response(201, schemas.UserOut)
    @blp.alt_response(409, description="The user name is taken.")
    def post(self, data, organization_id):
        """Add a user to the organisation, with the role its kind gives; the password given is temporary and must
        be changed at the first sign-in."""
        actor = api_user()
        return accounts.add_user(actor, accounts.managed_organization(actor, organization_id), **data)


@blp.route("/users/<int:user_id>/disable")
class DisableUser(MethodView):
    @api_roles()
    @blp.response(200, schemas.UserOut)
    def post(self, user_id):
        """Disable a user of your organisation (the admin: of any): their sessions and tokens end at once. Again
        changes nothing."""
        actor = api_user()
        user = accounts.managed_user(actor, user_id)
        accounts.set_active(actor, user, False)
        return user


@blp.route("/users/<int:user_id>/enable")
class EnableUser(MethodView):
    @api_roles()
    @blp.response(200, schemas.UserOut)
    def post(self, user_id):
        """Re-enable a disabled user of your organisation (the admin: of any). Again changes nothing."""
        actor = api_user()
        user = accounts.managed_user(actor, user_id)
        accounts.set_active(actor, user, True)
        return user


@blp.route("/users/<int:user_id>/reset-password")
class ResetPassword(MethodView):
    @api_roles()
    @blp.response(200, schemas.TemporaryPasswordOut)
    def post(self, user_id):
        """Give a user of your organisation (the admin: of any) a temporary password, shown in this response only;
        they must change it at the next sign-in, and their sessions and tokens end at once."""
        actor = api_user()
        return {"temporary_password": accounts.reset_password(actor, accounts.managed_user(actor, user_id))}
