"""Banks' systems: the outbox for the admin (messages by status, re-driving a dead one), the banks' signed
callbacks, and rotating a bank's callback secret."""

import datetime as dt

from flask import current_app, request
from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.bank_systems import callbacks, outbox, schemas
from marketplace.errors import NotFound, keeping_changes, one_or_404
from marketplace.orgs.models import Bank
from marketplace.outbox import OutboxMessage

blp = Blueprint("bank_systems_api", __name__, url_prefix="/api/v1", description="Hand-offs to banks' systems")


def messages(status: str | None = None, bank_id: int | None = None):
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status:
        query = query.where(OutboxMessage.status == status)
    if bank_id:
        query = query.where(OutboxMessage.bank_id == bank_id)
    return query


def get_message(message_id: int) -> OutboxMessage:
    return one_or_404(select(OutboxMessage).where(OutboxMessage.id == message_id),
                      _("No outbox message %(id)d.", id=message_id))


@blp.route("/outbox")
class Outbox(MethodView):
    @api_roles(Role.ADMIN)
    @blp.arguments(schemas.OutboxQuery, location="query")
    @blp.response(200, schemas.MessageOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """Messages to banks' systems, newest first, with every try; `?status=dead` lists those waiting for you."""
        return page_of(messages(query.get("status"), query.get("bank_id")), pagination_parameters)


@blp.route("/outbox/<int:message_id>")
class OutboxMessageView(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.MessageOut)
    def get(self, message_id):
        """One message, with every try."""
        return get_message(message_id)


@blp.route("/outbox/<int:message_id>/redrive")
class Redrive(MethodView):
    @api_roles(Role.ADMIN)
    @blp.response(200, schemas.MessageOut)
    def post(self, message_id):
        """Give a dead message a new round of tries, starting now (409 unless it is dead). Re-driving twice is
        safe: the second finds it pending and is refused; the bank dedups by the message's Idempotency-Key."""
        return outbox.redrive(get_message(message_id), api_user())


@blp.route("/bank-callbacks/<string:bank_code>")
class BankCallbacks(MethodView):
    @blp.doc(security=[], requestBody={"required": True, "content": {"application/json": {
        "schema": schemas.CallbackIn}}}, parameters=[
        {"in": "header", "name": "X-Timestamp", "required": True, "schema": {"type": "string"},
         "description": "Unix seconds when the callback was signed; at most 300 s from our clock."},
        {"in": "header", "name": "X-Signature", "required": True, "schema": {"type": "string"},
         "description": 'Hex HMAC-SHA256 of "{timestamp}.{raw body}" under your callback secret.'}])
    @blp.response(200, schemas.CallbackOut)
    @blp.alt_response(401, description="Unknown bank, bad or missing signature, or a timestamp over 300 s off.")
    @blp.alt_response(404, description="The application (or its loan) is not one sent to your bank.")
    @blp.alt_response(422, description="Unknown event type or invalid fields.")
    def post(self, bank_code):
        """A bank's system reports a decision or a loan event (signed; see API.md §Bank systems). A repeated
        `event_id` answers 200 with `"status": "duplicate"` and changes nothing."""
        received = callbacks.receive(bank_code, request.headers.get("X-Timestamp"),
                                     request.headers.get("X-Signature"), request.get_data(cache=True))
        if received.refused is not None:  # the receipt and what the event did stand, whatever the answer
            raise keeping_changes(received.refused)
        application = received.application
        return {"event_id": received.event_id, "status": received.outcome.value,
                "application_id": application.id if application else None,
                "application_status": application.status.value if application else None,
                "loan_id": application.loan.id if application and application.loan else None}


@blp.route("/banks/<int:bank_id>/callback-secret")
class CallbackSecret(MethodView):
    @api_roles(Role.ADMIN, Role.BANK)
    @blp.response(200, schemas.SecretOut)
    def post(self, bank_id):
        """Rotate the bank's callback secret (its own bank's officer, or the admin). The new secret is shown once;
        callbacks signed with the previous one are accepted for 24 hours more."""
        user = api_user()
        bank = db.session.get(Bank, bank_id)
        if bank is None or (user.role is Role.BANK and user.organization_id != bank_id):
            raise NotFound(_("No bank %(id)d.", id=bank_id))
        secret = callbacks.rotate_secret(bank)
        grace = dt.timedelta(seconds=current_app.config["CALLBACK_SECRET_GRACE_S"])
        return {"callback_secret": secret, "previous_valid_until": bank.callback_secret_rotated_at + grace}
