"""Accounts: password checks, bearer tokens, and creating users."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask_babel import gettext as _
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from marketplace import db
from marketplace.audit import trail as audit
from marketplace.auth.models import ApiToken, Role, User, WebSession
from marketplace.errors import Conflict, NotAuthenticated, ValidationFailed
from marketplace.orgs.models import Agency, Bank, Organization

#: Werkzeug's scrypt (n=2^15, r=8, p=1): memory-hard, salted, and needs no extra dependency.
PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12
#: zxcvbn's guessability score, 0 to 4: 3 is "safely unguessable" (about 10^10 guesses), what the policy asks.
MIN_PASSWORD_SCORE = 3
# Checked against when the password is unknown, so a wrong user name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def password_problems(password: str, username: str = "") -> list[str]:
    """Why a person may not choose `password` (empty when they may): at least 12 characters, not their user name,
    and not guessable, by zxcvbn's estimate (its dictionaries hold the 30,000 most common leaked passwords, names
    and words, keyboard patterns, dates and repeats)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [_("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)]
    name = username.strip().lower()
    if name and name in password.lower():
        return [_("Do not put your user name in your password.")]
    # zxcvbn reads at most 72 characters; a longer password is judged by its first 72, which only errs on the safe side.
    if zxcvbn(password[:72], user_inputs=[name] if name else [])["score"] < MIN_PASSWORD_SCORE:
        return [_("This password is too easy to guess (a common password, a word or a pattern); add unrelated "
                  "words, digits or symbols.")]
    return []


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


def end_sessions_and_tokens(user_id: int, keep_session: str | None = None, keep_token_id: int | None = None) -> None:
    """End every signed-in browser and revoke every bearer token of the user at once, but the session cookie token
    `keep_session` and the token `keep_token_id` (the one the user is acting with, when they change their password)."""
    now = db.utcnow()
    sessions = update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    if keep_session:
        sessions = sessions.where(WebSession.token_hash != _token_digest(keep_session))
    db.session.execute(sessions.values(ended_at=now))
    tokens = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep_token_id is not None:
        tokens = tokens.where(ApiToken.id != keep_token_id)
    db.session.execute(tokens.values(revoked_at=now))


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
                email: str | None = None, org_admin: bool = False) -> User:
    """A user of `role`; every non-admin user belongs to an organisation of the matching kind."""
    errors: dict[str, list[str]] = {}
    organization = db.session.get(Organization, organization_id) if organization_id is not None else None
    if organization_id is not None and organization is None:
        errors["organization_id"] = [_("No organisation %(id)d.", id=organization_id)]
    if problems := password_problems(password, username):
        errors["password"] = problems
    if role is Role.ADMIN and organization is not None:
        errors["organization_id"] = [_("The admin belongs to no organisation; leave this out.")]
    if org_admin and role not in (Role.BANK, Role.AGENCY):
        errors["org_admin"] = [_("Only a bank or a guarantee agency has administrators.")]
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
                email=email, org_admin=org_admin)
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
