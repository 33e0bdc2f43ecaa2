import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields

from marketplace.fields import file_chosen
from marketplace.orgs.models import ImportStatus


class TierImportUpload(ma.Schema):
    """The upload, used by the API and the page alike."""

    class Meta:
        unknown = ma.EXCLUDE

    file = Upload(required=True, validate=file_chosen, metadata={
        "description": "The certified list: .csv (UTF-8) or .xlsx (first worksheet), header row "
                       "`uscc,tier,valid_until` in row 1, dates as YYYY-MM-DD; at most 100,000 rows."})


class RowErrorOut(ma.Schema):
    row = fields.Integer(metadata={"description": "The line in the file; the header is row 1."})
    message = fields.String()


class TierImportOut(ma.Schema):
    id = fields.Integer()
    filename = fields.String()
    status = fields.Enum(ImportStatus, by_value=True)
    rows_total = fields.Integer()
    rows_ok = fields.Integer()
    rows_failed = fields.Integer()
    uploaded_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class TierImportDetailOut(TierImportOut):
    """One import with the reason each rejected row was not applied."""

    errors = fields.List(fields.Nested(RowErrorOut))
