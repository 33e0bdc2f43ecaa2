"""Failed sign-ins are throttled, on the web form and the token endpoint alike: after 10 in a minute for one user
name from one address, the next attempt is refused with 429 until the minute has passed, right password or not."""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from marketplace.extensions import limiter

FAILED_SIGN_INS_PER_NAME = "10 per minute"
#: A looser limit per address, against one address trying many user names.
FAILED_SIGN_INS_PER_ADDRESS = "50 per minute"


def _username() -> str:
    if request.is_json:
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else None
    else:
        name = request.form.get("username")
    return str(name or "").strip().lower()[:80]


def _name_and_address() -> str:
    return f"{_username()}@{get_remote_address()}"


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _message() -> str:
    return _("Too many failed sign-ins; wait a minute and try again.")


def throttled(view):
    """Count the view's 401 answers against both limits (shared by the sign-in page and the token endpoint); once
    over, answer 429 before checking anything."""
    per_name = limiter.shared_limit(FAILED_SIGN_INS_PER_NAME, "sign-in", key_func=_name_and_address,
                                    deduct_when=_failed, methods=["POST"], error_message=_message)
    per_address = limiter.shared_limit(FAILED_SIGN_INS_PER_ADDRESS, "sign-in-address", key_func=get_remote_address,
                                       deduct_when=_failed, methods=["POST"], error_message=_message)
    return per_address(per_name(view))
