import marshmallow as ma
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from marketplace.fields import BusinessDate, Id, Text


class AuditQuery(ma.Schema):
    """Filters for the trail; shared by the API and the /admin/audit page."""

    actor = Text(max_length=120, metadata={"description": "A user name, `system:{code}` or `scheduler:{job}`."})
    organization_id = Id(strict=False)
    action = Text(max_length=80, validate=validate.Regexp(
        r"^[a-z_]+(\.[a-z_]*)?$", error=_l("Like product.published, or product. for every action on products.")),
        metadata={"description": "Exact (`product.published`), or ending in a dot for every action on a type "
                                 "(`product.`)."})
    object_type = Text(max_length=40, validate=validate.Regexp(r"^[a-z_]{1,40}$"))
    object_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    request_id = Text(max_length=64)
    date_from = BusinessDate(data_key="from")
    date_to = BusinessDate(data_key="to")

    @ma.validates_schema
    def _range(self, data, **_kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ma.ValidationError(_l("The end comes before the start."), "to")


class AuditEntryOut(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    user_id = fields.Integer(allow_none=True)
    organization_id = fields.Integer(allow_none=True)
    organization_name = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.Integer(allow_none=True)
    changes = fields.Dict(metadata={"description": "{column: [before, after]} for a change, {column: value} for "
                                                   "a new row; secrets show as \"[redacted]\"."})
    request_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
