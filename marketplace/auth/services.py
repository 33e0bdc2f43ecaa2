"""Accounts: password checks, bearer tokens, and creating users."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.auth.models import ApiToken, Role, User, WebSession
from marketplace.errors import Conflict, NotAuthenticated, ValidationFailed
from marketplace.orgs.models import Agency, Bank, Organization

#: Werkzeug's scrypt (n=2^15, r=8, p=1): memory-hard, salted, and needs no extra dependency.
PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 10
#: The 30,000 most common passwords of leaked password lists, as zxcvbn ships them.
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])
# Checked against when the password is unknown, so a wrong user name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def password_problems(password: str, username: str = "") -> list[str]:
    """Why `password` may not be used (empty when it may): at least 10 characters, not a common password."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(_("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    folded = password.strip().lower()
    if folded in COMMON_PASSWORDS or len(set(folded)) < 3:
        problems.append(_("This is one of the most common passwords; choose one that is harder to guess."))
    elif username and username.strip().lower() in folded:
        problems.append(_("Do not put your user name in your password."))
    return problems


def authenticate(username: str, password: str) -> User | None:
    """The active user with this name and password, or None."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, ttl_seconds: int) -> tuple[str, ApiToken]:
    """A fresh bearer token for `user`; the plain token is returned once and never stored."""
    plain = secrets.token_urlsafe(32)
    token = ApiToken(user=user, token_hash=_token_digest(plain),
                     expires_at=db.utcnow() + dt.timedelta(seconds=ttl_seconds))
    db.session.add(token)
    db.session.flush()
    return plain, token


def user_for_token(plain: str) -> tuple[User, ApiToken]:
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(plain)))
    if token is None or token.revoked_at is not None or token.expires_at <= db.utcnow() or not token.user.active:
        raise NotAuthenticated(_("The bearer token is invalid, expired or revoked."))
    return token.user, token


def start_web_session(user: User, address: str | None) -> str:
    """A signed-in browser: → the token its session cookie carries (only the token's digest is stored)."""
    plain = secrets.token_urlsafe(32)
    db.session.add(WebSession(user_id=user.id, token_hash=_token_digest(plain), address=(address or "")[:64] or None))
    db.session.flush()
    return plain


def web_session_is_live(user_id: int, plain: str | None) -> bool:
    if not plain:
        return False
    found = db.session.scalar(select(WebSession.id).where(
        WebSession.token_hash == _token_digest(plain), WebSession.user_id == user_id, WebSession.ended_at.is_(None)))
    return found is not None


def end_web_session(plain: str | None) -> None:
    if plain:
        live = db.session.scalar(select(WebSession).where(WebSession.token_hash == _token_digest(plain),
                                                          WebSession.ended_at.is_(None)))
        if live is not None:
            live.ended_at = db.utcnow()
            db.session.flush()


def revoke_token(token: ApiToken) -> bool:
    """Revoke the token; → whether this call did (a concurrent revocation of it waits, then finds it done)."""
    db.lock(token)
    if token.revoked_at is not None:
        return False
    token.revoked_at = db.utcnow()
    db.session.flush()
    return True


def update_me(user: User, data: dict) -> User:
    """A user's own notification settings."""
    for name in ("email", "email_notifications"):
        if name in data:
            setattr(user, name, data[name])
    db.session.flush()
    return user


def create_user(username: str, password: str, role: Role, organization_id: int | None,
                email: str | None = None) -> User:
    """A user of `role`; every non-admin user belongs to an organisation of the matching kind."""
    errors: dict[str, list[str]] = {}
    organization = db.session.get(Organization, organization_id) if organization_id is not None else None
    if organization_id is not None and organization is None:
        errors["organization_id"] = [_("No organisation %(id)d.", id=organization_id)]
    if problems := password_problems(password, username):
        errors["password"] = problems
    if role is Role.ADMIN and organization is not None:
        errors["organization_id"] = [_("The admin belongs to no organisation; leave this out.")]
    if role is not Role.ADMIN and "organization_id" not in errors:
        if organization is None:
            errors["organization_id"] = [_("A %(role)s user needs an organisation.", role=role.value)]
        elif organization.kind != role.org_kind:
            errors["organization_id"] = [_("Organisation %(id)d is a %(kind)s, not a %(role)s.",
                                           id=organization.id, kind=organization.kind.value, role=role.value)]
    if errors:
        raise ValidationFailed(errors=errors)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(_("The user name %(name)s is taken.", name=username), {"username": [_("Already taken.")]})
    user = User(username=username, password_hash=hash_password(password), role=role, organization=organization,
                email=email)
    db.session.add(user)
    db.session.flush()
    return user


def system_user(organization: Bank | Agency) -> User:
    """The user an organisation's system or the scheduler acts as on its behalf (decided_by, created_by):
    `system:{code}`, which cannot sign in."""
    username = f"system:{organization.code}"
    query = select(User).where(User.username == username)
    if (user := db.session.scalar(query)) is not None:
        return user
    # Made once however many callbacks or jobs ask at the same moment: the others wait for it, then read it.
    role = Role.BANK if isinstance(organization, Bank) else Role.AGENCY
    made = db.session.scalar(db.upsert(User).values(
        username=username, password_hash="!", role=role, organization_id=organization.id, active=False,
        locale=None, created_at=db.utcnow()).on_conflict_do_nothing(index_elements=["username"]).returning(User.id))
    if made is not None:
        audit.record("user.created", "user", made, {"username": username, "role": role, "active": False})
    return db.session.scalar(query)
