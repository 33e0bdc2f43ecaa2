"""Who is asking: bearer tokens for the API, the session cookie for pages, and role checks for both."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.audit import trail as audit
from marketplace.auth.models import ApiToken, Role, User
from marketplace.auth.services import user_for_token
from marketplace.errors import Forbidden, NotAuthenticated

F = TypeVar("F", bound=Callable[..., Any])

#: What a user whose password is temporary may do before changing it: change it, see who they are, sign out.
WHILE_TEMPORARY = frozenset({"/api/v1/auth/password", "/api/v1/auth/me", "/api/v1/auth/token/revoke"})


def api_user() -> User:
    """The user behind this request's bearer token; 401 without a valid one."""
    if "api_user" not in g:
        scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated(_("Send Authorization: Bearer <token>; get one from POST /api/v1/auth/token."))
        g.api_user, g.api_token = user_for_token(token.strip())
        audit.act_as(g.api_user)
    if g.api_user.must_change_password and request.path not in WHILE_TEMPORARY:
        raise Forbidden(_("Your password is a temporary one: change it first (POST /api/v1/auth/password)."))
    return g.api_user


def api_token() -> ApiToken:
    api_user()
    return g.api_token


def _check_role(user: User, allowed: tuple[Role, ...]) -> None:
    if allowed and user.role not in allowed:
        raise Forbidden(_("This needs the role %(roles)s; you are %(role)s.",
                          roles=" or ".join(r.value for r in allowed), role=user.role.value))


def api_roles(*allowed: Role) -> Callable[[F], F]:
    """An API view for these roles (any authenticated user when none are named)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _check_role(api_user(), allowed)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def page_roles(*allowed: Role) -> Callable[[F], F]:
    """A page for these roles: anonymous visitors go to /login, other roles get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            _check_role(current_user._get_current_object(), allowed)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
