"""Domain errors and how they reach a user: problem+json under /api/, an HTML page elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, IntegrityError
from werkzeug.exceptions import HTTPException

from marketplace import db, stock_messages
from marketplace.i18n import N_

PROBLEM_BASE = "https://srdi-marketplace.example/problems/"


class DomainError(Exception):
    """A business outcome other than success; carries its HTTP status and problem type."""

    status = 400
    slug = "bad-request"
    title = N_("Bad request")
    #: Whether what the request changed before this was raised is still committed (one transaction per request
    #: otherwise rolls it back).
    keeps_changes = False

    def __init__(self, detail: str | None = None, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or {}


class ValidationFailed(DomainError):
    status = 422
    slug = "validation-error"
    title = N_("The request has invalid fields")


class NotAuthenticated(DomainError):
    status = 401
    slug = "not-authenticated"
    title = N_("Not authenticated")


class Forbidden(DomainError):
    status = 403
    slug = "forbidden"
    title = N_("Your role may not do this")


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = N_("Not found")


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = N_("Conflict with the current state")


class IllegalTransition(Conflict):
    slug = "illegal-transition"
    title = N_("That status change is not allowed")


class TooLarge(DomainError):
    """A file larger than the marketplace reads (413): its detail says what is too big, and what is allowed."""

    status = 413
    slug = "too-large"
    title = N_("The file is too large")


class Busy(DomainError):
    """Other transactions held the rows or the database for longer than a request waits; nothing was changed and the
    same request again will most likely pass."""

    status = 503
    slug = "busy"
    title = N_("Busy: try again in a moment")
    #: Seconds a client should wait before retrying (the Retry-After header).
    retry_after_s = 1


def keeping_changes(error: DomainError) -> DomainError:
    """`error`, answered after what the request did before it is committed (a bank's callback receipt stands
    whatever the answer to the event it carried)."""
    error.keeps_changes = True
    return error


def one_or_404(query: Any, detail: str) -> Any:
    """The one row `query` (already scoped to what the user may see) finds, or a 404 saying `detail`."""
    found = db.session.scalar(query)
    if found is None:
        raise NotFound(detail)
    return found


def wants_problem_json() -> bool:
    return request.path.startswith("/api/")


def problem(status: int, title: str, detail: str, errors: dict | None = None, slug: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.update(headers or {})
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as {"field" | "field.0.sub": [messages]}; webargs' location level dropped."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            at_top = not prefix and key in _WEBARGS_LOCATIONS
            name = "" if at_top else (f"{prefix}.{key}" if prefix else str(key))
            for field, field_messages in flatten_messages(value, name).items():
                flat.setdefault(field, []).extend(field_messages)
        return flat
    items = messages if isinstance(messages, (list, tuple)) else [messages]
    # str() resolves lazy translations; marshmallow's and webargs' own messages are translated here.
    return {prefix or "_schema": [stock_messages.translate(str(message)) for message in items]}


_WEBARGS_LOCATIONS = frozenset({"json", "query", "form", "files", "headers", "view_args", "json_or_form"})


#: An HTML error page as a view returns it: body, status, headers.
ErrorPage = tuple[str, int, dict[str, str]]


def _html_error(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> ErrorPage:
    return render_template("errors/error.html", status=status, title=title, detail=detail), status, headers or {}


def handle_domain_error(error: DomainError) -> Response | ErrorPage:
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, Busy) else None
    if wants_problem_json():
        return problem(error.status, _(error.title), error.detail, error.errors, error.slug, headers)
    return _html_error(error.status, _(error.title), error.detail, headers)


def handle_http_exception(error: HTTPException) -> Response | ErrorPage:
    status = error.code or 500
    if status >= 500:
        current_app.logger.error("server error on %s %s", request.method, request.path)
    data = getattr(error, "data", None) or {}
    errors = flatten_messages(data["messages"]) if "messages" in data else None
    title = error.name
    detail = stock_messages.translate(error.description or error.name)
    slug = None
    if status == 422 and errors:
        title, detail = ValidationFailed.title, _("Correct the fields listed in errors.")
        slug = ValidationFailed.slug
    if wants_problem_json():
        # The exception's own headers (Allow on a 405, Retry-After on a 429), but not its HTML content type.
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return problem(status, _(title), detail, errors, slug, headers)
    return _html_error(status, _(title), detail)


def handle_integrity_error(error: IntegrityError) -> Response | ErrorPage:
    # The constraints back up the services' own checks; losing a race to another request lands here.
    db.session.rollback()
    current_app.logger.warning("integrity error on %s %s: %s", request.method, request.path, error.orig)
    return handle_domain_error(Conflict(_("That conflicts with a change made at the same moment; reload and retry.")))


#: PostgreSQL's SQLSTATEs for a lock it gave up on: lock_not_available (lock_timeout, NOWAIT), serialization_failure,
#: deadlock_detected. The transaction is lost, but the same request again can pass.
_PG_LOCK_STATES = frozenset({"55P03", "40001", "40P01"})
_SQLITE_BUSY = 5  # SQLITE_BUSY_* extended codes share it in their low byte


def is_lock_conflict(error: DBAPIError) -> bool:
    """Whether the database refused because other transactions held what this one needed (retrying can help), as
    opposed to failing in itself (unreachable, out of space, a bad statement)."""
    original = error.orig
    if getattr(original, "sqlstate", None) in _PG_LOCK_STATES:
        return True
    code = getattr(original, "sqlite_errorcode", None)  # "database is locked" past the busy timeout
    if code is not None:
        return code & 0xFF == _SQLITE_BUSY
    return str(original).startswith(("database is locked", "database is busy"))


def handle_database_error(error: DBAPIError) -> Response | ErrorPage:
    if not is_lock_conflict(error):
        raise error  # as if unhandled: a database that is down or broken is a 500, logged with its traceback
    db.session.rollback()
    # What the answer reads (who is signed in, their language) it reads without waiting for the lock again.
    db.session.connection(execution_options={db.READS_ONLY: True})
    current_app.logger.warning("database busy on %s %s: %s", request.method, request.path, error.orig)
    return handle_domain_error(Busy(_("Other changes were being saved at the same moment, so nothing was changed; "
                                      "send it again in a moment.")))


def register(app: Flask) -> None:
    # Registered after flask-smorest's Api so that its app-wide JSON handler is replaced.
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)  # a DBAPIError, but the nearer handler wins
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(HTTPException, handle_http_exception)
