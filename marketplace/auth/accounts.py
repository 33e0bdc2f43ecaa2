"""An account's life: changing one's own password, and an organisation's administrator (or the provincial admin)
adding, disabling, re-enabling and resetting the users of an organisation. This package owns the users' rows.

Each change locks the user's row before it reads what it decides on, and each is in the audit trail. Disabling a
user, resetting their password, or their changing it ends their other sessions and bearer tokens at once.
"""

from __future__ import annotations

import secrets
import string

from flask_babel import gettext as _
from sqlalchemy import Select, select
from werkzeug.security import check_password_hash

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.auth.models import ApiToken, Role, User
from marketplace.auth.services import end_sessions_and_tokens, hash_password, password_problems
from marketplace.errors import Conflict, Forbidden, NotFound, ValidationFailed
from marketplace.orgs.models import Organization, OrgKind

# A temporary password: 16 characters of letters and digits without the look-alikes (0/O, 1/l/I), easy to read out.
_TEMPORARY_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
TEMPORARY_PASSWORD_LENGTH = 16


def _temporary_password() -> str:
    while True:
        candidate = "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(TEMPORARY_PASSWORD_LENGTH))
        if not password_problems(candidate):  # almost always at once
            return candidate


def _locked_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No user %(id)d.", id=user_id))
    db.lock(user)
    return user


# Who may manage whom -----------------------------------------------------------------------------------------

def may_manage(actor: User) -> bool:
    """Whether the actor manages any users at all: the provincial admin, or an organisation's administrator."""
    return actor.role is Role.ADMIN or (actor.org_admin and actor.organization_id is not None)


def managed_organization(actor: User, organization_id: int) -> Organization:
    """The organisation whose users the actor manages: any for the admin, their own for an organisation's
    administrator (another's is a 404, as if it did not exist); 403 for everyone else."""
    if not may_manage(actor):
        raise Forbidden(_("Only your organisation's administrator or the provincial admin manages users."))
    organization = db.session.get(Organization, organization_id)
    if organization is None or (actor.role is not Role.ADMIN and organization.id != actor.organization_id):
        raise NotFound(_("No organisation %(id)d.", id=organization_id))
    return organization


def managed_user(actor: User, user_id: int) -> User:
    """A user the actor manages, locked for the change: anyone but the admin and the organisations' system users
    for the admin; the users of their own organisation for its administrator; 404 otherwise."""
    if not may_manage(actor):
        raise Forbidden(_("Only your organisation's administrator or the provincial admin manages users."))
    user = db.session.get(User, user_id)
    if (user is None or user.organization_id is None or user.username.startswith("system:")
            or (actor.role is not Role.ADMIN and user.organization_id != actor.organization_id)):
        raise NotFound(_("No user %(id)d.", id=user_id))
    db.lock(user)
    return user


def organization_users(organization: Organization) -> Select:
    """The people of an organisation (not its system user), by user name."""
    return (select(User).where(User.organization_id == organization.id, User.username.not_like("system:%"))
            .order_by(User.username))


# Changes -----------------------------------------------------------------------------------------------------------

def change_password(user: User, current: str, new: str, *, keep_session: str | None = None,
                    keep_token: ApiToken | None = None) -> None:
    """The user's own new password. Every other session and bearer token of theirs ends; the one they act with
    (`keep_session`, `keep_token`) goes on. 422 on current_password when it is wrong, on new_password when the
    policy refuses it or it is the current one."""
    user = _locked_user(user.id)
    if not check_password_hash(user.password_hash, current):
        raise ValidationFailed(errors={"current_password": [_("This is not your current password.")]})
    problems = password_problems(new, user.username)
    if not problems and new == current:
        problems = [_("Choose a password other than your current one.")]
    if problems:
        raise ValidationFailed(errors={"new_password": problems})
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_changed_at = db.utcnow()
    end_sessions_and_tokens(user.id, keep_session=keep_session,
                            keep_token_id=keep_token.id if keep_token is not None else None)
    db.session.flush()
    audit.record("user.password_changed", "user", user.id)


def add_user(actor: User, organization: Organization, username: str, password: str, email: str | None = None,
             org_admin: bool = False) -> User:
    """A new user of the organisation, with the role its kind gives. The password the administrator chose is
    temporary: the user must choose their own at the first sign-in."""
    errors: dict[str, list[str]] = {}
    if problems := password_problems(password, username):
        errors["password"] = problems
    if org_admin and organization.kind is OrgKind.ENTERPRISE:
        errors["org_admin"] = [_("Only a bank or a guarantee agency has administrators.")]
    if errors:
        raise ValidationFailed(errors=errors)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(_("The user name %(name)s is taken.", name=username), {"username": [_("Already taken.")]})
    user = User(username=username, password_hash=hash_password(password), role=Role(organization.kind.value),
                organization=organization, email=email, org_admin=org_admin, must_change_password=True)
    db.session.add(user)
    db.session.flush()  # two administrators adding the same name at once: the unique name makes the second a 409
    audit.record("user.added", "user", user.id, {"username": username, "organization_id": organization.id,
                                                 "org_admin": org_admin, "by": actor.username})
    return user


def set_active(actor: User, user: User, active: bool) -> bool:
    """Disable or re-enable a user the actor manages (locked by `managed_user`); → whether this call changed it.
    Disabling ends their sessions and bearer tokens at once; no one disables themselves."""
    if user.id == actor.id:
        raise Conflict(_("You cannot disable or re-enable your own account; ask another administrator."))
    if user.active == active:
        return False
    user.active = active
    if not active:
        end_sessions_and_tokens(user.id)
    db.session.flush()
    audit.record("user.enabled" if active else "user.disabled", "user", user.id, {"by": actor.username})
    return True


def reset_password(actor: User, user: User) -> str:
    """A temporary password for a user the actor manages (locked by `managed_user`), shown once to the actor; the
    user must change it at the next sign-in, and their sessions and tokens end at once."""
    if user.id == actor.id:
        raise Conflict(_("Change your own password on your account page instead."))
    temporary = _temporary_password()
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    user.password_changed_at = db.utcnow()
    end_sessions_and_tokens(user.id)
    db.session.flush()
    audit.record("user.password_reset", "user", user.id, {"by": actor.username})
    return temporary
