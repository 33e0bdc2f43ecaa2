import marshmallow as ma
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from marketplace.fields import BusinessDate, Id, Money, Text
from marketplace.outbox import AttemptOutcome, MessageStatus


class OutboxQuery(ma.Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in MessageStatus]))
    bank_id = Id(strict=False)


class AttemptOut(ma.Schema):
    number = fields.Integer()
    round = fields.Integer(metadata={"description": "0 for the first round of tries, then one per re-drive."})
    outcome = fields.String(metadata={"enum": [o.value for o in AttemptOutcome]})
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    started_at = fields.DateTime()
    duration_ms = fields.Integer()


class MessageOut(ma.Schema):
    id = fields.Integer()
    bank_id = fields.Integer()
    bank = fields.String(attribute="bank.name")
    topic = fields.String()
    idempotency_key = fields.String()
    path = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in MessageStatus]})
    attempts = fields.Integer(metadata={"description": "Tries in the current round."})
    next_attempt_at = fields.DateTime()
    last_error = fields.String(allow_none=True)
    bank_ref = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    dead_at = fields.DateTime(allow_none=True)
    redrives = fields.Integer()
    redriven_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    payload = fields.Dict()
    attempt_log = fields.List(fields.Nested(AttemptOut), data_key="attempt_log")


CALLBACK_TYPES = ["application.approved", "application.declined", "loan.disbursed", "loan.repayment", "loan.overdue",
                  "loan.default", "loan.recovery"]


class CallbackIn(ma.Schema):
    """A bank's callback (API.md §Bank systems). Loan events name the loan by the application it came from."""

    class Meta:
        unknown = ma.EXCLUDE  # banks may send more than we read

    event_id = Text(required=True, min_length=1, max_length=100)
    type = fields.String(required=True, validate=validate.OneOf(
        CALLBACK_TYPES, error=_l("Unknown event type; one of: {choices}.")))
    application_id = Id(required=True)
    bank_ref = Text(load_default=None, allow_none=True, max_length=100)
    approved_amount = Money(load_default=None, allow_none=True)
    rate_spread_bp = fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=validate.Range(min=-300, max=3000))
    reason = Text(load_default=None, allow_none=True, max_length=1000, multiline=True)
    amount = Money(load_default=None, allow_none=True)
    occurred_on = BusinessDate(load_default=None, allow_none=True)

    @ma.validates_schema
    def _what_each_type_needs(self, data, **kwargs):
        kind = data.get("type", "")
        if kind == "application.declined" and not (data.get("reason") or "").strip():
            raise ma.ValidationError({"reason": [_l("Say why the application is declined.")]})
        if kind.startswith("loan.") and data.get("occurred_on") is None:
            raise ma.ValidationError({"occurred_on": [_l("Say when it happened (YYYY-MM-DD).")]})
        if data.get("approved_amount") is not None and data["approved_amount"] <= 0:
            raise ma.ValidationError({"approved_amount": [_l("Approve an amount above zero.")]})


class CallbackOut(ma.Schema):
    event_id = fields.String()
    status = fields.String(metadata={"enum": ["applied", "duplicate"]})
    application_id = fields.Integer(allow_none=True)
    application_status = fields.String(allow_none=True)
    loan_id = fields.Integer(allow_none=True)


class SecretOut(ma.Schema):
    callback_secret = fields.String(metadata={"description": "Shown once. The previous secret stays valid for "
                                                             "CALLBACK_SECRET_GRACE_S (24 hours by default)."})
    previous_valid_until = fields.DateTime(allow_none=True)
