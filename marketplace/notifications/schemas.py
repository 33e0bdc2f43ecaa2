import marshmallow as ma
from marshmallow import fields


class NotificationQuery(ma.Schema):
    unread = fields.Boolean(load_default=False, metadata={"description": "Only those not read yet."})


class NotificationOut(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    kind = fields.String(metadata={"description": "application.submitted, application.decided, "
                                                  "application.countered, counter.answered, counter.lapsed, "
                                                  "batch.submitted, batch.decided, guarantee.excluded, "
                                                  "agreement.awaiting_countersign, agreement.suspended, "
                                                  "agreement.returned, "
                                                  "deadline.near, deadline.passed, loan.overdue, claim.filed, "
                                                  "claim.decided"})
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True, metadata={"description": "The page it is about, a path on this site."})
    read_at = fields.DateTime(allow_none=True)


class ReadAllOut(ma.Schema):
    marked = fields.Integer(metadata={"description": "How many were unread."})
    unread = fields.Integer()
