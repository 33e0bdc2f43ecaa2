"""The outbox, for the admin: messages to banks' systems by status (`?status=dead`), and re-driving a dead one."""

from flask.views import MethodView
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace import db
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.bank_systems import outbox, schemas
from marketplace.bank_systems.models import OutboxMessage
from marketplace.errors import NotFound

blp = Blueprint("bank_systems_api", __name__, url_prefix="/api/v1", description="Hand-offs to banks' systems")


def messages(status: str | None = None, bank_id: int | None = None):
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status:
        query = query.where(OutboxMessage.status == status)
    if bank_id:
        query = query.where(OutboxMessage.bank_id == bank_id)
    return query


def get_message(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(_("No outbox message %(id)d.", id=message_id))
    return message


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
        message = outbox.redrive(get_message(message_id), api_user())
        db.session.commit()
        return message
