import marshmallow as ma
from flask_babel import gettext as _
from flask_smorest.fields import Upload
from marshmallow import fields

from marketplace.fields import Text
from marketplace.orgs.models import ImportStatus

#: The file name is kept with the import (String(255)) and shown back, so it is held to what any text field is.
_FILENAME = Text(max_length=255)


def _file_chosen(value) -> None:
    # A form submitted with no file chosen still sends the part, with an empty file name.
    if not getattr(value, "filename", None):
        raise ma.ValidationError(_("Choose a CSV or XLSX file to upload."))
    _FILENAME.deserialize(value.filename)


class TierImportUpload(ma.Schema):
    """The upload, used by the API and the page alike."""

    class Meta:
        unknown = ma.EXCLUDE

    file = Upload(required=True, validate=_file_chosen, metadata={
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
