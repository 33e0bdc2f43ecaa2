import marshmallow as ma
from marshmallow import fields, validate

from marketplace.bank_systems.models import AttemptOutcome, MessageStatus


class OutboxQuery(ma.Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in MessageStatus]))
    bank_id = fields.Integer()


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
